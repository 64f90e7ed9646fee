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
pub mod reuse;
mod steps;
pub mod sts;
pub mod vault;
pub mod wait;

use super::common::{StepCleanupTempKeys, StepConnect, StepProvision};
use super::Builder;
use crate::communicator::ssh::Settings;
use crate::graph::Config;
use crate::incremental::{Fingerprint, Reuse};
use crate::runner::steps::{run_steps, Step};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;
use config::EbsConfig;
use std::sync::Arc;
use steps::State;

pub use config::validate;

pub struct AmazonEbs {
    cfg: EbsConfig,
    /// The source AMI `-reuse` looked for an AMI made from: the build
    /// starts from that one (a filter may name a newer AMI by then).
    pinned_source: std::sync::Mutex<Option<String>>,
}

impl AmazonEbs {
    pub fn new(c: &Config) -> Result<AmazonEbs, String> {
        EbsConfig::from_config(c)
            .map(|cfg| AmazonEbs {
                cfg,
                pinned_source: std::sync::Mutex::new(None),
            })
            .map_err(|e| e.join("\n"))
    }
}

#[async_trait]
impl Builder for AmazonEbs {
    async fn reusable(
        &self,
        ctx: &BuildContext,
        inputs: &Fingerprint,
        dry_run: bool,
    ) -> Result<Reuse, BuildError> {
        if self.cfg.skip_create_ami {
            return Ok(Reuse::Unsupported(
                "skip_create_ami: the build makes no AMI to reuse".into(),
            ));
        }
        let aws = client::load(&self.cfg.access).await;
        let source = steps::resolve_source(&aws.ec2(), &self.cfg)
            .await
            .map_err(BuildError::Failed)?;
        if let Ok(mut p) = self.pinned_source.lock() {
            *p = Some(source.clone());
        }
        let fp = inputs.with(vec![reuse::source_part(&source)]);
        reuse::find(&aws, &self.cfg, ctx, &fp, dry_run).await
    }

    async fn run(
        &self,
        ctx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Option<Artifact>, BuildError> {
        let pinned = self.pinned_source.lock().ok().and_then(|p| p.clone());
        let pinned_cfg;
        let cfg = match pinned {
            Some(id) => {
                let mut c = self.cfg.clone();
                c.source_ami = Some(id);
                c.source_ami_filter = None;
                pinned_cfg = c;
                &pinned_cfg
            }
            None => &self.cfg,
        };
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
            list.push(Box::new(steps::RegionCopy { cfg, only_to: None }));
            list.push(Box::new(steps::Deprecate { cfg }));
            list.push(Box::new(steps::AmiAttributes { cfg }));
            list.push(Box::new(steps::Tags { cfg }));
            list.push(Box::new(steps::InputsTag { whole: None }));
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
        Ok(Some(reuse::artifact(state.amis.clone(), false)))
    }
}
