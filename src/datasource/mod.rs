//! Data sources: evaluated before sources, in dependency order.

pub mod amazon_ami;
pub mod debian_base;
pub mod git;
pub mod http;
pub mod null;

use crate::graph::Config;
use crate::value::Value;

/// Run a data source; its value is its configuration plus its outputs.
pub fn execute(kind: &str, config: &Config) -> Result<Value, String> {
    match kind {
        "null" => null::execute(config),
        "amazon-ami" => amazon_ami::execute(config),
        "http" => http::execute(config),
        "kiln-debian-base" => debian_base::execute(config),
        "git-repository" => git::execute_repository(config),
        "git-commit" => git::execute_commit(config),
        "git-tree" => git::execute_tree(config),
        other => Err(format!("unknown data source type {other:?}")),
    }
}
