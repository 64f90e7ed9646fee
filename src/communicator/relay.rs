//! A local SSH server on 127.0.0.1 that relays another SSH client's
//! sessions over kiln's own connection to the machine — what Packer's
//! ansible provisioner calls its proxy (`use_proxy`, the default). Ansible
//! then reaches any machine kiln reaches (through a bastion, a SOCKS proxy,
//! a forwarded port), with its own `ssh`, `scp` and `sftp`.
//!
//! Each session channel the client opens becomes a session channel on the
//! upstream connection, with the same pseudo-terminal, environment and
//! request (a command, `scp -t …`, or the `sftp` subsystem); bytes, EOF,
//! the exit status and the close are copied both ways. The relay does not
//! speak SFTP or SCP itself: the machine's own servers answer, so every
//! transfer mode of Ansible works as it does on a direct connection.
//!
//! The server lives as long as [`Relay::serve`]'s work (the
//! `ansible-playbook` run); it accepts one key only, made for the run.

use super::Communicator;
use russh::keys::{PrivateKey, PublicKey};
use russh::server::{self, Auth, Msg, Session};
use russh::{Channel, ChannelId, ChannelMsg, Pty};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// What the client asked a channel to run.
enum What {
    Exec(Vec<u8>),
    Subsystem(String),
    Shell,
}

#[derive(Clone)]
struct PtyRequest {
    term: String,
    cols: u32,
    rows: u32,
    modes: Vec<(Pty, u32)>,
}

/// One channel to open upstream, answered with whether it started.
struct Request {
    what: What,
    pty: Option<PtyRequest>,
    env: Vec<(String, String)>,
    local: Channel<Msg>,
    started: oneshot::Sender<bool>,
}

/// A listening relay: its port, and the key its client must log in with.
pub struct Relay {
    pub port: u16,
    /// The client's key, when made here (written 0600 for it, then removed).
    pub client_key: Option<PrivateKey>,
    authorized: PublicKey,
    /// Run for the `sftp` subsystem instead of the machine's own.
    sftp_command: Option<String>,
    /// The server's host key, for a client that checks it.
    pub host_key: PublicKey,
    listener: Option<TcpListener>,
    config: Arc<server::Config>,
}

impl Relay {
    /// Listen on 127.0.0.1:`port` (0: any free port), with a `host_key`
    /// when given, accepting the `authorized` key (else one made here).
    pub async fn bind(
        port: u16,
        key_type: &str,
        host_key: Option<PrivateKey>,
        authorized: Option<PublicKey>,
        sftp_command: Option<String>,
    ) -> Result<Relay, String> {
        let new_key = || new_key(key_type);
        let host = match host_key {
            Some(k) => k,
            None => new_key().await?,
        };
        let client_key = match authorized {
            Some(_) => None,
            None => Some(new_key().await?),
        };
        let authorized = match (&authorized, &client_key) {
            (Some(k), _) => k.clone(),
            (None, Some(k)) => k.public_key().clone(),
            (None, None) => return Err("no key to accept".into()),
        };
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| format!("the relay for Ansible cannot listen on 127.0.0.1:{port}: {e}"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let config = server::Config {
            methods: russh::MethodSet::from(&[russh::MethodKind::PublicKey][..]),
            auth_rejection_time: std::time::Duration::from_millis(50),
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            keys: vec![host.clone()],
            nodelay: true,
            ..Default::default()
        };
        Ok(Relay {
            port,
            host_key: host.public_key().clone(),
            client_key,
            authorized,
            sftp_command,
            listener: Some(listener),
            config: Arc::new(config),
        })
    }

    /// Relay every session of every client over `comm` while `work` runs;
    /// `work`'s output. The listener and every relayed channel end with it.
    pub async fn serve<F: std::future::Future>(
        &mut self,
        comm: &dyn Communicator,
        work: F,
    ) -> F::Output {
        let (tx, mut rx) = mpsc::channel::<Request>(16);
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(listener) = self.listener.take() {
            let config = self.config.clone();
            let authorized = self.authorized.clone();
            tasks.spawn(async move {
                let mut sessions = tokio::task::JoinSet::new();
                while let Ok((stream, _)) = listener.accept().await {
                    let _ = stream.set_nodelay(true);
                    let conn = Conn {
                        requests: tx.clone(),
                        authorized: authorized.clone(),
                        channels: HashMap::new(),
                        ptys: HashMap::new(),
                        envs: HashMap::new(),
                    };
                    let config = config.clone();
                    sessions.spawn(async move {
                        if let Ok(s) = server::run_stream(config, stream, conn).await {
                            let _ = s.await;
                        }
                    });
                }
            });
        }
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => {
                    tasks.abort_all();
                    return out;
                }
                Some(mut req) = rx.recv() => {
                    if let (What::Subsystem(name), Some(cmd)) = (&req.what, &self.sftp_command) {
                        if name == "sftp" {
                            req.what = What::Exec(cmd.clone().into_bytes());
                        }
                    }
                    if let Some(pump) = open_upstream(comm, req).await {
                        tasks.spawn(pump);
                    }
                }
            }
        }
    }
}

/// A key of the plugin's `ansible_proxy_key_type` (RSA: 2048 bits, made
/// off the runtime's threads).
async fn new_key(kind: &str) -> Result<PrivateKey, String> {
    use russh::keys::ssh_key::private::{EcdsaKeypair, Ed25519Keypair, RsaKeypair};
    Ok(match kind {
        "ECDSA" => PrivateKey::from(
            EcdsaKeypair::random(
                &mut crate::util::ssh_rng(),
                russh::keys::ssh_key::EcdsaCurve::NistP256,
            )
            .map_err(|e| format!("making an ECDSA key: {e}"))?,
        ),
        "RSA" => PrivateKey::from(
            tokio::task::spawn_blocking(|| RsaKeypair::random(&mut crate::util::ssh_rng(), 2048))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("making an RSA key: {e}"))?,
        ),
        _ => PrivateKey::from(Ed25519Keypair::random(&mut crate::util::ssh_rng())),
    })
}

/// Open the upstream channel for `req`; answer whether it started, and
/// give the task that copies between the two channels.
async fn open_upstream(
    comm: &dyn Communicator,
    req: Request,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let up = match comm.open_session().await {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            tracing::debug!("relay: opening a channel upstream: {e}");
            let _ = req.started.send(false);
            return None;
        }
        None => {
            let _ = req.started.send(false);
            return None;
        }
    };
    let mut up = up;
    let ok = start_upstream(&mut up, &req).await.unwrap_or(false);
    let _ = req.started.send(ok);
    if !ok {
        let _ = up.close().await;
        return None;
    }
    Some(pump(req.local, up))
}

async fn start_upstream(
    up: &mut Channel<russh::client::Msg>,
    req: &Request,
) -> Result<bool, russh::Error> {
    tracing::debug!(
        "relay: {}",
        match &req.what {
            What::Exec(cmd) => format!("exec {}", String::from_utf8_lossy(cmd)),
            What::Subsystem(name) => format!("subsystem {name}"),
            What::Shell => "shell".to_string(),
        }
    );
    if let Some(p) = &req.pty {
        up.request_pty(true, &p.term, p.cols, p.rows, 0, 0, &p.modes)
            .await?;
        if !answered(up).await {
            return Ok(false);
        }
    }
    for (k, v) in &req.env {
        // sshd accepts only what its AcceptEnv names: as for any client.
        up.set_env(false, k.as_str(), v.as_str()).await?;
    }
    match &req.what {
        What::Exec(cmd) => up.exec(true, cmd.clone()).await?,
        What::Subsystem(name) => up.request_subsystem(true, name.as_str()).await?,
        What::Shell => up.request_shell(true).await?,
    }
    Ok(answered(up).await)
}

/// Wait for the answer to a request sent with `want_reply`.
async fn answered(up: &mut Channel<russh::client::Msg>) -> bool {
    loop {
        match up.wait().await {
            Some(ChannelMsg::Success) => return true,
            Some(ChannelMsg::Failure) | Some(ChannelMsg::Close) | None => return false,
            Some(_) => continue,
        }
    }
}

/// Copy between the client's channel and the machine's until either
/// closes: data both ways, stderr, EOF, the exit status.
///
/// The machine's EOF is held back until its exit status has been passed
/// on (or for a moment): sshd sends EOF first, and an OpenSSH client that
/// has both EOFs closes the channel at once; the exit status would then
/// reach a channel already closed here, and the client would report 255
/// (scp and Ansible read that as a failed transfer).
async fn pump(local: Channel<Msg>, up: Channel<russh::client::Msg>) {
    const EOF_HOLD: std::time::Duration = std::time::Duration::from_secs(1);
    let (mut lr, lw) = local.split();
    let (mut ur, uw) = up.split();
    let mut local_open = true;
    let mut eof_sent = false;
    let mut eof_due: Option<tokio::time::Instant> = None;
    loop {
        let hold = async {
            match eof_due {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            m = lr.wait(), if local_open => match m {
                Some(ChannelMsg::Data { data }) => {
                    if uw.data(&data[..]).await.is_err() {
                        break;
                    }
                }
                Some(ChannelMsg::Eof) => {
                    let _ = uw.eof().await;
                }
                Some(ChannelMsg::WindowChange { col_width, row_height, pix_width, pix_height }) => {
                    let _ = uw.window_change(col_width, row_height, pix_width, pix_height).await;
                }
                Some(ChannelMsg::Signal { signal }) => {
                    let _ = uw.signal(signal).await;
                }
                Some(ChannelMsg::Close) | None => {
                    local_open = false;
                    let _ = uw.close().await;
                }
                Some(_) => {}
            },
            _ = hold => {
                eof_due = None;
                eof_sent = true;
                let _ = lw.eof().await;
            }
            m = ur.wait() => match m {
                Some(ChannelMsg::Data { data }) => {
                    if lw.data(&data[..]).await.is_err() {
                        break;
                    }
                }
                Some(ChannelMsg::ExtendedData { data, ext }) => {
                    let _ = lw.extended_data(ext, &data[..]).await;
                }
                Some(ChannelMsg::Eof) => {
                    eof_due = Some(tokio::time::Instant::now() + EOF_HOLD);
                }
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    let _ = lw.exit_status(exit_status).await;
                    if eof_due.take().is_some() {
                        eof_sent = true;
                        let _ = lw.eof().await;
                    }
                }
                Some(ChannelMsg::ExitSignal { .. }) => {
                    // As OpenSSH's client reports a remote signal.
                    let _ = lw.exit_status(255).await;
                    if eof_due.take().is_some() {
                        eof_sent = true;
                        let _ = lw.eof().await;
                    }
                }
                Some(ChannelMsg::Close) | None => {
                    if !eof_sent {
                        let _ = lw.eof().await;
                    }
                    let _ = lw.close().await;
                    break;
                }
                Some(_) => {}
            },
        }
    }
}

/// One client connection's handler: its channels until they are started.
struct Conn {
    requests: mpsc::Sender<Request>,
    authorized: PublicKey,
    channels: HashMap<ChannelId, Channel<Msg>>,
    ptys: HashMap<ChannelId, PtyRequest>,
    envs: HashMap<ChannelId, Vec<(String, String)>>,
}

impl Conn {
    async fn start(
        &mut self,
        id: ChannelId,
        what: What,
        session: &mut Session,
    ) -> Result<(), russh::Error> {
        let Some(local) = self.channels.remove(&id) else {
            return session.channel_failure(id);
        };
        let (tx, rx) = oneshot::channel();
        let req = Request {
            what,
            pty: self.ptys.remove(&id),
            env: self.envs.remove(&id).unwrap_or_default(),
            local,
            started: tx,
        };
        if self.requests.send(req).await.is_err() {
            return session.channel_failure(id);
        }
        if rx.await.unwrap_or(false) {
            session.channel_success(id)
        } else {
            session.channel_failure(id)
        }
    }
}

impl server::Handler for Conn {
    type Error = russh::Error;

    async fn auth_publickey(
        &mut self,
        _user: &str,
        key: server::VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if key.public_key.key_data() == self.authorized.key_data() {
            Ok(Auth::Accept)
        } else {
            Ok(Auth::reject())
        }
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: server::ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        _pix_width: u32,
        _pix_height: u32,
        modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.ptys.insert(
            channel,
            PtyRequest {
                term: term.to_string(),
                cols: col_width,
                rows: row_height,
                modes: modes.to_vec(),
            },
        );
        session.channel_success(channel)
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.envs
            .entry(channel)
            .or_default()
            .push((name.to_string(), value.to_string()));
        session.channel_success(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, What::Exec(data.to_vec()), session)
            .await
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, What::Subsystem(name.to_string()), session)
            .await
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, What::Shell, session).await
    }
}
