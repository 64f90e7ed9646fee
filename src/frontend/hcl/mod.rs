//! The HCL2 front end: files → variables → locals and data sources →
//! sources × builds, lowered into the execution [`Graph`].

pub mod check;
pub mod decode;
mod deep;
pub mod eval;
pub mod functions;
pub mod lex;
pub mod parse;
mod template;
pub mod types;

mod builds;
mod locals;
pub mod outline;
mod packer_block;
pub use packer_block::{version_satisfies, PluginRequirement};
mod variables;

use crate::diag::{Diag, Diags};
use crate::graph::Graph;
use crate::value::{Attrs, Value};
use functions::FnEnv;
use parse::File;
use std::path::{Path, PathBuf};

/// The Packer version kiln's template language follows (`packer.version`,
/// `required_version` checks).
pub const PACKER_COMPAT_VERSION: &str = "1.9.5";

/// What the command line adds to a template.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    pub path: PathBuf,
    /// `-var name=value`, in order.
    pub vars: Vec<(String, String)>,
    /// `-var-file`, in order.
    pub var_files: Vec<PathBuf>,
    /// Stop after checking syntax.
    pub syntax_only: bool,
    /// `-only` / `-except`: builds left out are not prepared at all.
    pub only: Vec<String>,
    pub except: Vec<String>,
    /// Run data sources (build always does; validate only when asked).
    pub evaluate_datasources: bool,
    /// Warn about var-file assignments to undeclared variables (validate
    /// does unless `-no-warn-undeclared-var`; build only with
    /// `-warn-on-undeclared-var`, as in Packer 1.9).
    pub warn_undeclared_var: bool,
    /// `inspect`: a variable nothing sets is unknown rather than an error,
    /// as Packer's inspect shows what it can of a template that would not
    /// validate.
    pub inspect: bool,
}

/// A loaded template: its graph and the scope the console evaluates in.
pub struct Loaded {
    pub graph: Graph,
    pub root: Attrs,
    pub env: FnEnv,
}

/// Template files of a path: a file, or a directory's `*.pkr.hcl` and
/// `*.pkr.json`, plus its `*.auto.pkrvars.hcl` files.
pub fn discover(path: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Diag> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Diag::error("Failed to read template").detail(format!("{}: {e}", path.display()))
    })?;
    if !meta.is_dir() {
        // A file, or something that is not one (a FIFO...), which reading
        // refuses with its own diagnostic.
        return Ok((vec![path.to_path_buf()], Vec::new()));
    }
    let mut templates = Vec::new();
    let mut autos = Vec::new();
    let rd = std::fs::read_dir(path).map_err(|e| {
        Diag::error("Failed to read directory").detail(format!("{}: {e}", path.display()))
    })?;
    for entry in rd.flatten() {
        let p = entry.path();
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // Not followed: a directory (or a link to one) is not a template.
        // Anything else with a template's name is read, so that a dangling
        // link or a FIFO is an error ("Failed to read file"), not skipped.
        if p.is_dir() {
            continue;
        }
        if name.ends_with(".pkr.hcl") || name.ends_with(".pkr.json") {
            templates.push(p);
        } else if name.ends_with(".auto.pkrvars.hcl") || name.ends_with(".auto.pkrvars.json") {
            autos.push(p);
        }
    }
    templates.sort();
    autos.sort();
    if templates.is_empty() {
        return Err(Diag::error("Could not find any config file")
            .detail(format!(
                "No *.pkr.hcl or *.pkr.json file in {}",
                path.display()
            ))
            .hint(
                "name HCL2 templates *.pkr.hcl; legacy JSON templates are passed as a single file",
            ));
    }
    Ok((templates, autos))
}

fn parse_any(path: &Path) -> Result<File, Diag> {
    let name = path.to_string_lossy();
    if name.ends_with(".json") {
        let text = crate::util::fs::read_regular_string(path).map_err(|e| {
            Diag::error("Failed to read file").detail(format!("{}: {e}", path.display()))
        })?;
        return crate::frontend::hcl_json::to_hcl(&name, &text);
    }
    parse::parse_file(path)
}

/// Every file of `paths` parsed; what does not parse is a diagnostic.
fn parse_all(paths: &[PathBuf], diags: &mut Diags) -> Vec<File> {
    paths
        .iter()
        .filter_map(|p| match parse_any(p) {
            Ok(f) => Some(f),
            Err(d) => {
                diags.push(d);
                None
            }
        })
        .collect()
}

/// The plugins an HCL2 template (file or directory) requires, from its
/// `packer {}` blocks, which are checked as `validate` checks them (what
/// `kiln init` reads; nothing else of the template is evaluated).
pub fn plugin_requirements(path: &Path) -> (Vec<packer_block::PluginRequirement>, Diags) {
    let mut diags = Diags::new();
    let (paths, _) = match discover(path) {
        Ok(x) => x,
        Err(d) => return (Vec::new(), d.into()),
    };
    let files = parse_all(&paths, &mut diags);
    if diags.has_errors() {
        return (Vec::new(), diags);
    }
    let env = FnEnv::new(std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")));
    packer_block::check_top_level(&files, &mut diags);
    let required = packer_block::check_packer_blocks(&files, &env, &mut diags);
    (required, diags)
}

/// The scope every template starts from (`path.root`, `path.cwd`,
/// `packer.version`) and the functions' environment.
fn root_scope(path: &Path) -> (Attrs, FnEnv) {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root_dir = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."))
    };
    let env = FnEnv::new(cwd.clone());
    let mut root = Attrs::new();
    root.insert(
        "path".into(),
        Value::Object(Attrs::from([
            (
                "root".to_string(),
                Value::String(root_dir.to_string_lossy().into_owned()),
            ),
            (
                "cwd".to_string(),
                Value::String(cwd.to_string_lossy().into_owned()),
            ),
        ])),
    );
    root.insert(
        "packer".into(),
        Value::Object(Attrs::from([(
            "version".to_string(),
            Value::string(PACKER_COMPAT_VERSION),
        )])),
    );
    (root, env)
}

/// A template's files and its var files (its `*.auto.pkrvars.*`, then
/// `-var-file`s), parsed; what does not parse is the error.
fn parse_template(opts: &LoadOptions) -> Result<(Vec<File>, Vec<File>), Diags> {
    let mut diags = Diags::new();
    let (paths, autos) = discover(&opts.path)?;
    let files = parse_all(&paths, &mut diags);
    let var_paths: Vec<PathBuf> = autos.iter().chain(&opts.var_files).cloned().collect();
    let var_files = parse_all(&var_paths, &mut diags);
    if diags.has_errors() {
        return Err(diags);
    }
    Ok((files, var_files))
}

/// Load an HCL2 template (file or directory) into a graph.
pub fn load(opts: &LoadOptions) -> (Option<Loaded>, Diags) {
    let (files, var_files) = match parse_template(opts) {
        Ok(x) => x,
        Err(d) => return (None, d),
    };
    let mut diags = Diags::new();
    if opts.syntax_only {
        return (None, diags);
    }
    let (mut root, env) = root_scope(&opts.path);
    let mut graph = Graph {
        frontend: "hcl2".into(),
        ..Graph::default()
    };
    // Top-level structure and the packer block first.
    packer_block::check_top_level(&files, &mut diags);
    let _ = packer_block::check_packer_blocks(&files, &env, &mut diags);
    if diags.has_blocking_errors() {
        return (None, diags);
    }
    let vars = variables::resolve(&files, &var_files, opts, &env, &mut graph, &mut diags);
    root.insert("var".into(), Value::Object(vars));
    if diags.has_blocking_errors() {
        return (None, diags);
    }
    locals::resolve(
        &files,
        &mut root,
        opts.evaluate_datasources,
        &env,
        &mut graph,
        &mut diags,
    );
    if diags.has_blocking_errors() {
        return (None, diags);
    }
    let selection = crate::graph::Selection::new(&opts.only, &opts.except).unwrap_or_default();
    builds::lower(&files, &root, &env, &selection, &mut graph, &mut diags);
    if diags.has_errors() {
        return (None, diags);
    }
    (Some(Loaded { graph, root, env }), diags)
}

/// Every string inside a value, for the sensitive-value filter.
pub fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.is_empty() => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::List(x) | Value::Set(x) | Value::Tuple(x) => {
            x.iter().for_each(|i| strings_in(i, out))
        }
        Value::Map(m) | Value::Object(m) => m.values().for_each(|i| strings_in(i, out)),
        _ => {}
    }
}

/// `min_packer_version` / `required_version` check against the version kiln follows.
pub fn packer_block_version_ok(constraint: &str) -> Result<bool, String> {
    let c = if constraint
        .trim_start()
        .starts_with(|c: char| c.is_ascii_digit() || c == 'v')
    {
        format!(">= {constraint}")
    } else {
        constraint.to_string()
    };
    packer_block::version_satisfies(&c, PACKER_COMPAT_VERSION)
}
