//! Communicators: how provisioners reach the machine being built.
//!
//! `communicator = "none"` gives no communicator (shell-local and the
//! breakpoint provisioner still run); `communicator = "ssh"` is [`ssh`].

mod login;
mod prompt;
pub mod sftp;
pub mod ssh;
mod tcp;

use crate::plugin::{Field, Kind};

/// Communicator options every builder accepts (Packer's `communicator.Config`).
pub const FIELDS: &[Field] = &[
    Field("communicator", Kind::String),
    Field("pause_before_connecting", Kind::Duration),
    Field("ssh_host", Kind::String),
    Field("ssh_port", Kind::Number),
    Field("ssh_username", Kind::String),
    Field("ssh_password", Kind::String),
    Field("ssh_private_key_file", Kind::String),
    Field("ssh_keypair_name", Kind::String),
    Field("ssh_agent_auth", Kind::Bool),
    Field("ssh_timeout", Kind::Duration),
    Field("ssh_handshake_attempts", Kind::Number),
    Field("ssh_pty", Kind::Bool),
    Field("ssh_keep_alive_interval", Kind::Duration),
    Field("ssh_read_write_timeout", Kind::Duration),
    Field("ssh_disable_agent_forwarding", Kind::Bool),
    Field("ssh_file_transfer_method", Kind::String),
    Field("ssh_ciphers", Kind::Strings),
    Field("ssh_proxy_host", Kind::String),
    Field("ssh_proxy_port", Kind::Number),
    Field("ssh_proxy_username", Kind::String),
    Field("ssh_proxy_password", Kind::String),
    Field("ssh_key_exchange_algorithms", Kind::Strings),
    Field("ssh_bastion_host", Kind::String),
    Field("ssh_bastion_port", Kind::Number),
    Field("ssh_bastion_username", Kind::String),
    Field("ssh_bastion_password", Kind::String),
    Field("ssh_bastion_private_key_file", Kind::String),
    Field("ssh_bastion_agent_auth", Kind::Bool),
    Field("ssh_bastion_certificate_file", Kind::String),
    Field("ssh_bastion_interactive", Kind::Bool),
    Field("ssh_clear_authorized_keys", Kind::Bool),
    Field("ssh_certificate_file", Kind::String),
    Field("ssh_local_tunnels", Kind::Strings),
    Field("ssh_remote_tunnels", Kind::Strings),
    Field("temporary_key_pair_type", Kind::String),
    Field("temporary_key_pair_bits", Kind::Number),
    Field("temporary_key_pair_name", Kind::String),
    Field("winrm_username", Kind::String),
    Field("winrm_password", Kind::String),
    Field("winrm_host", Kind::String),
    Field("winrm_port", Kind::Number),
    Field("winrm_timeout", Kind::Duration),
    Field("winrm_use_ssl", Kind::Bool),
    Field("winrm_insecure", Kind::Bool),
    Field("winrm_use_ntlm", Kind::Bool),
];

/// Checks on the communicator options shared by every builder.
pub fn validate(c: &crate::graph::Config) -> Vec<String> {
    let mut errs = Vec::new();
    match crate::plugin::get_str(c, "communicator").as_deref() {
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
    for (key, what) in [
        ("ssh_local_tunnels", "SSH port forwarding"),
        ("ssh_remote_tunnels", "SSH port forwarding"),
    ] {
        if crate::plugin::is_set(c, key)
            && !(crate::plugin::get_strings(c, key).is_empty()
                && crate::plugin::get_str(c, key).is_none_or(|v| v.is_empty()))
        {
            errs.push(format!("{key} is not supported by kiln yet ({what}); remove it, or use a build that does not need it"));
        }
    }
    for (key, names) in [
        ("ssh_ciphers", ssh::KNOWN_CIPHERS),
        ("ssh_key_exchange_algorithms", ssh::KNOWN_KEX),
    ] {
        if let Err(e) = ssh::algorithms(key, &crate::plugin::get_strings(c, key), names) {
            errs.push(e);
        }
    }
    if crate::plugin::get_str(c, "communicator").as_deref() == Some("ssh")
        && !crate::plugin::is_set(c, "ssh_username")
    {
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
}
