//! Decoding block bodies: `dynamic` expansion, meta-arguments, and plugin
//! arguments checked against the plugin's schema.

use super::eval::Evaluator;
use super::parse::File;
use crate::diag::{did_you_mean, Diag, Diags};
use crate::graph::Config;
use crate::plugin::{Field, Kind};
use crate::value::{convert, to_display_string, Attrs, Type, Value};
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, Body};
use hcl_edit::Span;
use std::ops::Range;

/// A block as the decoder sees it: possibly produced by a `dynamic` block,
/// with the iterator variable in its scope.
#[derive(Clone)]
pub struct BlockView<'a> {
    pub ident: String,
    pub labels: Vec<String>,
    pub body: &'a Body,
    pub span: Option<Range<usize>>,
    pub file: &'a File,
    pub scope: Vec<(String, Value)>,
}

impl<'a> BlockView<'a> {
    pub fn of(block: &'a Block, file: &'a File) -> BlockView<'a> {
        BlockView {
            ident: block.ident.value().to_string(),
            labels: block
                .labels
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            body: &block.body,
            span: block.ident.span().or(block.span()),
            file,
            scope: Vec::new(),
        }
    }

    pub fn evaluator<'s>(&'s self, base: &Evaluator<'s>) -> Evaluator<'s> {
        let mut ev = base.for_file(&self.file.src);
        for (k, v) in &self.scope {
            ev = ev.with(k, v.clone());
        }
        ev
    }

    pub fn attr(&self, name: &str) -> Option<&'a Attribute> {
        self.body.get_attribute(name)
    }

    pub fn err(&self, summary: &str, detail: impl Into<String>) -> Diag {
        Diag::error(summary)
            .detail(detail)
            .at(&self.file.src, self.span.clone())
    }

    /// A plugin's complaint about its configuration `config`, pointed at
    /// the option it is about when the block sets that option, else at the
    /// block: the option the complaint names first ("iso_url: …",
    /// "deprecate_at … is not"), else the one whose value it quotes ("Bad
    /// source '/no/such/file'").
    pub fn option_err(&self, summary: &str, detail: impl Into<String>, config: &Config) -> Diag {
        let detail = detail.into();
        let attrs = || self.body.attributes();
        let named = attrs()
            .filter(|a| names_first(&detail, a.key.as_str()))
            .max_by_key(|a| a.key.as_str().len())
            .or_else(|| {
                attrs()
                    .filter_map(|a| {
                        let quoted = quoted_value(&detail, config.get(a.key.as_str())?)?;
                        Some((a, quoted))
                    })
                    .max_by_key(|(_, len)| *len)
                    .map(|(a, _)| a)
            })
            .and_then(|a| a.span());
        Diag::error(summary)
            .detail(detail)
            .at(&self.file.src, named.or_else(|| self.span.clone()))
    }
}

/// The length of the longest string of `value` (a string, or one in a
/// list) that `detail` quotes; one- and two-letter strings are ignored,
/// since they match too much.
fn quoted_value(detail: &str, value: &Value) -> Option<usize> {
    let strings: Vec<&str> = match value {
        Value::String(s) => vec![s],
        v => v.as_seq()?.iter().filter_map(Value::as_str).collect(),
    };
    strings
        .into_iter()
        .filter(|s| s.len() > 2 && detail.contains(*s))
        .map(str::len)
        .max()
}

/// Whether `detail` starts with the option `key` as a word of its own.
fn names_first(detail: &str, key: &str) -> bool {
    detail.strip_prefix(key).is_some_and(|rest| {
        rest.is_empty()
            || rest.starts_with(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
    })
}

/// The child blocks of a body, with `dynamic` blocks expanded.
pub fn child_blocks<'a>(
    parent: &BlockView<'a>,
    body: &'a Body,
    ev: &Evaluator,
    diags: &mut Diags,
) -> Vec<BlockView<'a>> {
    let mut out = Vec::new();
    for block in body.blocks() {
        let mut view = BlockView::of(block, parent.file);
        view.scope = parent.scope.clone();
        if view.ident != "dynamic" {
            out.push(view);
            continue;
        }
        let ev = view.evaluator(ev);
        let Some(kind) = view.labels.first().cloned() else {
            diags.push(view.err(
                "Missing block label",
                "A dynamic block needs one label: the type of block to generate.",
            ));
            continue;
        };
        let iter_name = match block.body.get_attribute("iterator") {
            Some(a) => match &a.value {
                Expression::Variable(v) => v.value().to_string(),
                _ => {
                    diags.push(
                        Diag::error("Invalid dynamic iterator name")
                            .detail("The iterator must be a single identifier.")
                            .at(&parent.file.src, a.value.span()),
                    );
                    continue;
                }
            },
            None => kind.clone(),
        };
        let Some(for_each) = block.body.get_attribute("for_each") else {
            diags.push(view.err(
                "Missing required argument",
                "The argument \"for_each\" is required in a dynamic block.",
            ));
            continue;
        };
        let coll = match ev.eval(&for_each.value) {
            Ok(v) => v,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        let Some(content) = block.body.get_blocks("content").next() else {
            diags.push(view.err(
                "Missing content block",
                "A dynamic block must have a nested block of type \"content\".",
            ));
            continue;
        };
        let items: Vec<(Value, Value)> = match coll {
            Value::List(v) | Value::Tuple(v) => v
                .into_iter()
                .enumerate()
                .map(|(i, x)| (Value::int(i as i64), x))
                .collect(),
            Value::Set(v) => v.into_iter().map(|x| (x.clone(), x)).collect(),
            Value::Map(m) | Value::Object(m) => {
                m.into_iter().map(|(k, x)| (Value::String(k), x)).collect()
            }
            Value::Null | Value::Unknown => Vec::new(),
            other => {
                diags.push(
                    Diag::error("Invalid dynamic for_each value")
                        .detail(format!("Cannot use a {} value in for_each. An iterable collection is required.", other.friendly_kind()))
                        .at(&parent.file.src, for_each.value.span()),
                );
                continue;
            }
        };
        for (k, v) in items {
            let iter_val = Value::Object(Attrs::from([
                ("key".to_string(), k),
                ("value".to_string(), v),
            ]));
            let mut scope = view.scope.clone();
            scope.push((iter_name.clone(), iter_val));
            let mut labels = Vec::new();
            if let Some(la) = block.body.get_attribute("labels") {
                let lev = {
                    let mut e = ev.clone();
                    for (n, val) in &scope {
                        e = e.with(n, val.clone());
                    }
                    e
                };
                match lev.eval(&la.value) {
                    Ok(lv) => {
                        labels = lv
                            .as_seq()
                            .map(|s| s.iter().filter_map(to_display_string).collect())
                            .unwrap_or_default()
                    }
                    Err(d) => diags.push(d),
                }
            }
            out.push(BlockView {
                ident: kind.clone(),
                labels,
                body: &content.body,
                span: view.span.clone(),
                file: parent.file,
                scope,
            });
        }
    }
    out
}

/// Convert a value for a schema field; `Err` holds the reason.
pub fn coerce(v: Value, kind: Kind) -> Result<Value, String> {
    if v.is_unknown() || v.is_null() {
        return Ok(v);
    }
    let t = match kind {
        Kind::String | Kind::Duration => Type::String,
        Kind::Bool => Type::Bool,
        Kind::Number => Type::Number,
        Kind::Strings => Type::List(Box::new(Type::String)),
        Kind::StringMap => Type::Map(Box::new(Type::String)),
        Kind::Any | Kind::Block(_) | Kind::Blocks(_) => Type::Dynamic,
    };
    let out = convert(&v, &t).map_err(|e| e.message)?;
    if kind == Kind::Duration {
        if let Value::String(s) = &out {
            crate::util::duration::parse(s)?;
        }
    }
    Ok(out)
}

/// "Unsupported argument": `key` is not one of `fields` (the diagnostic
/// still needs its place).
fn unsupported(detail: String, key: &str, fields: &[Field]) -> Diag {
    Diag::error("Unsupported argument")
        .detail(detail)
        .maybe_hint(did_you_mean(key, fields.iter().map(|f| f.name)))
}

/// Store `v` as `key` converted for its field, or say (without a place yet)
/// why `what` cannot take it.
fn insert_coerced(
    out: &mut Config,
    key: &str,
    v: Value,
    kind: Kind,
    what: &str,
) -> Result<(), Diag> {
    let v = coerce(v, kind).map_err(|msg| {
        Diag::error("Incorrect attribute value type")
            .detail(format!("Inappropriate value for {what}: {msg}."))
    })?;
    out.insert(key.to_string(), v);
    Ok(())
}

/// Decode a block body against a plugin schema. `meta` names arguments the
/// caller handles itself (only, except, pause_before, …), skipped here.
pub fn decode_body(
    view: &BlockView,
    ev: &Evaluator,
    fields: &[Field],
    meta: &[&str],
    meta_blocks: &[&str],
    diags: &mut Diags,
) -> Config {
    let ev = view.evaluator(ev);
    let mut out = Config::new();
    for attr in view.body.attributes() {
        let name = attr.key.value().as_str();
        if meta.contains(&name) {
            continue;
        }
        let src = &view.file.src;
        let Some(field) = fields.iter().find(|f| f.name == name) else {
            diags.push(
                unsupported(
                    format!("An argument named {name:?} is not expected here."),
                    name,
                    fields,
                )
                .at(src, attr.key.span()),
            );
            continue;
        };
        // A single block of plain settings may also be written as an object
        // attribute (`placement = { tenancy = "dedicated" }`): Packer's own
        // docs show that form, and `hcl2_upgrade` writes it for JSON objects.
        if let Kind::Block(sub) = field.kind {
            if sub
                .iter()
                .all(|f| !matches!(f.kind, Kind::Block(_) | Kind::Blocks(_)))
            {
                if let Ok(Value::Object(members) | Value::Map(members)) = ev.eval(&attr.value) {
                    let mut inner = Config::new();
                    for (k, v) in members.iter() {
                        let Some(sf) = sub.iter().find(|f| f.name == k.as_str()) else {
                            diags.push(
                                unsupported(
                                    format!(
                                        "{name}: an argument named {k:?} is not expected here."
                                    ),
                                    k,
                                    sub,
                                )
                                .at(src, attr.value.span()),
                            );
                            continue;
                        };
                        if let Err(d) = insert_coerced(
                            &mut inner,
                            k,
                            v.clone(),
                            sf.kind,
                            &format!("{name}.{k}"),
                        ) {
                            diags.push(d.at(src, attr.value.span()));
                        }
                    }
                    out.insert(name.to_string(), Value::Object(inner.into_iter().collect()));
                    continue;
                }
            }
        }
        if matches!(field.kind, Kind::Block(_) | Kind::Blocks(_)) {
            diags.push(
                Diag::error("Unsupported argument").detail(format!("An argument named {name:?} is not expected here. Did you mean to define a block of type {name:?}?")).at(src, attr.key.span()),
            );
            continue;
        }
        match ev.eval(&attr.value) {
            Ok(v) => {
                if let Err(d) = insert_coerced(
                    &mut out,
                    name,
                    v,
                    field.kind,
                    &format!("attribute {name:?}"),
                ) {
                    diags.push(d.at(src, attr.value.span()));
                }
            }
            Err(d) => diags.push(d),
        }
    }
    for child in child_blocks(view, view.body, &ev, diags) {
        if meta_blocks.contains(&child.ident.as_str()) {
            continue;
        }
        let field = fields.iter().find(|f| f.name == child.ident);
        match field.map(|f| f.kind) {
            Some(Kind::Block(sub)) => {
                if out.contains_key(&child.ident) {
                    diags.push(child.err(
                        "Duplicate block",
                        format!("Only one {:?} block is allowed here.", child.ident),
                    ));
                    continue;
                }
                let c = decode_body(&child, &ev, sub, &[], &[], diags);
                out.insert(child.ident.clone(), Value::Object(c.into_iter().collect()));
            }
            Some(Kind::Blocks(sub)) => {
                let c = decode_body(&child, &ev, sub, &[], &[], diags);
                let entry = out
                    .entry(child.ident.clone())
                    .or_insert_with(|| Value::Tuple(Vec::new()));
                if let Value::Tuple(v) = entry {
                    v.push(Value::Object(c.into_iter().collect()));
                }
            }
            _ => {
                let block_names = fields
                    .iter()
                    .filter(|f| matches!(f.kind, Kind::Block(_) | Kind::Blocks(_)))
                    .map(|f| f.name);
                diags.push(
                    child
                        .err(
                            "Unsupported block type",
                            format!("Blocks of type {:?} are not expected here.", child.ident),
                        )
                        .maybe_hint(did_you_mean(&child.ident, block_names)),
                );
            }
        }
    }
    out
}

/// Evaluate an optional meta-argument of a block.
pub fn meta_value(
    view: &BlockView,
    ev: &Evaluator,
    name: &str,
    diags: &mut Diags,
) -> Option<Value> {
    let attr = view.attr(name)?;
    match view.evaluator(ev).eval(&attr.value) {
        Ok(v) => Some(v),
        Err(d) => {
            diags.push(d);
            None
        }
    }
}

/// A meta-argument that must be a list of strings.
pub fn meta_strings(
    view: &BlockView,
    ev: &Evaluator,
    name: &str,
    diags: &mut Diags,
) -> Vec<String> {
    let Some(v) = meta_value(view, ev, name, diags) else {
        return Vec::new();
    };
    // `only = null` is `only` not set, as in Packer.
    if v.is_null() {
        return Vec::new();
    }
    match convert(&v, &Type::List(Box::new(Type::String))) {
        Ok(Value::List(items)) => items.iter().filter_map(to_display_string).collect(),
        _ => {
            let span = view.attr(name).and_then(|a| a.value.span());
            diags.push(
                Diag::error("Incorrect attribute value type")
                    .detail(format!(
                        "Inappropriate value for attribute {name:?}: list of string required."
                    ))
                    .at(&view.file.src, span),
            );
            Vec::new()
        }
    }
}

/// A meta-argument that must be a Go duration.
pub fn meta_duration(
    view: &BlockView,
    ev: &Evaluator,
    name: &str,
    diags: &mut Diags,
) -> Option<std::time::Duration> {
    let v = meta_value(view, ev, name, diags)?;
    let span = view.attr(name).and_then(|a| a.value.span());
    let s = match convert(&v, &Type::String) {
        Ok(Value::String(s)) => s,
        _ => {
            diags.push(
                Diag::error("Incorrect attribute value type")
                    .detail(format!(
                        "Inappropriate value for attribute {name:?}: string required."
                    ))
                    .at(&view.file.src, span),
            );
            return None;
        }
    };
    match crate::util::duration::parse(&s) {
        Ok(d) => Some(d),
        Err(e) => {
            diags.push(
                Diag::error(format!("Failed to parse {name}"))
                    .detail(e)
                    .at(&view.file.src, span)
                    .hint("durations need a unit, like \"5s\", \"1m30s\" or \"2h\""),
            );
            None
        }
    }
}
