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
    let body = hcl_edit::parser::parse_body(&src.text).map_err(|e| syntax_diag(&src, &e))?;
    Ok(File { src, body })
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
