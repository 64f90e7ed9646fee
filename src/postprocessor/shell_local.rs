//! shell-local as a post-processor: runs after the build, artifact untouched.

use super::PostProcessor;
use crate::graph::Config;
use crate::provisioner::shell_local::ShellLocal;
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;

pub struct ShellLocalPP(ShellLocal);

impl ShellLocalPP {
    pub fn new(c: &Config) -> Result<ShellLocalPP, String> {
        Ok(ShellLocalPP(ShellLocal::new(c)?))
    }
}

#[async_trait]
impl PostProcessor for ShellLocalPP {
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError> {
        self.0.run(ctx).await?;
        Ok((input, true))
    }
}
