//! Go-template interpolation of legacy JSON templates (`{{user `x`}}`,
//! `{{timestamp}}`, pipelines …). Run-time values (`{{ build `ID` }}`,
//! `{{ .Vars }}`) are left in place for the runner.

use super::gotmpl::{self, Node, Val, P};
use crate::util::gotime;
use std::cell::RefCell;

/// How `user` says that a variable is not set (yet) while variables are
/// rendered: Packer's `ErrVariableNotSetString`.
pub const NOT_SET: &str = "variable not set:";
use std::collections::BTreeMap;

pub struct Ctx<'a> {
    pub user: &'a BTreeMap<String, String>,
    /// `env` is only allowed in variable defaults.
    pub allow_env: bool,
    pub build_name: Option<&'a str>,
    pub build_type: Option<&'a str>,
    pub template_dir: &'a str,
    pub timestamp: &'a str,
    pub uuid: &'a str,
    /// Whose rules `clean_resource_name` follows: an amazon builder's own
    /// configuration has the AMI-name one, everything else Packer's core one.
    pub names: Names,
}

/// The values a run's templates share: `{{template_dir}}` (made absolute
/// where it can be), `{{timestamp}}` and `{{uuid}}`.
pub struct Run {
    pub template_dir: String,
    pub timestamp: String,
    pub uuid: String,
}

impl Run {
    pub fn new(template_dir: &std::path::Path) -> Run {
        Run {
            template_dir: template_dir
                .canonicalize()
                .unwrap_or_else(|_| template_dir.to_path_buf())
                .display()
                .to_string(),
            timestamp: chrono::Utc::now().timestamp().to_string(),
            uuid: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// The two `clean_resource_name`s of Packer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// Core: lower case, anything but `a-z`, `0-9` and `-` becomes `-`.
    Core,
    /// The amazon builders': what an AMI name may hold (letters, digits,
    /// `()[] ./-'@_`) is kept as it is, any other byte becomes `-`.
    Ami,
}

impl Names {
    /// Which one a builder's configuration gets.
    pub fn for_builder(ty: &str) -> Names {
        if ty.starts_with("amazon-") {
            Names::Ami
        } else {
            Names::Core
        }
    }
}

/// `clean_resource_name` by `names`' rules. Neither truncates: Packer
/// leaves the length to the cloud's own check.
pub fn clean_resource_name(s: &str, names: Names) -> String {
    match names {
        Names::Core => s
            .to_lowercase()
            .chars()
            .map(|c| {
                if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' {
                    c
                } else {
                    '-'
                }
            })
            .collect(),
        // Byte by byte, as Packer's loop goes: "é" becomes "--".
        Names::Ami => s
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"()[] ./-'@_".contains(&b) {
                    b as char
                } else {
                    '-'
                }
            })
            .collect(),
    }
}

fn call(ctx: &Ctx, name: &str, args: &[String]) -> Result<String, String> {
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .ok_or_else(|| format!("wrong number of args for {name}"))
    };
    Ok(match name {
        // Packer's rule: while variables are rendered (where `env` is
        // allowed too) an unset one is an error, so that the variable that
        // names it is tried again once it is set; anywhere else it is "".
        "user" => {
            let k = arg(0)?;
            match ctx.user.get(&k) {
                Some(v) => v.clone(),
                None if ctx.allow_env => return Err(format!("{NOT_SET} {k}")),
                None => String::new(),
            }
        }
        "env" => {
            if !ctx.allow_env {
                return Err(
                    "env vars are not allowed here; use them in the variables section".into(),
                );
            }
            std::env::var(arg(0)?).unwrap_or_default()
        }
        "timestamp" => ctx.timestamp.to_string(),
        "uuid" => ctx.uuid.to_string(),
        "isotime" => {
            let layout = args
                .first()
                .cloned()
                .unwrap_or_else(|| "2006-01-02T15:04:05Z07:00".into());
            gotime::format(&chrono::Utc::now().fixed_offset(), &layout)
        }
        "strftime" => {
            use std::fmt::Write;
            let layout = args
                .first()
                .cloned()
                .unwrap_or_else(|| "%Y-%m-%dT%H:%M:%SZ".into());
            let mut out = String::new();
            write!(out, "{}", chrono::Utc::now().format(&layout))
                .map_err(|_| format!("strftime: invalid format {layout:?}"))?;
            out
        }
        "build_name" => ctx
            .build_name
            .ok_or("build_name is only available in builders")?
            .to_string(),
        "build_type" => ctx
            .build_type
            .ok_or("build_type is only available in builders")?
            .to_string(),
        "template_dir" => ctx.template_dir.to_string(),
        "pwd" => std::env::current_dir()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "packer_version" => crate::frontend::hcl::PACKER_COMPAT_VERSION.to_string(),
        "lower" => arg(0)?.to_lowercase(),
        "upper" => arg(0)?.to_uppercase(),
        "split" => {
            let (s, sep, idx) = (arg(0)?, arg(1)?, arg(2)?);
            let i: usize = idx.parse().map_err(|_| "split index must be a number")?;
            s.split(sep.as_str())
                .nth(i)
                .map(str::to_string)
                .ok_or("split index out of range")?
        }
        "replace" => {
            let (old, new, n, s) = (arg(0)?, arg(1)?, arg(2)?, arg(3)?);
            let n: i64 = n.parse().map_err(|_| "replace count must be a number")?;
            let n = usize::try_from(n).ok();
            replaced_len(&s, &old, &new, n)?;
            match n {
                None => s.replace(&old, &new),
                Some(n) => s.replacen(&old, &new, n),
            }
        }
        "replace_all" => {
            let (old, new, s) = (arg(0)?, arg(1)?, arg(2)?);
            replaced_len(&s, &old, &new, None)?;
            s.replace(&old, &new)
        }
        "clean_resource_name" => clean_resource_name(&arg(0)?, ctx.names),
        "sed" => {
            return Err(
                "The sed function has been deprecated; use replace or replace_all instead".into(),
            )
        }
        "consul_key" | "vault" | "aws_secretsmanager" => {
            return Err(format!(
                "{name}: reading secrets from external services is not supported by kiln yet"
            ))
        }
        other => return Err(format!("function \"{other}\" not defined")),
    })
}

/// Go's signature of each template function (argument kinds).
fn signature(name: &str) -> Option<(&'static [P], bool)> {
    use P::{I, S};
    Some(match name {
        "user" | "env" | "lower" | "upper" | "clean_resource_name" => (&[S], false),
        "timestamp" | "uuid" | "build_name" | "build_type" | "template_dir" | "pwd"
        | "packer_version" => (&[], false),
        "split" => (&[S, S, I], false),
        "replace" => (&[S, S, I, S], false),
        "replace_all" => (&[S, S, S], false),
        "isotime" | "strftime" | "sed" | "consul_key" | "vault" | "aws_secretsmanager"
        | "build" => (&[], true),
        _ => return None,
    })
}

/// A run-time reference, left for the runner: `{{ .Vars }}`, `{{ build `ID` }}`.
fn is_runtime(p: &gotmpl::Pipe) -> bool {
    match p.cmds.first().and_then(|c| c.args.first()) {
        Some(gotmpl::Arg::Field(_) | gotmpl::Arg::Dot) => true,
        Some(gotmpl::Arg::Ident(n)) => n == "build",
        _ => false,
    }
}

/// An error unless a string of `len` bytes is within kiln's limit for one
/// value (the HCL functions' limit): a chain of variables that each
/// doubles the one before would otherwise fill memory.
fn within_limit(len: usize) -> Result<(), String> {
    let max = crate::frontend::hcl::functions::limits::MAX_STRING;
    if len > max {
        return Err(format!(
            "the result would be a string of more than {} MiB, kiln's limit for one value",
            max >> 20
        ));
    }
    Ok(())
}

/// [`within_limit`] for `s` with (the first `n`) `old` replaced by `new`,
/// checked before the string is made.
fn replaced_len(s: &str, old: &str, new: &str, n: Option<usize>) -> Result<(), String> {
    // Go's strings.Replace (and Rust's) put an empty `old` between chars.
    let mut count = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    if let Some(n) = n {
        count = count.min(n);
    }
    within_limit(count.saturating_mul(new.len()).saturating_add(s.len()))
}

/// Render a legacy template string: Go's text/template syntax (pipelines,
/// quoting, parentheses), Packer's functions; run-time references kept.
pub fn render(s: &str, ctx: &Ctx) -> Result<String, String> {
    if !s.contains("{{") {
        return Ok(s.to_string());
    }
    let nodes = gotmpl::parse(s, &|n| signature(n).is_some())
        .map_err(|e| e.replace("template: hcl2_upgrade:", "template: root:"))?;
    let failure: RefCell<Option<String>> = RefCell::new(None);
    let mut funcs: gotmpl::Funcs = BTreeMap::new();
    for name in [
        "user",
        "env",
        "lower",
        "upper",
        "clean_resource_name",
        "timestamp",
        "uuid",
        "build_name",
        "build_type",
        "template_dir",
        "pwd",
        "packer_version",
        "split",
        "replace",
        "replace_all",
        "isotime",
        "strftime",
        "sed",
        "consul_key",
        "vault",
        "aws_secretsmanager",
        "build",
    ] {
        let Some((params, variadic)) = signature(name) else {
            continue;
        };
        let failure = &failure;
        funcs.insert(
            name,
            gotmpl::Func {
                params,
                variadic,
                call: Box::new(move |args: &[Val]| {
                    let args: Vec<String> = args
                        .iter()
                        .map(|a| match a {
                            Val::Str(s) => s.clone(),
                            Val::Int(i) => i.to_string(),
                        })
                        .collect();
                    match call(ctx, name, &args) {
                        Ok(v) => v,
                        Err(e) => {
                            failure.borrow_mut().get_or_insert(e);
                            String::new()
                        }
                    }
                }),
            },
        );
    }
    let mut out = String::new();
    for n in &nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p, raw) if is_runtime(p) => out.push_str(raw),
            Node::Action(..) => {
                let v = gotmpl::execute(std::slice::from_ref(n), &mut funcs).map_err(|e| {
                    e.replace("template: hcl2_upgrade:", "template: root:")
                        .replace("executing \"hcl2_upgrade\"", "executing \"root\"")
                })?;
                if let Some(e) = failure.borrow_mut().take() {
                    return Err(e);
                }
                within_limit(out.len() + v.len())?;
                out.push_str(&v);
            }
            Node::Other(k) => {
                return Err(format!(
                    "template: {k} actions are not supported in Packer templates"
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn renders() {
        let user = BTreeMap::from([("x".to_string(), "Hello".to_string())]);
        let ctx = Ctx {
            user: &user,
            allow_env: false,
            build_name: Some("b"),
            build_type: Some("null"),
            template_dir: "/t",
            timestamp: "123",
            uuid: "u",
            names: Names::Core,
        };
        assert_eq!(
            render("{{user `x`}}-{{timestamp}}", &ctx).unwrap(),
            "Hello-123"
        );
        assert_eq!(render("{{ user `x` | lower }}", &ctx).unwrap(), "hello");
        assert_eq!(
            render("id {{ build `ID` }} {{.Vars}}", &ctx).unwrap(),
            "id {{ build `ID` }} {{.Vars}}"
        );
        assert!(render("{{nope}}", &ctx).is_err());
        // Go's quoting and pipelines, not a split on `|` or `}}`.
        let user = BTreeMap::from([
            ("x".to_string(), "Hello".to_string()),
            ("a|b".to_string(), "pipe}}".to_string()),
        ]);
        let ctx = Ctx { user: &user, ..ctx };
        assert_eq!(render("{{ user \"a|b\" }}", &ctx).unwrap(), "pipe}}");
        assert_eq!(render("{{ \"x}}y\" | upper }}", &ctx).unwrap(), "X}}Y");
        assert_eq!(render("{{ split \"a-b-c\" \"-\" 1 }}", &ctx).unwrap(), "b");
        assert_eq!(render("{{ upper (user `x`) }}!", &ctx).unwrap(), "HELLO!");
        assert_eq!(
            render("{{ replace_all `l` `L` (user `x`) }}", &ctx).unwrap(),
            "HeLLo"
        );
        assert_eq!(
            render("{{ .SourceAMIName }} {{build   `ID`}}", &ctx).unwrap(),
            "{{ .SourceAMIName }} {{build   `ID`}}"
        );
        assert!(render("{{ split `a` `-` `x` }}", &ctx)
            .unwrap_err()
            .contains("expected int"));
        assert!(render("{{ sed `s/a/b/` `x` }}", &ctx)
            .unwrap_err()
            .contains("deprecated"));
        assert!(render("{{env `HOME`}}", &ctx).is_err());
    }

    #[test]
    fn core_and_ami_rules() {
        let s = "My App 2026-12-04T03:43:18Z (v1.2) é";
        assert_eq!(
            clean_resource_name(s, Names::Core),
            "my-app-2026-12-04t03-43-18z--v1-2---"
        );
        assert_eq!(
            clean_resource_name(s, Names::Ami),
            "My App 2026-12-04T03-43-18Z (v1.2) --"
        );
        // neither truncates
        let long = "a".repeat(200);
        assert_eq!(clean_resource_name(&long, Names::Core).len(), 200);
        assert_eq!(clean_resource_name(&long, Names::Ami).len(), 200);
        assert_eq!(Names::for_builder("amazon-ebs"), Names::Ami);
        assert_eq!(Names::for_builder("qemu"), Names::Core);
    }
}
