//! `kiln fmt`: the canonical layout, byte for byte what HashiCorp's
//! `hclwrite.Format` writes (and so what `packer fmt` writes).
//!
//! Like hclwrite, the formatter works on the token stream only
//! ([`crate::frontend::hcl::lex`]): it keeps every token's bytes and
//! rewrites only the spaces before each one, in three passes over lines —
//! indentation by bracket nesting, spacing between neighbouring tokens, then
//! vertical alignment of `=` and trailing comments across runs of lines.
//! Before formatting, `kiln fmt` checks the syntax with
//! [`crate::frontend::hcl::check`], the same rules Packer's parser applies,
//! and refuses a file that does not parse.

use crate::frontend::hcl::check::{check_tokens, SyntaxError};
use crate::frontend::hcl::lex::{lex, strip_bom, Tok, Token};
use unicode_segmentation::UnicodeSegmentation;

/// Format `src`; syntax is not checked (see [`crate::frontend::hcl::check`]).
pub fn format(src: &[u8]) -> Vec<u8> {
    let src = strip_bom(src);
    let tokens = lex(src);
    write(src, &tokens)
}

/// What `kiln fmt` does: refuse a file Packer's parser refuses, else format
/// it (one pass of the lexer serves both).
pub fn format_checked(src: &[u8]) -> Result<Vec<u8>, SyntaxError> {
    let src = strip_bom(src);
    let tokens = lex(src);
    // Nesting past the checker's limit is refused; do not lay it out first
    // (its indentation alone grows with the square of the depth).
    let mut depth: i64 = 0;
    let mut deepest: i64 = 0;
    for t in &tokens {
        depth += i64::from(t.kind.bracket_change());
        deepest = deepest.max(depth);
    }
    if src.len() < 1 << 16 || deepest > 200 {
        check_tokens(src, &tokens)?;
        return Ok(write(src, &tokens));
    }
    // Large input: check and format side by side (both only read the tokens).
    let (checked, out) = std::thread::scope(|s| {
        // The checker recurses (bounded by its nesting limit): give it room.
        let checker = std::thread::Builder::new()
            .stack_size(64 << 20)
            .spawn_scoped(s, || check_tokens(src, &tokens));
        let out = write(src, &tokens);
        (
            checker
                .map_err(|_| ())
                .and_then(|h| h.join().map_err(|_| ())),
            out,
        )
    });
    match checked {
        Ok(r) => r.map(|_| out),
        Err(_) => check_tokens(src, &tokens).map(|_| out),
    }
}

fn write(src: &[u8], tokens: &[Token]) -> Vec<u8> {
    let spaces = layout(src, tokens);
    let mut out = Vec::with_capacity(src.len() + src.len() / 8);
    for (t, &n) in tokens.iter().zip(&spaces) {
        out.resize(out.len() + n as usize, b' ');
        out.extend_from_slice(&src[t.start()..t.end()]);
    }
    out
}

/// One line's cells as token index ranges: `lead`, then optional `assign`
/// (from the `=`) and `comment` (a trailing single-line comment).
#[derive(Clone, Copy)]
struct Line {
    // u32 indices keep a line in 20 bytes; NONE marks an absent cell.
    lead_s: u32,
    lead_e: u32,
    assign_s: u32,
    assign_e: u32,
    comment: u32,
}

const NONE: u32 = u32::MAX;

impl Line {
    fn new(s: usize, e: usize) -> Line {
        Line {
            lead_s: s as u32,
            lead_e: e as u32,
            assign_s: NONE,
            assign_e: NONE,
            comment: NONE,
        }
    }
    fn lead(&self) -> (usize, usize) {
        (self.lead_s as usize, self.lead_e as usize)
    }
    fn set_lead(&mut self, s: usize, e: usize) {
        (self.lead_s, self.lead_e) = (s as u32, e as u32);
    }
    fn assign(&self) -> Option<(usize, usize)> {
        (self.assign_s != NONE).then_some((self.assign_s as usize, self.assign_e as usize))
    }
    fn set_assign(&mut self, s: usize, e: usize) {
        (self.assign_s, self.assign_e) = (s as u32, e as u32);
    }
    fn comment(&self) -> Option<usize> {
        (self.comment != NONE).then_some(self.comment as usize)
    }
}

fn is_newline(src: &[u8], t: &Token) -> bool {
    match t.kind {
        Tok::Newline => true,
        Tok::Comment => t.end() > t.start() && src[t.end() - 1] == b'\n',
        _ => false,
    }
}

/// The spaces before each token in canonical layout.
fn layout(src: &[u8], tokens: &[Token]) -> Vec<u32> {
    // Spaces as in the source (only kept where no rule applies: before EOF).
    let mut spaces: Vec<u32> = Vec::with_capacity(tokens.len());
    let mut last = 0;
    for t in tokens {
        spaces.push((t.start() - last) as u32);
        last = t.end();
    }
    let lines = lines(src, tokens);
    indent(tokens, &lines, &mut spaces);
    space_between(tokens, src, &lines, &mut spaces);
    align(src, tokens, &lines, &mut spaces);
    spaces
}

fn lines(src: &[u8], tokens: &[Token]) -> Vec<Line> {
    let mut lines = Vec::with_capacity(tokens.len() / 4 + 1);
    let mut start = 0;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind == Tok::Eof {
            lines.push(Line::new(start, i));
            start = usize::MAX;
            break;
        }
        if is_newline(src, t) {
            lines.push(Line::new(start, i + 1));
            start = i + 1;
        }
    }
    if start != usize::MAX && start < tokens.len() {
        lines.push(Line::new(start, tokens.len()));
    }
    for line in &mut lines {
        let (s, mut e) = line.lead();
        if e == s {
            continue;
        }
        if e - s > 1 && tokens[e - 1].kind == Tok::Comment {
            line.comment = (e - 1) as u32;
            e -= 1;
            line.set_lead(s, e);
        }
        for i in s + 1..e {
            if tokens[i].kind == Tok::Equal {
                let net: i32 = tokens[i..e].iter().map(|t| t.kind.bracket_change()).sum();
                if net == 0 {
                    line.set_assign(i, e);
                    line.set_lead(s, i);
                }
                break;
            }
        }
    }
    lines
}

fn indent(tokens: &[Token], lines: &[Line], spaces: &mut [u32]) {
    let mut indents: Vec<i32> = Vec::with_capacity(10);
    for line in lines {
        let (s, e) = line.lead();
        if s == e {
            continue;
        }
        if tokens[s].kind == Tok::Newline {
            spaces[s] = 0;
            continue;
        }
        let mut net = 0;
        for t in &tokens[s..e] {
            net += t.kind.bracket_change();
            if t.kind == Tok::OHeredoc {
                break;
            }
        }
        if let Some((a, b)) = line.assign() {
            net += tokens[a..b]
                .iter()
                .map(|t| t.kind.bracket_change())
                .sum::<i32>();
        }
        if net > 0 {
            spaces[s] = 2 * indents.len() as u32;
            indents.push(net);
        } else {
            let mut closed = -net;
            while closed > 0 {
                let Some(top) = indents.last_mut() else { break };
                if closed > *top {
                    closed -= *top;
                    indents.pop();
                } else if closed < *top {
                    *top -= closed;
                    closed = 0;
                } else {
                    indents.pop();
                    closed = 0;
                }
            }
            spaces[s] = 2 * indents.len() as u32;
        }
    }
}

fn space_between(tokens: &[Token], src: &[u8], lines: &[Line], spaces: &mut [u32]) {
    for line in lines {
        let (s, e) = line.lead();
        for i in s..e {
            if i + 1 >= e {
                break;
            }
            let before = if i > s { Some(&tokens[i - 1]) } else { None };
            spaces[i + 1] = space_after(src, &tokens[i], before, &tokens[i + 1]) as u32;
        }
        if let Some((a, b)) = line.assign() {
            spaces[a] = 1;
            for i in a..b {
                if i + 1 >= b {
                    break;
                }
                let before = if i > a { Some(&tokens[i - 1]) } else { None };
                spaces[i + 1] = space_after(src, &tokens[i], before, &tokens[i + 1]) as u32;
            }
        }
    }
}

/// hclwrite's `spaceAfterToken`.
fn space_after(src: &[u8], subject: &Token, before: Option<&Token>, after: &Token) -> bool {
    use Tok::*;
    let (s, a) = (subject.kind, after.kind);
    let before = before.map(|t| t.kind);
    if a == Newline {
        return false;
    }
    if s == Ident && a == OParen {
        return false;
    }
    if (s == Ident && a == DoubleColon) || (s == DoubleColon && a == Ident) {
        return false;
    }
    if s == Dot || a == Dot {
        return false;
    }
    if a == Comma || a == Ellipsis {
        return false;
    }
    if s == Comma {
        return true;
    }
    if matches!(s, QuotedLit | StringLit | OQuote | OHeredoc)
        || matches!(a, QuotedLit | StringLit | CQuote | CHeredoc)
    {
        return false;
    }
    if s == Ident && &src[subject.start()..subject.end()] == b"in" && before == Some(Ident) {
        return true;
    }
    if a == OBrack && (s == Ident || s == NumberLit || s.bracket_change() < 0) {
        return false;
    }
    if s == Bang {
        return false;
    }
    if s == Minus {
        return !matches!(
            before,
            None | Some(OParen | OBrace | OBrack | Equal | Colon | Comma | Question)
                | Some(Plus | Star | Slash | Percent | Minus)
                | Some(EqualOp | NotEqual | GreaterThan | GreaterThanEq | LessThan | LessThanEq)
                | Some(And | Or | Bang)
        );
    }
    if s == OBrace || a == CBrace {
        return !(s == OBrace && a == CBrace);
    }
    if matches!(s, TemplateInterp | TemplateControl) && a == OBrace {
        return true;
    }
    if s == CBrace && a == TemplateSeqEnd {
        return true;
    }
    if s == TemplateSeqEnd && matches!(a, TemplateInterp | TemplateControl) {
        return false;
    }
    if s.bracket_change() > 0 {
        return false;
    }
    if a.bracket_change() < 0 {
        return false;
    }
    true
}

/// Columns a run of tokens takes: spaces plus grapheme clusters.
fn columns(src: &[u8], tokens: &[Token], spaces: &[u32], from: usize, to: usize) -> usize {
    let mut n = 0;
    for i in from..to {
        n += spaces[i] as usize;
        let b = &src[tokens[i].start()..tokens[i].end()];
        n += if b.is_ascii() && !b.contains(&b'\r') {
            b.len()
        } else {
            match std::str::from_utf8(b) {
                Ok(s) => s.graphemes(true).count(),
                Err(_) => String::from_utf8_lossy(b).graphemes(true).count(),
            }
        };
    }
    n
}

fn align(src: &[u8], tokens: &[Token], lines: &[Line], spaces: &mut [u32]) {
    // `=` signs first: they move the comments.
    let mut chain: Option<usize> = None;
    let mut max = 0;
    let close_assign = |from: usize, to: usize, max: usize, spaces: &mut [u32]| {
        for l in &lines[from..to] {
            let cols = columns(src, tokens, spaces, l.lead().0, l.lead().1);
            if let Some((a, _)) = l.assign() {
                spaces[a] = (max - cols + 1) as u32;
            }
        }
    };
    for (i, l) in lines.iter().enumerate() {
        if l.assign().is_none() {
            if let Some(c) = chain.take() {
                close_assign(c, i, max, spaces);
                max = 0;
            }
        } else {
            chain.get_or_insert(i);
            max = max.max(columns(src, tokens, spaces, l.lead().0, l.lead().1));
        }
    }
    if let Some(c) = chain.take() {
        close_assign(c, lines.len(), max, spaces);
    }

    let width = |l: &Line, spaces: &[u32]| {
        columns(src, tokens, spaces, l.lead().0, l.lead().1)
            + l.assign()
                .map(|(a, b)| columns(src, tokens, spaces, a, b))
                .unwrap_or(0)
    };
    let close_comment = |from: usize, to: usize, max: usize, spaces: &mut [u32]| {
        for l in &lines[from..to] {
            let w = width(l, spaces);
            if let Some(c) = l.comment() {
                spaces[c] = (max - w + 1) as u32;
            }
        }
    };
    max = 0;
    for (i, l) in lines.iter().enumerate() {
        if l.comment().is_none() {
            if let Some(c) = chain.take() {
                close_comment(c, i, max, spaces);
                max = 0;
            }
        } else {
            chain.get_or_insert(i);
            max = max.max(width(l, spaces));
        }
    }
    if let Some(c) = chain.take() {
        close_comment(c, lines.len(), max, spaces);
    }
}
