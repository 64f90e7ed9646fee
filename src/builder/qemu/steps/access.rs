//! How kiln reaches the guest: a temporary SSH key, the HTTP server for
//! boot-time files, the forwarded SSH port.

use super::*;

// ---- temporary key pair --------------------------------------------------------

pub struct TempKey<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for TempKey<'_> {
    fn name(&self) -> &'static str {
        "StepSSHKeyGen"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        use crate::plugin::Options;
        let c =
            crate::communicator::CommunicatorOptions::from_config(&self.cfg.raw).map_err(failed)?;
        if self.cfg.communicator_none
            || c.ssh_password.is_some()
            || c.ssh_private_key_file.is_some()
            || c.ssh_agent_auth
        {
            return Ok(());
        }
        let kind = c
            .temporary_key_pair_type
            .unwrap_or_else(|| "ed25519".into());
        ctx.ui.say(&format!(
            "Creating temporary {kind} SSH key for instance..."
        ));
        let key = match kind.as_str() {
            "ed25519" => PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::random(
                &mut crate::util::ssh_rng(),
            )),
            "rsa" => {
                let bits = c.temporary_key_pair_bits.unwrap_or(4096);
                let bits = usize::try_from(bits)
                    .ok()
                    .filter(|b| *b >= 2048)
                    .ok_or(failed(format!(
                        "temporary_key_pair_bits {bits}: RSA keys need at least 2048 bits"
                    )))?;
                let pair = tokio::task::spawn_blocking(move || {
                    russh::keys::ssh_key::private::RsaKeypair::random(
                        &mut crate::util::ssh_rng(),
                        bits,
                    )
                })
                .await
                .map_err(|e| failed(e.to_string()))?
                .map_err(|e| failed(format!("generating an RSA key: {e}")))?;
                PrivateKey::from(pair)
            }
            other => {
                return Err(failed(format!(
                    "temporary_key_pair_type {other:?}: use \"rsa\" or \"ed25519\""
                )))
            }
        };
        let public = key
            .public_key()
            .to_openssh()
            .map_err(|e| failed(e.to_string()))?;
        ctx.set_generated("SSHPublicKey", public);
        s.key = Some(Arc::new(key));
        Ok(())
    }
}

// ---- HTTP server ---------------------------------------------------------------

pub struct HttpServer<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for HttpServer<'_> {
    fn name(&self) -> &'static str {
        "StepHTTPServer"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let content = match (&self.cfg.http_directory, self.cfg.http_content.is_empty()) {
            (Some(d), _) => http::Content::Directory(d.clone()),
            (None, false) => http::Content::Files(Arc::new(
                self.cfg
                    .http_content
                    .iter()
                    .map(|(k, v)| {
                        (
                            if k.starts_with('/') {
                                k.clone()
                            } else {
                                format!("/{k}")
                            },
                            v.clone(),
                        )
                    })
                    .collect(),
            )),
            (None, true) => return Ok(()),
        };
        let server = http::start(content, self.cfg.http_port_range).await?;
        ctx.ui
            .say(&format!("Starting HTTP server on port {}", server.port));
        ctx.set_generated("PackerHTTPIP", GUEST_HTTP_IP);
        ctx.set_generated("PackerHTTPPort", server.port.to_string());
        ctx.set_generated("PackerHTTPAddr", format!("{GUEST_HTTP_IP}:{}", server.port));
        s.http = Some(server);
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, _ctx: &BuildContext) {
        s.http = None;
    }
}

// ---- port forward ----------------------------------------------------------------

pub struct PortForward<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for PortForward<'_> {
    fn name(&self) -> &'static str {
        "StepPortForward"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if self.cfg.communicator_none {
            return Ok(());
        }
        let (lo, hi) = self.cfg.ssh_port_range;
        ctx.ui.say(&format!(
            "Looking for available communicator (SSH, WinRM, etc) port between {lo} and {hi}"
        ));
        // Start at a random offset so parallel builds rarely race for one port.
        let span = u32::from(hi - lo) + 1;
        let start = (std::process::id() ^ uuid::Uuid::new_v4().as_u128() as u32) % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                s.host_port = port;
                ctx.set_generated("SSHHostPort", port.to_string());
                ctx.ui
                    .say(&format!("Found available port: {port} on IP: 127.0.0.1"));
                return Ok(());
            }
        }
        Err(failed(format!(
            "no free port between {lo} and {hi} on 127.0.0.1"
        )))
    }
}
