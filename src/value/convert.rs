//! cty's conversion rules: what a value of one type becomes under a type
//! constraint (string ↔ number ↔ bool, tuple → list, object → map, …).

use super::{Number, Type, Value};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConvertError {
    /// Path inside the value, e.g. `["servers"][1]`; empty at the top.
    pub path: String,
    pub message: String,
}

fn err(path: &str, message: impl Into<String>) -> ConvertError {
    let message = message.into();
    let message = if path.is_empty() {
        message
    } else {
        format!("{path}: {message}")
    };
    ConvertError {
        path: path.to_string(),
        message,
    }
}

/// Convert `v` to type `t`.
pub fn convert(v: &Value, t: &Type) -> Result<Value, ConvertError> {
    let t = concrete(v, t)?;
    convert_at(v, &t, "")
}

/// A collection of `any` takes the one type its elements unify to, as cty
/// converts (`tolist(["a", 3])` is a list of strings, `tomap({a = "x", b =
/// true})` a map of strings); elements with none fail as cty says.
fn concrete(v: &Value, t: &Type) -> Result<Type, ConvertError> {
    let (kind, make): (&str, fn(Type) -> Type) = match t {
        Type::List(e) if **e == Type::Dynamic => ("list", |t| Type::List(Box::new(t))),
        Type::Set(e) if **e == Type::Dynamic => ("set", |t| Type::Set(Box::new(t))),
        Type::Map(e) if **e == Type::Dynamic => ("map", |t| Type::Map(Box::new(t))),
        _ => return Ok(t.clone()),
    };
    let types: Vec<Type> = match v {
        Value::List(x) | Value::Set(x) | Value::Tuple(x) => x.iter().map(Value::type_of).collect(),
        Value::Map(m) | Value::Object(m) => m.values().map(Value::type_of).collect(),
        _ => return Ok(t.clone()),
    };
    if types.is_empty() {
        return Ok(t.clone());
    }
    match super::unify(&types) {
        Some(u) => Ok(make(u)),
        None => Err(err(
            "",
            format!("all {kind} elements must have the same type"),
        )),
    }
}

fn convert_at(v: &Value, t: &Type, path: &str) -> Result<Value, ConvertError> {
    if matches!(v, Value::Null | Value::Unknown) {
        return Ok(v.clone());
    }
    match t {
        Type::Dynamic => Ok(v.clone()),
        Type::String => match v {
            Value::String(_) => Ok(v.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(err(path, "string required")),
        },
        Type::Number => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => Number::parse(s)
                .map(Value::Number)
                .ok_or_else(|| err(path, "a number is required")),
            _ => Err(err(path, "number required")),
        },
        Type::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::String(s) if s == "true" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" => Ok(Value::Bool(false)),
            Value::String(_) => Err(err(path, "a bool is required")),
            _ => Err(err(path, "bool required")),
        },
        Type::List(et) | Type::Set(et) => {
            let items = match v {
                Value::List(x) | Value::Set(x) | Value::Tuple(x) => x,
                _ => return Err(err(path, format!("{} required", t.friendly_name()))),
            };
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(convert_at(item, et, &format!("{path}[{i}]"))?);
            }
            if **et == Type::Dynamic {
                out = unify(out);
            }
            Ok(match t {
                Type::Set(_) => Value::set_from(out),
                _ => Value::List(out),
            })
        }
        Type::Map(et) => {
            let attrs = match v {
                Value::Map(m) | Value::Object(m) => m,
                _ => return Err(err(path, format!("{} required", t.friendly_name()))),
            };
            let mut out = super::Attrs::new();
            for (k, item) in attrs {
                out.insert(k.clone(), convert_at(item, et, &format!("{path}[{k:?}]"))?);
            }
            Ok(Value::Map(out))
        }
        Type::Object(want) => {
            let attrs = match v {
                Value::Map(m) | Value::Object(m) => m,
                _ => return Err(err(path, "object required")),
            };
            let mut out = super::Attrs::new();
            for (k, at) in want {
                let at_path = format!("{path}.{k}");
                let value = match (attrs.get(k), at) {
                    // Left out, or null: the default (itself converted, so
                    // an object default gets its own attributes' defaults).
                    (None, Type::Optional(t, Some(d))) => convert_at(d, t, &at_path)?,
                    (Some(item), Type::Optional(t, Some(d))) if item.is_null() => {
                        convert_at(d, t, &at_path)?
                    }
                    (None, Type::Optional(_, None)) => Value::Null,
                    (Some(item), Type::Optional(t, _)) => convert_at(item, t, &at_path)?,
                    (Some(item), t) => convert_at(item, t, &at_path)?,
                    (None, _) => return Err(err(path, format!("attribute {k:?} is required"))),
                };
                out.insert(k.clone(), value);
            }
            Ok(Value::Object(out))
        }
        Type::Optional(t, _) => convert_at(v, t, path),
        Type::Tuple(ts) => {
            let items = match v {
                Value::List(x) | Value::Set(x) | Value::Tuple(x) => x,
                _ => return Err(err(path, "tuple required")),
            };
            if items.len() != ts.len() {
                return Err(err(
                    path,
                    format!("tuple required with {} elements", ts.len()),
                ));
            }
            let mut out = Vec::with_capacity(items.len());
            for (i, (item, et)) in items.iter().zip(ts).enumerate() {
                out.push(convert_at(item, et, &format!("{path}[{i}]"))?);
            }
            Ok(Value::Tuple(out))
        }
    }
}

/// Elements of a `list(any)`: cty finds one type for all of them; mixed
/// primitives become strings.
fn unify(items: Vec<Value>) -> Vec<Value> {
    let prim = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
    let all_prim = items.iter().all(|v| prim(v) || v.is_null());
    let mixed = items.windows(2).any(|w| {
        std::mem::discriminant(&w[0]) != std::mem::discriminant(&w[1])
            && !w[0].is_null()
            && !w[1].is_null()
    });
    if all_prim && mixed {
        items
            .iter()
            .map(|v| convert(v, &Type::String).unwrap_or_else(|_| v.clone()))
            .collect()
    } else {
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn primitives() {
        assert_eq!(
            convert(&Value::int(5), &Type::String).unwrap(),
            Value::string("5")
        );
        assert_eq!(
            convert(&Value::string("5"), &Type::Number).unwrap(),
            Value::int(5)
        );
        assert!(convert(&Value::string("x"), &Type::Number).is_err());
        assert_eq!(
            convert(&Value::string("true"), &Type::Bool).unwrap(),
            Value::Bool(true)
        );
    }
    #[test]
    fn collections() {
        let t = Value::Tuple(vec![
            Value::string("b"),
            Value::string("a"),
            Value::string("b"),
        ]);
        assert_eq!(
            convert(&t, &Type::Set(Box::new(Type::String))).unwrap(),
            Value::Set(vec![Value::string("a"), Value::string("b")])
        );
        let o = Value::Object([("a".to_string(), Value::int(1))].into());
        assert!(convert(&o, &Type::Object([("b".to_string(), Type::Number)].into())).is_err());
    }
}
