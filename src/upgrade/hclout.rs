//! HCL text for JSON values, as hclwrite's `TokensForValue` and Packer's
//! `jsonBodyToHCL2Body` write it (before formatting).

use serde_json::{Map, Value as J};

fn valid_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next().is_some_and(|c| unicode_ident::is_xid_start(c) || c == '_') && cs.all(|c| unicode_ident::is_xid_continue(c) || c == '-')
}

/// A quoted HCL string literal: template sequences escaped (`$${`, `%%{`).
pub fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '$' | '%' if chars.peek() == Some(&'{') => {
                out.push(c);
                out.push(c);
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn number(n: &serde_json::Number) -> String {
    // Go decodes JSON numbers to float64; cty prints the shortest decimal.
    match n.as_str().parse::<f64>() {
        Ok(f) if f.is_finite() => {
            let s = format!("{f}");
            if s.contains('e') {
                n.as_str().to_string()
            } else {
                s
            }
        }
        _ => n.as_str().to_string(),
    }
}

/// `TokensForValue` of a JSON value (objects with sorted keys, as cty).
pub fn value(v: &J) -> String {
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => number(n),
        J::String(s) => quoted(s),
        J::Array(a) if a.is_empty() => "[]".into(),
        J::Array(a) => format!("[{}]", a.iter().map(value).collect::<Vec<_>>().join(", ")),
        J::Object(m) if m.is_empty() => "{}".into(),
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = String::from("{\n");
            for k in keys {
                let key = if valid_identifier(k) { k.clone() } else { quoted(k) };
                out.push_str(&format!("{key} = {}\n", value(&m[k])));
            }
            out.push('}');
            out
        }
    }
}

pub fn attr(name: &str, v: &J) -> String {
    format!("{name} = {}\n", value(v))
}

fn scalar(v: &J) -> bool {
    matches!(v, J::String(_) | J::Number(_) | J::Bool(_))
}

/// Packer's guess of a map's or list's "most complex element": any
/// non-scalar wins over scalars (null counts as non-scalar).
fn most_complex<'a>(items: impl Iterator<Item = &'a J>) -> Option<&'a J> {
    let mut best: Option<&J> = None;
    let mut seen_nonscalar = false;
    for v in items {
        if scalar(v) {
            if best.is_none() && !seen_nonscalar {
                best = Some(v);
            }
        } else {
            best = Some(v);
            seen_nonscalar = true;
        }
    }
    best
}

/// jsonBodyToHCL2Body: attributes and nested blocks, keys sorted.
pub fn json_body(m: &Map<String, J>) -> String {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    let mut out = String::new();
    for k in keys {
        let v = &m[k];
        match v {
            J::Object(inner) => {
                let pick = if matches!(k.as_str(), "linux_options" | "network_interface" | "shared_image_gallery") { None } else { most_complex(inner.values()) };
                if pick.is_some_and(scalar) {
                    out.push_str(&attr(k, v));
                } else {
                    out.push_str(&format!("{k} {{\n{}}}\n", json_body(inner)));
                }
            }
            J::Array(items) => {
                if items.is_empty() {
                    continue;
                }
                match most_complex(items.iter()) {
                    Some(J::Object(_)) if items.iter().all(|i| i.is_object()) => {
                        for i in items {
                            if let J::Object(inner) = i {
                                out.push_str(&format!("{k} {{\n{}}}\n", json_body(inner)));
                            }
                        }
                    }
                    _ => out.push_str(&attr(k, v)),
                }
            }
            _ => out.push_str(&attr(k, v)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_template_sequences() {
        assert_eq!(quoted("a ${b} %{c} $d \"q\"\n"), r#""a $${b} %%{c} $d \"q\"\n""#);
    }

    #[test]
    fn numbers_print_as_cty_does() {
        let j: J = serde_json::from_str("[48, 0.5, 1e3]").expect("json");
        assert_eq!(value(&j), "[48, 0.5, 1000]");
    }
}
