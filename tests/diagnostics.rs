//! Bad input gets a diagnostic with file, line and column, a hint where one
//! helps, and never a panic.

mod common;

use proptest::prelude::*;

fn validate(src: &str, extra: &[&str]) -> (String, i32) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("t.pkr.hcl"), src).expect("write");
    let out = common::kiln()
        .arg("validate")
        .args(extra)
        .arg("t.pkr.hcl")
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let (o, e) = common::text(&out);
    (format!("{o}{e}"), out.status.code().unwrap_or(-1))
}

#[test]
fn syntax_error_has_line_and_column() {
    let (out, rc) = validate(
        "source \"null\" \"a\" {\n  communicator = \"none\"\n\nbuild {\n",
        &[],
    );
    assert_eq!(rc, 1);
    // Where and how Packer's parser reports it: the innermost unclosed block.
    assert!(
        out.contains("Unclosed configuration block") && out.contains("t.pkr.hcl:4:7"),
        "{out}"
    );
}

#[test]
fn unknown_argument_suggests_the_right_one() {
    let (out, rc) = validate("source \"null\" \"a\" {\n  comunicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n}\n", &[]);
    assert_eq!(rc, 1);
    assert!(
        out.contains("Unsupported argument")
            && out.contains("t.pkr.hcl:2:3")
            && out.contains("did you mean \"communicator\"?"),
        "{out}"
    );
}

#[test]
fn every_error_in_a_file_is_reported() {
    let (out, _) = validate(
        "source \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {\n    inlin = [\"x\"]\n  }\n  provisioner \"shel-local\" {\n  }\n}\n",
        &[],
    );
    assert!(out.contains("did you mean \"inline\"?"), "{out}");
    assert!(
        out.contains("Unknown provisioner type") && out.contains("did you mean \"shell-local\"?"),
        "{out}"
    );
}

#[test]
fn unknown_function_and_variable_suggest_names() {
    let (out, _) = validate("locals {\n  a = uper(\"x\")\n  b = var.nme\n}\nvariable \"name\" {\n  default = \"x\"\n}\n", &[]);
    assert!(
        out.contains("Call to unknown function") && out.contains("did you mean \"upper\"?"),
        "{out}"
    );
    assert!(out.contains("did you mean \"name\"?"), "{out}");
}

#[test]
fn local_cycle_reports_its_chain() {
    let (out, rc) = validate(
        "locals {\n  a = local.b\n  b = local.c\n  c = local.a\n}\n",
        &[],
    );
    assert_eq!(rc, 1);
    let flat: String = out
        .replace(['│', '\n'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        out.contains("Cyclic dependency")
            && flat.contains("local.a -> local.b -> local.c -> local.a"),
        "{out}"
    );
}

#[test]
fn undeclared_var_is_an_error_and_var_file_extra_a_warning() {
    let src = "variable \"x\" {\n  type = number\n  default = 1\n}\n";
    let (out, rc) = validate(src, &["-var", "y=2"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("Undefined -var variable"), "{out}");
    let (out, rc) = validate(src, &["-var", "x=notanumber"]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("a number is required"), "{out}");
}

#[test]
fn variable_validation_and_types() {
    let src = "variable \"n\" {\n  type = list(number)\n  default = [\"1\", 2]\n  validation {\n    condition = length(var.n) > 2\n    error_message = \"Need three.\"\n  }\n}\n";
    let (out, rc) = validate(src, &[]);
    assert_eq!(rc, 1);
    assert!(out.contains("Need three."), "{out}");
    let (out, rc) = validate(src, &["-var", "n=[1,2,3]"]);
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn pkr_var_env_and_precedence() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        "variable \"v\" {\n  default = \"default\"\n}\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("a.auto.pkrvars.hcl"), "v = \"auto\"\n").expect("write");
    std::fs::write(dir.path().join("f.pkrvars.hcl"), "v = \"file\"\n").expect("write");
    let eval = |args: &[&str], env: Option<&str>| {
        let mut c = common::kiln();
        c.arg("console").args(args).arg(".").current_dir(dir.path());
        if let Some(e) = env {
            c.env("PKR_VAR_v", e);
        }
        c.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"var.v\n")
            .expect("write");
        common::text(&child.wait_with_output().expect("wait"))
            .0
            .trim()
            .to_string()
    };
    assert_eq!(eval(&[], Some("env")), "auto");
    assert_eq!(eval(&["-var-file=f.pkrvars.hcl"], Some("env")), "file");
    assert_eq!(
        eval(&["-var-file=f.pkrvars.hcl", "-var", "v=cli"], Some("env")),
        "cli"
    );
    std::fs::remove_file(dir.path().join("a.auto.pkrvars.hcl")).expect("rm");
    assert_eq!(eval(&[], Some("env")), "env");
    assert_eq!(eval(&[], None), "default");
}

#[test]
fn inspect_graph_formats() {
    let dir = common::repo().join("fixtures/build-demo");
    for fmt in ["json", "dot"] {
        let out = common::kiln()
            .args([
                "inspect",
                &format!("--graph={fmt}"),
                "-var-file=demo.pkrvars.hcl",
                ".",
            ])
            .current_dir(&dir)
            .output()
            .expect("run");
        let (o, e) = common::text(&out);
        assert!(out.status.success(), "{e}");
        assert!(
            o.contains("demo.null.alpha") && o.contains("shell-local"),
            "{o}"
        );
        if fmt == "json" {
            let v: serde_json::Value = serde_json::from_str(&o).expect("valid json");
            assert_eq!(v["builds"].as_array().map(|a| a.len()), Some(2));
            // only/except were applied per source
            assert_eq!(
                v["builds"][0]["provisioners"].as_array().map(|a| a.len()),
                Some(2)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]
    /// Arbitrary text and mangled templates: a diagnostic, never a panic.
    #[test]
    fn validate_never_panics(src in prop_oneof![
        ".{0,200}",
        "(locals \\{ a = [a-z(){}\\[\\]\"+*/%0-9., ]{0,60} \\}|variable \"x\" \\{ type = [a-z()]{0,20} \\})",
    ]) {
        let (out, rc) = validate(&src, &[]);
        prop_assert!(rc == 0 || rc == 1, "exit {rc}: {out}");
        prop_assert!(!out.contains("panicked"), "{out}");
    }
}

fn validate_named(name: &str, src: &str) -> (String, i32) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join(name), src).expect("write");
    let out = common::kiln()
        .arg("validate")
        .arg(name)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    let (o, e) = common::text(&out);
    (format!("{o}{e}"), out.status.code().unwrap_or(-1))
}

/// `*.pkr.json` is read through a translation to native syntax; its
/// diagnostics still point at the JSON the user wrote, with a JSON snippet.
#[test]
fn pkr_json_diagnostics_point_into_the_json() {
    let src = r#"{
  "source": {
    "null": {
      "a": {
        "comunicator": "none"
      }
    }
  },
  "locals": {
    "greeting": "${uper(\"hi\")}"
  },
  "build": {
    "sources": ["source.null.a"],
    "provisioner": [
      {"shell-local": {"inline": ["echo ${local.greting}"]}}
    ]
  }
}
"#;
    // each error at its JSON line and column, on the offending text
    let (out, rc) = validate_named("t.pkr.json", &src.replace("uper", "upper"));
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("Unsupported argument") && out.contains("t.pkr.json:5:9"),
        "{out}"
    );
    assert!(out.contains("did you mean \"communicator\"?"), "{out}");
    assert!(
        !out.contains("comunicator = "),
        "no native-syntax translation in the output:\n{out}"
    );
    let (out, rc) = validate_named("t.pkr.json", &src.replace("comunicator", "communicator"));
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("t.pkr.json:10:20"),
        "the call to uper is on line 10, column 20:\n{out}"
    );
    assert!(out.contains("did you mean \"upper\"?"), "{out}");
    assert!(
        out.contains("\"greeting\": \"${uper(\\\"hi\\\")}\""),
        "the snippet is the JSON line:\n{out}"
    );

    // an HCL syntax error inside a JSON string
    let (out, rc) = validate_named(
        "t.pkr.json",
        "{\n  \"locals\": {\n    \"x\": \"${1 +}\"\n  }\n}\n",
    );
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("t.pkr.json:3:"), "{out}");
    // and a JSON syntax error
    let (out, rc) = validate_named("t.pkr.json", "{\n  \"locals\": {\n    \"x\": 1,\n  }\n}\n");
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("Invalid JSON syntax") && out.contains("t.pkr.json:4:3"),
        "{out}"
    );
}

/// In a legacy JSON template, an error about a key that several objects
/// share points at the object that has it wrong.
#[test]
fn legacy_json_points_at_the_right_one_of_repeated_keys() {
    let src = "{\n  \"builders\": [\n    {\"type\": \"null\", \"name\": \"a\", \"communicator\": \"none\"},\n    {\"type\": \"null\", \"name\": \"b\", \"communicator\": \"none\", \"ssh_port\": [1]}\n  ],\n  \"provisioners\": [\n    {\"type\": \"shell-local\", \"inline\": [\"true\"]},\n    {\"type\": \"shell-local\", \"inline\": [\"true\"], \"override\": {\"b\": {\"inlin\": [\"x\"]}}}\n  ]\n}\n";
    let (out, rc) = validate_named("t.json", src);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("'ssh_port' expected type") && out.contains("t.json:4:59"),
        "{out}"
    );
    assert!(
        out.contains("unknown configuration key: 'inlin'") && out.contains("t.json:8:68"),
        "{out}"
    );
}

/// A long line (a minified JSON template, a generated HCL file) is shown in
/// part: the window around the place the diagnostic points at, at its real
/// line and column, never the thousands of characters around it.
#[test]
fn long_lines_are_shown_around_the_error() {
    let width = |out: &str| out.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    // a legacy JSON template on one line, the bad key far into it
    let filler: String = (0..60).map(|i| format!("\"v{i}\": \"{i}\", ")).collect();
    let src = format!("{{\"variables\": {{{filler}\"last\": \"x\"}}, \"builders\": [{{\"type\": \"null\", \"communicator\": \"none\", \"ssh_prt\": 1}}]}}");
    let col = src.find("\"ssh_prt\"").expect("key") + 1;
    let (out, rc) = validate_named("t.json", &src);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains(&format!("t.json:1:{col}")),
        "the real column, {col}:\n{out}"
    );
    assert!(
        out.contains("\"ssh_prt\": 1"),
        "the snippet shows the offending key:\n{out}"
    );
    assert!(
        !out.contains("\"v1\": \"1\""),
        "the snippet is not the whole line:\n{out}"
    );
    assert!(width(&out) < 130, "no line of the output is long:\n{out}");

    // HCL: the error on a short line between two long ones
    let long = |name: &str| {
        format!(
            "  {name} = {{ {} }}\n",
            (0..40)
                .map(|i| format!("k{i} = \"{i}\""))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let src = format!(
        "locals {{\n{}  b = uper(\"x\")\n{}}}\n",
        long("t1"),
        long("t2")
    );
    let (out, rc) = validate(&src, &[]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("t.pkr.hcl:3:7")
            && out.contains("b = uper(\"x\")")
            && out.contains("did you mean \"upper\"?"),
        "{out}"
    );
    assert!(width(&out) < 130, "no line of the output is long:\n{out}");

    // short lines keep their context lines
    let (out, _) = validate("locals {\n  a = 1\n  b = uper(\"x\")\n  c = 2\n}\n", &[]);
    assert!(out.contains("a = 1") && out.contains("c = 2"), "{out}");
}

/// A var file that sets a variable the template does not declare: `validate`
/// warns unless `-no-warn-undeclared-var`, `build` only with
/// `-warn-on-undeclared-var` (Packer 1.9's defaults); neither fails.
#[test]
fn undeclared_var_file_entries_warn_where_packer_warns() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("t.pkr.hcl"), "variable \"x\" {\n  default = 1\n}\nsource \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n}\n")
        .expect("write");
    std::fs::write(dir.path().join("v.pkrvars.hcl"), "x = 2\nunused = 3\n").expect("write");
    let run = |args: &[&str]| {
        let out = common::kiln()
            .args(args)
            .args(["-var-file=v.pkrvars.hcl", "t.pkr.hcl"])
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .expect("run");
        let (o, e) = common::text(&out);
        (out.status.code(), o, e)
    };
    let warned = |e: &str| e.contains("Undefined variable") && e.contains("\"unused\"");
    let (rc, o, e) = run(&["validate"]);
    assert_eq!(rc, Some(0), "{o}{e}");
    assert!(warned(&e), "{e}");
    let (rc, o, e) = run(&["validate", "-no-warn-undeclared-var"]);
    assert_eq!(rc, Some(0), "{o}{e}");
    assert!(!warned(&e), "{e}");
    let (rc, o, e) = run(&["build", "-color=false"]);
    assert_eq!(rc, Some(0), "{o}{e}");
    assert!(!warned(&e) && !warned(&o), "{o}{e}");
    let (rc, o, e) = run(&["build", "-color=false", "-warn-on-undeclared-var"]);
    assert_eq!(rc, Some(0), "{o}{e}");
    assert!(warned(&e), "{e}");
    // -machine-readable: the warning as a `ui,say` line on stdout, and
    // nothing else for a valid template
    let (rc, o, e) = run(&["validate", "-machine-readable"]);
    assert_eq!(rc, Some(0), "{o}{e}");
    let lines: Vec<&str> = o.lines().collect();
    assert_eq!(lines.len(), 1, "{o}");
    let fields: Vec<&str> = lines[0].splitn(5, ',').collect();
    assert!(
        fields[0].parse::<u64>().is_ok()
            && fields[1..4] == ["", "ui", "say"]
            && fields[4].contains("Undefined variable"),
        "{o}"
    );
    assert!(!fields[4].contains('\n'), "{o}");
    std::fs::write(dir.path().join("v.pkrvars.hcl"), "x = 2\n").expect("write");
    let (rc, o, e) = run(&["validate", "-machine-readable"]);
    assert_eq!((rc, o.as_str()), (Some(0), ""), "{e}");
    // an error: `ui,error`, exit 1
    std::fs::write(dir.path().join("v.pkrvars.hcl"), "x = \n").expect("write");
    let (rc, o, _) = run(&["validate", "-machine-readable"]);
    assert_eq!(rc, Some(1), "{o}");
    assert!(
        o.lines().any(|l| l.split(',').nth(3) == Some("error")),
        "{o}"
    );
}
