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
    async fn provision(&self, ctx: &BuildContext, comm: Option<&dyn Communicator>) -> Result<(), BuildError>;
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
pub fn need_comm<'a>(kind: &str, comm: Option<&'a dyn Communicator>) -> Result<&'a dyn Communicator, BuildError> {
    comm.ok_or_else(|| {
        BuildError::Failed(format!(
            "the {kind} provisioner needs a communicator, but this build has communicator = \"none\"; use shell-local to run commands on this machine"
        ))
    })
}

/// `environment_vars` entries must be `key=value`.
pub fn check_env_vars(c: &Config) -> Vec<String> {
    crate::plugin::get_strings(c, "environment_vars")
        .into_iter()
        .filter(|v| !v.contains('=') || v.starts_with('='))
        .map(|v| format!("Environment variable not in format 'key=value': {v}"))
        .collect()
}
