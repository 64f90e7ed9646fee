//! How values are shown: the console's format (Packer 1.6.6's
//! `PrintableCtyValue`, the Terraform 0.11 REPL layout) and the string a value
//! becomes inside `"${...}"`.

use super::Value;

/// What `packer console` prints for a result.
pub fn console_format(v: &Value) -> String {
    if v.contains_unknown() {
        return "<unknown>".into();
    }
    format_result(v, false)
}

fn format_result(v: &Value, nested: bool) -> String {
    match v {
        Value::Null | Value::Unknown => "null".into(),
        Value::String(s) => {
            if nested {
                go_quote(s)
            } else {
                s.clone()
            }
        }
        Value::Number(n) => match n.to_i64() {
            Some(i) => i.to_string(),
            None => n.go_g(),
        },
        Value::Bool(b) => b.to_string(),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            let mut out = String::from("[");
            if !items.is_empty() {
                out.push('\n');
            }
            for item in items {
                out.push_str(&indent(&format_result(item, true)));
                out.push_str(",\n");
            }
            out.push(']');
            out
        }
        Value::Map(m) | Value::Object(m) => {
            // hcl2shim leaves null attributes and elements out of what
            // Packer prints.
            let shown: Vec<_> = m.iter().filter(|(_, v)| !v.is_null()).collect();
            if shown.is_empty() {
                return "{}".into();
            }
            let mut out = String::from("{\n");
            for (k, item) in shown {
                out.push_str(&indent(&format!(
                    "{} = {}",
                    go_quote(k),
                    format_result(item, true)
                )));
                out.push('\n');
            }
            out.push('}');
            out
        }
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `%q` / `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The string a primitive value becomes in a template (`"${x}"`); `None` for
/// collections, which cannot be interpolated.
pub fn to_display_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
