//! `source` and `build` blocks lowered into build nodes: one per source a
//! build names, with its provisioners and post-processor chains.

use super::decode::{
    child_blocks, decode_body, meta_duration, meta_strings, meta_value, BlockView,
};
use super::eval::{Detached, Evaluator};
use super::functions::FnEnv;
use super::parse::reads_build;
use super::parse::File;
use crate::diag::{did_you_mean, Diag, Diags};
use crate::graph::{BuildNode, Config, Edge, Graph, Late, Step};
use crate::plugin::{self, PluginKind};
use crate::value::{convert, Attrs, Type, Value};
use hcl_edit::structure::Block;
use hcl_edit::Span;
use std::collections::BTreeMap;

/// Keys of the `build` object: generated data filled in at run time.
pub const BUILD_VARS: &[&str] = &[
    "ID",
    "Host",
    "Port",
    "User",
    "Password",
    "ConnType",
    "PackerRunUUID",
    "PackerHTTPIP",
    "PackerHTTPPort",
    "PackerHTTPAddr",
    "SSHPublicKey",
    "SSHPrivateKey",
    "WinRMPassword",
    "SourceAMI",
    "SourceAMIName",
    "SourceAMIOwner",
    "SourceAMIOwnerName",
    "SourceAMICreationDate",
    "BuildRegion",
    "name",
];

/// `build.X` at lowering time: a placeholder the runner replaces.
/// `build.type` (the builder type) is a kiln extension: `hcl2_upgrade`
/// writes it for `{{build_type}}`, and Packer's HCL2 has no such attribute.
///
/// `build.name` of a build block with no name is the source's name (Packer
/// gives ""): `hcl2_upgrade`, Packer's as kiln's, writes `${build.name}`
/// for a JSON template's `{{build_name}}`, which is the builder's name,
/// and the upgraded template must mean what the JSON one meant.
fn build_object(build_name: Option<&str>, source_name: &str, builder_type: &str) -> Value {
    let mut m: Attrs = BUILD_VARS
        .iter()
        .map(|k| {
            (
                k.to_string(),
                Value::String(format!("{{{{ build `{k}` }}}}")),
            )
        })
        .collect();
    m.insert(
        "name".into(),
        Value::String(build_name.unwrap_or(source_name).to_string()),
    );
    m.insert("type".into(), Value::String(builder_type.to_string()));
    Value::Object(m)
}

/// Packer's sourceRefFromString: `TYPE.NAME` or `ANY.TYPE.NAME`.
fn source_ref(s: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = s.split('.').collect();
    let parts = if parts.len() > 2 {
        &parts[1..]
    } else {
        &parts[..]
    };
    if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    Some((parts[0].to_string(), parts[1].to_string()))
}

const PROV_META: &[&str] = &[
    "only",
    "except",
    "override",
    "pause_before",
    "max_retries",
    "timeout",
    "name",
];
const PP_META: &[&str] = &["only", "except", "keep_input_artifact", "name"];
const BUILD_ATTRS: &[&str] = &["name", "description", "sources"];
const BUILD_BLOCKS: &[&str] = &[
    "source",
    "provisioner",
    "error-cleanup-provisioner",
    "post-processor",
    "post-processors",
];

struct SourceUse<'a> {
    ty: String,
    name: String,
    /// The nested `source` block with overrides, if any.
    overrides: Option<BlockView<'a>>,
    span: Option<std::ops::Range<usize>>,
}

pub fn lower(
    files: &[File],
    root: &Attrs,
    env: &FnEnv,
    selection: &crate::graph::Selection,
    graph: &mut Graph,
    diags: &mut Diags,
) {
    // The template engine's per-run values, made only if a source's
    // strings call it.
    let template_dir = root
        .get("path")
        .and_then(Value::as_attrs)
        .and_then(|p| p.get("root"))
        .and_then(Value::as_str)
        .unwrap_or(".");
    let engine = std::cell::OnceCell::new();
    // All source blocks by TYPE.NAME.
    let mut sources: BTreeMap<(String, String), (&File, &Block)> = BTreeMap::new();
    // Sources of a type kiln lacks: an error where a selected build uses
    // one (or no build does), not where `-only`/`-except` leave it out.
    let mut unknown_type: BTreeMap<(String, String), (&File, &Block)> = BTreeMap::new();
    // Those already reported: builds using them stay quiet.
    let mut reported: std::collections::BTreeSet<(String, String)> = Default::default();
    let report_unknown = |f: &File, b: &Block, ty: &str, diags: &mut Diags| {
        diags.push(
            Diag::error("Unknown source type")
                .detail(format!("The source {ty:?} is unknown to kiln."))
                .unknown_plugin("source", ty)
                .at(&f.src, b.labels[0].span())
                .hint(match did_you_mean(ty, plugin::names(PluginKind::Builder)) {
                    Some(h) => h,
                    None => format!(
                        "known sources: {}",
                        plugin::names(PluginKind::Builder).join(", ")
                    ),
                }),
        );
    };
    for f in files {
        for b in f.body.get_blocks("source") {
            if b.labels.len() != 2 {
                continue;
            }
            let k = (
                b.labels[0].as_str().to_string(),
                b.labels[1].as_str().to_string(),
            );
            if sources.contains_key(&k) {
                diags.push(
                    Diag::error("Duplicate source block")
                        .detail(format!(
                            "This source \"{}.{}\" was already declared.",
                            k.0, k.1
                        ))
                        .at(&f.src, b.ident.span()),
                );
                continue;
            }
            if plugin::fields(PluginKind::Builder, &k.0).is_none() {
                unknown_type.insert(k, (f, b));
                continue;
            }
            sources.insert(k, (f, b));
        }
    }

    let mut build_index = 0;
    for f in files {
        for b in f.body.get_blocks("build") {
            let view = BlockView::of(b, f);
            let ev = Evaluator::new(&f.src, root, env);
            for a in b.body.attributes() {
                let n = a.key.value().as_str();
                if !BUILD_ATTRS.contains(&n) {
                    diags.push(
                        Diag::error("Unsupported argument")
                            .detail(format!("An argument named {n:?} is not expected here."))
                            .at(&f.src, a.key.span())
                            .maybe_hint(did_you_mean(n, BUILD_ATTRS.iter().copied())),
                    );
                }
            }
            let build_name =
                meta_value(&view, &ev, "name", diags).and_then(|v| v.as_str().map(str::to_string));
            let description = meta_value(&view, &ev, "description", diags)
                .and_then(|v| v.as_str().map(str::to_string));
            let children = child_blocks(&view, view.body, &ev, diags);
            for c in &children {
                if !BUILD_BLOCKS.contains(&c.ident.as_str()) {
                    diags.push(
                        c.err(
                            "Unsupported block type",
                            format!("Blocks of type {:?} are not expected here.", c.ident),
                        )
                        .maybe_hint(did_you_mean(&c.ident, BUILD_BLOCKS.iter().copied())),
                    );
                }
            }

            // Which sources this build uses.
            let mut uses: Vec<SourceUse> = Vec::new();
            if let Some(attr) = b.body.get_attribute("sources") {
                for s in meta_strings(&view, &ev, "sources", diags) {
                    match source_ref(&s) {
                        Some((t, n)) => uses.push(SourceUse {
                            ty: t,
                            name: n,
                            overrides: None,
                            span: attr.value.span(),
                        }),
                        None => diags.push(
                            Diag::error("Invalid source reference")
                                .detail(format!(
                                    "{s:?} is not a source reference; use \"source.TYPE.NAME\"."
                                ))
                                .at(&f.src, attr.value.span()),
                        ),
                    }
                }
            }
            for c in children.iter().filter(|c| c.ident == "source") {
                let Some(label) = c.labels.first() else {
                    diags.push(c.err(
                        "Missing source reference",
                        "A source block inside a build needs a label like \"source.TYPE.NAME\".",
                    ));
                    continue;
                };
                match source_ref(label) {
                    Some((t, n)) => uses.push(SourceUse {
                        ty: t,
                        name: n,
                        overrides: Some(c.clone()),
                        span: c.span.clone(),
                    }),
                    None => diags.push(c.err(
                        "Invalid source reference",
                        format!("{label:?} is not a source reference; use \"source.TYPE.NAME\"."),
                    )),
                }
            }

            for u in uses {
                // Left out by -only/-except: not prepared, not checked.
                let full = match &build_name {
                    Some(bn) => format!("{bn}.{}.{}", u.ty, u.name),
                    None => format!("{}.{}", u.ty, u.name),
                };
                let short = format!("{}.{}", u.ty, u.name);
                let key = (u.ty.clone(), u.name.clone());
                if !selection.selects(&[&full, &short]) {
                    reported.insert(key);
                    continue;
                }
                let Some((sf, sb)) = sources.get(&key) else {
                    if let Some((uf, ub)) = unknown_type.get(&key) {
                        if !reported.contains(&key) {
                            report_unknown(uf, ub, &u.ty, diags);
                        }
                        reported.insert(key);
                        continue;
                    }
                    if reported.contains(&key) {
                        continue;
                    }
                    let known: Vec<String> = sources
                        .keys()
                        .map(|(t, n)| format!("source.{t}.{n}"))
                        .collect();
                    diags.push(
                        Diag::error("Unknown source")
                            .detail(format!("Unknown source \"source.{}.{}\": no source block of that type and name is declared.", u.ty, u.name))
                            .at(&f.src, u.span.clone())
                            .maybe_hint(did_you_mean(&format!("source.{}.{}", u.ty, u.name), known.iter().map(String::as_str))),
                    );
                    continue;
                };
                let display_source_name = match &u.overrides {
                    Some(o) => o
                        .attr("name")
                        .and_then(|a| o.evaluator(&ev).eval(&a.value).ok())
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_else(|| u.name.clone()),
                    None => u.name.clone(),
                };
                let full_name = match &build_name {
                    Some(bn) => format!("{bn}.{}.{}", u.ty, display_source_name),
                    None => format!("{}.{}", u.ty, display_source_name),
                };
                let source_obj = Value::Object(Attrs::from([
                    (
                        "name".to_string(),
                        Value::String(display_source_name.clone()),
                    ),
                    ("type".to_string(), Value::String(u.ty.clone())),
                ]));
                let sev = Evaluator::new(&sf.src, root, env).with("source", source_obj.clone());
                let fields = plugin::fields(PluginKind::Builder, &u.ty).unwrap_or_default();
                let sview = BlockView::of(sb, sf);
                let mut builder = decode_body(&sview, &sev, &fields, &[], &[], diags);
                if let Some(o) = &u.overrides {
                    let oev = ev.with("source", source_obj.clone());
                    // Packer merges the two bodies (hcl.MergeBodies): an
                    // argument both set is an error, blocks add up.
                    for a in o.body.attributes() {
                        let k = a.key.value().as_str();
                        let Some(first) = sb.body.get_attribute(k).filter(|_| k != "name") else {
                            continue;
                        };
                        let at = first
                            .key
                            .span()
                            .map_or_else(String::new, |r| sf.src.range_of(r));
                        diags.push(
                            Diag::error("Duplicate argument")
                                .detail(format!("Argument {k:?} was already set at {at}"))
                                .at(&o.file.src, a.key.span())
                                .hint(format!("set {k} either in the source block or in the build's nested source block, not in both")),
                        );
                    }
                    let over = decode_body(o, &oev, &fields, &["name"], &[], diags);
                    for (k, v) in over {
                        let merged = match (builder.get(&k), &v) {
                            (
                                Some(Value::List(a) | Value::Tuple(a)),
                                Value::List(b) | Value::Tuple(b),
                            ) if sb.body.get_blocks(&k).next().is_some() => {
                                Value::List(a.iter().chain(b).cloned().collect())
                            }
                            _ => v,
                        };
                        builder.insert(k, merged);
                    }
                }
                // As each Packer plugin does when it prepares its
                // configuration: the template engine's functions in its
                // strings ({{ clean_resource_name `…` }}, {{ isotime }}, what
                // hcl2_upgrade leaves), run-time values kept for later.
                let mut errs = Vec::new();
                let ctx = || {
                    engine_ctx(
                        engine.get_or_init(|| {
                            crate::frontend::legacy::interp::Run::new(std::path::Path::new(
                                template_dir,
                            ))
                        }),
                        &display_source_name,
                        &u.ty,
                    )
                };
                for (k, v) in builder.iter_mut() {
                    if let Err(e) = render_engine(v, &ctx) {
                        errs.push(format!("{k}: {e}"));
                    }
                }
                errs.extend(plugin::checks_on_known(
                    &builder,
                    crate::communicator::validate,
                ));
                errs.extend(plugin::validate(PluginKind::Builder, &u.ty, &builder));
                for e in errs {
                    diags.push(sview.option_err(
                        &format!("Invalid source {}.{}", u.ty, u.name),
                        e,
                        &builder,
                    ));
                }

                let srcref = format!("{}.{}", u.ty, display_source_name);
                let pev = ev.with("source", source_obj.clone()).with(
                    "build",
                    build_object(build_name.as_deref(), &display_source_name, &u.ty),
                );
                let mut node = BuildNode {
                    name: full_name.clone(),
                    build_name: build_name.clone(),
                    build_index,
                    build_description: description.clone(),
                    source_type: u.ty.clone(),
                    source_name: display_source_name.clone(),
                    builder,
                    provisioners: Vec::new(),
                    error_cleanup: None,
                    post_processors: Vec::new(),
                };
                for c in &children {
                    match c.ident.as_str() {
                        "provisioner" => {
                            if let Some(s) = lower_provisioner(c, &pev, &srcref, diags) {
                                node.provisioners.push(s);
                            }
                        }
                        "error-cleanup-provisioner" => {
                            if node.error_cleanup.is_some() {
                                diags.push(c.err(
                                    "Duplicate error-cleanup-provisioner",
                                    "Only one error-cleanup-provisioner is allowed in a build.",
                                ));
                            }
                            node.error_cleanup = lower_provisioner(c, &pev, &srcref, diags);
                        }
                        "post-processor" => {
                            if let Some(s) = lower_post_processor(c, &pev, &srcref, diags) {
                                node.post_processors.push(vec![s]);
                            }
                        }
                        "post-processors" => {
                            let mut chain = Vec::new();
                            for pc in child_blocks(c, c.body, &pev, diags) {
                                if pc.ident != "post-processor" {
                                    diags.push(pc.err("Unsupported block type", format!("Blocks of type {:?} are not expected here; a post-processors block holds post-processor blocks.", pc.ident)));
                                    continue;
                                }
                                if let Some(s) = lower_post_processor(&pc, &pev, &srcref, diags) {
                                    chain.push(s);
                                }
                            }
                            if !chain.is_empty() {
                                node.post_processors.push(chain);
                            }
                        }
                        _ => {}
                    }
                }
                for d in &graph.datasources {
                    graph.edges.push(Edge {
                        from: d.id.clone(),
                        to: format!("build:{full_name}"),
                    });
                }
                if graph.builds.iter().any(|b| b.name == full_name) {
                    diags.push(Diag::error("Duplicate build").detail(format!("The build {full_name:?} is defined twice; give one of them a different name.")).at(&f.src, u.span.clone()));
                    continue;
                }
                graph.builds.push(node);
            }
            build_index += 1;
        }
    }
    // A source of an unknown type that no build uses is still a mistake.
    for (k, (f, b)) in &unknown_type {
        if !reported.contains(k) {
            report_unknown(f, b, &k.0, diags);
        }
    }
}

fn engine_ctx<'a>(
    run: &'a crate::frontend::legacy::interp::Run,
    name: &'a str,
    ty: &'a str,
) -> crate::frontend::legacy::interp::Ctx<'a> {
    use crate::frontend::legacy::interp::{Ctx, Names};
    static NO_USER_VARIABLES: BTreeMap<String, String> = BTreeMap::new();
    Ctx {
        user: &NO_USER_VARIABLES,
        allow_env: false,
        build_name: Some(name),
        build_type: Some(ty),
        template_dir: &run.template_dir,
        timestamp: &run.timestamp,
        uuid: &run.uuid,
        names: Names::for_builder(ty),
    }
}

/// Every string in `v` through the template engine (only those with `{{`;
/// `ctx` is asked for only then).
fn render_engine<'a>(
    v: &mut Value,
    ctx: &dyn Fn() -> crate::frontend::legacy::interp::Ctx<'a>,
) -> Result<(), String> {
    match v {
        Value::String(s) if s.contains("{{") => {
            *s = crate::frontend::legacy::interp::render(s, &ctx())?;
            Ok(())
        }
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            items.iter_mut().try_for_each(|i| render_engine(i, ctx))
        }
        Value::Map(m) | Value::Object(m) => m.values_mut().try_for_each(|i| render_engine(i, ctx)),
        _ => Ok(()),
    }
}

/// The NAME of a source reference `TYPE.NAME`.
fn source_name(srcref: &str) -> &str {
    srcref.split_once('.').map_or(srcref, |(_, n)| n)
}

/// Whether `only`/`except` keep a step for the source `srcref`
/// (`TYPE.NAME`; `source.TYPE.NAME` is accepted too). A bare NAME matches
/// too (Packer's HCL2 matches only `TYPE.NAME`, so the `only = ["NAME"]`
/// its hcl2_upgrade writes for a JSON template never matched, and the step
/// silently ran nowhere).
fn selected(only: &[String], except: &[String], srcref: &str) -> bool {
    let name = source_name(srcref);
    let matches =
        |s: &String| s == srcref || s.strip_prefix("source.") == Some(srcref) || s == name;
    (only.is_empty() || only.iter().any(matches)) && !except.iter().any(matches)
}

fn lower_provisioner(
    c: &BlockView,
    ev: &Evaluator,
    srcref: &str,
    diags: &mut Diags,
) -> Option<Step> {
    let Some(kind) = c.labels.first().cloned() else {
        diags.push(c.err(
            "Missing provisioner type",
            "A provisioner block needs its type as a label, e.g. provisioner \"shell\".",
        ));
        return None;
    };
    let only = meta_strings(c, ev, "only", diags);
    let except = meta_strings(c, ev, "except", diags);
    if !only.is_empty() && !except.is_empty() {
        diags.push(c.err(
            "Invalid only/except",
            "only one of 'only' or 'except' may be set",
        ));
    }
    let Some(fields) = plugin::fields(PluginKind::Provisioner, &kind) else {
        diags.push(
            c.err(
                "Unknown provisioner type",
                format!("The provisioner {kind:?} is unknown to kiln."),
            )
            .unknown_plugin("provisioner", &kind)
            .maybe_hint(did_you_mean(&kind, plugin::names(PluginKind::Provisioner))),
        );
        return None;
    };
    let pause_before = meta_duration(c, ev, "pause_before", diags);
    let timeout = meta_duration(c, ev, "timeout", diags);
    let max_retries = meta_value(c, ev, "max_retries", diags)
        .and_then(|v| match convert(&v, &Type::Number) {
            Ok(Value::Number(n)) => n.to_i64(),
            _ => None,
        })
        .unwrap_or(0)
        .max(0) as u32;
    let name = meta_value(c, ev, "name", diags).and_then(|v| v.as_str().map(str::to_string));
    let mut config = decode_body(c, ev, &fields, PROV_META, &[], diags);
    let mut overridden: Vec<String> = Vec::new();
    // override = { NAME = { arg = value } }, keyed by the source's name as
    // Packer keys it (what hcl2_upgrade writes), or by "TYPE.NAME".
    if let Some(ov) = meta_value(c, ev, "override", diags) {
        if let Some(m) = ov.as_attrs() {
            let hit = m
                .get(source_name(srcref))
                .or_else(|| m.get(srcref))
                .or_else(|| m.get(&format!("source.{srcref}")));
            if let Some(Value::Object(o) | Value::Map(o)) = hit {
                for (k, v) in o {
                    match fields.iter().find(|f| f.name == k) {
                        Some(f) => match super::decode::coerce(v.clone(), f.kind) {
                            Ok(v) => {
                                config.insert(k.clone(), v);
                                overridden.push(k.clone());
                            }
                            Err(e) => diags.push(c.err("Invalid override", format!("{k}: {e}"))),
                        },
                        None => {
                            diags.push(c.err("Invalid override", format!("An argument named {k:?} is not expected in a {kind} provisioner.")).maybe_hint(did_you_mean(k, fields.iter().map(|f| f.name))))
                        }
                    }
                }
            }
        }
    }
    for e in plugin::validate(PluginKind::Provisioner, &kind, &config) {
        diags.push(c.option_err(&format!("Invalid {kind} provisioner"), e, &config));
    }
    if !selected(&only, &except, srcref) {
        return None;
    }
    let late = late_args(c, ev, &fields, PROV_META, &overridden);
    Some(Step {
        kind,
        name,
        config: strip(config),
        pause_before,
        max_retries,
        timeout,
        keep_input_artifact: None,
        origin: origin(c),
        late,
    })
}

/// The arguments of a provisioner or post-processor block that read
/// `build.*`, each to evaluate again once the build's values are known
/// (until then a placeholder stands for each value, which a function
/// would see instead: `length(build.PackerRunUUID)`).
fn late_args(
    c: &BlockView,
    ev: &Evaluator,
    fields: &[plugin::Field],
    meta: &[&str],
    skip: &[String],
) -> Vec<Late> {
    let mut out = Vec::new();
    let mut scope: Option<std::sync::Arc<Detached>> = None;
    for a in c.body.attributes() {
        let key = a.key.value().as_str();
        if meta.contains(&key) || skip.iter().any(|k| k == key) || !reads_build(&a.value) {
            continue;
        }
        let Some(field) = fields.iter().find(|f| f.name == key) else {
            continue;
        };
        let scope = scope
            .get_or_insert_with(|| std::sync::Arc::new(c.evaluator(ev).detach()))
            .clone();
        let expr = a.value.clone();
        let kind = field.kind;
        let name = key.to_string();
        out.push(Late {
            key: key.to_string(),
            eval: std::sync::Arc::new(move |generated| {
                let mut build = scope
                    .binding("build")
                    .and_then(Value::as_attrs)
                    .cloned()
                    .unwrap_or_default();
                for k in BUILD_VARS {
                    let v = generated.get(*k).cloned().unwrap_or_default();
                    build.insert(k.to_string(), Value::String(v));
                }
                let v = scope
                    .eval_with(&expr, "build", Value::Object(build))
                    .map_err(|d| {
                        format!("{name}: {}: {}", d.summary, d.detail.unwrap_or_default())
                    })?;
                super::decode::coerce(v, kind).map_err(|e| format!("{name}: {e}"))
            }),
        });
    }
    out
}

fn lower_post_processor(
    c: &BlockView,
    ev: &Evaluator,
    srcref: &str,
    diags: &mut Diags,
) -> Option<Step> {
    let Some(kind) = c.labels.first().cloned() else {
        diags.push(c.err(
            "Missing post-processor type",
            "A post-processor block needs its type as a label.",
        ));
        return None;
    };
    let only = meta_strings(c, ev, "only", diags);
    let except = meta_strings(c, ev, "except", diags);
    let Some(fields) = plugin::fields(PluginKind::PostProcessor, &kind) else {
        diags.push(
            c.err(
                "Unknown post-processor type",
                format!("The post-processor {kind:?} is unknown to kiln."),
            )
            .unknown_plugin("post-processor", &kind)
            .maybe_hint(did_you_mean(
                &kind,
                plugin::names(PluginKind::PostProcessor),
            )),
        );
        return None;
    };
    let keep = meta_value(c, ev, "keep_input_artifact", diags).and_then(|v| {
        match convert(&v, &Type::Bool) {
            Ok(Value::Bool(b)) => Some(b),
            _ => None,
        }
    });
    let name = meta_value(c, ev, "name", diags).and_then(|v| v.as_str().map(str::to_string));
    let config = decode_body(c, ev, &fields, PP_META, &[], diags);
    for e in plugin::validate(PluginKind::PostProcessor, &kind, &config) {
        diags.push(c.option_err(&format!("Invalid {kind} post-processor"), e, &config));
    }
    if !selected(&only, &except, srcref) {
        return None;
    }
    Some(Step {
        kind,
        name,
        config: strip(config),
        pause_before: None,
        max_retries: 0,
        timeout: None,
        keep_input_artifact: keep,
        origin: origin(c),
        late: late_args(c, ev, &fields, PP_META, &[]),
    })
}

fn strip(c: Config) -> Config {
    c
}

fn origin(c: &BlockView) -> Option<String> {
    let span = c.span.as_ref()?;
    Some(c.file.src.line_of(span.start))
}
