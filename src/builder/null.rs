//! The null builder: creates nothing; runs provisioners (locally with
//! `communicator = "none"`).

use super::Builder;
use crate::graph::Config;
use crate::plugin::get_str;
use crate::runner::steps::{run_steps, Step};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;

pub fn validate(c: &Config) -> Vec<String> {
    match get_str(c, "communicator").as_deref() {
        Some("ssh") if get_str(c, "ssh_host").is_none() => vec!["a Host must be specified, please reference your communicator documentation".into()],
        _ => Vec::new(),
    }
}

pub struct NullBuilder {
    communicator: String,
}

impl NullBuilder {
    pub fn new(c: &Config) -> Result<NullBuilder, String> {
        let communicator = get_str(c, "communicator").unwrap_or_else(|| "ssh".into());
        if communicator != "none" {
            return Err(format!("communicator {communicator:?} is not available in this kiln build yet; use communicator = \"none\""));
        }
        Ok(NullBuilder { communicator })
    }
}

/// Typed state of a null build.
#[derive(Default)]
struct State {
    provisioned: bool,
}

struct StepProvision<'h> {
    hook: &'h dyn ProvisionHook,
}

#[async_trait]
impl Step<State> for StepProvision<'_> {
    fn name(&self) -> &'static str {
        "provision"
    }
    async fn run(&self, state: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        self.hook.provision(ctx, None).await?;
        state.provisioned = true;
        Ok(())
    }
}

#[async_trait]
impl Builder for NullBuilder {
    async fn run(&self, ctx: &BuildContext, hook: &dyn ProvisionHook) -> Result<Option<Artifact>, BuildError> {
        ctx.set_generated("ConnType", self.communicator.clone());
        let steps: Vec<Box<dyn Step<State> + '_>> = vec![Box::new(StepProvision { hook })];
        let mut state = State::default();
        run_steps(&steps, &mut state, ctx).await?;
        Ok(Some(Artifact {
            builder_type: "null".into(),
            id: "Null".into(),
            files: Vec::new(),
            description: "Did not export anything. This is the null builder".into(),
        }))
    }
}
