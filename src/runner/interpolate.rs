//! Run-time interpolation: the `{{ build `Name` }}` placeholders both front
//! ends leave for values generated during a build, and the `{{.Field}}`
//! templates of options like `execute_command`.

use crate::graph::Config;
use crate::value::Value;
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::OnceLock;

fn build_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"\{\{-?\s*build\s+[`\x22]([A-Za-z0-9_]+)[`\x22]\s*-?\}\}")
            .expect("static regex")
    })
}

fn field_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\{\{-?\s*\.([A-Za-z0-9_]+)\s*-?\}\}").expect("static regex"))
}

/// Replace `{{ build `X` }}` with generated values (empty when not generated).
pub fn render_build(s: &str, generated: &BTreeMap<String, String>) -> String {
    if !s.contains("{{") {
        return s.to_string();
    }
    build_re()
        .replace_all(s, |c: &regex::Captures| {
            generated.get(&c[1]).cloned().unwrap_or_default()
        })
        .into_owned()
}

fn render_value(v: &Value, generated: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(render_build(s, generated)),
        Value::List(x) => Value::List(x.iter().map(|i| render_value(i, generated)).collect()),
        Value::Set(x) => Value::Set(x.iter().map(|i| render_value(i, generated)).collect()),
        Value::Tuple(x) => Value::Tuple(x.iter().map(|i| render_value(i, generated)).collect()),
        Value::Map(m) => Value::Map(
            m.iter()
                .map(|(k, i)| (k.clone(), render_value(i, generated)))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, i)| (k.clone(), render_value(i, generated)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn render_config(c: &Config, generated: &BTreeMap<String, String>) -> Config {
    c.iter()
        .map(|(k, v)| (k.clone(), render_value(v, generated)))
        .collect()
}

/// Render `{{.Name}}` fields (execute_command and similar), then build values.
pub fn render_fields(
    tmpl: &str,
    fields: &[(&str, &str)],
    generated: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut missing = None;
    let out = field_re().replace_all(tmpl, |c: &regex::Captures| {
        match fields.iter().find(|(k, _)| *k == &c[1]) {
            Some((_, v)) => v.to_string(),
            None => {
                missing = Some(c[1].to_string());
                String::new()
            }
        }
    });
    if let Some(m) = missing {
        return Err(format!("template: can't evaluate field {m}"));
    }
    Ok(render_build(&out, generated))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn placeholders() {
        let g = BTreeMap::from([("ID".to_string(), "i-123".to_string())]);
        assert_eq!(render_build("id={{ build `ID` }}", &g), "id=i-123");
        assert_eq!(
            render_fields(
                "{{.Vars}} {{ .Script }}",
                &[("Vars", "A=1"), ("Script", "/s")],
                &g
            )
            .unwrap(),
            "A=1 /s"
        );
        assert!(render_fields("{{.Nope}}", &[], &g).is_err());
    }
}
