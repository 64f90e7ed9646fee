//! Typing the `boot_command` into the guest once `boot_wait` is over: each
//! key pressed and released through QMP's `input-send-event`, paced by
//! `boot_key_interval` (Packer types the same language over VNC).

use super::qmp::Qmp;
use super::*;
use crate::builder::qemu::bootcommand::{self, Action};

pub struct TypeBootCommand<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for TypeBootCommand<'_> {
    fn name(&self) -> &'static str {
        "StepTypeBootCommand"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        if c.boot_command.is_empty() {
            return Ok(());
        }
        let vars = template_vars(c, s);
        let mut actions = Vec::new();
        for line in &c.boot_command {
            actions.extend(bootcommand::parse(&interpolate(line, &vars)).map_err(failed)?);
        }
        let Some(vm) = s.vm.as_ref() else {
            return Ok(());
        };
        let mut exited = vm.exited.clone();
        // The command may hold secrets (a preseed password): never printed.
        ctx.ui.say("Typing the boot command...");
        let mut qmp = Qmp::connect(&vm.qmp)
            .await
            .map_err(|e| failed(format!("typing the boot command: {e}")))?;
        for a in &actions {
            let mut typed = Ok(());
            for cmd in bootcommand::events(a) {
                if exited.borrow().is_some() {
                    break;
                }
                typed = qmp.execute(&cmd).await;
                if typed.is_err() {
                    break;
                }
            }
            // qemu quitting closes the QMP socket before its exit is seen:
            // a failed key waits a moment to tell that from a real error.
            if typed.is_err() {
                let _ = tokio::time::timeout(
                    std::time::Duration::from_secs(3),
                    exited.wait_for(|v| v.is_some()),
                )
                .await;
            }
            // A guest that powered off (an installer's end) takes no more keys.
            if exited.borrow().is_some() {
                ctx.ui.say("The virtual machine stopped while its boot command was typed; the rest is not typed.");
                return Ok(());
            }
            typed.map_err(|e| failed(format!("typing the boot command: {e}")))?;
            let pause = if let Action::Wait(d) = a {
                *d
            } else {
                c.boot_key_interval
            };
            tokio::select! {
                r = ctx.sleep(pause) => r?,
                _ = exited.wait_for(|v| v.is_some()) => {}
            }
        }
        Ok(())
    }
}
