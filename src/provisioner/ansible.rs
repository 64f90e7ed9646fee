//! ansible: run `ansible-playbook` on this machine against the machine
//! being built, as packer-plugin-ansible does: an inventory naming the
//! machine (`host_alias`, `groups`, `empty_groups`), the build's SSH login
//! (its private key written to a 0600 file for the run), Packer's extra
//! variables, `ansible_env_vars`, `extra_arguments`, a `galaxy_file`
//! installed first; Ansible's output streams live and its exit status
//! decides.
//!
//! Ansible connects straight to the machine with the build's SSH settings.
//! Packer's default, `use_proxy = true`, relays Ansible's sessions through
//! Packer's own connection; kiln gives the same result over a direct
//! connection where its own is direct, and refuses by name where the
//! machine is reachable only through kiln (a bastion or a SOCKS proxy),
//! until that relay is built.

use super::Provisioner;
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
    roles_path: Option<String>,
    collections_path: Option<String>,
    /// Relay Ansible through kiln's connection (see the module's doc).
    use_proxy: Option<bool>,
    #[option(no_effect = "kiln connects Ansible straight to the machine (no local relay port)")]
    local_port: Option<i64>,
    #[option(no_effect = "kiln connects Ansible straight to the machine (no local relay)")]
    sftp_command: Option<String>,
    #[option(
        no_effect = "Ansible's own SSH settings decide its file transfers on a direct connection"
    )]
    use_sftp: bool,
    #[option(no_effect = "kiln connects Ansible straight to the machine (no local relay)")]
    ssh_host_key_file: Option<String>,
    #[option(no_effect = "kiln connects Ansible straight to the machine (no local relay)")]
    ssh_authorized_key_file: Option<String>,
    #[option(no_effect = "kiln does not check Ansible's version")]
    skip_version_check: bool,
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

    /// The inventory: the machine under `host_alias`, then in each group.
    fn inventory(&self, host: &str, port: &str, user: &str) -> String {
        let line = format!(
            "{} ansible_host={host} ansible_user={user} ansible_port={port}\n",
            self.o.host_alias
        );
        let mut inv = line.clone();
        for g in &self.o.groups {
            inv.push_str(&format!("[{g}]\n{line}"));
        }
        for g in &self.o.empty_groups {
            inv.push_str(&format!("[{g}]\n"));
        }
        inv
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
        _comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        let g = ctx.generated();
        let get = |k: &str| g.get(k).cloned().unwrap_or_default();
        if get("ConnType") != "ssh" {
            return Err(BuildError::Failed(
                "the ansible provisioner needs an SSH communicator".into(),
            ));
        }
        if self.o.use_proxy != Some(false) && !get("SSHBastionHost").is_empty() {
            return Err(BuildError::Failed("use_proxy: the machine is reached through a bastion, which kiln does not relay Ansible through yet; set ssh_bastion_* in ansible_ssh_extra_args (ProxyJump) and use_proxy = false".into()));
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
        let inventory = match self.o.inventory_file.as_deref().filter(|f| !f.is_empty()) {
            Some(f) => Scratch {
                path: PathBuf::from(f),
                keep: true,
            },
            None => {
                let mut s = write_private(
                    "packer-provisioner-ansible",
                    self.o.inventory_directory.as_deref(),
                    &self.inventory(&get("Host"), &get("Port"), &user),
                )
                .map_err(BuildError::Failed)?;
                s.keep = self.o.keep_inventory_file;
                s
            }
        };
        // The build's key: its file, or the temporary key it made, written
        // 0600 for this run and removed after it.
        let key_file = get("SSHPrivateKeyFile");
        let mut _key_scratch = None;
        let key = if !key_file.is_empty() {
            Some(key_file)
        } else if !get("SSHPrivateKey").is_empty() {
            let s = write_private("ansible-key", None, &get("SSHPrivateKey"))
                .map_err(BuildError::Failed)?;
            let p = s.path.display().to_string();
            _key_scratch = Some(s);
            Some(p)
        } else {
            None
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
        for kv in &self.o.ansible_env_vars {
            if let Some((k, v)) = kv.split_once('=') {
                env.push((k.to_string(), v.to_string()));
            }
        }
        ctx.ui
            .say(&format!("Executing Ansible: {}", argv.join(" ")));
        let code = super::shell_local::run_streaming(ctx, &argv, &env).await?;
        if code != 0 {
            return Err(BuildError::Failed(format!(
                "Error executing Ansible: Non-zero exit status: exit status {code}"
            )));
        }
        Ok(())
    }
}
