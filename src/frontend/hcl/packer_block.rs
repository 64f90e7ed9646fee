//! Top-level structure and the `packer {}` block.

use super::decode::{meta_value, BlockView};
use super::eval::Evaluator;
use super::functions::FnEnv;
use super::parse::File;
use super::PACKER_COMPAT_VERSION;
use crate::diag::{did_you_mean, Diag, Diags};
use crate::value::{Attrs, Value};
use hcl_edit::Span;

const TOP_BLOCKS: &[&str] = &[
    "packer",
    "variable",
    "variables",
    "locals",
    "local",
    "source",
    "build",
    "data",
];

/// Unknown top-level blocks and stray attributes are errors, as in Packer.
pub fn check_top_level(files: &[File], diags: &mut Diags) {
    for f in files {
        for a in f.body.attributes() {
            diags.push(
                Diag::error("Unsupported argument")
                    .detail(format!(
                        "An argument named {:?} is not expected here.",
                        a.key.value().as_str()
                    ))
                    .at(&f.src, a.key.span()),
            );
        }
        for b in f.body.blocks() {
            let id = b.ident.value().as_str();
            if !TOP_BLOCKS.contains(&id) {
                diags.push(
                    Diag::error("Unsupported block type")
                        .detail(format!("Blocks of type {id:?} are not expected here."))
                        .at(&f.src, b.ident.span())
                        .maybe_hint(did_you_mean(id, TOP_BLOCKS.iter().copied())),
                );
                continue;
            }
            let want = match id {
                "variable" | "local" => 1,
                "source" | "data" => 2,
                "build" | "packer" | "locals" | "variables" => 0,
                _ => 0,
            };
            if b.labels.len() != want {
                diags.push(
                    Diag::error(if b.labels.len() < want {
                        "Missing name for block"
                    } else {
                        "Extraneous label for block"
                    })
                    .detail(format!(
                        "A {id:?} block expects {want} label(s), got {}.",
                        b.labels.len()
                    ))
                    .at(&f.src, b.ident.span()),
                );
            }
        }
    }
}

/// One entry of a `required_plugins` block.
#[derive(Debug, Clone)]
pub struct PluginRequirement {
    /// The name it is required as (`amazon = { … }`).
    pub name: String,
    pub source: String,
    /// The version constraint, when one is given.
    pub version: Option<String>,
}

/// Check every `packer {}` block: its arguments, `required_version`
/// against the Packer release kiln follows, and `required_plugins` against
/// the plugins kiln has built in; answers the plugins required.
pub fn check_packer_blocks(
    files: &[File],
    env: &FnEnv,
    diags: &mut Diags,
) -> Vec<PluginRequirement> {
    let root = Attrs::new();
    let mut required = Vec::new();
    for f in files {
        for b in f.body.get_blocks("packer") {
            let view = BlockView::of(b, f);
            let ev = Evaluator::new(&f.src, &root, env);
            for a in b.body.attributes() {
                let name = a.key.value().as_str();
                if name != "required_version" {
                    diags.push(
                        Diag::error("Unsupported argument")
                            .detail(format!("An argument named {name:?} is not expected here."))
                            .at(&f.src, a.key.span())
                            .maybe_hint(did_you_mean(name, ["required_version"])),
                    );
                }
            }
            for c in b.body.blocks() {
                let name = c.ident.value().as_str();
                if name != "required_plugins" {
                    diags.push(
                        Diag::error("Unsupported block type")
                            .detail(format!("Blocks of type {name:?} are not expected here."))
                            .at(&f.src, c.ident.span())
                            .maybe_hint(did_you_mean(name, ["required_plugins"])),
                    );
                    continue;
                }
                for p in c.body.attributes() {
                    let v = match ev.eval(&p.value) {
                        Ok(v) => v,
                        Err(d) => {
                            diags.push(d);
                            continue;
                        }
                    };
                    let source = v
                        .as_attrs()
                        .and_then(|m| m.get("source"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    let version = v
                        .as_attrs()
                        .and_then(|m| m.get("version"))
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    match source {
                        Some(s) if crate::plugin::KNOWN_PLUGIN_SOURCES.contains(&s.as_str()) => {
                            if let Some(c) = &version {
                                if let Err(e) = version_satisfies(c, "0.0.0") {
                                    diags.push(Diag::error("Invalid version constraint").detail(e).at(&f.src, p.value.span()));
                                }
                            }
                            required.push(PluginRequirement { name: p.key.value().as_str().to_string(), source: s, version });
                        }
                        Some(s) => diags.push(
                            Diag::error("Unknown plugin")
                                .detail(format!("kiln has no built-in plugin {s:?} (required as {:?}).", p.key.value().as_str()))
                                .unknown_plugin("required plugin", &s)
                                .at(&f.src, p.value.span())
                                .hint(format!("built-in plugins: {}", crate::plugin::KNOWN_PLUGIN_SOURCES.join(", "))),
                        ),
                        None => {
                            diags.push(Diag::error("Invalid required_plugins entry").detail("Each plugin needs an object with a \"source\" (and optionally a \"version\").").at(&f.src, p.value.span()))
                        }
                    }
                }
            }
            if let Some(v) = meta_value(&view, &ev, "required_version", diags) {
                let span = b
                    .body
                    .get_attribute("required_version")
                    .and_then(|a| a.value.span());
                match v.as_str() {
                    Some(c) => match version_satisfies(c, PACKER_COMPAT_VERSION) {
                        Ok(true) => {}
                        Ok(false) => diags.push(
                            Diag::error("Unsupported Packer Core version")
                                .detail(format!("This template requires Packer version {c}; kiln implements the template language of Packer {PACKER_COMPAT_VERSION}."))
                                .at(&f.src, span),
                        ),
                        Err(e) => diags.push(Diag::error("Invalid version constraint").detail(e).at(&f.src, span)),
                    },
                    None => diags.push(Diag::error("Invalid version constraint").detail("required_version must be a string").at(&f.src, span)),
                }
            }
        }
    }
    required
}

fn parse_version(s: &str) -> Option<Vec<u64>> {
    let s = s.trim().trim_start_matches('v');
    let core = s.split(['-', '+']).next()?;
    let parts: Option<Vec<u64>> = core.split('.').map(|p| p.parse().ok()).collect();
    let mut parts = parts?;
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    while parts.len() < 3 {
        parts.push(0);
    }
    Some(parts)
}

/// hashicorp/go-version constraints: `>= 1.2`, `~> 1.2.3`, `!= 1.0`, comma-joined.
pub fn version_satisfies(constraints: &str, version: &str) -> Result<bool, String> {
    let v = parse_version(version).ok_or_else(|| format!("invalid version {version:?}"))?;
    for c in constraints.split(',') {
        let c = c.trim();
        let (op, rest) = ["~>", ">=", "<=", "!=", "=", ">", "<"]
            .iter()
            .find_map(|op| c.strip_prefix(op).map(|r| (*op, r)))
            .unwrap_or(("=", c));
        let raw = rest.trim();
        let want = parse_version(raw).ok_or_else(|| format!("Malformed constraint: {c}"))?;
        let ok = match op {
            ">=" => v >= want,
            "<=" => v <= want,
            ">" => v > want,
            "<" => v < want,
            "!=" => v != want,
            "=" => v == want,
            _ => {
                // ~> 1.2 means >= 1.2, < 2.0; ~> 1.2.3 means >= 1.2.3, < 1.3.0
                let n = raw.trim_start_matches('v').split('.').count();
                let mut upper = want.clone();
                let idx = n.saturating_sub(2);
                upper[idx] += 1;
                for u in upper.iter_mut().skip(idx + 1) {
                    *u = 0;
                }
                v >= want && v < upper
            }
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::version_satisfies;
    #[test]
    fn constraints() {
        assert!(version_satisfies(">= v1.0.0", "1.9.5").unwrap());
        assert!(!version_satisfies(">= 700000.0.0", "1.9.5").unwrap());
        assert!(version_satisfies("~> 1.9", "1.9.5").unwrap());
        assert!(!version_satisfies("~> 1.8.0", "1.9.5").unwrap());
        assert!(version_satisfies(">= 1.7, < 2", "1.9.5").unwrap());
        assert!(version_satisfies("nonsense", "1.9.5").is_err());
    }
}
