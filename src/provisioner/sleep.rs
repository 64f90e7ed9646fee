//! sleep: wait `duration` (Packer core's provisioner), cut short by Ctrl-C
//! like every step.

use super::Provisioner;
use crate::communicator::Communicator;
use crate::plugin::{Field, Options};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::time::Duration;

/// The sleep provisioner's one option.
#[derive(Options)]
pub struct Sleep {
    /// How long to wait (a Go duration: "30s", "1m30s"; unset: not at all).
    duration: Duration,
}

pub const FIELDS: &[Field] = Sleep::FIELDS;

#[async_trait]
impl Provisioner for Sleep {
    async fn provision(
        &self,
        ctx: &BuildContext,
        _comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        tokio::select! {
            _ = ctx.cancel.cancelled() => Err(BuildError::Cancelled),
            _ = tokio::time::sleep(self.duration) => Ok(()),
        }
    }
}
