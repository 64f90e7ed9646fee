//! Generated hostile input, run by a real `kiln` under a memory limit
//! (RLIMIT_AS) and a deadline per case: expressions for the console (the
//! function library with extreme arguments), templates for `validate`
//! (random blocks, attributes and nesting) and var files. Whatever the
//! input, kiln answers with a result or a diagnostic: never exit 101 (a
//! panic), never a signal (an abort on a failed allocation, a stack
//! overflow), never a hang.

mod common;

use common::kiln;
use proptest::prelude::*;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The address-space limit each kiln runs under.
const MEMORY: u64 = 2 << 30;
/// The deadline for one case.
const DEADLINE: Duration = Duration::from_secs(20);

/// Run `cmd` with `input` on stdin under the limits; a description of what
/// went wrong, if anything did.
fn misbehaves(cmd: &mut Command, input: &str) -> Option<String> {
    // SAFETY: setrlimit is async-signal-safe; it runs in the child between
    // fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: MEMORY,
                rlim_max: MEMORY,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use std::io::Read;
                    let _ = e.read_to_string(&mut err);
                }
                return match (status.code(), status.signal()) {
                    (Some(0 | 1), _) => None,
                    (Some(c), _) => Some(format!("exit {c}: {err}")),
                    (None, Some(s)) => Some(format!("killed by signal {s}: {err}")),
                    (None, None) => Some("no exit status".into()),
                };
            }
            Ok(None) if start.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                return Some(format!("no answer within {DEADLINE:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Some(format!("wait: {e}")),
        }
    }
}

/// Functions that take no time or network in any argument (bcrypt's cost
/// is the caller's to choose, as in Packer; vault, consul and Secrets
/// Manager reach the network).
const FUNCTIONS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "log",
    "max",
    "min",
    "parseint",
    "pow",
    "signum",
    "chomp",
    "format",
    "formatlist",
    "indent",
    "join",
    "lower",
    "regex",
    "regexall",
    "regex_replace",
    "replace",
    "split",
    "strrev",
    "substr",
    "title",
    "trim",
    "trimprefix",
    "trimsuffix",
    "trimspace",
    "upper",
    "chunklist",
    "coalesce",
    "coalescelist",
    "compact",
    "concat",
    "contains",
    "distinct",
    "element",
    "flatten",
    "index",
    "keys",
    "length",
    "lookup",
    "merge",
    "range",
    "reverse",
    "setintersection",
    "setproduct",
    "setunion",
    "slice",
    "sort",
    "values",
    "zipmap",
    "tobool",
    "tonumber",
    "tostring",
    "tolist",
    "toset",
    "tomap",
    "base64decode",
    "base64encode",
    "csvdecode",
    "jsondecode",
    "jsonencode",
    "urlencode",
    "yamldecode",
    "yamlencode",
    "basename",
    "dirname",
    "formatdate",
    "timeadd",
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "uuidv5",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnet",
    "cidrsubnets",
    "try",
    "can",
    "convert",
];

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        // Numbers, ordinary and extreme.
        prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("1e308".to_string()),
            Just("1e400".to_string()),
            Just("1e999999999".to_string()),
            Just("99999999999999999999999999".to_string()),
            Just("0.000000001".to_string()),
            Just("1000000".to_string()),
            Just("64".to_string()),
            (-1000i64..100_000).prop_map(|n| n.to_string()),
        ],
        // Strings, including format verbs, durations, CIDRs, YAML, JSON.
        prop_oneof![
            Just(r#""""#.to_string()),
            Just(r#""%999999999d""#.to_string()),
            Just(r#""%.99999999f %s %v %q %[9]d %""#.to_string()),
            Just(r#""999999999999h""#.to_string()),
            Just(r#""-9999999999999999999h""#.to_string()),
            Just(r#""2020-01-01T00:00:00Z""#.to_string()),
            Just(r#""10.0.0.0/8""#.to_string()),
            Just(r#""::/0""#.to_string()),
            Just(r#""a: [1, {b: *c}]""#.to_string()),
            Just(r#""{\"a\": [1, 2, {\"b\": null}]}""#.to_string()),
            Just(r#""e\u0301 ß ǅ 🎉""#.to_string()),
            Just(r#""(a+)+$""#.to_string()),
            "[a-z%.*0-9 ,:/-]{0,12}".prop_map(|s| format!("{s:?}")),
        ],
        Just("null".to_string()),
        Just("true".to_string()),
        Just("[]".to_string()),
        Just("{}".to_string()),
        Just("range(1024)".to_string()),
        Just("setproduct(range(1024), range(1024))".to_string()),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            (
                proptest::sample::select(FUNCTIONS),
                proptest::collection::vec(inner.clone(), 0..4)
            )
                .prop_map(|(f, args)| format!("{f}({})", args.join(", "))),
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{{ a = {a}, b = {b} }}")),
            (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(c, a, b)| format!("{c} ? {a} : {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} * {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} / {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} % {b}")),
            inner
                .clone()
                .prop_map(|a| format!("[for x in {a} : [x, x]]")),
            inner.clone().prop_map(|a| format!("{a}[*]")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a}[{b}]")),
            inner.clone().prop_map(|a| format!("\"${{{a}}}${{{a}}}\"")),
            inner.prop_map(|a| format!("\"%{{ for v in {a} }}${{v}}${{v}}%{{ endfor }}\"")),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Eight expressions per console run, one per line.
    #[test]
    fn console_expressions(exprs in proptest::collection::vec(expr(), 8)) {
        let input = exprs.join("\n") + "\n";
        if let Some(what) = misbehaves(kiln().arg("console"), &input) {
            prop_assert!(false, "{what}\ninput:\n{input}");
        }
    }

    /// A template of generated locals (each may name the ones before),
    /// nested blocks and a build, validated.
    #[test]
    fn templates(locals in proptest::collection::vec(expr(), 1..12), depth in 0usize..1200, shape in 0usize..7, chain in 0usize..25_000, junk in prop_oneof![Just(String::new()), "[ -~\n]{0,40}"]) {
        let dir = tempfile::tempdir().expect("tmp");
        let mut t = String::from("locals {\n");
        for (i, e) in locals.iter().enumerate() {
            let e = if i > 0 && i % 3 == 0 { format!("[{e}, local.l{}]", i - 1) } else { e.clone() };
            t.push_str(&format!("  l{i} = {e}\n"));
        }
        t.push_str("}\n");
        // Nesting within and past what hcl-edit takes (64 levels, 128
        // operators) and past kiln's own limits (1000, 20000).
        let (open, close) = [
            ("[", "]"),
            ("(", ")"),
            ("true ? ", " : 0"),
            ("-", ""),
            ("\"${", "}\""),
            ("\"%{ if true ~}", "%{~ endif }\""),
            ("max(1, ", ")"),
        ][shape];
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        let sum = vec!["1"; chain + 1].join("+");
        t.push_str(&format!("locals {{\n  deep = {nested}\n  sum = {sum}\n}}\n"));
        t.push_str("source \"null\" \"n\" {\n  communicator = \"none\"\n}\n");
        t.push_str(&format!("build {{\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {{\n    inline = [\"echo ${{local.l0}}\"]\n  }}\n}}\n{junk}\n"));
        std::fs::write(dir.path().join("t.pkr.hcl"), &t).expect("write");
        if let Some(what) = misbehaves(kiln().current_dir(dir.path()).args(["validate", "t.pkr.hcl"]), "") {
            prop_assert!(false, "{what}\ntemplate:\n{t}");
        }
    }

    /// Var files of generated values (and garbage) for a template with
    /// variables of several types.
    #[test]
    fn var_files(values in proptest::collection::vec(expr(), 3), raw in "[ -~\n]{0,60}") {
        let dir = tempfile::tempdir().expect("tmp");
        let t = "variable \"s\" {\n  type = string\n}\nvariable \"l\" {\n  type = list(number)\n}\nvariable \"m\" {\n  type = map(any)\n  default = {}\n}\nsource \"null\" \"n\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.n\"]\n}\n";
        std::fs::write(dir.path().join("t.pkr.hcl"), t).expect("write");
        let vars = format!("s = {}\nl = {}\nm = {}\n{raw}\n", values[0], values[1], values[2]);
        std::fs::write(dir.path().join("v.pkrvars.hcl"), &vars).expect("write");
        let cmd = &mut kiln();
        cmd.current_dir(dir.path())
            .args(["validate", "-var-file=v.pkrvars.hcl", "-var", &format!("l={}", values[1]), "t.pkr.hcl"]);
        if let Some(what) = misbehaves(cmd, "") {
            prop_assert!(false, "{what}\nvar file:\n{vars}");
        }
    }
}
