//! Parsing what hclsyntax accepts and hcl-edit finds too deeply nested.
//!
//! hcl-edit 0.10 refuses more than 64 nested levels and more than 128
//! chained binary operators (to keep its recursive parser off the end of
//! the stack); hclsyntax, Packer's parser, has no such limit, and
//! generated templates go past it (a `lookup` chain written as 80 nested
//! conditionals, a long `a + b + …`). kiln's own checker
//! ([`super::check`]) reads such a file within its own limit and marks
//! [`Cut`]s: pieces, every few levels, that parse on their own. Each piece
//! is replaced, in the text hcl-edit sees, by a placeholder of the same
//! length (`(_…)` for an expression, `${_…}` for a directive), parsed
//! alone, and put back where its placeholder parsed: one ordinary tree, as
//! if hcl-edit had no limit. Every piece is parsed at its own byte offsets
//! (the text before it blanked out), so spans still point into the file.

use super::check::{self, Cut, CutKind};
use hcl_edit::expr::Expression;
use hcl_edit::parser::Error;
use hcl_edit::structure::Body;
use hcl_edit::template::{Element, HeredocTemplate, Template};
use hcl_edit::visit_mut::{self, VisitMut};
use hcl_edit::{Ident, Span};
use std::collections::HashMap;

/// Whether hcl-edit refused `e` for its nesting limits alone.
pub fn too_deep(e: &Error) -> bool {
    let m = e.message();
    m.contains("nesting depth") || m.contains("chained binary operators")
}

/// `text` as a body, cut where the checker says. `None` when the checker
/// refuses the text (its diagnostic is then the one to give).
pub fn body(
    text: &str,
    parse: &dyn Fn(&str) -> Result<Body, Error>,
    parse_expr: &dyn Fn(&str) -> Result<Expression, Error>,
) -> Option<Result<Body, Error>> {
    let cuts = check::cuts(text.as_bytes()).ok()?;
    Some(Pieces::new(text, cuts, parse_expr).whole(|t, p| {
        let mut body = parse(t)?;
        p.visit_body_mut(&mut body);
        Ok(body)
    }))
}

/// `text` as a lone expression (a console line), cut as [`body`] does.
pub fn expr(
    text: &str,
    parse_expr: &dyn Fn(&str) -> Result<Expression, Error>,
) -> Option<Result<Expression, Error>> {
    let cuts = check::expr_cuts(text.as_bytes()).ok()?;
    Some(Pieces::new(text, cuts, parse_expr).whole(|t, p| {
        let mut e = parse_expr(t)?;
        p.visit_expr_mut(&mut e);
        Ok(e)
    }))
}

struct Pieces<'a> {
    text: &'a str,
    /// Outermost first; `children[i]`: the cuts directly inside cut `i`,
    /// `top`: those inside no cut.
    cuts: Vec<Cut>,
    children: Vec<Vec<usize>>,
    top: Vec<usize>,
    parse_expr: &'a dyn Fn(&str) -> Result<Expression, Error>,
}

/// The parsed pieces a text's placeholders stand for, by the byte offset
/// of the placeholder's name.
struct Put(HashMap<usize, Expression>);

impl<'a> Pieces<'a> {
    fn new(
        text: &'a str,
        mut cuts: Vec<Cut>,
        parse_expr: &'a dyn Fn(&str) -> Result<Expression, Error>,
    ) -> Self {
        cuts.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
        cuts.dedup_by(|a, b| a.start == b.start && a.end == b.end);
        let mut children = vec![Vec::new(); cuts.len()];
        let mut top = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        for (i, c) in cuts.iter().enumerate() {
            while open.last().is_some_and(|&o| cuts[o].end <= c.start) {
                open.pop();
            }
            match open.last() {
                Some(&o) => children[o].push(i),
                None => top.push(i),
            }
            open.push(i);
        }
        Pieces {
            text,
            cuts,
            children,
            top,
            parse_expr,
        }
    }

    /// The whole text, parsed by `parse` with its outermost pieces put back.
    fn whole<T>(
        &self,
        parse: impl FnOnce(&str, &mut Put) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut put = Put(HashMap::new());
        for &i in &self.top {
            let (key, e) = self.piece(i)?;
            put.0.insert(key, e);
        }
        let text = self.with_placeholders(0, self.text.len(), &self.top);
        parse(&text, &mut put)
    }

    /// Cut `i` parsed, with its own pieces put back; and its placeholder's
    /// key.
    fn piece(&self, i: usize) -> Result<(usize, Expression), Error> {
        let c = self.cuts[i];
        let mut put = Put(HashMap::new());
        for &j in &self.children[i] {
            let (key, e) = self.piece(j)?;
            put.0.insert(key, e);
        }
        let own = self.with_placeholders(c.start, c.end, &self.children[i]);
        // The text before the piece blanked out (newlines kept, so lines
        // and columns stay right) inside a parenthesis opened at the first
        // byte: hcl-edit takes no newline before an expression, but any
        // inside parentheses.
        let blank = |from: usize, upto: usize| -> String {
            self.text.as_bytes()[from..upto]
                .iter()
                .map(|&b| if b == b'\n' { '\n' } else { ' ' })
                .collect()
        };
        let in_parens = |inner: String| -> Result<Expression, Error> {
            match (self.parse_expr)(&inner)? {
                Expression::Parenthesis(p) => Ok(p.into_inner()),
                other => Ok(other),
            }
        };
        let mut e = match c.kind {
            // A piece never starts a file: there is room for the `(`.
            CutKind::Expr => in_parens(format!("({}{own})", blank(1, c.start)))?,
            CutKind::Directive { heredoc: false, .. } => {
                in_parens(format!("({}\"{own}\")", blank(1, c.start - 1)))?
            }
            CutKind::Directive { heredoc: true, .. } => {
                let text = format!("{}{own}", blank(0, c.start));
                let mut t: Template = hcl_edit::parser::parse_template(&text)?;
                // The blank before the piece (a piece starts with `%{`).
                if matches!(t.get(0), Some(Element::Literal(_))) {
                    t.remove(0);
                }
                Expression::HeredocTemplate(Box::new(HeredocTemplate::new(
                    Ident::new("EOT"),
                    t,
                )))
            }
        };
        put.visit_expr_mut(&mut e);
        Ok((key(&c), e))
    }

    /// `text[start..end]` with each of `inner`'s cuts replaced by its
    /// placeholder.
    fn with_placeholders(&self, start: usize, end: usize, inner: &[usize]) -> String {
        let mut out = String::with_capacity(end - start);
        let mut at = start;
        for &j in inner {
            let c = self.cuts[j];
            out.push_str(&self.text[at..c.start]);
            out.push_str(&placeholder(&self.text[c.start..c.end], c.kind));
            at = c.end;
        }
        out.push_str(&self.text[at..end]);
        out
    }
}

/// Where a cut's placeholder has its name.
fn key(c: &Cut) -> usize {
    match c.kind {
        CutKind::Expr => c.start + 1,
        CutKind::Directive { strip_before, .. } => c.start + 2 + usize::from(strip_before),
    }
}

/// Text of the same length and lines as `piece`: `(_ …)` for an
/// expression, `${_ …}` (with the directive's `~`s) for a directive.
fn placeholder(piece: &str, kind: CutKind) -> String {
    let (open, close) = match kind {
        CutKind::Expr => ("(", ")"),
        CutKind::Directive {
            strip_before,
            strip_after,
            ..
        } => (
            if strip_before { "${~" } else { "${" },
            if strip_after { "~}" } else { "}" },
        ),
    };
    let mut out = String::with_capacity(piece.len());
    out.push_str(open);
    out.push('_');
    let fill = piece.len() - open.len() - 1 - close.len();
    let body = &piece.as_bytes()[open.len() + 1..open.len() + 1 + fill];
    out.extend(body.iter().map(|&b| if b == b'\n' { '\n' } else { ' ' }));
    out.push_str(close);
    out
}

impl VisitMut for Put {
    fn visit_expr_mut(&mut self, node: &mut Expression) {
        let name_at = |e: &Expression| match e {
            Expression::Variable(v) => v.span().map(|s| s.start),
            _ => None,
        };
        let at = match &*node {
            Expression::Parenthesis(p) => name_at(p.inner()),
            other => name_at(other),
        };
        if let Some(e) = at.and_then(|at| self.0.remove(&at)) {
            *node = e;
            return;
        }
        visit_mut::visit_expr_mut(self, node);
    }
}
