//! `kiln fmt`: HashiCorp's formatter as the oracle, and the command's
//! behaviour on files, directories and stdin.
//!
//! - every case of `fixtures/fmt/` and, where it is, `../shared/oracle/cases/`:
//!   output identical to its `.expected`; every `.error` case refused and its
//!   file left untouched;
//! - every `*.pkr.hcl` / `*.pkrvars.hcl` under `../shared/anchors/`: identical
//!   to what HashiCorp's `hclwrite.Format` writes (`KILN_HCL_ORACLE`, built by
//!   `scripts/hcl-oracle.sh`), or refused by both;
//! - the command line: in-place rewrites, `-check`, `-diff`, `-write=false`,
//!   `-recursive`, stdin, refusals, atomic writes that keep permissions.

mod common;

use common::{kiln, shared, text};
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

fn fmt_stdin(input: &[u8], args: &[&str]) -> Output {
    common::run_with_stdin(
        kiln().arg("fmt").args(args).arg("-").env("NO_COLOR", "1"),
        input,
    )
}

fn first_diff(a: &[u8], b: &[u8]) -> String {
    let (a, b) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  got:  {x:?}\n  want: {y:?}", i + 1);
        }
    }
    format!(
        "lengths differ: got {} lines, want {}",
        a.lines().count(),
        b.lines().count()
    )
}

/// Every case in `dir`: `NAME.pkr.hcl` (or `NAME.pkrvars.hcl`) formats to
/// `NAME.expected`, or, without one, is refused and left untouched.
fn case_trials(dir: &Path, label: &str) -> Vec<Trial> {
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    inputs.retain(|p| {
        let n = p.to_string_lossy();
        n.ends_with(".pkr.hcl") || n.ends_with(".pkrvars.hcl")
    });
    inputs.sort();
    inputs
        .into_iter()
        .map(|input| {
            let stem = input
                .file_name()
                .map(|n| {
                    let n = n.to_string_lossy();
                    n.trim_end_matches(".pkr.hcl")
                        .trim_end_matches(".pkrvars.hcl")
                        .to_string()
                })
                .unwrap_or_default();
            Trial::test(format!("case {label}{stem}"), move || {
                let src = std::fs::read(&input).map_err(|e| Failed::from(e.to_string()))?;
                let expected = input.with_file_name(format!("{stem}.expected"));
                if let Ok(want) = std::fs::read(&expected) {
                    let out = fmt_stdin(&src, &[]);
                    if !out.status.success() {
                        return Err(format!("refused a valid file:\n{}", text(&out).1).into());
                    }
                    if out.stdout != want {
                        return Err(first_diff(&out.stdout, &want).into());
                    }
                    return Ok(());
                }
                // An .error case: refused, exit 1, and the file is left as it was.
                let tmp = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
                let file = tmp.path().join("bad.pkr.hcl");
                std::fs::write(&file, &src).map_err(|e| Failed::from(e.to_string()))?;
                let out = kiln()
                    .args(["fmt"])
                    .arg(&file)
                    .env("NO_COLOR", "1")
                    .output()
                    .map_err(|e| Failed::from(e.to_string()))?;
                if out.status.code() != Some(1) {
                    return Err(format!("expected exit 1, got {:?}", out.status.code()).into());
                }
                if std::fs::read(&file).map_err(|e| Failed::from(e.to_string()))? != src {
                    return Err("the refused file was changed".into());
                }
                Ok(())
            })
        })
        .collect()
}

fn oracle() -> Option<PathBuf> {
    let p = std::env::var_os("KILN_HCL_ORACLE")
        .map(PathBuf::from)
        .or_else(|| shared().map(|s| s.join("oracle/bin/hclfmt-go")))?;
    p.is_file().then_some(p)
}

/// The templates and var files under `dir`.
fn hcl_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut all = Vec::new();
    common::walk(dir, &mut all);
    out.extend(all.into_iter().filter(|p| {
        let n = p.to_string_lossy();
        n.ends_with(".pkr.hcl") || n.ends_with(".pkrvars.hcl")
    }));
}

fn anchor_trials(shared: Option<&Path>) -> Vec<Trial> {
    let (Some(shared), Some(oracle)) = (shared, oracle()) else {
        return vec![Trial::test("anchors vs hclwrite", || Ok(())).with_ignored_flag(true)];
    };
    let mut files = Vec::new();
    hcl_files(&shared.join("anchors"), &mut files);
    hcl_files(&common::repo().join("templates"), &mut files);
    hcl_files(&common::repo().join("fixtures"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let oracle = oracle.clone();
            let name = format!(
                "hclwrite {}",
                f.strip_prefix(shared)
                    .or_else(|_| f.strip_prefix(common::repo()))
                    .unwrap_or(&f)
                    .display()
            );
            Trial::test(name, move || {
                let src = std::fs::read(&f).map_err(|e| Failed::from(e.to_string()))?;
                let want = std::process::Command::new(&oracle)
                    .arg(&f)
                    .output()
                    .map_err(|e| Failed::from(e.to_string()))?;
                let got = fmt_stdin(&src, &[]);
                match (want.status.success(), got.status.success()) {
                    (true, true) if want.stdout == got.stdout => Ok(()),
                    (true, true) => Err(first_diff(&got.stdout, &want.stdout).into()),
                    (false, false) => Ok(()),
                    (w, g) => Err(format!(
                        "hclwrite accepts: {w}, kiln accepts: {g}\n{}",
                        text(&got).1
                    )
                    .into()),
                }
            })
        })
        .collect()
}

const UGLY: &str = "locals {\n  a=1\n  long_name = \"x\"\n}\n";
const PRETTY: &str = "locals {\n  a         = 1\n  long_name = \"x\"\n}\n";

fn cli(name: &str, f: fn(&Path) -> Result<(), String>) -> Trial {
    Trial::test(format!("cli {name}"), move || {
        let tmp = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
        f(tmp.path()).map_err(Failed::from)
    })
}

fn run(dir: &Path, args: &[&str]) -> Output {
    kiln()
        .arg("fmt")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run")
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

fn cli_trials() -> Vec<Trial> {
    vec![
        cli("rewrites files in a directory and names them", |d| {
            std::fs::write(d.join("a.pkr.hcl"), UGLY).map_err(|e| e.to_string())?;
            std::fs::write(d.join("b.pkrvars.hcl"), "x=1\nyy=2\n").map_err(|e| e.to_string())?;
            std::fs::write(d.join("c.pkr.hcl"), PRETTY).map_err(|e| e.to_string())?;
            std::fs::write(d.join("d.json"), "{ \"x\":1 }").map_err(|e| e.to_string())?;
            std::fs::create_dir(d.join("sub")).map_err(|e| e.to_string())?;
            std::fs::write(d.join("sub/e.pkr.hcl"), UGLY).map_err(|e| e.to_string())?;
            let out = run(d, &["."]);
            let (o, e) = text(&out);
            if !out.status.success() || o != "a.pkr.hcl\nb.pkrvars.hcl\n" {
                return Err(format!(
                    "exit {:?}, stdout {o:?}, stderr {e}",
                    out.status.code()
                ));
            }
            if read(&d.join("a.pkr.hcl")) != PRETTY
                || read(&d.join("b.pkrvars.hcl")) != "x  = 1\nyy = 2\n"
            {
                return Err("files not formatted".into());
            }
            if read(&d.join("d.json")) != "{ \"x\":1 }" || read(&d.join("sub/e.pkr.hcl")) != UGLY {
                return Err("touched a JSON file or a subdirectory without -recursive".into());
            }
            let out = run(d, &["-recursive", "."]);
            if text(&out).0 != "sub/e.pkr.hcl\n" || read(&d.join("sub/e.pkr.hcl")) != PRETTY {
                return Err(format!("-recursive: {:?}", text(&out)));
            }
            Ok(())
        }),
        cli("-check exits 3 and writes nothing", |d| {
            std::fs::write(d.join("a.pkr.hcl"), UGLY).map_err(|e| e.to_string())?;
            let out = run(d, &["-check", "a.pkr.hcl"]);
            if out.status.code() != Some(3)
                || text(&out).0 != "a.pkr.hcl\n"
                || read(&d.join("a.pkr.hcl")) != UGLY
            {
                return Err(format!("exit {:?} {:?}", out.status.code(), text(&out)));
            }
            std::fs::write(d.join("a.pkr.hcl"), PRETTY).map_err(|e| e.to_string())?;
            let out = run(d, &["-check", "a.pkr.hcl"]);
            if out.status.code() != Some(0) || !text(&out).0.is_empty() {
                return Err(format!(
                    "formatted file: exit {:?} {:?}",
                    out.status.code(),
                    text(&out)
                ));
            }
            Ok(())
        }),
        cli("-diff prints a unified diff", |d| {
            std::fs::write(d.join("a.pkr.hcl"), UGLY).map_err(|e| e.to_string())?;
            let out = run(d, &["-check", "-diff", "a.pkr.hcl"]);
            let o = text(&out).0;
            if !o.contains("--- old/a.pkr.hcl")
                || !o.contains("+++ new/a.pkr.hcl")
                || !o.contains("-  a=1")
                || !o.contains("+  a         = 1")
            {
                return Err(o);
            }
            Ok(())
        }),
        cli("-write=false prints the formatted text", |d| {
            std::fs::write(d.join("a.pkr.hcl"), UGLY).map_err(|e| e.to_string())?;
            let out = run(d, &["-write=false", "a.pkr.hcl"]);
            if text(&out).0 != PRETTY || read(&d.join("a.pkr.hcl")) != UGLY {
                return Err(format!("{:?}", text(&out)));
            }
            Ok(())
        }),
        cli("stdin to stdout", |_| {
            let out = fmt_stdin(UGLY.as_bytes(), &[]);
            if !out.status.success() || text(&out).0 != PRETTY {
                return Err(format!("{:?}", text(&out)));
            }
            Ok(())
        }),
        cli(
            "refuses other file names and syntax errors, leaving files untouched",
            |d| {
                std::fs::write(d.join("t.json"), "{}").map_err(|e| e.to_string())?;
                let out = run(d, &["t.json"]);
                if out.status.code() != Some(1) || !text(&out).1.contains("is not a HCL file") {
                    return Err(format!("{:?}", text(&out)));
                }
                let bad = "locals {\n  a =   \n}\n";
                std::fs::write(d.join("bad.pkr.hcl"), bad).map_err(|e| e.to_string())?;
                let out = run(d, &["bad.pkr.hcl"]);
                let e = text(&out).1;
                if out.status.code() != Some(1)
                    || read(&d.join("bad.pkr.hcl")) != bad
                    || !e.contains("bad.pkr.hcl:2:9")
                    || !e.contains("Invalid expression")
                {
                    return Err(e.to_string());
                }
                Ok(())
            },
        ),
        cli(
            "keeps permissions and symlinks; refuses read-only files",
            |d| {
                use std::os::unix::fs::PermissionsExt;
                let f = d.join("a.pkr.hcl");
                std::fs::write(&f, UGLY).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640))
                    .map_err(|e| e.to_string())?;
                std::os::unix::fs::symlink("a.pkr.hcl", d.join("link.pkr.hcl"))
                    .map_err(|e| e.to_string())?;
                let out = run(d, &["link.pkr.hcl"]);
                if !out.status.success() {
                    return Err(format!("{:?}", text(&out)));
                }
                let meta =
                    std::fs::symlink_metadata(d.join("link.pkr.hcl")).map_err(|e| e.to_string())?;
                if !meta.file_type().is_symlink() || read(&f) != PRETTY {
                    return Err("the symlink was replaced or its target not formatted".into());
                }
                if std::fs::metadata(&f)
                    .map_err(|e| e.to_string())?
                    .permissions()
                    .mode()
                    & 0o777
                    != 0o640
                {
                    return Err("permissions changed".into());
                }
                let leftovers: Vec<_> = std::fs::read_dir(d)
                    .map_err(|e| e.to_string())?
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln-"))
                    .collect();
                if !leftovers.is_empty() {
                    return Err("a temp file was left behind".into());
                }
                std::fs::write(&f, UGLY).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o444))
                    .map_err(|e| e.to_string())?;
                let out = run(d, &["a.pkr.hcl"]);
                if out.status.code() != Some(1)
                    || read(&f) != UGLY
                    || !text(&out).1.contains("read-only")
                {
                    return Err(format!("read-only: {:?}", text(&out)));
                }
                Ok(())
            },
        ),
        cli("the repository's templates are formatted", |_| {
            let out = kiln()
                .args(["fmt", "-check", "-recursive", "templates"])
                .current_dir(common::repo())
                .output()
                .map_err(|e| e.to_string())?;
            if out.status.code() != Some(0) {
                return Err(format!(
                    "run `kiln fmt -recursive templates`: {:?}",
                    text(&out)
                ));
            }
            Ok(())
        }),
        cli(
            "a failed write (file size limit, like a full disk) leaves the file intact",
            |d| {
                // 500 short attributes: the formatted file is > 4 KiB, over a 2 KiB limit.
                let ugly: String = (0..500).map(|i| format!("a{i}=1\n")).collect();
                let f = d.join("big.pkr.hcl");
                std::fs::write(&f, &ugly).map_err(|e| e.to_string())?;
                let cmd = format!(
                    "ulimit -f 2 && exec {} fmt big.pkr.hcl",
                    env!("CARGO_BIN_EXE_kiln")
                );
                let out = std::process::Command::new("bash")
                    .args(["-c", &cmd])
                    .current_dir(d)
                    .env("NO_COLOR", "1")
                    .output()
                    .map_err(|e| e.to_string())?;
                if out.status.code() != Some(1) || !text(&out).1.contains("left unchanged") {
                    return Err(format!("exit {:?}: {:?}", out.status.code(), text(&out)));
                }
                if read(&f) != ugly {
                    return Err("the file was changed".into());
                }
                let leftovers: Vec<_> = std::fs::read_dir(d)
                    .map_err(|e| e.to_string())?
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln-"))
                    .collect();
                if !leftovers.is_empty() {
                    return Err("a temp file was left behind".into());
                }
                Ok(())
            },
        ),
        cli("keeps CRLF and drops a BOM", |_| {
            let out = fmt_stdin(b"\xef\xbb\xbfa=1\r\nbb=2\r\n", &[]);
            if out.stdout != b"a  = 1\r\nbb = 2\r\n" {
                return Err(format!("{:?}", String::from_utf8_lossy(&out.stdout)));
            }
            Ok(())
        }),
    ]
}

fn main() {
    let args = Arguments::from_args();
    let shared = shared();
    // The repository's hand-written cases (their .expected files were
    // written by hclwrite), then the oracle's where ../shared is.
    let mut trials = case_trials(&common::repo().join("fixtures/fmt"), "");
    if let Some(s) = &shared {
        trials.extend(case_trials(&s.join("oracle/cases"), "oracle "));
    }
    trials.extend(anchor_trials(shared.as_deref()));
    trials.extend(cli_trials());
    libtest_mimic::run(&args, trials).exit();
}
