//! Reading a legacy JSON template into the execution graph.

use super::interp::{render, Ctx, Names, Run};
use crate::diag::{did_you_mean, Diag, Diags, SourceFile};
use crate::frontend::hcl::functions::FnEnv;
use crate::frontend::hcl::{LoadOptions, Loaded};
use crate::frontend::json_spans::{segment, Spans};
use crate::graph::{BuildNode, Config, Graph, Step, VariableInfo};
use crate::plugin::{self, Field, PluginKind};
use crate::value::{Attrs, Value};
use serde_json::{Map, Value as J};
use std::collections::BTreeMap;
use std::path::PathBuf;

const ROOT_KEYS: &[&str] = &[
    "description",
    "min_packer_version",
    "variables",
    "sensitive-variables",
    "builders",
    "provisioners",
    "error-cleanup-provisioner",
    "post-processors",
];
const PROV_META: &[&str] = &[
    "type",
    "only",
    "except",
    "override",
    "pause_before",
    "timeout",
    "max_retries",
];
const PP_META: &[&str] = &["type", "only", "except", "keep_input_artifact", "name"];

/// A JSON pointer from its segments.
fn ptr(parts: &[&str]) -> String {
    parts.iter().map(|p| format!("/{}", segment(p))).collect()
}

/// A template's text parsed as JSON: its source (for diagnostics), the
/// positions of its keys and values, and its root object.
pub(super) fn read_root(
    path: &std::path::Path,
) -> Result<(SourceFile, Spans, Map<String, J>), Diags> {
    let text = crate::util::fs::read_regular_string(path).map_err(|e| {
        Diags::from(
            Diag::error("Failed to read template").detail(format!("{}: {e}", path.display())),
        )
    })?;
    let src = SourceFile::new(path.display().to_string(), text.clone());
    let j: J = match serde_json::from_str(&text) {
        Ok(j) => j,
        Err(e) => {
            let off = src.offset_of(e.line(), e.column());
            return Err(Diag::error("Failed to parse template")
                .detail(e.to_string())
                .at(&src, Some(off..(off + 1).min(text.len()).max(off)))
                .into());
        }
    };
    let sp = Spans::new(&text);
    if let Some((key, at)) = sp.duplicates().first() {
        return Err(Diag::error("Failed to parse template")
            .detail(format!("template has duplicate field: {key}"))
            .at(&src, Some(at.clone()))
            .hint("a JSON object names each key once; a parser would keep one of the two silently")
            .into());
    }
    let J::Object(root) = j else {
        return Err(Diag::error("Failed to parse template")
            .detail("the root of a JSON template must be an object")
            .at(&src, Some(0..1))
            .into());
    };
    Ok((src, sp, root))
}

pub fn load(opts: &LoadOptions) -> (Option<Loaded>, Diags) {
    let mut diags = Diags::new();
    let path = &opts.path;
    let (src, sp, root) = match read_root(path) {
        Ok(x) => x,
        Err(d) => return (None, d),
    };
    // Structure (checked in -syntax-only too).
    for k in root.keys() {
        if !ROOT_KEYS.contains(&k.as_str()) && !k.starts_with('_') {
            diags.push(
                Diag::error("Unknown root level key in template")
                    .detail(format!("'{k}'"))
                    .at(&src, sp.key(&ptr(&[k])))
                    .maybe_hint(did_you_mean(k, ROOT_KEYS.iter().copied())),
            );
        }
    }
    let arr = |k: &str, diags: &mut Diags| -> Vec<J> {
        match root.get(k) {
            // null is no list at all, as Packer's parser reads it.
            None | Some(J::Null) => Vec::new(),
            Some(J::Array(a)) => a.clone(),
            Some(_) => {
                diags.push(
                    Diag::error(format!("Error parsing template: '{k}' must be an array"))
                        .at(&src, sp.key(&ptr(&[k]))),
                );
                Vec::new()
            }
        }
    };
    let builders = arr("builders", &mut diags);
    let provisioners = arr("provisioners", &mut diags);
    // The provisioner that runs when another fails (the last entry, marked).
    let cleanup_provisioner = root.get("error-cleanup-provisioner").cloned();
    let post_processors = arr("post-processors", &mut diags);
    let variables = match root.get("variables") {
        None => Map::new(),
        Some(J::Object(m)) => m.clone(),
        Some(_) => {
            diags.push(
                Diag::error("Error parsing template: 'variables' must be an object")
                    .at(&src, sp.key("/variables")),
            );
            Map::new()
        }
    };
    if builders.is_empty() && !diags.has_errors() {
        diags.push(
            Diag::error("Error parsing template: at least one builder must be defined")
                .at(&src, Some(0..1)),
        );
    }
    if diags.has_errors() || opts.syntax_only {
        return (None, diags);
    }

    let run = Run::new(path.parent().unwrap_or(std::path::Path::new(".")));
    let mut graph = Graph {
        frontend: "json".into(),
        ..Graph::default()
    };
    graph.description = root
        .get("description")
        .and_then(J::as_str)
        .map(str::to_string);

    // min_packer_version
    if let Some(v) = root.get("min_packer_version").and_then(J::as_str) {
        match crate::frontend::hcl::packer_block_version_ok(v) {
            Ok(true) => {}
            Ok(false) => diags.push(
                Diag::error("This template requires a newer Packer")
                    .detail(format!(
                        "min_packer_version is {v}; kiln implements Packer {}",
                        crate::frontend::hcl::PACKER_COMPAT_VERSION
                    ))
                    .at(&src, sp.value("/min_packer_version")),
            ),
            Err(e) => diags.push(
                Diag::error("Invalid min_packer_version")
                    .detail(e)
                    .at(&src, sp.value("/min_packer_version")),
            ),
        }
    }

    // Variables: defaults, then -var-file, then -var.
    let mut user: BTreeMap<String, String> = BTreeMap::new();
    let mut required: Vec<String> = Vec::new();
    let mut overrides: BTreeMap<String, String> = BTreeMap::new();
    for vf in &opts.var_files {
        match crate::util::fs::read_regular_string(vf)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Map<String, J>>(&t).map_err(|e| e.to_string()))
        {
            Ok(m) => {
                for (k, v) in m {
                    overrides.insert(k, json_scalar(&v));
                }
            }
            Err(e) => diags.push(
                Diag::error("Error reading variable file").detail(format!("{}: {e}", vf.display())),
            ),
        }
    }
    for (k, v) in &opts.vars {
        overrides.insert(k.clone(), v.clone());
    }
    // Packer core's rendering: every variable (declared ones' defaults and
    // every -var and var-file value, declared or not) is rendered again
    // and again, each time with those rendered so far, until none changes
    // (at most 100 rounds): a default may name variables declared after
    // it. A variable still naming an unset one at the end is the error.
    let mut pending: Vec<(String, String)> = Vec::new();
    for (name, def) in &variables {
        match (overrides.get(name), def) {
            (Some(v), _) => pending.push((name.clone(), v.clone())),
            (None, J::Null) => required.push(name.clone()),
            (None, other) => pending.push((name.clone(), json_scalar(other))),
        }
    }
    for (k, v) in &overrides {
        if !variables.contains_key(k) {
            pending.push((k.clone(), v.clone()));
        }
    }
    let mut last_unset: Option<(String, String)> = None;
    for _ in 0..100 {
        if pending.is_empty() {
            break;
        }
        let mut still = Vec::new();
        let mut progressed = false;
        for (name, raw) in pending {
            let known = user.clone();
            let ctx = Ctx {
                user: &known,
                allow_env: true,
                build_name: None,
                build_type: None,
                template_dir: &run.template_dir,
                timestamp: &run.timestamp,
                uuid: &run.uuid,
                names: Names::Core,
            };
            match render(&raw, &ctx) {
                Ok(v) => {
                    user.insert(name, v);
                    progressed = true;
                }
                Err(e) if e.contains(super::interp::NOT_SET) => {
                    last_unset = Some((name.clone(), e));
                    still.push((name, raw));
                }
                Err(e) => diags.push(
                    Diag::error(format!("Error interpolating default value for '{name}'"))
                        .detail(e)
                        .at(&src, sp.value(&ptr(&["variables", &name]))),
                ),
            }
        }
        pending = still;
        if !progressed {
            break;
        }
    }
    if !pending.is_empty() {
        if let Some((name, e)) = last_unset {
            diags.push(
                Diag::error(format!("Failed to interpolate '{name}'"))
                    .detail(format!("{e}: please make sure that the variable you're referencing has been defined; Packer treats all variables used to interpolate other user variables as required."))
                    .at(&src, sp.value(&ptr(&["variables", &name]))),
            );
        }
    }
    for r in &required {
        diags.push(
            Diag::error(format!("required variable not set: {r}"))
                .at(&src, sp.key(&ptr(&["variables", r])))
                .hint(format!("pass it with -var '{r}=…' or a -var-file")),
        );
    }
    let sensitive: Vec<String> = root
        .get("sensitive-variables")
        .and_then(J::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for (name, _) in &variables {
        let is_sens = sensitive.contains(name);
        let val = user.get(name).cloned().unwrap_or_default();
        if is_sens && !val.is_empty() {
            crate::ui::register_secrets([val.clone()]);
            graph.sensitive.push(val.clone());
        }
        graph.variables.push(VariableInfo {
            name: name.clone(),
            // As the HCL2 front end shows a string (masked, Go-quoted).
            display: crate::value::display::go_quote(&crate::ui::mask(&val)),
            sensitive: is_sens,
            description: None,
        });
    }
    if diags.has_errors() {
        return (None, diags);
    }

    let selection = crate::graph::Selection::new(&opts.only, &opts.except).unwrap_or_default();
    // Packer core's context: the user variables, no build yet.
    let core_ctx = Ctx {
        user: &user,
        allow_env: false,
        build_name: None,
        build_type: None,
        template_dir: &run.template_dir,
        timestamp: &run.timestamp,
        uuid: &run.uuid,
        names: Names::Core,
    };
    for (bi, b) in builders.iter().enumerate() {
        let J::Object(bm) = b else {
            diags.push(
                Diag::error(format!("builder {}: must be an object", bi + 1))
                    .at(&src, sp.value(&format!("/builders/{bi}"))),
            );
            continue;
        };
        let Some(ty) = bm.get("type").and_then(J::as_str).map(str::to_string) else {
            diags.push(
                Diag::error(format!("builder {}: missing 'type'", bi + 1))
                    .at(&src, sp.value(&format!("/builders/{bi}"))),
            );
            continue;
        };
        let raw_name = bm
            .get("name")
            .and_then(J::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| ty.clone());
        // Packer renders build names with the user variables before
        // -only/-except see them: `"name": "{{user `os`}}-vm"` is built,
        // shown and selected as `debian-vm`.
        let name = match render(&raw_name, &core_ctx) {
            Ok(n) => n,
            Err(e) => {
                diags.push(
                    Diag::error(format!("Error interpolating builder '{raw_name}'"))
                        .detail(e)
                        .at(&src, sp.value(&format!("/builders/{bi}/name"))),
                );
                continue;
            }
        };
        // Left out by -only/-except: not prepared, not checked (its type
        // may be one kiln lacks), as in Packer.
        if !selection.selects(&[&name]) {
            continue;
        }
        let ctx = Ctx {
            user: &user,
            allow_env: false,
            build_name: Some(&name),
            build_type: Some(&ty),
            template_dir: &run.template_dir,
            timestamp: &run.timestamp,
            uuid: &run.uuid,
            names: Names::Core,
        };
        let builder_ctx = Ctx {
            names: Names::for_builder(&ty),
            ..ctx
        };
        let Some(fields) = plugin::fields(PluginKind::Builder, &ty) else {
            diags.push(
                Diag::error(format!(
                    "Failed to initialize build \"{name}\": builder type not found: {ty}"
                ))
                .unknown_plugin("builder", &ty)
                .at(&src, sp.value(&format!("/builders/{bi}/type")))
                .maybe_hint(did_you_mean(&ty, plugin::names(PluginKind::Builder))),
            );
            continue;
        };
        let builder = decode(
            &src,
            &sp,
            &[format!("/builders/{bi}")],
            bm,
            &fields,
            &["type", "name"],
            &builder_ctx,
            &format!("builder {name}"),
            &mut diags,
        );
        let mut errs = plugin::checks_on_known(&builder, crate::communicator::validate);
        errs.extend(plugin::validate(PluginKind::Builder, &ty, &builder));
        for e in errs {
            diags.push(
                Diag::error(format!("Failed to prepare build: \"{name}\""))
                    .detail(e)
                    .at(&src, sp.value(&format!("/builders/{bi}/type"))),
            );
        }
        let mut node = BuildNode {
            name: name.clone(),
            build_name: None,
            build_index: 0,
            build_description: None,
            source_type: ty.clone(),
            source_name: name.clone(),
            builder,
            provisioners: vec![],
            error_cleanup: None,
            post_processors: vec![],
        };
        let all_provisioners = provisioners
            .iter()
            .map(|p| (p, false))
            .chain(cleanup_provisioner.iter().map(|p| (p, true)));
        for (pi, (p, is_cleanup)) in all_provisioners.enumerate() {
            let pbase = if is_cleanup {
                "/error-cleanup-provisioner".to_string()
            } else {
                format!("/provisioners/{pi}")
            };
            let J::Object(pm) = p else {
                diags.push(
                    Diag::error(format!("provisioner {}: must be an object", pi + 1))
                        .at(&src, sp.value(&pbase)),
                );
                continue;
            };
            if !selected(pm, &name) {
                continue;
            }
            let Some(pty) = pm.get("type").and_then(J::as_str).map(str::to_string) else {
                diags.push(
                    Diag::error(format!("provisioner {}: missing 'type'", pi + 1))
                        .at(&src, sp.value(&pbase)),
                );
                continue;
            };
            let Some(pf) = plugin::fields(PluginKind::Provisioner, &pty) else {
                diags.push(
                    Diag::error(format!(
                        "provisioner {}: unknown provisioner type {pty:?}",
                        pi + 1
                    ))
                    .unknown_plugin("provisioner", &pty)
                    .at(&src, sp.value(&format!("{pbase}/type")))
                    .maybe_hint(did_you_mean(&pty, plugin::names(PluginKind::Provisioner))),
                );
                continue;
            };
            let mut merged = pm.clone();
            if let Some(J::Object(ov)) = pm.get("override").and_then(|o| o.get(&name)) {
                for (k, v) in ov {
                    merged.insert(k.clone(), v.clone());
                }
            }
            let config = decode(
                &src,
                &sp,
                &[
                    format!("{pbase}/override/{}", segment(&name)),
                    pbase.clone(),
                ],
                &merged,
                &pf,
                PROV_META,
                &ctx,
                &format!("provisioner {}", pi + 1),
                &mut diags,
            );
            for e in plugin::validate(PluginKind::Provisioner, &pty, &config) {
                diags.push(
                    Diag::error(format!("Failed to prepare provisioner {}: {pty}", pi + 1))
                        .detail(e)
                        .at(&src, sp.value(&format!("{pbase}/type"))),
                );
            }
            let dur = |k: &str, diags: &mut Diags| {
                pm.get(k).and_then(J::as_str).and_then(|s| {
                    crate::util::duration::parse(s)
                        .map_err(|e| {
                            diags.push(
                                Diag::error(format!("provisioner {}: {k}", pi + 1))
                                    .detail(e)
                                    .at(&src, sp.value(&format!("{pbase}/{k}"))),
                            )
                        })
                        .ok()
                })
            };
            let pause_before = dur("pause_before", &mut diags);
            let timeout = dur("timeout", &mut diags);
            let max_retries = pm
                .get("max_retries")
                .map(json_scalar)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let step = Step {
                kind: pty,
                name: None,
                config,
                pause_before,
                max_retries,
                timeout,
                keep_input_artifact: None,
                origin: None,
                late: Vec::new(),
            };
            if is_cleanup {
                node.error_cleanup = Some(step);
            } else {
                node.provisioners.push(step);
            }
        }
        for (ci, pp) in post_processors.iter().enumerate() {
            let items: Vec<J> = match pp {
                J::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            let nested = matches!(pp, J::Array(_));
            let mut chain = Vec::new();
            for (ii, it) in items.into_iter().enumerate() {
                let ppbase = if nested {
                    format!("/post-processors/{ci}/{ii}")
                } else {
                    format!("/post-processors/{ci}")
                };
                let pm: Map<String, J> = match it {
                    J::String(s) => Map::from_iter([("type".to_string(), J::String(s))]),
                    J::Object(m) => m,
                    _ => {
                        diags.push(
                            Diag::error("post-processor must be a string, an object or an array")
                                .at(&src, sp.value(&ppbase)),
                        );
                        continue;
                    }
                };
                if !selected(&pm, &name) {
                    continue;
                }
                let Some(pty) = pm.get("type").and_then(J::as_str).map(str::to_string) else {
                    diags.push(
                        Diag::error("post-processor: missing 'type'").at(&src, sp.value(&ppbase)),
                    );
                    continue;
                };
                let Some(pf) = plugin::fields(PluginKind::PostProcessor, &pty) else {
                    diags.push(
                        Diag::error(format!("unknown post-processor type {pty:?}"))
                            .unknown_plugin("post-processor", &pty)
                            .at(
                                &src,
                                sp.value(&format!("{ppbase}/type"))
                                    .or_else(|| sp.value(&ppbase)),
                            )
                            .maybe_hint(did_you_mean(
                                &pty,
                                plugin::names(PluginKind::PostProcessor),
                            )),
                    );
                    continue;
                };
                let config = decode(
                    &src,
                    &sp,
                    std::slice::from_ref(&ppbase),
                    &pm,
                    &pf,
                    PP_META,
                    &ctx,
                    &format!("post-processor {pty}"),
                    &mut diags,
                );
                for e in plugin::validate(PluginKind::PostProcessor, &pty, &config) {
                    diags.push(
                        Diag::error(format!("Failed to prepare post-processor {pty}"))
                            .detail(e)
                            .at(
                                &src,
                                sp.value(&format!("{ppbase}/type"))
                                    .or_else(|| sp.value(&ppbase)),
                            ),
                    );
                }
                let keep = pm.get("keep_input_artifact").and_then(J::as_bool);
                chain.push(Step {
                    kind: pty,
                    name: pm.get("name").and_then(J::as_str).map(str::to_string),
                    config,
                    pause_before: None,
                    max_retries: 0,
                    timeout: None,
                    keep_input_artifact: keep,
                    origin: None,
                    late: Vec::new(),
                });
            }
            if !chain.is_empty() {
                node.post_processors.push(chain);
            }
        }
        graph.builds.push(node);
    }
    if diags.has_errors() {
        return (None, diags);
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut rootv = Attrs::new();
    rootv.insert(
        "var".into(),
        Value::Object(
            user.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        ),
    );
    (
        Some(Loaded {
            graph,
            root: rootv,
            env: FnEnv::new(cwd),
        }),
        diags,
    )
}

fn selected(m: &Map<String, J>, name: &str) -> bool {
    let list = |k: &str| -> Vec<String> {
        m.get(k)
            .and_then(J::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let only = list("only");
    let except = list("except");
    (only.is_empty() || only.iter().any(|o| o == name)) && !except.iter().any(|e| e == name)
}

pub(super) fn json_scalar(v: &J) -> String {
    match v {
        J::String(s) => s.clone(),
        J::Null => String::new(),
        other => other.to_string(),
    }
}

/// Interpolate every string, then coerce to the plugin's field kinds
/// (mapstructure's weak typing: "true" → bool, "x" → ["x"]).
#[allow(clippy::too_many_arguments)]
fn decode(
    src: &SourceFile,
    sp: &Spans,
    bases: &[String],
    m: &Map<String, J>,
    fields: &[Field],
    meta: &[&str],
    ctx: &Ctx,
    what: &str,
    diags: &mut Diags,
) -> Config {
    let mut out = Config::new();
    // The key where it is written (an override's before the provisioner's own).
    let key_span = |_: &SourceFile, k: &str| {
        bases
            .iter()
            .find_map(|b| sp.key(&format!("{b}/{}", segment(k))))
    };
    for (k, v) in m {
        if meta.contains(&k.as_str()) || k.starts_with('_') {
            continue;
        }
        let Some(f) = fields.iter().find(|f| f.name == k) else {
            diags.push(
                Diag::error(format!("{what}: unknown configuration key: '{k}'"))
                    .at(src, key_span(src, k))
                    .maybe_hint(did_you_mean(k, fields.iter().map(|f| f.name))),
            );
            continue;
        };
        let val = match interp_json(v, ctx) {
            Ok(v) => v,
            Err(e) => {
                diags.push(
                    Diag::error(format!("{what}: error interpolating '{k}'"))
                        .detail(e)
                        .at(src, key_span(src, k)),
                );
                // keep the raw text so the error is not followed by a
                // misleading "option missing" one
                v.clone()
            }
        };
        let mut value = Value::from_json(&val);
        // mapstructure's weak typing: an empty string is the zero value
        // (a `{{user `x`}}` left empty means "unset").
        if value.as_str() == Some("") {
            match f.kind {
                plugin::Kind::Number | plugin::Kind::Bool | plugin::Kind::Duration => continue,
                _ => {}
            }
        }
        if f.kind == plugin::Kind::Strings {
            if let Value::String(s) = &value {
                value = Value::Tuple(plugin::options::split_list(s));
            }
        }
        match crate::frontend::hcl::decode::coerce(value, f.kind) {
            Ok(v) => {
                out.insert(k.clone(), v);
            }
            Err(e) => diags.push(
                Diag::error(format!("{what}: '{k}' expected type: {e}")).at(src, key_span(src, k)),
            ),
        }
    }
    out
}

fn interp_json(v: &J, ctx: &Ctx) -> Result<J, String> {
    Ok(match v {
        J::String(s) => J::String(render(s, ctx)?),
        J::Array(a) => J::Array(
            a.iter()
                .map(|x| interp_json(x, ctx))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(m) => J::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), interp_json(x, ctx)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}
