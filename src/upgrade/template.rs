//! The legacy JSON template as Packer's `template.Parse` reads it for
//! `hcl2_upgrade`: variables, builders, provisioners and post-processors
//! in file order, values kept as JSON.

use serde_json::{Map, Value as J};
use std::collections::BTreeMap;

pub(super) struct Variable {
    pub(super) key: String,
    pub(super) default: String,
    pub(super) required: bool,
}

pub(super) struct Builder {
    pub(super) ty: String,
    pub(super) name: String,
    pub(super) config: Map<String, J>,
}

pub(super) struct Provisioner {
    pub(super) ty: String,
    pub(super) config: Map<String, J>,
}

pub(super) struct PostProcessor {
    pub(super) ty: String,
    pub(super) keep_input_artifact: Option<bool>,
    pub(super) config: Map<String, J>,
}

pub(super) struct Template {
    pub(super) raw: String,
    pub(super) min_version: String,
    pub(super) description: String,
    pub(super) variables: BTreeMap<String, Variable>,
    pub(super) sensitive: Vec<String>,
    pub(super) builders: Vec<Builder>,
    pub(super) provisioners: Vec<Provisioner>,
    pub(super) cleanup: Option<Provisioner>,
    pub(super) post_processors: Vec<Vec<PostProcessor>>,
}

pub(super) fn as_string(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        J::Null => String::new(),
        other => other.to_string(),
    }
}

pub(super) fn strings(v: Option<&J>) -> Vec<String> {
    match v {
        Some(J::Array(a)) => a.iter().map(as_string).collect(),
        Some(J::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

pub(super) fn go_duration(v: &J) -> Result<Option<String>, String> {
    let s = as_string(v);
    if s.is_empty() {
        return Ok(None);
    }
    let d = crate::util::duration::parse(&s)?;
    Ok((!d.is_zero()).then(|| crate::util::duration::format(d)))
}

pub(super) fn provisioner(v: &J) -> Result<Provisioner, String> {
    let J::Object(m) = v else {
        return Err("a provisioner must be an object".into());
    };
    let ty = m
        .get("type")
        .map(as_string)
        .filter(|t| !t.is_empty())
        .ok_or("provisioner: missing 'type'")?;
    let mut config = m.clone();
    for k in [
        "type",
        "except",
        "only",
        "override",
        "pause_before",
        "timeout",
        "max_retries",
    ] {
        config.shift_remove(k);
    }
    let except = strings(m.get("except"));
    let only = strings(m.get("only"));
    if !except.is_empty() {
        config.insert(
            "except".into(),
            J::Array(except.into_iter().map(J::String).collect()),
        );
    }
    if !only.is_empty() {
        config.insert(
            "only".into(),
            J::Array(only.into_iter().map(J::String).collect()),
        );
    }
    if let Some(r) = m
        .get("max_retries")
        .map(as_string)
        .filter(|r| !r.is_empty())
    {
        config.insert("max_retries".into(), J::String(r));
    }
    if let Some(t) = m.get("timeout").map(go_duration).transpose()?.flatten() {
        config.insert("timeout".into(), J::String(t));
    }
    if let Some(t) = m
        .get("pause_before")
        .map(go_duration)
        .transpose()?
        .flatten()
    {
        config.insert("pause_before".into(), J::String(t));
    }
    // Keyed by builder name, which is the source's name after the upgrade.
    if let Some(J::Object(o)) = m
        .get("override")
        .filter(|o| o.as_object().is_some_and(|o| !o.is_empty()))
    {
        config.insert("override".into(), J::Object(o.clone()));
    }
    Ok(Provisioner { ty, config })
}

pub(super) fn post_processor(v: &J) -> Result<PostProcessor, String> {
    match v {
        J::String(t) => Ok(PostProcessor {
            ty: t.clone(),
            keep_input_artifact: None,
            config: Map::new(),
        }),
        J::Object(m) => {
            let ty = m
                .get("type")
                .map(as_string)
                .filter(|t| !t.is_empty())
                .ok_or("post-processor: missing 'type'")?;
            let mut config = m.clone();
            for k in ["type", "keep_input_artifact", "only", "except", "name"] {
                config.shift_remove(k);
            }
            let except = strings(m.get("except"));
            let only = strings(m.get("only"));
            if !except.is_empty() {
                config.insert(
                    "except".into(),
                    J::Array(except.into_iter().map(J::String).collect()),
                );
            }
            if !only.is_empty() {
                config.insert(
                    "only".into(),
                    J::Array(only.into_iter().map(J::String).collect()),
                );
            }
            if let Some(n) = m
                .get("name")
                .map(as_string)
                .filter(|n| !n.is_empty() && *n != ty)
            {
                config.insert("name".into(), J::String(n));
            }
            Ok(PostProcessor {
                ty,
                keep_input_artifact: m.get("keep_input_artifact").and_then(J::as_bool),
                config,
            })
        }
        _ => Err("a post-processor must be a string, an object or a list of them".into()),
    }
}

pub(super) fn read_template(raw: &str) -> Result<Template, String> {
    let root: J = serde_json::from_str(raw).map_err(|e| format!("Error parsing JSON: {e}"))?;
    let J::Object(root) = root else {
        return Err("a template must be a JSON object".into());
    };
    // What serde_json would silently drop or skip is an error, as in
    // Packer: a key given twice, a section of the wrong shape.
    if let Some((key, _)) = crate::frontend::json_spans::Spans::new(raw)
        .duplicates()
        .first()
    {
        return Err(format!("template has duplicate field: {key}"));
    }
    for (section, array) in [
        ("variables", false),
        ("builders", true),
        ("provisioners", true),
        ("post-processors", true),
        ("sensitive-variables", true),
    ] {
        let shape_ok = match root.get(section) {
            None | Some(J::Null) => true,
            Some(J::Array(_)) => array,
            Some(J::Object(_)) => !array,
            Some(_) => false,
        };
        if !shape_ok {
            let (want, got) = (
                if array { "an array" } else { "an object" },
                json_kind(&root[section]),
            );
            return Err(format!(
                "'{section}': source data must be {want}, got {got}"
            ));
        }
    }
    let mut t = Template {
        raw: raw.to_string(),
        min_version: String::new(),
        description: String::new(),
        variables: BTreeMap::new(),
        sensitive: Vec::new(),
        builders: Vec::new(),
        provisioners: Vec::new(),
        cleanup: None,
        post_processors: Vec::new(),
    };
    t.min_version = root
        .get("min_packer_version")
        .map(as_string)
        .unwrap_or_default();
    t.description = root.get("description").map(as_string).unwrap_or_default();
    if let Some(J::Object(vars)) = root.get("variables") {
        for (k, v) in vars {
            t.variables.insert(
                k.clone(),
                Variable {
                    key: k.clone(),
                    default: as_string(v),
                    required: v.is_null(),
                },
            );
        }
    }
    t.sensitive = strings(root.get("sensitive-variables"));
    if let Some(J::Array(bs)) = root.get("builders") {
        for b in bs {
            let J::Object(m) = b else {
                return Err("a builder must be an object".into());
            };
            let ty = m
                .get("type")
                .map(as_string)
                .filter(|t| !t.is_empty())
                .ok_or("builder: missing 'type'")?;
            let name = m.get("name").map(as_string).unwrap_or_default();
            let mut config = m.clone();
            config.shift_remove("type");
            config.shift_remove("name");
            t.builders.push(Builder { ty, name, config });
        }
    }
    if let Some(J::Array(ps)) = root.get("provisioners") {
        for p in ps {
            t.provisioners.push(provisioner(p)?);
        }
    }
    if let Some(p) = root.get("error-cleanup-provisioner") {
        t.cleanup = Some(provisioner(p)?);
    }
    if let Some(J::Array(pps)) = root.get("post-processors") {
        for pp in pps {
            let chain = match pp {
                J::Array(items) => items
                    .iter()
                    .map(post_processor)
                    .collect::<Result<Vec<_>, _>>()?,
                other => vec![post_processor(other)?],
            };
            t.post_processors.push(chain);
        }
    }
    Ok(t)
}

/// How Go's decoder names a JSON value's kind in its errors.
fn json_kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "bool",
        J::Number(_) => "number",
        J::String(_) => "string",
        J::Array(_) => "slice",
        J::Object(_) => "map",
    }
}
