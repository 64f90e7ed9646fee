//! amazon-ebs: an AMI from a source instance, as Packer's step sequence —
//! each step one unit with its cleanup beside it, over typed state — on the
//! AWS SDK. Every temporary resource is journaled before it is created
//! ([`journal`]), so failures, interrupts and crashes leak nothing.

pub mod client;
pub mod config;
pub mod consistency;
pub mod credentials;
mod insecure;
pub mod instance;
pub mod journal;
pub mod profile;
pub mod resources;
mod steps;
pub mod sts;
pub mod vault;
pub mod wait;

use super::common::{StepCleanupTempKeys, StepConnect, StepProvision};
use super::Builder;
use crate::communicator::ssh::Settings;
use crate::graph::Config;
use crate::runner::steps::{run_steps, Step};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;
use config::EbsConfig;
use std::sync::Arc;
use steps::State;

pub use config::validate;

pub struct AmazonEbs {
    cfg: EbsConfig,
}

impl AmazonEbs {
    pub fn new(c: &Config) -> Result<AmazonEbs, String> {
        EbsConfig::from_config(c)
            .map(|cfg| AmazonEbs { cfg })
            .map_err(|e| e.join("\n"))
    }
}

#[async_trait]
impl Builder for AmazonEbs {
    async fn run(
        &self,
        ctx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Option<Artifact>, BuildError> {
        let cfg = &self.cfg;
        let aws = client::load(&cfg.access).await;
        let mut state = State::new(aws, cfg, ctx)?;
        let mut list: Vec<Box<dyn Step<State> + '_>> = vec![
            Box::new(steps::PreValidate { cfg }),
            Box::new(steps::SourceAmi { cfg }),
            Box::new(steps::Network { cfg }),
            Box::new(steps::KeyPair { cfg }),
            Box::new(steps::SecurityGroup { cfg }),
            Box::new(steps::IamInstanceProfile { cfg }),
            Box::new(steps::RunInstance { cfg }),
            Box::new(StepConnect::new(move |s: &State| {
                if cfg.communicator_none {
                    return Ok(None);
                }
                let host = s
                    .instance
                    .as_ref()
                    .and_then(|i| i.ssh_host(cfg.ssh_interface));
                let key = s.key.as_ref().map(|k| Arc::clone(&k.private));
                Settings::from_config_with_key(&cfg.raw, host, key).map(Some).map_err(|e| {
                    if e.starts_with("a Host") {
                        "the instance has no address to connect to (set ssh_interface, or ssh_host)".to_string()
                    } else {
                        e
                    }
                })
            })),
            Box::new(StepProvision { hook }),
            Box::new(StepCleanupTempKeys::new(
                cfg.ssh_clear_authorized_keys,
                |s: &State| {
                    s.key
                        .as_ref()
                        .and_then(|k| k.private.public_key().to_openssh().ok())
                },
            )),
        ];
        if !cfg.skip_create_ami {
            list.push(Box::new(steps::StopInstance { cfg }));
            list.push(Box::new(steps::ModifyInstance { cfg }));
            list.push(Box::new(steps::Deregister { cfg }));
            list.push(Box::new(steps::CreateAmi { cfg }));
            list.push(Box::new(steps::RegionCopy { cfg }));
            list.push(Box::new(steps::Deprecate { cfg }));
            list.push(Box::new(steps::AmiAttributes { cfg }));
            list.push(Box::new(steps::Tags { cfg }));
            list.push(Box::new(steps::DeregistrationProtection { cfg }));
            list.push(Box::new(steps::Keep));
        }
        let r = run_steps(&list, &mut state, ctx).await;
        state.finish_journal();
        let r = match r {
            Err(BuildError::Failed(e)) if cfg.access.decode_authorization_messages => {
                Err(BuildError::Failed(state.aws.decode_authorization(e).await))
            }
            other => other,
        };
        r?;
        if state.amis.is_empty() {
            return Ok(None);
        }
        // Sorted, as Packer sorts them: scripts take the first of the id.
        let mut ids: Vec<String> = state.amis.iter().map(|(r, a)| format!("{r}:{a}")).collect();
        ids.sort();
        let mut lines: Vec<String> = state
            .amis
            .iter()
            .map(|(r, a)| format!("{r}: {a}"))
            .collect();
        lines.sort();
        let id = ids.join(",");
        let description = format!("AMIs were created:\n{}\n", lines.join("\n"));
        Ok(Some(Artifact {
            builder_type: "amazon-ebs".into(),
            id,
            files: Vec::new(),
            description,
            state: Default::default(),
        }))
    }
}
