//! The syntax check Packer runs before anything else (`hclsyntax.ParseConfig`),
//! over [`super::lex`]'s tokens: the same grammar, the same newline rules and
//! the same diagnostics, so a file is accepted or refused exactly as Packer
//! would, and the first error lands where Packer puts it. It builds no tree
//! (the evaluator parses with hcl-edit), which keeps `kiln fmt` fast.

use super::lex::{lex, Tok, Token};
use std::collections::HashSet;

/// The first syntax error in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub summary: String,
    pub detail: String,
    /// Byte range in the (BOM-stripped) source.
    pub start: usize,
    pub end: usize,
}

type R<T = ()> = Result<T, SyntaxError>;

fn err<T>(summary: impl Into<String>, detail: impl Into<String>, t: &Token) -> R<T> {
    Err(SyntaxError { summary: summary.into(), detail: detail.into(), start: t.start(), end: t.end() })
}

/// Check `src` (BOM already removed). `Ok` when Packer's parser accepts it.
pub fn check(src: &[u8]) -> R {
    let tokens = lex(src);
    check_tokens(src, &tokens)
}

pub fn check_tokens(src: &[u8], tokens: &[Token]) -> R {
    invalid_tokens(src, tokens)?;
    let (with_nl, without_nl) = skip_tables(src, tokens);
    let mut p = Parser { src, toks: tokens, pos: 0, nl: Vec::new(), with_nl, without_nl, depth: 0 };
    p.body(Tok::Eof, None)
}

/// See [`Parser::next`]: where the parser's next token is from each index.
fn skip_tables(src: &[u8], tokens: &[Token]) -> (Vec<u32>, Vec<u32>) {
    let n = tokens.len();
    let (mut with_nl, mut without_nl) = (vec![0u32; n], vec![0u32; n]);
    let (mut w, mut wo) = ((n - 1) as u32, (n - 1) as u32);
    for i in (0..n).rev() {
        let t = &tokens[i];
        match t.kind {
            Tok::Comment => {
                if t.end() > t.start() && src[t.end() - 1] == b'\n' {
                    w = i as u32;
                }
            }
            Tok::Newline => w = i as u32,
            _ => {
                w = i as u32;
                wo = i as u32;
            }
        }
        with_nl[i] = w;
        without_nl[i] = wo;
    }
    (with_nl, without_nl)
}

/// hclsyntax's `checkInvalidTokens`: characters the language never uses.
fn invalid_tokens(src: &[u8], tokens: &[Token]) -> R {
    for t in tokens {
        let (summary, detail) = match t.kind {
            Tok::BitwiseAnd => ("Unsupported operator", "Bitwise operators are not supported. Did you mean boolean AND (\"&&\")?"),
            Tok::BitwiseOr => ("Unsupported operator", "Bitwise operators are not supported. Did you mean boolean OR (\"||\")?"),
            Tok::BitwiseNot => ("Unsupported operator", "Bitwise operators are not supported. Did you mean boolean NOT (\"!\")?"),
            Tok::BitwiseXor => ("Unsupported operator", "Bitwise operators are not supported."),
            Tok::Backtick => ("Invalid character", "The \"`\" character is not valid. To create a multi-line string, use the \"heredoc\" syntax, like \"<<EOT\"."),
            Tok::Apostrophe => ("Invalid character", "Single quotes are not valid. Use double quotes (\") to enclose strings."),
            Tok::Semicolon => ("Invalid character", "The \";\" character is not valid. Use newlines to separate arguments and blocks, and commas to separate items in collection values."),
            Tok::BadUtf8 => ("Invalid character encoding", "All input files must be UTF-8 encoded. Ensure that UTF-8 encoding is selected in your editor."),
            Tok::QuotedNewline => ("Invalid multi-line string", "Quoted strings may not be split over multiple lines. To produce a multi-line string, either use the \\n escape to represent a newline character or use the \"heredoc\" multi-line template syntax."),
            Tok::Invalid => match &src[t.start()..t.end()] {
                b"\xe2\x80\x9c" | b"\xe2\x80\x9d" => ("Invalid character", "\"Curly quotes\" are not valid here. These can sometimes be inadvertently introduced when sharing code via documents or discussion forums. It might help to replace the character with a \"straight quote\"."),
                _ => ("Invalid character", "This character is not used within the language."),
            },
            _ => continue,
        };
        return err(summary, detail, t);
    }
    Ok(())
}

/// hclsyntax's wording for a bad `for` header, which differs between
/// expressions and template directives.
struct ForMessages {
    summary: &'static str,
    no_name: &'static str,
    no_value_name: &'static str,
    no_in: &'static str,
}

const FOR_EXPRESSION: ForMessages = ForMessages {
    summary: "Invalid 'for' expression",
    no_name: "For expression requires variable name after 'for'.",
    no_value_name: "For expression requires value variable name after comma.",
    no_in: "For expression requires the 'in' keyword after its name declarations.",
};

const FOR_DIRECTIVE: ForMessages = ForMessages {
    summary: "Invalid 'for' directive",
    no_name: "For directive requires variable name after 'for'.",
    no_value_name: "For directive requires value variable name after comma.",
    no_in: "For directive requires 'in' keyword after names.",
};

/// Template structure, for the if/for balance check.
#[derive(Clone, Copy, PartialEq)]
enum Part {
    Other,
    If(Token),
    For(Token),
    Else(Token),
    EndIf(Token),
    EndFor(Token),
    End(Token),
}

struct Parser<'a> {
    src: &'a [u8],
    toks: &'a [Token],
    pos: usize,
    /// hclsyntax's include-newlines stack (empty = include).
    nl: Vec<bool>,
    /// For each index, the next token the parser sees from there: with
    /// newlines included (`with_nl`) and without (`without_nl`).
    with_nl: Vec<u32>,
    without_nl: Vec<u32>,
    /// Expression nesting depth, bounded so that no input can exhaust the stack.
    depth: usize,
}

/// Deeper nesting than any real template; beyond it a file is refused.
const MAX_DEPTH: usize = 256;

const UNEXPECTED_EXPR: &str = "Expected the start of an expression, but found an invalid expression token.";

impl<'a> Parser<'a> {
    fn text(&self, t: &Token) -> &'a [u8] {
        &self.src[t.start()..t.end()]
    }

    /// hclsyntax's peeker: comments are skipped, except that a comment
    /// which swallowed its newline stands for that newline; newlines are
    /// skipped inside brackets.
    #[inline]
    fn next(&self) -> (Token, usize) {
        let include_nl = self.nl.last().copied().unwrap_or(true);
        let last = self.toks.len() - 1;
        if self.pos > last {
            return (self.toks[last], self.toks.len());
        }
        let i = if include_nl { self.with_nl[self.pos] } else { self.without_nl[self.pos] } as usize;
        let t = self.toks[i];
        if t.kind == Tok::Comment {
            return (Token { kind: Tok::Newline, ..t }, i + 1);
        }
        (t, i + 1)
    }

    fn peek(&self) -> Token {
        self.next().0
    }

    fn read(&mut self) -> Token {
        let (t, i) = self.next();
        self.pos = i;
        t
    }

    /// hclsyntax's `recover`: skip to the `end` closing the current nesting.
    fn recover(&mut self, end: Tok) -> Token {
        let start = match end {
            Tok::CBrace => Tok::OBrace,
            Tok::CBrack => Tok::OBrack,
            Tok::CParen => Tok::OParen,
            Tok::CQuote => Tok::OQuote,
            Tok::CHeredoc => Tok::OHeredoc,
            Tok::TemplateSeqEnd => Tok::TemplateInterp,
            _ => Tok::Eof,
        };
        let mut nest = 0;
        loop {
            let t = self.read();
            let mut kind = t.kind;
            if end == Tok::TemplateSeqEnd && kind == Tok::TemplateControl {
                kind = Tok::TemplateInterp;
            }
            if kind == start {
                nest += 1;
            } else if kind == end {
                if nest < 1 {
                    return t;
                }
                nest -= 1;
            } else if kind == Tok::Eof {
                return t;
            }
        }
    }

    /// hclsyntax's `recoverAfterBodyItem`: skip to the end of the line the
    /// item is on, over nested brackets.
    fn recover_after_body_item(&mut self) {
        let mut open: Vec<Tok> = Vec::new();
        loop {
            let t = self.read();
            match t.kind {
                Tok::Newline if open.is_empty() => return,
                Tok::Eof => return,
                Tok::OBrace | Tok::OBrack | Tok::OParen | Tok::OQuote | Tok::OHeredoc | Tok::TemplateInterp | Tok::TemplateControl => open.push(t.kind),
                Tok::CBrace | Tok::CBrack | Tok::CParen | Tok::CQuote | Tok::CHeredoc => {
                    let opener = match t.kind {
                        Tok::CBrace => Tok::OBrace,
                        Tok::CBrack => Tok::OBrack,
                        Tok::CParen => Tok::OParen,
                        Tok::CQuote => Tok::OQuote,
                        _ => Tok::OHeredoc,
                    };
                    while open.last().is_some_and(|&o| o != opener) {
                        open.pop();
                    }
                    open.pop();
                }
                Tok::TemplateSeqEnd => {
                    while open.last().is_some_and(|&o| o != Tok::TemplateInterp && o != Tok::TemplateControl) {
                        open.pop();
                    }
                    open.pop();
                }
                _ => {}
            }
        }
    }

    fn is_kw(&self, t: &Token, kw: &str) -> bool {
        t.kind == Tok::Ident && self.text(t) == kw.as_bytes()
    }

    /// A body up to `end`; `open` is the token that opened it.
    fn body(&mut self, end: Tok, open: Option<Token>) -> R {
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
                        Tok::OQuote => err("Invalid argument name", "Argument names must not be quoted.", &bad),
                        Tok::Eof => {
                            let at = open.unwrap_or(Token { kind: Tok::Eof, start: 0, end: 0 });
                            if end == Tok::CBrace {
                                err("Unclosed configuration block", "There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.", &at)
                            } else {
                                err("Unclosed configuration body", "Found end of file before the end of this configuration body.", &at)
                            }
                        }
                        _ => err("Argument or block definition required", "An argument or block definition is required here.", &bad),
                    };
                }
            }
        }
    }

    /// An attribute (returns its name token) or a block (returns `None`).
    fn body_item(&mut self) -> R<Option<Token>> {
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
            _ => err("Argument or block definition required", "An argument or block definition is required here. To set an argument, use the equals sign \"=\" to introduce the argument value.", &ident),
        }
    }

    fn attribute(&mut self, single_line: bool) -> R {
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

    fn block(&mut self, ident: Token) -> R {
        if self.depth >= MAX_DEPTH {
            return err("Blocks too deeply nested", format!("Blocks may nest at most {MAX_DEPTH} levels deep."), &ident);
        }
        self.depth += 1;
        let r = self.block_inner();
        self.depth -= 1;
        r
    }

    fn block_inner(&mut self) -> R {
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
            _ => err("Missing newline after block definition", "A block definition must end with a newline.", &eol),
        }
    }

    fn single_attr_body(&mut self) -> R {
        let ident = self.read();
        if ident.kind != Tok::Ident {
            return err("Argument or block definition required", "An argument or block definition is required here.", &ident);
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
            _ => err("Argument or block definition required", "An argument or block definition is required here. To set an argument, use the equals sign \"=\" to introduce the argument value.", &ident),
        }
    }

    fn quoted_string_literal(&mut self) -> R {
        let open = self.read();
        if open.kind != Tok::OQuote {
            return err("Invalid string literal", "A quoted string is required here.", &open);
        }
        loop {
            let t = self.read();
            match t.kind {
                Tok::CQuote => return Ok(()),
                Tok::QuotedLit => self.string_literal(&t)?,
                Tok::TemplateControl | Tok::TemplateInterp => {
                    let which = if t.kind == Tok::TemplateControl { "%" } else { "$" };
                    return err("Invalid string literal", format!("Template sequences are not allowed in this string. To include a literal {which:?}, double it (as \"{which}{which}\") to escape it."), &t);
                }
                Tok::Eof => return err("Unterminated string literal", "Unable to find the closing quote mark before the end of the file.", &t),
                _ => return err("Invalid string literal", "This item is not valid in a string literal.", &t),
            }
        }
    }

    /// Escape sequences of a quoted literal (`ParseStringLiteralToken`).
    fn string_literal(&self, t: &Token) -> R {
        let b = self.text(t);
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'\\' {
                i += 1;
                continue;
            }
            // Errors point at the escape sequence itself.
            let esc = |len: usize| Token { kind: t.kind, start: (t.start() + i) as u32, end: (t.start() + i + len).min(t.end()) as u32 };
            let Some(&sel) = b.get(i + 1) else {
                return err("Invalid escape sequence", "Backslash must be followed by an escape sequence selector character.", &esc(1));
            };
            match sel {
                b'n' | b'r' | b't' | b'"' | b'\\' => i += 2,
                b'u' | b'U' => {
                    let want = if sel == b'u' { 4 } else { 8 };
                    let digits = b[i + 2..].iter().take(want).take_while(|c| c.is_ascii_hexdigit()).count();
                    if digits != want {
                        let d = if sel == b'u' { "The \\u escape sequence must be followed by four hexadecimal digits." } else { "The \\U escape sequence must be followed by eight hexadecimal digits." };
                        return err("Invalid escape sequence", d, &esc(2 + digits));
                    }
                    let hex = std::str::from_utf8(&b[i + 2..i + 2 + want]).unwrap_or("0");
                    let n = u32::from_str_radix(hex, 16).unwrap_or(0);
                    if char::from_u32(n).is_none() {
                        return err("Invalid escape sequence", format!("Cannot encode character U+{n:04x} in UTF-8."), &esc(2 + want));
                    }
                    i += 2 + want;
                }
                _ => {
                    let c = std::str::from_utf8(&b[i + 1..]).ok().and_then(|s| s.chars().next()).map(String::from).unwrap_or_default();
                    return err("Invalid escape sequence", format!("The symbol {c:?} is not a valid escape sequence selector."), &esc(1 + c.len().max(1)));
                }
            }
        }
        Ok(())
    }

    fn expression(&mut self) -> R {
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

    fn binary_ops(&mut self, level: usize) -> R {
        const LEVELS: [&[Tok]; 6] = [
            &[Tok::Or],
            &[Tok::And],
            &[Tok::EqualOp, Tok::NotEqual],
            &[Tok::GreaterThan, Tok::GreaterThanEq, Tok::LessThan, Tok::LessThanEq],
            &[Tok::Plus, Tok::Minus],
            &[Tok::Star, Tok::Slash, Tok::Percent],
        ];
        if level == LEVELS.len() {
            return self.with_traversals();
        }
        self.binary_ops(level + 1)?;
        while LEVELS[level].contains(&self.peek().kind) {
            self.read();
            self.binary_ops(level + 1)?;
        }
        Ok(())
    }

    fn with_traversals(&mut self) -> R {
        self.term()?;
        self.traversals()
    }

    fn legacy_index(&self, t: &Token, splat: bool) -> R {
        let b = self.text(t);
        if let Some(dot) = b.iter().position(|&c| c == b'.') {
            let (first, second) = (String::from_utf8_lossy(&b[..dot]), String::from_utf8_lossy(&b[dot + 1..]));
            let d = if splat {
                format!("When using the legacy index syntax, chaining two indexes together is not permitted. Use the proper index syntax with a full splat expression [*] instead, like [{first}][{second}].")
            } else {
                format!("When using the legacy index syntax, chaining two indexes together is not permitted. Use the proper index syntax instead, like [{first}][{second}].")
            };
            return err("Invalid legacy index syntax", d, t);
        }
        self.number(t)
    }

    fn number(&self, t: &Token) -> R {
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
            err("Invalid number literal", "Failed to recognize the value of this number literal.", t)
        }
    }

    fn traversals(&mut self) -> R {
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
                        _ => return err("Invalid attribute name", "An attribute name is required after a dot.", &attr),
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
                            return err("Missing close bracket on index", "The index operator must end with a closing bracket (\"]\").", &at);
                        }
                        self.nl.pop();
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn term(&mut self) -> R {
        let start = self.peek();
        if self.depth >= MAX_DEPTH {
            return err("Expression too deeply nested", format!("Expressions may nest at most {MAX_DEPTH} levels deep."), &start);
        }
        self.depth += 1;
        let r = self.term_inner(start);
        self.depth -= 1;
        r
    }

    fn term_inner(&mut self, start: Token) -> R {
        match start.kind {
            Tok::OParen => {
                self.read();
                self.nl.push(false);
                self.expression()?;
                let close = self.peek();
                if close.kind != Tok::CParen {
                    return err("Unbalanced parentheses", "Expected a closing parenthesis to terminate the expression.", &close);
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
                let end = if start.kind == Tok::OQuote { Tok::CQuote } else { Tok::CHeredoc };
                self.template(end, start)
            }
            Tok::Minus | Tok::Bang => {
                self.read();
                self.with_traversals()
            }
            Tok::OBrack => self.tuple(),
            Tok::OBrace => self.object(),
            Tok::Eof => err("Missing expression", "Expected the start of an expression, but found the end of the file.", &start),
            _ => err("Invalid expression", UNEXPECTED_EXPR, &start),
        }
    }

    /// `provider::ns::fn(...)` (hcl v2.20+).
    fn namespaced_call(&mut self, name: Token) -> R {
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
            return err("Missing arguments", "Function name must be followed by an argument list in parentheses.", &Token { kind: t.kind, start: last.start, end: t.end.max(last.end) });
        }
        self.function_call(name)
    }

    fn function_call(&mut self, name: Token) -> R {
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

    fn tuple(&mut self) -> R {
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
                Tok::Eof => return err("Unterminated tuple constructor expression", "There is no corresponding closing bracket before the end of the file. This may be caused by incorrect bracket nesting elsewhere in this file.", &open),
                _ => return err("Missing item separator", "Expected a comma to mark the beginning of the next item.", &next),
            }
        }
        self.nl.pop();
        Ok(())
    }

    fn object(&mut self) -> R {
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
            self.expression()?;
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
                Tok::Eof => return err("Unterminated object constructor expression", "There is no corresponding closing brace before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.", &open),
                _ => return err("Missing attribute separator", "Expected a newline or comma to mark the beginning of the next attribute.", &next),
            }
        }
        self.nl.pop();
        Ok(())
    }

    /// `NAME[, NAME] in EXPR` after `for`, in an expression or a directive.
    fn for_intro(&mut self, m: &ForMessages) -> R {
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

    fn for_expr(&mut self, open: Token) -> R {
        self.nl.push(false);
        self.read(); // for
        let (make_obj, close) = if open.kind == Tok::OBrace { (true, Tok::CBrace) } else { (false, Tok::CBrack) };
        let bad = |p: &Self, d: &str| err("Invalid 'for' expression", d, &p.peek());
        self.for_intro(&FOR_EXPRESSION)?;
        if self.peek().kind != Tok::Colon {
            return bad(self, "For expression requires a colon after the collection expression.");
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
            return bad(self, "Extra characters after the end of the 'for' expression.");
        }
        if !make_obj {
            if let Some(k) = key {
                return err("Invalid 'for' expression", "Key expression is not valid when building a tuple.", &k);
            }
            if let Some(e) = ellipsis {
                return err("Invalid 'for' expression", "Grouping ellipsis (...) cannot be used when building a tuple.", &e);
            }
        } else if key.is_none() {
            return err("Invalid 'for' expression", "Key expression is required when building an object.", &val_start);
        }
        self.nl.pop();
        Ok(())
    }

    /// A template up to `end` (`parseTemplateParts` + the directive check).
    fn template(&mut self, end: Tok, open: Token) -> R {
        let mut parts: Vec<Part> = Vec::new();
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
                    let seq = Token { kind: Tok::TemplateControl, start: next.start, end: kw.end };
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
                    parts.push(part);
                }
                _ => return err("Unterminated template string", "No closing marker was found for the string.", &next),
            }
        }
        directives(&parts)
    }
}

/// The range hclsyntax reports for an unclosed interpolation: the start of
/// the template's content.
fn open_after(open: &Token) -> Token {
    Token { kind: open.kind, start: open.end, end: open.end }
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
        Part::If(t) | Part::For(t) | Part::Else(t) | Part::EndIf(t) | Part::EndFor(t) | Part::End(t) => t,
        Part::Other => Token { kind: Tok::Eof, start: 0, end: 0 },
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
                    Part::End(t) => return err("Unexpected end of template", "The if directive is missing its corresponding endif directive.", &t),
                    Part::Else(t) => {
                        if in_else {
                            return err("Unexpected else directive", "Already in the else clause for the if.", &t);
                        }
                        in_else = true;
                        *i += 1;
                    }
                    Part::EndIf(_) => {
                        *i += 1;
                        return Ok(());
                    }
                    Part::EndFor(t) => return err(format!("Unexpected {} directive", name(&next)), "Expecting an endif directive for the if.", &t),
                    _ => directive_expr(parts, i)?,
                }
            }
        }
        Part::For(_) => {
            *i += 1;
            loop {
                let next = parts[*i];
                match next {
                    Part::End(t) => return err("Unexpected end of template", "The for directive is missing its corresponding endfor directive.", &t),
                    Part::Else(t) => return err("Unexpected else directive", "An else clause is not expected for a for directive.", &t),
                    Part::EndFor(_) => {
                        *i += 1;
                        return Ok(());
                    }
                    Part::EndIf(t) => return err(format!("Unexpected {} directive", name(&next)), "Expecting an endfor directive corresponding to the for directive.", &t),
                    _ => directive_expr(parts, i)?,
                }
            }
        }
        Part::End(t) => err("Unexpected end of template", "The control directives within this template are unbalanced.", &t),
        Part::Else(_) | Part::EndIf(_) | Part::EndFor(_) => err(format!("Unexpected {} directive", name(&p)), "The control directives within this template are unbalanced.", &range(&p)),
    }
}
