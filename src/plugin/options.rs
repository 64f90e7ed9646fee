//! Typed option values: how each Rust type a plugin's `#[derive(Options)]`
//! struct uses maps to a schema [`Kind`] and is read from a decoded value.
//!
//! The front ends have already converted every value to its field's kind
//! (with a diagnostic at the value's span when it cannot be), so reading
//! here only fails on what a kind cannot say (a duration's unit, an integer
//! too large for its field). A value not known yet (`validate` without
//! `-evaluate-datasources`) reads as unset, except a string, which reads as
//! Packer's placeholder [`UNKNOWN`] so that a required option counts as set.

use super::{Field, Kind, UNKNOWN};
use crate::graph::Config;
use crate::value::{to_display_string, Value};
use indexmap::IndexMap;
use std::time::Duration;

/// A plugin's options, declared once as a struct with `#[derive(Options)]`.
pub trait Options: Sized {
    /// Every option's name, kind and doc, in declaration order.
    const FIELDS: &'static [Field];

    /// Read a configuration the front ends decoded against [`Self::FIELDS`].
    fn from_config(config: &Config) -> Result<Self, String>;
}

/// A Rust type an option can have.
pub trait OptionValue: Sized {
    /// The schema kind the front ends convert a value to.
    const KIND: Kind;

    /// The typed value; `None` reads as unset (the field's default).
    fn from_value(value: &Value) -> Result<Option<Self>, String>;
}

/// A map of strings (`tags`, `filters`), in the order the template gives.
pub type StringMap = IndexMap<String, String>;

/// The derive's read of one option: unset and null are `None`.
pub fn read<T: OptionValue>(config: &Config, name: &str) -> Result<Option<T>, String> {
    match config.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => T::from_value(v).map_err(|e| format!("{name}: {e}")),
    }
}

/// A nested block (`source_ami_filter { ... }`), stored as an object.
pub fn block<T: Options>(value: &Value) -> Result<Option<T>, String> {
    match value {
        Value::Unknown => Ok(None),
        // A block given once where blocks may repeat, or a one-item list
        // where one block is expected (JSON templates write both).
        Value::List(items) | Value::Tuple(items) if items.len() == 1 => block(&items[0]),
        v => match v.as_attrs() {
            Some(attrs) => {
                let config: Config = attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                T::from_config(&config).map(Some)
            }
            None => Err(format!("a block is required, not {}", v.friendly_kind())),
        },
    }
}

/// The Packer SDK's string-to-list decode hook: a string where a list of
/// strings is expected is split at commas; `""` is the empty list.
pub fn split_list(s: &str) -> Vec<Value> {
    if s.is_empty() {
        return Vec::new();
    }
    s.split(',').map(|p| Value::String(p.to_string())).collect()
}

impl OptionValue for String {
    const KIND: Kind = Kind::String;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        match value {
            Value::Unknown => Ok(Some(UNKNOWN.to_string())),
            v => to_display_string(v)
                .map(Some)
                .ok_or_else(|| format!("a string is required, not {}", v.friendly_kind())),
        }
    }
}

impl OptionValue for bool {
    const KIND: Kind = Kind::Bool;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        match value {
            Value::Unknown => Ok(None),
            Value::Bool(b) => Ok(Some(*b)),
            // mapstructure's weak decoding, as Packer's: "true", "1", "f"...
            Value::String(s) => match s.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Some(true)),
                "0" | "f" | "F" | "false" | "FALSE" | "False" | "" => Ok(Some(false)),
                _ => Err(format!("{s:?} is not a boolean")),
            },
            Value::Number(n) => Ok(Some(n.to_i64() != Some(0))),
            v => Err(format!("a bool is required, not {}", v.friendly_kind())),
        }
    }
}

/// Integers of every width, range-checked.
macro_rules! integer {
    ($($t:ty),*) => {$(
        impl OptionValue for $t {
            const KIND: Kind = Kind::Number;

            fn from_value(value: &Value) -> Result<Option<Self>, String> {
                let n = match value {
                    Value::Unknown => return Ok(None),
                    Value::Number(n) => n.to_i64(),
                    Value::String(s) if s.is_empty() => return Ok(None),
                    Value::String(s) => s.trim().parse().ok(),
                    v => return Err(format!("a number is required, not {}", v.friendly_kind())),
                };
                n.and_then(|n| <$t>::try_from(n).ok())
                    .map(Some)
                    .ok_or_else(|| format!("a whole number from {} to {} is required",
                        <$t>::MIN, <$t>::MAX))
            }
        }
    )*};
}

integer!(i32, i64, u8, u16, u32, u64, usize);

impl OptionValue for f64 {
    const KIND: Kind = Kind::Number;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        match value {
            Value::Unknown => Ok(None),
            Value::Number(n) => Ok(Some(n.to_f64())),
            Value::String(s) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| format!("{s:?} is not a number")),
            v => Err(format!("a number is required, not {}", v.friendly_kind())),
        }
    }
}

impl OptionValue for Duration {
    const KIND: Kind = Kind::Duration;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        match value {
            Value::Unknown => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            v => match to_display_string(v) {
                Some(s) => crate::util::duration::parse(&s).map(Some),
                None => Err(format!("a duration is required, not {}", v.friendly_kind())),
            },
        }
    }
}

/// Any value, as the template wrote it (options whose shape varies, such as
/// `valid_exit_codes`).
impl OptionValue for Value {
    const KIND: Kind = Kind::Any;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        Ok(Some(value.clone()))
    }
}

impl<T: OptionValue> OptionValue for Option<T> {
    const KIND: Kind = T::KIND;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        Ok(T::from_value(value)?.map(Some))
    }
}

/// A list of strings, or a block that repeats.
impl<T: OptionValue> OptionValue for Vec<T> {
    const KIND: Kind = match T::KIND {
        Kind::Block(fields) => Kind::Blocks(fields),
        Kind::String => Kind::Strings,
        _ => Kind::Any,
    };

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        let split;
        let items = match value {
            Value::Unknown => return Ok(None),
            // The Packer SDK's decode hook: a string where a list of
            // strings is expected is split at commas ("" is no item), in
            // JSON and HCL2 alike (`ami_regions = "a,b"`; a bare string in
            // `qemuargs` becomes a one-item list).
            Value::String(s) if matches!(T::KIND, Kind::String) => {
                split = split_list(s);
                &split[..]
            }
            v => match v.as_seq() {
                Some(items) => items,
                // One item where a list is expected: a block written once,
                // or a lone string.
                None => std::slice::from_ref(v),
            },
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            // Items not known yet are left out (validate).
            if let Some(x) = T::from_value(item).map_err(|e| format!("item {i}: {e}"))? {
                out.push(x);
            }
        }
        Ok(Some(out))
    }
}

impl OptionValue for StringMap {
    const KIND: Kind = Kind::StringMap;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        match value {
            Value::Unknown => Ok(None),
            v => match v.as_attrs() {
                Some(m) => Ok(Some(
                    m.iter()
                        .filter_map(|(k, v)| to_display_string(v).map(|s| (k.clone(), s)))
                        .collect(),
                )),
                None => Err(format!(
                    "a map of strings is required, not {}",
                    v.friendly_kind()
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Options;

    #[derive(Options)]
    struct Inner {
        key: Option<String>,
    }

    #[derive(Options)]
    struct Example {
        /// A name.
        name: String,
        #[option(default = "/tmp")]
        folder: String,
        #[option(name = "Version")]
        version: Option<String>,
        count: Option<u16>,
        enabled: bool,
        wait: Option<Duration>,
        items: Vec<String>,
        tags: StringMap,
        one: Option<Inner>,
        many: Vec<Inner>,
        #[option(no_effect = "nothing reads it")]
        ignored: Option<String>,
    }

    fn config(pairs: &[(&str, Value)]) -> Config {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn the_schema_comes_from_the_struct() {
        let f = Example::FIELDS;
        let names: Vec<&str> = f.iter().map(|f| f.name).collect();
        assert_eq!(
            names,
            [
                "name", "folder", "Version", "count", "enabled", "wait", "items", "tags", "one",
                "many", "ignored"
            ]
        );
        assert_eq!(f[0].doc, "A name.");
        assert_eq!(f[3].kind, Kind::Number);
        assert_eq!(f[4].kind, Kind::Bool);
        assert_eq!(f[5].kind, Kind::Duration);
        assert_eq!(f[6].kind, Kind::Strings);
        assert_eq!(f[7].kind, Kind::StringMap);
        assert_eq!(f[8].kind, Kind::Block(Inner::FIELDS));
        assert_eq!(f[9].kind, Kind::Blocks(Inner::FIELDS));
        assert_eq!(f[10].no_effect, "nothing reads it");
    }

    /// mapstructure's weak decoding with the SDK's hooks, as Packer's.
    #[test]
    fn strings_stand_for_lists_numbers_and_booleans() {
        let e = Example::from_config(&config(&[
            ("items", Value::string("a,b,,c")),
            ("count", Value::string("12")),
            ("enabled", Value::string("1")),
        ]))
        .expect("weak values");
        assert_eq!(e.items, ["a", "b", "", "c"]);
        assert_eq!(e.count, Some(12));
        assert!(e.enabled);
        let e = Example::from_config(&config(&[("items", Value::string(""))])).expect("empty");
        assert!(e.items.is_empty());
        let nested = <Vec<Vec<String>>>::from_value(&Value::Tuple(vec![
            Value::string("-nographic"),
            Value::Tuple(vec![Value::string("-m"), Value::string("1024")]),
        ]))
        .expect("qemuargs");
        assert_eq!(
            nested,
            Some(vec![
                vec!["-nographic".to_string()],
                vec!["-m".into(), "1024".into()]
            ])
        );
    }

    #[test]
    fn unset_options_take_their_defaults() {
        let e = Example::from_config(&Config::new()).expect("empty config");
        assert_eq!(e.name, "");
        assert_eq!(e.folder, "/tmp");
        assert_eq!(e.version, None);
        assert!(!e.enabled && e.items.is_empty() && e.one.is_none() && e.many.is_empty());
        assert!(e.tags.is_empty() && e.ignored.is_none());
        let e = Example::from_config(&config(&[("folder", Value::Null)])).expect("null");
        assert_eq!(e.folder, "/tmp");
    }

    #[test]
    fn values_are_read_weakly_as_mapstructure_reads_them() {
        let inner = Value::Object(
            [("key".to_string(), Value::string("k"))]
                .into_iter()
                .collect(),
        );
        let c = config(&[
            ("Version", Value::string("2012")),
            ("count", Value::string("22")),
            ("enabled", Value::string("1")),
            ("wait", Value::string("1m30s")),
            ("items", Value::string("lone")),
            ("one", Value::Tuple(vec![inner.clone()])),
            ("many", Value::Tuple(vec![inner.clone(), inner])),
        ]);
        let e = Example::from_config(&c).expect("weak values");
        assert_eq!(e.version.as_deref(), Some("2012"));
        assert_eq!(e.count, Some(22));
        assert!(e.enabled);
        assert_eq!(e.wait, Some(Duration::from_secs(90)));
        assert_eq!(e.items, ["lone"]);
        assert_eq!(e.one.and_then(|i| i.key).as_deref(), Some("k"));
        assert_eq!(e.many.len(), 2);
    }

    #[test]
    fn a_bad_value_names_its_option() {
        let err = Example::from_config(&config(&[("count", Value::int(70000))]))
            .err()
            .expect("out of range");
        assert_eq!(err, "count: a whole number from 0 to 65535 is required");
        let err = Example::from_config(&config(&[("wait", Value::string("5"))]))
            .err()
            .expect("no unit");
        assert!(err.starts_with("wait: "), "{err}");
        let err = Example::from_config(&config(&[("enabled", Value::string("yes"))]))
            .err()
            .expect("not a bool");
        assert_eq!(err, "enabled: \"yes\" is not a boolean");
    }

    #[test]
    fn unknown_values_read_as_unset_but_strings_as_packers_placeholder() {
        let c = config(&[
            ("name", Value::Unknown),
            ("count", Value::Unknown),
            ("items", Value::Unknown),
        ]);
        let e = Example::from_config(&c).expect("unknowns");
        assert_eq!(e.name, crate::plugin::UNKNOWN);
        assert_eq!(e.count, None);
        assert!(e.items.is_empty());
    }
}
