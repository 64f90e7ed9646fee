//! ansible: run `ansible-playbook` on this machine against the machine
//! being built, as packer-plugin-ansible does: an inventory naming the
//! machine (`host_alias`, `groups`, `empty_groups`), the build's SSH login
//! (its private key written to a 0600 file for the run), Packer's extra
//! variables, `ansible_env_vars`, `extra_arguments`, a `galaxy_file`
//! installed first; Ansible's output streams live and its exit status
//! decides.
//!
//! Two ways to reach the machine, as in Packer: `use_proxy = true` (the
//! default) serves a local SSH endpoint on 127.0.0.1 that relays Ansible's
//! sessions — commands, SCP and SFTP — over kiln's own connection
//! ([`crate::communicator::relay`]), so Ansible reaches whatever kiln
//! reaches (through a bastion too) with a key made for the run;
//! `use_proxy = false` connects Ansible straight to the machine with the
//! build's SSH settings.

use super::Provisioner;
use crate::communicator::relay::Relay;
use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::io::Write;
use std::path::PathBuf;

/// The ansible provisioner's options (the plugin's names).
#[derive(Options)]
#[allow(dead_code)] // the no_effect options are declared, never read
pub struct AnsibleOptions {
    /// The playbook to run.
    playbook_file: Option<String>,
    /// The program that runs it.
    #[option(default = "ansible-playbook")]
    command: String,
    /// More arguments for `ansible-playbook`, before the inventory.
    extra_arguments: Vec<String>,
    /// `KEY=value` pairs in Ansible's environment.
    ansible_env_vars: Vec<String>,
    /// Arguments for ssh (`--ssh-extra-args`); default `-o IdentitiesOnly=yes`.
    ansible_ssh_extra_args: Vec<String>,
    /// Inventory groups the machine is in.
    groups: Vec<String>,
    /// Inventory groups with no hosts.
    empty_groups: Vec<String>,
    /// The machine's name in the inventory.
    #[option(default = "default")]
    host_alias: String,
    /// The user Ansible logs in as; default the build's SSH user.
    user: Option<String>,
    /// An inventory of the template's own (no inventory is written).
    inventory_file: Option<String>,
    /// Where the written inventory goes (else a temporary file).
    inventory_directory: Option<String>,
    /// Leave the written inventory in place.
    keep_inventory_file: bool,
    /// Roles and collections to install first (`ansible-galaxy`).
    galaxy_file: Option<String>,
    #[option(default = "ansible-galaxy")]
    galaxy_command: String,
    galaxy_force_install: bool,
    /// `--force-with-deps` for `ansible-galaxy`.
    galaxy_force_with_deps: bool,
    roles_path: Option<String>,
    collections_path: Option<String>,
    /// Relay Ansible through kiln's connection (see the module's doc).
    use_proxy: Option<bool>,
    /// The relay's port on 127.0.0.1 (default: any free one).
    local_port: Option<i64>,
    /// What the relay runs on the machine for Ansible's SFTP (default:
    /// the machine's own `sftp` subsystem).
    sftp_command: Option<String>,
    /// Ansible transfers files with SFTP through the relay (default: SCP).
    use_sftp: bool,
    /// The relay's host key (default: one made for the run).
    ssh_host_key_file: Option<String>,
    /// The public key Ansible logs in to the relay with (default: a key
    /// made for the run, handed to Ansible as `--private-key`).
    ssh_authorized_key_file: Option<String>,
    /// The relay's keys: ED25519 (kiln's default), ECDSA or RSA.
    ansible_proxy_key_type: Option<String>,
    /// The inventory's host line, a template over `HostAlias`, `Host`,
    /// `Port`, `User` and the build's values.
    inventory_file_template: Option<String>,
    #[option(no_effect = "kiln does not check Ansible's version")]
    skip_version_check: bool,
    #[option(no_effect = "WinRM is not supported: kiln builds Linux machines over SSH")]
    ansible_winrm_use_http: bool,
}

pub const FIELDS: &[Field] = AnsibleOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    let o = match AnsibleOptions::from_config(c) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    let mut errs = Vec::new();
    match o.playbook_file.as_deref().filter(|p| !p.is_empty()) {
        None => errs.push("playbook_file: is required".to_string()),
        Some(p) if !std::path::Path::new(p).is_file() => {
            errs.push(format!("playbook_file: {p} is invalid: it is not a file"))
        }
        Some(_) => {}
    }
    for (k, v) in [
        ("galaxy_file", &o.galaxy_file),
        ("inventory_file", &o.inventory_file),
    ] {
        if let Some(p) = v.as_deref().filter(|p| !p.is_empty()) {
            if !std::path::Path::new(p).exists() {
                errs.push(format!("{k}: {p} is invalid: it does not exist"));
            }
        }
    }
    for (k, v) in [
        ("ssh_host_key_file", &o.ssh_host_key_file),
        ("ssh_authorized_key_file", &o.ssh_authorized_key_file),
    ] {
        if let Some(p) = v.as_deref().filter(|p| !p.is_empty()) {
            if !std::path::Path::new(p).is_file() {
                errs.push(format!("{k}: {p} is invalid: it is not a file"));
            }
        }
    }
    if let Some(t) = o.ansible_proxy_key_type.as_deref() {
        if !["ED25519", "ECDSA", "RSA"].contains(&t.to_ascii_uppercase().as_str()) {
            errs.push(format!(
                "ansible_proxy_key_type: {t:?} is not one of ED25519, ECDSA, RSA"
            ));
        }
    }
    if let Some(p) = o.local_port {
        if !(0..=65535).contains(&p) {
            errs.push(format!("local_port: {p} is not a port (0 to 65535)"));
        }
    }
    for kv in &o.ansible_env_vars {
        if !kv.contains('=') {
            errs.push(format!("ansible_env_vars: {kv:?} is not KEY=value"));
        }
    }
    errs
}

pub struct Ansible {
    o: AnsibleOptions,
}

impl Ansible {
    pub fn new(c: &Config) -> Result<Ansible, String> {
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        Ok(Ansible {
            o: AnsibleOptions::from_config(c)?,
        })
    }

    /// The relay Ansible connects to (`use_proxy`), with the template's
    /// port, host key and authorized key where it gives them.
    async fn relay(&self) -> Result<Relay, String> {
        let host_key = match self
            .o
            .ssh_host_key_file
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            Some(p) => Some(
                russh::keys::load_secret_key(p, None)
                    .map_err(|e| format!("ssh_host_key_file {p}: {e}"))?,
            ),
            None => None,
        };
        let authorized = match self
            .o
            .ssh_authorized_key_file
            .as_deref()
            .filter(|p| !p.is_empty())
        {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("ssh_authorized_key_file {p}: {e}"))?;
                Some(
                    russh::keys::PublicKey::from_openssh(text.trim())
                        .map_err(|e| format!("ssh_authorized_key_file {p}: {e}"))?,
                )
            }
            None => None,
        };
        let port = self.o.local_port.unwrap_or(0).clamp(0, 65535) as u16;
        let kind = self
            .o
            .ansible_proxy_key_type
            .clone()
            .unwrap_or_else(|| "ED25519".into())
            .to_ascii_uppercase();
        Relay::bind(
            port,
            &kind,
            host_key,
            authorized,
            self.o.sftp_command.clone().filter(|c| !c.is_empty()),
        )
        .await
    }

    /// The inventory: the machine under `host_alias` (the plugin's line,
    /// or `inventory_file_template`), then in each group.
    fn inventory(
        &self,
        host: &str,
        port: &str,
        user: &str,
        generated: &std::collections::BTreeMap<String, String>,
    ) -> Result<String, String> {
        let line = match self
            .o
            .inventory_file_template
            .as_deref()
            .filter(|t| !t.is_empty())
        {
            Some(t) => {
                let mut fields: Vec<(&str, &str)> = generated
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                fields.retain(|(k, _)| !["HostAlias", "Host", "Port", "User"].contains(k));
                fields.extend([
                    ("HostAlias", self.o.host_alias.as_str()),
                    ("Host", host),
                    ("Port", port),
                    ("User", user),
                ]);
                crate::runner::interpolate::render_fields(t, &fields, generated)
                    .map_err(|e| format!("inventory_file_template: {e}"))?
            }
            None => format!(
                "{} ansible_host={host} ansible_user={user} ansible_port={port}\n",
                self.o.host_alias
            ),
        };
        let mut inv = line.clone();
        for g in &self.o.groups {
            inv.push_str(&format!("[{g}]\n{line}"));
        }
        for g in &self.o.empty_groups {
            inv.push_str(&format!("[{g}]\n"));
        }
        Ok(inv)
    }
}

/// A file that is removed when dropped (unless kept).
struct Scratch {
    path: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn write_private(prefix: &str, dir: Option<&str>, text: &str) -> Result<Scratch, String> {
    let mut b = tempfile::Builder::new();
    b.prefix(prefix);
    let f = match dir.filter(|d| !d.is_empty()) {
        Some(d) => b.tempfile_in(d),
        None => b.tempfile(),
    }
    .map_err(|e| format!("creating a temporary file: {e}"))?;
    // tempfile makes the file 0600; the key must stay so.
    let (mut file, path) = f
        .keep()
        .map_err(|e| format!("keeping a temporary file: {e}"))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(Scratch { path, keep: false })
}

#[async_trait]
impl Provisioner for Ansible {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        let g = ctx.generated();
        let get = |k: &str| g.get(k).cloned().unwrap_or_default();
        if get("ConnType") != "ssh" {
            return Err(BuildError::Failed(
                "the ansible provisioner needs an SSH communicator".into(),
            ));
        }
        let playbook = self.o.playbook_file.clone().unwrap_or_default();
        let playbook = std::path::absolute(&playbook)
            .map(|p| p.display().to_string())
            .unwrap_or(playbook);
        // Roles and collections first.
        if let Some(gf) = self.o.galaxy_file.as_deref().filter(|f| !f.is_empty()) {
            for (what, path) in [
                ("roles", &self.o.roles_path),
                ("collections", &self.o.collections_path),
            ] {
                let mut argv = vec![self.o.galaxy_command.clone()];
                if what == "collections" {
                    argv.push("collection".into());
                }
                argv.extend(["install".into(), "-r".into(), gf.to_string()]);
                if let Some(p) = path.as_deref().filter(|p| !p.is_empty()) {
                    argv.extend(["-p".into(), p.to_string()]);
                }
                if self.o.galaxy_force_install {
                    argv.push("--force".into());
                }
                if self.o.galaxy_force_with_deps {
                    argv.push("--force-with-deps".into());
                }
                ctx.ui
                    .say(&format!("Executing Ansible Galaxy: {}", argv.join(" ")));
                let code = super::shell_local::run_streaming(ctx, &argv, &[]).await?;
                if code != 0 {
                    return Err(BuildError::Failed(format!(
                        "Error executing Ansible Galaxy: Non-zero exit status: {code}"
                    )));
                }
            }
        }
        let user = self
            .o
            .user
            .clone()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| get("User"));
        let proxy = self.o.use_proxy != Some(false);
        let mut relay = None;
        // Where Ansible connects, and with which key: the relay and a key
        // made for it, or the machine and the build's own key.
        let (host, port, key, _key_scratch) = if proxy {
            let comm = super::need_comm("ansible", comm)?;
            let r = self.relay().await.map_err(BuildError::Failed)?;
            let (key, scratch) = match &r.client_key {
                Some(k) => {
                    let text = k
                        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
                        .map_err(|e| BuildError::Failed(format!("the relay's key: {e}")))?;
                    let s =
                        write_private("ansible-key", None, &text).map_err(BuildError::Failed)?;
                    (Some(s.path.display().to_string()), Some(s))
                }
                // The template's authorized key: Ansible's own key logs in.
                None => (None, None),
            };
            let port = r.port.to_string();
            ctx.ui.say(&format!(
                "Relaying Ansible's SSH sessions through kiln's connection on 127.0.0.1:{port}"
            ));
            relay = Some((r, comm));
            ("127.0.0.1".to_string(), port, key, scratch)
        } else {
            // The build's key: its file, or the temporary key it made,
            // written 0600 for this run and removed after it.
            let key_file = get("SSHPrivateKeyFile");
            if !key_file.is_empty() {
                (get("Host"), get("Port"), Some(key_file), None)
            } else if !get("SSHPrivateKey").is_empty() {
                let s = write_private("ansible-key", None, &get("SSHPrivateKey"))
                    .map_err(BuildError::Failed)?;
                let p = s.path.display().to_string();
                (get("Host"), get("Port"), Some(p), Some(s))
            } else {
                (get("Host"), get("Port"), None, None)
            }
        };
        let inventory = match self.o.inventory_file.as_deref().filter(|f| !f.is_empty()) {
            Some(f) => Scratch {
                path: PathBuf::from(f),
                keep: true,
            },
            None => {
                let mut s = write_private(
                    "packer-provisioner-ansible",
                    self.o.inventory_directory.as_deref(),
                    &self
                        .inventory(&host, &port, &user, &g)
                        .map_err(BuildError::Failed)?,
                )
                .map_err(BuildError::Failed)?;
                s.keep = self.o.keep_inventory_file;
                s
            }
        };
        let mut argv = vec![self.o.command.clone()];
        argv.extend([
            "-e".into(),
            format!("packer_build_name={:?}", ctx.build_name),
            "-e".into(),
            format!("packer_builder_type={}", ctx.builder_type),
        ]);
        let http = get("PackerHTTPAddr");
        if !http.is_empty() {
            argv.extend(["-e".into(), format!("packer_http_addr={http}")]);
        }
        if key.is_some() {
            let extra = if self.o.ansible_ssh_extra_args.is_empty() {
                "-o IdentitiesOnly=yes".to_string()
            } else {
                self.o.ansible_ssh_extra_args.concat()
            };
            argv.extend(["--ssh-extra-args".into(), extra]);
        }
        argv.extend(self.o.extra_arguments.iter().cloned());
        argv.extend(["-i".into(), inventory.path.display().to_string(), playbook]);
        if let Some(k) = &key {
            argv.extend(["--private-key".into(), k.clone()]);
        }
        let mut env: Vec<(String, String)> = Vec::new();
        if !self
            .o
            .ansible_env_vars
            .iter()
            .any(|kv| kv.starts_with("ANSIBLE_HOST_KEY_CHECKING="))
        {
            // The machine is new: its host key is not known yet.
            env.push(("ANSIBLE_HOST_KEY_CHECKING".into(), "False".into()));
        }
        if proxy {
            // As Packer: SCP unless use_sftp; OpenSSH 9's scp speaks SFTP
            // unless -O, so -O makes it the SCP it is asked for.
            let set = |k: &str| {
                self.o
                    .ansible_env_vars
                    .iter()
                    .any(|kv| kv.starts_with(&format!("{k}=")))
            };
            if !set("ANSIBLE_SSH_TRANSFER_METHOD") && !set("ANSIBLE_SCP_IF_SSH") {
                let method = if self.o.use_sftp { "sftp" } else { "scp" };
                env.push(("ANSIBLE_SSH_TRANSFER_METHOD".into(), method.into()));
                if !self.o.use_sftp && !set("ANSIBLE_SCP_EXTRA_ARGS") {
                    env.push(("ANSIBLE_SCP_EXTRA_ARGS".into(), "-O".into()));
                }
            }
        }
        for kv in &self.o.ansible_env_vars {
            if let Some((k, v)) = kv.split_once('=') {
                env.push((k.to_string(), v.to_string()));
            }
        }
        ctx.ui
            .say(&format!("Executing Ansible: {}", argv.join(" ")));
        let run = super::shell_local::run_streaming(ctx, &argv, &env);
        let code = match relay.as_mut() {
            Some((r, comm)) => r.serve(*comm, run).await?,
            None => run.await?,
        };
        if code != 0 {
            return Err(BuildError::Failed(format!(
                "Error executing Ansible: Non-zero exit status: exit status {code}"
            )));
        }
        Ok(())
    }
}
