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
    Parser::new(src, tokens, false).body(Tok::Eof, None)
}

/// Where a piece of a file that hcl-edit would find too deeply nested (it
/// stops at 64 levels, hclsyntax does not) can be parsed on its own and
/// put back (see `parse::deep`): one every [`CUT_EVERY`] levels, and one
/// every [`CHAIN_CUT`] operators of a chain. Cuts nest; none overlap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// Byte range in the source.
    pub start: usize,
    pub end: usize,
    pub kind: CutKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutKind {
    /// An expression, or a term: it stands where a parenthesized
    /// expression could.
    Expr,
    /// A template's `%{ if }`/`%{ for }` … `%{ end… }`, which an
    /// interpolation of the same text as a template can stand for, with
    /// the `~` of its first and last marks.
    Directive {
        heredoc: bool,
        strip_before: bool,
        strip_after: bool,
    },
}

/// Nesting levels between cuts: well under hcl-edit's 64, which counts
/// some levels twice (a unary operator and its operand).
pub const CUT_EVERY: usize = 16;
/// The shortest piece worth a cut (a placeholder's parentheses and name).
pub const MIN_CUT: usize = 12;
/// Operators of one chain between cuts: hcl-edit allows 128 on any path
/// through an expression, and a path may cross six precedence levels.
pub const CHAIN_CUT: usize = 16;

/// The cuts of a file `check` accepts (see [`Cut`]), outermost first.
pub fn cuts(src: &[u8]) -> R<Vec<Cut>> {
    let tokens = lex(src);
    invalid_tokens(src, &tokens)?;
    let mut p = Parser::new(src, &tokens, true);
    p.body(Tok::Eof, None)?;
    Ok(p.cuts)
}

/// The cuts of a lone expression (a console line).
pub fn expr_cuts(src: &[u8]) -> R<Vec<Cut>> {
    expr_cuts_every(src, CUT_EVERY, CHAIN_CUT)
}

/// The cuts of a template file (`templatefile`): read as the body of a
/// heredoc, which is read as a file template is (no escapes, `$${`).
pub fn template_cuts(src: &[u8]) -> R<Vec<Cut>> {
    let mut marker = String::from("KILN_TEMPLATE");
    while src.windows(marker.len()).any(|w| w == marker.as_bytes()) {
        marker.push('_');
    }
    let head = format!("t = <<{marker}\n");
    let mut text = head.clone().into_bytes();
    text.extend_from_slice(src);
    text.extend_from_slice(format!("\n{marker}\n").as_bytes());
    let shift = |mut e: SyntaxError| {
        e.start = e.start.saturating_sub(head.len());
        e.end = e.end.saturating_sub(head.len());
        e
    };
    let mut cuts = cuts(&text).map_err(shift)?;
    for c in &mut cuts {
        c.start -= head.len();
        c.end -= head.len();
    }
    Ok(cuts)
}

/// [`expr_cuts`], cutting every `levels` levels and every `chain`
/// operators (tests cut far more often than hcl-edit needs).
pub fn expr_cuts_every(src: &[u8], levels: usize, chain: usize) -> R<Vec<Cut>> {
    let tokens = lex(src);
    invalid_tokens(src, &tokens)?;
    let mut p = Parser::new(src, &tokens, true);
    p.cut_every = (levels, chain);
    p.nl.push(false);
    p.expression()?;
    Ok(p.cuts)
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
    /// Nesting depth (expressions, directives, blocks), bounded so that no input can
    /// exhaust the stack of the checker or of the evaluator.
    depth: usize,
    /// Whether to record [`Cut`]s, and those recorded.
    recording: bool,
    cuts: Vec<Cut>,
    /// Levels entered since the last cut.
    since_cut: usize,
    /// Levels and chained operators between cuts.
    cut_every: (usize, usize),
    /// The end of the last token read.
    last_end: usize,
    /// Binary operators on the longest path through what the current
    /// nesting level has read (hcl-edit's operator depth).
    op_path: usize,
}

/// Deeper nesting than any real template; beyond it a file is refused.
/// hclsyntax has no limit of its own (Go's stack grows); this one keeps
/// kiln's recursion within the stack `main` gives it.
pub const MAX_DEPTH: usize = 1000;

/// The longest chain of binary operators through one expression (on any
/// path through it): hclsyntax has no limit either; this one keeps the
/// tree's depth within what its recursive walks (drop, visit) can take.
pub const MAX_OPERATORS: usize = 20_000;

const UNEXPECTED_EXPR: &str =
    "Expected the start of an expression, but found an invalid expression token.";

impl<'a> Parser<'a> {
    fn new(src: &'a [u8], toks: &'a [Token], recording: bool) -> Self {
        let (with_nl, without_nl) = skip_tables(src, toks);
        Parser {
            src,
            toks,
            pos: 0,
            nl: Vec::new(),
            with_nl,
            without_nl,
            depth: 0,
            recording,
            cuts: Vec::new(),
            since_cut: 0,
            cut_every: (CUT_EVERY, CHAIN_CUT),
            last_end: 0,
            op_path: 0,
        }
    }

    /// Run `f` one nesting level deeper, refusing to go past [`MAX_DEPTH`];
    /// with `cut`, what it reads may become a [`Cut`].
    pub(super) fn nested(&mut self, cut: bool, f: impl FnOnce(&mut Self) -> R) -> R {
        let (start, first) = self.next();
        if self.depth >= MAX_DEPTH {
            return err(
                "Expression too deeply nested",
                format!("Expressions may nest at most {MAX_DEPTH} levels deep."),
                &start,
            );
        }
        let since = self.since_cut;
        let cutting = self.recording && cut && since + 1 >= self.cut_every.0;
        self.since_cut = if cutting { 0 } else { since + 1 };
        let op_path = std::mem::take(&mut self.op_path);
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        self.since_cut = since;
        // What is nested adds to the path of the chain around it.
        self.op_path = self.op_path.max(op_path);
        // A lone token holds no nesting (and a bare name may be an object
        // key, where a parenthesized one would mean something else); a
        // placeholder needs room for its name.
        if cutting && r.is_ok() && self.pos > first && self.last_end >= start.start() + MIN_CUT {
            self.push_cut(start.start(), self.last_end, CutKind::Expr);
        }
        r
    }

    pub(super) fn push_cut(&mut self, start: usize, end: usize, kind: CutKind) {
        if self
            .cuts
            .last()
            .is_some_and(|c| c.start == start && c.end == end)
        {
            return;
        }
        self.cuts.push(Cut { start, end, kind });
    }

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
        self.last_end = t.end();
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
