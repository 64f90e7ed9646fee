//! Incremental builds with local artifacts (the file builder; the qemu
//! quick start is in tests/qemu.rs, AMIs in tests/amazon.rs): what is an
//! input and what is not, the record beside the artifact, `kiln plan`'s
//! naming of a change, and secrets kept out of all of it.

mod common;

use common::{copy_dir, kiln, repo};
use std::path::Path;
use std::process::Output;

fn text(o: &Output) -> String {
    let (a, b) = common::text(o);
    a + &b
}

fn kiln_in(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = kiln()
        .current_dir(dir)
        .env("KILN_INPUTS_KEY", "tests-key")
        .args(args)
        .arg("-color=false")
        .output()
        .expect("run kiln");
    (out.status.code(), text(&out))
}

/// How many times the provisioners ran (each run appends a line).
fn runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("provisioned.log"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn work() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    copy_dir(&repo().join("fixtures/incremental"), d.path());
    d
}

#[test]
fn reuse_rebuilds_only_when_an_input_changes() {
    for template in ["build.pkr.hcl", "build.json"] {
        let w = work();
        let dir = w.path();
        let build = |extra: &[&str]| {
            let mut args = vec!["build", "-reuse"];
            args.extend_from_slice(extra);
            args.push(template);
            kiln_in(dir, &args)
        };
        let (code, t) = build(&[]);
        assert_eq!(code, Some(0), "{template}: {t}");
        assert_eq!(runs(dir), 1, "{template}");
        let record = std::fs::read_to_string(dir.join("out/site.txt.kiln-inputs.json"))
            .expect("record beside the target");
        assert!(record.contains("\"kiln_inputs\": \"v1-"), "{record}");

        // Unchanged: reused, post-processors still run, manifest says so.
        let (code, t) = build(&[]);
        assert_eq!(code, Some(0), "{template}: {t}");
        assert_eq!(runs(dir), 1, "{template}: rebuilt:\n{t}");
        assert!(t.contains("Up to date"), "{t}");
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).expect("m"))
                .expect("json");
        assert_eq!(m["builds"][1]["reused"], true, "{m}");
        assert!(m["builds"][0].get("reused").is_none(), "{m}");

        // Labels are not inputs: a variable only in a name and in the
        // manifest's custom data.
        let (code, t) = build(&["-var", "stamp=two"]);
        assert_eq!(code, Some(0), "{t}");
        assert_eq!(runs(dir), 1, "{template}: a label rebuilt:\n{t}");

        // A checkout somewhere else (another CI runner): same inputs.
        let moved = tempfile::tempdir().expect("tempdir");
        copy_dir(dir, moved.path());
        let (code, t) = kiln_in(moved.path(), &["build", "-reuse", template]);
        assert_eq!(code, Some(0), "{t}");
        assert!(t.contains("Up to date"), "{template}: moved:\n{t}");

        // One byte of a script: plan names it, the build runs.
        std::fs::write(
            dir.join("scripts/setup.sh"),
            "#!/bin/sh\necho \"setting up!\"\n",
        )
        .expect("write");
        let (code, t) = kiln_in(dir, &["plan", template]);
        assert_eq!(code, Some(0), "{t}");
        assert!(
            t.contains("provisioner 1 (shell-local): script setup.sh changed"),
            "{template}: {t}"
        );
        assert!(t.contains("Plan: 0 to reuse, 1 to build."), "{t}");
        assert_eq!(runs(dir), 1, "plan ran a provisioner");
        let (code, t) = build(&[]);
        assert_eq!(code, Some(0), "{t}");
        assert_eq!(runs(dir), 2, "{template}: not rebuilt:\n{t}");

        // The artifact changed on disk since it was made: rebuilt.
        std::fs::write(dir.join("out/site.txt"), "tampered").expect("write");
        let (_, t) = kiln_in(dir, &["plan", template]);
        assert!(t.contains("site.txt changed since"), "{t}");
        build(&[]);
        assert_eq!(runs(dir), 3, "{template}");
        assert_eq!(
            std::fs::read_to_string(dir.join("out/site.txt")).expect("target"),
            "site v1"
        );

        // An inline command; then -force.
        let tpl = std::fs::read_to_string(dir.join(template)).expect("read");
        std::fs::write(
            dir.join(template),
            tpl.replace("echo provisioned", "echo  provisioned"),
        )
        .expect("write");
        let (_, t) = kiln_in(dir, &["build", "-reuse", "-dry-run", template]);
        assert!(
            t.contains("provisioner 2 (shell-local): inline changed"),
            "{template}: {t}"
        );
        build(&[]);
        assert_eq!(runs(dir), 4, "{template}");
        build(&[]);
        assert_eq!(runs(dir), 4, "{template}");
        build(&["-force"]);
        assert_eq!(runs(dir), 5, "{template}: -force reused");

        // Without -reuse: Packer's build, no record written or read.
        std::fs::remove_file(dir.join("out/site.txt.kiln-inputs.json")).expect("rm");
        let (code, t) = kiln_in(dir, &["build", template]);
        assert_eq!(code, Some(0), "{t}");
        assert!(!t.contains("Up to date") && !t.contains("Building:"), "{t}");
        assert!(!dir.join("out/site.txt.kiln-inputs.json").exists());
    }
}

#[test]
fn sensitive_values_enter_keyed_and_never_show() {
    let w = work();
    let dir = w.path();
    let (code, t) = kiln_in(dir, &["build", "-reuse", "build.pkr.hcl"]);
    assert_eq!(code, Some(0), "{t}");
    let record = std::fs::read_to_string(dir.join("out/site.txt.kiln-inputs.json")).expect("r");
    assert!(!record.contains("s3cret"), "{record}");
    assert!(!t.contains("s3cret"), "{t}");
    // Another secret is another input (its keyed hash changed) ...
    let (_, t) = kiln_in(
        dir,
        &["plan", "-var", "secret=other-secret-99", "build.pkr.hcl"],
    );
    assert!(
        t.contains("provisioner 1 (shell-local): environment_vars changed"),
        "{t}"
    );
    assert!(!t.contains("other-secret-99"), "{t}");
    // ... and under another key, the same secret does not match either:
    // the digest cannot be checked against guesses without the key.
    let out = kiln()
        .current_dir(dir)
        .env("KILN_INPUTS_KEY", "another-key")
        .args(["plan", "-color=false", "build.pkr.hcl"])
        .output()
        .expect("run");
    let t = text(&out);
    assert!(
        t.contains("provisioner 1 (shell-local): environment_vars changed"),
        "{t}"
    );
}

#[test]
fn builds_whose_inputs_cannot_be_known_always_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        "source \"null\" \"n\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {\n    inline = [\"echo ran >> ran.log\"]\n  }\n}\n",
    )
    .expect("write");
    for _ in 0..2 {
        let (code, t) = kiln_in(dir.path(), &["build", "-reuse", "t.pkr.hcl"]);
        assert_eq!(code, Some(0), "{t}");
        assert!(
            t.contains("kiln does not know what a null build is made of"),
            "{t}"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("ran.log")).expect("log");
    assert_eq!(log.lines().count(), 2);
    let (code, t) = kiln_in(dir.path(), &["plan", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("would build"), "{t}");
}
