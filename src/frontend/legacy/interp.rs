//! Go-template interpolation of legacy JSON templates (`{{user `x`}}`,
//! `{{timestamp}}`, pipelines …). Run-time values (`{{ build `ID` }}`,
//! `{{ .Vars }}`) are left in place for the runner.

use crate::util::gotime;
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
}

#[derive(Debug, Clone)]
enum Arg {
    Str(String),
    Ident(String),
}

fn lex_args(s: &str) -> Result<Vec<Arg>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '`' {
            let end = cs[i + 1..].iter().position(|&x| x == '`').ok_or("unterminated raw quoted string")?;
            out.push(Arg::Str(cs[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if c == '"' {
            let mut j = i + 1;
            let mut v = String::new();
            while j < cs.len() && cs[j] != '"' {
                if cs[j] == '\\' && j + 1 < cs.len() {
                    j += 1;
                    v.push(match cs[j] {
                        'n' => '\n',
                        't' => '\t',
                        o => o,
                    });
                } else {
                    v.push(cs[j]);
                }
                j += 1;
            }
            if j >= cs.len() {
                return Err("unterminated quoted string".into());
            }
            out.push(Arg::Str(v));
            i = j + 1;
        } else {
            let mut j = i;
            while j < cs.len() && !cs[j].is_whitespace() {
                j += 1;
            }
            out.push(Arg::Ident(cs[i..j].iter().collect()));
            i = j;
        }
    }
    Ok(out)
}

fn call(ctx: &Ctx, name: &str, args: &[String]) -> Result<String, String> {
    let arg = |i: usize| args.get(i).cloned().ok_or_else(|| format!("wrong number of args for {name}"));
    Ok(match name {
        "user" => {
            let k = arg(0)?;
            ctx.user.get(&k).cloned().ok_or_else(|| format!("variable {k} not set"))?
        }
        "env" => {
            if !ctx.allow_env {
                return Err("env vars are not allowed here; use them in the variables section".into());
            }
            std::env::var(arg(0)?).unwrap_or_default()
        }
        "timestamp" => ctx.timestamp.to_string(),
        "uuid" => ctx.uuid.to_string(),
        "isotime" => {
            let layout = args.first().cloned().unwrap_or_else(|| "2006-01-02T15:04:05Z07:00".into());
            gotime::format(&chrono::Utc::now().fixed_offset(), &layout)
        }
        "build_name" => ctx.build_name.ok_or("build_name is only available in builders")?.to_string(),
        "build_type" => ctx.build_type.ok_or("build_type is only available in builders")?.to_string(),
        "template_dir" => ctx.template_dir.to_string(),
        "pwd" => std::env::current_dir().map(|p| p.display().to_string()).unwrap_or_default(),
        "packer_version" => crate::frontend::hcl::PACKER_COMPAT_VERSION.to_string(),
        "lower" => arg(0)?.to_lowercase(),
        "upper" => arg(0)?.to_uppercase(),
        "split" => {
            let (s, sep, idx) = (arg(0)?, arg(1)?, arg(2)?);
            let i: usize = idx.parse().map_err(|_| "split index must be a number")?;
            s.split(sep.as_str()).nth(i).map(str::to_string).ok_or("split index out of range")?
        }
        "replace" => {
            let (old, new, n, s) = (arg(0)?, arg(1)?, arg(2)?, arg(3)?);
            let n: i64 = n.parse().map_err(|_| "replace count must be a number")?;
            if n < 0 {
                s.replace(&old, &new)
            } else {
                s.replacen(&old, &new, n as usize)
            }
        }
        "replace_all" => {
            let (old, new, s) = (arg(0)?, arg(1)?, arg(2)?);
            s.replace(&old, &new)
        }
        "clean_resource_name" => {
            let s = arg(0)?;
            let mut out: String = s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' }).collect();
            out.truncate(63);
            out
        }
        "sed" => return Err("The sed function has been deprecated; use replace or replace_all instead".into()),
        "consul_key" | "vault" | "aws_secretsmanager" => {
            return Err(format!("{name}: reading secrets from external services is not supported by kiln yet"))
        }
        other => return Err(format!("function \"{other}\" not defined")),
    })
}

fn is_runtime(action: &str) -> bool {
    let a = action.trim().trim_start_matches('-').trim();
    a.starts_with('.') || a.starts_with("build ") || a.starts_with("build\t")
}

/// Render a legacy template string.
pub fn render(s: &str, ctx: &Ctx) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "template: unclosed action".to_string())?;
        let action = &after[..end];
        if is_runtime(action) {
            out.push_str(&rest[start..start + 2 + end + 2]);
        } else {
            out.push_str(&eval_action(action, ctx)?);
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn eval_action(action: &str, ctx: &Ctx) -> Result<String, String> {
    let action = action.trim().trim_start_matches('-').trim_end_matches('-').trim();
    let mut prev: Option<String> = None;
    for stage in action.split('|') {
        let args = lex_args(stage)?;
        let (name, rest) = match args.split_first() {
            Some((Arg::Ident(n), rest)) => (n.clone(), rest),
            Some((Arg::Str(s), [])) => {
                prev = Some(s.clone());
                continue;
            }
            _ => return Err(format!("template: bad action {{{{{action}}}}}")),
        };
        let mut vals: Vec<String> = rest
            .iter()
            .map(|a| match a {
                Arg::Str(s) => s.clone(),
                Arg::Ident(i) => i.clone(),
            })
            .collect();
        if let Some(p) = prev.take() {
            vals.push(p);
        }
        prev = Some(call(ctx, &name, &vals)?);
    }
    Ok(prev.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn renders() {
        let user = BTreeMap::from([("x".to_string(), "Hello".to_string())]);
        let ctx = Ctx { user: &user, allow_env: false, build_name: Some("b"), build_type: Some("null"), template_dir: "/t", timestamp: "123", uuid: "u" };
        assert_eq!(render("{{user `x`}}-{{timestamp}}", &ctx).unwrap(), "Hello-123");
        assert_eq!(render("{{ user `x` | lower }}", &ctx).unwrap(), "hello");
        assert_eq!(render("id {{ build `ID` }} {{.Vars}}", &ctx).unwrap(), "id {{ build `ID` }} {{.Vars}}");
        assert!(render("{{nope}}", &ctx).is_err());
        assert!(render("{{env `HOME`}}", &ctx).is_err());
    }
}
