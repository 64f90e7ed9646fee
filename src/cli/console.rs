//! `kiln console`: evaluate expressions against a template's scope.

use super::{print_diags, stderr_color, VarArgs};
use crate::diag::{Diag, SourceFile};
use crate::frontend::hcl::eval::eval_str;
use crate::frontend::hcl::functions::FnEnv;
use crate::value::{console_format, Attrs, Value};
use clap::Args;
use std::io::{BufRead, IsTerminal, Write};
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
    format!(
        "Error: {}\n\n  on <console-input> line 1:\n  (source code not available)\n\n{}\n\n\n",
        d.summary,
        d.detail.clone().unwrap_or_default()
    )
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
        let mut line = String::new();
        match stdin.lock().read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
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
