//! Properties of the formatter over generated templates: formatting is
//! idempotent, and it changes nothing but the spaces between tokens — the
//! same tokens, the same syntax verdict, the same parsed structure.

use hcl_edit::structure::{Body, Structure};
use kiln::fmt::format;
use kiln::frontend::hcl::check::check;
use kiln::frontend::hcl::lex::{lex, strip_bom, Tok};
use proptest::prelude::*;

fn sp() -> impl Strategy<Value = String> {
    prop_oneof![Just(""), Just(" "), Just("   "), Just("\t"), Just("  \t ")].prop_map(String::from)
}

fn ident() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a"),
        Just("name"),
        Just("source_ami"),
        Just("x-y"),
        Just("é"),
        Just("long_attribute_name"),
        Just("in")
    ]
    .prop_map(String::from)
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1".to_string()),
        Just("-2.5e3".to_string()),
        Just("true".to_string()),
        Just("null".to_string()),
        Just("\"plain\"".to_string()),
        Just("\"tab\\there é ${var.x}\"".to_string()),
        Just("\"%{ if a }yes%{ else }no%{ endif }\"".to_string()),
        Just("\"$${literal} ${ upper(\"x\") }\"".to_string()),
        Just("var.list[0].name".to_string()),
        Just("local.m[\"k\"]".to_string()),
        Just("a.*.id".to_string()),
        Just("b[*].id".to_string()),
        Just("!var.flag".to_string()),
        Just("<<EOF\n  keep   this\n${x}\nEOF\n".to_string()),
        Just("<<-EOT\n    indented\n    EOT\n".to_string()),
    ]
}

fn expr() -> impl Strategy<Value = String> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            (
                inner.clone(),
                sp(),
                prop_oneof![
                    Just("+"),
                    Just("-"),
                    Just("*"),
                    Just("=="),
                    Just("&&"),
                    Just(">=")
                ],
                sp(),
                inner.clone()
            )
                .prop_map(|(a, s1, op, s2, b)| if a.ends_with('\n') {
                    a
                } else {
                    format!("{a}{s1}{op}{s2}{b}")
                }),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, t, f)| {
                if c.ends_with('\n') || t.ends_with('\n') {
                    f
                } else {
                    format!("{c} ? {t} : {f}")
                }
            }),
            prop::collection::vec((sp(), inner.clone(), sp(), prop::bool::ANY), 0..4).prop_map(
                |items| {
                    let body: Vec<String> = items
                        .iter()
                        .map(|(a, e, b, nl)| format!("{a}{e}{b}{}", if *nl { "\n" } else { "" }))
                        .collect();
                    format!("[{}]", body.join(","))
                }
            ),
            prop::collection::vec((ident(), sp(), inner.clone()), 0..3).prop_map(|items| {
                let body: Vec<String> = items
                    .iter()
                    .map(|(k, s, v)| {
                        format!("{k}{s}={s}{v}{}", if v.ends_with('\n') { "" } else { "\n" })
                    })
                    .collect();
                format!("{{\n{}}}", body.concat())
            }),
            (ident(), sp(), inner.clone()).prop_map(|(f, s, a)| format!("upper({s}{a}{s})")
                .replace("upper", if f == "in" { "lower" } else { "upper" })),
            (inner.clone(), sp())
                .prop_map(|(e, s)| format!("[for k, v in {e}{s}: v if v != null]")),
            inner.clone().prop_map(|e| format!("({e})")),
        ]
    })
}

fn comment() -> impl Strategy<Value = String> {
    prop_oneof![Just(""), Just(" # note"), Just("   // c"), Just(" /* b */")].prop_map(String::from)
}

fn item(depth: u32) -> BoxedStrategy<String> {
    let attr = (sp(), ident(), sp(), sp(), expr(), comment()).prop_map(|(s0, k, s1, s2, v, c)| {
        if v.ends_with('\n') {
            format!("{s0}{k}{s1}={s2}{v}")
        } else {
            format!("{s0}{k}{s1}={s2}{v}{c}\n")
        }
    });
    if depth == 0 {
        return prop_oneof![
            attr,
            Just("\n".to_string()),
            Just("# comment line\n".to_string())
        ]
        .boxed();
    }
    let block = (
        sp(),
        ident(),
        prop::collection::vec(prop_oneof![Just("\"lbl\""), Just("other")], 0..3),
        prop::collection::vec(item(depth - 1), 0..5),
    )
        .prop_map(|(s0, t, labels, items)| {
            format!("{s0}{t} {} {{\n{}}}\n", labels.join(" "), items.concat())
        });
    let one_line = (ident(), ident(), leaf()).prop_map(|(t, k, v)| {
        if v.ends_with('\n') {
            format!("{t} {{}}\n")
        } else {
            format!("{t} {{ {k} = {v} }}\n")
        }
    });
    prop_oneof![3 => attr, 2 => block, 1 => one_line, 1 => Just("\n".to_string())].boxed()
}

fn file() -> impl Strategy<Value = String> {
    (prop::collection::vec(item(2), 0..8), prop::bool::ANY).prop_map(|(items, crlf)| {
        let s = items.concat();
        if crlf {
            s.replace('\n', "\r\n")
        } else {
            s
        }
    })
}

/// Tokens without layout: kinds and bytes.
fn tokens(src: &[u8]) -> Vec<(Tok, Vec<u8>)> {
    let src = strip_bom(src);
    lex(src)
        .into_iter()
        .map(|t| (t.kind, src[t.start()..t.end()].to_vec()))
        .collect()
}

/// What hcl-edit parses, with all layout removed.
fn structure(body: &Body, out: &mut String) {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => {
                let v: String = a.value.to_string().split_whitespace().collect();
                out.push_str(&format!("attr {} = {v}\n", a.key.as_str()));
            }
            Structure::Block(b) => {
                let labels: Vec<String> = b
                    .labels
                    .iter()
                    .map(|l| l.to_string().split_whitespace().collect())
                    .collect();
                out.push_str(&format!("block {} {labels:?} {{\n", b.ident.as_str()));
                structure(&b.body, out);
                out.push_str("}\n");
            }
        }
    }
}

/// hcl-edit's parser recurses with large frames in debug builds: give it
/// room, on its own thread.
fn parsed(text: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(strip_bom(text)).ok()?.to_string();
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let body = hcl_edit::parser::parse_body(&s).ok()?;
            let mut out = String::new();
            structure(&body, &mut out);
            Some(out)
        })
        .ok()?
        .join()
        .ok()?
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(src in prop::collection::vec(any::<u8>(), 0..300)) {
        let out = format(&src);
        if check(strip_bom(&src)).is_ok() {
            prop_assert_eq!(tokens(&src), tokens(&out));
            prop_assert_eq!(format(&out), out);
        }
    }
}

#[test]
fn generated_files_are_mostly_valid() {
    // Guard against a generator that only ever produces syntax errors (which
    // would make the structure property above vacuous).
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strat = file();
    let valid = (0..200)
        .filter(|_| {
            strat
                .new_tree(&mut runner)
                .map(|t| check(t.current().as_bytes()).is_ok())
                .unwrap_or(false)
        })
        .count();
    assert!(valid > 100, "only {valid}/200 generated files parse");
}

/// Runs on its own thread with a roomy stack: the generated values and the
/// recursive parsers (hcl-edit's especially) are deep in debug builds.
#[test]
fn formatting_is_idempotent_and_changes_only_layout() {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let h = std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let mut runner = TestRunner::new(Config {
                cases: 400,
                ..Config::default()
            });
            runner
                .run(&file(), |src| {
                    let src = src.into_bytes();
                    let once = format(&src);
                    let twice = format(&once);
                    if once != twice {
                        return Err(TestCaseError::fail(format!(
                            "not idempotent: {:?}",
                            String::from_utf8_lossy(&src)
                        )));
                    }
                    let ok = check(strip_bom(&src)).is_ok();
                    if ok != check(&once).is_ok() {
                        return Err(TestCaseError::fail("syntax verdict changed"));
                    }
                    if ok && (tokens(&src) != tokens(&once) || parsed(&src) != parsed(&once)) {
                        return Err(TestCaseError::fail(format!(
                            "meaning changed: {:?}",
                            String::from_utf8_lossy(&src)
                        )));
                    }
                    Ok(())
                })
                .map_err(|e| e.to_string())
        })
        .expect("spawn");
    h.join().expect("property thread").expect("property");
}

#[test]
fn deep_nesting_is_refused_not_a_crash() {
    let h = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| {
            for depth in [1, 200, 1000, 1001, 100_000] {
                let src = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
                assert_eq!(
                    kiln::fmt::format_checked(src.as_bytes()).is_ok(),
                    depth <= 1000,
                    "depth {depth}"
                );
                let blocks = format!("{}{}", "b {\n".repeat(depth), "}\n".repeat(depth));
                assert_eq!(
                    kiln::fmt::format_checked(blocks.as_bytes()).is_ok(),
                    depth <= 1000,
                    "block depth {depth}"
                );
            }
        })
        .expect("spawn");
    h.join().expect("deep nesting");
}
