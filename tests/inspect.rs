//! `kiln inspect` as Packer's: what a template is made of, byte for byte,
//! even when it would not validate (variables nothing sets, plugins kiln
//! lacks); `-machine-readable` events; Packer's own inspect test table
//! when `../shared` is there, and Packer 1.6.6 side by side when it is
//! installed.

mod common;

use common::{kiln, packer_available, shared, text, write_files};
use std::path::Path;

fn inspect(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = kiln()
        .current_dir(dir)
        .arg("inspect")
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("kiln");
    let (o, e) = text(&out);
    (out.status.code(), o, e)
}

const FRUIT: &str = r#"
variable "fruit" {
  type = string
}

locals {
  fruit = var.fruit
}

source "null" "builder" {
  communicator = "none"
}

build {
  sources = ["source.null.builder"]
  provisioner "shell-local" {
    inline = ["echo ${local.fruit} > ${local.fruit}.txt"]
  }
}
"#;

const FRUIT_UNSET: &str = r#"Packer Inspect: HCL2 mode

> input-variables:

var.fruit: "<unknown>"

> local-variables:

local.fruit: "<unknown>"

> builds:

  > <unnamed build 0>:

    sources:

      null.builder

    provisioners:

      shell-local

    post-processors:

      <no post-processor>

"#;

#[test]
fn an_unset_variable_is_unknown_and_its_locals_too() {
    let dir = tempfile::tempdir().expect("tmp");
    write_files(dir.path(), &[("fruit.pkr.hcl", FRUIT)]);
    let (code, o, e) = inspect(dir.path(), &["fruit.pkr.hcl"], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    assert_eq!(o, FRUIT_UNSET);
    let (code, o, e) = inspect(dir.path(), &["-var=fruit=banana", "fruit.pkr.hcl"], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    assert_eq!(o, FRUIT_UNSET.replace("<unknown>", "banana"));
}

const BUILDS: &str = r#"
variable "from_env" {
  default = env("KILN_INSPECT_FROM_ENV")
}
variable "list" {
  type = list(string)
}
variable "untyped" {}

build {
  name = "clouds"
  description = <<EOF
The builder of clouds !!

Use it at will.
EOF

  sources = [
    "source.amazon-ebs.one",
    // Not declared: inspect shows what is referenced all the same.
    "source.amazon-ebs.two",
  ]

  source "source.virtualbox-iso.vb" {
    name = "local-name"
  }

  provisioner "shell" {
    inline = ["true"]
  }
  provisioner "ansible" {
    name = "play"
    playbook_file = "site.yml"
  }

  post-processor "manifest" {
  }

  post-processors {
    post-processor "vagrant" {
    }
    post-processor "shell-local" {
      name = "after"
      inline = ["true"]
    }
  }
}
"#;

#[test]
fn builds_are_shown_as_written_with_unknown_plugins_and_sorted_variables() {
    let dir = tempfile::tempdir().expect("tmp");
    write_files(dir.path(), &[("t/builds.pkr.hcl", BUILDS)]);
    let (code, o, e) = inspect(
        dir.path(),
        &["-var=untyped=[\"peach\"]", "-var=list=[\"a\", \"b\"]", "t"],
        &[("KILN_INSPECT_FROM_ENV", "cherry")],
    );
    assert_eq!(code, Some(0), "{o}{e}");
    let want = r#"Packer Inspect: HCL2 mode

> input-variables:

var.from_env: "cherry"
var.list: "[\n  \"a\",\n  \"b\",\n]"
var.untyped: "[\"peach\"]"

> local-variables:


> builds:

  > clouds:

  > Description: The builder of clouds !!

Use it at will.


    sources:

      amazon-ebs.one

      amazon-ebs.two

      virtualbox-iso.local-name

    provisioners:

      shell
      ansible.play

    post-processors:

      0:
        manifest

      1:
        vagrant
        shell-local.after

"#;
    assert_eq!(o, want);
    // A template that does not parse is still an error.
    write_files(dir.path(), &[("bad.pkr.hcl", "build {\n")]);
    let (code, _, e) = inspect(dir.path(), &["bad.pkr.hcl"], &[]);
    assert_eq!(code, Some(1), "{e}");
}

#[test]
fn sensitive_values_are_masked_element_by_element() {
    let dir = tempfile::tempdir().expect("tmp");
    write_files(
        dir.path(),
        &[(
            "vars.pkr.hcl",
            r#"
variable "plain" {
  default = "not secret"
}
variable "unset" {
}
variable "secret" {
  default   = "hunter2-password"
  sensitive = true
}
variable "secret_list" {
  default   = ["first-secret", "second-secret"]
  sensitive = true
}
variable "secret_map" {
  default = {
    k1 = "map-secret-one"
    k2 = "map-secret-two"
  }
  sensitive = true
}
variable "secret_unset" {
  sensitive = true
}
"#,
        )],
    );
    let (code, o, e) = inspect(dir.path(), &["."], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    let want = r#"Packer Inspect: HCL2 mode

> input-variables:

var.plain: "not secret"
var.secret: "<sensitive>"
var.secret_list: "[\n  \"<sensitive>\",\n  \"<sensitive>\",\n]"
var.secret_map: "{\n  \"k1\" = \"<sensitive>\"\n  \"k2\" = \"<sensitive>\"\n}"
var.secret_unset: "<unknown>"
var.unset: "<unknown>"

> local-variables:


> builds:

"#;
    assert_eq!(o, want);
    assert!(!o.contains("secret-") && !o.contains("hunter2"));
}

const JSON: &str = r#"{
  "description": "A description",
  "variables": {
    "zone": "{{env `HOME`}}",
    "pw": null,
    "a_long_name": "x,y",
    "token": "t0ken-value"
  },
  "sensitive-variables": ["token"],
  "builders": [
    {"type": "null", "communicator": "none"},
    {"type": "amazon-ebs", "name": "{{user `zone`}}"},
    {"type": "virtualbox-iso"}
  ],
  "provisioners": [
    {"type": "shell", "inline": ["true"]},
    {"type": "ansible", "playbook_file": "x.yml"}
  ]
}
"#;

#[test]
fn json_templates_are_shown_raw_sorted_and_padded_as_packer_does() {
    let dir = tempfile::tempdir().expect("tmp");
    write_files(dir.path(), &[("t.json", JSON)]);
    let (code, o, e) = inspect(dir.path(), &["t.json"], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    let want = "Packer Inspect: JSON mode
Description:

A description

Required variables:

  pw

Optional variables and their defaults:

  a_long_name = x,y
  token       = <sensitive>
  zone        = {{env `HOME`}}

Builders:

  null           
  virtualbox-iso 
  {{user `zone`}} (amazon-ebs)

Provisioners:

  shell
  ansible

Note: If your build names contain user variables or template
functions such as 'timestamp', these are processed at build time,
and therefore only show in their raw form here.
";
    assert_eq!(o, want);
    if packer_available() {
        let p = std::process::Command::new("packer")
            .current_dir(dir.path())
            .args(["inspect", "t.json"])
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("packer");
        assert_eq!(String::from_utf8_lossy(&p.stdout), want, "packer 1.6.6");
    }
    // Machine-readable: Packer's events beside each line said.
    let (code, o, e) = inspect(dir.path(), &["-machine-readable", "t.json"], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    let events: Vec<&str> = o
        .lines()
        .map(|l| l.split_once(',').map_or(l, |(_, rest)| rest))
        .collect();
    for want in [
        ",ui,say,Packer Inspect: JSON mode",
        ",ui,say,Required variables:\\n",
        ",template-variable,pw,,1",
        ",template-variable,a_long_name,x%!(PACKER_COMMA)y,0",
        ",template-variable,token,<sensitive>,0",
        ",ui,say,  a_long_name = x%!(PACKER_COMMA)y",
        ",template-builder,{{user `zone`}},amazon-ebs",
        ",template-builder,null,null",
        ",template-provisioner,ansible",
        ",ui,say,",
    ] {
        assert!(events.contains(&want), "{want:?} missing in\n{o}");
    }
    assert!(!o.contains("t0ken"), "{o}");
    // No builders, a required variable: still shown, exit 0.
    write_files(
        dir.path(),
        &[("unset.json", r#"{"variables": {"something": null}}"#)],
    );
    let (code, o, e) = inspect(dir.path(), &["unset.json"], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    assert!(
        o.contains("Required variables:\n\n  something\n\nOptional variables and their defaults:\n\n\nBuilders:\n\n  <No builders>\n\nProvisioners:\n\n  <No provisioners>\n"),
        "{o}"
    );
}

#[test]
fn hcl_machine_readable_says_three_lines() {
    let dir = tempfile::tempdir().expect("tmp");
    write_files(dir.path(), &[("fruit.pkr.hcl", FRUIT)]);
    let (code, o, e) = inspect(dir.path(), &["-machine-readable", "fruit.pkr.hcl"], &[]);
    assert_eq!(code, Some(0), "{o}{e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.len(), 3, "{o}");
    assert!(
        lines[0].ends_with(",,ui,say,Packer Inspect: HCL2 mode\\n"),
        "{o}"
    );
    assert!(
        lines[1].ends_with(",,ui,say,> input-variables:\\n\\nvar.fruit: \"<unknown>\"\\n\\n> local-variables:\\n\\nlocal.fruit: \"<unknown>\"\\n"),
        "{o}"
    );
}

/// Arguments, environment, expected output.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, String);

/// Packer's own table (command/inspect_test.go in Packer 1.9.5), on its
/// fixtures, when `../shared` has them.
#[test]
fn packers_own_inspect_table() {
    let Some(shared) = shared() else {
        eprintln!("skipped: no ../shared");
        return;
    };
    let fx = shared.join("anchors/packer/command/test-fixtures");
    let sensitive =
        std::fs::read_to_string(fx.join("hcl-inspect-with-sensitive-vars/expected-output.txt"))
            .expect("expected output");
    let cases: Vec<Case> = vec![
        (vec!["var-arg/fruit_builder.pkr.hcl"], vec![], FRUIT_UNSET.to_string()),
        (
            vec!["-var=fruit=banana", "var-arg/fruit_builder.pkr.hcl"],
            vec![],
            FRUIT_UNSET.replace("<unknown>", "banana"),
        ),
        (
            vec![
                "-var=fruit=peach",
                "-var=unknown_string=also_peach",
                "-var=unknown_unknown=[\"peach_too\"]",
                "-var=unknown_list_of_string=[\"first_peach\", \"second_peach\"]",
                "hcl/inspect/fruit_string.pkr.hcl",
            ],
            vec![],
            "Packer Inspect: HCL2 mode\n\n> input-variables:\n\nvar.default_from_env: \"\"\nvar.fruit: \"peach\"\nvar.other_default_from_env: \"\"\nvar.unknown_list_of_string: \"[\\n  \\\"first_peach\\\",\\n  \\\"second_peach\\\",\\n]\"\nvar.unknown_string: \"also_peach\"\nvar.unknown_unknown: \"[\\\"peach_too\\\"]\"\n\n> local-variables:\n\n\n> builds:\n\n".to_string(),
        ),
        (
            vec!["-var=fruit=peach", "-var=other_default_from_env=apple", "hcl/inspect"],
            vec![("DEFAULT_FROM_ENV", "cherry")],
            "Packer Inspect: HCL2 mode\n\n> input-variables:\n\nvar.default_from_env: \"cherry\"\nvar.fruit: \"peach\"\nvar.other_default_from_env: \"apple\"\nvar.unknown_list_of_string: \"<unknown>\"\nvar.unknown_string: \"<unknown>\"\nvar.unknown_unknown: \"<unknown>\"\n\n> local-variables:\n\n\n> builds:\n\n  > aws_example_builder:\n\n  > Description: The builder of clouds !!\n\nUse it at will.\n\n\n    sources:\n\n      amazon-ebs.example-1\n\n      amazon-ebs.example-2\n\n    provisioners:\n\n      shell\n\n    post-processors:\n\n      0:\n        manifest\n\n      1:\n        shell-local\n\n      2:\n        manifest\n        shell-local\n\n".to_string(),
        ),
        (
            vec!["inspect/unset_var.json"],
            vec![],
            "Packer Inspect: JSON mode\nRequired variables:\n\n  something\n\nOptional variables and their defaults:\n\n\nBuilders:\n\n  <No builders>\n\nProvisioners:\n\n  <No provisioners>\n\nNote: If your build names contain user variables or template\nfunctions such as 'timestamp', these are processed at build time,\nand therefore only show in their raw form here.\n".to_string(),
        ),
        (vec!["hcl-inspect-with-sensitive-vars"], vec![], sensitive),
    ];
    for (args, env, want) in cases {
        let (code, o, e) = inspect(&fx, &args, &env);
        assert_eq!(code, Some(0), "{args:?}: {o}{e}");
        assert_eq!(o, want, "{args:?}");
        if packer_available() {
            let p = std::process::Command::new("packer")
                .current_dir(&fx)
                .arg("inspect")
                .args(&args)
                .envs(env.iter().copied())
                .env("CHECKPOINT_DISABLE", "1")
                .output()
                .expect("packer");
            assert_eq!(
                String::from_utf8_lossy(&p.stdout),
                o,
                "packer 1.6.6, {args:?}"
            );
        }
    }
}
