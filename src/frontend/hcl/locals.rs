//! Locals and data sources, evaluated in dependency order (they may refer to
//! each other); a cycle is reported with its chain.

use super::decode::{decode_body, BlockView};
use super::eval::Evaluator;
use super::functions::FnEnv;
use super::parse::{body_refs, expr_refs, File, Ref};
use crate::diag::{Diag, Diags};
use crate::graph::{DataNode, Edge, Graph, VariableInfo};
use crate::plugin::{self, PluginKind};
use crate::value::{Attrs, Value};
use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;
use hcl_edit::Span;
use std::collections::BTreeMap;

enum Node<'a> {
    Local {
        file: &'a File,
        expr: &'a Expression,
        sensitive: bool,
        span: Option<std::ops::Range<usize>>,
    },
    Data {
        file: &'a File,
        block: &'a Block,
    },
}

fn key(r: &Ref) -> Option<String> {
    match r {
        Ref::Local(n) => Some(format!("local.{n}")),
        Ref::Data(t, n) => Some(format!("data.{t}.{n}")),
        Ref::Var(_) => None,
    }
}

pub fn resolve(
    files: &[File],
    root: &mut Attrs,
    evaluate_data: bool,
    env: &FnEnv,
    graph: &mut Graph,
    diags: &mut Diags,
) {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut order_seen: Vec<String> = Vec::new();
    for f in files {
        for b in f.body.get_blocks("locals") {
            for a in b.body.attributes() {
                let k = format!("local.{}", a.key.value().as_str());
                if nodes.contains_key(&k) {
                    diags.push(
                        Diag::error("Duplicate local definition")
                            .detail(format!(
                                "Local variable {:?} is defined twice.",
                                a.key.value().as_str()
                            ))
                            .at(&f.src, a.key.span()),
                    );
                    continue;
                }
                order_seen.push(k.clone());
                nodes.insert(
                    k,
                    Node::Local {
                        file: f,
                        expr: &a.value,
                        sensitive: false,
                        span: a.key.span(),
                    },
                );
            }
            for c in b.body.blocks() {
                diags.push(
                    Diag::error("Unsupported block type")
                        .detail(format!(
                            "Blocks of type {:?} are not expected in locals.",
                            c.ident.value().as_str()
                        ))
                        .at(&f.src, c.ident.span()),
                );
            }
        }
        for b in f.body.get_blocks("local") {
            let Some(name) = b.labels.first().map(|l| l.as_str().to_string()) else {
                continue;
            };
            let k = format!("local.{name}");
            let Some(expr) = b.body.get_attribute("expression") else {
                diags.push(
                    Diag::error("Missing required argument")
                        .detail("The argument \"expression\" is required.")
                        .at(&f.src, b.ident.span()),
                );
                continue;
            };
            for a in b.body.attributes() {
                let n = a.key.value().as_str();
                if n != "expression" && n != "sensitive" {
                    diags.push(
                        Diag::error("Unsupported argument")
                            .detail(format!("An argument named {n:?} is not expected here."))
                            .at(&f.src, a.key.span()),
                    );
                }
            }
            if nodes.contains_key(&k) {
                diags.push(
                    Diag::error("Duplicate local definition")
                        .detail(format!("Local variable {name:?} is defined twice."))
                        .at(&f.src, b.ident.span()),
                );
                continue;
            }
            let sensitive = b
                .body
                .get_attribute("sensitive")
                .is_some_and(|a| matches!(a.value, Expression::Bool(ref v) if *v.value()));
            order_seen.push(k.clone());
            nodes.insert(
                k,
                Node::Local {
                    file: f,
                    expr: &expr.value,
                    sensitive,
                    span: b.ident.span(),
                },
            );
        }
        for b in f.body.get_blocks("data") {
            let labels: Vec<String> = b.labels.iter().map(|l| l.as_str().to_string()).collect();
            if labels.len() != 2 {
                continue;
            }
            let k = format!("data.{}.{}", labels[0], labels[1]);
            if nodes.contains_key(&k) {
                diags.push(
                    Diag::error("Duplicate data source")
                        .detail(format!("{k} is declared twice."))
                        .at(&f.src, b.ident.span()),
                );
                continue;
            }
            order_seen.push(k.clone());
            nodes.insert(k, Node::Data { file: f, block: b });
        }
    }

    // Depth-first topological order with cycle detection.
    let deps = |n: &Node| -> Vec<String> {
        let refs = match n {
            Node::Local { expr, .. } => expr_refs(expr),
            Node::Data { block, .. } => body_refs(&block.body),
        };
        refs.iter().filter_map(key).collect()
    };
    // Iterative, not recursive: a chain of 16,000 locals each naming the
    // one before must not overflow the stack.
    let mut state: BTreeMap<String, u8> = BTreeMap::new(); // 1 = visiting, 2 = done
    let mut order: Vec<String> = Vec::new();
    let before = diags.0.len();
    let enter = |k: &str, state: &mut BTreeMap<String, u8>| {
        state.insert(k.to_string(), 1);
        let ds: Vec<String> = nodes
            .get(k)
            .map(|n| {
                deps(n)
                    .into_iter()
                    .filter(|d| nodes.contains_key(d))
                    .collect()
            })
            .unwrap_or_default();
        (k.to_string(), ds.into_iter())
    };
    for start in &order_seen {
        if state.contains_key(start) {
            continue;
        }
        // The chain of nodes being visited, each with the dependencies it
        // has still to visit.
        let mut work: Vec<(String, std::vec::IntoIter<String>)> = vec![enter(start, &mut state)];
        while let Some((k, next)) = work.last_mut() {
            let Some(d) = next.next() else {
                let k = k.clone();
                state.insert(k.clone(), 2);
                order.push(k);
                work.pop();
                continue;
            };
            match state.get(&d) {
                Some(2) => {}
                Some(_) => {
                    let from = work.iter().position(|(w, _)| *w == d).unwrap_or(0);
                    let mut chain: Vec<String> =
                        work[from..].iter().map(|(w, _)| w.clone()).collect();
                    chain.push(d.clone());
                    let (file, span) = match nodes.get(&d) {
                        Some(Node::Local { file, span, .. }) => (*file, span.clone()),
                        Some(Node::Data { file, block }) => (*file, block.ident.span()),
                        None => continue,
                    };
                    diags.push(
                        Diag::error("Cyclic dependency detected")
                            .detail(format!(
                                "These values refer to each other in a loop: {}",
                                chain.join(" -> ")
                            ))
                            .at(&file.src, span)
                            .hint("break the loop by computing one of them without the others"),
                    );
                }
                None => {
                    let entered = enter(&d, &mut state);
                    work.push(entered);
                }
            }
        }
    }
    if diags.0.len() > before {
        return;
    }

    let mut data: BTreeMap<String, Attrs> = BTreeMap::new();
    root.insert("local".into(), Value::Object(Attrs::new()));
    root.insert("data".into(), Value::Object(Attrs::new()));
    for k in &order {
        let Some(node) = nodes.get(k) else { continue };
        match node {
            Node::Local {
                file,
                expr,
                sensitive,
                ..
            } => {
                let ev = Evaluator::new(&file.src, root, env);
                match ev.eval(expr) {
                    Ok(v) => {
                        let name = k.trim_start_matches("local.").to_string();
                        if *sensitive {
                            let mut found = Vec::new();
                            super::strings_in(&v, &mut found);
                            crate::ui::register_secrets(found.iter().cloned());
                            graph.sensitive.extend(found);
                        }
                        graph.locals.push(VariableInfo {
                            name: name.clone(),
                            display: super::variables::inspect_display(&v),
                            sensitive: *sensitive,
                            description: None,
                        });
                        // Into the scope in place: copying the whole object
                        // for each local made 16,000 of them quadratic.
                        if let Some(Value::Object(m)) = root.get_mut("local") {
                            m.insert(name, v);
                        }
                    }
                    Err(d) => diags.push(d),
                }
            }
            Node::Data { file, block } => {
                let view = BlockView::of(block, file);
                let (ty, name) = (view.labels[0].clone(), view.labels[1].clone());
                let Some(fields) = plugin::fields(PluginKind::DataSource, &ty) else {
                    diags.push(
                        view.err(
                            "Unknown data source type",
                            format!("There is no data source of type {ty:?}."),
                        )
                        .unknown_plugin("data source", &ty)
                        .maybe_hint(crate::diag::did_you_mean(
                            &ty,
                            plugin::names(PluginKind::DataSource),
                        )),
                    );
                    continue;
                };
                let ev = Evaluator::new(&file.src, root, env);
                let config = decode_body(&view, &ev, &fields, &[], &[], diags);
                for e in plugin::validate(PluginKind::DataSource, &ty, &config) {
                    diags.push(view.option_err(&format!("Invalid data source {k}"), e, &config));
                }
                let value = if evaluate_data && !config.values().any(Value::contains_unknown) {
                    match crate::datasource::execute(&ty, &config) {
                        Ok(v) => v,
                        Err(e) => {
                            diags.push(view.err("Data source failed", format!("{k}: {e}")));
                            Value::Unknown
                        }
                    }
                } else {
                    Value::Unknown
                };
                for r in body_refs(&block.body).iter().filter_map(key) {
                    graph.edges.push(Edge {
                        from: r,
                        to: k.clone(),
                    });
                }
                graph.datasources.push(DataNode {
                    id: k.clone(),
                    kind: ty.clone(),
                    name: name.clone(),
                    config,
                });
                data.entry(ty).or_default().insert(name, value);
                root.insert(
                    "data".into(),
                    Value::Object(
                        data.iter()
                            .map(|(t, m)| (t.clone(), Value::Object(m.clone())))
                            .collect(),
                    ),
                );
            }
        }
    }
}
