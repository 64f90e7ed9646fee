//! Encoding functions.

use super::{str_arg, FnEnv, FnError, FR};
use crate::value::{Attrs, Value};
use base64::Engine;

pub fn base64encode(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(str_arg(&a, 0)?),
    ))
}

pub fn base64decode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.as_bytes())
        .map_err(|_| FnError::Failed(format!("failed to decode base64 data {s:?}")))?;
    String::from_utf8(bytes).map(Value::String).map_err(|_| {
        FnError::Failed("the result of decoding the provided string is not valid UTF-8".into())
    })
}

pub fn csvdecode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(s.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| FnError::Failed(e.to_string()))?
        .clone();
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| FnError::Failed(e.to_string()))?;
        let m: Attrs = headers
            .iter()
            .zip(rec.iter())
            .map(|(h, v)| (h.to_string(), Value::string(v)))
            .collect();
        out.push(Value::Object(m));
    }
    Ok(Value::List(out))
}

pub fn jsondecode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let j: serde_json::Value =
        serde_json::from_str(&s).map_err(|e| FnError::Arg(0, format!("{e}.")))?;
    Ok(Value::from_json(&j))
}

/// JSON as Go's `json.Marshal` writes it (HTML-safe escapes).
pub fn go_json(v: &Value) -> String {
    let s = v.to_json().to_string();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

pub fn jsonencode(_: &FnEnv, a: Vec<Value>) -> FR {
    Ok(Value::String(go_json(&a[0])))
}

pub fn urlencode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}

fn from_yaml(y: &serde_yaml::Value) -> Value {
    match y {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(*b),
        serde_yaml::Value::Number(n) => crate::value::Number::parse(&n.to_string())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        serde_yaml::Value::String(s) => Value::String(s.clone()),
        serde_yaml::Value::Sequence(s) => Value::Tuple(s.iter().map(from_yaml).collect()),
        serde_yaml::Value::Mapping(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        serde_yaml::Value::String(s) => s.clone(),
                        other => serde_yaml::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
        serde_yaml::Value::Tagged(t) => from_yaml(&t.value),
    }
}

pub fn yamldecode(_: &FnEnv, a: Vec<Value>) -> FR {
    let s = str_arg(&a, 0)?;
    let y: serde_yaml::Value =
        serde_yaml::from_str(&s).map_err(|e| FnError::Failed(e.to_string()))?;
    Ok(from_yaml(&y))
}

pub fn yamlencode(_: &FnEnv, a: Vec<Value>) -> FR {
    serde_yaml::to_string(&to_yaml(&a[0]))
        .map(Value::String)
        .map_err(|e| FnError::Failed(e.to_string()))
}

/// A value as YAML's own tree. Not through JSON: kiln's exact JSON numbers
/// (serde_json's arbitrary precision) reached serde_yaml as a map holding
/// `$serde_json::private::Number`.
fn to_yaml(v: &Value) -> serde_yaml::Value {
    use serde_yaml::Value as Y;
    match v {
        Value::Null | Value::Unknown => Y::Null,
        Value::Bool(b) => Y::Bool(*b),
        Value::Number(n) => match n.to_i64() {
            Some(i) => Y::Number(i.into()),
            None => match n.to_string().parse::<u64>() {
                Ok(u) => Y::Number(u.into()),
                Err(_) => Y::Number(n.to_f64().into()),
            },
        },
        Value::String(s) => Y::String(s.clone()),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            Y::Sequence(items.iter().map(to_yaml).collect())
        }
        Value::Map(m) | Value::Object(m) => Y::Mapping(
            m.iter()
                .map(|(k, v)| (Y::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}
