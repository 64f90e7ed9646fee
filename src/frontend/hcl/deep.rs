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
use hcl_edit::template::{Element, ForTemplateExpr, Template};
use hcl_edit::visit_mut::{self, VisitMut};
use hcl_edit::Decorate;
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

/// A template file's text (`templatefile`), cut as [`body`] does.
pub fn template(
    text: &str,
    parse_expr: &dyn Fn(&str) -> Result<Expression, Error>,
) -> Option<Result<Template, Error>> {
    let cuts = check::template_cuts(text.as_bytes()).ok()?;
    Some(Pieces::new(text, cuts, parse_expr).whole(|t, p| {
        let mut tpl = hcl_edit::parser::parse_template(t)?;
        p.visit_template_mut(&mut tpl);
        Ok(tpl)
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
    /// `text` with every byte but a newline a blank, made once: each
    /// piece is parsed behind its own prefix of it.
    blanked: String,
}

/// A piece parsed: an expression, or a directive's elements (with its
/// own `~`s), which take the place of the interpolation standing for them
/// so that the tree is the one hcl-edit would have made (a flush heredoc
/// measures its indentation over them).
enum Piece {
    Expr(Expression),
    Elements(Vec<Element>),
}

/// The parsed pieces a text's placeholders stand for, by the
/// placeholder's name.
#[derive(Default)]
struct Put {
    exprs: HashMap<String, Expression>,
    elements: HashMap<String, Vec<Element>>,
}

impl Put {
    fn insert(&mut self, name: String, p: Piece) {
        match p {
            Piece::Expr(e) => self.exprs.insert(name, e).map(drop),
            Piece::Elements(els) => self.elements.insert(name, els).map(drop),
        };
    }

    /// `t` with each placeholder interpolation replaced by its elements.
    fn splice(&mut self, t: &mut Template) {
        let mut i = 0;
        while i < t.len() {
            let name = match t.get(i) {
                Some(Element::Interpolation(it)) => match &it.expr {
                    Expression::Variable(v) => Some(v.as_str().to_string()),
                    _ => None,
                },
                _ => None,
            };
            if let Some(els) = name.and_then(|n| self.elements.remove(&n)) {
                t.remove(i);
                for el in els {
                    t.insert(i, el);
                    i += 1;
                }
                continue;
            }
            if let Some(el) = t.get_mut(i) {
                self.visit_element_mut(el);
            }
            i += 1;
        }
    }
}

/// A directive piece's elements: its directive, without the blank
/// before it.
fn directives(t: Template) -> Vec<Element> {
    t.into_iter()
        .filter(|el| !matches!(el, Element::Literal(_)))
        .collect()
}

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
        let blanked = text
            .bytes()
            .map(|b| if b == b'\n' { '\n' } else { ' ' })
            .collect();
        Pieces {
            text,
            blanked,
            cuts,
            children,
            top,
            parse_expr,
        }
    }

    /// The whole text, parsed by `parse` with its outermost pieces put back.
    ///
    /// Pieces are parsed deepest first, those of one depth together in one
    /// text of the file's length (`_=(piece)` attributes where the pieces
    /// stand, blanks elsewhere), so that the work grows with the file
    /// times the depth of the cuts, not times their number.
    fn whole<T>(&self, parse: impl FnOnce(&str, &mut Put) -> Result<T, Error>) -> Result<T, Error> {
        let mut depth = vec![0usize; self.cuts.len()];
        for i in 0..self.cuts.len() {
            for &j in &self.children[i] {
                depth[j] = depth[i] + 1;
            }
        }
        let deepest = depth.iter().copied().max().unwrap_or(0);
        let mut done: Vec<Option<Piece>> = (0..self.cuts.len()).map(|_| None).collect();
        for d in (0..=deepest).rev() {
            let level: Vec<usize> = (0..self.cuts.len()).filter(|&i| depth[i] == d).collect();
            let mut puts = HashMap::new();
            let mut owns = HashMap::new();
            for &i in &level {
                let mut put = Put::default();
                for &j in &self.children[i] {
                    if let Some(p) = done[j].take() {
                        put.insert(name(j), p);
                    }
                }
                puts.insert(i, put);
                owns.insert(
                    i,
                    self.with_placeholders(self.cuts[i].start, self.cuts[i].end, &self.children[i]),
                );
            }
            let mut parsed = self.batch(&level, &owns);
            for &i in &level {
                let mut piece = match parsed.remove(&i) {
                    Some(p) => p,
                    None => self.parse_one(i, &owns[&i])?,
                };
                if let Some(mut put) = puts.remove(&i) {
                    match &mut piece {
                        Piece::Expr(e) => put.visit_expr_mut(e),
                        Piece::Elements(els) => {
                            for el in els {
                                put.visit_element_mut(el);
                            }
                        }
                    }
                }
                done[i] = Some(piece);
            }
        }
        let mut put = Put::default();
        for &i in &self.top {
            if let Some(p) = done[i].take() {
                put.insert(name(i), p);
            }
        }
        let text = self.with_placeholders(0, self.text.len(), &self.top);
        parse(&text, &mut put)
    }

    /// The expression pieces of `level` that have room around them, parsed
    /// in one body; those left out (or all, if that fails) are parsed one
    /// by one.
    fn batch(&self, level: &[usize], owns: &HashMap<usize, String>) -> HashMap<usize, Piece> {
        let mut buf = self.blanked.clone().into_bytes();
        let mut placed = Vec::new();
        let mut free = 0;
        for &i in level {
            let c = self.cuts[i];
            // `\n_NNNNNN=(`: a name of its own for each (a body takes an
            // attribute once).
            let head = format!("\n_{:06x}=(", placed.len());
            if c.kind != CutKind::Expr
                || c.start < free + head.len()
                || c.end >= buf.len()
                || head.len() > 11
            {
                continue;
            }
            buf[c.start - head.len()..c.start].copy_from_slice(head.as_bytes());
            buf[c.start..c.end].copy_from_slice(owns[&i].as_bytes());
            buf[c.end] = b')';
            free = c.end + 1;
            placed.push(i);
        }
        if placed.len() < 2 {
            return HashMap::new();
        }
        let Ok(text) = String::from_utf8(buf) else {
            return HashMap::new();
        };
        let Ok(body) = super::parse::allowing_repeated_keys(&text, hcl_edit::parser::parse_body)
        else {
            return HashMap::new();
        };
        let values: Vec<Expression> = body
            .into_attributes()
            .map(|a| match a.value {
                Expression::Parenthesis(p) => p.into_inner(),
                other => other,
            })
            .collect();
        if values.len() != placed.len() {
            return HashMap::new();
        }
        placed
            .into_iter()
            .zip(values)
            .map(|(i, mut e)| {
                // The blanks before it, which hcl-edit keeps as decor.
                e.decor_mut().clear();
                (i, Piece::Expr(e))
            })
            .collect()
    }

    /// Cut `i` (its text `own`, with placeholders) parsed on its own.
    fn parse_one(&self, i: usize, own: &str) -> Result<Piece, Error> {
        let c = self.cuts[i];
        // The text before the piece blanked out (newlines kept, so lines
        // and columns stay right) inside a parenthesis opened at the first
        // byte: hcl-edit takes no newline before an expression, but any
        // inside parentheses.
        let blank = |from: usize, upto: usize| &self.blanked[from..upto];
        let in_parens = |inner: String| -> Result<Expression, Error> {
            match (self.parse_expr)(&inner)? {
                Expression::Parenthesis(p) => {
                    let mut e = p.into_inner();
                    e.decor_mut().clear();
                    Ok(e)
                }
                other => Ok(other),
            }
        };
        // A piece at the very start (of a console line) has nothing before
        // it to blank.
        Ok(match c.kind {
            CutKind::Expr if c.start == 0 => Piece::Expr((self.parse_expr)(own)?),
            CutKind::Expr => Piece::Expr(in_parens(format!("({}{own})", blank(1, c.start)))?),
            CutKind::Directive { heredoc: false, .. } => {
                let e = if c.start < 2 {
                    (self.parse_expr)(&format!("\"{own}\""))?
                } else {
                    in_parens(format!("({}\"{own}\")", blank(1, c.start - 1)))?
                };
                match e {
                    Expression::StringTemplate(t) => Piece::Elements(directives(Template::from(t))),
                    // Not a directive after all: what the checker cut.
                    other => Piece::Expr(other),
                }
            }
            CutKind::Directive { heredoc: true, .. } => {
                let text = format!("{}{own}", blank(0, c.start));
                Piece::Elements(directives(hcl_edit::parser::parse_template(&text)?))
            }
        })
    }

    /// `text[start..end]` with each of `inner`'s cuts replaced by its
    /// placeholder.
    fn with_placeholders(&self, start: usize, end: usize, inner: &[usize]) -> String {
        let mut out = String::with_capacity(end - start);
        let mut at = start;
        for &j in inner {
            let c = self.cuts[j];
            out.push_str(&self.text[at..c.start]);
            out.push_str(&placeholder(&self.text[c.start..c.end], c.kind, &name(j)));
            at = c.end;
        }
        out.push_str(&self.text[at..end]);
        out
    }
}

/// The name of cut `i`'s placeholder: one no template uses (HCL names
/// may start with `_`, Packer's never do), of ten bytes (a cut is at
/// least [`check::MIN_CUT`]; a file has fewer than 2³² of them).
fn name(i: usize) -> String {
    format!("_k{i:08x}")
}

/// Text of the same length and lines as `piece`: `(_k… )` for an
/// expression, `${_k… }` (with the directive's `~`s) for a directive.
fn placeholder(piece: &str, kind: CutKind, name: &str) -> String {
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
    out.push_str(name);
    let fill = open.len() + name.len()..piece.len() - close.len();
    out.extend(
        piece.as_bytes()[fill]
            .iter()
            .map(|&b| if b == b'\n' { '\n' } else { ' ' }),
    );
    out.push_str(close);
    out
}

impl VisitMut for Put {
    fn visit_expr_mut(&mut self, node: &mut Expression) {
        let name = match &*node {
            Expression::Parenthesis(p) => match p.inner() {
                Expression::Variable(v) => Some(v.as_str()),
                _ => None,
            },
            _ => None,
        };
        if let Some(e) = name.and_then(|n| self.exprs.remove(n)) {
            *node = e;
            return;
        }
        visit_mut::visit_expr_mut(self, node);
    }

    fn visit_template_mut(&mut self, node: &mut Template) {
        self.splice(node);
    }

    fn visit_string_template_mut(&mut self, node: &mut hcl_edit::template::StringTemplate) {
        self.splice(node);
    }

    // hcl-edit 0.10 skips a `%{ for … in EXPR }` directive's collection.
    fn visit_for_template_expr_mut(&mut self, node: &mut ForTemplateExpr) {
        self.visit_expr_mut(&mut node.collection_expr);
        visit_mut::visit_for_template_expr_mut(self, node);
    }
}

#[cfg(test)]
mod tests {
    //! Pieces put back make the tree hcl-edit would have made: the same
    //! values and the same errors at the same places, checked on input
    //! shallow enough for hcl-edit alone, with cuts forced.
    use super::*;
    use crate::diag::SourceFile;
    use crate::frontend::hcl::eval::{show, Evaluator};
    use crate::frontend::hcl::functions::FnEnv;
    use crate::frontend::hcl::parse::allowing_repeated_keys;
    use crate::value::{Attrs, Value};
    use proptest::prelude::*;

    fn plain_expr(t: &str) -> Result<Expression, Error> {
        allowing_repeated_keys(t, hcl_edit::parser::parse_expr)
    }

    /// What evaluating `e` (parsed from `text`) gives, as text to compare.
    fn outcome(text: &str, e: &Expression) -> String {
        let src = SourceFile::new("t", text.to_string());
        let mut var = Attrs::new();
        var.insert("x".into(), Value::int(70));
        var.insert("s".into(), Value::String("a\"b".into()));
        let mut root = Attrs::new();
        root.insert("var".into(), Value::Object(var));
        let env = FnEnv::new(std::env::temp_dir());
        match Evaluator::new(&src, &root, &env).eval(e) {
            Ok(v) => show(&v),
            Err(d) => format!("{} | {:?} | {:?}", d.summary, d.detail, d.span),
        }
    }

    /// The same as hcl-edit alone, when hcl-edit alone can parse `text`.
    fn same_as_plain(text: &str) -> Result<(), TestCaseError> {
        let Ok(plain) = plain_expr(text) else {
            return Ok(());
        };
        let cuts = check::expr_cuts_every(text.as_bytes(), 2, 2)
            .map_err(|e| TestCaseError::fail(format!("checker refused {text:?}: {}", e.summary)))?;
        let cut = Pieces::new(text, cuts.clone(), &plain_expr)
            .whole(|t, p| {
                let mut e = plain_expr(t)?;
                p.visit_expr_mut(&mut e);
                Ok(e)
            })
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(
            outcome(text, &plain),
            outcome(text, &cut),
            "{:?} cut at {:?}",
            text,
            cuts
        );
        Ok(())
    }

    fn leaf() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u8..9).prop_map(|n| n.to_string()),
            Just("var.x".to_string()),
            Just("var.s".to_string()),
            Just("true".to_string()),
            Just("null".to_string()),
            Just("\"q\\n\"".to_string()),
            Just("var.nope".to_string()),
        ]
    }

    fn expr() -> impl Strategy<Value = String> {
        leaf().prop_recursive(40, 400, 3, |inner| {
            let op = prop_oneof![
                Just("+"),
                Just("-"),
                Just("*"),
                Just("%"),
                Just("=="),
                Just("!="),
                Just("<"),
                Just(">="),
                Just("&&"),
                Just("||"),
            ];
            prop_oneof![
                inner.clone().prop_map(|e| format!("({e})")),
                inner.clone().prop_map(|e| format!("-{e}")),
                inner.clone().prop_map(|e| format!("!{e}")),
                (inner.clone(), op, inner.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
                (inner.clone(), inner.clone(), inner.clone())
                    .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("[{a},\n {b}]")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{k = {a}, \"q\" = {b}}}")),
                inner.clone().prop_map(|a| format!("{{k = {a}}}.k")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("max({a}, {b})")),
                inner.clone().prop_map(|a| format!("[for v in [{a}, 2]: v][0]")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("\"<${{{a}}}\\t%{{ if {b} }}y\\\"%{{ else ~}} n %{{~ endif }}>\"")),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| format!("\"%{{ for i, v in [{a}] }}${{i}}=${{v}} %{{ if {b} ~}} t %{{ endif }}%{{ endfor ~}} .\"")),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        #[test]
        fn put_back_pieces_mean_what_the_whole_meant(e in expr()) {
            same_as_plain(&e)?;
        }
    }

    /// Shapes the generator rarely reaches deep enough to be cut: a chain
    /// of each precedence, nested directives with every strip marker, a
    /// heredoc's directives, a deep object key, a unary chain.
    #[test]
    fn known_shapes_mean_the_same_cut() {
        let deep = |open: &str, close: &str, n: usize, mid: &str| {
            format!("{}{mid}{}", open.repeat(n), close.repeat(n))
        };
        let cases = [
            ["1"; 100].join(" + "),
            ["2"; 100].join(" * ") + " - 3 * 4 + 5",
            ["true"; 100].join(" || ") + " && false",
            (0..40)
                .map(|i| format!("var.x == {i} ? \"r{i}\""))
                .collect::<Vec<_>>()
                .join(" : ")
                + " : null",
            deep("(", ")", 50, "var.x"),
            deep("[", "]", 50, "1"),
            deep("{a = ", "}", 50, "1"),
            deep("max(1, ", ")", 50, "2"),
            deep("-", "", 50, "3"),
            deep("!", "", 51, "true"),
            format!(
                "\"{}\"",
                deep("%{ if var.x > 1 ~} x \\\" ", "%{~ endif }", 40, "${var.s}")
            ),
            format!(
                "\"{}\"",
                deep(" %{~ for v in [1] } ${v}\\n", " %{ endfor ~} ", 30, "|")
            ),
            format!(
                "\"{}\"",
                deep("%{ for v in [1, 2] }${v}", "%{ endfor }", 18, "|")
            ),
            format!(
                "(<<EOT\n{}\nEOT\n)",
                deep("%{ if true ~}\n  a\n", "%{ endif }\n", 40, "b")
            ),
            format!("\"{}\"", deep("${\"", "\"}", 40, "z")),
            format!(
                "(<<-EOT\n{}\n  EOT\n)",
                deep("  %{ if true ~}\n    a\n", "  %{ endif }\n", 40, "   b")
            ),
        ];
        for c in cases {
            same_as_plain(&c).unwrap();
        }
    }
}
