//! kiln's value model: a small re-statement of HashiCorp's cty, the type system
//! Packer's HCL2 templates evaluate in.
//!
//! * numbers are arbitrary precision ([`Number`]);
//! * `null` and unknown values propagate through operators and functions;
//! * maps and objects keep their keys sorted, as cty does;
//! * lists, sets and tuples are distinct so that type conversion and the
//!   console print what Packer prints.

mod convert;
pub mod display;
pub mod number;
mod types;
mod unify;

pub use convert::{convert, ConvertError};
pub use display::{console_format, to_display_string};
pub use number::Number;
pub use types::Type;
pub use unify::{convertible, unify};

use std::collections::BTreeMap;

/// A map or object body: keys sorted, like cty.
pub type Attrs = BTreeMap<String, Value>;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    /// A value that is not known yet (e.g. `build.ID` at validate time, or a
    /// data source that was not evaluated).
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    Set(Vec<Value>),
    Tuple(Vec<Value>),
    Map(Attrs),
    Object(Attrs),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn int(i: i64) -> Value {
        Value::Number(Number::from(i))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown)
    }

    /// True if this value or anything inside it is unknown.
    pub fn contains_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().any(Value::contains_unknown)
            }
            Value::Map(m) | Value::Object(m) => m.values().any(Value::contains_unknown),
            _ => false,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Elements of a list, set or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Attributes of a map or object.
    pub fn as_attrs(&self) -> Option<&Attrs> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn type_of(&self) -> Type {
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => Type::List(Box::new(common_type(v))),
            Value::Set(v) => Type::Set(Box::new(common_type(v))),
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::type_of).collect()),
            Value::Map(m) => Type::Map(Box::new(common_type_iter(m.values()))),
            Value::Object(m) => {
                Type::Object(m.iter().map(|(k, v)| (k.clone(), v.type_of())).collect())
            }
        }
    }

    /// The name cty gives this value's kind in error messages.
    pub fn friendly_kind(&self) -> String {
        self.type_of().friendly_name()
    }

    /// Build a set: duplicates removed, elements in cty's set order.
    pub fn set_from(mut items: Vec<Value>) -> Value {
        sort_set(&mut items);
        items.dedup();
        Value::Set(items)
    }

    /// Convert to JSON as cty's JSON encoding does (unknown → error is the caller's job).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null | Value::Unknown => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(n) => n.to_json(),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                serde_json::Value::Array(v.iter().map(Value::to_json).collect())
            }
            Value::Map(m) | Value::Object(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// Inverse of [`Value::to_json`]: arrays become tuples, objects objects.
    pub fn from_json(j: &serde_json::Value) -> Value {
        match j {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                Value::Number(Number::parse(&n.to_string()).unwrap_or_else(|| Number::from(0)))
            }
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::Tuple(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }
}

fn common_type(v: &[Value]) -> Type {
    common_type_iter(v.iter())
}

fn common_type_iter<'a>(mut it: impl Iterator<Item = &'a Value>) -> Type {
    match it.next() {
        None => Type::Dynamic,
        Some(first) => {
            let t = first.type_of();
            if it.all(|v| v.type_of() == t) {
                t
            } else {
                Type::Dynamic
            }
        }
    }
}

/// cty orders set elements: numbers numerically, strings lexically, others by
/// their JSON form. Good enough for deterministic output and deduplication.
/// Sort `items` in [`set_order`], computing each element's key once (a
/// comparison of collections serialises both: a million-element set
/// sorted that way took minutes).
pub fn sort_set(items: &mut [Value]) {
    if items
        .iter()
        .all(|v| matches!(v, Value::Number(_) | Value::String(_) | Value::Bool(_)))
    {
        items.sort_by(set_order);
    } else {
        items.sort_by_cached_key(|v| v.to_json().to_string());
    }
}

/// A key equal for two values exactly when cty's equality holds for them
/// (within one element type), for hashing: sets, `distinct`.
pub fn equality_key(v: &Value) -> String {
    v.to_json().to_string()
}

pub fn set_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_json().to_string().cmp(&b.to_json().to_string()),
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
