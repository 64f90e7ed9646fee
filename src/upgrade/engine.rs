//! The template-engine passes of `hcl2_upgrade`: Go-template calls in a
//! block (`{{user}}`, `{{env}}`, `{{timestamp}}`, `{{isotime}}`, …) run
//! through Go's text/template with functions that print their HCL2
//! equivalents, and a comment for the ones that have none.

use super::gotmpl::{self, Func, Funcs, Node, Val, P};
use crate::value::display::go_quote;
use indexmap::IndexMap;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// What the passes learn as they run (Packer keeps these in globals).
#[derive(Default)]
pub(super) struct Seen {
    pub(super) timestamp: bool,
    pub(super) isotime: bool,
    pub(super) strftime: bool,
    pub(super) locals: BTreeMap<String, &'static str>,
    pub(super) secrets: BTreeMap<String, IndexMap<String, String>>,
}

pub(super) fn unhandleable(call: &str, correspondance: &str, docs: &str) -> String {
    format!("unhandled {call:?} call:\n# there is no way to automatically upgrade the {call:?} call.\n# Please manually upgrade to {correspondance}\n# Visit {docs} for more infos.")
}

/// The comment headers above a block the upgrade could not finish
/// (`unfinished` finds blocks by them).
pub(super) const ERRORS_HEADER: &str = "occurred upgrading the following block:";
pub(super) const NOT_PARSED_HEADER: &str = "could not parse template for following block:";

/// A `{{user}}` name HCL2 cannot refer to (`var.NAME` takes an identifier);
/// Packer writes `${var.NAME}` as it is, and a file that does not parse.
fn not_a_name(call: &str, name: &str) -> String {
    let rule = super::hclout::IDENTIFIER_RULE;
    format!("unhandled {call:?} call:\n# {name:?} is not a name HCL2 can refer to, which {rule}.\n# Please rename the variable in the JSON template and upgrade again.")
}

pub(super) fn fallback(err: &str, s: &str) -> String {
    if err.contains("unhandled") {
        format!("\n# {err}\n{s}")
    } else {
        format!("\n# {NOT_PARSED_HEADER} {}\n{s}", go_quote(&go_quote(err)))
    }
}

/// Packer's fixQuoting: `{{ env \"x\" }}` (escaped quotes inside an HCL
/// string) becomes `{{ env "x" }}`.
pub(super) fn fix_quoting(old: &str) -> String {
    let Ok(re) = regex::Regex::new(r#"\{\{\s*\w*(\s*(\\".*\\")\s*)+\w*\s*\}\}"#) else {
        return old.to_string();
    };
    re.replace_all(old, |c: &regex::Captures| {
        let whole = c.get(0).map(|m| m.as_str()).unwrap_or("");
        let group = c.get(1).map(|m| m.as_str()).unwrap_or("");
        match gotmpl::go_unquote(&format!("\"{group}\"")) {
            Some(unq) => whole.replacen(group, &unq, 1),
            None => whole.to_string(),
        }
    })
    .into_owned()
}

/// reTemplate: keep pipelines, calls with arguments and known functions;
/// escape everything else so that it survives execution verbatim.
pub(super) fn retemplate(nodes: &[Node], known: &dyn Fn(&str) -> bool) -> Result<String, String> {
    let mut out = String::new();
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Other(k) => return Err(format!("unhandled node type {k}")),
            Node::Action(p, _) => {
                let cmd = &p.cmds[0];
                if p.cmds.len() > 1
                    || cmd.args.len() > 1
                    || cmd.args.first().is_some_and(|a| known(&a.to_string()))
                {
                    out.push_str(&gotmpl::action_string(p));
                } else {
                    out.push_str(&format!("{{{{ \"{{{{\" }}}} {cmd} {{{{ \"}}}}\" }}}}"));
                }
            }
        }
    }
    Ok(out)
}

/// Parse (fixing escaped quotes if needed), retemplate, execute.
pub(super) fn run_engine(s: &str, funcs: &mut Funcs) -> Result<String, (String, String)> {
    let names: Vec<&'static str> = funcs.keys().copied().collect();
    let known = |n: &str| names.contains(&n);
    let mut src = s.to_string();
    let nodes = match gotmpl::parse(&src, &known) {
        Ok(n) => n,
        Err(e) if e.contains(r#"unexpected "\\" in operand"#) => {
            src = fix_quoting(s);
            // Left as it came (Packer leaves it quote-fixed: `\"` turned
            // into `"` inside an HCL string, a file that does not parse).
            gotmpl::parse(&src, &known).map_err(|e| (e, s.to_string()))?
        }
        Err(e) => return Err((e, s.to_string())),
    };
    let re = retemplate(&nodes, &known).map_err(|e| (e, s.to_string()))?;
    let nodes = gotmpl::parse(&re, &known).map_err(|e| (e, s.to_string()))?;
    gotmpl::execute(&nodes, funcs).map_err(|e| (e, s.to_string()))
}

pub(super) fn f<'a>(params: &'static [P], call: impl FnMut(&[Val]) -> String + 'a) -> Func<'a> {
    Func {
        params,
        variadic: false,
        call: Box::new(call),
    }
}

pub(super) fn fv<'a>(call: impl FnMut(&[Val]) -> String + 'a) -> Func<'a> {
    Func {
        params: &[],
        variadic: true,
        call: Box::new(call),
    }
}

pub(super) fn sv(v: &[Val], i: usize) -> String {
    match v.get(i) {
        Some(Val::Str(s)) => s.clone(),
        Some(Val::Int(n)) => n.to_string(),
        None => String::new(),
    }
}

/// transposeTemplatingCalls.
pub(super) fn transpose(s: &str, seen: &RefCell<Seen>) -> String {
    let errors: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let mut funcs: Funcs = BTreeMap::new();
    funcs.insert(
        "aws_secretsmanager",
        fv(|a| {
            let mut st = seen.borrow_mut();
            let (name, key) = (sv(a, 0), a.get(1).map(|_| sv(a, 1)));
            for (id, cfg) in &st.secrets {
                if cfg.get("name") == Some(&name)
                    && (key.is_none() || cfg.get("key") == key.as_ref())
                {
                    return format!("${{data.amazon-secretsmanager.{id}.value}}");
                }
            }
            let id = format!("autogenerated_{}", st.secrets.len() + 1);
            let mut cfg = IndexMap::new();
            cfg.insert("name".to_string(), name);
            if let Some(k) = key {
                cfg.insert("key".to_string(), k);
            }
            st.secrets.insert(id.clone(), cfg);
            format!("${{data.amazon-secretsmanager.{id}.value}}")
        }),
    );
    funcs.insert(
        "timestamp",
        f(&[], |_| {
            seen.borrow_mut().timestamp = true;
            "${local.timestamp}".into()
        }),
    );
    funcs.insert(
        "isotime",
        fv(|a| {
            if a.is_empty() {
                return "${timestamp()}".into();
            }
            seen.borrow_mut().isotime = true;
            format!("${{legacy_isotime(\"{}\")}}", sv(a, 0))
        }),
    );
    funcs.insert(
        "strftime",
        fv(|a| {
            if a.is_empty() {
                return "${timestamp()}".into();
            }
            seen.borrow_mut().strftime = true;
            format!("${{legacy_strftime(\"{}\")}}", sv(a, 0))
        }),
    );
    funcs.insert(
        "user",
        f(&[P::S], |a| {
            let n = sv(a, 0);
            if !super::hclout::valid_identifier(&n) {
                errors.borrow_mut().push(not_a_name("user", &n));
                // Inside the block's HCL string: escaped as its text is.
                let q = super::hclout::quoted(&n);
                return format!("{{{{ user `{}` }}}}", &q[1..q.len() - 1]);
            }
            if seen.borrow().locals.contains_key(&n) {
                format!("${{local.{n}}}")
            } else {
                format!("${{var.{n}}}")
            }
        }),
    );
    funcs.insert(
        "env",
        f(&[P::S], |a| format!("${{env({})}}", go_quote(&sv(a, 0)))),
    );
    funcs.insert("build", f(&[P::S], |a| format!("${{build.{}}}", sv(a, 0))));
    funcs.insert("data", f(&[P::S], |a| format!("${{data.{}}}", sv(a, 0))));
    funcs.insert("template_dir", f(&[], |_| "${path.root}".into()));
    funcs.insert("pwd", f(&[], |_| "${path.cwd}".into()));
    funcs.insert("packer_version", f(&[], |_| "${packer.version}".into()));
    funcs.insert("uuid", f(&[], |_| "${uuidv4()}".into()));
    const REPLACE: &str = "`replace(string, substring, replacement)` or `regex_replace(string, substring, replacement)`";
    const REPLACE_DOCS: &str = "https://www.packer.io/docs/templates/hcl_templates/functions/string/replace or https://www.packer.io/docs/templates/hcl_templates/functions/string/regex_replace";
    funcs.insert(
        "lower",
        f(&[P::S], |a| {
            errors.borrow_mut().push(unhandleable(
                "lower",
                "`lower(var.example)`",
                "https://www.packer.io/docs/templates/hcl_templates/functions/string/lower",
            ));
            format!("{{{{ lower `{}` }}}}", sv(a, 0))
        }),
    );
    funcs.insert(
        "upper",
        f(&[P::S], |a| {
            errors.borrow_mut().push(unhandleable(
                "upper",
                "`upper(var.example)`",
                "https://www.packer.io/docs/templates/hcl_templates/functions/string/upper",
            ));
            format!("{{{{ upper `{}` }}}}", sv(a, 0))
        }),
    );
    funcs.insert(
        "split",
        f(&[P::S, P::S, P::I], |a| {
            errors.borrow_mut().push(unhandleable(
                "split",
                "`split(separator, string)`",
                "https://www.packer.io/docs/templates/hcl_templates/functions/string/split",
            ));
            format!("{{{{ split `{}` `{}` {} }}}}", sv(a, 0), sv(a, 1), sv(a, 2))
        }),
    );
    funcs.insert(
        "replace",
        f(&[P::S, P::S, P::I, P::S], |a| {
            errors
                .borrow_mut()
                .push(unhandleable("replace", REPLACE, REPLACE_DOCS));
            format!(
                "{{{{ replace `{}` `{}` `{}` {} }}}}",
                sv(a, 0),
                sv(a, 1),
                sv(a, 3),
                sv(a, 2)
            )
        }),
    );
    funcs.insert(
        "replace_all",
        f(&[P::S, P::S, P::S], |a| {
            errors
                .borrow_mut()
                .push(unhandleable("replace_all", REPLACE, REPLACE_DOCS));
            format!(
                "{{{{ replace_all `{}` `{}` `{}` }}}}",
                sv(a, 0),
                sv(a, 1),
                sv(a, 2)
            )
        }),
    );
    funcs.insert("clean_resource_name", f(&[P::S], |a| {
        errors.borrow_mut().push(unhandleable(
            "clean_resource_name",
            "use custom validation rules, `replace(string, substring, replacement)` or `regex_replace(string, substring, replacement)`",
            "https://packer.io/docs/templates/hcl_templates/variables#custom-validation-rules , https://www.packer.io/docs/templates/hcl_templates/functions/string/replace or https://www.packer.io/docs/templates/hcl_templates/functions/string/regex_replace",
        ));
        format!("{{{{ clean_resource_name `{}` }}}}", sv(a, 0))
    }));
    funcs.insert("build_name", f(&[], |_| "${build.name}".into()));
    funcs.insert("build_type", f(&[], |_| "${build.type}".into()));
    let r = run_engine(s, &mut funcs);
    drop(funcs);
    let out = match r {
        Ok(o) => o,
        Err((e, src)) => return fallback(&e, &src),
    };
    let errs = errors.into_inner();
    match errs.len() {
        0 => out,
        1 => format!("\n# 1 error {ERRORS_HEADER}\n\t# {}\n{out}", errs[0]),
        n => {
            let points: Vec<String> = errs
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    if i == n - 1 {
                        format!("# {e}")
                    } else {
                        format!("# {e}\n")
                    }
                })
                .collect();
            // Packer writes the last point without its newline: a block
            // whose text starts on a new line (`locals`) is unharmed, but a
            // provisioner's first line lands inside the comment and the file
            // no longer parses. The newline keeps the block a block.
            let nl = if out.starts_with('\n') { "" } else { "\n" };
            format!(
                "\n# {n} errors {ERRORS_HEADER}\n\t{}{nl}{out}",
                points.join("\n\t")
            )
        }
    }
}

/// variableTransposeTemplatingCalls: is the value a local (uses the
/// template engine beyond `env`), and the block with `env` rewritten.
pub(super) fn variable_transpose(s: &str) -> (bool, String) {
    let is_local = RefCell::new(false);
    let mut funcs: Funcs = BTreeMap::new();
    let set = || {
        fv(|_| {
            *is_local.borrow_mut() = true;
            String::new()
        })
    };
    for name in [
        "aws_secretsmanager",
        "timestamp",
        "isotime",
        "strftime",
        "user",
        "template_dir",
        "pwd",
        "packer_version",
        "uuid",
        "lower",
        "upper",
    ] {
        funcs.insert(name, set());
    }
    funcs.insert(
        "env",
        f(&[P::S], |a| format!("${{env({})}}", go_quote(&sv(a, 0)))),
    );
    funcs.insert(
        "split",
        f(&[P::S, P::S, P::I], |_| {
            *is_local.borrow_mut() = true;
            String::new()
        }),
    );
    funcs.insert(
        "replace",
        f(&[P::S, P::S, P::I, P::S], |_| {
            *is_local.borrow_mut() = true;
            String::new()
        }),
    );
    funcs.insert(
        "replace_all",
        f(&[P::S, P::S, P::S], |_| {
            *is_local.borrow_mut() = true;
            String::new()
        }),
    );
    let r = run_engine(s, &mut funcs);
    drop(funcs);
    let local = *is_local.borrow();
    match r {
        Ok(o) => (local, o),
        Err((e, src)) => (local, fallback(&e, &src)),
    }
}

/// referencedUserVariables: `{{user "x"}}` names in the whole template,
/// when it parses and runs with `user` as the only function.
pub(super) fn referenced_user_variables(raw: &str) -> Vec<String> {
    let found = RefCell::new(Vec::new());
    let mut funcs: Funcs = BTreeMap::new();
    funcs.insert(
        "user",
        f(&[P::S], |a| {
            found.borrow_mut().push(sv(a, 0));
            String::new()
        }),
    );
    let known = |n: &str| n == "user";
    let ok = gotmpl::parse(raw, &known)
        .ok()
        .and_then(|nodes| gotmpl::execute(&nodes, &mut funcs).ok())
        .is_some();
    drop(funcs);
    if ok {
        found.into_inner()
    } else {
        Vec::new()
    }
}
