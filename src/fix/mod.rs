//! `kiln fix`: Packer's fixers for legacy JSON templates, run in Packer's
//! order over the decoded template, and the result printed as Packer
//! prints it (Go's JSON encoder: keys sorted, two-space indent, numbers
//! as float64, `&` escaped). Old templates go through `fix` before
//! `hcl2_upgrade`.

mod fixers;

use serde_json::{Map, Value as J};

pub use fixers::FIXERS;

/// Every fixer, in Packer's order, over `template`.
pub fn fix(mut template: Map<String, J>) -> Result<Map<String, J>, String> {
    for (_, fixer) in FIXERS {
        fixer(&mut template)?;
    }
    Ok(template)
}

/// `template` as Packer's `fix` prints it: `json.Encoder` output (which
/// ends in a newline) indented by `json.Indent`, `<` and `>` unescaped.
pub fn render(template: &Map<String, J>) -> String {
    let mut out = String::new();
    object(template, 0, &mut out);
    out.push('\n');
    out.replace("\\u003c", "<").replace("\\u003e", ">")
}

fn indent(level: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn object(m: &Map<String, J>, level: usize, out: &mut String) {
    if m.is_empty() {
        out.push_str("{}");
        return;
    }
    let mut keys: Vec<&String> = m.keys().collect();
    // Go sorts a map's keys by their bytes.
    keys.sort();
    out.push('{');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        indent(level + 1, out);
        string(k, out);
        out.push_str(": ");
        value(&m[*k], level + 1, out);
    }
    indent(level, out);
    out.push('}');
}

fn value(v: &J, level: usize, out: &mut String) {
    match v {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => out.push_str(&go_float(n.as_f64().unwrap_or(0.0))),
        J::String(s) => string(s, out),
        J::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                indent(level + 1, out);
                value(item, level + 1, out);
            }
            indent(level, out);
            out.push(']');
        }
        J::Object(m) => object(m, level, out),
    }
}

/// A string as Go's encoder writes it (HTML-safe: `<`, `>`, `&` and the
/// line and paragraph separators escaped).
fn string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as Go's encoder writes a float64: the shortest digits that
/// read back the same, with an exponent only below 1e-6 or from 1e21.
pub fn go_float(f: f64) -> String {
    let abs = f.abs();
    if abs == 0.0 || (1e-6..1e21).contains(&abs) {
        return format!("{f}");
    }
    // Rust writes `1e-7` and `1.5e21`; Go `1e-07` cleaned to `1e-7`, and
    // `1.5e+21`.
    let e = format!("{f:e}");
    match e.split_once('e') {
        Some((m, x)) if !x.starts_with('-') => format!("{m}e+{x}"),
        _ => e,
    }
}

#[cfg(test)]
mod tests {
    use super::go_float;

    #[test]
    fn floats_as_go_writes_them() {
        for (f, want) in [
            (10.0, "10"),
            (1.5, "1.5"),
            (-0.25, "-0.25"),
            (12345678901234567890.0, "12345678901234567000"),
            (1e21, "1e+21"),
            (1.5e22, "1.5e+22"),
            (1e-7, "1e-7"),
            (0.000001, "0.000001"),
            (0.0, "0"),
        ] {
            assert_eq!(go_float(f), want, "{f}");
        }
    }
}
