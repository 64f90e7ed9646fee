//! The null builder: creates nothing; runs provisioners, locally with
//! `communicator = "none"`, or on an existing host over SSH (Packer's way to
//! provision a machine that already exists).

use super::common::{Connected, StepConnect, StepProvision};
use super::Builder;
use crate::communicator::ssh::{Settings, Ssh};
use crate::communicator::CommunicatorOptions;
use crate::graph::Config;
use crate::plugin::Options;
use crate::runner::steps::{run_steps, Step};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;

pub fn validate(c: &Config) -> Vec<String> {
    let comm = match CommunicatorOptions::from_config(c) {
        Ok(o) => o.communicator,
        Err(e) => return vec![e],
    };
    match comm.as_deref() {
        Some("ssh") | None => match Settings::from_config(c, None) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e],
        },
        _ => Vec::new(),
    }
}

enum Comm {
    None,
    Ssh(Box<Settings>),
}

pub struct NullBuilder {
    comm: Comm,
}

impl NullBuilder {
    pub fn new(c: &Config) -> Result<NullBuilder, String> {
        let comm = match CommunicatorOptions::from_config(c)?.communicator.as_deref() {
            Some("none") => Comm::None,
            Some("ssh") | None => Comm::Ssh(Box::new(Settings::from_config(c, None)?)),
            Some(other) => {
                return Err(format!(
                    "communicator {other:?} is not supported by kiln yet; use \"ssh\" or \"none\""
                ))
            }
        };
        Ok(NullBuilder { comm })
    }
}

/// Typed state of a null build: what the steps created.
#[derive(Default)]
struct State {
    ssh: Option<Ssh>,
}

impl Connected for State {
    fn ssh_slot(&mut self) -> &mut Option<Ssh> {
        &mut self.ssh
    }
}

#[async_trait]
impl Builder for NullBuilder {
    async fn run(
        &self,
        ctx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Option<Artifact>, BuildError> {
        let mut steps: Vec<Box<dyn Step<State> + '_>> = Vec::new();
        ctx.set_generated("ID", "Null");
        match &self.comm {
            Comm::None => ctx.set_generated("ConnType", "none"),
            Comm::Ssh(settings) => steps.push(Box::new(StepConnect::new(move |_: &State| {
                Ok(Some(Settings::clone(settings)))
            }))),
        }
        steps.push(Box::new(StepProvision { hook }));
        let mut state = State::default();
        run_steps(&steps, &mut state, ctx).await?;
        Ok(Some(Artifact {
            builder_type: "null".into(),
            id: "Null".into(),
            files: Vec::new(),
            description: "Did not export anything. This is the null builder".into(),
            reused: false,
            state: Default::default(),
        }))
    }
}
