//! Post-processors: what happens to an artifact after the build.

pub mod artifice;
pub mod checksum;
pub mod compress;
pub mod manifest;
pub mod shell_local;
pub mod vagrant;

use crate::graph::Config;
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;

#[async_trait]
pub trait PostProcessor: Send + Sync {
    /// The new artifact and whether the input should be kept by default.
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError>;
}

pub fn create(kind: &str, config: &Config) -> Result<Box<dyn PostProcessor>, String> {
    match kind {
        "artifice" => Ok(Box::new(artifice::Artifice::new(config)?)),
        "checksum" => Ok(Box::new(checksum::Checksum::new(config)?)),
        "compress" => Ok(Box::new(compress::Compress::new(config)?)),
        "manifest" => Ok(Box::new(manifest::Manifest::new(config)?)),
        "shell-local" => Ok(Box::new(shell_local::ShellLocalPP::new(config)?)),
        "vagrant" => Ok(Box::new(vagrant::Vagrant::new(config)?)),
        other => Err(format!("unknown post-processor type {other:?}")),
    }
}
