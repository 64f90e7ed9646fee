//! Provisioners: what configures the machine during a build.

pub mod ansible;
pub mod ansible_local;
pub mod breakpoint;
pub mod file;
pub mod shell;
pub mod shell_local;
pub mod sleep;

use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{Kind, OptionValue};
use crate::runner::{BuildContext, BuildError};
use crate::value::Value;
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
        "ansible" => Ok(Box::new(ansible::Ansible::new(config)?)),
        "ansible-local" => Ok(Box::new(ansible_local::AnsibleLocal::new(config)?)),
        "breakpoint" => Ok(Box::new(
            <breakpoint::Breakpoint as crate::plugin::Options>::from_config(config)?,
        )),
        "file" => Ok(Box::new(file::FileProvisioner::new(config)?)),
        "shell" => Ok(Box::new(shell::Shell::new(config)?)),
        "sleep" => Ok(Box::new(
            <sleep::Sleep as crate::plugin::Options>::from_config(config)?,
        )),
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
pub fn check_env_vars(vars: &[String]) -> Vec<String> {
    vars.iter()
        .filter(|v| !v.contains('=') || v.starts_with('='))
        .map(|v| format!("Environment variable not in format 'key=value': {v}"))
        .collect()
}

/// `valid_exit_codes`: a list of numbers, or one; `[0]` when unset.
pub struct ExitCodes(pub Vec<i64>);

impl Default for ExitCodes {
    fn default() -> Self {
        ExitCodes(vec![0])
    }
}

impl OptionValue for ExitCodes {
    const KIND: Kind = Kind::Any;

    fn from_value(value: &Value) -> Result<Option<Self>, String> {
        let items = value.as_seq().unwrap_or(std::slice::from_ref(value));
        let mut codes = Vec::with_capacity(items.len());
        for item in items {
            match i64::from_value(item)? {
                Some(code) => codes.push(code),
                // Not known yet (validate): nothing to check.
                None => return Ok(None),
            }
        }
        Ok(Some(ExitCodes(codes)))
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
