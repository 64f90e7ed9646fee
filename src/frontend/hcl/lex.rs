//! HCL native-syntax tokens, exactly as HashiCorp's `hclsyntax` scanner
//! splits a file: the formatter (`crate::fmt`) rewrites the whitespace
//! between them, and the syntax checker (`super::check`) follows
//! `hclsyntax`'s parser over them, so both agree byte for byte with what
//! Packer does. (hcl-edit, which the evaluator uses, keeps no such token
//! stream: heredoc lines, template sequences and comments that swallow
//! their newline are all `hclsyntax` details the formatter depends on.)

use unicode_ident::{is_xid_continue, is_xid_start};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Tok {
    OBrace,
    CBrace,
    OBrack,
    CBrack,
    OParen,
    CParen,
    OQuote,
    CQuote,
    OHeredoc,
    CHeredoc,
    Star,
    Slash,
    Plus,
    Minus,
    Percent,
    Equal,
    EqualOp,
    NotEqual,
    LessThan,
    LessThanEq,
    GreaterThan,
    GreaterThanEq,
    And,
    Or,
    Bang,
    Dot,
    Comma,
    DoubleColon,
    Ellipsis,
    FatArrow,
    Question,
    Colon,
    TemplateInterp,
    TemplateControl,
    TemplateSeqEnd,
    QuotedLit,
    StringLit,
    NumberLit,
    Ident,
    Comment,
    Newline,
    Eof,
    BitwiseAnd,
    BitwiseOr,
    BitwiseNot,
    BitwiseXor,
    Semicolon,
    Backtick,
    Apostrophe,
    QuotedNewline,
    Invalid,
    BadUtf8,
}

impl Tok {
    /// +1 for an opening bracket, -1 for a closing one (hclwrite's count).
    pub fn bracket_change(self) -> i32 {
        match self {
            Tok::OBrace
            | Tok::OBrack
            | Tok::OParen
            | Tok::TemplateControl
            | Tok::TemplateInterp => 1,
            Tok::CBrace | Tok::CBrack | Tok::CParen | Tok::TemplateSeqEnd => -1,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Tok,
    /// Byte offsets (u32 keeps a token in 12 bytes: files are far smaller than 4 GiB).
    pub start: u32,
    pub end: u32,
}

impl Token {
    #[inline]
    pub fn start(&self) -> usize {
        self.start as usize
    }
    #[inline]
    pub fn end(&self) -> usize {
        self.end as usize
    }
}

#[derive(Clone, Copy)]
enum Mode {
    Main,
    Quoted,
    Heredoc,
}

struct Heredoc {
    marker: (usize, usize),
    start_of_line: bool,
}

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    out: Vec<Token>,
    modes: Vec<Mode>,
    braces: i64,
    ret_braces: Vec<i64>,
    heredocs: Vec<Heredoc>,
}

/// The UTF-8 character at `i`: `Some((char, len))`, or `None` for a bad byte.
fn char_at(src: &[u8], i: usize) -> Option<(char, usize)> {
    let b = src[i];
    let len = match b {
        0x00..=0x7f => return Some((b as char, 1)),
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let s = src.get(i..i + len)?;
    std::str::from_utf8(s)
        .ok()
        .and_then(|s| s.chars().next())
        .map(|c| (c, len))
}

fn is_ident_start(src: &[u8], i: usize) -> Option<usize> {
    match src[i] {
        b'a'..=b'z' | b'A'..=b'Z' | b'_' => Some(1),
        b if b < 0x80 => None,
        _ => char_at(src, i)
            .filter(|(c, _)| is_xid_start(*c))
            .map(|(_, l)| l),
    }
}

fn ident_len(src: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < src.len() {
        let b = src[j];
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            j += 1;
        } else if b >= 0x80 {
            match char_at(src, j) {
                Some((c, l)) if is_xid_continue(c) => j += l,
                _ => break,
            }
        } else {
            break;
        }
    }
    j - start
}

impl<'a> Lexer<'a> {
    fn emit(&mut self, kind: Tok, len: usize) {
        self.out.push(Token {
            kind,
            start: self.pos as u32,
            end: (self.pos + len) as u32,
        });
        self.pos += len;
    }

    fn peek(&self, off: usize) -> u8 {
        self.src.get(self.pos + off).copied().unwrap_or(0)
    }

    /// Emit one bad or unknown character.
    fn invalid(&mut self) {
        match char_at(self.src, self.pos) {
            Some((_, l)) => self.emit(Tok::Invalid, l),
            None => self.emit(Tok::BadUtf8, 1),
        }
    }

    /// `${`, `${~`, `%{`, `%{~` at the current position, if any.
    fn template_open(&self) -> Option<(Tok, usize)> {
        let kind = match (self.peek(0), self.peek(1)) {
            (b'$', b'{') => Tok::TemplateInterp,
            (b'%', b'{') => Tok::TemplateControl,
            _ => return None,
        };
        Some((kind, if self.peek(2) == b'~' { 3 } else { 2 }))
    }

    fn begin_template_seq(&mut self, kind: Tok, len: usize) {
        self.emit(kind, len);
        self.braces += 1;
        self.ret_braces.push(self.braces);
        if let Some(h) = self.heredocs.last_mut() {
            h.start_of_line = false;
        }
        self.modes.push(Mode::Main);
    }

    fn close_brace(&mut self, len: usize, always_seq_end: bool) {
        if self.ret_braces.last() == Some(&self.braces) {
            self.emit(Tok::TemplateSeqEnd, len);
            self.braces -= 1;
            self.ret_braces.pop();
            self.modes.pop();
        } else {
            self.emit(
                if always_seq_end {
                    Tok::TemplateSeqEnd
                } else {
                    Tok::CBrace
                },
                len,
            );
            self.braces -= 1;
        }
    }

    fn main(&mut self) {
        let src = self.src;
        let b = src[self.pos];
        let two = (b, self.peek(1));
        match b {
            b' ' | b'\t' => {
                while matches!(self.peek(0), b' ' | b'\t') {
                    self.pos += 1;
                }
            }
            b'0'..=b'9' => {
                let mut j = self.pos + 1;
                let mut last = j;
                while j < src.len() {
                    match src[j] {
                        b'0'..=b'9' => {
                            j += 1;
                            last = j;
                        }
                        b'.' => j += 1,
                        b'e' | b'E' => {
                            let n = src.get(j + 1).copied().unwrap_or(0);
                            if n.is_ascii_digit() {
                                j += 2;
                                last = j;
                            } else if (n == b'+' || n == b'-')
                                && src.get(j + 2).is_some_and(u8::is_ascii_digit)
                            {
                                j += 3;
                                last = j;
                            } else {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
                self.emit(Tok::NumberLit, last - self.pos);
            }
            b'#' => self.line_comment(),
            b'/' if self.peek(1) == b'/' => self.line_comment(),
            b'/' if self.peek(1) == b'*' => {
                let rest = &src[self.pos + 2..];
                match rest.windows(2).position(|w| w == b"*/") {
                    Some(k) => self.emit(Tok::Comment, k + 4),
                    None => self.emit(Tok::Slash, 1),
                }
            }
            b'\n' => self.emit(Tok::Newline, 1),
            b'\r' if self.peek(1) == b'\n' => self.emit(Tok::Newline, 2),
            b'<' if self.peek(1) == b'<' => {
                // '<<' '-'? Ident Newline
                let mut j = self.pos + 2;
                if src.get(j) == Some(&b'-') {
                    j += 1;
                }
                let ident = if j < src.len() {
                    is_ident_start(src, j).map(|l| l + ident_len(src, j + l))
                } else {
                    None
                };
                let nl = ident.and_then(|n| match (src.get(j + n), src.get(j + n + 1)) {
                    (Some(b'\n'), _) => Some(1),
                    (Some(b'\r'), Some(b'\n')) => Some(2),
                    _ => None,
                });
                match (ident, nl) {
                    (Some(n), Some(nl)) => {
                        let len = j + n + nl - self.pos;
                        self.heredocs.push(Heredoc {
                            marker: (j, j + n),
                            start_of_line: true,
                        });
                        self.emit(Tok::OHeredoc, len);
                        self.modes.push(Mode::Heredoc);
                    }
                    _ => self.emit(Tok::LessThan, 1),
                }
            }
            b'{' => {
                self.emit(Tok::OBrace, 1);
                self.braces += 1;
            }
            b'}' => self.close_brace(1, false),
            b'~' if self.peek(1) == b'}' => self.close_brace(2, true),
            b'"' => {
                self.emit(Tok::OQuote, 1);
                self.modes.push(Mode::Quoted);
            }
            _ => {
                let (kind, len) = match two {
                    (b'=', b'=') => (Tok::EqualOp, 2),
                    (b'!', b'=') => (Tok::NotEqual, 2),
                    (b'>', b'=') => (Tok::GreaterThanEq, 2),
                    (b'<', b'=') => (Tok::LessThanEq, 2),
                    (b'&', b'&') => (Tok::And, 2),
                    (b'|', b'|') => (Tok::Or, 2),
                    (b':', b':') => (Tok::DoubleColon, 2),
                    (b'=', b'>') => (Tok::FatArrow, 2),
                    (b'.', b'.') if self.peek(2) == b'.' => (Tok::Ellipsis, 3),
                    _ => match b {
                        b'[' => (Tok::OBrack, 1),
                        b']' => (Tok::CBrack, 1),
                        b'(' => (Tok::OParen, 1),
                        b')' => (Tok::CParen, 1),
                        b'.' => (Tok::Dot, 1),
                        b',' => (Tok::Comma, 1),
                        b'*' => (Tok::Star, 1),
                        b'/' => (Tok::Slash, 1),
                        b'%' => (Tok::Percent, 1),
                        b'+' => (Tok::Plus, 1),
                        b'-' => (Tok::Minus, 1),
                        b'=' => (Tok::Equal, 1),
                        b'<' => (Tok::LessThan, 1),
                        b'>' => (Tok::GreaterThan, 1),
                        b'!' => (Tok::Bang, 1),
                        b'?' => (Tok::Question, 1),
                        b':' => (Tok::Colon, 1),
                        b'&' => (Tok::BitwiseAnd, 1),
                        b'|' => (Tok::BitwiseOr, 1),
                        b'~' => (Tok::BitwiseNot, 1),
                        b'^' => (Tok::BitwiseXor, 1),
                        b';' => (Tok::Semicolon, 1),
                        b'`' => (Tok::Backtick, 1),
                        b'\'' => (Tok::Apostrophe, 1),
                        _ => match is_ident_start(src, self.pos) {
                            Some(l) => (Tok::Ident, l + ident_len(src, self.pos + l)),
                            None => return self.invalid(),
                        },
                    },
                };
                self.emit(kind, len);
            }
        }
    }

    /// `#` or `//` up to and including the end of the line.
    fn line_comment(&mut self) {
        let rest = &self.src[self.pos..];
        let len = rest
            .iter()
            .position(|&c| c == b'\n')
            .map(|k| k + 1)
            .unwrap_or(rest.len());
        self.emit(Tok::Comment, len);
    }

    fn quoted(&mut self) {
        if let Some((kind, len)) = self.template_open() {
            return self.begin_template_seq(kind, len);
        }
        let src = self.src;
        match src[self.pos] {
            b'"' => {
                self.emit(Tok::CQuote, 1);
                self.modes.pop();
            }
            b'$' | b'%' => {
                // `$${` / `%%{` (with an optional `~`) escape a sequence.
                let b = src[self.pos];
                let len = if self.peek(1) == b && self.peek(2) == b'{' {
                    if self.peek(3) == b'~' {
                        4
                    } else {
                        3
                    }
                } else {
                    1
                };
                self.emit(Tok::QuotedLit, len);
            }
            b'\r' | b'\n' => {
                let n = src[self.pos..]
                    .iter()
                    .take_while(|&&c| c == b'\r' || c == b'\n')
                    .count();
                self.emit(Tok::QuotedNewline, n);
            }
            _ => {
                let mut j = self.pos;
                while j < src.len() {
                    match src[j] {
                        b'$' | b'%' | b'"' | b'\r' | b'\n' => break,
                        b'\\' => match src.get(j + 1) {
                            None | Some(b'\r') | Some(b'\n') => break,
                            Some(_) => match char_at(src, j + 1) {
                                Some((_, l)) => j += 1 + l,
                                None => break,
                            },
                        },
                        c if c < 0x80 => j += 1,
                        _ => match char_at(src, j) {
                            Some((_, l)) => j += l,
                            None => break,
                        },
                    }
                }
                if j > self.pos {
                    self.emit(Tok::QuotedLit, j - self.pos);
                } else {
                    self.invalid();
                }
            }
        }
    }

    fn heredoc(&mut self) {
        if let Some((kind, len)) = self.template_open() {
            return self.begin_template_seq(kind, len);
        }
        let src = self.src;
        let b = src[self.pos];
        if b == b'$' || b == b'%' {
            // `$${`, or `$` with the following character (hclsyntax's quirk).
            let len = match self.peek(1) {
                n if n == b && self.peek(2) == b'{' => {
                    if self.peek(3) == b'~' {
                        4
                    } else {
                        3
                    }
                }
                b'$' | b'%' | b'\r' | b'\n' | 0 => 1,
                _ => 1 + char_at(src, self.pos + 1).map(|(_, l)| l).unwrap_or(0),
            };
            if let Some(h) = self.heredocs.last_mut() {
                h.start_of_line = false;
            }
            return self.emit(Tok::StringLit, len);
        }
        let mut j = self.pos;
        while j < src.len() && !matches!(src[j], b'$' | b'%' | b'\n' | b'\r') {
            j += 1;
        }
        let eol = match (src.get(j), src.get(j + 1)) {
            (Some(b'\n'), _) => 1,
            (Some(b'\r'), Some(b'\n')) => 2,
            _ => 0,
        };
        if eol == 0 {
            if j == self.pos {
                // A lone '\r': not part of any literal.
                return self.invalid();
            }
            if let Some(h) = self.heredocs.last_mut() {
                h.start_of_line = false;
            }
            return self.emit(Tok::StringLit, j - self.pos);
        }
        let Some(top) = self.heredocs.last_mut() else {
            return self.emit(Tok::StringLit, j + eol - self.pos);
        };
        if top.start_of_line {
            let line = &src[self.pos..j];
            let marker = &src[top.marker.0..top.marker.1];
            if trim_space(line) == marker {
                self.emit(Tok::CHeredoc, j - self.pos);
                self.emit(Tok::Newline, eol);
                self.heredocs.pop();
                self.modes.pop();
                return;
            }
        }
        top.start_of_line = true;
        self.emit(Tok::StringLit, j + eol - self.pos);
    }
}

/// Go's `bytes.TrimSpace`.
fn trim_space(b: &[u8]) -> &[u8] {
    match std::str::from_utf8(b) {
        Ok(s) => s.trim_matches(char::is_whitespace).as_bytes(),
        Err(_) => b,
    }
}

/// Split `src` (a UTF-8 BOM already removed) into tokens, ending with `Eof`.
pub fn lex(src: &[u8]) -> Vec<Token> {
    let mut lx = Lexer {
        src,
        pos: 0,
        out: Vec::with_capacity(src.len() / 3 + 1),
        modes: vec![Mode::Main],
        braces: 0,
        ret_braces: Vec::new(),
        heredocs: Vec::new(),
    };
    while lx.pos < src.len() {
        match lx.modes.last().copied().unwrap_or(Mode::Main) {
            Mode::Main => lx.main(),
            Mode::Quoted => lx.quoted(),
            Mode::Heredoc => lx.heredoc(),
        }
    }
    lx.out.push(Token {
        kind: Tok::Eof,
        start: src.len() as u32,
        end: src.len() as u32,
    });
    lx.out
}

/// `src` without a leading UTF-8 byte-order mark.
pub fn strip_bom(src: &[u8]) -> &[u8] {
    src.strip_prefix(b"\xef\xbb\xbf").unwrap_or(src)
}
