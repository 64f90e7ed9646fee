//! What `inspect` shows of a legacy JSON template: the template as
//! written, nothing rendered or checked (Packer's inspect reads the raw
//! template), so a template with unset variables or plugins kiln lacks is
//! still shown.

use super::load::{json_scalar, read_root};
use crate::diag::Diags;
use serde_json::Value as J;
use std::path::Path;

/// One variable: its default as written, `None` when it is required.
pub struct VariableOutline {
    pub name: String,
    pub default: Option<String>,
    pub sensitive: bool,
}

/// A JSON template as `inspect` shows it.
pub struct Outline {
    pub description: Option<String>,
    /// Sorted by name.
    pub variables: Vec<VariableOutline>,
    /// `(name, type)`, sorted by name (a builder's name is its type unless
    /// it has one), as Packer keys them.
    pub builders: Vec<(String, String)>,
    /// Types, in template order.
    pub provisioners: Vec<String>,
}

/// Read a template for `inspect`: only JSON that does not parse is an error.
pub fn read(path: &Path) -> Result<Outline, Diags> {
    let (_, _, root) = read_root(path)?;
    let sensitive: Vec<&str> = root
        .get("sensitive-variables")
        .and_then(J::as_array)
        .map(|a| a.iter().filter_map(J::as_str).collect())
        .unwrap_or_default();
    let mut variables: Vec<VariableOutline> = root
        .get("variables")
        .and_then(J::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| VariableOutline {
                    name: k.clone(),
                    default: (!v.is_null()).then(|| json_scalar(v)),
                    sensitive: sensitive.contains(&k.as_str()),
                })
                .collect()
        })
        .unwrap_or_default();
    variables.sort_by(|a, b| a.name.cmp(&b.name));
    let list = |k: &str| -> Vec<&serde_json::Map<String, J>> {
        root.get(k)
            .and_then(J::as_array)
            .map(|a| a.iter().filter_map(J::as_object).collect())
            .unwrap_or_default()
    };
    let ty = |m: &serde_json::Map<String, J>| {
        m.get("type")
            .and_then(J::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut builders: Vec<(String, String)> = list("builders")
        .into_iter()
        .map(|b| {
            let t = ty(b);
            let name = b
                .get("name")
                .and_then(J::as_str)
                .map_or_else(|| t.clone(), str::to_string);
            (name, t)
        })
        .collect();
    builders.sort();
    // Packer keys builders by name: a repeated name is one entry.
    builders.dedup_by(|a, b| a.0 == b.0);
    Ok(Outline {
        description: root
            .get("description")
            .and_then(J::as_str)
            .filter(|d| !d.is_empty())
            .map(str::to_string),
        variables,
        builders,
        provisioners: list("provisioners").into_iter().map(ty).collect(),
    })
}
