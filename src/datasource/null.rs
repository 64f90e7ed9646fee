//! The null data source: `output` is `input`.

use crate::graph::Config;
use crate::plugin::{Field, Kind};
use crate::value::{Attrs, Value};

pub const FIELDS: &[Field] = &[Field("input", Kind::String)];

pub fn validate(c: &Config) -> Vec<String> {
    if c.get("input").is_none() {
        vec!["The \"input\" field must be set to a string value.".into()]
    } else {
        Vec::new()
    }
}

pub fn execute(c: &Config) -> Result<Value, String> {
    let input = c.get("input").cloned().unwrap_or(Value::Null);
    Ok(Value::Object(Attrs::from([
        ("input".to_string(), input.clone()),
        ("output".to_string(), input),
    ])))
}
