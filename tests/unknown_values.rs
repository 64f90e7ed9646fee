//! Values unknown at `validate` (a data source's output without
//! `-evaluate-datasources`, and what is computed from it) are not checked
//! there: every plugin's checks of such an option are made once the value
//! is known, and a wrong value then fails with the option's own line. And
//! every template the repository ships validates, from where it is run.

mod common;

use common::{kiln, repo, text};
use std::path::Path;

/// One case: a plugin option fed by `data.null.d.output`, whose concrete
/// value (`bad`) the plugin rejects.
struct Case {
    plugin: &'static str,
    bad: &'static str,
    body: &'static str,
}

const CASES: &[Case] = &[
    Case {
        // (With iso_checksum "none" a missing file is only a warning: a
        // step before the build may make it.)
        plugin: "qemu builder, iso_url (a file that must exist)",
        bad: r#""/no/such/disk.qcow2""#,
        body: r#"source "qemu" "q" {
  disk_image   = true
  iso_url      = "${data.null.d.output}"
  iso_checksum = "md5:d41d8cd98f00b204e9800998ecf8427e"
  communicator = "none"
}
build { sources = ["source.qemu.q"] }"#,
    },
    Case {
        plugin: "amazon-ebs builder, deprecate_at (an RFC 3339 time)",
        bad: r#""next tuesday""#,
        body: r#"source "amazon-ebs" "a" {
  ami_name      = "x-1"
  instance_type = "t3.micro"
  region        = "us-east-1"
  source_ami    = "ami-12345678"
  ssh_username  = "ec2-user"
  deprecate_at  = data.null.d.output
}
build { sources = ["source.amazon-ebs.a"] }"#,
    },
    Case {
        plugin: "amazon-ebs builder, a CIDR in a list",
        bad: r#""300.1.1.1/99""#,
        body: r#"source "amazon-ebs" "a" {
  ami_name      = "x-1"
  instance_type = "t3.micro"
  region        = "us-east-1"
  source_ami    = "ami-12345678"
  ssh_username  = "ec2-user"
  temporary_security_group_source_cidrs = ["10.0.0.0/8", lower(data.null.d.output)]
}
build { sources = ["source.amazon-ebs.a"] }"#,
    },
    Case {
        plugin: "the SSH communicator, ssh_private_key_file",
        bad: r#""/no/such/key""#,
        body: r#"source "null" "n" {
  ssh_host             = "127.0.0.1"
  ssh_username         = "u"
  ssh_private_key_file = data.null.d.output
}
build { sources = ["source.null.n"] }"#,
    },
    Case {
        plugin: "file provisioner, source",
        bad: r#""/no/such/file""#,
        body: r#"source "null" "n" { communicator = "none" }
build {
  sources = ["source.null.n"]
  provisioner "file" {
    source      = data.null.d.output
    destination = "/tmp/x"
  }
}"#,
    },
    Case {
        plugin: "shell provisioner, script",
        bad: r#""/no/such/script.sh""#,
        body: r#"source "null" "n" { communicator = "none" }
build {
  sources = ["source.null.n"]
  provisioner "shell" {
    script = data.null.d.output
  }
}"#,
    },
    Case {
        plugin: "shell-local provisioner, environment_vars (KEY=VALUE)",
        bad: r#""NOEQUALS""#,
        body: r#"source "null" "n" { communicator = "none" }
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline           = ["true"]
    environment_vars = [upper(data.null.d.output)]
  }
}"#,
    },
    Case {
        plugin: "checksum post-processor, checksum_types (an enumeration)",
        bad: r#""bogus""#,
        body: r#"source "null" "n" { communicator = "none" }
build {
  sources = ["source.null.n"]
  post-processor "checksum" {
    checksum_types = ["sha256", data.null.d.output]
  }
}"#,
    },
    Case {
        plugin: "compress post-processor, format",
        bad: r#""bogus""#,
        body: r#"source "null" "n" { communicator = "none" }
build {
  sources = ["source.null.n"]
  post-processor "compress" {
    format = data.null.d.output
  }
}"#,
    },
    Case {
        plugin: "http data source, url (fed by another data source)",
        bad: r#""ftp://example""#,
        body: r#"data "http" "h" {
  url = data.null.d.output
}
source "null" "n" { communicator = "none" }
build { sources = ["source.null.n"] }"#,
    },
    Case {
        plugin: "kiln-debian-base data source, size",
        bad: r#""huge""#,
        body: r#"data "kiln-debian-base" "b" {
  size = data.null.d.output
}
source "null" "n" { communicator = "none" }
build { sources = ["source.null.n"] }"#,
    },
];

fn write(dir: &Path, case: &Case) -> (std::path::PathBuf, usize) {
    let src = format!(
        "data \"null\" \"d\" {{\n  input = {}\n}}\n{}\n",
        case.bad, case.body
    );
    // The line of the option the data source feeds.
    let line = src
        .lines()
        .position(|l| l.contains("data.null.d.output") && !l.contains("input"))
        .expect("the option")
        + 1;
    let f = dir.join("t.pkr.hcl");
    std::fs::write(&f, src).expect("write");
    (f, line)
}

#[test]
fn an_option_fed_by_a_data_source_is_checked_once_its_value_is_known() {
    for case in CASES {
        let dir = tempfile::tempdir().expect("tmp");
        let (f, line) = write(dir.path(), case);
        let plain = kiln()
            .current_dir(dir.path())
            .arg("validate")
            .arg(&f)
            .output()
            .expect("run");
        let (out, err) = text(&plain);
        assert_eq!(
            plain.status.code(),
            Some(0),
            "{}: validate checked a value it cannot know yet\n{out}{err}",
            case.plugin
        );
        // Once the data source runs the value is known, and wrong: the
        // check fails, at the option's line; `build` runs data sources too.
        for args in [
            &["validate", "-evaluate-datasources"][..],
            &["build", "-color=false"][..],
        ] {
            let o = kiln()
                .current_dir(dir.path())
                .args(args)
                .arg(&f)
                .output()
                .expect("run");
            let (out, err) = text(&o);
            assert_eq!(
                o.status.code(),
                Some(1),
                "{}, {args:?}\n{out}{err}",
                case.plugin
            );
            assert!(
                err.contains(&format!("t.pkr.hcl:{line}:")),
                "{}, {args:?}: not at the option's line {line}\n{err}",
                case.plugin
            );
        }
    }
}

/// Checks that do not hang on an unknown value still run: the same plugin's
/// other options, and other plugins.
#[test]
fn checks_of_known_options_still_run_beside_unknown_ones() {
    let dir = tempfile::tempdir().expect("tmp");
    let src = r#"data "null" "d" {
  input = "x"
}
source "null" "n" { communicator = "none" }
build {
  sources = ["source.null.n"]
  provisioner "shell" {
    script           = data.null.d.output
    environment_vars = ["NOEQUALS"]
  }
  post-processor "checksum" {
    checksum_types = ["sha256", "bogus"]
    output         = data.null.d.output
  }
}
"#;
    std::fs::write(dir.path().join("t.pkr.hcl"), src).expect("write");
    let o = kiln()
        .current_dir(dir.path())
        .args(["validate", "t.pkr.hcl"])
        .output()
        .expect("run");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    for known in [
        "Unrecognized checksum type: bogus",
        "Environment variable not in format 'key=value': NOEQUALS",
    ] {
        assert!(err.contains(known), "not checked: {known}\n{err}");
    }
    assert!(
        !err.contains("Bad script"),
        "the unknown script was checked:\n{err}"
    );
}

/// Each template the repository ships, from the directory it is run from:
/// `templates/` files name `index.html` beside them (the JSON one as
/// Packer does, from the working directory), the fixtures likewise.
#[test]
fn every_shipped_template_validates() {
    let root = repo();
    // (directory, template, extra arguments)
    let mut cases: Vec<(std::path::PathBuf, String, Vec<String>)> = Vec::new();
    for dir in ["templates", "fixtures/build-json"] {
        for e in std::fs::read_dir(root.join(dir)).expect("dir") {
            let p = e.expect("entry").path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.ends_with(".pkr.hcl") || name.ends_with(".json") {
                let args = if dir == "fixtures/build-json" {
                    vec!["-var=who=world".to_string()]
                } else {
                    Vec::new()
                };
                cases.push((root.join(dir), name.to_string(), args));
            }
        }
    }
    cases.push((
        root.join("fixtures/build-demo"),
        ".".into(),
        vec!["-var-file=demo.pkrvars.hcl".into()],
    ));
    for e in std::fs::read_dir(root.join("fixtures/upgrade")).expect("dir") {
        let d = e.expect("entry").path();
        // The upgrade case about a builder kiln does not have.
        if d.ends_with("unknown-builder") {
            continue;
        }
        for f in ["input.json", "expected.pkr.hcl"] {
            cases.push((d.clone(), f.into(), Vec::new()));
        }
    }
    assert!(cases.len() >= 10, "{cases:?}");
    for (dir, template, args) in &cases {
        let src = std::fs::read_to_string(dir.join(template)).unwrap_or_default();
        let mut modes = vec![vec!["validate"]];
        // Data sources that reach outside when evaluated are evaluated by
        // the tests that provide what they reach: the Debian base (a disk
        // image: the qemu tests validate the quick start that way, with the
        // image they built) and amazon-ami (an EC2 endpoint: tests/amazon.rs).
        if !["kiln-debian-base", "amazon-ami"]
            .iter()
            .any(|d| src.contains(&format!("data \"{d}\"")))
        {
            modes.push(vec!["validate", "-evaluate-datasources"]);
        }
        for mode in modes {
            let o = kiln()
                .current_dir(dir)
                .args(&mode)
                .args(args)
                .arg(template)
                .output()
                .expect("run");
            let (out, err) = text(&o);
            assert_eq!(
                o.status.code(),
                Some(0),
                "{mode:?} {} in {}\n{out}{err}",
                template,
                dir.display()
            );
        }
    }
}
