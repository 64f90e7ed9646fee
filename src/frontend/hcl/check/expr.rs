//! Expressions: operators, terms, traversals, calls, tuples, objects and
//! `for` expressions.

use super::*;

impl Parser<'_> {
    pub(super) fn expression(&mut self) -> R {
        self.nested(true, Self::expression_inner)
    }

    /// An expression that may not be cut: an object key, where a bare
    /// name is a string and a parenthesized one is not.
    fn key_expression(&mut self) -> R {
        self.nested(false, Self::expression_inner)
    }

    fn expression_inner(&mut self) -> R {
        self.binary_ops(0)?;
        if self.peek().kind != Tok::Question {
            return Ok(());
        }
        self.read();
        self.expression()?;
        let colon = self.peek();
        if colon.kind != Tok::Colon {
            return err("Missing false expression in conditional", "The conditional operator (...?...:...) requires a false expression, delimited by a colon.", &colon);
        }
        self.read();
        self.expression()
    }

    pub(super) fn binary_ops(&mut self, level: usize) -> R {
        const LEVELS: [&[Tok]; 6] = [
            &[Tok::Or],
            &[Tok::And],
            &[Tok::EqualOp, Tok::NotEqual],
            &[
                Tok::GreaterThan,
                Tok::GreaterThanEq,
                Tok::LessThan,
                Tok::LessThanEq,
            ],
            &[Tok::Plus, Tok::Minus],
            &[Tok::Star, Tok::Slash, Tok::Percent],
        ];
        if level == LEVELS.len() {
            return self.with_traversals();
        }
        let start = self.peek().start();
        self.binary_ops(level + 1)?;
        let mut ops = 0;
        while LEVELS[level].contains(&self.peek().kind) {
            let op = self.read();
            self.binary_ops(level + 1)?;
            ops += 1;
            // Each operator is one level of the tree on its left (and the
            // operands' own chains add up, as in hcl-edit's count), which
            // everything after the parser walks recursively.
            if self.op_path + ops > MAX_OPERATORS {
                return err(
                    "Expression too long",
                    format!("An expression may chain at most {MAX_OPERATORS} binary operators (counted along any path through it)."),
                    &op,
                );
            }
            // A chain's first operands are a whole left subtree.
            if self.recording && ops % self.cut_every.1 == 0 && self.last_end >= start + MIN_CUT {
                self.push_cut(start, self.last_end, CutKind::Expr);
            }
        }
        self.op_path += ops;
        Ok(())
    }

    pub(super) fn with_traversals(&mut self) -> R {
        self.term()?;
        self.traversals()
    }

    pub(super) fn legacy_index(&self, t: &Token, splat: bool) -> R {
        let b = self.text(t);
        if let Some(dot) = b.iter().position(|&c| c == b'.') {
            let (first, second) = (
                String::from_utf8_lossy(&b[..dot]),
                String::from_utf8_lossy(&b[dot + 1..]),
            );
            let d = if splat {
                format!("When using the legacy index syntax, chaining two indexes together is not permitted. Use the proper index syntax with a full splat expression [*] instead, like [{first}][{second}].")
            } else {
                format!("When using the legacy index syntax, chaining two indexes together is not permitted. Use the proper index syntax instead, like [{first}][{second}].")
            };
            return err("Invalid legacy index syntax", d, t);
        }
        self.number(t)
    }

    pub(super) fn number(&self, t: &Token) -> R {
        let b = self.text(t);
        let digits = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let mut i = digits(0);
        let mut ok = i > 0;
        if ok && b.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            ok = n > 0;
            i += 1 + n;
        }
        if ok && matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let n = digits(i);
            ok = n > 0;
            i += n;
        }
        if ok && i == b.len() {
            Ok(())
        } else {
            err(
                "Invalid number literal",
                "Failed to recognize the value of this number literal.",
                t,
            )
        }
    }

    pub(super) fn traversals(&mut self) -> R {
        loop {
            let next = self.peek();
            match next.kind {
                Tok::Dot => {
                    self.read();
                    let attr = self.peek();
                    match attr.kind {
                        Tok::Ident => {
                            self.read();
                        }
                        Tok::NumberLit => {
                            self.read();
                            self.legacy_index(&attr, false)?;
                        }
                        Tok::Star => {
                            self.read();
                            while self.peek().kind == Tok::Dot {
                                self.read();
                                let t = self.peek();
                                match t.kind {
                                    Tok::NumberLit => {
                                        self.read();
                                        if self.text(&t).contains(&b'.') {
                                            return self.legacy_index(&t, true).and_then(|_| err("", "", &attr)).map_err(|mut e| {
                                                // hclsyntax reports this one at the star.
                                                e.start = attr.start();
                                                e.end = attr.end();
                                                e
                                            });
                                        }
                                        self.number(&t)?;
                                    }
                                    Tok::Ident => {
                                        self.read();
                                    }
                                    Tok::Star => return err("Nested splat expression not allowed", "A splat expression (*) cannot be used inside another attribute-only splat expression.", &t),
                                    _ => return err("Invalid attribute name", "An attribute name is required after a dot.", &attr),
                                }
                            }
                        }
                        _ => {
                            return err(
                                "Invalid attribute name",
                                "An attribute name is required after a dot.",
                                &attr,
                            )
                        }
                    }
                }
                Tok::OBrack => {
                    self.read();
                    if self.peek().kind == Tok::Star {
                        self.read();
                        let close = self.read();
                        if close.kind != Tok::CBrack {
                            // hclsyntax reports where its recovery stops (its
                            // subject aliases the recovered token).
                            let at = self.recover(Tok::CBrack);
                            return err("Missing close bracket on splat index", "The star for a full splat operator must be immediately followed by a closing bracket (\"]\").", &at);
                        }
                        self.traversals()?;
                    } else {
                        self.nl.push(false);
                        self.expression()?;
                        let close = self.read();
                        if close.kind != Tok::CBrack {
                            let at = self.recover(Tok::CBrack);
                            return err(
                                "Missing close bracket on index",
                                "The index operator must end with a closing bracket (\"]\").",
                                &at,
                            );
                        }
                        self.nl.pop();
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    pub(super) fn term(&mut self) -> R {
        let start = self.peek();
        self.term_inner(start)
    }

    pub(super) fn term_inner(&mut self, start: Token) -> R {
        match start.kind {
            Tok::OParen => {
                self.read();
                self.nl.push(false);
                self.expression()?;
                let close = self.peek();
                if close.kind != Tok::CParen {
                    return err(
                        "Unbalanced parentheses",
                        "Expected a closing parenthesis to terminate the expression.",
                        &close,
                    );
                }
                self.read();
                self.nl.pop();
                Ok(())
            }
            Tok::NumberLit => {
                self.read();
                self.number(&start)
            }
            Tok::Ident => {
                self.read();
                match self.peek().kind {
                    Tok::OParen => self.function_call(start),
                    Tok::DoubleColon => self.namespaced_call(start),
                    _ => Ok(()),
                }
            }
            Tok::OQuote | Tok::OHeredoc => {
                self.read();
                let end = if start.kind == Tok::OQuote {
                    Tok::CQuote
                } else {
                    Tok::CHeredoc
                };
                self.template(end, start)
            }
            Tok::Minus | Tok::Bang => {
                self.read();
                // An operand is one level deeper (`!!!…x` nests).
                self.nested(true, Self::with_traversals)
            }
            Tok::OBrack => self.tuple(),
            Tok::OBrace => self.object(),
            Tok::Eof => err(
                "Missing expression",
                "Expected the start of an expression, but found the end of the file.",
                &start,
            ),
            _ => err("Invalid expression", UNEXPECTED_EXPR, &start),
        }
    }

    /// `provider::ns::fn(...)` (hcl v2.20+).
    pub(super) fn namespaced_call(&mut self, name: Token) -> R {
        let mut last = name;
        while self.peek().kind == Tok::DoubleColon {
            let dc = self.read();
            let t = self.peek();
            if t.kind != Tok::Ident {
                return err("Missing function name", "Function scope resolution symbol :: must be followed by a function name in this scope.", &dc);
            }
            last = self.read();
        }
        if self.peek().kind != Tok::OParen {
            let t = self.peek();
            return err(
                "Missing arguments",
                "Function name must be followed by an argument list in parentheses.",
                &Token {
                    kind: t.kind,
                    start: last.start,
                    end: t.end.max(last.end),
                },
            );
        }
        self.function_call(name)
    }

    pub(super) fn function_call(&mut self, name: Token) -> R {
        let open = self.read();
        self.nl.push(false);
        loop {
            if self.peek().kind == Tok::CParen {
                self.read();
                break;
            }
            self.expression()?;
            let sep = self.read();
            match sep.kind {
                Tok::CParen => break,
                Tok::Ellipsis => {
                    if self.peek().kind != Tok::CParen {
                        return err("Missing closing parenthesis", "An expanded function argument (with ...) must be immediately followed by closing parentheses.", &sep);
                    }
                    self.read();
                    break;
                }
                Tok::Comma => {
                    if self.peek().kind == Tok::CParen {
                        self.read();
                        break;
                    }
                }
                Tok::Eof => {
                    return Err(SyntaxError {
                        summary: "Unterminated function call".into(),
                        detail: "There is no closing parenthesis for this function call before the end of the file. This may be caused by incorrect parethesis nesting elsewhere in this file.".into(),
                        start: name.start(),
                        end: open.end(),
                    })
                }
                _ => return err("Missing argument separator", "A comma is required to separate each function argument from the next.", &sep),
            }
        }
        self.nl.pop();
        Ok(())
    }

    pub(super) fn tuple(&mut self) -> R {
        let open = self.read();
        self.nl.push(false);
        if self.is_kw(&self.peek(), "for") {
            self.for_expr(open)?;
            self.nl.pop();
            return Ok(());
        }
        loop {
            if self.peek().kind == Tok::CBrack {
                self.read();
                break;
            }
            self.expression()?;
            let next = self.peek();
            match next.kind {
                Tok::CBrack => {
                    self.read();
                    break;
                }
                Tok::Comma => {
                    self.read();
                }
                Tok::Eof => {
                    return err(
                        "Unterminated tuple constructor expression",
                        "There is no corresponding closing bracket before the end of the file. This may be caused by incorrect bracket nesting elsewhere in this file.",
                        &open,
                    )
                }
                _ => return err("Missing item separator", "Expected a comma to mark the beginning of the next item.", &next),
            }
        }
        self.nl.pop();
        Ok(())
    }

    pub(super) fn object(&mut self) -> R {
        let open = self.read();
        self.nl.push(false);
        let is_for = self.is_kw(&self.peek(), "for");
        self.nl.pop();
        if is_for {
            self.nl.push(false);
            self.for_expr(open)?;
            self.nl.pop();
            return Ok(());
        }
        self.nl.push(true);
        loop {
            let next = self.peek();
            if next.kind == Tok::Newline {
                self.read();
                continue;
            }
            if next.kind == Tok::CBrace {
                self.read();
                break;
            }
            self.key_expression()?;
            let next = self.peek();
            if next.kind != Tok::Equal && next.kind != Tok::Colon {
                return match next.kind {
                    Tok::Newline | Tok::Comma => err("Missing attribute value", "Expected an attribute value, introduced by an equals sign (\"=\").", &next),
                    Tok::Ident => err("Missing key/value separator", "Expected an equals sign (\"=\") to mark the beginning of the attribute value. If you intended to given an attribute name containing periods or spaces, write the name in quotes to create a string literal.", &next),
                    Tok::Eof => err("Unterminated object constructor expression", "There is no corresponding closing brace before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.", &open),
                    _ => err("Missing key/value separator", "Expected an equals sign (\"=\") to mark the beginning of the attribute value.", &next),
                };
            }
            self.read();
            self.expression()?;
            let next = self.peek();
            match next.kind {
                Tok::CBrace => {
                    self.read();
                    break;
                }
                Tok::Comma | Tok::Newline => {
                    self.read();
                }
                Tok::Eof => {
                    return err(
                        "Unterminated object constructor expression",
                        "There is no corresponding closing brace before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.",
                        &open,
                    )
                }
                _ => return err("Missing attribute separator", "Expected a newline or comma to mark the beginning of the next attribute.", &next),
            }
        }
        self.nl.pop();
        Ok(())
    }

    /// `NAME[, NAME] in EXPR` after `for`, in an expression or a directive.
    pub(super) fn for_intro(&mut self, m: &ForMessages) -> R {
        let bad = |p: &Self, d: &str| err(m.summary, d, &p.peek());
        if self.peek().kind != Tok::Ident {
            return bad(self, m.no_name);
        }
        self.read();
        if self.peek().kind == Tok::Comma {
            self.read();
            if self.peek().kind != Tok::Ident {
                return bad(self, m.no_value_name);
            }
            self.read();
        }
        if !self.is_kw(&self.peek(), "in") {
            return bad(self, m.no_in);
        }
        self.read();
        self.expression()
    }

    pub(super) fn for_expr(&mut self, open: Token) -> R {
        self.nl.push(false);
        self.read(); // for
        let (make_obj, close) = if open.kind == Tok::OBrace {
            (true, Tok::CBrace)
        } else {
            (false, Tok::CBrack)
        };
        let bad = |p: &Self, d: &str| err("Invalid 'for' expression", d, &p.peek());
        self.for_intro(&FOR_EXPRESSION)?;
        if self.peek().kind != Tok::Colon {
            return bad(
                self,
                "For expression requires a colon after the collection expression.",
            );
        }
        self.read();
        let val_start = self.peek();
        self.expression()?;
        let mut key: Option<Token> = None;
        if self.peek().kind == Tok::FatArrow {
            self.read();
            key = Some(val_start);
            self.expression()?;
        }
        let mut ellipsis = None;
        if self.peek().kind == Tok::Ellipsis {
            ellipsis = Some(self.read());
        }
        if self.is_kw(&self.peek(), "if") {
            self.read();
            self.expression()?;
        }
        if self.peek().kind == close {
            self.read();
        } else {
            return bad(
                self,
                "Extra characters after the end of the 'for' expression.",
            );
        }
        if !make_obj {
            if let Some(k) = key {
                return err(
                    "Invalid 'for' expression",
                    "Key expression is not valid when building a tuple.",
                    &k,
                );
            }
            if let Some(e) = ellipsis {
                return err(
                    "Invalid 'for' expression",
                    "Grouping ellipsis (...) cannot be used when building a tuple.",
                    &e,
                );
            }
        } else if key.is_none() {
            return err(
                "Invalid 'for' expression",
                "Key expression is required when building an object.",
                &val_start,
            );
        }
        self.nl.pop();
        Ok(())
    }
}
