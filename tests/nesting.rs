//! Nesting hclsyntax accepts and hcl-edit alone would refuse (more than 64
//! levels, more than 128 chained operators): templates that generate deep
//! conditionals, directives or long sums validate and evaluate as in
//! Packer (compared with Packer 1.6.6 when it is installed); past kiln's
//! own limits, a diagnostic naming the limit, never a crash.

mod common;

use common::{kiln, packer_available, run_with_stdin, text};
use std::os::unix::process::ExitStatusExt;

/// A template with `x = 70` and `local.a = expr`.
fn template(expr: &str) -> String {
    format!("variable \"x\" {{\n  default = 70\n}}\n\nlocals {{\n  a = {expr}\n}}\n")
}

/// What `kiln console` prints for `local.a` of a template with `expr`.
fn console(dir: &std::path::Path, expr: &str) -> (Option<i32>, String, String) {
    let f = dir.join("t.pkr.hcl");
    std::fs::write(&f, template(expr)).expect("write");
    let o = run_with_stdin(kiln().arg("console").arg(&f), b"local.a\n");
    assert_eq!(o.status.signal(), None, "killed: {:?}", text(&o));
    let (out, err) = text(&o);
    (o.status.code(), out, err)
}

fn packer_console(dir: &std::path::Path, expr: &str) -> String {
    let f = dir.join("p.pkr.hcl");
    std::fs::write(&f, template(expr)).expect("write");
    let o = run_with_stdin(
        std::process::Command::new("packer").arg("console").arg(&f),
        b"local.a\n",
    );
    text(&o).0
}

fn nest(open: &str, close: &str, n: usize, mid: &str) -> String {
    format!("{}{mid}{}", open.repeat(n), close.repeat(n))
}

/// Each case: the expression and what the console prints for it.
fn deep_cases() -> Vec<(String, String)> {
    let sum_of = |n: usize| ["1"; 1].repeat(n).join(" + ");
    let lookup = (0..100)
        .map(|i| format!("var.x == {i} ? \"r{i}\""))
        .collect::<Vec<_>>()
        .join(" : ")
        + " : \"none\"";
    let digits: String = (0..100).map(|i| i.to_string()).collect();
    let stripped: String = (0..100)
        .map(|i| format!("%{{~ if var.x > {i} ~}}\\n{i}"))
        .collect::<String>()
        + &"%{~ endif ~}".repeat(100);
    let heredoc = format!(
        "<<EOT\n{}{}\nEOT\n",
        (0..80)
            .map(|i| format!("%{{ if true ~}}\nline {i}\n"))
            .collect::<String>(),
        "%{ endif ~}\n".repeat(80)
    );
    let heredoc_want: String = (0..80).map(|i| format!("line {i}\n")).collect();
    vec![
        (lookup, "r70".into()),
        (nest("(", ")", 300, "var.x"), "70".into()),
        (
            nest("[", "]", 100, "\"deep\"") + &"[0]".repeat(100),
            "deep".into(),
        ),
        (nest("max(1, ", ")", 200, "var.x"), "70".into()),
        (nest("{k = ", "}", 100, "7") + &".k".repeat(100), "7".into()),
        (nest("-", "", 301, "2"), "-2".into()),
        (nest("!", "", 100, "false"), "false".into()),
        (sum_of(300), "300".into()),
        (sum_of(5000) + " * 2 - 1", "5000".into()),
        (
            (0..200)
                .map(|i| format!("{i} * 2"))
                .collect::<Vec<_>>()
                .join(" + "),
            "39800".into(),
        ),
        (
            format!("\"{}\"", nest("${\"", "\"}", 120, "in")),
            "in".into(),
        ),
        (
            format!(
                "\"{}\"",
                (0..100)
                    .map(|i| format!("%{{if true}}{i}"))
                    .collect::<String>()
                    + &"%{endif}".repeat(100)
            ),
            digits,
        ),
        (
            format!("\"{stripped}\""),
            (0..70).map(|i| i.to_string()).collect(),
        ),
        (heredoc, heredoc_want),
        (
            format!(
                "\"{}\"",
                nest("%{ for v in [1] }${v}", "%{ endfor }", 90, "|")
            ),
            "1".repeat(90) + "|",
        ),
    ]
}

#[test]
fn nesting_hclsyntax_accepts_evaluates_as_packer_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let packer = packer_available();
    for (expr, want) in deep_cases() {
        let short: String = expr.chars().take(60).collect();
        let (code, out, err) = console(dir.path(), &expr);
        assert_eq!(code, Some(0), "{short}: {err}");
        assert_eq!(
            out.trim_end_matches('\n'),
            want.trim_end_matches('\n'),
            "{short}"
        );
        if packer {
            assert_eq!(
                out,
                packer_console(dir.path(), &expr),
                "{short} (Packer 1.6.6)"
            );
        }
        let f = dir.path().join("t.pkr.hcl");
        let o = kiln().arg("validate").arg(&f).output().expect("validate");
        assert_eq!(o.status.code(), Some(0), "{short}: {:?}", text(&o));
    }
}

#[test]
fn a_console_line_nests_as_deep() {
    let line = format!(
        "{}\n{}\n",
        nest("(", ")", 200, "1 + 2"),
        ["1"; 400].join("+")
    );
    let o = run_with_stdin(kiln().arg("console"), line.as_bytes());
    let (out, err) = text(&o);
    assert_eq!(out, "3\n400\n", "{err}");
}

/// An error deep inside is reported where it is, as for any other.
#[test]
fn an_error_deep_inside_points_at_its_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    let expr = format!(
        "{}\n    [\n      var.nope]{}",
        "(".repeat(100),
        ")".repeat(100)
    );
    let (code, _, err) = console(dir.path(), &expr);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("t.pkr.hcl:8:10"), "{err}");
    assert!(
        err.contains("does not have an attribute named \"nope\""),
        "{err}"
    );
}

/// Beyond kiln's own limits (hclsyntax has none: Go's stack grows), a
/// diagnostic that names the limit; never a stack overflow.
#[test]
fn past_kilns_limits_a_diagnostic_names_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 100_000;
    let chained = (0..n)
        .map(|i| format!("var.x == {i} ? {i}"))
        .collect::<Vec<_>>()
        .join(" : ")
        + " : -1";
    let cases = [
        (chained, "at most 1000 levels"),
        (nest("(", ")", n, "1"), "at most 1000 levels"),
        (nest("-", "", n, "1"), "at most 1000 levels"),
        (nest("[", "]", 1001, "1"), "at most 1000 levels"),
        (
            format!("\"{}\"", nest("%{if true}", "%{endif}", n, "x")),
            "at most 1000 levels",
        ),
        (["1"; 25_000].join("+"), "at most 20000 binary operators"),
        // Chains inside chains add up, as in hcl-edit's count.
        (
            (0..10).fold("1".to_string(), |e, _| {
                format!("({e} + {})", ["1"; 2_500].join("+"))
            }),
            "at most 20000 binary operators",
        ),
    ];
    for (expr, limit) in cases {
        let short: String = expr.chars().take(40).collect();
        let (code, _, err) = console(dir.path(), &expr);
        assert_eq!(code, Some(1), "{short}: {err}");
        assert!(err.contains(limit), "{short}: {err}");
    }
    // Just inside the limits: accepted.
    let (code, out, err) = console(dir.path(), &nest("[", "]", 999, "1").replace("[1]", "1"));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.starts_with('['), "{out}");
    let (code, out, err) = console(dir.path(), &["1"; 19_000].join("+"));
    assert_eq!((code, out.as_str()), (Some(0), "19000\n"), "{err}");
}

/// hcl-edit's visitors skip a `%{ for }` directive's collection; a local
/// read only there is still evaluated before the one reading it.
#[test]
fn a_local_read_in_a_for_directive_is_evaluated_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("t.pkr.hcl");
    std::fs::write(
        &f,
        "locals {\n  b = \"%{ for x in local.a }${x},%{ endfor }\"\n  a = [1, 2]\n}\n",
    )
    .expect("write");
    let o = run_with_stdin(kiln().arg("console").arg(&f), b"local.b\n");
    let (out, err) = text(&o);
    assert_eq!(out, "1,2,\n", "{err}");
}

/// A `templatefile` file nests as deep: 90 nested directives (cut into
/// pieces) render as 20 do (hcl-edit alone) when only 15 are true.
#[test]
fn a_template_file_nests_as_deep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let render = |n: usize| {
        let t = format!(
            "header ${{name}}\n{}{}%{{ for x in items }}\n- ${{x}}\n%{{ endfor }}\ntail\n",
            (0..n)
                .map(|i| format!("%{{ if n > {i} ~}}\n  line {i} $${{lit}} ${{upper(name)}}\n"))
                .collect::<String>(),
            "%{ endif ~}\n".repeat(n)
        );
        let tpl = dir.path().join(format!("t{n}.tpl"));
        std::fs::write(&tpl, t).expect("write");
        let expr = format!(
            "templatefile(\"{}\", {{ name = \"kiln\", n = 15, items = [1, 2] }})",
            tpl.display()
        );
        let (code, out, err) = console(dir.path(), &expr);
        assert_eq!(code, Some(0), "{err}");
        out
    };
    let shallow = render(20);
    assert!(
        shallow.starts_with("header kiln\n  line 0 ${lit} KILN\n"),
        "{shallow}"
    );
    assert!(
        shallow.contains("line 14 ") && !shallow.contains("line 15 "),
        "{shallow}"
    );
    assert_eq!(render(90), shallow);
}

/// A flush heredoc (`<<-`) measures its indentation over every line, those
/// inside deep directives too: 90 nested (cut) render as 20 (not cut).
#[test]
fn a_flush_heredoc_nests_as_deep() {
    let dir = tempfile::tempdir().expect("tempdir");
    let render = |n: usize| {
        let body = (0..n)
            .map(|i| format!("    %{{ if var.x > {i} ~}}\n      line {i}\n"))
            .collect::<String>()
            + &"    %{ endif ~}\n".repeat(n);
        let expr = format!("<<-EOT\n    head\n{body}      tail\n    EOT\n");
        let (code, out, err) = console(dir.path(), &expr.replace("var.x", "15 + var.x - 70"));
        assert_eq!(code, Some(0), "{err}");
        if packer_available() {
            assert_eq!(
                out,
                packer_console(dir.path(), &expr.replace("var.x", "15 + var.x - 70"))
            );
        }
        out
    };
    let shallow = render(20);
    assert!(shallow.starts_with("head\n      line 0\n"), "{shallow:?}");
    assert!(
        shallow.contains("line 14\n") && !shallow.contains("line 15"),
        "{shallow}"
    );
    assert_eq!(render(90), shallow);
}

/// Many deep expressions in one file: the pieces of one depth are parsed
/// together and each lands where it was cut from.
#[test]
fn many_deep_locals_each_keep_their_own_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("t.pkr.hcl");
    let locals: String = (0..300)
        .map(|i| {
            format!(
                "  l{i} = {}\n",
                nest(
                    "(",
                    ")",
                    70,
                    &format!("{i} + length({})", nest("[", "]", 20, "1"))
                )
            )
        })
        .collect();
    std::fs::write(&f, format!("locals {{\n{locals}}}\n")).expect("write");
    let o = run_with_stdin(
        kiln().arg("console").arg(&f),
        b"local.l0\nlocal.l137\nlocal.l299\n",
    );
    let (out, err) = text(&o);
    assert_eq!(out, "1\n138\n300\n", "{err}");
}
