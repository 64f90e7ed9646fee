//! HCL's JSON syntax (`*.pkr.json`, `*.pkrvars.json`), read by translating it
//! to native syntax and parsing that.
//!
//! Without plugin schemas, whether a JSON object is a nested block or an
//! object-typed argument is decided by name: the block types Packer's
//! templates use are blocks, everything else is an argument. Every piece of
//! the translation remembers the JSON it came from ([`Remap`]), so
//! diagnostics point at the line and column of the JSON file.

use super::hcl::parse::{parse_source, File};
use crate::diag::{Diag, Remap, SourceFile};
use jsonc_parser::ast::{ObjectProp, Value as J};
use std::ops::Range;

/// Block type → number of labels.
fn block_labels(name: &str, top: bool) -> Option<usize> {
    match name {
        "variable" | "local" if top => Some(1),
        "source" | "data" if top => Some(2),
        "build" | "packer" | "locals" | "variables" if top => Some(0),
        "provisioner" | "post-processor" | "error-cleanup-provisioner" | "dynamic" => Some(1),
        "source" => Some(1),
        "post-processors" | "validation" | "content" | "required_plugins" => Some(0),
        _ => None,
    }
}

/// The native text being written, with where each piece came from.
#[derive(Default)]
struct Out {
    text: String,
    segments: Vec<(Range<usize>, Range<usize>)>,
}

impl Out {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Append `s`, written for the JSON at `from`.
    fn mapped(&mut self, s: &str, from: Range<usize>) {
        let start = self.text.len();
        self.text.push_str(s);
        self.segments.push((start..self.text.len(), from));
    }

    /// Everything written by `f` came from the JSON at `from`.
    fn span(&mut self, from: Range<usize>, f: impl FnOnce(&mut Out)) {
        let start = self.text.len();
        f(self);
        self.segments.push((start..self.text.len(), from));
    }
}

fn range(v: &J) -> Range<usize> {
    use jsonc_parser::common::Ranged;
    let r = v.range();
    r.start..r.end
}

fn name_range(p: &ObjectProp) -> Range<usize> {
    use jsonc_parser::common::Ranged;
    let r = p.name.range();
    r.start..r.end
}

pub fn to_hcl(name: &str, text: &str) -> Result<File, Diag> {
    let src = SourceFile::new(name, text);
    let invalid = |detail: String, off: usize| {
        Diag::error("Invalid JSON syntax")
            .detail(detail)
            .at(&src, Some(off..(off + 1).min(text.len()).max(off)))
    };
    // serde_json decides what is JSON (strictly, with its messages); the
    // lenient AST parser then only adds where each piece is.
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        return Err(invalid(e.to_string(), src.offset_of(e.line(), e.column())));
    }
    let ast = jsonc_parser::parse_to_ast(text, &Default::default(), &Default::default()).map_err(
        |e| {
            let r = e.range();
            invalid(e.kind().to_string(), r.start)
        },
    )?;
    let Some(J::Object(top)) = &ast.value else {
        return Err(Diag::error("Invalid JSON template")
            .detail("the root of a .pkr.json file must be an object")
            .at(&src, Some(0..1.min(text.len()))));
    };
    let mut out = Out::default();
    let is_vars = name.ends_with(".pkrvars.json");
    for p in &top.properties {
        if is_vars {
            out.mapped(&ident(p.name.as_str()), name_range(p));
            out.push(" = ");
            expr(&mut out, &p.value);
            out.push("\n");
        } else {
            emit_item(&mut out, p, true);
        }
    }
    let translated = SourceFile::new(name, out.text).with_remap(Remap::new(src, out.segments));
    parse_source(translated)
}

fn ident(k: &str) -> String {
    let ok = !k.is_empty()
        && k.chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
        && k.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn emit_item(out: &mut Out, p: &ObjectProp, top: bool) {
    let k = p.name.as_str();
    match block_labels(k, top) {
        Some(n) => emit_blocks(out, k, name_range(p), &p.value, n, &mut Vec::new()),
        None => {
            out.span(
                range(&p.value).start.min(name_range(p).start)..range(&p.value).end,
                |out| {
                    out.mapped(&ident(k), name_range(p));
                    out.push(" = ");
                    expr(out, &p.value);
                },
            );
            out.push("\n");
        }
    }
}

/// A block `kind` (its key at `at`) with `labels_left` labels still to come
/// from nested object keys.
fn emit_blocks(
    out: &mut Out,
    kind: &str,
    at: Range<usize>,
    v: &J,
    labels_left: usize,
    labels: &mut Vec<(String, Range<usize>)>,
) {
    if labels_left > 0 {
        // `"provisioner": [ { "shell": {...} }, ... ]` keeps order in JSON.
        if let J::Array(a) = v {
            for i in &a.elements {
                emit_blocks(out, kind, at.clone(), i, labels_left, labels);
            }
            return;
        }
        if let J::Object(o) = v {
            for p in &o.properties {
                labels.push((p.name.as_str().to_string(), name_range(p)));
                emit_blocks(out, kind, at.clone(), &p.value, labels_left - 1, labels);
                labels.pop();
            }
        }
        return;
    }
    match v {
        J::Array(a) => {
            for i in &a.elements {
                emit_blocks(out, kind, at.clone(), i, 0, labels);
            }
        }
        J::Object(o) => {
            // The header points at the innermost label's key (or the
            // block's own key), the body at the object.
            let head = labels
                .last()
                .map(|l| l.1.clone())
                .unwrap_or_else(|| at.clone());
            out.span(range(v), |out| {
                out.span(head.clone(), |out| {
                    out.mapped(kind, at.clone());
                    for (l, r) in labels.iter() {
                        out.push(" ");
                        out.mapped(&format!("{l:?}"), r.clone());
                    }
                });
                out.push(" {\n");
                for p in &o.properties {
                    let k = p.name.as_str();
                    if k == "//" {
                        continue;
                    }
                    // A variable's type is an expression written as a string.
                    if let (true, J::StringLit(t)) = (kind == "variable" && k == "type", &p.value) {
                        out.mapped("type", name_range(p));
                        out.push(" = ");
                        out.mapped(
                            &t.value,
                            range(&p.value).start + 1
                                ..range(&p.value)
                                    .end
                                    .saturating_sub(1)
                                    .max(range(&p.value).start + 1),
                        );
                        out.push("\n");
                        continue;
                    }
                    emit_item(out, p, false);
                }
                out.push("}");
            });
            out.push("\n");
        }
        _ => {}
    }
}

/// A JSON value as a native expression; strings stay templates.
fn expr(out: &mut Out, v: &J) {
    match v {
        J::NullKeyword(_) => out.mapped("null", range(v)),
        J::BooleanLit(b) => out.mapped(if b.value { "true" } else { "false" }, range(v)),
        J::NumberLit(n) => out.mapped(n.value, range(v)),
        J::StringLit(s) => out.mapped(&template_string(&s.value), range(v)),
        J::Array(a) => out.span(range(v), |out| {
            out.push("[");
            for (i, e) in a.elements.iter().enumerate() {
                if i > 0 {
                    out.push(", ");
                }
                expr(out, e);
            }
            out.push("]");
        }),
        J::Object(o) => out.span(range(v), |out| {
            out.push("{\n");
            for p in &o.properties {
                out.mapped(&template_string(p.name.as_str()), name_range(p));
                out.push(" = ");
                expr(out, &p.value);
                out.push("\n");
            }
            out.push("}");
        }),
    }
}

/// A JSON string as a native quoted template: the literal parts escaped,
/// the `${ }` and `%{ }` sequences copied as they are (their expressions may
/// hold quotes of their own).
fn template_string(s: &str) -> String {
    let b: Vec<char> = s.chars().collect();
    let mut out = String::from("\"");
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if (c == '$' || c == '%') && next == Some(c) && b.get(i + 2) == Some(&'{') {
            // `$${` and `%%{` are escapes for a literal `${` / `%{`
            out.extend([c, c, '{']);
            i += 3;
            continue;
        }
        if (c == '$' || c == '%') && next == Some('{') {
            if let Some(end) = sequence_end(&b, i + 2) {
                out.extend(&b[i..end]);
                i = end;
                continue;
            }
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
        i += 1;
    }
    out.push('"');
    out
}

/// The index just past the `}` closing a template sequence whose body starts
/// at `i`, skipping braces inside the expression's strings.
fn sequence_end(b: &[char], mut i: usize) -> Option<usize> {
    let mut depth = 1;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        if in_str {
            match c {
                '\\' => i += 1,
                '"' => in_str = false,
                '$' | '%' if b.get(i + 1) == Some(&'{') => {
                    depth += 1;
                    i += 1;
                }
                '}' if depth > 1 => depth -= 1,
                _ => {}
            }
        } else {
            match c {
                '"' => in_str = true,
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_point_into_the_json() {
        let text = "{\n  \"variable\": {\n    \"x\": {\n      \"type\": \"string\",\n      \"default\": 5\n    }\n  },\n  \"locals\": {\n    \"y\": \"${nope(1)}\"\n  }\n}\n";
        let f = to_hcl("t.pkr.json", text).expect("translates");
        // The string literal of local y, in the translation…
        let at = f.src.text.find("\"${nope(1)}\"").expect("in translation");
        let d = Diag::error("x").at(&f.src, Some(at + 3..at + 7));
        // …is at line 9 of the JSON, on `nope`.
        assert_eq!(d.location().as_deref(), Some("t.pkr.json:9:13"));
        assert_eq!(&text[d.span.clone().expect("span")], "nope");
    }

    #[test]
    fn template_sequences_are_copied_and_literals_escaped() {
        assert_eq!(
            template_string(r#"a "b" ${upper("x")} %{ if true }"y"%{ endif } $${z}"#),
            r#""a \"b\" ${upper("x")} %{ if true }\"y\"%{ endif } $${z}""#
        );
        assert_eq!(
            template_string(r#"${format("%s}", "{")}\"#),
            r#""${format("%s}", "{")}\\""#
        );
        assert_eq!(template_string("${unclosed(\"x\""), r#""${unclosed(\"x\"""#);
    }

    #[test]
    fn syntax_errors_in_the_translation_point_into_the_json() {
        let text = "{\"locals\": {\n  \"y\": \"${1 +}\"\n}}";
        let e = to_hcl("t.pkr.json", text).err().and_then(|d| d.location());
        let loc = e.unwrap_or_default();
        assert!(loc.starts_with("t.pkr.json:2:"), "{loc}");
    }
}
