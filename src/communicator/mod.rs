//! Communicators: how provisioners reach the machine being built.
//!
//! `communicator = "none"` gives no communicator (shell-local and the
//! breakpoint provisioner still run); `communicator = "ssh"` is [`ssh`].

mod login;
mod prompt;
pub mod relay;
pub mod sftp;
pub mod ssh;
mod tcp;

use crate::plugin::{Field, Options};
use std::time::Duration;

/// Communicator options every builder accepts (Packer's
/// `communicator.Config`).
#[derive(Options)]
pub struct CommunicatorOptions {
    /// `ssh` (the default for machines), `none`, or `winrm` (not built).
    pub communicator: Option<String>,
    /// A wait before the first connection attempt.
    pub pause_before_connecting: Option<Duration>,
    /// The address to connect to (else the builder's).
    pub ssh_host: Option<String>,
    /// The SSH port.
    #[option(default = 22)]
    pub ssh_port: i64,
    pub ssh_username: Option<String>,
    pub ssh_password: Option<String>,
    pub ssh_private_key_file: Option<String>,
    /// An existing key pair the builder launches the machine with.
    pub ssh_keypair_name: Option<String>,
    /// Log in with the keys of the local SSH agent.
    pub ssh_agent_auth: bool,
    /// How long to keep trying to connect.
    #[option(default = Duration::from_secs(300))]
    pub ssh_timeout: Duration,
    /// `ssh_timeout`'s old name, still in many templates; wins when set, as in Packer.
    pub ssh_wait_timeout: Option<Duration>,
    /// Authentication failures allowed before giving up.
    #[option(default = 10)]
    pub ssh_handshake_attempts: i64,
    /// Run provisioners' commands in a pseudo-terminal.
    pub ssh_pty: bool,
    #[option(default = Duration::from_secs(5))]
    pub ssh_keep_alive_interval: Duration,
    pub ssh_read_write_timeout: Option<Duration>,
    /// Always true in kiln: the agent is never forwarded.
    pub ssh_disable_agent_forwarding: bool,
    /// `scp` (the default) or `sftp`.
    pub ssh_file_transfer_method: Option<String>,
    pub ssh_ciphers: Vec<String>,
    /// A SOCKS5 proxy in front of the connection.
    pub ssh_proxy_host: Option<String>,
    #[option(default = 1080)]
    pub ssh_proxy_port: i64,
    pub ssh_proxy_username: Option<String>,
    pub ssh_proxy_password: Option<String>,
    pub ssh_key_exchange_algorithms: Vec<String>,
    /// A bastion host the connection goes through.
    pub ssh_bastion_host: Option<String>,
    #[option(default = 22)]
    pub ssh_bastion_port: i64,
    /// The bastion's user (else `ssh_username`).
    pub ssh_bastion_username: Option<String>,
    pub ssh_bastion_password: Option<String>,
    pub ssh_bastion_private_key_file: Option<String>,
    pub ssh_bastion_agent_auth: bool,
    pub ssh_bastion_certificate_file: Option<String>,
    /// Answer the bastion's keyboard-interactive questions on the terminal.
    pub ssh_bastion_interactive: bool,
    /// Remove the temporary key from `authorized_keys` at the end.
    pub ssh_clear_authorized_keys: bool,
    pub ssh_certificate_file: Option<String>,
    /// Not built yet: refused by `validate`.
    pub ssh_local_tunnels: Vec<String>,
    /// Not built yet: refused by `validate`.
    pub ssh_remote_tunnels: Vec<String>,
    /// `ed25519` or `rsa`, for a key pair the builder makes.
    pub temporary_key_pair_type: Option<String>,
    /// RSA key size.
    pub temporary_key_pair_bits: Option<i64>,
    pub temporary_key_pair_name: Option<String>,
    pub winrm_username: Option<String>,
    pub winrm_password: Option<String>,
    pub winrm_host: Option<String>,
    pub winrm_port: Option<i64>,
    pub winrm_timeout: Option<Duration>,
    pub winrm_use_ssl: bool,
    pub winrm_insecure: bool,
    pub winrm_use_ntlm: bool,
}

pub const FIELDS: &[Field] = CommunicatorOptions::FIELDS;

/// Checks on the communicator options shared by every builder.
pub fn validate(c: &crate::graph::Config) -> Vec<String> {
    match CommunicatorOptions::from_config(c) {
        Ok(o) => check(&o),
        Err(e) => vec![e],
    }
}

/// [`validate`]'s checks, for a builder that has read the options already.
pub fn check(o: &CommunicatorOptions) -> Vec<String> {
    let mut errs = Vec::new();
    match o.communicator.as_deref() {
        None | Some("none") | Some("ssh") => {}
        Some("winrm") => {
            errs.push("communicator \"winrm\" is not supported by kiln yet".to_string())
        }
        Some(other) => errs.push(format!(
            "unknown communicator type {other:?}; valid values are \"ssh\" and \"none\""
        )),
    }
    // Accepted by name (Packer templates set them) but not built yet: said,
    // rather than left without effect.
    for (key, value) in [
        ("ssh_local_tunnels", &o.ssh_local_tunnels),
        ("ssh_remote_tunnels", &o.ssh_remote_tunnels),
    ] {
        if value.iter().any(|t| !t.is_empty()) {
            errs.push(format!("{key} is not supported by kiln yet (SSH port forwarding); remove it, or use a build that does not need it"));
        }
    }
    for (key, value, names) in [
        ("ssh_ciphers", &o.ssh_ciphers, ssh::KNOWN_CIPHERS),
        (
            "ssh_key_exchange_algorithms",
            &o.ssh_key_exchange_algorithms,
            ssh::KNOWN_KEX,
        ),
    ] {
        if let Err(e) = ssh::algorithms(key, value, names) {
            errs.push(e);
        }
    }
    if o.communicator.as_deref() == Some("ssh") && o.ssh_username.is_none() {
        errs.push("An ssh_username must be specified\n  Note: some builders used to default ssh_username to \"root\".".into());
    }
    errs
}

use async_trait::async_trait;
use std::path::Path;

/// A line of remote output.
pub enum Output<'a> {
    Stdout(&'a str),
    Stderr(&'a str),
}

/// How provisioners reach the machine being built.
#[async_trait]
pub trait Communicator: Send + Sync {
    /// Run a command, streaming its output line by line; the exit status.
    async fn run(
        &self,
        cmd: &str,
        out: &mut (dyn for<'o> FnMut(Output<'o>) + Send),
    ) -> Result<i32, String>;
    /// Run a command with `input` on its stdin (never in a pseudo-terminal).
    async fn run_with_input(
        &self,
        cmd: &str,
        input: &[u8],
        out: &mut (dyn for<'o> FnMut(Output<'o>) + Send),
    ) -> Result<i32, String>;
    /// Upload one file (its mode kept) to the path `remote`.
    async fn upload(&self, local: &Path, remote: &str) -> Result<(), String>;
    /// Write `data` to the file `remote`.
    async fn upload_bytes(&self, data: &[u8], remote: &str) -> Result<(), String>;
    /// Copy the contents of the directory `local` into `remote` (created).
    async fn upload_dir(&self, local: &Path, remote: &str) -> Result<(), String>;
    /// Download one file.
    async fn download(&self, remote: &str, local: &Path) -> Result<(), String>;
    /// Copy the contents of the remote directory into `local` (created).
    async fn download_dir(&self, remote: &str, local: &Path) -> Result<(), String>;
    /// Whether `remote` is a directory.
    async fn is_dir(&self, remote: &str) -> Result<bool, String>;
    /// Whether `run` gives commands a pseudo-terminal (`ssh_pty`).
    fn pty(&self) -> bool {
        false
    }
    /// A new session channel on the connection, to relay another SSH
    /// client's session over it ([`relay`]); `None`: not an SSH connection.
    async fn open_session(&self) -> Option<Result<russh::Channel<russh::client::Msg>, String>> {
        None
    }
}
