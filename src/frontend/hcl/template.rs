//! Strip markers (`~`) and flush heredocs (`<<-EOT`), applied as
//! HashiCorp's HCL applies them: token by token, before evaluation.
//!
//! HCL reads the literal text of a heredoc or a template file one line at a
//! time (a quoted string is one piece between `${…}`/`%{…}` sequences), and
//! a `~` trims only the piece beside it: `%{ if c ~}` followed by blank lines
//! eats the first line end only. A flush heredoc then finds the line with
//! the fewest leading spaces, counting each line as it stands after the
//! trimming (a line that starts with `${…}` or `%{…}` has none, so nothing
//! is taken; a line of only spaces does not count and keeps its spaces;
//! the lines inside `%{ for }` and `%{ if }` are lines like any other), and
//! takes that many off every line that counted. hcl-edit trims only the
//! template's top level and counts blank lines, so a flush heredoc is
//! trimmed again here from the source text of each literal.

use hcl_edit::template::{Directive, Element, Template};
use hcl_edit::Span;
use std::borrow::Cow;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Quoted,
    /// `<<EOT` or, with `flush`, `<<-EOT`.
    Heredoc {
        flush: bool,
    },
    /// A `templatefile` file.
    File,
}

enum Tok {
    /// A piece of the literal with this ordinal.
    Lit(usize, String),
    /// `${…}` or a directive's `%{…}`: whether it trims the piece before and after it.
    Mark(bool, bool),
}

/// `t` with its strip markers applied (and, for a flush heredoc in `src`,
/// its indentation taken off); evaluate it without stripping again. A
/// template with neither (most: `"ami-${var.x}"`) is `t` itself.
pub fn normalize<'t>(src: &str, t: &'t Template, kind: Kind) -> Cow<'t, Template> {
    let plain = |el: &Element| match el {
        Element::Literal(_) => true,
        Element::Interpolation(i) => !i.strip.strip_start() && !i.strip.strip_end(),
        Element::Directive(_) => false,
    };
    if kind != (Kind::Heredoc { flush: true }) && t.iter().all(plain) {
        return Cow::Borrowed(t);
    }
    let mut toks = Vec::new();
    let mut ord = 0;
    flatten(src, t, kind, 0, &mut ord, &mut toks);
    strip(&mut toks);
    if kind == (Kind::Heredoc { flush: true }) {
        flush(&mut toks);
    }
    let mut values = vec![String::new(); ord];
    for tok in toks {
        if let Tok::Lit(i, s) = tok {
            values[i].push_str(&s);
        }
    }
    let mut out = t.clone();
    let mut ord = 0;
    assign(&mut out, &mut values, &mut ord);
    Cow::Owned(out)
}

/// `depth`: how many directives `t` is inside.
fn flatten(
    src: &str,
    t: &Template,
    kind: Kind,
    depth: usize,
    ord: &mut usize,
    toks: &mut Vec<Tok>,
) {
    for el in t.iter() {
        match el {
            Element::Literal(l) => {
                let text = match kind {
                    // hcl-edit has taken spaces off some lines: as written.
                    Kind::Heredoc { flush: true } => match l.span().and_then(|r| src.get(r)) {
                        Some(raw) => raw.replace("$${", "${").replace("%%{", "%{"),
                        None => l.value().clone(),
                    },
                    // hcl-edit reads a directive's body in a quoted string
                    // without the string's escapes.
                    Kind::Quoted if depth > 0 => unescape(l.value()),
                    _ => l.value().clone(),
                };
                if kind == Kind::Quoted {
                    toks.push(Tok::Lit(*ord, text));
                } else {
                    toks.extend(
                        text.split_inclusive('\n')
                            .map(|line| Tok::Lit(*ord, line.to_string())),
                    );
                }
                *ord += 1;
            }
            Element::Interpolation(i) => {
                toks.push(Tok::Mark(i.strip.strip_start(), i.strip.strip_end()))
            }
            Element::Directive(d) => match &**d {
                Directive::For(fd) => {
                    toks.push(Tok::Mark(
                        fd.for_expr.strip.strip_start(),
                        fd.for_expr.strip.strip_end(),
                    ));
                    flatten(src, &fd.for_expr.template, kind, depth + 1, ord, toks);
                    toks.push(Tok::Mark(
                        fd.endfor_expr.strip.strip_start(),
                        fd.endfor_expr.strip.strip_end(),
                    ));
                }
                Directive::If(ifd) => {
                    toks.push(Tok::Mark(
                        ifd.if_expr.strip.strip_start(),
                        ifd.if_expr.strip.strip_end(),
                    ));
                    flatten(src, &ifd.if_expr.template, kind, depth + 1, ord, toks);
                    if let Some(e) = &ifd.else_expr {
                        toks.push(Tok::Mark(e.strip.strip_start(), e.strip.strip_end()));
                        flatten(src, &e.template, kind, depth + 1, ord, toks);
                    }
                    toks.push(Tok::Mark(
                        ifd.endif_expr.strip.strip_start(),
                        ifd.endif_expr.strip.strip_end(),
                    ));
                }
            },
        }
    }
}

/// A quoted string's escapes: `\n`, `\r`, `\t`, `\"`, `\\`, `\uNNNN`,
/// `\UNNNNNNNN` (anything else is kept as written).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (text, used) = match after.chars().next() {
            Some('n') => ("\n".to_string(), 1),
            Some('r') => ("\r".to_string(), 1),
            Some('t') => ("\t".to_string(), 1),
            Some('"') => ("\"".to_string(), 1),
            Some('\\') => ("\\".to_string(), 1),
            Some(c @ ('u' | 'U')) => {
                let n = if c == 'u' { 4 } else { 8 };
                match after
                    .get(1..1 + n)
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                {
                    Some(ch) => (ch.to_string(), 1 + n),
                    None => ("\\".to_string(), 0),
                }
            }
            _ => ("\\".to_string(), 0),
        };
        out.push_str(&text);
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

fn strip(toks: &mut [Tok]) {
    for i in 0..toks.len() {
        let Tok::Mark(before, after) = toks[i] else {
            continue;
        };
        if before && i > 0 {
            if let Tok::Lit(_, s) = &mut toks[i - 1] {
                s.truncate(s.trim_end().len());
            }
        }
        if after {
            if let Some(Tok::Lit(_, s)) = toks.get_mut(i + 1) {
                *s = s.trim_start().to_string();
            }
        }
    }
}

/// Whether a piece at a line's start counts: a line of only spaces does not.
fn counts(line: &str) -> bool {
    !(line.trim_start().is_empty() && line.ends_with('\n'))
}

fn flush(toks: &mut [Tok]) {
    let mut least = usize::MAX;
    let mut at_line_start = true;
    for tok in toks.iter() {
        match tok {
            Tok::Lit(_, s) => {
                if at_line_start && counts(s) {
                    least = least.min(s.chars().count() - s.trim_start().chars().count());
                }
                at_line_start = s.ends_with('\n');
            }
            Tok::Mark(..) => {
                if at_line_start {
                    least = 0;
                }
                at_line_start = false;
            }
        }
    }
    if least == 0 || least == usize::MAX {
        return;
    }
    let mut at_line_start = true;
    for tok in toks.iter_mut() {
        match tok {
            Tok::Lit(_, s) => {
                let next = s.ends_with('\n');
                if at_line_start && counts(s) {
                    *s = s.chars().skip(least).collect();
                }
                at_line_start = next;
            }
            Tok::Mark(..) => at_line_start = false,
        }
    }
}

fn assign(t: &mut Template, values: &mut [String], ord: &mut usize) {
    for i in 0..t.len() {
        let Some(el) = t.get_mut(i) else { continue };
        match el {
            Element::Literal(l) => {
                if let Some(v) = values.get_mut(*ord) {
                    *l.value_mut() = std::mem::take(v);
                }
                *ord += 1;
            }
            Element::Interpolation(_) => {}
            Element::Directive(d) => match &mut **d {
                Directive::For(fd) => assign(&mut fd.for_expr.template, values, ord),
                Directive::If(ifd) => {
                    assign(&mut ifd.if_expr.template, values, ord);
                    if let Some(e) = &mut ifd.else_expr {
                        assign(&mut e.template, values, ord);
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(lits: &[&str]) -> Vec<Tok> {
        lits.iter()
            .map(|l| {
                if *l == "$" {
                    Tok::Mark(false, false)
                } else {
                    Tok::Lit(0, l.to_string())
                }
            })
            .collect()
    }
    fn text(toks: &[Tok]) -> String {
        toks.iter()
            .map(|t| {
                if let Tok::Lit(_, s) = t {
                    s.as_str()
                } else {
                    "$"
                }
            })
            .collect()
    }

    #[test]
    fn flush_counts_lines_as_written_and_skips_blank_ones() {
        let mut t = tokens(&["    a\n", "  \n", "      b\n"]);
        flush(&mut t);
        assert_eq!(text(&t), "a\n  \n  b\n");
        // A line that starts with a sequence has no spaces: nothing goes.
        let mut t = tokens(&["    a\n", "$", "\n"]);
        flush(&mut t);
        assert_eq!(text(&t), "    a\n$\n");
        // Spaces before a sequence count.
        let mut t = tokens(&["    a\n", "    ", "$", "\n"]);
        flush(&mut t);
        assert_eq!(text(&t), "a\n$\n");
    }

    #[test]
    fn quoted_escapes() {
        assert_eq!(
            unescape(r#"a\nb\t\"q\"\\ \u00e9\U0001F600 \x"#),
            "a\nb\t\"q\"\\ é😀 \\x"
        );
    }

    #[test]
    fn a_strip_marker_trims_only_the_piece_beside_it() {
        let mut t = vec![
            Tok::Lit(0, "x  \n".into()),
            Tok::Mark(true, true),
            Tok::Lit(1, "\n".into()),
            Tok::Lit(1, "\n".into()),
        ];
        strip(&mut t);
        assert_eq!(text(&t), "x$\n");
    }
}
