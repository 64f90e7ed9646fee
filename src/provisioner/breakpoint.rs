//! breakpoint: pause the build until Enter is pressed.

use super::Provisioner;
use crate::communicator::Communicator;
use crate::plugin::{Field, Options};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;

/// The breakpoint provisioner's options, which are all it needs.
#[derive(Options)]
pub struct Breakpoint {
    /// Skip the pause.
    disable: bool,
    /// Shown while the build waits.
    note: String,
}

pub const FIELDS: &[Field] = Breakpoint::FIELDS;

#[async_trait]
impl Provisioner for Breakpoint {
    async fn provision(
        &self,
        ctx: &BuildContext,
        _comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        if self.disable {
            ctx.ui.say("Breakpoint provisioner disabled; continuing...");
            return Ok(());
        }
        ctx.ui.say(&format!(
            "Pausing at breakpoint provisioner with note \"{}\".",
            self.note
        ));
        ctx.ui.say("Press enter to continue.");
        crate::runner::wait_for_enter(ctx).await
    }
}
