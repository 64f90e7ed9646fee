//! Templates: literal text, interpolations and `%{ }` directives, each `if`
//! closed by its `endif` and each `for` by its `endfor`.

use super::*;

impl Parser<'_> {
    /// A template up to `end` (`parseTemplateParts` + the directive check).
    pub(super) fn template(&mut self, end: Tok, open: Token) -> R {
        let mut parts: Vec<Part> = Vec::new();
        let (depth, since_cut) = (self.depth, self.since_cut);
        // Directives not yet closed.
        let mut opened: Vec<Opened> = Vec::new();
        let heredoc = open.kind == Tok::OHeredoc;
        loop {
            let next = self.read();
            if next.kind == end {
                parts.push(Part::End(next));
                break;
            }
            match next.kind {
                Tok::StringLit | Tok::QuotedLit => {
                    if next.kind == Tok::QuotedLit {
                        self.string_literal(&next)?;
                    }
                    parts.push(Part::Other);
                }
                Tok::TemplateInterp => {
                    self.nl.push(false);
                    self.expression()?;
                    let close = self.peek();
                    if close.kind != Tok::TemplateSeqEnd {
                        return match close.kind {
                            Tok::Eof => err("Unclosed template interpolation sequence", "There is no closing brace for this interpolation sequence before the end of the file. This might be caused by incorrect nesting inside the given expression.", &open_after(&open)),
                            Tok::Colon => err("Extra characters after interpolation expression", "Template interpolation doesn't expect a colon at this location. Did you intend this to be a literal sequence to be processed as part of another language? If so, you can escape it by starting with \"$${\" instead of just \"${\".", &close),
                            Tok::CQuote | Tok::OQuote if end == Tok::CQuote => err("Unclosed template interpolation sequence", "There is no closing brace for this interpolation sequence before the end of the quoted template. This might be caused by incorrect nesting inside the given expression.", &open_after(&open)),
                            _ => err("Extra characters after interpolation expression", "Expected a closing brace to end the interpolation expression, but found extra characters.\n\nThis can happen when you include interpolation syntax for another language, such as shell scripting, but forget to escape the interpolation start token. If this is an embedded sequence for another language, escape it by starting with \"$${\" instead of just \"${\".", &close),
                        };
                    }
                    self.read();
                    self.nl.pop();
                    parts.push(Part::Other);
                }
                Tok::TemplateControl => {
                    self.nl.push(false);
                    let kw = self.peek();
                    if kw.kind != Tok::Ident {
                        return err("Invalid template directive", "A template directive keyword (\"if\", \"for\", etc) is expected at the beginning of a %{ sequence.", &kw);
                    }
                    self.read();
                    let word = self.text(&kw);
                    let seq = Token {
                        kind: Tok::TemplateControl,
                        start: next.start,
                        end: kw.end,
                    };
                    let part = match word {
                        b"if" => {
                            self.expression()?;
                            Part::If(seq)
                        }
                        b"else" => Part::Else(seq),
                        b"endif" => Part::EndIf(seq),
                        b"endfor" => Part::EndFor(seq),
                        b"for" => {
                            self.for_intro(&FOR_DIRECTIVE)?;
                            Part::For(seq)
                        }
                        other => {
                            let given = String::from_utf8_lossy(other).into_owned();
                            let suggestion = ["if", "for", "else", "endif", "endfor"]
                                .iter()
                                .find(|s| strsim::levenshtein(s, &given) < 3)
                                .map(|s| format!(" Did you mean {s:?}?"))
                                .unwrap_or_default();
                            return err("Invalid template control keyword", format!("{given:?} is not a valid template control keyword.{suggestion}"), &kw);
                        }
                    };
                    let close = self.peek();
                    if close.kind != Tok::TemplateSeqEnd {
                        let w = String::from_utf8_lossy(word).into_owned();
                        return err(format!("Extra characters in {w} marker"), "Expected a closing brace to end the sequence, but found extra characters.", &close);
                    }
                    self.read();
                    self.nl.pop();
                    match part {
                        Part::If(_) | Part::For(_) => {
                            if self.depth >= MAX_DEPTH {
                                return err(
                                    "Template too deeply nested",
                                    format!("Template directives may nest at most {MAX_DEPTH} levels deep."),
                                    &seq,
                                );
                            }
                            let cutting = self.recording && self.since_cut + 1 >= self.cut_every.0;
                            opened.push(Opened {
                                start: next.start(),
                                strip_before: next.end() - next.start() == 3,
                                since_cut: self.since_cut,
                                cutting,
                            });
                            self.depth += 1;
                            self.since_cut = if cutting { 0 } else { self.since_cut + 1 };
                        }
                        Part::EndIf(_) | Part::EndFor(_) => {
                            if let Some(o) = opened.pop() {
                                self.depth -= 1;
                                self.since_cut = o.since_cut;
                                if o.cutting {
                                    let kind = CutKind::Directive {
                                        heredoc,
                                        strip_before: o.strip_before,
                                        strip_after: self.text(&close).starts_with(b"~"),
                                    };
                                    self.push_cut(o.start, close.end(), kind);
                                }
                            }
                        }
                        _ => {}
                    }
                    parts.push(part);
                }
                _ => {
                    return err(
                        "Unterminated template string",
                        "No closing marker was found for the string.",
                        &next,
                    )
                }
            }
        }
        self.depth = depth;
        self.since_cut = since_cut;
        directives(&parts)
    }
}

/// A directive not yet closed, while a template is read.
struct Opened {
    /// Where its `%{` is.
    start: usize,
    strip_before: bool,
    /// The levels since the last cut outside it.
    since_cut: usize,
    /// Whether it is cut off at its end.
    cutting: bool,
}

/// The range hclsyntax reports for an unclosed interpolation: the start of
/// the template's content.
fn open_after(open: &Token) -> Token {
    Token {
        kind: open.kind,
        start: open.end,
        end: open.end,
    }
}

/// `templateParser`: every `if` has its `endif`, every `for` its `endfor`.
fn directives(parts: &[Part]) -> R {
    let mut i = 0;
    while !matches!(parts.get(i), Some(Part::End(_)) | None) {
        directive_expr(parts, &mut i)?;
    }
    Ok(())
}

fn name(p: &Part) -> &'static str {
    match p {
        Part::Else(_) => "else",
        Part::EndIf(_) => "endif",
        Part::EndFor(_) => "endfor",
        _ => "end",
    }
}

fn range(p: &Part) -> Token {
    match *p {
        Part::If(t)
        | Part::For(t)
        | Part::Else(t)
        | Part::EndIf(t)
        | Part::EndFor(t)
        | Part::End(t) => t,
        Part::Other => Token {
            kind: Tok::Eof,
            start: 0,
            end: 0,
        },
    }
}

fn directive_expr(parts: &[Part], i: &mut usize) -> R {
    let p = parts[*i];
    match p {
        Part::Other => {
            *i += 1;
            Ok(())
        }
        Part::If(_) => {
            *i += 1;
            let mut in_else = false;
            loop {
                let next = parts[*i];
                match next {
                    Part::End(t) => {
                        return err(
                            "Unexpected end of template",
                            "The if directive is missing its corresponding endif directive.",
                            &t,
                        )
                    }
                    Part::Else(t) => {
                        if in_else {
                            return err(
                                "Unexpected else directive",
                                "Already in the else clause for the if.",
                                &t,
                            );
                        }
                        in_else = true;
                        *i += 1;
                    }
                    Part::EndIf(_) => {
                        *i += 1;
                        return Ok(());
                    }
                    Part::EndFor(t) => {
                        return err(
                            format!("Unexpected {} directive", name(&next)),
                            "Expecting an endif directive for the if.",
                            &t,
                        )
                    }
                    _ => directive_expr(parts, i)?,
                }
            }
        }
        Part::For(_) => {
            *i += 1;
            loop {
                let next = parts[*i];
                match next {
                    Part::End(t) => {
                        return err(
                            "Unexpected end of template",
                            "The for directive is missing its corresponding endfor directive.",
                            &t,
                        )
                    }
                    Part::Else(t) => {
                        return err(
                            "Unexpected else directive",
                            "An else clause is not expected for a for directive.",
                            &t,
                        )
                    }
                    Part::EndFor(_) => {
                        *i += 1;
                        return Ok(());
                    }
                    Part::EndIf(t) => {
                        return err(
                            format!("Unexpected {} directive", name(&next)),
                            "Expecting an endfor directive corresponding to the for directive.",
                            &t,
                        )
                    }
                    _ => directive_expr(parts, i)?,
                }
            }
        }
        Part::End(t) => err(
            "Unexpected end of template",
            "The control directives within this template are unbalanced.",
            &t,
        ),
        Part::Else(_) | Part::EndIf(_) | Part::EndFor(_) => err(
            format!("Unexpected {} directive", name(&p)),
            "The control directives within this template are unbalanced.",
            &range(&p),
        ),
    }
}
