//! `kiln fmt`: rewrite HCL2 templates and var files in canonical layout.

use crate::diag::{render, SourceFile};
use crate::frontend::hcl::lex::strip_bom;
use crate::frontend::hcl::parse::check_diag;
use clap::{ArgAction, Args};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct FmtArgs {
    /// Check if the input is formatted; exit 3 when it is not (writes nothing)
    #[arg(long)]
    check: bool,
    /// Display diffs of formatting changes
    #[arg(long)]
    diff: bool,
    /// Write formatting changes back to the files (-write=false prints the formatted text instead)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    write: bool,
    /// Also process files in subdirectories
    #[arg(long)]
    recursive: bool,
    /// Files or directories to format; `-` reads stdin and writes stdout
    paths: Vec<PathBuf>,
}

/// What happened to one input.
enum Outcome {
    Unchanged,
    Changed,
    Failed,
}

struct Run {
    args: FmtArgs,
    color: bool,
    out: std::io::StdoutLock<'static>,
}

fn is_hcl_file(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    n.ends_with(".pkr.hcl") || n.ends_with(".pkrvars.hcl")
}

/// The files a directory argument stands for, sorted.
fn files_in(dir: &Path, recursive: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        // Names as Go's filepath.Join prints them: no leading "./".
        let p = if dir == Path::new(".") {
            PathBuf::from(e.file_name())
        } else {
            e.path()
        };
        // A link to a directory is not followed (as Packer's walk does
        // not): it could lead out of the tree, or round in a loop.
        if e.file_type()?.is_dir() {
            if recursive {
                dirs.push(p);
            }
        } else if is_hcl_file(&p) {
            out.push(p);
        }
    }
    out.sort();
    dirs.sort();
    for d in dirs {
        out.extend(files_in(&d, true)?);
    }
    Ok(out)
}

impl Run {
    fn error(&self, msg: &str) {
        eprintln!("Error: {msg}");
    }

    /// Check and format; print the diagnostic when the syntax is wrong.
    fn format(&self, name: &str, src: &[u8]) -> Option<Vec<u8>> {
        match crate::fmt::format_checked(src) {
            Ok(out) => Some(out),
            Err(e) => {
                // The same diagnostic validate and build give.
                let file =
                    SourceFile::new(name, String::from_utf8_lossy(strip_bom(src)).into_owned());
                eprint!("{}", render(&[check_diag(&file, &e)], self.color));
                None
            }
        }
    }

    fn diff(&mut self, name: &str, old: &[u8], new: &[u8]) {
        let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
        let d = similar::TextDiff::from_lines(old.as_ref(), new.as_ref());
        let text = d
            .unified_diff()
            .context_radius(3)
            .header(&format!("old/{name}"), &format!("new/{name}"))
            .to_string();
        let _ = self.out.write_all(text.as_bytes());
    }

    fn stdin(&mut self) -> Outcome {
        let mut src = Vec::new();
        if let Err(e) = std::io::stdin().read_to_end(&mut src) {
            self.error(&format!("reading stdin: {e}"));
            return Outcome::Failed;
        }
        let Some(new) = self.format("<stdin>", &src) else {
            return Outcome::Failed;
        };
        let changed = new != src;
        if self.args.check {
            if changed {
                let _ = writeln!(self.out, "<stdin>");
            }
        } else {
            if self.args.diff && changed {
                self.diff("<stdin>", &src, &new);
            }
            let _ = self.out.write_all(&new);
        }
        if changed {
            Outcome::Changed
        } else {
            Outcome::Unchanged
        }
    }

    fn file(&mut self, path: &Path) -> Outcome {
        let name = path.display().to_string();
        let src = match crate::util::fs::read_regular(path) {
            Ok(s) => s,
            Err(e) => {
                self.error(&format!("reading {name}: {e}"));
                return Outcome::Failed;
            }
        };
        let Some(new) = self.format(&name, &src) else {
            return Outcome::Failed;
        };
        if new == src {
            return Outcome::Unchanged;
        }
        if !self.args.write && !self.args.check {
            // -write=false: show the result instead of writing it.
            if self.args.diff {
                self.diff(&name, &src, &new);
            } else {
                let _ = self.out.write_all(&new);
            }
            return Outcome::Changed;
        }
        let _ = writeln!(self.out, "{name}");
        if self.args.diff {
            self.diff(&name, &src, &new);
        }
        if self.args.check {
            return Outcome::Changed;
        }
        if std::fs::metadata(path).is_ok_and(|m| m.permissions().readonly()) {
            self.error(&format!("{name} is read-only; it was left unchanged"));
            return Outcome::Failed;
        }
        if let Err(e) = crate::util::fs::write_atomic(path, &new) {
            self.error(&format!("writing {name}: {e}; the file was left unchanged"));
            return Outcome::Failed;
        }
        Outcome::Changed
    }
}

pub fn run(args: FmtArgs) -> i32 {
    let color = super::stderr_color();
    let mut paths = args.paths.clone();
    if paths.is_empty() {
        paths.push(if std::io::stdin().is_terminal() {
            PathBuf::from(".")
        } else {
            PathBuf::from("-")
        });
    }
    let mut run = Run {
        args,
        color,
        out: std::io::stdout().lock(),
    };
    let (mut failed, mut changed) = (false, false);
    for p in paths {
        let outcomes: Vec<Outcome> = if p.as_os_str() == "-" {
            vec![run.stdin()]
        } else if p.is_dir() {
            match files_in(&p, run.args.recursive) {
                Ok(files) => files.iter().map(|f| run.file(f)).collect(),
                Err(e) => {
                    run.error(&format!("reading directory {}: {e}", p.display()));
                    vec![Outcome::Failed]
                }
            }
        } else if !p.exists() {
            run.error(&format!("no file or directory at {}", p.display()));
            vec![Outcome::Failed]
        } else if !is_hcl_file(&p) {
            run.error(&format!("file {} is not a HCL file: kiln fmt formats *.pkr.hcl and *.pkrvars.hcl files (JSON templates are left alone)", p.display()));
            vec![Outcome::Failed]
        } else {
            vec![run.file(&p)]
        };
        for o in outcomes {
            match o {
                Outcome::Failed => failed = true,
                Outcome::Changed => changed = true,
                Outcome::Unchanged => {}
            }
        }
    }
    let _ = run.out.flush();
    if failed {
        1
    } else if changed && run.args.check {
        3
    } else {
        0
    }
}
