//! Test tables, as named test cases: the repository's own
//! (`fixtures/EXPECTATIONS.tsv`, `fixtures/upgrade/`, `fixtures/syntax/`)
//! and, where `../shared` is, Packer's (`anchors/packer/EXPECTATIONS.tsv`)
//! and HashiCorp's parser's cases (`oracle/cases`):
//! * every `validate` row gives the exit code the table expects;
//! * every `hcl2_upgrade` row gives its exit code and writes its
//!   `expected.pkr.hcl`, byte for byte;
//! * every template goes through kiln's front ends without a panic, and a
//!   diagnostic names a line inside the file;
//! * every `.error` case's first syntax error is at the recorded place.

mod common;

use libtest_mimic::{Arguments, Failed, Trial};
use std::path::{Path, PathBuf};

/// Rows where kiln answers otherwise on purpose: (fixture, flags, kiln's
/// exit code, why).
const DIFFERENCES: &[(&str, &str, i32, &str)] = &[(
    "command/test-fixtures/hcl/local-ds-validate.pkr.hcl",
    "",
    0,
    "a data source's output is unknown at validate: Packer checks the placeholder that stands for it against the file provisioner's `direction` and fails; kiln makes that check once the value is known (at build, or with -evaluate-datasources)",
)];

/// `hcl2_upgrade` rows where kiln answers otherwise on purpose: (fixture,
/// kiln's exit code, why).
const UPGRADE_DIFFERENCES: &[(&str, i32, &str)] = &[(
    "command/test-fixtures/hcl2_upgrade/vsphere_linux_options_and_network_interface",
    0,
    "vsphere-clone is a builder the Packer 1.9.5 release carries (vendored), so its hcl2_upgrade exits 0; Packer's unit test runs with a smaller set of builders and expects 1",
)];

/// Every `validate` row of the table in `root` (`EXPECTATIONS.tsv`: Packer's
/// own, or the repository's in `fixtures/`), run from `cwd`.
fn validate_trials(root: &Path, cwd: &Path) -> Vec<Trial> {
    let packer = root.to_path_buf();
    let Ok(table) = std::fs::read_to_string(packer.join("EXPECTATIONS.tsv")) else {
        return vec![];
    };
    let mut trials = Vec::new();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 || cols[0] != "validate" {
            continue;
        }
        let fixture = cols[1].to_string();
        let mut code: i32 = cols[2].parse().unwrap_or(-1);
        let flags: Vec<String> = cols
            .get(3)
            .map(|f| f.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if let Some((.., kiln, _)) = DIFFERENCES
            .iter()
            .find(|(f, fl, ..)| *f == fixture && *fl == cols.get(3).copied().unwrap_or(""))
        {
            code = *kiln;
        }
        let name = format!(
            "validate{} {fixture}",
            flags.iter().map(|f| format!(" {f}")).collect::<String>()
        );
        let cwd = cwd.to_path_buf();
        let target = packer.join(&fixture);
        trials.push(Trial::test(name, move || {
            let out = common::kiln()
                .arg("validate")
                .args(&flags)
                .arg(&target)
                .current_dir(&cwd)
                .env("NO_COLOR", "1")
                .output()
                .map_err(|e| Failed::from(e.to_string()))?;
            let got = out.status.code().unwrap_or(-1);
            if got != code {
                let (o, e) = common::text(&out);
                return Err(format!("exit {got}, want {code}\nstdout:\n{o}\nstderr:\n{e}").into());
            }
            if code == 1 && String::from_utf8_lossy(&out.stderr).contains("panicked") {
                return Err("kiln panicked".into());
            }
            Ok(())
        }));
    }
    trials
}

/// Every `hcl2_upgrade` row: kiln's exit code is Packer's, and the file it
/// writes (`input.json.pkr.hcl`) is byte-identical to `expected.pkr.hcl`.
fn hcl2_upgrade_trials(root: &Path) -> Vec<Trial> {
    let packer = root.to_path_buf();
    let Ok(table) = std::fs::read_to_string(packer.join("EXPECTATIONS.tsv")) else {
        return vec![];
    };
    let mut trials = Vec::new();
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 3 || cols[0] != "hcl2_upgrade" {
            continue;
        }
        let fixture = packer.join(cols[1]);
        let mut code: i32 = cols[2].parse().unwrap_or(-1);
        if let Some((_, kiln, _)) = UPGRADE_DIFFERENCES.iter().find(|(f, ..)| *f == cols[1]) {
            code = *kiln;
        }
        let flags: Vec<String> = cols
            .get(3)
            .map(|f| f.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let compare = !cols.get(4).is_some_and(|n| n.contains("not compared"));
        let name = format!(
            "hcl2_upgrade{} {}",
            flags.iter().map(|f| format!(" {f}")).collect::<String>(),
            cols[1]
        );
        trials.push(Trial::test(name, move || {
            // Work on a copy: the upgrade writes beside its input.
            let dir = tempfile::tempdir().map_err(|e| Failed::from(e.to_string()))?;
            if fixture.is_dir() {
                for e in std::fs::read_dir(&fixture)
                    .map_err(|e| Failed::from(e.to_string()))?
                    .flatten()
                {
                    std::fs::copy(e.path(), dir.path().join(e.file_name()))
                        .map_err(|e| Failed::from(e.to_string()))?;
                }
            }
            let out = common::kiln()
                .arg("hcl2_upgrade")
                .args(&flags)
                .arg("input.json")
                .current_dir(dir.path())
                .env("NO_COLOR", "1")
                .output()
                .map_err(|e| Failed::from(e.to_string()))?;
            let (o, e) = common::text(&out);
            let got = out.status.code().unwrap_or(-1);
            if got != code {
                return Err(format!("exit {got}, want {code}\nstdout:\n{o}\nstderr:\n{e}").into());
            }
            if e.contains("panicked") {
                return Err(format!("kiln panicked:\n{e}").into());
            }
            if compare {
                let want = std::fs::read_to_string(fixture.join("expected.pkr.hcl"))
                    .map_err(|e| Failed::from(e.to_string()))?;
                let have = std::fs::read_to_string(dir.path().join("input.json.pkr.hcl"))
                    .map_err(|e| Failed::from(format!("no output file: {e}")))?;
                if have != want {
                    let diff = similar::TextDiff::from_lines(&want, &have)
                        .unified_diff()
                        .header("expected.pkr.hcl", "kiln")
                        .to_string();
                    return Err(diff.into());
                }
            }
            Ok(())
        }));
    }
    trials
}

/// Every template under `dirs` is validated without a crash, and every
/// location a diagnostic names is in the file.
fn parse_trials(base: &Path, dirs: &[PathBuf]) -> Vec<Trial> {
    let shared = base.to_path_buf();
    let shared = shared.as_path();
    let mut files = Vec::new();
    for d in dirs {
        common::walk(d, &mut files);
    }
    files.retain(|p| {
        let n = p.to_string_lossy();
        n.ends_with(".hcl") || n.ends_with(".json")
    });
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = format!("parse {}", p.strip_prefix(shared).unwrap_or(&p).display());
            Trial::test(name, move || {
                let out = common::kiln()
                    .args(["validate"])
                    .arg(&p)
                    .env("NO_COLOR", "1")
                    .output()
                    .map_err(|e| Failed::from(e.to_string()))?;
                let (_, err) = common::text(&out);
                if err.contains("panicked") || out.status.code().is_none() {
                    return Err(format!("kiln crashed on {}:\n{err}", p.display()).into());
                }
                // Every reported location must exist in the file.
                let lines = std::fs::read_to_string(&p)
                    .map(|t| t.lines().count().max(1))
                    .unwrap_or(1);
                let re = regex::Regex::new(r"\.(?:hcl|json):(\d+):(\d+)\)").expect("regex");
                for c in re.captures_iter(&err) {
                    let line: usize = c[1].parse().unwrap_or(0);
                    if line == 0 || line > lines + 1 {
                        return Err(format!(
                            "error at line {line}, file has {lines} lines:\n{err}"
                        )
                        .into());
                    }
                }
                Ok(())
            })
        })
        .collect()
}

/// Kiln's first syntax error is where HashiCorp's parser puts it: every
/// `.error` case of the oracle (diagnostics recorded from hcl v2.24.0).
fn syntax_location_trials(dir: &Path, label: &str) -> Vec<Trial> {
    let mut files = Vec::new();
    common::walk(dir, &mut files);
    files.retain(|p| p.extension().is_some_and(|e| e == "error"));
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = format!(
                "syntax location {label}{}",
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            );
            Trial::test(name, move || {
                let expected =
                    std::fs::read_to_string(&p).map_err(|e| Failed::from(e.to_string()))?;
                let re = regex::Regex::new(r"\.pkr\.hcl:(\d+),(\d+)").expect("regex");
                let want = re
                    .captures(&expected)
                    .map(|c| format!("{}:{}", &c[1], &c[2]))
                    .ok_or("no location in .error")?;
                let input = p.with_extension("pkr.hcl");
                let out = common::kiln()
                    .args(["validate", "-syntax-only"])
                    .arg(&input)
                    .env("NO_COLOR", "1")
                    .output()
                    .map_err(|e| Failed::from(e.to_string()))?;
                let (_, err) = common::text(&out);
                if out.status.code() != Some(1) {
                    return Err(
                        format!("expected exit 1, got {:?}:\n{err}", out.status.code()).into(),
                    );
                }
                let re = regex::Regex::new(r"\.pkr\.hcl:(\d+):(\d+)\)").expect("regex");
                let got = re
                    .captures(&err)
                    .map(|c| format!("{}:{}", &c[1], &c[2]))
                    .ok_or_else(|| Failed::from(format!("no location in:\n{err}")))?;
                if got != want {
                    return Err(format!("kiln reports {got}, hcl reports {want}:\n{err}").into());
                }
                Ok(())
            })
        })
        .collect()
}

fn main() {
    let args = Arguments::from_args();
    // The repository's own tables and cases first: a clone tests itself.
    let fixtures = common::repo().join("fixtures");
    let mut trials = validate_trials(&fixtures, &fixtures);
    trials.extend(hcl2_upgrade_trials(&fixtures));
    trials.extend(parse_trials(
        &common::repo(),
        std::slice::from_ref(&fixtures),
    ));
    trials.extend(syntax_location_trials(&fixtures.join("syntax"), ""));
    // Packer's own test tables and HashiCorp's parser's cases, where
    // ../shared is (Packer's tests run from command/).
    if let Some(shared) = common::shared() {
        let packer = shared.join("anchors/packer");
        trials.extend(validate_trials(&packer, &packer.join("command")));
        trials.extend(hcl2_upgrade_trials(&packer));
        trials.extend(parse_trials(
            &shared,
            &[
                packer.join("hcl2template/testdata"),
                packer.join("command/test-fixtures"),
            ],
        ));
        trials.extend(syntax_location_trials(
            &shared.join("oracle/cases"),
            "oracle ",
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
