//! What `inspect` shows of an HCL2 template: its variables and locals as
//! far as they can be known, and the shape of each `build` block (sources,
//! provisioners, post-processor chains) read from the blocks themselves,
//! so that a template kiln could not run (an unknown plugin, a variable
//! nothing sets) is still shown, as Packer's inspect shows it.

use super::decode::{child_blocks, meta_strings, meta_value, BlockView};
use super::eval::Evaluator;
use super::functions::FnEnv;
use super::parse::File;
use super::{packer_block, variables, LoadOptions};
use crate::diag::Diags;
use crate::graph::{Graph, VariableInfo};
use crate::value::{Attrs, Value};

/// One `build` block as written.
#[derive(Debug, Default)]
pub struct BuildOutline {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `TYPE.NAME` of each source used (the local name where a nested
    /// `source` block gives one).
    pub sources: Vec<String>,
    /// `TYPE` or `TYPE.NAME` of each provisioner.
    pub provisioners: Vec<String>,
    /// Each chain: a lone `post-processor` is a chain of one.
    pub post_processors: Vec<Vec<String>>,
}

/// An HCL2 template as `inspect` shows it.
pub struct Outline {
    pub variables: Vec<VariableInfo>,
    pub locals: Vec<VariableInfo>,
    pub builds: Vec<BuildOutline>,
}

/// Read a template for `inspect`. Only what stops Packer's own parsing is
/// an error here (syntax, the file layout, the packer block, a value that
/// does not fit its variable); a variable nothing sets is unknown, a local
/// that cannot be evaluated (yet) is unknown, and data sources are not run.
pub fn read(opts: &LoadOptions) -> Result<Outline, Diags> {
    let (files, var_files) = super::parse_template(opts)?;
    let mut diags = Diags::new();
    let (mut root, env) = super::root_scope(&opts.path);
    packer_block::check_top_level(&files, &mut diags);
    let _ = packer_block::check_packer_blocks(&files, &env, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    let mut graph = Graph::default();
    let opts = LoadOptions {
        inspect: true,
        ..opts.clone()
    };
    let vars = variables::resolve(&files, &var_files, &opts, &env, &mut graph, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    root.insert("var".into(), Value::Object(vars));
    // What Packer's inspect leaves to its initialisation, whose complaints
    // it ignores.
    let mut ignored = Diags::new();
    super::locals::resolve(&files, &mut root, false, &env, &mut graph, &mut ignored);
    for name in declared_locals(&files) {
        if !graph.locals.iter().any(|l| l.name == name) {
            graph.locals.push(VariableInfo {
                name,
                display: variables::inspect_display(&Value::Unknown),
                sensitive: false,
                description: None,
            });
        }
    }
    Ok(Outline {
        variables: graph.variables,
        locals: graph.locals,
        builds: builds(&files, &root, &env),
    })
}

/// Every local's name, from `locals` blocks and `local "NAME"` blocks.
fn declared_locals(files: &[File]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        for b in f.body.get_blocks("locals") {
            out.extend(b.body.attributes().map(|a| a.key.value().to_string()));
        }
        for b in f.body.get_blocks("local") {
            out.extend(b.labels.first().map(|l| l.as_str().to_string()));
        }
    }
    out
}

/// The shape of every `build` block, in file order.
fn builds(files: &[File], root: &Attrs, env: &FnEnv) -> Vec<BuildOutline> {
    let mut ignored = Diags::new();
    let mut out = Vec::new();
    for f in files {
        for b in f.body.get_blocks("build") {
            let view = BlockView::of(b, f);
            let ev = Evaluator::new(&f.src, root, env);
            let text = |name: &str, d: &mut Diags| {
                meta_value(&view, &ev, name, d).and_then(|v| v.as_str().map(str::to_string))
            };
            let mut o = BuildOutline {
                name: text("name", &mut ignored).filter(|n| !n.is_empty()),
                description: text("description", &mut ignored).filter(|d| !d.is_empty()),
                ..BuildOutline::default()
            };
            for s in meta_strings(&view, &ev, "sources", &mut ignored) {
                o.sources.push(short_ref(&s));
            }
            let named = |c: &BlockView, d: &mut Diags| {
                let ty = c.labels.first().cloned().unwrap_or_default();
                match meta_value(c, &ev, "name", d).and_then(|v| v.as_str().map(str::to_string)) {
                    Some(n) if !n.is_empty() => format!("{ty}.{n}"),
                    _ => ty,
                }
            };
            for c in child_blocks(&view, view.body, &ev, &mut ignored) {
                match c.ident.as_str() {
                    "source" => {
                        let Some(label) = c.labels.first() else {
                            continue;
                        };
                        let short = short_ref(label);
                        let local = meta_value(&c, &ev, "name", &mut ignored)
                            .and_then(|v| v.as_str().map(str::to_string))
                            .filter(|n| !n.is_empty());
                        o.sources.push(match (local, short.split_once('.')) {
                            (Some(n), Some((ty, _))) => format!("{ty}.{n}"),
                            _ => short,
                        });
                    }
                    "provisioner" => o.provisioners.push(named(&c, &mut ignored)),
                    "post-processor" => o.post_processors.push(vec![named(&c, &mut ignored)]),
                    "post-processors" => {
                        let chain = child_blocks(&c, c.body, &ev, &mut ignored)
                            .iter()
                            .filter(|p| p.ident == "post-processor")
                            .map(|p| named(p, &mut ignored))
                            .collect();
                        o.post_processors.push(chain);
                    }
                    _ => {}
                }
            }
            out.push(o);
        }
    }
    out
}

/// `source.TYPE.NAME` as Packer prints it: `TYPE.NAME`.
fn short_ref(s: &str) -> String {
    s.strip_prefix("source.").unwrap_or(s).to_string()
}
