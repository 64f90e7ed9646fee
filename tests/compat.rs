//! Packer behaviours real templates lean on, each checked on kiln and, where
//! it is installed and has the feature, on Packer 1.6.6 side by side; and a
//! suite of hand-written templates in the styles public repositories use
//! (`fixtures/compat/`), each run through `validate`, `inspect`,
//! `fmt -check` and, for JSON, `hcl2_upgrade` + `validate` of the result.

mod common;

use common::{kiln, packer_available, repo, text};
use std::path::Path;
use std::process::Command;

fn packer() -> Option<Command> {
    packer_available().then(|| {
        let mut p = Command::new("packer");
        p.env("CHECKPOINT_DISABLE", "1");
        p
    })
}

fn run(mut cmd: Command, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = cmd.current_dir(dir).args(args).output().expect("run");
    let (o, e) = text(&out);
    (out.status.code(), format!("{o}{e}"))
}

#[test]
fn an_object_constructor_may_repeat_a_key_and_the_last_wins() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = r#"locals {
  tags = { Name = "first", Name = "second", "k" = 1, "k" = 2 }
}
source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = ["echo tags=${local.tags.Name}-${local.tags.k}"]
  }
}
"#;
    std::fs::write(dir.path().join("t.pkr.hcl"), t).expect("write");
    let mut tools = vec![kiln()];
    tools.extend(packer());
    for tool in tools {
        let name = format!("{tool:?}");
        let (code, out) = run(tool, dir.path(), &["build", "-color=false", "t.pkr.hcl"]);
        assert_eq!(code, Some(0), "{name}: {out}");
        assert!(out.contains("tags=second-2"), "{name}: {out}");
    }
    // The console too; and fmt leaves the file as written.
    let out = common::run_with_stdin(
        kiln().arg("console").current_dir(dir.path()),
        b"{ a = 1, a = 2 }\n",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"a\" = 2"));
    let (code, out) = run(kiln(), dir.path(), &["fmt", "-check", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
}

#[test]
fn override_is_keyed_by_the_sources_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = r#"source "null" "first-example" {
  communicator = "none"
}
source "null" "second-example" {
  communicator = "none"
}
build {
  sources = ["source.null.first-example", "source.null.second-example"]
  provisioner "shell-local" {
    inline = ["echo not-overridden"]
    override = {
      "first-example" = {
        inline = ["echo yes-overridden"]
      }
    }
  }
}
"#;
    std::fs::write(dir.path().join("t.pkr.hcl"), t).expect("write");
    let (code, out) = run(kiln(), dir.path(), &["build", "-color=false", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("null.first-example: yes-overridden"), "{out}");
    assert!(out.contains("null.second-example: not-overridden"), "{out}");
}

#[test]
fn a_nested_source_may_not_set_an_argument_its_source_sets() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = r#"source "null" "n" {
  communicator = "none"
}
build {
  source "source.null.n" {
    name = "renamed"
    communicator = "ssh"
  }
}
"#;
    std::fs::write(dir.path().join("t.pkr.hcl"), t).expect("write");
    let mut tools = vec![kiln()];
    tools.extend(packer());
    for tool in tools {
        let name = format!("{tool:?}");
        let (code, out) = run(tool, dir.path(), &["validate", "t.pkr.hcl"]);
        assert_eq!(code, Some(1), "{name}: {out}");
        assert!(out.contains("Duplicate argument"), "{name}: {out}");
        assert!(
            out.contains("Argument \"communicator\" was already set at t.pkr.hcl:2,3-15"),
            "{name}: {out}"
        );
    }
    // What the source does not set, the nested block may add.
    let ok = t.replace("communicator = \"ssh\"", "");
    std::fs::write(dir.path().join("t.pkr.hcl"), ok).expect("write");
    let (code, out) = run(kiln(), dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
}

/// The suite: every template under `fixtures/compat/` validates, inspects
/// and is fmt-clean; a JSON one also upgrades to HCL2 that validates.
/// A `*.args` file beside a template holds extra arguments, one per line.
#[test]
fn compatibility_suite() {
    let root = repo().join("fixtures").join("compat");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("fixtures/compat")
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 6, "{cases:?}");
    for case in cases {
        let tmp = tempfile::tempdir().expect("tmp");
        let dir = tmp.path();
        common::copy_dir(&case, dir);
        let template = std::fs::read_dir(dir)
            .expect("case")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.ends_with(".json") && !n.contains("vars"))
            .unwrap_or_else(|| ".".to_string());
        let args: Vec<String> = std::fs::read_to_string(dir.join("args"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let with = |cmd: &str| -> Vec<String> {
            let mut v = vec![cmd.to_string()];
            v.extend(args.iter().cloned());
            v.push(template.clone());
            v
        };
        let name = case.display().to_string();
        for cmd in ["validate", "inspect"] {
            let a = with(cmd);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let (code, out) = run(kiln(), dir, &a);
            assert_eq!(code, Some(0), "{name}: kiln {a:?}\n{out}");
            if cmd == "validate" {
                if let Some(p) = packer().filter(|_| !dir.join("kiln-only").exists()) {
                    let (code, out) = run(p, dir, &a);
                    assert_eq!(code, Some(0), "{name}: packer 1.6.6 {a:?}\n{out}");
                }
            }
        }
        if template == "." {
            let (code, out) = run(kiln(), dir, &["fmt", "-check", "-recursive", "."]);
            assert_eq!(code, Some(0), "{name}: fmt -check\n{out}");
        } else {
            let (code, out) = run(
                kiln(),
                dir,
                &["hcl2_upgrade", "-output-file=up.pkr.hcl", &template],
            );
            assert_eq!(code, Some(0), "{name}: hcl2_upgrade\n{out}");
            let (code, out) = run(kiln(), dir, &["fmt", "-check", "up.pkr.hcl"]);
            assert_eq!(code, Some(0), "{name}: fmt of the upgrade\n{out}");
            // The upgrade's variables keep their defaults; a var file for
            // the JSON template serves the upgrade as HCL variables.
            let mut a = vec!["validate".to_string()];
            for x in &args {
                if let Some(f) = x.strip_prefix("-var-file=") {
                    let hcl = format!("{f}.pkrvars.hcl");
                    write_pkrvars(&dir.join(f), &dir.join(&hcl));
                    a.push(format!("-var-file={hcl}"));
                } else {
                    a.push(x.clone());
                }
            }
            a.push("up.pkr.hcl".into());
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let (code, out) = run(kiln(), dir, &a);
            assert_eq!(
                code,
                Some(0),
                "{name}: validate of the upgrade {a:?}\n{out}"
            );
        }
    }
}

/// A JSON var file as an HCL one (string values).
fn write_pkrvars(json: &Path, hcl: &Path) {
    let text = std::fs::read_to_string(json).expect("var file");
    let m: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&text).expect("var file json");
    let mut out = String::new();
    for (k, v) in m {
        let s = match v {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        out.push_str(&format!("{k} = {}\n", serde_json::Value::String(s)));
    }
    std::fs::write(hcl, out).expect("write pkrvars");
}

/// Options of the amazon plugin real templates use: `spot_instance_types`
/// instead of `instance_type`, and `run_volume_tag` blocks with `name`.
#[test]
fn spot_instance_types_stand_for_instance_type_and_run_volume_tag_takes_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let t = |types: &str| {
        format!(
            r#"source "amazon-ebs" "spot" {{
  region              = "us-east-1"
  source_ami          = "ami-0123456789abcdef0"
  ssh_username        = "admin"
  ami_name            = "spot-image"
  spot_price          = "auto"
  {types}
  run_volume_tag {{
    name  = "Purpose"
    value = "build"
  }}
}}
build {{
  sources = ["source.amazon-ebs.spot"]
}}
"#
        )
    };
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        t(r#"spot_instance_types = ["t3.micro", "t3a.micro"]"#),
    )
    .expect("write");
    let (code, out) = run(kiln(), dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        t("spot_instance_types = [\"t3.micro\"]\n  instance_type = \"t3.micro\""),
    )
    .expect("write");
    let (code, out) = run(kiln(), dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not both"), "{out}");
    std::fs::write(dir.path().join("t.pkr.hcl"), t("")).expect("write");
    let (code, out) = run(kiln(), dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("An instance_type must be specified"), "{out}");
}

/// `-machine-readable` anywhere on the command line, as Packer takes it.
#[test]
fn machine_readable_goes_before_or_after_the_command() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        "source \"null\" \"n\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.n\"]\n}\n",
    )
    .expect("write");
    for args in [
        &["-machine-readable", "version"][..],
        &["version", "-machine-readable"][..],
    ] {
        let (code, out) = run(kiln(), dir.path(), args);
        assert_eq!(code, Some(0), "{args:?}: {out}");
        let first = out.lines().next().unwrap_or_default();
        assert!(
            first.split(',').nth(2) == Some("version"),
            "{args:?}: {out}"
        );
    }
    for args in [
        &["-machine-readable", "build", "t.pkr.hcl"][..],
        &["build", "t.pkr.hcl", "-machine-readable"][..],
    ] {
        let (code, out) = run(kiln(), dir.path(), args);
        assert_eq!(code, Some(0), "{args:?}: {out}");
        assert!(out.contains(",ui,say,"), "{args:?}: {out}");
    }
    // A command without a machine-readable form runs as usual.
    let (code, out) = run(
        kiln(),
        dir.path(),
        &["-machine-readable", "fmt", "-check", "."],
    );
    assert_eq!(code, Some(0), "{out}");
}

/// The file builder makes the directories leading to its target, and
/// shell-local runs a script named by a bare relative path (not looked up
/// in PATH), as Packer's do.
#[test]
fn file_target_directories_and_relative_local_scripts() {
    let dir = tempfile::tempdir().expect("tmp");
    let script = dir.path().join("setup.sh");
    std::fs::write(&script, "#!/bin/sh\necho setup-ran-here\n").expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        r#"source "file" "f" {
  content = "made"
  target  = "out/deeper/file.txt"
}
build {
  sources = ["source.file.f"]
  provisioner "shell-local" {
    script = "setup.sh"
  }
}
"#,
    )
    .expect("write");
    let (code, out) = run(kiln(), dir.path(), &["build", "-color=false", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("setup-ran-here"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("out/deeper/file.txt")).expect("target"),
        "made"
    );
}

/// Every plugin a template names that kiln does not carry is listed in one
/// error, each with its line (a required plugin with its source), and an
/// error several builds share is printed once.
#[test]
fn plugins_kiln_lacks_are_named_in_one_error() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        r#"packer {
  required_plugins {
    vsphere = {
      source  = "github.com/hashicorp/vsphere"
      version = ">= 1.0.0"
    }
  }
}
source "vsphere-iso" "v" {
  vcenter_server = "vc.example"
}
source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.vsphere-iso.v", "source.null.n"]
  provisioner "powershell" {
    inline = ["Write-Host hi"]
  }
  post-processor "vsphere-template" {}
}
"#,
    )
    .expect("write");
    let (code, out) = run(kiln(), dir.path(), &["validate", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(out.matches("Error:").count(), 1, "{out}");
    for want in [
        "required plugin \"github.com/hashicorp/vsphere\" at t.pkr.hcl:3:",
        "source \"vsphere-iso\" at t.pkr.hcl:9:",
        "provisioner \"powershell\" at t.pkr.hcl:17:",
        "post-processor \"vsphere-template\" at t.pkr.hcl:20:",
    ] {
        assert!(out.contains(want), "{want:?} missing:\n{out}");
    }
    std::fs::write(
        dir.path().join("t.json"),
        r#"{
  "builders": [
    {"type": "null", "communicator": "none", "name": "a"},
    {"type": "null", "communicator": "none", "name": "b"},
    {"type": "vmware-iso"}
  ],
  "provisioners": [
    {"type": "powershell", "inline": ["x"]},
    {"type": "shell-local", "inline": ["x"], "script": "both.sh"}
  ],
  "post-processors": ["vagrant-cloud"]
}
"#,
    )
    .expect("write");
    let (code, out) = run(kiln(), dir.path(), &["validate", "t.json"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("builder \"vmware-iso\" at t.json:5:"), "{out}");
    assert!(
        out.contains("provisioner \"powershell\" at t.json:8:"),
        "{out}"
    );
    assert!(
        out.contains("post-processor \"vagrant-cloud\" at t.json:11:"),
        "{out}"
    );
    assert_eq!(
        out.matches("provisioner \"powershell\"").count(),
        1,
        "{out}"
    );
    // The shell-local mistake is the same for builds a and b: once.
    assert_eq!(out.matches("Only one of").count(), 1, "{out}");
}

/// `hcl2_upgrade` knows the builders templates in the wild name (those
/// Packer 1.9.5 carries and those 1.6.6 still did): it exits 0 for them,
/// and 1 for a type nobody ships, still writing the file.
#[test]
fn hcl2_upgrade_knows_every_builder_packer_carried() {
    let dir = tempfile::tempdir().expect("tmp");
    for (ty, want) in [
        ("qemu", 0),
        ("virtualbox-iso", 0),
        ("vmware-vmx", 0),
        ("vsphere-clone", 0),
        ("hyperv-iso", 0),
        ("parallels-iso", 0),
        ("lxd", 0),
        ("docker", 0),
        ("no-such-builder", 1),
    ] {
        let t = format!(
            r#"{{"builders": [{{"type": "{ty}", "name": "b", "headless": true}}],
 "provisioners": [{{"type": "shell", "inline": ["true"]}}]}}"#
        );
        std::fs::write(dir.path().join("t.json"), t).expect("write");
        let _ = std::fs::remove_file(dir.path().join("up.pkr.hcl"));
        let (code, out) = run(
            kiln(),
            dir.path(),
            &["hcl2_upgrade", "-output-file=up.pkr.hcl", "t.json"],
        );
        assert_eq!(code, Some(want), "{ty}: {out}");
        let hcl = std::fs::read_to_string(dir.path().join("up.pkr.hcl")).expect("written");
        assert!(
            hcl.contains(&format!("source \"{ty}\" \"b\"")),
            "{ty}: {hcl}"
        );
    }
}

/// Functions of `build.*` see the build's values, not the placeholders
/// that stand for them until the build runs; `build.ID` is set by every
/// builder (the null builder's is "Null", as in Packer).
#[test]
fn functions_of_build_values_see_the_values() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        r#"source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = [
      "echo id=${upper(build.ID)} uuid-length=${length(build.PackerRunUUID)} conn=${title(build.ConnType)}",
      "echo plain=${build.ID}",
    ]
  }
  post-processor "shell-local" {
    inline = ["echo pp=${lower(build.ID)}-${replace(build.PackerRunUUID, "-", "")}"]
  }
}
"#,
    )
    .expect("write");
    let (code, out) = run(kiln(), dir.path(), &["build", "-color=false", "t.pkr.hcl"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("id=NULL uuid-length=36 conn=None"), "{out}");
    assert!(out.contains("plain=Null"), "{out}");
    let pp = out
        .lines()
        .find_map(|l| l.split("pp=").nth(1))
        .expect("post-processor line");
    assert!(pp.starts_with("null-"), "{out}");
    assert_eq!(pp.trim().len(), "null-".len() + 32, "{out}");
    assert!(!out.contains("{{"), "{out}");
}

/// docs/compatibility.md's plugin table is true: each `runs` row passes
/// plugin lookup, each `refused` row is named as a plugin kiln lacks.
#[test]
fn the_compatibility_table_is_true() {
    let doc = std::fs::read_to_string(repo().join("docs/compatibility.md")).expect("doc");
    let dir = tempfile::tempdir().expect("tmp");
    let mut rows = 0;
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | kind | type | kiln | why |
        if cells.len() < 5 || !["runs", "refused"].contains(&cells[3]) {
            continue;
        }
        let (kind, ty, status) = (cells[1], cells[2], cells[3]);
        let null = "source \"null\" \"n\" {\n  communicator = \"none\"\n}\n";
        let t = match kind {
            "builder" => format!(
                "source \"{ty}\" \"x\" {{\n}}\nbuild {{\n  sources = [\"source.{ty}.x\"]\n}}\n"
            ),
            "provisioner" => format!(
                "{null}build {{\n  sources = [\"source.null.n\"]\n  provisioner \"{ty}\" {{\n  }}\n}}\n"
            ),
            "post-processor" => format!(
                "{null}build {{\n  sources = [\"source.null.n\"]\n  post-processor \"{ty}\" {{\n  }}\n}}\n"
            ),
            "data source" => format!(
                "data \"{ty}\" \"d\" {{\n}}\n{null}build {{\n  sources = [\"source.null.n\"]\n}}\n"
            ),
            other => panic!("unknown kind {other:?} in docs/compatibility.md"),
        };
        std::fs::write(dir.path().join("t.pkr.hcl"), &t).expect("write");
        let (_, out) = run(kiln(), dir.path(), &["validate", "t.pkr.hcl"]);
        let lacks = out.contains("unknown to kiln")
            || out.contains("There is no data source of type")
            || out.contains("Plugins kiln does not have");
        assert_eq!(
            lacks,
            status == "refused",
            "docs/compatibility.md says {kind} {ty:?} {status}, but validate says:\n{out}"
        );
        rows += 1;
    }
    assert!(
        rows >= 30,
        "only {rows} rows read from docs/compatibility.md"
    );
}

/// `kiln fix`: Packer's fixers over an old template (amazon, qemu,
/// virtualbox, vmware, vsphere, provisioner and post-processor options
/// renamed since), printed as Packer prints it, beside Packer 1.6.6 where
/// it is installed; then validated (`-validate=false` skips that), and
/// the fixed template upgrades to HCL2.
#[test]
fn fix_rewrites_old_templates_as_packer_does() {
    let src = repo().join("fixtures/fix");
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::copy(src.join("old.json"), dir.path().join("old.json")).expect("copy");
    let out = kiln()
        .current_dir(dir.path())
        .args(["fix", "old.json"])
        .output()
        .expect("kiln");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    let want = std::fs::read_to_string(src.join("old.fixed.json")).expect("expected");
    assert_eq!(o, want);
    if let Some(mut p) = packer() {
        let po = p
            .current_dir(dir.path())
            .args(["fix", "old.json"])
            .output()
            .expect("packer");
        assert_eq!(String::from_utf8_lossy(&po.stdout), o, "packer 1.6.6");
    }
    // What was renamed is gone, what replaced it is there.
    for gone in [
        "CreateTime",
        "clean_ami_name",
        "shutdown_behaviour",
        "ssh_private_ip",
        "iso_md5",
        "ssh_wait_timeout",
        "galaxycommand",
        "guest_additions_attach",
        "\"tag\"",
        "login_email",
        "\"filename\"",
    ] {
        assert!(!o.contains(gone), "{gone} left in:\n{o}");
    }
    for there in [
        "{{timestamp}}",
        "clean_resource_name",
        "\"ssh_interface\": \"private_ip\"",
        "\"iso_checksum\": \"md5:d41d8cd98f00b204e9800998ecf8427e\"",
        "\"disk_size\": \"10240M\"",
        "\"type\": \"virtualbox-iso\"",
        "\"type\": \"vmware-iso\"",
        "\"network_adapters\"",
        "\"virtualbox-iso\": {",
        "\\u0026",
    ] {
        assert!(o.contains(there), "{there} missing in:\n{o}");
    }
    // The fixed template is one kiln's hcl2_upgrade takes.
    std::fs::write(dir.path().join("fixed.json"), &o).expect("write");
    let (code, up) = run(
        kiln(),
        dir.path(),
        &["hcl2_upgrade", "-output-file=up.pkr.hcl", "fixed.json"],
    );
    assert_eq!(code, Some(0), "{up}");
    // A template with no builders: fixed, then refused by the validation.
    std::fs::write(dir.path().join("empty.json"), "{}").expect("write");
    let (code, out) = run(kiln(), dir.path(), &["fix", "empty.json"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("\"builders\": null"), "{out}");
    assert!(out.contains("Error! Fixed template failed to validate: 1 error occurred:\n\t* at least one builder must be defined"), "{out}");
    let (code, out) = run(
        kiln(),
        dir.path(),
        &["fix", "-validate=false", "empty.json"],
    );
    assert_eq!(code, Some(0), "{out}");
    // HCL2 is not for fix; a shape Packer's decoder refuses is an error.
    std::fs::write(dir.path().join("t.pkr.hcl"), "").expect("write");
    let (code, out) = run(kiln(), dir.path(), &["fix", "t.pkr.hcl"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("packer fix only works with JSON files for now."),
        "{out}"
    );
    std::fs::write(dir.path().join("bad.json"), r#"{"builders": ["x"]}"#).expect("write");
    let (code, out) = run(kiln(), dir.path(), &["fix", "bad.json"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("'Builders[0]' expected a map, got 'string'"),
        "{out}"
    );
}
