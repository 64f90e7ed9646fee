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
    /// Without a template: `hcl2` (kiln's default) evaluates HCL2
    /// expressions, `json` renders Go templates (`{{timestamp}}`) as a JSON
    /// template's strings are
    #[arg(long = "config-type", value_parser = ["hcl2", "json"])]
    config_type: Option<String>,
    /// Template file or directory (optional)
    template: Option<PathBuf>,
}

/// What a line is: an HCL2 expression, or a legacy JSON template's string.
enum Mode {
    Hcl {
        root: Attrs,
        env: FnEnv,
        /// `variables`' answer: Packer's listing of inputs and locals.
        listing: String,
    },
    Json {
        user: std::collections::BTreeMap<String, String>,
        run: crate::frontend::legacy::interp::Run,
    },
}

/// Packer's `help` in HCL2 mode.
const HCL_HELP: &str = r#"Packer console HCL2 Mode.
The Packer console allows you to experiment with Packer interpolations.
You may access variables and functions in the Packer config you called the
console with.

Type in the interpolation to test and hit <enter> to see the result.

"upper(var.foo.id)" would evaluate to the ID of "foo" and uppercase is, if it
exists in your config file.

"variables" will dump all available variables and their values.

To exit the console, type "exit" and hit <enter>, or use Control-C.

/!\ It is not possible to use go templating interpolation like "{{timestamp}}"
with in HCL2 mode."#;

/// Packer's `help` in JSON mode.
const JSON_HELP: &str = r#"Packer console JSON Mode.
The Packer console allows you to experiment with Packer interpolations.
You may access variables in the Packer config you called the console with.

Type in the interpolation to test and hit <enter> to see the result.

"variables" will dump all available variables and their values.

"{{timestamp}}" will output the timestamp, for example "1559855090".

To exit the console, type "exit" and hit <enter>, or use Control-C.

/!\ If you would like to start console in hcl2 mode without a config you can
use the --config-type=hcl2 option."#;

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
    let (mode, secrets) = match &a.template {
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
            let l = match loaded {
                Some(l) if !diags.has_errors() => l,
                _ => return 1,
            };
            let mode = if l.graph.frontend == "json" {
                let user = l
                    .root
                    .get("var")
                    .and_then(Value::as_attrs)
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                            .collect()
                    })
                    .unwrap_or_default();
                let dir = t.parent().unwrap_or(std::path::Path::new("."));
                Mode::Json {
                    user,
                    run: crate::frontend::legacy::interp::Run::new(dir),
                }
            } else {
                Mode::Hcl {
                    listing: super::inspect::variables_listing(&l.graph.variables, &l.graph.locals),
                    root: l.root,
                    env: l.env,
                }
            };
            (mode, l.graph.sensitive)
        }
        None if a.config_type.as_deref() == Some("json") => {
            let user = match a.vars.load_options(PathBuf::from(".")) {
                Ok(o) => o.vars.into_iter().collect(),
                Err(e) => {
                    eprintln!("Error: {e}");
                    return 1;
                }
            };
            let mode = Mode::Json {
                user,
                run: crate::frontend::legacy::interp::Run::new(std::path::Path::new(".")),
            };
            (mode, Vec::new())
        }
        None => {
            let (root, env) = empty_scope();
            let listing = super::inspect::variables_listing(&[], &[]);
            (Mode::Hcl { root, env, listing }, Vec::new())
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
        // Packer's REPL commands, in both modes.
        match expr.trim() {
            "" => continue,
            "exit" | "quit" => break,
            "help" => {
                let help = match mode {
                    Mode::Hcl { .. } => HCL_HELP,
                    Mode::Json { .. } => JSON_HELP,
                };
                let _ = writeln!(out, "{help}");
                continue;
            }
            "variables" => {
                let text = match &mode {
                    Mode::Hcl { listing, .. } => listing.clone(),
                    Mode::Json { user, .. } => {
                        let mut t = String::from("\n");
                        for (k, v) in user {
                            t.push_str(&format!("{k}: {v},\n"));
                        }
                        t
                    }
                };
                let _ = writeln!(out, "{}", crate::ui::redact(&secrets, &text));
                continue;
            }
            _ => {}
        }
        let result = match &mode {
            Mode::Hcl { root, env, .. } => {
                let src = SourceFile::new("<console-input>", expr.to_string());
                eval_str(&src, root, env)
                    .map(|v| console_format(&v))
                    .map_err(|d| console_error(&d))
            }
            Mode::Json { user, run } => {
                let ctx = crate::frontend::legacy::interp::Ctx {
                    user,
                    allow_env: false,
                    build_name: None,
                    build_type: None,
                    template_dir: &run.template_dir,
                    timestamp: &run.timestamp,
                    uuid: &run.uuid,
                    names: crate::frontend::legacy::interp::Names::Core,
                };
                crate::frontend::legacy::interp::render(expr, &ctx).map_err(|e| {
                    crate::ui::mask(&format!("Error: Interpolation error\n\n{e}\n\n\n"))
                })
            }
        };
        match result {
            Ok(text) => {
                let _ = writeln!(out, "{}", crate::ui::redact(&secrets, &text));
            }
            Err(e) => {
                eprint!("{e}");
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
