//! The SSH communicator, on russh (pure Rust; see `docs/ssh.md` for why not
//! the system `ssh` through the openssh crate).
//!
//! Connecting retries until `ssh_timeout` with short, growing pauses; a
//! dropped connection (a rebooting machine, `expect_disconnect`) is
//! re-established on the next use. Commands stream their output line by
//! line; files travel over the exec channel (`cat`, `tar`), which needs
//! nothing on the remote side but a POSIX shell.

use super::login::{authenticate, load_key};
use super::CommunicatorOptions;
use super::{Communicator, Output};
use crate::graph::Config;
use crate::plugin::Options;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::PrivateKey;
use russh::ChannelMsg;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How to log in to one host.
#[derive(Clone)]
pub struct Login {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: Option<String>,
    pub private_key_file: Option<PathBuf>,
    /// A key held in memory (a builder's temporary key pair); never on disk.
    pub private_key: Option<Arc<PrivateKey>>,
    /// `ssh_certificate_file`: an OpenSSH certificate for the private key,
    /// signed by a CA the server trusts (read once, when the settings are).
    pub certificate: Option<russh::keys::Certificate>,
    pub agent_auth: bool,
    /// `ssh_bastion_interactive`: keyboard-interactive, answered on the
    /// terminal ([`super::prompt`]).
    pub interactive: bool,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "{}@{}:{}", self.username, self.host, self.port)
    }
}

/// Packer's SSH options, read from a builder's config.
#[derive(Clone, Debug)]
pub struct Settings {
    pub target: Login,
    pub bastion: Option<Login>,
    pub timeout: Duration,
    pub handshake_attempts: u32,
    pub keep_alive: Duration,
    pub read_write_timeout: Option<Duration>,
    pub pty: bool,
    pub pause_before_connecting: Option<Duration>,
    /// `ssh_file_transfer_method = "sftp"`: files travel over the SFTP
    /// subsystem instead of through a remote shell.
    pub sftp: bool,
    /// `ssh_proxy_host`: the SOCKS5 proxy the first hop goes through.
    pub proxy: Option<Socks>,
    /// `ssh_ciphers`, in the template's order (else kiln's [`CIPHERS`]).
    pub ciphers: Option<Vec<russh::cipher::Name>>,
    /// `ssh_key_exchange_algorithms`, in the template's order (else russh's).
    pub kex: Option<Vec<russh::kex::Name>>,
}

/// A SOCKS5 proxy (`ssh_proxy_*`); the password is the template's secret.
#[derive(Clone)]
pub struct Socks {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl std::fmt::Debug for Socks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socks")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The ciphers `ssh_ciphers` may name: every one russh has but "none".
pub const KNOWN_CIPHERS: &[&str] = &[
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
];

/// The key exchanges `ssh_key_exchange_algorithms` may name: russh's, but "none".
pub const KNOWN_KEX: &[&str] = &[
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group-exchange-sha1",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group17-sha512",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group15-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
    "diffie-hellman-group1-sha1",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
];

/// Check a list of algorithm names against those kiln can speak; `None`
/// when the template sets none (the defaults apply).
pub fn algorithms<'a>(
    key: &str,
    names: &'a [String],
    known: &[&str],
) -> Result<Option<Vec<&'a str>>, String> {
    if names.is_empty() {
        return Ok(None);
    }
    for n in names {
        if !known.contains(&n.as_str()) {
            return Err(format!(
                "{key}: {n:?} is not an algorithm kiln supports; use some of: {}",
                known.join(", ")
            ));
        }
    }
    Ok(Some(names.iter().map(String::as_str).collect()))
}

fn cipher_names(names: &[&str]) -> Vec<russh::cipher::Name> {
    names
        .iter()
        .filter_map(|n| {
            russh::cipher::ALL_CIPHERS
                .iter()
                .find(|c| c.as_ref() == *n)
                .map(|c| **c)
        })
        .collect()
}

/// The template's key exchanges, then the extension markers russh's own
/// list ends with (server-sig-algs, OpenSSH's strict key exchange).
fn kex_names(names: &[&str]) -> Vec<russh::kex::Name> {
    let mut out: Vec<russh::kex::Name> = names
        .iter()
        .filter_map(|n| {
            russh::kex::ALL_KEX_ALGORITHMS
                .iter()
                .find(|k| k.as_ref() == *n)
                .map(|k| **k)
        })
        .collect();
    out.extend([
        russh::kex::EXTENSION_SUPPORT_AS_CLIENT,
        russh::kex::EXTENSION_OPENSSH_STRICT_KEX_AS_CLIENT,
    ]);
    out
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(p),
    }
}

impl Settings {
    /// The settings of a builder config; `host` is the builder's address
    /// when `ssh_host` is not set.
    pub fn from_config(c: &Config, host: Option<String>) -> Result<Settings, String> {
        Self::from_config_with_key(c, host, None)
    }

    /// As [`Settings::from_config`], logging in with `key` (a temporary key
    /// pair the builder made) when the template names no credentials.
    pub fn from_config_with_key(
        c: &Config,
        host: Option<String>,
        key: Option<Arc<PrivateKey>>,
    ) -> Result<Settings, String> {
        let o = CommunicatorOptions::from_config(c)?;
        let host =
            o.ssh_host.filter(|h| !h.is_empty()).or(host).ok_or(
                "a Host must be specified, please reference your communicator documentation",
            )?;
        let username = o.ssh_username.ok_or("An ssh_username must be specified")?;
        let port = tcp_port("ssh_port", o.ssh_port)?;
        let key_file = o.ssh_private_key_file.map(|p| expand_home(&p));
        if let Some(k) = &key_file {
            std::fs::metadata(k)
                .map_err(|e| format!("ssh_private_key_file is invalid: {}: {e}", k.display()))?;
        }
        let certificate = read_certificate(
            o.ssh_certificate_file.as_deref(),
            "ssh_certificate_file",
            key_file.is_some() || key.is_some(),
            "ssh_private_key_file",
        )?;
        let target = Login {
            host,
            port,
            username,
            password: o.ssh_password,
            private_key_file: key_file,
            private_key: key,
            certificate,
            agent_auth: o.ssh_agent_auth,
            interactive: false,
        };
        if target.password.is_none()
            && target.private_key_file.is_none()
            && target.private_key.is_none()
            && !target.agent_auth
        {
            return Err(
                "An ssh_password, ssh_private_key_file or ssh_agent_auth must be specified".into(),
            );
        }
        let bastion = match o.ssh_bastion_host {
            None => None,
            Some(bhost) => {
                let bastion_key = o.ssh_bastion_private_key_file.map(|p| expand_home(&p));
                let certificate = read_certificate(
                    o.ssh_bastion_certificate_file.as_deref(),
                    "ssh_bastion_certificate_file",
                    bastion_key.is_some(),
                    "ssh_bastion_private_key_file",
                )?;
                Some(Login {
                    host: bhost,
                    port: tcp_port("ssh_bastion_port", o.ssh_bastion_port)?,
                    username: o
                        .ssh_bastion_username
                        .unwrap_or_else(|| target.username.clone()),
                    password: o.ssh_bastion_password,
                    private_key_file: bastion_key,
                    private_key: None,
                    certificate,
                    agent_auth: o.ssh_bastion_agent_auth,
                    interactive: o.ssh_bastion_interactive,
                })
            }
        };
        Ok(Settings {
            target,
            bastion,
            timeout: o
                .ssh_wait_timeout
                .filter(|d| !d.is_zero())
                .unwrap_or(o.ssh_timeout),
            handshake_attempts: o.ssh_handshake_attempts.clamp(1, u32::MAX.into()) as u32,
            keep_alive: o.ssh_keep_alive_interval,
            read_write_timeout: o.ssh_read_write_timeout.filter(|d| !d.is_zero()),
            pty: o.ssh_pty,
            pause_before_connecting: o.pause_before_connecting,
            sftp: match o.ssh_file_transfer_method.as_deref() {
                None | Some("") | Some("scp") => false,
                Some("sftp") => true,
                Some(other) => {
                    return Err(format!(
                        "ssh_file_transfer_method ('{other}') is invalid, valid methods: sftp, scp"
                    ))
                }
            },
            proxy: match o.ssh_proxy_host.filter(|h| !h.is_empty()) {
                None => None,
                Some(host) => Some(Socks {
                    host,
                    port: tcp_port("ssh_proxy_port", o.ssh_proxy_port)?,
                    username: o.ssh_proxy_username.filter(|u| !u.is_empty()),
                    password: o.ssh_proxy_password,
                }),
            },
            ciphers: algorithms("ssh_ciphers", &o.ssh_ciphers, KNOWN_CIPHERS)?
                .map(|n| cipher_names(&n)),
            kex: algorithms(
                "ssh_key_exchange_algorithms",
                &o.ssh_key_exchange_algorithms,
                KNOWN_KEX,
            )?
            .map(|n| kex_names(&n)),
        })
    }
}

/// A port option as a TCP port.
fn tcp_port(key: &str, port: i64) -> Result<u16, String> {
    u16::try_from(port).map_err(|_| format!("{key} {port} is not a TCP port"))
}

/// An OpenSSH certificate setting (`ssh_certificate_file`,
/// `ssh_bastion_certificate_file`): it must read as one, and come with the
/// private key it certifies.
fn read_certificate(
    path: Option<&str>,
    key: &str,
    has_private_key: bool,
    private_key_setting: &str,
) -> Result<Option<russh::keys::Certificate>, String> {
    let Some(path) = path.filter(|p| !p.is_empty()).map(expand_home) else {
        return Ok(None);
    };
    let cert = russh::keys::load_openssh_certificate(&path)
        .map_err(|e| format!("{key} is invalid: {}: {e}", path.display()))?;
    if !has_private_key {
        return Err(format!(
            "{key} needs the private key it certifies ({private_key_setting})"
        ));
    }
    Ok(Some(cert))
}

/// Accepts any host key: build machines are new, their keys unknown (as Packer).
pub(super) struct Trusting;

impl client::Handler for Trusting {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// The TCP connection to `host` ([`super::tcp`]: no Nagle, no delayed ACKs).
async fn tcp(host: &str, port: u16) -> Result<super::tcp::Tcp, ConnectError> {
    super::tcp::Tcp::connect(host, port)
        .await
        .map_err(|e| ConnectError::Unreachable(format!("dial tcp {host}:{port}: {e}")))
}

/// The first hop's connection: straight, or through the SOCKS5 proxy. A
/// proxy that refuses the credentials is not retried; one that cannot reach
/// the machine yet is, as a direct connection would be.
async fn dial(
    proxy: Option<&Socks>,
    host: &str,
    port: u16,
) -> Result<super::tcp::Tcp, ConnectError> {
    let Some(p) = proxy else {
        return tcp(host, port).await;
    };
    let via = (p.host.as_str(), p.port);
    let stream = match (&p.username, &p.password) {
        (Some(u), pw) => {
            tokio_socks::tcp::Socks5Stream::connect_with_password(
                via,
                (host, port),
                u,
                pw.as_deref().unwrap_or_default(),
            )
            .await
        }
        (None, _) => tokio_socks::tcp::Socks5Stream::connect(via, (host, port)).await,
    };
    match stream {
        Ok(s) => Ok(super::tcp::Tcp::from_stream(s.into_inner())),
        Err(
            e @ (tokio_socks::Error::PasswordAuthFailure(_)
            | tokio_socks::Error::NoAcceptableAuthMethods),
        ) => Err(ConnectError::Fatal(format!(
            "SOCKS5 proxy {}:{}: {e}",
            p.host, p.port
        ))),
        Err(e) => Err(ConnectError::Unreachable(format!(
            "dial tcp {host}:{port} through the SOCKS5 proxy {}:{}: {e}",
            p.host, p.port
        ))),
    }
}

/// Why one connection attempt failed.
pub(super) enum ConnectError {
    /// The server is not there yet: retry.
    Unreachable(String),
    /// It answered but refused our credentials.
    Auth(String),
    /// It answered, and no retry can change the answer (no algorithm in common).
    Fatal(String),
}

/// A failed handshake: a server that shares no algorithm with kiln's lists
/// will not change its mind, so that ends the wait with both lists; any
/// other failure is retried.
fn handshake_error(e: russh::Error) -> ConnectError {
    match e {
        russh::Error::NoCommonAlgo { kind, ours, theirs } => {
            let kind = format!("{kind:?}").to_lowercase();
            let setting = match kind.as_str() {
                "cipher" => " (ssh_ciphers)",
                "kex" => " (ssh_key_exchange_algorithms)",
                _ => "",
            };
            ConnectError::Fatal(format!("ssh: handshake failed: no common {kind} algorithm; kiln offered [{}]{setting}, the server offered [{}]", ours.join(", "), theirs.join(", ")))
        }
        e => ConnectError::Unreachable(e.to_string()),
    }
}

struct Session {
    handle: Handle<Trusting>,
    /// Kept alive while the target is reached through it.
    _bastion: Option<Handle<Trusting>>,
}

/// A connected SSH communicator.
pub struct Ssh {
    settings: Settings,
    keys: Vec<(Login, Option<Arc<PrivateKey>>)>,
    session: tokio::sync::Mutex<Option<Session>>,
    /// SIGTERMs on their way to commands whose run was dropped (the build
    /// was cancelled): [`Ssh::close`] lets them reach the server first.
    stopping: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

/// Sends the remote command SIGTERM if its run is dropped before it ends,
/// so that a cancelled build does not leave a provisioner's script running
/// on a machine that outlives the build (the null builder's; sshd signals
/// the command's whole process group).
struct StopOnDrop {
    channel: Option<Arc<russh::ChannelWriteHalf<client::Msg>>>,
    stopping: Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl StopOnDrop {
    fn disarm(&mut self) {
        self.channel = None;
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let Some(ch) = self.channel.take() else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let h = rt.spawn(async move {
            let _ = ch.signal(russh::Sig::TERM).await;
        });
        if let Ok(mut v) = self.stopping.lock() {
            v.push(h);
        }
    }
}

/// AES-GCM first: with AES instructions (ring uses them) it moves a 20 MB
/// upload several times faster than ChaCha20-Poly1305, russh's first choice;
/// the server still picks from the whole list.
const CIPHERS: &[russh::cipher::Name] = &[
    russh::cipher::AES_128_GCM,
    russh::cipher::AES_256_GCM,
    russh::cipher::CHACHA20_POLY1305,
    russh::cipher::AES_256_CTR,
    russh::cipher::AES_192_CTR,
    russh::cipher::AES_128_CTR,
];

fn client_config(s: &Settings) -> Arc<client::Config> {
    use std::borrow::Cow;
    let mut preferred = russh::Preferred {
        cipher: Cow::Borrowed(CIPHERS),
        ..Default::default()
    };
    if let Some(c) = &s.ciphers {
        preferred.cipher = Cow::Owned(c.clone());
    }
    if let Some(k) = &s.kex {
        preferred.kex = Cow::Owned(k.clone());
    }
    Arc::new(client::Config {
        keepalive_interval: Some(s.keep_alive).filter(|d| !d.is_zero()),
        keepalive_max: 6,
        inactivity_timeout: None,
        preferred,
        ..Default::default()
    })
}

impl Ssh {
    /// Connect, retrying until `ssh_timeout`; says what it does on `ctx.ui`.
    pub async fn connect(settings: Settings, ctx: &BuildContext) -> Result<Ssh, BuildError> {
        let mut keys = vec![(
            settings.target.clone(),
            load_key(&settings.target).map_err(BuildError::Failed)?,
        )];
        if let Some(b) = &settings.bastion {
            keys.push((b.clone(), load_key(b).map_err(BuildError::Failed)?));
        }
        let ssh = Ssh {
            settings,
            keys,
            session: tokio::sync::Mutex::new(None),
            stopping: Arc::default(),
        };
        if let Some(p) = ssh.settings.pause_before_connecting {
            ctx.ui.say(&format!(
                "Pausing {} before connecting...",
                crate::util::duration::format(p)
            ));
            ctx.sleep(p).await?;
        }
        ctx.ui.say(&format!(
            "Using ssh communicator to connect: {}",
            ssh.settings.target.host
        ));
        ctx.ui.say("Waiting for SSH to become available...");
        let s = ssh.establish(Some(ctx)).await?;
        *ssh.session.lock().await = Some(s);
        ctx.ui.say("Connected to SSH!");
        Ok(ssh)
    }

    async fn try_once(&self) -> Result<Session, ConnectError> {
        let cfg = client_config(&self.settings);
        let unreachable = handshake_error;
        let t = &self.settings.target;
        let tkey = self.keys[0].1.as_ref();
        match &self.settings.bastion {
            None => {
                let mut h = client::connect_stream(
                    cfg,
                    dial(self.settings.proxy.as_ref(), &t.host, t.port).await?,
                    Trusting,
                )
                .await
                .map_err(unreachable)?;
                authenticate(&mut h, t, tkey).await?;
                Ok(Session {
                    handle: h,
                    _bastion: None,
                })
            }
            Some(b) => {
                let mut bh = client::connect_stream(
                    cfg.clone(),
                    dial(self.settings.proxy.as_ref(), &b.host, b.port).await?,
                    Trusting,
                )
                .await
                .map_err(unreachable)?;
                authenticate(&mut bh, b, self.keys.get(1).and_then(|k| k.1.as_ref())).await?;
                let ch = bh
                    .channel_open_direct_tcpip(t.host.clone(), t.port as u32, "127.0.0.1", 0)
                    .await
                    .map_err(unreachable)?;
                let mut h = client::connect_stream(cfg, ch.into_stream(), Trusting)
                    .await
                    .map_err(unreachable)?;
                authenticate(&mut h, t, tkey).await?;
                Ok(Session {
                    handle: h,
                    _bastion: Some(bh),
                })
            }
        }
    }

    /// The retry loop: short, growing pauses until `ssh_timeout`.
    async fn establish(&self, ctx: Option<&BuildContext>) -> Result<Session, BuildError> {
        let deadline = Instant::now() + self.settings.timeout;
        let mut pause = Duration::from_millis(200);
        let mut auth_failures = 0;
        let mut last;
        loop {
            let attempt = tokio::time::timeout(
                Duration::from_secs(30).min(self.settings.timeout.max(Duration::from_secs(1))),
                self.try_once(),
            );
            match attempt.await {
                Ok(Ok(s)) => return Ok(s),
                Ok(Err(ConnectError::Auth(e))) => {
                    auth_failures += 1;
                    if auth_failures >= self.settings.handshake_attempts {
                        return Err(BuildError::Failed(format!("Packer experienced an authentication error when trying to connect via SSH. This can happen if your username/password are wrong. You may want to double-check your credentials as part of your debugging process. original error: {e}")));
                    }
                    last = e;
                }
                Ok(Err(ConnectError::Unreachable(e))) => last = e,
                Ok(Err(ConnectError::Fatal(e))) => return Err(BuildError::Failed(e)),
                Err(_) => last = "connection attempt timed out".into(),
            }
            // Keep trying until the deadline itself: the last pause is cut
            // short so that one attempt is made at it (a machine that
            // answers just before its ssh_timeout is reached).
            let now = Instant::now();
            if now >= deadline {
                return Err(BuildError::Failed(format!(
                    "Timeout waiting for SSH ({} elapsed): last error: {last}",
                    crate::util::duration::format(self.settings.timeout)
                )));
            }
            let wait = pause.min(deadline - now);
            match ctx {
                Some(ctx) => ctx.sleep(wait).await?,
                None => tokio::time::sleep(wait).await,
            }
            pause = (pause * 2).min(Duration::from_secs(5));
        }
    }

    /// Open a session channel, reconnecting first if the connection dropped.
    async fn channel(&self) -> Result<russh::Channel<client::Msg>, String> {
        let mut guard = self.session.lock().await;
        if guard.as_ref().is_none_or(|s| s.handle.is_closed()) {
            *guard = Some(self.establish(None).await.map_err(|e| e.to_string())?);
        }
        let s = guard.as_ref().ok_or("not connected")?;
        match s.handle.channel_open_session().await {
            Ok(c) => Ok(c),
            Err(_) => {
                // A stale connection: one fresh try.
                *guard = Some(self.establish(None).await.map_err(|e| e.to_string())?);
                let s = guard.as_ref().ok_or("not connected")?;
                s.handle
                    .channel_open_session()
                    .await
                    .map_err(|e| format!("opening an SSH channel: {e}"))
            }
        }
    }

    /// An SFTP session on a new channel.
    async fn sftp(&self) -> Result<russh_sftp::client::SftpSession, String> {
        let ch = self.channel().await?;
        ch.request_subsystem(true, "sftp")
            .await
            .map_err(|e| format!("starting the sftp subsystem: {e}"))?;
        russh_sftp::client::SftpSession::new(ch.into_stream())
            .await
            .map_err(|e| format!("starting the sftp subsystem: {e}"))
    }

    /// Run `cmd`, feeding `input` to its stdin; output goes to `out`. Only
    /// provisioners' commands get the pseudo-terminal of `ssh_pty` (as in
    /// Packer): through a terminal, stdin data would be echoed and its end
    /// never seen, so transfers run without one.
    async fn exec(
        &self,
        cmd: &str,
        input: Option<&mut (dyn AsyncRead + Unpin + Send)>,
        sink: Option<&mut (dyn AsyncWrite + Unpin + Send)>,
        out: &mut (dyn for<'o> FnMut(Output<'o>) + Send),
    ) -> Result<i32, String> {
        self.exec_in(false, cmd, input, sink, out).await
    }

    async fn exec_in(
        &self,
        pty: bool,
        cmd: &str,
        input: Option<&mut (dyn AsyncRead + Unpin + Send)>,
        mut sink: Option<&mut (dyn AsyncWrite + Unpin + Send)>,
        out: &mut (dyn for<'o> FnMut(Output<'o>) + Send),
    ) -> Result<i32, String> {
        let ch = self.channel().await?;
        if pty {
            ch.request_pty(false, "vt100", 80, 40, 0, 0, &[])
                .await
                .map_err(|e| e.to_string())?;
        }
        ch.exec(true, cmd)
            .await
            .map_err(|e| format!("starting the command: {e}"))?;
        // Read while writing: the server's window adjustments and output
        // must keep flowing, or a large upload stalls.
        let (mut rd, wr) = ch.split();
        let wr = Arc::new(wr);
        let mut stop = StopOnDrop {
            channel: Some(wr.clone()),
            stopping: self.stopping.clone(),
        };
        let write = async {
            if let Some(input) = input {
                // Large reads, so each SSH packet is as full as the server
                // allows (russh's own `data` copies in 8 KiB pieces).
                let mut rd = tokio::io::BufReader::with_capacity(64 * 1024, input);
                let mut tx = wr.make_writer();
                tokio::io::copy_buf(&mut rd, &mut tx)
                    .await
                    .map_err(|e| format!("sending data: {e}"))?;
                tx.flush().await.map_err(|e| format!("sending data: {e}"))?;
            }
            let _ = wr.eof().await;
            Ok::<(), String>(())
        };
        let (mut obuf, mut ebuf) = (Vec::new(), Vec::new());
        let mut code = None;
        let read = async {
            loop {
                let msg = match self.settings.read_write_timeout {
                    Some(t) => match tokio::time::timeout(t, rd.wait()).await {
                        Ok(m) => m,
                        Err(_) => {
                            return Err(format!(
                                "no data from the remote command for {}",
                                crate::util::duration::format(t)
                            ))
                        }
                    },
                    None => rd.wait().await,
                };
                let Some(msg) = msg else { return Ok(()) };
                match msg {
                    ChannelMsg::Data { data } => match sink.as_mut() {
                        Some(w) => w
                            .write_all(&data)
                            .await
                            .map_err(|e| format!("writing: {e}"))?,
                        None => lines(&mut obuf, &data, &mut |l| out(Output::Stdout(l))),
                    },
                    ChannelMsg::ExtendedData { data, .. } => {
                        lines(&mut ebuf, &data, &mut |l| out(Output::Stderr(l)))
                    }
                    ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status as i32),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        return Err(format!("remote command killed by signal {signal_name:?}"))
                    }
                    _ => {}
                }
            }
        };
        let (w, r) = tokio::join!(write, read);
        stop.disarm();
        if let Err(e) = r {
            flush(&mut obuf, &mut |l| out(Output::Stdout(l)));
            flush(&mut ebuf, &mut |l| out(Output::Stderr(l)));
            return Err(e);
        }
        if let (Err(e), None) = (w, code) {
            return Err(e);
        }
        flush(&mut obuf, &mut |l| out(Output::Stdout(l)));
        flush(&mut ebuf, &mut |l| out(Output::Stderr(l)));
        if let Some(w) = sink {
            w.flush().await.map_err(|e| format!("writing: {e}"))?;
        }
        code.ok_or_else(|| DISCONNECTED.to_string())
    }

    /// Close the connection (a step's cleanup).
    pub async fn close(&self) {
        let stopping: Vec<_> = self
            .stopping
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default();
        for h in stopping {
            let _ = tokio::time::timeout(Duration::from_secs(2), h).await;
        }
        if let Some(s) = self.session.lock().await.take() {
            let _ = s
                .handle
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}

/// Whether an error from `run` means the command never started (no
/// connection, no channel), so running it again is safe.
pub fn did_not_start(e: &str) -> bool {
    e.starts_with("starting the command")
        || e.starts_with("opening an SSH channel")
        || e.starts_with("Timeout waiting for SSH")
        || e == "not connected"
}

/// The error `run` gives when the connection drops before an exit status.
pub const DISCONNECTED: &str = "the remote end closed the connection before the command finished";

fn lines(buf: &mut Vec<u8>, data: &[u8], emit: &mut dyn FnMut(&str)) {
    buf.extend_from_slice(data);
    while let Some(i) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=i).collect();
        let s = String::from_utf8_lossy(&line[..line.len() - 1]);
        emit(s.trim_end_matches('\r'));
    }
}

fn flush(buf: &mut Vec<u8>, emit: &mut dyn FnMut(&str)) {
    if !buf.is_empty() {
        let s = String::from_utf8_lossy(buf).into_owned();
        buf.clear();
        emit(s.trim_end_matches('\r'));
    }
}

/// Quote for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn check(code: i32, what: &str, stderr: &str) -> Result<(), String> {
    if code == 0 {
        Ok(())
    } else {
        Err(format!(
            "{what} failed (exit status {code}){}",
            if stderr.is_empty() {
                String::new()
            } else {
                format!(": {}", stderr.trim())
            }
        ))
    }
}

#[async_trait]
impl Communicator for Ssh {
    async fn open_session(&self) -> Option<Result<russh::Channel<client::Msg>, String>> {
        Some(self.channel().await)
    }

    async fn run(
        &self,
        cmd: &str,
        out: &mut (dyn for<'o> FnMut(Output<'o>) + Send),
    ) -> Result<i32, String> {
        self.exec_in(self.settings.pty, cmd, None, None, out).await
    }

    async fn run_with_input(
        &self,
        cmd: &str,
        input: &[u8],
        out: &mut (dyn for<'o> FnMut(Output<'o>) + Send),
    ) -> Result<i32, String> {
        let mut r: &[u8] = input;
        self.exec(cmd, Some(&mut r), None, out).await
    }

    fn pty(&self) -> bool {
        self.settings.pty
    }

    async fn upload(&self, local: &Path, remote: &str) -> Result<(), String> {
        if self.settings.sftp {
            return super::sftp::upload(&self.sftp().await?, local, remote).await;
        }
        let mut f = tokio::fs::File::open(local)
            .await
            .map_err(|e| format!("reading {}: {e}", local.display()))?;
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            f.metadata()
                .await
                .map(|m| m.permissions().mode() & 0o7777)
                .unwrap_or(0o644)
        };
        #[cfg(not(unix))]
        let mode = 0o644;
        let cmd = format!("cat > {q} && chmod {mode:o} {q}", q = sh_quote(remote));
        let mut err = String::new();
        let code = self
            .exec(&cmd, Some(&mut f), None, &mut |o| {
                if let Output::Stderr(l) = o {
                    err.push_str(l);
                    err.push('\n')
                }
            })
            .await?;
        check(code, &format!("upload to {remote}"), &err)
    }

    async fn upload_bytes(&self, data: &[u8], remote: &str) -> Result<(), String> {
        if self.settings.sftp {
            return super::sftp::upload_bytes(&self.sftp().await?, data, remote).await;
        }
        let cmd = format!("cat > {}", sh_quote(remote));
        let mut r: &[u8] = data;
        let mut err = String::new();
        let code = self
            .exec(&cmd, Some(&mut r), None, &mut |o| {
                if let Output::Stderr(l) = o {
                    err.push_str(l)
                }
            })
            .await?;
        check(code, &format!("upload to {remote}"), &err)
    }

    async fn upload_dir(&self, local: &Path, remote: &str) -> Result<(), String> {
        if self.settings.sftp {
            return super::sftp::upload_dir(&self.sftp().await?, local, remote).await;
        }
        // tar on both ends keeps modes, links and empty directories.
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(local)
            .args(["-cf", "-", "."])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("running tar: {e}"))?;
        let mut stdout = tar.stdout.take().ok_or("tar has no stdout")?;
        let cmd = format!("mkdir -p {q} && tar -C {q} -xf -", q = sh_quote(remote));
        let mut err = String::new();
        let code = self
            .exec(&cmd, Some(&mut stdout), None, &mut |o| {
                if let Output::Stderr(l) = o {
                    err.push_str(l)
                }
            })
            .await?;
        let st = tar.wait().await.map_err(|e| e.to_string())?;
        if !st.success() {
            let mut e = String::new();
            if let Some(mut s) = tar.stderr.take() {
                let _ = s.read_to_string(&mut e).await;
            }
            return Err(format!("tar of {} failed: {}", local.display(), e.trim()));
        }
        check(code, &format!("upload to {remote}"), &err)
    }

    async fn download(&self, remote: &str, local: &Path) -> Result<(), String> {
        // Into a temp file beside the target, renamed when complete.
        let dir = local
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = tempfile::Builder::new()
            .prefix(".kiln-")
            .tempfile_in(dir)
            .map_err(|e| format!("creating a file in {}: {e}", dir.display()))?;
        if self.settings.sftp {
            super::sftp::download(&self.sftp().await?, remote, tmp.path()).await?;
        } else {
            let mut f = tokio::fs::File::from_std(tmp.reopen().map_err(|e| e.to_string())?);
            let mut err = String::new();
            let code = self
                .exec(
                    &format!("cat {}", sh_quote(remote)),
                    None,
                    Some(&mut f),
                    &mut |o| {
                        if let Output::Stderr(l) = o {
                            err.push_str(l)
                        }
                    },
                )
                .await?;
            check(code, &format!("download of {remote}"), &err)?;
            f.sync_all().await.map_err(|e| e.to_string())?;
        }
        tmp.persist(local)
            .map_err(|e| format!("writing {}: {}", local.display(), e.error))?;
        Ok(())
    }

    async fn download_dir(&self, remote: &str, local: &Path) -> Result<(), String> {
        if self.settings.sftp {
            return super::sftp::download_dir(&self.sftp().await?, remote, local).await;
        }
        std::fs::create_dir_all(local).map_err(|e| format!("creating {}: {e}", local.display()))?;
        let mut tar = tokio::process::Command::new("tar")
            .arg("-C")
            .arg(local)
            .args(["-xf", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("running tar: {e}"))?;
        let mut stdin = tar.stdin.take().ok_or("tar has no stdin")?;
        let mut err = String::new();
        let code = self
            .exec(
                &format!("tar -C {} -cf - .", sh_quote(remote)),
                None,
                Some(&mut stdin),
                &mut |o| {
                    if let Output::Stderr(l) = o {
                        err.push_str(l)
                    }
                },
            )
            .await?;
        drop(stdin);
        let st = tar.wait().await.map_err(|e| e.to_string())?;
        check(code, &format!("download of {remote}"), &err)?;
        if !st.success() {
            return Err(format!("unpacking into {} failed", local.display()));
        }
        Ok(())
    }

    async fn is_dir(&self, remote: &str) -> Result<bool, String> {
        if self.settings.sftp {
            return super::sftp::is_dir(&self.sftp().await?, remote).await;
        }
        let code = self
            .exec(
                &format!("test -d {}", sh_quote(remote)),
                None,
                None,
                &mut |_| {},
            )
            .await?;
        Ok(code == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_the_templates_may_use_is_one_russh_speaks() {
        let ciphers: Vec<&str> = KNOWN_CIPHERS.to_vec();
        assert_eq!(cipher_names(&ciphers).len(), KNOWN_CIPHERS.len());
        let kex: Vec<&str> = KNOWN_KEX.to_vec();
        // The template's names, then the two extension markers.
        assert_eq!(kex_names(&kex).len(), KNOWN_KEX.len() + 2);
    }

    #[test]
    fn an_unknown_or_unsafe_algorithm_is_refused_with_the_choices() {
        for bad in ["none", "3des-cbc", "aes128-gcm"] {
            let e = algorithms("ssh_ciphers", &[bad.to_string()], KNOWN_CIPHERS).expect_err(bad);
            assert!(
                e.contains(&format!("{bad:?} is not an algorithm kiln supports"))
                    && e.contains("aes256-ctr"),
                "{e}"
            );
        }
        assert_eq!(algorithms("ssh_ciphers", &[], KNOWN_CIPHERS), Ok(None));
    }
}
