//! The null data source: `output` is `input`.

use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::value::{Attrs, Value};

/// The null data source's one option.
#[derive(Options)]
pub struct NullOptions {
    /// A string; `output` is the same.
    input: Option<String>,
}

pub const FIELDS: &[Field] = NullOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    match NullOptions::from_config(c) {
        Ok(NullOptions { input: None }) => {
            vec!["The \"input\" field must be set to a string value.".into()]
        }
        Ok(_) => Vec::new(),
        Err(e) => vec![e],
    }
}

pub fn execute(c: &Config) -> Result<Value, String> {
    let input = c.get("input").cloned().unwrap_or(Value::Null);
    Ok(Value::Object(Attrs::from([
        ("input".to_string(), input.clone()),
        ("output".to_string(), input),
    ])))
}
