//! QMP, qemu's control socket: kiln's own (`-qmp`), for powering the guest
//! down or quitting qemu and for typing the boot command.

use super::*;

/// How long qemu may take to accept, greet or answer (it answers at once
/// unless it is wedged, when the caller goes on to signals).
const ANSWER: Duration = Duration::from_secs(2);

/// A QMP session on qemu's socket, for one command or many.
pub struct Qmp {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    w: tokio::net::unix::OwnedWriteHalf,
}

impl Qmp {
    pub async fn connect(sock: &Path) -> Result<Qmp, String> {
        let stream = tokio::time::timeout(ANSWER, tokio::net::UnixStream::connect(sock))
            .await
            .map_err(|_| "QMP: timeout".to_string())?
            .map_err(|e| format!("QMP: {e}"))?;
        let (r, w) = stream.into_split();
        let mut q = Qmp {
            lines: BufReader::new(r).lines(),
            w,
        };
        q.line().await?;
        q.execute(r#"{"execute":"qmp_capabilities"}"#).await?;
        Ok(q)
    }

    async fn line(&mut self) -> Result<String, String> {
        match tokio::time::timeout(ANSWER, self.lines.next_line()).await {
            Ok(Ok(Some(l))) => Ok(l),
            Ok(Ok(None)) => Err("QMP: qemu closed the connection".into()),
            Ok(Err(e)) => Err(format!("QMP: {e}")),
            Err(_) => Err("QMP: no answer".into()),
        }
    }

    /// Send one command and wait for its answer (events in between are skipped).
    pub async fn execute(&mut self, cmd: &str) -> Result<(), String> {
        self.w
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .map_err(|e| format!("QMP: {e}"))?;
        loop {
            let l = self.line().await?;
            let v: serde_json::Value =
                serde_json::from_str(&l).map_err(|e| format!("QMP: {e}: {l}"))?;
            if v.get("return").is_some() {
                return Ok(());
            }
            if let Some(e) = v.get("error") {
                return Err(format!(
                    "QMP: {}",
                    e.get("desc").and_then(|d| d.as_str()).unwrap_or("error")
                ));
            }
        }
    }
}

/// Send one QMP command (`quit`, `system_powerdown`); best effort.
pub async fn command(sock: &Path, name: &str) -> Result<(), String> {
    Qmp::connect(sock)
        .await?
        .execute(&format!(r#"{{"execute":"{name}"}}"#))
        .await
}
