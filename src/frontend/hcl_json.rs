//! HCL's JSON syntax (`*.pkr.json`, `*.pkrvars.json`), read by translating it
//! to native syntax and parsing that.
//!
//! Without plugin schemas, whether a JSON object is a nested block or an
//! object-typed argument is decided by name: the block types Packer's
//! templates use are blocks, everything else is an argument. Diagnostics point
//! into the translated text, which is kept as the file's source.

use super::hcl::parse::{parse_text, File};
use crate::diag::Diag;
use serde_json::Value as J;

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

pub fn to_hcl(name: &str, text: &str) -> Result<File, Diag> {
    let src = crate::diag::SourceFile::new(name, text);
    let j: J = serde_json::from_str(text).map_err(|e| {
        let off = src.offset_of(e.line(), e.column());
        Diag::error("Invalid JSON syntax").detail(e.to_string()).at(&src, Some(off..(off + 1).min(text.len()).max(off)))
    })?;
    let J::Object(top) = &j else {
        return Err(Diag::error("Invalid JSON template").detail("the root of a .pkr.json file must be an object").at(&src, Some(0..1.min(text.len()))));
    };
    let mut out = String::new();
    let is_vars = name.ends_with(".pkrvars.json");
    for (k, v) in top {
        if is_vars {
            out.push_str(&format!("{} = {}\n", ident(k), expr(v)));
        } else {
            emit_item(&mut out, k, v, true);
        }
    }
    parse_text(name, out)
}

fn ident(k: &str) -> String {
    let ok = !k.is_empty()
        && k.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if ok {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn emit_item(out: &mut String, k: &str, v: &J, top: bool) {
    match block_labels(k, top) {
        Some(n) => emit_blocks(out, k, v, n, &mut Vec::new()),
        None => out.push_str(&format!("{} = {}\n", ident(k), expr(v))),
    }
}

fn emit_blocks(out: &mut String, kind: &str, v: &J, labels_left: usize, labels: &mut Vec<String>) {
    if labels_left > 0 {
        // `"provisioner": [ { "shell": {...} }, ... ]` keeps order in JSON.
        if let J::Array(items) = v {
            for i in items {
                emit_blocks(out, kind, i, labels_left, labels);
            }
            return;
        }
        if let J::Object(m) = v {
            for (label, inner) in m {
                labels.push(label.clone());
                emit_blocks(out, kind, inner, labels_left - 1, labels);
                labels.pop();
            }
        }
        return;
    }
    match v {
        J::Array(items) => {
            for i in items {
                emit_blocks(out, kind, i, 0, labels);
            }
        }
        J::Object(m) => {
            out.push_str(kind);
            for l in labels.iter() {
                out.push_str(&format!(" {l:?}"));
            }
            out.push_str(" {\n");
            for (k, inner) in m {
                if k == "//" {
                    continue;
                }
                // A variable's type is an expression written as a string.
                if let (true, J::String(t)) = (kind == "variable" && k == "type", inner) {
                    out.push_str(&format!("type = {t}\n"));
                    continue;
                }
                emit_item(out, k, inner, false);
            }
            out.push_str("}\n");
        }
        _ => {}
    }
}

/// A JSON value as a native expression; strings stay templates.
fn expr(v: &J) -> String {
    match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
        J::String(s) => template_string(s),
        J::Array(a) => format!("[{}]", a.iter().map(expr).collect::<Vec<_>>().join(", ")),
        J::Object(m) => format!(
            "{{\n{}}}",
            m.iter().map(|(k, v)| format!("{} = {}\n", template_string(k), expr(v))).collect::<String>()
        ),
    }
}

fn template_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
