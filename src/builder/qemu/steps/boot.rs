//! Typing the `boot_command` into the guest once `boot_wait` is over: each
//! key pressed and released through QMP's `input-send-event`, paced by
//! `boot_key_interval` (Packer types the same language over VNC).

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
        let Some(vm) = s.vm.as_ref() else { return Ok(()) };
        let mut exited = vm.exited.clone();
        // The command may hold secrets (a preseed password): never printed.
        ctx.ui.say("Typing the boot command...");
        let mut qmp = Qmp::connect(&vm.qmp).await.map_err(|e| failed(format!("typing the boot command: {e}")))?;
        for a in &actions {
            if exited.borrow().is_some() {
                ctx.ui.say("The virtual machine stopped while its boot command was typed; the rest is not typed.");
                return Ok(());
            }
            let pause = match a {
                Action::Wait(d) => *d,
                _ => {
                    for cmd in bootcommand::events(a) {
                        if let Err(e) = qmp.execute(&cmd).await {
                            if exited.borrow().is_some() {
                                ctx.ui.say("The virtual machine stopped while its boot command was typed; the rest is not typed.");
                                return Ok(());
                            }
                            return Err(failed(format!("typing the boot command: {e}")));
                        }
                    }
                    c.boot_key_interval
                }
            };
            tokio::select! {
                r = ctx.sleep(pause) => r?,
                _ = exited.wait_for(|v| v.is_some()) => {}
            }
        }
        Ok(())
    }
}

/// A QMP session on qemu's socket, for many commands.
struct Qmp {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    w: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    async fn connect(sock: &Path) -> Result<Qmp, String> {
        let stream = tokio::time::timeout(Duration::from_secs(5), tokio::net::UnixStream::connect(sock)).await.map_err(|_| "QMP: timeout".to_string())?.map_err(|e| format!("QMP: {e}"))?;
        let (r, w) = stream.into_split();
        let mut q = Qmp { lines: BufReader::new(r).lines(), w };
        q.line().await?;
        q.execute(r#"{"execute":"qmp_capabilities"}"#).await?;
        Ok(q)
    }

    async fn line(&mut self) -> Result<String, String> {
        match tokio::time::timeout(Duration::from_secs(5), self.lines.next_line()).await {
            Ok(Ok(Some(l))) => Ok(l),
            Ok(Ok(None)) => Err("QMP: qemu closed the connection".into()),
            Ok(Err(e)) => Err(format!("QMP: {e}")),
            Err(_) => Err("QMP: no answer".into()),
        }
    }

    /// Send one command and wait for its answer (events in between are skipped).
    async fn execute(&mut self, cmd: &str) -> Result<(), String> {
        self.w.write_all(format!("{cmd}\n").as_bytes()).await.map_err(|e| format!("QMP: {e}"))?;
        loop {
            let l = self.line().await?;
            let v: serde_json::Value = serde_json::from_str(&l).map_err(|e| format!("QMP: {e}: {l}"))?;
            if v.get("return").is_some() {
                return Ok(());
            }
            if let Some(e) = v.get("error") {
                return Err(format!("QMP: {}", e.get("desc").and_then(|d| d.as_str()).unwrap_or("error")));
            }
        }
    }
}
