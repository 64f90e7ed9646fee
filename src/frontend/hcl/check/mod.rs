//! The syntax check Packer runs before anything else (`hclsyntax.ParseConfig`),
//! over [`super::lex`]'s tokens: the same grammar, the same newline rules and
//! the same diagnostics, so a file is accepted or refused exactly as Packer
//! would, and the first error lands where Packer puts it. It builds no tree
//! (the evaluator parses with hcl-edit), which keeps `kiln fmt` fast.

use super::lex::{lex, Tok, Token};
use std::collections::HashSet;

mod body;
mod expr;
mod template;

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
    Err(SyntaxError {
        summary: summary.into(),
        detail: detail.into(),
        start: t.start(),
        end: t.end(),
    })
}

/// Check `src` (BOM already removed). `Ok` when Packer's parser accepts it.
pub fn check(src: &[u8]) -> R {
    let tokens = lex(src);
    check_tokens(src, &tokens)
}

pub fn check_tokens(src: &[u8], tokens: &[Token]) -> R {
    invalid_tokens(src, tokens)?;
    let (with_nl, without_nl) = skip_tables(src, tokens);
    let mut p = Parser {
        src,
        toks: tokens,
        pos: 0,
        nl: Vec::new(),
        with_nl,
        without_nl,
        depth: 0,
    };
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

const UNEXPECTED_EXPR: &str =
    "Expected the start of an expression, but found an invalid expression token.";

impl<'a> Parser<'a> {
    pub(super) fn text(&self, t: &Token) -> &'a [u8] {
        &self.src[t.start()..t.end()]
    }

    /// hclsyntax's peeker: comments are skipped, except that a comment
    /// which swallowed its newline stands for that newline; newlines are
    /// skipped inside brackets.
    #[inline]
    pub(super) fn next(&self) -> (Token, usize) {
        let include_nl = self.nl.last().copied().unwrap_or(true);
        let last = self.toks.len() - 1;
        if self.pos > last {
            return (self.toks[last], self.toks.len());
        }
        let i = if include_nl {
            self.with_nl[self.pos]
        } else {
            self.without_nl[self.pos]
        } as usize;
        let t = self.toks[i];
        if t.kind == Tok::Comment {
            return (
                Token {
                    kind: Tok::Newline,
                    ..t
                },
                i + 1,
            );
        }
        (t, i + 1)
    }

    pub(super) fn peek(&self) -> Token {
        self.next().0
    }

    pub(super) fn read(&mut self) -> Token {
        let (t, i) = self.next();
        self.pos = i;
        t
    }

    /// hclsyntax's `recover`: skip to the `end` closing the current nesting.
    pub(super) fn recover(&mut self, end: Tok) -> Token {
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
    pub(super) fn recover_after_body_item(&mut self) {
        let mut open: Vec<Tok> = Vec::new();
        loop {
            let t = self.read();
            match t.kind {
                Tok::Newline if open.is_empty() => return,
                Tok::Eof => return,
                Tok::OBrace
                | Tok::OBrack
                | Tok::OParen
                | Tok::OQuote
                | Tok::OHeredoc
                | Tok::TemplateInterp
                | Tok::TemplateControl => open.push(t.kind),
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
                    while open
                        .last()
                        .is_some_and(|&o| o != Tok::TemplateInterp && o != Tok::TemplateControl)
                    {
                        open.pop();
                    }
                    open.pop();
                }
                _ => {}
            }
        }
    }

    pub(super) fn is_kw(&self, t: &Token, kw: &str) -> bool {
        t.kind == Tok::Ident && self.text(t) == kw.as_bytes()
    }
}
