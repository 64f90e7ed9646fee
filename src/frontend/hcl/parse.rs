//! Reading HCL files: syntax errors become diagnostics at the right line and
//! column; references between expressions are found for ordering.

use crate::diag::{Diag, SourceFile};
use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::structure::Body;
use hcl_edit::visit::{self, Visit};
use std::path::Path;

pub struct File {
    pub src: SourceFile,
    pub body: Body,
}

/// Read and parse one `.pkr.hcl` / `.pkrvars.hcl` file.
pub fn parse_file(path: &Path) -> Result<File, Diag> {
    let bytes = crate::util::fs::read_regular(path).map_err(|e| {
        Diag::error("Failed to read file").detail(format!("{}: {e}", path.display()))
    })?;
    let text = String::from_utf8(bytes).map_err(|e| {
        // Point at the first bad byte; the lossy text shares the valid prefix.
        let at = e.utf8_error().valid_up_to();
        let src = SourceFile::new(path.display().to_string(), String::from_utf8_lossy(e.as_bytes()).into_owned());
        Diag::error("Invalid file encoding")
            .detail(format!("{} is not valid UTF-8", path.display()))
            .at(&src, Some(at..at + 1))
            .label("not UTF-8")
            .hint("All input files must be UTF-8 encoded. Ensure that UTF-8 encoding is selected in your editor.")
    })?;
    parse_text(&path.display().to_string(), text)
}

pub fn parse_text(name: &str, text: String) -> Result<File, Diag> {
    // A UTF-8 BOM is not part of the syntax.
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_string)
        .unwrap_or(text);
    parse_source(SourceFile::new(name, text))
}

/// Parse a loaded source (one that may be a translation, see
/// [`crate::diag::Remap`]).
pub fn parse_source(src: SourceFile) -> Result<File, Diag> {
    // Packer's own parser rules first, so a file is refused exactly when
    // Packer refuses it, with its message at its line and column.
    if let Err(e) = super::check::check(src.text.as_bytes()) {
        return Err(check_diag(&src, &e));
    }
    let body = parse_body(&src).map_err(|e| syntax_diag(&src, &e))?;
    Ok(File { src, body })
}

/// hcl-edit's parser, allowing what hclsyntax (Packer's parser) allows
/// and hcl-edit 0.10 refuses: an object constructor that names a key twice
/// (`{ a = 1, a = 2 }`, the last value wins when it is evaluated).
///
/// hcl-edit compares keys as written, so a repeated key spelled another
/// way that means the same (`a` as `"a"`, `"a"` as `("a")`) parses. The
/// respelling takes the blanks around the key and keeps every byte offset,
/// so spans still point into the file as written; a repeat with no blank
/// on both sides stays the parser's error.
///
/// Nesting past hcl-edit's limits is parsed in pieces ([`super::deep`]).
fn parse_body(src: &SourceFile) -> Result<Body, hcl_edit::parser::Error> {
    let body = |t: &str| allowing_repeated_keys(t, hcl_edit::parser::parse_body);
    match body(&src.text) {
        Err(e) if super::deep::too_deep(&e) => {
            super::deep::body(&src.text, &body, &parse_expr).unwrap_or(Err(e))
        }
        other => other,
    }
}

/// hcl-edit's template parser (a `templatefile` file), with nesting past
/// its limits parsed in pieces.
pub fn parse_template(text: &str) -> Result<hcl_edit::template::Template, hcl_edit::parser::Error> {
    match hcl_edit::parser::parse_template(text) {
        Err(e) if super::deep::too_deep(&e) => {
            super::deep::template(text, &parse_expr).unwrap_or(Err(e))
        }
        other => other,
    }
}

/// hcl-edit's expression parser, allowing what hclsyntax allows (see
/// [`parse_body`]).
pub fn parse_expr(text: &str) -> Result<Expression, hcl_edit::parser::Error> {
    let expr = |t: &str| allowing_repeated_keys(t, hcl_edit::parser::parse_expr);
    match expr(text) {
        Err(e) if super::deep::too_deep(&e) => super::deep::expr(text, &expr).unwrap_or(Err(e)),
        other => other,
    }
}

/// Run an hcl-edit parser on `text`, respelling each repeated object key
/// it refuses (see [`parse_body`]).
pub fn allowing_repeated_keys<T>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, hcl_edit::parser::Error>,
) -> Result<T, hcl_edit::parser::Error> {
    let mut text = std::borrow::Cow::Borrowed(text);
    loop {
        match parse(&text) {
            Err(e) if e.message().contains("redefined object key") => {
                let at = SourceFile::new("", text.to_string())
                    .offset_of(e.location().line(), e.location().column());
                match respell_key(&text, at) {
                    Some(t) => text = std::borrow::Cow::Owned(t),
                    None => return Err(e),
                }
            }
            Err(e) => {
                let at = SourceFile::new("", text.to_string())
                    .offset_of(e.location().line(), e.location().column());
                match respell_number(&text, at) {
                    Some(t) => text = std::borrow::Cow::Owned(t),
                    None => return Err(e),
                }
            }
            other => return other,
        }
    }
}

/// A number literal hcl-edit refuses because a float64 cannot hold it
/// (`1e400`, `1.5e-999`: cty's numbers can) is respelled, in the same
/// number of bytes, as an identifier (`ne400`, `n_5e_999`); the evaluator
/// reads the original digits back at its span ([`number_at`]). hcl-edit
/// stops just after the literal's integer part, which is `at`.
fn respell_number(text: &str, at: usize) -> Option<String> {
    let bytes = text.as_bytes();
    let mut start = at;
    while start > 0 && (bytes[start - 1].is_ascii_digit() || bytes[start - 1] == b'.') {
        start -= 1;
    }
    if start == at
        || !bytes[start].is_ascii_digit()
        || start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_')
    {
        return None;
    }
    let literal = number_literal(&text[start..])?;
    if !literal.contains(['e', 'E']) {
        return None;
    }
    let f: f64 = literal.parse().ok()?;
    let mantissa_zero = literal
        .split(['e', 'E'])
        .next()
        .is_some_and(|m| m.chars().all(|c| c == '0' || c == '.'));
    if f.is_finite() && (f != 0.0 || mantissa_zero) {
        return None;
    }
    let respelled: String = std::iter::once('n')
        .chain(
            literal[1..]
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        )
        .collect();
    Some(format!(
        "{}{respelled}{}",
        &text[..start],
        &text[start + literal.len()..]
    ))
}

/// The number literal `s` starts with (digits, a fraction, an exponent).
fn number_literal(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let mut i = digits(0);
    if i == 0 {
        return None;
    }
    if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i = digits(i + 1);
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let k = digits(j);
        if k > j {
            i = k;
        }
    }
    Some(&s[..i])
}

/// The number a respelled literal at `span` stands for (see
/// [`respell_number`]): the source's own digits there.
pub fn number_at(
    src: &SourceFile,
    name: &str,
    span: std::ops::Range<usize>,
) -> Option<crate::value::Number> {
    let original = src.text.get(span)?;
    if original == name || !original.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    crate::value::Number::parse(original)
}

/// `text` with the object key at `at` spelled another way, in the same
/// number of bytes: ` name ` as `"name"`, ` "name" ` as `("name")`.
fn respell_key(text: &str, at: usize) -> Option<String> {
    let blank = |b: Option<&u8>| matches!(b, Some(b' ' | b'\t'));
    let bytes = text.as_bytes();
    if at == 0 || !blank(bytes.get(at - 1)) {
        return None;
    }
    let rest = text.get(at..)?;
    let (len, quoted) = if let Some(inner) = rest.strip_prefix('"') {
        // A plain string only: no escapes, no interpolation.
        let close = inner.find('"')?;
        let body = &inner[..close];
        if body.contains(['\\', '$', '%', '\n']) {
            return None;
        }
        (close + 2, true)
    } else {
        let len = rest
            .char_indices()
            .find(|&(i, c)| !(c.is_alphanumeric() || c == '_' || (i > 0 && c == '-')))
            .map_or(rest.len(), |(i, _)| i);
        if len == 0 {
            return None;
        }
        (len, false)
    };
    if !blank(bytes.get(at + len)) {
        return None;
    }
    let key = &text[at..at + len];
    let respelled = if quoted {
        format!("({key})")
    } else {
        format!("\"{key}\"")
    };
    Some(format!(
        "{}{respelled}{}",
        &text[..at - 1],
        &text[at + len + 1..]
    ))
}

/// A diagnostic for a syntax error found by [`super::check`].
pub fn check_diag(src: &SourceFile, e: &super::check::SyntaxError) -> Diag {
    let hint = match e.summary.as_str() {
        "Unclosed configuration block" => {
            "this block's `{` has no matching `}`: add it, or look for an extra `{` further down"
        }
        "Invalid multi-line string" => {
            "use \\n inside the quotes, or a heredoc (<<EOT ... EOT) for text over several lines"
        }
        "Missing newline after argument" | "Unexpected comma after argument" => {
            "put each argument on its own line"
        }
        "Invalid expression" | "Missing expression" => "an argument needs a value after `=`",
        "Attribute redefined" => "remove one of the two definitions",
        "Invalid character encoding" => "save the file as UTF-8",
        _ => "fix the syntax here; Packer refuses this file for the same reason",
    };
    Diag::error(e.summary.clone())
        .detail(e.detail.clone())
        .at(src, Some(e.start..e.end.max(e.start)))
        .label("here")
        .hint(hint)
}

pub fn syntax_diag(src: &SourceFile, e: &hcl_edit::parser::Error) -> Diag {
    let loc = e.location();
    let off = src.offset_of(loc.line(), loc.column()).min(src.text.len());
    let end = (off + 1).min(src.text.len()).max(off);
    Diag::error("Invalid HCL syntax")
        .detail(e.message().to_string())
        .at(src, Some(off..end))
        .label("here")
        .hint("check for a missing closing brace, quote or bracket near this point")
}

/// A reference from an expression to another named value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ref {
    Local(String),
    Data(String, String),
    Var(String),
}

struct RefFinder(Vec<Ref>);

impl Visit for RefFinder {
    fn visit_traversal(&mut self, node: &hcl_edit::expr::Traversal) {
        if let Expression::Variable(root) = &node.expr {
            let attr = |i: usize| match node.operators.get(i).map(|o| o.value()) {
                Some(TraversalOperator::GetAttr(a)) => Some(a.value().to_string()),
                _ => None,
            };
            match root.value().as_str() {
                "local" => {
                    if let Some(n) = attr(0) {
                        self.0.push(Ref::Local(n));
                    }
                }
                "var" => {
                    if let Some(n) = attr(0) {
                        self.0.push(Ref::Var(n));
                    }
                }
                "data" => {
                    if let (Some(t), Some(n)) = (attr(0), attr(1)) {
                        self.0.push(Ref::Data(t, n));
                    }
                }
                _ => {}
            }
        }
        visit::visit_traversal(self, node);
    }

    fn visit_for_template_expr(&mut self, node: &hcl_edit::template::ForTemplateExpr) {
        for_directive_too(self, node);
    }
}

/// hcl-edit 0.10's visitors skip a `%{ for … in EXPR }` directive's
/// collection: a visitor that needs every expression visits it here.
pub fn for_directive_too<V: Visit>(v: &mut V, node: &hcl_edit::template::ForTemplateExpr) {
    v.visit_expr(&node.collection_expr);
    visit::visit_for_template_expr(v, node);
}

/// Whether `e` reads the `build` object (`build.ID`, `upper(build.Host)`).
pub fn reads_build(e: &Expression) -> bool {
    struct Finder(bool);
    impl Visit for Finder {
        fn visit_expr(&mut self, node: &Expression) {
            if matches!(node, Expression::Variable(v) if v.value().as_str() == "build") {
                self.0 = true;
            }
            visit::visit_expr(self, node);
        }

        fn visit_for_template_expr(&mut self, node: &hcl_edit::template::ForTemplateExpr) {
            for_directive_too(self, node);
        }
    }
    let mut f = Finder(false);
    f.visit_expr(e);
    f.0
}

pub fn expr_refs(e: &Expression) -> Vec<Ref> {
    let mut f = RefFinder(Vec::new());
    f.visit_expr(e);
    f.0
}

pub fn body_refs(b: &Body) -> Vec<Ref> {
    let mut f = RefFinder(Vec::new());
    f.visit_body(b);
    f.0
}
