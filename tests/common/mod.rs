//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn kiln() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kiln"))
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared`, when it is there (tests that need it skip without it).
/// `KILN_NO_SHARED=1` hides it, to see what a clone alone tests.
pub fn shared() -> Option<PathBuf> {
    if std::env::var_os("KILN_NO_SHARED").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let p = repo().join("..").join("shared");
    p.join("anchors").is_dir().then_some(p)
}

pub fn packer_available() -> bool {
    Command::new("packer")
        .arg("version")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Write each `(relative path, contents)` under `dir`, making directories.
pub fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let p = dir.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, body).expect("write");
    }
}

/// Copy a fixture directory into a fresh temp dir (builds write files).
pub fn fixture_copy(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo().join("fixtures").join(name), dir.path());
    dir
}

/// Copy the contents of `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("fixture dir").flatten() {
        let p = e.path();
        let dest = to.join(e.file_name());
        if p.is_dir() {
            std::fs::create_dir_all(&dest).expect("mkdir");
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).expect("copy");
        }
    }
}

/// Mask what changes between runs: temp script names, durations, uuids, times.
pub fn mask(s: &str) -> String {
    let rules: &[(&str, &str)] = &[
        (r"/tmp/packer-shell[A-Za-z0-9]+", "/tmp/packer-shellXXX"),
        (r"(?m)after [0-9a-z ]+?(\.|$)", "after DURATION$1"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "UUID",
        ),
        (r#""build_time": [0-9]+"#, r#""build_time": TIME"#),
    ];
    let mut out = s.to_string();
    for (re, rep) in rules {
        out = regex::Regex::new(re)
            .expect("mask regex")
            .replace_all(&out, *rep)
            .into_owned();
    }
    out
}

/// Every file under `dir`, recursively (unsorted).
pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Run `cmd` with `input` on its stdin; collect its output.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input);
    }
    child.wait_with_output().expect("wait")
}
