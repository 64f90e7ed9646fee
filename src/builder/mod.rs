//! Builders: where an image starts and how it is produced.

pub mod amazon;
pub mod common;
pub mod file;
pub mod null;
pub mod qemu;

use crate::graph::Config;
use crate::incremental::{Fingerprint, Reuse};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;

#[async_trait]
pub trait Builder: Send + Sync {
    /// Run the build; call `hook.provision` at the provisioning point.
    async fn run(
        &self,
        ctx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Option<Artifact>, BuildError>;

    /// Incremental builds (`-reuse`, `kiln plan`): the artifact an earlier
    /// run made from `inputs` (what the graph says the build is made of;
    /// the builder adds what it resolves, as the source AMI's id), or what
    /// a build would replace. `dry_run`: look only, change nothing.
    async fn reusable(
        &self,
        _ctx: &BuildContext,
        _inputs: &Fingerprint,
        _dry_run: bool,
    ) -> Result<Reuse, BuildError> {
        Ok(Reuse::Unsupported(
            "this builder keeps no artifact to reuse".into(),
        ))
    }
}

pub fn create(kind: &str, config: &Config) -> Result<Box<dyn Builder>, String> {
    match kind {
        "null" => Ok(Box::new(null::NullBuilder::new(config)?)),
        "amazon-ebs" => Ok(Box::new(amazon::AmazonEbs::new(config)?)),
        "file" => Ok(Box::new(file::FileBuilder::new(config)?)),
        "qemu" => Ok(Box::new(qemu::QemuBuilder::new(config)?)),
        other => Err(format!("unknown builder type {other:?}")),
    }
}
