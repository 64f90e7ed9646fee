//! Provisioners: what configures the machine during a build.

pub mod breakpoint;
pub mod file;
pub mod shell;
pub mod shell_local;

use crate::communicator::Communicator;
use crate::graph::Config;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;

#[async_trait]
pub trait Provisioner: Send + Sync {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError>;
}

pub fn create(kind: &str, config: &Config) -> Result<Box<dyn Provisioner>, String> {
    match kind {
        "shell-local" => Ok(Box::new(shell_local::ShellLocal::new(config)?)),
        "breakpoint" => Ok(Box::new(breakpoint::Breakpoint::new(config))),
        "file" => Ok(Box::new(file::FileProvisioner::new(config)?)),
        "shell" => Ok(Box::new(shell::Shell::new(config)?)),
        other => Err(format!("unknown provisioner type {other:?}")),
    }
}

/// Provisioners that talk to the machine fail clearly without a communicator.
pub fn need_comm<'a>(
    kind: &str,
    comm: Option<&'a dyn Communicator>,
) -> Result<&'a dyn Communicator, BuildError> {
    comm.ok_or_else(|| BuildError::Failed(format!("the {kind} provisioner needs a communicator, but this build has communicator = \"none\"; use shell-local to run commands on this machine")))
}

/// `environment_vars` entries must be `key=value`.
pub fn check_env_vars(c: &Config) -> Vec<String> {
    crate::plugin::get_strings(c, "environment_vars")
        .into_iter()
        .filter(|v| !v.contains('=') || v.starts_with('='))
        .map(|v| format!("Environment variable not in format 'key=value': {v}"))
        .collect()
}

/// `valid_exit_codes` (a list or one number); `[0]` when unset.
pub fn valid_exit_codes(c: &Config) -> Vec<i64> {
    match c.get("valid_exit_codes") {
        Some(v) => match v.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(|i| crate::value::to_display_string(i)?.parse().ok())
                .collect(),
            None => crate::value::to_display_string(v)
                .and_then(|s| s.parse().ok())
                .into_iter()
                .collect(),
        },
        None => vec![0],
    }
}

/// Fail unless `code` is one of `valid`, with Packer's message.
pub fn check_exit(code: i64, valid: &[i64]) -> Result<(), BuildError> {
    if valid.contains(&code) {
        return Ok(());
    }
    let allowed: Vec<String> = valid.iter().map(|c| c.to_string()).collect();
    Err(BuildError::Failed(format!(
        "Script exited with non-zero exit status: {code}.Allowed exit codes are: [{}]",
        allowed.join(" ")
    )))
}

/// The environment a script runs with: `PACKER_BUILD_NAME`,
/// `PACKER_BUILDER_TYPE`, `environment_vars` and `env`, sorted by name,
/// flattened with `format` (`%s='%s' `, values single-quote-escaped), and
/// as pairs.
pub fn flatten_env(
    ctx: &BuildContext,
    env_vars: &[String],
    env: &[(String, String)],
    format: &str,
) -> (String, Vec<(String, String)>) {
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("PACKER_BUILD_NAME".to_string(), ctx.build_name.clone());
    vars.insert("PACKER_BUILDER_TYPE".to_string(), ctx.builder_type.clone());
    for kv in env_vars {
        if let Some((k, v)) = kv.split_once('=') {
            vars.insert(k.to_string(), v.to_string());
        }
    }
    for (k, v) in env {
        vars.insert(k.clone(), v.clone());
    }
    let mut flat = String::new();
    for (k, v) in &vars {
        let v = v.replace('\'', "'\"'\"'");
        flat.push_str(&format.replacen("%s", k, 1).replacen("%s", &v, 1));
    }
    (flat, vars.into_iter().collect())
}
