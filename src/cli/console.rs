//! `kiln console`: evaluate expressions against a template's scope.

use super::{print_diags, stderr_color, VarArgs};
use crate::diag::{Diag, SourceFile};
use crate::frontend::hcl::eval::eval_str;
use crate::frontend::hcl::functions::FnEnv;
use crate::value::{console_format, Attrs, Value};
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

#[derive(Args)]
pub struct ConsoleArgs {
    #[command(flatten)]
    vars: VarArgs,
    /// Template file or directory (optional)
    template: Option<PathBuf>,
}

fn empty_scope() -> (Attrs, FnEnv) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut root = Attrs::new();
    root.insert("var".into(), Value::Object(Attrs::new()));
    root.insert("local".into(), Value::Object(Attrs::new()));
    root.insert(
        "path".into(),
        Value::Object(Attrs::from([
            ("root".to_string(), Value::string(".")),
            (
                "cwd".to_string(),
                Value::String(cwd.to_string_lossy().into_owned()),
            ),
        ])),
    );
    root.insert(
        "packer".into(),
        Value::Object(Attrs::from([(
            "version".to_string(),
            Value::string(crate::frontend::hcl::PACKER_COMPAT_VERSION),
        )])),
    );
    (root, FnEnv::new(cwd))
}

/// Packer's console error layout.
fn console_error(d: &Diag) -> String {
    crate::ui::mask(&format!(
        "Error: {}\n\n  on <console-input> line 1:\n  (source code not available)\n\n{}\n\n\n",
        d.summary,
        d.detail.clone().unwrap_or_default()
    ))
}

pub fn run(a: ConsoleArgs) -> i32 {
    let (root, env, secrets) = match &a.template {
        Some(t) => {
            let opts = match a.vars.load_options(t.clone()) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!("Error: {e}");
                    return 1;
                }
            };
            let (loaded, diags) = crate::frontend::load(&opts);
            print_diags(&diags, stderr_color());
            match loaded {
                Some(l) if !diags.has_errors() => (l.root, l.env, l.graph.sensitive),
                _ => return 1,
            }
        }
        None => {
            let (r, e) = empty_scope();
            (r, e, Vec::new())
        }
    };
    let interactive = std::io::stdin().is_terminal();
    let stdin = std::io::stdin();
    let mut code = 0;
    let mut out = std::io::stdout();
    loop {
        if interactive {
            print!("> ");
            let _ = out.flush();
        }
        let line = match read_line(&mut stdin.lock()) {
            Line::End => break,
            Line::Text(l) => l,
            // Input with no end of line in sight (`/dev/zero`) is not read
            // to its end, which may never come.
            Line::TooLong => {
                eprintln!("Error: a console line is limited to {MAX_LINE} bytes; stopped reading");
                code = 1;
                break;
            }
            Line::NotUtf8(at) => {
                eprintln!("Error: Invalid input: the line is not valid UTF-8 (byte {at}); the line was skipped");
                code = 1;
                continue;
            }
        };
        let expr = line.trim_end_matches(['\n', '\r']);
        if expr.trim().is_empty() {
            continue;
        }
        if interactive && (expr.trim() == "exit" || expr.trim() == "quit") {
            break;
        }
        let src = SourceFile::new("<console-input>", expr.to_string());
        match eval_str(&src, &root, &env) {
            Ok(v) => {
                let _ = writeln!(out, "{}", crate::ui::redact(&secrets, &console_format(&v)));
            }
            Err(d) => {
                eprint!("{}", console_error(&d));
                code = 1;
            }
        }
    }
    code
}

/// The longest console line read (an expression, not a file: a line fed
/// from `/dev/zero` must not take all memory).
const MAX_LINE: usize = 1 << 20;

enum Line {
    Text(String),
    NotUtf8(usize),
    TooLong,
    End,
}

/// One line of `r`, of at most [`MAX_LINE`] bytes; bad UTF-8 spoils only
/// its own line.
fn read_line(r: &mut impl std::io::BufRead) -> Line {
    let mut bytes = Vec::new();
    loop {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Line::End,
        };
        if buf.is_empty() {
            if bytes.is_empty() {
                return Line::End;
            }
            break;
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if bytes.len() + n > MAX_LINE {
            return Line::TooLong;
        }
        bytes.extend_from_slice(chunk);
        r.consume(n);
        if done {
            break;
        }
    }
    match String::from_utf8(bytes) {
        Ok(s) => Line::Text(s),
        Err(e) => Line::NotUtf8(e.utf8_error().valid_up_to()),
    }
}
