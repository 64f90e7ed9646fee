//! Go's text/template as legacy JSON templates use it: parse text and
//! `{{ … }}` actions (pipelines, `"…"` with Go's escapes, raw `` `…` ``,
//! numbers, fields, parentheses) into nodes, print them back as Go's
//! `String()` does, and execute them with a function map. The JSON front
//! end interpolates with it; `hcl2_upgrade` runs every block through it as
//! Packer's upgrader does, so its quirks decide the bytes written there.

use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub enum Arg {
    Ident(String),
    Field(String),
    Var(String),
    Dot,
    /// A quoted or raw string: its source text and its value.
    Str(String, String),
    Num(String),
    Pipe(Box<Pipe>),
}

#[derive(Debug, Clone)]
pub struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub struct Pipe {
    pub cmds: Vec<Cmd>,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    /// The pipeline and the action's source text (`{{ build `ID` }}`).
    Action(Pipe, String),
    /// `if`, `range`, `with`, … : nodes the upgrader cannot rewrite.
    Other(&'static str),
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arg::Ident(s) | Arg::Field(s) | Arg::Var(s) | Arg::Num(s) => write!(f, "{s}"),
            Arg::Str(src, _) => write!(f, "{src}"),
            Arg::Dot => write!(f, "."),
            Arg::Pipe(p) => write!(f, "({p})"),
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.args.iter().map(|a| a.to_string()).collect();
        write!(f, "{}", parts.join(" "))
    }
}

impl std::fmt::Display for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.cmds.iter().map(|c| c.to_string()).collect();
        write!(f, "{}", parts.join(" | "))
    }
}

pub fn action_string(p: &Pipe) -> String {
    format!("{{{{{p}}}}}")
}

/// Parse errors carry Go's wording: `template: NAME:LINE: message`.
pub fn parse(src: &str, funcs: &dyn Fn(&str) -> bool) -> Result<Vec<Node>, String> {
    let mut nodes = Vec::new();
    let mut rest = src;
    let mut line = 1usize;
    let err = |line: usize, m: String| format!("template: hcl2_upgrade:{line}: {m}");
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        let mut body = &rest[i + 2..];
        if body.starts_with("- ") || body.starts_with("-\t") || body.starts_with("-\n") {
            text = text.trim_end();
            body = &body[1..];
        }
        if !text.is_empty() {
            nodes.push(Node::Text(text.to_string()));
        }
        line += rest[..i].matches('\n').count();
        let start_line = line;
        // Comments.
        let trimmed = body.trim_start();
        if let Some(c) = trimmed.strip_prefix("/*") {
            let Some(end) = c.find("*/") else {
                return Err(err(line, "unclosed comment".into()));
            };
            let after = c[end + 2..].trim_start();
            let after = after
                .strip_prefix("-}}")
                .map(|a| a.trim_start())
                .or_else(|| after.strip_prefix("}}"))
                .ok_or_else(|| err(line, "comment ends before closing delimiter".into()))?;
            line += body[..body.len() - after.len()].matches('\n').count();
            rest = after;
            continue;
        }
        let (pipe, consumed, trim_right) =
            parse_action(body, start_line).map_err(|m| err(start_line, m))?;
        let raw = format!("{{{{{}", &body[..consumed]);
        line += body[..consumed].matches('\n').count();
        rest = &body[consumed..];
        if trim_right {
            rest = rest.trim_start();
        }
        if let Some(Arg::Ident(k)) = pipe.cmds.first().and_then(|c| c.args.first()) {
            let keyword: Option<&'static str> = match k.as_str() {
                "if" => Some("*parse.IfNode"),
                "range" => Some("*parse.RangeNode"),
                "with" => Some("*parse.WithNode"),
                "template" => Some("*parse.TemplateNode"),
                "end" | "else" | "define" | "block" | "break" | "continue" => {
                    Some("*parse.ListNode")
                }
                _ => None,
            };
            if let Some(k) = keyword {
                nodes.push(Node::Other(k));
                continue;
            }
        }
        for c in &pipe.cmds {
            check_funcs(c, funcs).map_err(|m| err(start_line, m))?;
        }
        nodes.push(Node::Action(pipe, raw));
    }
    if !rest.is_empty() {
        nodes.push(Node::Text(rest.to_string()));
    }
    Ok(nodes)
}

fn check_funcs(c: &Cmd, funcs: &dyn Fn(&str) -> bool) -> Result<(), String> {
    for a in &c.args {
        match a {
            Arg::Ident(name)
                if !matches!(name.as_str(), "true" | "false" | "nil") && !funcs(name) =>
            {
                return Err(format!("function {name:?} not defined"))
            }
            Arg::Pipe(p) => {
                for c in &p.cmds {
                    check_funcs(c, funcs)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// One action's pipeline; returns it, the bytes consumed (through `}}`)
/// and whether it ended with `-}}`.
fn parse_action(s: &str, line: usize) -> Result<(Pipe, usize, bool), String> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut stack: Vec<Pipe> = vec![Pipe {
        cmds: vec![Cmd { args: vec![] }],
        line,
    }];
    loop {
        let Some(&c) = b.get(i) else {
            return Err("unclosed action".into());
        };
        let top = stack.last_mut().ok_or("internal")?;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => {
                if s[i..].trim_start().starts_with("-}}") && stack.len() == 1 {
                    let j = i + (s[i..].len() - s[i..].trim_start().len());
                    return finish(stack, j + 3, true);
                }
                i += 1;
            }
            b'}' if s[i..].starts_with("}}") => {
                if stack.len() != 1 {
                    return Err("unclosed left paren".into());
                }
                return finish(stack, i + 2, false);
            }
            b'|' => {
                if top.cmds.last().is_some_and(|c| c.args.is_empty()) {
                    return Err("missing command".into());
                }
                top.cmds.push(Cmd { args: vec![] });
                i += 1;
            }
            b'(' => {
                stack.push(Pipe {
                    cmds: vec![Cmd { args: vec![] }],
                    line,
                });
                i += 1;
            }
            b')' => {
                if stack.len() < 2 {
                    return Err("unexpected right paren".into());
                }
                let p = stack.pop().ok_or("internal")?;
                push_arg(&mut stack, Arg::Pipe(Box::new(p)));
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    if b[j] == b'\\' {
                        j += 1;
                    }
                    if j < b.len() && b[j] == b'\n' {
                        return Err("unterminated quoted string".into());
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return Err("unterminated quoted string".into());
                }
                let src = &s[i..=j];
                let val = go_unquote(src).ok_or_else(|| format!("invalid syntax: {src}"))?;
                push_arg(&mut stack, Arg::Str(src.to_string(), val));
                i = j + 1;
            }
            b'`' => {
                let Some(end) = s[i + 1..].find('`') else {
                    return Err("unterminated raw quoted string".into());
                };
                let src = &s[i..i + 2 + end];
                push_arg(
                    &mut stack,
                    Arg::Str(src.to_string(), src[1..src.len() - 1].to_string()),
                );
                i += 2 + end;
            }
            b'.' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
            {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] == b'.')
                {
                    j += 1;
                }
                push_arg(&mut stack, Arg::Field(s[i..j].to_string()));
                i = j;
            }
            b'.' => {
                push_arg(&mut stack, Arg::Dot);
                i += 1;
            }
            b'$' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                push_arg(&mut stack, Arg::Var(s[i..j].to_string()));
                i = j;
            }
            c if c.is_ascii_digit()
                || ((c == b'-' || c == b'+') && b.get(i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'_')
                {
                    j += 1;
                }
                push_arg(&mut stack, Arg::Num(s[i..j].to_string()));
                i = j;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                push_arg(&mut stack, Arg::Ident(s[i..j].to_string()));
                i = j;
            }
            other => {
                let ch = s[i..].chars().next().unwrap_or(other as char);
                return Err(format!("unexpected {:?} in operand", ch.to_string())
                    .replace("\"\\\\\"", "\"\\\\\""));
            }
        }
    }
}

fn push_arg(stack: &mut [Pipe], a: Arg) {
    if let Some(p) = stack.last_mut() {
        if let Some(c) = p.cmds.last_mut() {
            c.args.push(a);
        }
    }
}

fn finish(
    mut stack: Vec<Pipe>,
    consumed: usize,
    trim: bool,
) -> Result<(Pipe, usize, bool), String> {
    let p = stack.pop().ok_or("internal")?;
    if p.cmds.iter().all(|c| c.args.is_empty()) {
        return Err("missing value for command".into());
    }
    if p.cmds.iter().any(|c| c.args.is_empty()) {
        return Err("missing command".into());
    }
    Ok((p, consumed, trim))
}

/// Go's strconv.Unquote for a double-quoted string.
pub fn go_unquote(src: &str) -> Option<String> {
    let inner = src.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' || c == '\n' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => return None,
            'x' => {
                let h: String = chars.by_ref().take(2).collect();
                out.push(char::from(u8::from_str_radix(&h, 16).ok()?));
            }
            'u' => {
                let h: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            'U' => {
                let h: String = chars.by_ref().take(8).collect();
                out.push(char::from_u32(u32::from_str_radix(&h, 16).ok()?)?);
            }
            d @ '0'..='7' => {
                let rest: String = chars.by_ref().take(2).collect();
                out.push(char::from(
                    u8::from_str_radix(&format!("{d}{rest}"), 8).ok()?,
                ));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A value during execution.
#[derive(Debug, Clone)]
pub enum Val {
    Str(String),
    Int(i64),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Str(s) => s.clone(),
            Val::Int(i) => i.to_string(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
pub enum P {
    S,
    I,
}

/// A template function: its parameters (`variadic`: any number of strings)
/// and body.
pub struct Func<'a> {
    pub params: &'static [P],
    pub variadic: bool,
    pub call: Call<'a>,
}

/// A template function's body: its arguments in, its text out.
pub type Call<'a> = Box<dyn FnMut(&[Val]) -> String + 'a>;

pub type Funcs<'a> = BTreeMap<&'static str, Func<'a>>;

/// Execute `nodes` (Go's Execute with nil data).
pub fn execute(nodes: &[Node], funcs: &mut Funcs) -> Result<String, String> {
    let mut out = String::new();
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Other(_) => return Err("template: hcl2_upgrade: unsupported node".into()),
            Node::Action(p, _) => out.push_str(&eval_pipe(p, funcs)?.text()),
        }
    }
    Ok(out)
}

fn exec_err(p: &Pipe, at: &str, m: String) -> String {
    format!(
        "template: hcl2_upgrade:{}: executing \"hcl2_upgrade\" at <{at}>: {m}",
        p.line
    )
}

fn eval_pipe(p: &Pipe, funcs: &mut Funcs) -> Result<Val, String> {
    let mut piped: Option<Val> = None;
    for c in &p.cmds {
        piped = Some(eval_cmd(p, c, piped.take(), funcs)?);
    }
    piped.ok_or_else(|| exec_err(p, "", "empty pipeline".into()))
}

fn eval_arg(p: &Pipe, a: &Arg, funcs: &mut Funcs) -> Result<Val, String> {
    match a {
        Arg::Str(_, v) => Ok(Val::Str(v.clone())),
        Arg::Num(n) => n
            .parse()
            .map(Val::Int)
            .map_err(|_| exec_err(p, n, format!("bad number syntax: {n}"))),
        Arg::Pipe(inner) => eval_pipe(inner, funcs),
        Arg::Ident(name) => call(p, name, &[], None, funcs),
        Arg::Field(f) => Err(exec_err(
            p,
            f,
            format!("nil data; no entry for key {:?}", f.trim_start_matches('.')),
        )),
        Arg::Dot => Ok(Val::Str("<no value>".into())),
        Arg::Var(v) => Err(exec_err(p, v, format!("undefined variable: {v}"))),
    }
}

fn eval_cmd(p: &Pipe, c: &Cmd, piped: Option<Val>, funcs: &mut Funcs) -> Result<Val, String> {
    let Some(first) = c.args.first() else {
        return Err(exec_err(p, "", "empty command".into()));
    };
    match first {
        Arg::Ident(name) => call(p, name, &c.args[1..], piped, funcs),
        other => {
            if c.args.len() > 1 || piped.is_some() {
                return Err(exec_err(
                    p,
                    &other.to_string(),
                    format!("can't give argument to non-function {other}"),
                ));
            }
            eval_arg(p, other, funcs)
        }
    }
}

fn call(
    p: &Pipe,
    name: &str,
    args: &[Arg],
    piped: Option<Val>,
    funcs: &mut Funcs,
) -> Result<Val, String> {
    let mut vals = Vec::new();
    for a in args {
        vals.push(eval_arg(p, a, funcs)?);
    }
    if let Some(v) = piped {
        vals.push(v);
    }
    let Some(f) = funcs.get_mut(name) else {
        return Err(exec_err(p, name, format!("function {name:?} not defined")));
    };
    if f.variadic {
        if let Some(bad) = vals.iter().find(|v| matches!(v, Val::Int(_))) {
            return Err(exec_err(
                p,
                name,
                format!(
                    "wrong type for value; expected string; got int ({})",
                    bad.text()
                ),
            ));
        }
    } else {
        if vals.len() != f.params.len() {
            return Err(exec_err(
                p,
                name,
                format!(
                    "wrong number of args for {name}: want {} got {}",
                    f.params.len(),
                    vals.len()
                ),
            ));
        }
        for (v, want) in vals.iter().zip(f.params) {
            match (v, want) {
                (Val::Str(_), P::I) => {
                    return Err(exec_err(
                        p,
                        name,
                        "wrong type for value; expected int; got string".into(),
                    ))
                }
                (Val::Int(_), P::S) => {
                    return Err(exec_err(
                        p,
                        name,
                        "wrong type for value; expected string; got int".into(),
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(Val::Str((f.call)(&vals)))
}
