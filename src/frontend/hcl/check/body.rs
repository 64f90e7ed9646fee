//! Bodies: attributes, blocks and their labels, one-line blocks.

use super::*;

impl Parser<'_> {
    /// A body up to `end`; `open` is the token that opened it.
    pub(super) fn body(&mut self, end: Tok, open: Option<Token>) -> R {
        // Attribute names seen in this body: a short list, a set when long.
        let mut few: Vec<&[u8]> = Vec::new();
        let mut many: HashSet<&[u8]> = HashSet::new();
        loop {
            let next = self.peek();
            if next.kind == end {
                self.read();
                return Ok(());
            }
            match next.kind {
                Tok::Newline => {
                    self.read();
                }
                Tok::Ident => {
                    if let Some(name) = self.body_item()? {
                        let n = self.text(&name);
                        let dup = if few.len() < 16 {
                            let d = few.contains(&n);
                            few.push(n);
                            d
                        } else {
                            if many.is_empty() {
                                many.extend(few.iter().copied());
                            }
                            !many.insert(n)
                        };
                        if dup {
                            let n = String::from_utf8_lossy(self.text(&name)).into_owned();
                            return err("Attribute redefined", format!("The argument {n:?} was already set. Each argument may be set only once."), &name);
                        }
                    }
                }
                _ => {
                    let bad = self.read();
                    return match bad.kind {
                        Tok::OQuote => err(
                            "Invalid argument name",
                            "Argument names must not be quoted.",
                            &bad,
                        ),
                        Tok::Eof => {
                            let at = open.unwrap_or(Token {
                                kind: Tok::Eof,
                                start: 0,
                                end: 0,
                            });
                            if end == Tok::CBrace {
                                err(
                                    "Unclosed configuration block",
                                    "There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.",
                                    &at,
                                )
                            } else {
                                err(
                                    "Unclosed configuration body",
                                    "Found end of file before the end of this configuration body.",
                                    &at,
                                )
                            }
                        }
                        _ => err(
                            "Argument or block definition required",
                            "An argument or block definition is required here.",
                            &bad,
                        ),
                    };
                }
            }
        }
    }

    /// An attribute (returns its name token) or a block (returns `None`).
    pub(super) fn body_item(&mut self) -> R<Option<Token>> {
        let ident = self.read();
        let next = self.peek();
        match next.kind {
            Tok::Equal => {
                self.attribute(false)?;
                Ok(Some(ident))
            }
            Tok::OQuote | Tok::OBrace | Tok::Ident => {
                self.block(ident)?;
                Ok(None)
            }
            _ => {
                err("Argument or block definition required", "An argument or block definition is required here. To set an argument, use the equals sign \"=\" to introduce the argument value.", &ident)
            }
        }
    }

    pub(super) fn attribute(&mut self, single_line: bool) -> R {
        self.read(); // =
        self.expression()?;
        if !single_line {
            let end = self.peek();
            match end.kind {
                Tok::Newline | Tok::Eof => {
                    self.read();
                }
                Tok::Comma => return err("Unexpected comma after argument", "Argument definitions must be separated by newlines, not commas. An argument definition must end with a newline.", &end),
                _ => return err("Missing newline after argument", "An argument definition must end with a newline.", &end),
            }
        }
        Ok(())
    }

    pub(super) fn block(&mut self, ident: Token) -> R {
        if self.depth >= MAX_DEPTH {
            return err(
                "Blocks too deeply nested",
                format!("Blocks may nest at most {MAX_DEPTH} levels deep."),
                &ident,
            );
        }
        self.depth += 1;
        let r = self.block_inner();
        self.depth -= 1;
        r
    }

    pub(super) fn block_inner(&mut self) -> R {
        let obrace = loop {
            let t = self.peek();
            match t.kind {
                Tok::OBrace => break self.read(),
                Tok::OQuote => self.quoted_string_literal()?,
                Tok::Ident => {
                    self.read();
                }
                Tok::Equal => return err("Invalid block definition", "The equals sign \"=\" indicates an argument definition, and must not be used when defining a block.", &t),
                Tok::Newline => return err("Invalid block definition", "A block definition must have block content delimited by \"{\" and \"}\", starting on the same line as the block header.", &t),
                _ => return err("Invalid block definition", "Either a quoted string block label or an opening brace (\"{\") is expected here.", &t),
            }
        };
        match self.peek().kind {
            Tok::Newline | Tok::Eof | Tok::CBrace => self.body(Tok::CBrace, Some(obrace))?,
            _ => {
                // A single-line block: one attribute. hclsyntax lists the
                // block's own errors before its body's, so a failed body
                // is only reported when the block itself is fine.
                if let Err(body_err) = self.single_attr_body() {
                    self.recover_after_body_item();
                    let t = self.peek();
                    return match t.kind {
                        Tok::Comma => err("Invalid single-argument block definition", "Single-line block syntax can include only one argument definition. To define multiple arguments, use the multi-line block syntax with one argument definition per line.", &t),
                        Tok::Newline => err("Invalid single-argument block definition", "An argument definition on the same line as its containing block creates a single-line block definition, which must also be closed on the same line. Place the block's closing brace immediately after the argument definition.", &t),
                        _ => Err(body_err),
                    };
                }
                let t = self.peek();
                match t.kind {
                    Tok::CBrace => {
                        self.read();
                    }
                    Tok::Comma => return err("Invalid single-argument block definition", "Single-line block syntax can include only one argument definition. To define multiple arguments, use the multi-line block syntax with one argument definition per line.", &t),
                    Tok::Newline => return err("Invalid single-argument block definition", "An argument definition on the same line as its containing block creates a single-line block definition, which must also be closed on the same line. Place the block's closing brace immediately after the argument definition.", &t),
                    Tok::Eof => return err("Unclosed configuration block", "There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.", &obrace),
                    _ => return err("Invalid single-argument block definition", "A single-line block definition must end with a closing brace immediately after its single argument definition.", &t),
                }
            }
        }
        let eol = self.peek();
        match eol.kind {
            Tok::Newline | Tok::Eof => {
                self.read();
                Ok(())
            }
            _ => err(
                "Missing newline after block definition",
                "A block definition must end with a newline.",
                &eol,
            ),
        }
    }

    pub(super) fn single_attr_body(&mut self) -> R {
        let ident = self.read();
        if ident.kind != Tok::Ident {
            return err(
                "Argument or block definition required",
                "An argument or block definition is required here.",
                &ident,
            );
        }
        let next = self.peek();
        match next.kind {
            Tok::Equal => self.attribute(true),
            Tok::OQuote | Tok::OBrace | Tok::Ident => {
                let n = String::from_utf8_lossy(self.text(&ident)).into_owned();
                Err(SyntaxError {
                    summary: "Argument definition required".into(),
                    detail: format!("A single-line block definition can contain only a single argument. If you meant to define argument {n:?}, use an equals sign to assign it a value. To define a nested block, place it on a line of its own within its parent block."),
                    start: ident.start(),
                    end: next.end(),
                })
            }
            _ => {
                err("Argument or block definition required", "An argument or block definition is required here. To set an argument, use the equals sign \"=\" to introduce the argument value.", &ident)
            }
        }
    }

    pub(super) fn quoted_string_literal(&mut self) -> R {
        let open = self.read();
        if open.kind != Tok::OQuote {
            return err(
                "Invalid string literal",
                "A quoted string is required here.",
                &open,
            );
        }
        loop {
            let t = self.read();
            match t.kind {
                Tok::CQuote => return Ok(()),
                Tok::QuotedLit => self.string_literal(&t)?,
                Tok::TemplateControl | Tok::TemplateInterp => {
                    let which = if t.kind == Tok::TemplateControl {
                        "%"
                    } else {
                        "$"
                    };
                    return err(
                        "Invalid string literal",
                        format!("Template sequences are not allowed in this string. To include a literal {which:?}, double it (as \"{which}{which}\") to escape it."),
                        &t,
                    );
                }
                Tok::Eof => {
                    return err(
                        "Unterminated string literal",
                        "Unable to find the closing quote mark before the end of the file.",
                        &t,
                    )
                }
                _ => {
                    return err(
                        "Invalid string literal",
                        "This item is not valid in a string literal.",
                        &t,
                    )
                }
            }
        }
    }

    /// Escape sequences of a quoted literal (`ParseStringLiteralToken`).
    pub(super) fn string_literal(&self, t: &Token) -> R {
        let b = self.text(t);
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                i += 1;
                continue;
            }
            // Errors point at the escape sequence itself.
            let esc = |len: usize| Token {
                kind: t.kind,
                start: (t.start() + i) as u32,
                end: (t.start() + i + len).min(t.end()) as u32,
            };
            let Some(&sel) = b.get(i + 1) else {
                return err(
                    "Invalid escape sequence",
                    "Backslash must be followed by an escape sequence selector character.",
                    &esc(1),
                );
            };
            match sel {
                b'n' | b'r' | b't' | b'"' | b'\\' => i += 2,
                b'u' | b'U' => {
                    let want = if sel == b'u' { 4 } else { 8 };
                    let digits = b[i + 2..]
                        .iter()
                        .take(want)
                        .take_while(|c| c.is_ascii_hexdigit())
                        .count();
                    if digits != want {
                        let d = if sel == b'u' {
                            "The \\u escape sequence must be followed by four hexadecimal digits."
                        } else {
                            "The \\U escape sequence must be followed by eight hexadecimal digits."
                        };
                        return err("Invalid escape sequence", d, &esc(2 + digits));
                    }
                    let hex = std::str::from_utf8(&b[i + 2..i + 2 + want]).unwrap_or("0");
                    let n = u32::from_str_radix(hex, 16).unwrap_or(0);
                    if char::from_u32(n).is_none() {
                        return err(
                            "Invalid escape sequence",
                            format!("Cannot encode character U+{n:04x} in UTF-8."),
                            &esc(2 + want),
                        );
                    }
                    i += 2 + want;
                }
                _ => {
                    let c = std::str::from_utf8(&b[i + 1..])
                        .ok()
                        .and_then(|s| s.chars().next())
                        .map(String::from)
                        .unwrap_or_default();
                    return err(
                        "Invalid escape sequence",
                        format!("The symbol {c:?} is not a valid escape sequence selector."),
                        &esc(1 + c.len().max(1)),
                    );
                }
            }
        }
        Ok(())
    }
}
