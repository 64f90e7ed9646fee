//! The execution graph: one IR that every front end (HCL2, legacy JSON) lowers
//! into, and the only thing the runner sees.
//!
//! Nodes are data sources and build instances (a source × a build block);
//! each build instance carries its provisioner steps and post-processor
//! chains. Edges say what must finish before what.

mod render;

pub use render::{to_dot, to_json};

use crate::value::Value;
use indexmap::IndexMap;
use serde::Serialize;
use std::time::Duration;

/// A plugin's evaluated configuration. Values known only at run time (the
/// `build` variables) are `{{ build `Name` }}` placeholders, the same form in
/// both front ends.
pub type Config = IndexMap<String, Value>;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Graph {
    /// `hcl2` or `json`: which front end produced it.
    pub frontend: String,
    pub description: Option<String>,
    pub variables: Vec<VariableInfo>,
    pub locals: Vec<VariableInfo>,
    pub datasources: Vec<DataNode>,
    pub builds: Vec<BuildNode>,
    pub edges: Vec<Edge>,
    /// Strings that must never be printed (sensitive variables and locals).
    #[serde(skip)]
    pub sensitive: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VariableInfo {
    pub name: String,
    /// How `inspect` shows it (`"<sensitive>"` for sensitive ones).
    pub display: String,
    pub sensitive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DataNode {
    /// `data.TYPE.NAME`
    pub id: String,
    pub kind: String,
    pub name: String,
    #[serde(serialize_with = "render::ser_config")]
    pub config: Config,
}

#[derive(Debug, Clone, Serialize)]
pub struct BuildNode {
    /// Full name as the UI and `-only` see it: `[BUILD.]TYPE.NAME`.
    pub name: String,
    /// The build block's `name`, if any.
    pub build_name: Option<String>,
    /// Index of the build block in the template (unnamed builds are shown by it).
    pub build_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_description: Option<String>,
    pub source_type: String,
    /// Source name after `name =` overrides (`TYPE.NAME` without the build).
    pub source_name: String,
    #[serde(serialize_with = "render::ser_config")]
    pub builder: Config,
    pub provisioners: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_cleanup: Option<Step>,
    pub post_processors: Vec<Vec<Step>>,
}

impl BuildNode {
    /// `TYPE.NAME`, what `only`/`except` inside a template match.
    pub fn source_ref(&self) -> String {
        format!("{}.{}", self.source_type, self.source_name)
    }
}

/// A provisioner or post-processor in a build.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(serialize_with = "render::ser_config")]
    pub config: Config,
    #[serde(skip_serializing_if = "Option::is_none", with = "render::opt_duration")]
    pub pause_before: Option<Duration>,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_retries: u32,
    #[serde(skip_serializing_if = "Option::is_none", with = "render::opt_duration")]
    pub timeout: Option<Duration>,
    /// Post-processors only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_input_artifact: Option<bool>,
    /// Where it was declared (`file:line`), for messages.
    #[serde(skip)]
    pub origin: Option<String>,
    /// Arguments that read `build.*`, evaluated again when the build's
    /// values are known, so that a function of one (`upper(build.ID)`)
    /// gets the value, not the placeholder that stands for it until then.
    #[serde(skip)]
    pub late: Vec<Late>,
}

/// One argument to evaluate while the build runs: from the build's
/// generated values (`ID`, `Host`, …) to the argument's value.
#[derive(Clone)]
pub struct Late {
    pub key: String,
    #[allow(clippy::type_complexity)]
    pub eval: std::sync::Arc<
        dyn Fn(&std::collections::BTreeMap<String, String>) -> Result<Value, String> + Send + Sync,
    >,
}

impl std::fmt::Debug for Late {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Late({})", self.key)
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

impl Graph {
    /// Keep only the builds `-only`/`-except` select (Packer's glob semantics:
    /// patterns match the full build name).
    pub fn select(&mut self, only: &[String], except: &[String]) -> Result<(), String> {
        let sel = Selection::new(only, except)?;
        self.builds
            .retain(|b| sel.selects(&[b.name.as_str(), b.source_ref_str()]));
        let kept: Vec<String> = self.builds.iter().map(|b| b.name.clone()).collect();
        self.edges
            .retain(|e| kept.contains(&e.to) || !e.to.starts_with("build:"));
        Ok(())
    }
}

impl BuildNode {
    fn source_ref_str(&self) -> &str {
        // The full name without the build prefix.
        match &self.build_name {
            Some(b) => self
                .name
                .strip_prefix(&format!("{b}."))
                .unwrap_or(&self.name),
            None => &self.name,
        }
    }
}

/// `-only` / `-except`: which builds a run keeps, by glob patterns over a
/// build's names (its full name, and its source's TYPE.NAME). The front
/// ends apply it before they prepare builds, as Packer does: an excluded
/// build is not checked at all (its builder may be one kiln lacks).
#[derive(Default)]
pub struct Selection {
    only: Vec<globset::GlobMatcher>,
    except: Vec<globset::GlobMatcher>,
}

impl Selection {
    pub fn new(only: &[String], except: &[String]) -> Result<Selection, String> {
        let compile = |pats: &[String]| -> Result<Vec<globset::GlobMatcher>, String> {
            pats.iter()
                .map(|p| {
                    globset::Glob::new(p)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| format!("invalid pattern {p:?}: {e}"))
                })
                .collect()
        };
        Ok(Selection {
            only: compile(only)?,
            except: compile(except)?,
        })
    }

    /// Whether a build known by any of `names` is kept.
    pub fn selects(&self, names: &[&str]) -> bool {
        let hit =
            |ms: &[globset::GlobMatcher]| ms.iter().any(|m| names.iter().any(|n| m.is_match(n)));
        (self.only.is_empty() || hit(&self.only)) && !hit(&self.except)
    }
}
