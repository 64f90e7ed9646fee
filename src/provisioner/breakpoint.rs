//! breakpoint: pause the build until Enter is pressed.

use super::Provisioner;
use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{get_bool, get_str, Field, Kind};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;

pub const FIELDS: &[Field] = &[Field("disable", Kind::Bool), Field("note", Kind::String)];

pub struct Breakpoint {
    disable: bool,
    note: String,
}

impl Breakpoint {
    pub fn new(c: &Config) -> Breakpoint {
        Breakpoint {
            disable: get_bool(c, "disable").unwrap_or(false),
            note: get_str(c, "note").unwrap_or_default(),
        }
    }
}

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
