//! HCL text for JSON values, as hclwrite's `TokensForValue` and Packer's
//! `jsonBodyToHCL2Body` write it (before formatting).

use serde_json::{Map, Value as J};

/// [`valid_identifier`] in words, for the messages that refuse a name.
pub const IDENTIFIER_RULE: &str =
    "starts with a letter or an underscore and holds only letters, digits, underscores and dashes";

/// HCL2's identifier (hclsyntax's scanner: XID start or `_`, then XID
/// continue or `-`).
pub fn valid_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    cs.next()
        .is_some_and(|c| unicode_ident::is_xid_start(c) || c == '_')
        && cs.all(|c| unicode_ident::is_xid_continue(c) || c == '-')
}

/// A quoted HCL string literal: template sequences escaped (`$${`, `%%{`).
pub fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        // `$` or `%` right before a Go action (`${{ env "x" }}`): the action
        // becomes `${…}` after the template pass, and a doubled `$$` before
        // it would not be an escape any more (`$$${…}` does not parse), so
        // the character is written as an interpolation of its own.
        if matches!(c, '$' | '%') && chars.peek() == Some(&'{') && s_at_action(&chars) {
            // Plain `$`s just before would make `$${`, an escape: they go
            // inside the interpolation too. (A `$` that ends `out` is always
            // a plain one: an escaped `$` is followed by its `{`.)
            let mut lit = String::new();
            while out.ends_with('$') {
                out.pop();
                lit.push('$');
            }
            lit.push(c);
            out.push_str(&format!("${{\"{lit}\"}}"));
            continue;
        }
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

/// Whether the text ahead starts a Go action (`{{`).
fn s_at_action(chars: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut ahead = chars.clone();
    ahead.next() == Some('{') && ahead.next() == Some('{')
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
                let key = if valid_identifier(k) {
                    k.clone()
                } else {
                    quoted(k)
                };
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

/// How jsonBodyToHCL2Body writes one key of a body.
enum Shape<'a> {
    Attr,
    Block(&'a Map<String, J>),
    Blocks(Vec<&'a Map<String, J>>),
    Skip,
}

fn shape<'a>(k: &str, v: &'a J) -> Shape<'a> {
    // A provisioner's `override` is an argument in HCL2 (kiln writes it;
    // Packer's upgrade drops it).
    if k == "override" {
        return Shape::Attr;
    }
    match v {
        J::Object(inner) => {
            let pick = if matches!(
                k,
                "linux_options" | "network_interface" | "shared_image_gallery"
            ) {
                None
            } else {
                most_complex(inner.values())
            };
            if pick.is_some_and(scalar) {
                Shape::Attr
            } else {
                Shape::Block(inner)
            }
        }
        J::Array(items) if items.is_empty() => Shape::Skip,
        J::Array(items) => match most_complex(items.iter()) {
            Some(J::Object(_)) if items.iter().all(|i| i.is_object()) => {
                Shape::Blocks(items.iter().filter_map(J::as_object).collect())
            }
            _ => Shape::Attr,
        },
        _ => Shape::Attr,
    }
}

fn sorted(m: &Map<String, J>) -> Vec<(&String, &J)> {
    let mut kv: Vec<(&String, &J)> = m.iter().collect();
    kv.sort_by(|a, b| a.0.cmp(b.0));
    kv
}

/// jsonBodyToHCL2Body: attributes and nested blocks, keys sorted.
pub fn json_body(m: &Map<String, J>) -> String {
    let mut out = String::new();
    for (k, v) in sorted(m) {
        match shape(k, v) {
            Shape::Attr => out.push_str(&attr(k, v)),
            Shape::Block(inner) => out.push_str(&format!("{k} {{\n{}}}\n", json_body(inner))),
            Shape::Blocks(items) => {
                for inner in items {
                    out.push_str(&format!("{k} {{\n{}}}\n", json_body(inner)));
                }
            }
            Shape::Skip => {}
        }
    }
    out
}

/// The first key [`json_body`] would write as an argument or block name
/// that HCL2 cannot take (names are identifiers; keys inside object values
/// are quoted and may be anything), as a dotted path.
pub fn first_bad_name(m: &Map<String, J>) -> Option<String> {
    for (k, v) in sorted(m) {
        if !valid_identifier(k) {
            return Some(k.clone());
        }
        let inner: Vec<&Map<String, J>> = match shape(k, v) {
            Shape::Block(inner) => vec![inner],
            Shape::Blocks(items) => items,
            Shape::Attr | Shape::Skip => continue,
        };
        if let Some(bad) = inner.into_iter().find_map(first_bad_name) {
            return Some(format!("{k}.{bad}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_template_sequences() {
        assert_eq!(
            quoted("a ${b} %{c} $d \"q\"\n"),
            r#""a $${b} %%{c} $d \"q\"\n""#
        );
        // Before a Go action the character stands alone, so that what the
        // action becomes (`${…}`) stays an interpolation.
        assert_eq!(
            quoted("${{ env `X` }} %{{ user `y` }}"),
            r#""${"$"}{{ env `X` }} ${"%"}{{ user `y` }}""#
        );
        assert_eq!(
            quoted("$${{ x }} $%{{ y }} $${z}"),
            r#""${"$$"}{{ x }} ${"$%"}{{ y }} $$${z}""#
        );
    }

    #[test]
    fn names_hcl2_cannot_take_are_found_where_they_would_be_written() {
        let j: J = serde_json::from_str(r#"{"ok": 1, "tags": {"any key": "v"}, "launch": [{"device_name": "x", "bad key": 1}]}"#).expect("json");
        let m = j.as_object().expect("object");
        // A scalar map is an attribute: its keys are quoted, any will do.
        assert_eq!(first_bad_name(m), Some("launch.bad key".into()));
        let j: J =
            serde_json::from_str(r#"{"tags": {"any key": "v"}, "x-y_1": true}"#).expect("json");
        assert_eq!(first_bad_name(j.as_object().expect("object")), None);
        let j: J = serde_json::from_str(r#"{"|ource_ami": "a"}"#).expect("json");
        assert_eq!(
            first_bad_name(j.as_object().expect("object")),
            Some("|ource_ami".into())
        );
    }

    #[test]
    fn numbers_print_as_cty_does() {
        let j: J = serde_json::from_str("[48, 0.5, 1e3]").expect("json");
        assert_eq!(value(&j), "[48, 0.5, 1000]");
    }
}
