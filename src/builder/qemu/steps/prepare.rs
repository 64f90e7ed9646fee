//! Before anything is made: the accelerator and the output directory.

use super::*;

// ---- accelerator ------------------------------------------------------------

pub struct Accelerator<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for Accelerator<'_> {
    fn name(&self) -> &'static str {
        "StepAccelerator"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let (accel, note) = accel::resolve(self.cfg.accelerator);
        if let Some(n) = note {
            ctx.ui.say(&n);
        }
        s.accel = accel;
        Ok(())
    }
}

// ---- output directory -------------------------------------------------------

pub struct PrepareOutputDir<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for PrepareOutputDir<'_> {
    fn name(&self) -> &'static str {
        "StepPrepareOutputDir"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let dir = &self.cfg.output_directory;
        // -reuse replaces what kiln made from other inputs (its record says so).
        let stale = ctx.reuse && dir.join(crate::incremental::record::FILE_NAME).is_file();
        if dir.exists() {
            if !ctx.force && !stale {
                return Err(failed(format!("Output directory exists: {}\n\nUse the force flag to delete it prior to building.", dir.display())));
            }
            ctx.ui.say("Deleting previous output directory...");
            std::fs::remove_dir_all(dir)
                .map_err(|e| failed(format!("deleting {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("creating {}: {e}", dir.display())))?;
        s.output_created = true;
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.output_created && !s.succeeded {
            ctx.ui.say("Deleting output directory...");
            let _ = std::fs::remove_dir_all(&self.cfg.output_directory);
        }
    }
}

// ---- UEFI variables ---------------------------------------------------------

/// A copy of the firmware's variables for the guest to write, in the output
/// directory (so the image keeps its boot entries), as the qemu plugin's
/// stepPrepareEfivars makes it. A failed build removes the directory.
pub struct PrepareEfivars<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for PrepareEfivars<'_> {
    fn name(&self) -> &'static str {
        "StepPrepareEfivars"
    }
    async fn run(&self, s: &mut State, _ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(efi) = &self.cfg.efi else {
            return Ok(());
        };
        let dst = self.cfg.output_directory.join("efivars.fd");
        std::fs::copy(&efi.vars, &dst).map_err(|e| {
            failed(format!(
                "failed to copy the efivars file {} to {}: {e}",
                efi.vars.display(),
                dst.display()
            ))
        })?;
        s.efivars = Some(dst);
        Ok(())
    }
}
