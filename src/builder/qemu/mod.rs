//! qemu: a machine image from an ISO or a disk image, built in a local
//! virtual machine. The guest's network is user-mode and restricted: it
//! reaches nothing but the SSH port kiln forwards on 127.0.0.1 and, when the
//! template serves files, kiln's HTTP server.
//!
//! Unlike Packer 1.6.6, the default accelerator asks whether KVM really
//! works here ([`accel`]) and falls back to TCG instead of hanging.

pub mod accel;
mod bootcommand;
pub mod config;
mod http;
mod steps;

use super::common::{StepCleanupTempKeys, StepConnect, StepProvision};
use super::Builder;
use crate::communicator::ssh::Settings;
use crate::graph::Config;
use crate::incremental::{record, Fingerprint, Reuse};
use crate::runner::steps::{run_steps, Step};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;
use config::QemuConfig;
use std::sync::Arc;
use steps::State;

pub use config::{validate, FIELDS};

pub struct QemuBuilder {
    raw: Config,
}

impl QemuBuilder {
    pub fn new(c: &Config) -> Result<QemuBuilder, String> {
        QemuConfig::from_config(c, "x").map_err(|e| e.join("\n"))?;
        Ok(QemuBuilder { raw: c.clone() })
    }
}

impl QemuBuilder {
    /// What an artifact of this build is, made now or found.
    fn artifact(
        cfg: &QemuConfig,
        files: Vec<std::path::PathBuf>,
        state: std::collections::BTreeMap<String, String>,
        reused: bool,
    ) -> Artifact {
        let dir = &cfg.output_directory;
        Artifact {
            builder_type: "qemu".into(),
            id: "VM".into(),
            files,
            description: if reused {
                format!(
                    "VM files in directory: {} (reused: made earlier from the same inputs)",
                    dir.display()
                )
            } else {
                format!("VM files in directory: {}", dir.display())
            },
            reused,
            state,
        }
    }
}

#[async_trait]
impl Builder for QemuBuilder {
    /// The output directory's record ([`crate::incremental::record`]).
    async fn reusable(
        &self,
        ctx: &BuildContext,
        inputs: &Fingerprint,
        _dry_run: bool,
    ) -> Result<Reuse, BuildError> {
        let cfg = QemuConfig::from_config(&self.raw, &ctx.build_name)
            .map_err(|e| BuildError::Failed(e.join("\n")))?;
        let path = cfg.output_directory.join(record::FILE_NAME);
        Ok(match record::check(&path, inputs) {
            record::Found::Same(files, state) => {
                Reuse::Found(Self::artifact(&cfg, files, state, true))
            }
            record::Found::Stale(e) => Reuse::Build {
                inputs: inputs.clone(),
                newest: Some(e),
            },
            record::Found::None => Reuse::Build {
                inputs: inputs.clone(),
                newest: None,
            },
        })
    }

    async fn run(
        &self,
        ctx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Option<Artifact>, BuildError> {
        let cfg = QemuConfig::from_config(&self.raw, &ctx.build_name)
            .map_err(|e| BuildError::Failed(e.join("\n")))?;
        let cfg = &cfg;
        let mut state = State::new(cfg);
        let list: Vec<Box<dyn Step<State> + '_>> = vec![
            Box::new(steps::Accelerator { cfg }),
            Box::new(steps::VerifySource { cfg }),
            Box::new(steps::PrepareOutputDir { cfg }),
            Box::new(steps::PrepareEfivars { cfg }),
            Box::new(steps::CreateFloppy { cfg }),
            Box::new(steps::CreateCd { cfg }),
            Box::new(steps::CreateDisk { cfg }),
            Box::new(steps::TempKey { cfg }),
            Box::new(steps::HttpServer { cfg }),
            Box::new(steps::PortForward { cfg }),
            Box::new(steps::RunQemu { cfg }),
            Box::new(steps::BootWait { cfg }),
            Box::new(steps::TypeBootCommand { cfg }),
            Box::new(steps::Connect {
                inner: StepConnect::new(move |s: &State| {
                    if cfg.communicator_none {
                        return Ok(None);
                    }
                    let mut settings = Settings::from_config_with_key(
                        &cfg.raw,
                        Some("127.0.0.1".into()),
                        s.key.clone().map(|k| Arc::clone(&k)),
                    )?;
                    if !cfg.skip_nat_mapping && cfg.ssh_host.is_none() {
                        settings.target.port = s.host_port;
                    }
                    Ok(Some(settings))
                }),
            }),
            Box::new(StepProvision { hook }),
            Box::new(StepCleanupTempKeys::new(
                cfg.ssh_clear_authorized_keys,
                |s: &State| {
                    s.key
                        .as_ref()
                        .and_then(|k| k.public_key().to_openssh().ok())
                },
            )),
            Box::new(steps::Shutdown { cfg }),
            Box::new(steps::ConvertDisk { cfg }),
            Box::new(steps::Keep),
        ];
        run_steps(&list, &mut state, ctx).await?;
        let dir = cfg.output_directory.clone();
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        if cfg.efi_drop_efivars {
            files.retain(|f| f.file_name().is_none_or(|n| n != "efivars.fd"));
        }
        files.sort();
        // What the vagrant post-processor reads (Packer's state keys).
        let art_state = [
            ("diskName", cfg.vm_name.clone()),
            ("diskType", cfg.format.clone()),
            ("domainType", state.accel.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if ctx.reuse {
            if let Ok(fp) = &ctx.inputs {
                let path = dir.join(record::FILE_NAME);
                record::write(&path, fp, &ctx.full_name, &files, &art_state)
                    .map_err(|e| BuildError::Failed(format!("writing the inputs record: {e}")))?;
                ctx.ui.say(&format!(
                    "Recorded the build's inputs in {} ({})",
                    path.display(),
                    crate::runner::short(&fp.digest())
                ));
            }
        }
        Ok(Some(Self::artifact(cfg, files, art_state, false)))
    }
}
