//! Packer's global commands and flags that scripts rely on.

mod common;

#[test]
fn version_command_and_flags() {
    let out = common::kiln().arg("version").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        format!("kiln v{}", env!("CARGO_PKG_VERSION")),
        "{text}"
    );
    assert!(text.contains("Compatible with Packer v1.9.5"), "{text}");
    // `packer -v`, `-version` and `--version` print the bare number
    for flag in ["-v", "-version", "--version"] {
        let out = common::kiln().arg(flag).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", env!("CARGO_PKG_VERSION")),
            "{flag}"
        );
    }
    // an unknown command is a usage error, exit 1 as in Packer
    let out = common::kiln().arg("frobnicate").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
}

/// A flag kiln does not know is a usage error (exit 1, as in Packer), and
/// the message and the help name flags as Packer users type them.
#[test]
fn flag_errors_and_help_speak_single_dash() {
    let out = common::kiln()
        .args(["validate", "-color=false", "t.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'-color'") && !err.contains("--color"),
        "{err}"
    );
    assert!(
        err.contains("'-no-color'"),
        "the near miss, single-dash: {err}"
    );

    let out = common::kiln()
        .args(["build", "-bogus", "t.json"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'-bogus'") && err.contains("'-- -bogus'"),
        "a bare -- stays: {err}"
    );

    let out = common::kiln()
        .args(["build", "-help"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("-var-file") && help.contains("-on-error") && !help.contains("--var"),
        "{help}"
    );
}

fn init_in(files: &[(&str, &str)], args: &[&str]) -> (String, String, i32) {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let out = common::kiln()
        .arg("init")
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let (o, e) = common::text(&out);
    (o, e, out.status.code().unwrap_or(-1))
}

/// `packer init` is the first line of most HCL2 pipelines: kiln's plugins
/// are built in, so it checks what the template requires and installs
/// nothing; exit codes as Packer's.
#[test]
fn init_checks_required_plugins() {
    let plugins = |body: &str| {
        format!("packer {{\n  required_plugins {{\n{body}  }}\n}}\nsource \"null\" \"a\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.a\"]\n}}\n")
    };
    let amazon = "    amazon = {\n      version = \">= 1.2.8\"\n      source  = \"github.com/hashicorp/amazon\"\n    }\n";
    // a directory and a file, with and without -upgrade
    for args in [&["."][..], &["-upgrade", "t.pkr.hcl"]] {
        let (out, err, rc) = init_in(&[("t.pkr.hcl", &plugins(amazon))], args);
        assert_eq!(rc, 0, "{out}{err}");
        assert!(
            out.contains("github.com/hashicorp/amazon") && out.contains("built into kiln"),
            "{out}"
        );
        assert!(!out.contains("Warning"), "{out}");
    }
    // a version kiln's amazon does not follow: said, not fatal
    let (out, _, rc) = init_in(
        &[("t.pkr.hcl", &plugins(&amazon.replace(">= 1.2.8", ">= 9.0")))],
        &["."],
    );
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("Warning") && out.contains("\">= 9.0\""),
        "{out}"
    );
    // a plugin kiln does not have: exit 1, at its line
    let (out, err, rc) = init_in(
        &[(
            "t.pkr.hcl",
            &plugins("    azure = {\n      source = \"github.com/hashicorp/azure\"\n    }\n"),
        )],
        &["."],
    );
    assert_eq!(rc, 1, "{out}{err}");
    assert!(
        err.contains("Unknown plugin") && err.contains("t.pkr.hcl:3:13"),
        "{err}"
    );
    // a malformed constraint
    let (_, err, rc) = init_in(
        &[("t.pkr.hcl", &plugins(&amazon.replace(">= 1.2.8", "newest")))],
        &["."],
    );
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("Invalid version constraint"), "{err}");
    // no packer block: nothing to do
    let (out, err, rc) = init_in(
        &[(
            "t.pkr.hcl",
            "source \"null\" \"a\" {\n  communicator = \"none\"\n}\n",
        )],
        &["."],
    );
    assert_eq!((rc, out.as_str()), (0, ""), "{err}");
    // a syntax error, an empty directory, a JSON template: exit 1
    let (_, err, rc) = init_in(&[("t.pkr.hcl", "packer {\n")], &["."]);
    assert_eq!(rc, 1, "{err}");
    let (_, err, rc) = init_in(&[], &["."]);
    assert_eq!(rc, 1, "{err}");
    assert!(err.contains("Could not find any config file"), "{err}");
    let (_, err, rc) = init_in(
        &[(
            "t.json",
            "{\"builders\": [{\"type\": \"null\", \"communicator\": \"none\"}]}",
        )],
        &["t.json"],
    );
    assert_eq!(rc, 1, "{err}");
    assert!(
        err.contains("supported for HCL2 configuration templates only"),
        "{err}"
    );
    // no template at all is a usage error
    let (_, _, rc) = init_in(&[], &[]);
    assert_eq!(rc, 1);
}

/// `packer plugins …`, as pipelines call it (`plugins install
/// github.com/hashicorp/amazon` before a build): built-in plugins install
/// as a no-op, others and removals fail with exit 1.
#[test]
fn plugins_commands_know_the_built_in_plugins() {
    let run = |args: &[&str]| {
        let out = common::kiln()
            .arg("plugins")
            .args(args)
            .output()
            .expect("run");
        let (o, e) = common::text(&out);
        (out.status.code(), o, e)
    };
    let (rc, o, _) = run(&["install", "github.com/hashicorp/amazon"]);
    assert_eq!(rc, Some(0), "{o}");
    assert!(o.contains("built into kiln"), "{o}");
    let (rc, _, e) = run(&["install", "github.com/hashicorp/amazon", ">= 99"]);
    assert_eq!(rc, Some(0), "{e}");
    assert!(e.contains("Warning") && e.contains(">= 99"), "{e}");
    let (rc, _, e) = run(&["install", "github.com/hashicorp/amazon", "latest"]);
    assert_eq!(rc, Some(1), "{e}");
    let (rc, _, e) = run(&["install", "github.com/hashicorp/azure"]);
    assert_eq!(rc, Some(1), "{e}");
    assert!(e.contains("no built-in plugin"), "{e}");
    let (rc, o, _) = run(&["installed"]);
    assert_eq!(rc, Some(0));
    for p in ["github.com/hashicorp/amazon", "github.com/hashicorp/qemu"] {
        assert!(o.lines().any(|l| l.starts_with(p)), "{o}");
    }
    let (rc, _, e) = run(&["remove", "github.com/hashicorp/amazon"]);
    assert_eq!(rc, Some(1), "{e}");
    // required: the template's required_plugins
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("t.pkr.hcl"), "packer {\n  required_plugins {\n    amazon = {\n      version = \">= 1.2.8\"\n      source  = \"github.com/hashicorp/amazon\"\n    }\n  }\n}\n")
        .expect("write");
    let (rc, o, e) = run(&["required", &dir.path().display().to_string()]);
    assert_eq!(rc, Some(0), "{e}");
    assert_eq!(
        o.trim(),
        "github.com/hashicorp/amazon >= 1.2.8 (built into kiln)"
    );
}

/// `-only`/`-except` leave builds out before they are prepared, as Packer
/// does: a left-out build whose builder kiln lacks is no error, in JSON and
/// HCL2 alike; selected, it still is.
#[test]
fn only_and_except_filter_builds_before_they_are_prepared() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(
        d.join("t.json"),
        r#"{"builders": [{"type": "null", "name": "ok", "communicator": "none"}, {"type": "virtualbox-iso", "name": "vb"}]}"#,
    )
    .expect("write");
    std::fs::write(
        d.join("t.pkr.hcl"),
        "source \"null\" \"ok\" {\n  communicator = \"none\"\n}\nsource \"virtualbox-iso\" \"vb\" {}\nbuild {\n  sources = [\"source.null.ok\", \"source.virtualbox-iso.vb\"]\n}\n",
    )
    .expect("write");
    let cases: &[(&[&str], i32)] = &[
        (&["validate", "-only=ok", "t.json"], 0),
        (&["validate", "-except=vb", "t.json"], 0),
        (&["validate", "t.json"], 1),
        (&["validate", "-only=vb", "t.json"], 1),
        (&["validate", "-only=null.ok", "t.pkr.hcl"], 0),
        (&["validate", "-except=virtualbox-iso.*", "t.pkr.hcl"], 0),
        (&["validate", "t.pkr.hcl"], 1),
        (&["build", "-only=ok", "t.json"], 0),
    ];
    for (args, code) in cases {
        let out = common::kiln()
            .current_dir(d)
            .args(*args)
            .output()
            .expect("run");
        let (o, e) = common::text(&out);
        assert_eq!(out.status.code(), Some(*code), "{args:?}\n{o}{e}");
    }
}
