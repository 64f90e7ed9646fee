//! ansible-local: run `ansible-playbook -c local` on the machine being
//! built, as packer-plugin-ansible's ansible-local does: the playbook (or
//! `playbook_dir`, `playbook_files`, `playbook_paths`), roles, collections,
//! `group_vars`, `host_vars`, an inventory and a `galaxy_file` are uploaded
//! to a staging directory first; `clean_staging_directory` removes it.

use super::{need_comm, Provisioner};
use crate::communicator::ssh::sh_quote;
use crate::communicator::{Communicator, Output};
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// The ansible-local provisioner's options (the plugin's names).
#[derive(Options)]
pub struct AnsibleLocalOptions {
    /// How Ansible is run on the machine.
    #[option(default = "ANSIBLE_FORCE_COLOR=1 PYTHONUNBUFFERED=1 ansible-playbook")]
    command: String,
    extra_arguments: Vec<String>,
    /// The playbook; or several, `playbook_files`.
    playbook_file: Option<String>,
    playbook_files: Vec<String>,
    /// A directory uploaded whole as the staging directory.
    playbook_dir: Option<String>,
    /// More playbook directories, uploaded under `playbooks/`.
    playbook_paths: Vec<String>,
    role_paths: Vec<String>,
    collection_paths: Vec<String>,
    group_vars: Option<String>,
    host_vars: Option<String>,
    /// Where things go on the machine (default a new directory under
    /// `/tmp/packer-provisioner-ansible-local`).
    staging_directory: Option<String>,
    clean_staging_directory: bool,
    /// An inventory of the template's own (default `127.0.0.1`, in each of
    /// `inventory_groups`).
    inventory_file: Option<String>,
    inventory_groups: Vec<String>,
    galaxy_file: Option<String>,
    #[option(default = "ansible-galaxy")]
    galaxy_command: String,
    galaxy_force_install: bool,
    galaxy_roles_path: Option<String>,
    galaxy_collections_path: Option<String>,
}

pub const FIELDS: &[Field] = AnsibleLocalOptions::FIELDS;

fn check_file(p: &str, key: &str, errs: &mut Vec<String>) {
    match std::fs::metadata(p) {
        Err(e) => errs.push(format!("{key}: {p} is invalid: {e}")),
        Ok(m) if m.is_dir() => errs.push(format!("{key}: {p} must point to a file")),
        Ok(_) => {}
    }
}

fn check_dir(p: &str, key: &str, errs: &mut Vec<String>) {
    match std::fs::metadata(p) {
        Err(e) => errs.push(format!("{key}: {p} is invalid: {e}")),
        Ok(m) if !m.is_dir() => errs.push(format!("{key}: {p} must point to a directory")),
        Ok(_) => {}
    }
}

fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

pub fn validate(c: &Config) -> Vec<String> {
    let o = match AnsibleLocalOptions::from_config(c) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    let mut errs = Vec::new();
    match (set(&o.playbook_file), o.playbook_files.is_empty()) {
        (Some(_), false) => {
            errs.push("Either playbook_file or playbook_files can be specified, not both".into())
        }
        (None, true) => {
            errs.push("Either playbook_file or playbook_files must be specified".into())
        }
        _ => {}
    }
    if let Some(p) = set(&o.playbook_file) {
        check_file(p, "playbook_file", &mut errs);
    }
    for p in &o.playbook_files {
        check_file(p, "playbook_files", &mut errs);
    }
    for (v, k) in [
        (&o.inventory_file, "inventory_file"),
        (&o.galaxy_file, "galaxy_file"),
    ] {
        if let Some(p) = set(v) {
            check_file(p, k, &mut errs);
        }
    }
    for (v, k) in [
        (&o.playbook_dir, "playbook_dir"),
        (&o.group_vars, "group_vars"),
        (&o.host_vars, "host_vars"),
    ] {
        if let Some(p) = set(v) {
            check_dir(p, k, &mut errs);
        }
    }
    for (list, k) in [
        (&o.playbook_paths, "playbook_paths"),
        (&o.role_paths, "role_paths"),
        (&o.collection_paths, "collection_paths"),
    ] {
        for p in list {
            check_dir(p, k, &mut errs);
        }
    }
    errs
}

pub struct AnsibleLocal {
    o: AnsibleLocalOptions,
}

impl AnsibleLocal {
    pub fn new(c: &Config) -> Result<AnsibleLocal, String> {
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        Ok(AnsibleLocal {
            o: AnsibleLocalOptions::from_config(c)?,
        })
    }
}

fn base(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string())
}

/// Run `cmd` on the machine, its output in the build's UI; its status.
async fn remote(ctx: &BuildContext, comm: &dyn Communicator, cmd: &str) -> Result<i32, BuildError> {
    let ui = ctx.ui.clone();
    let mut out = |o: Output| match o {
        Output::Stdout(l) => ui.message(l),
        Output::Stderr(l) => ui.error(l),
    };
    comm.run(cmd, &mut out).await.map_err(BuildError::Failed)
}

async fn mkdir(ctx: &BuildContext, comm: &dyn Communicator, dir: &str) -> Result<(), BuildError> {
    match remote(ctx, comm, &format!("mkdir -p {}", sh_quote(dir))).await? {
        0 => Ok(()),
        n => Err(BuildError::Failed(format!(
            "creating {dir}: exit status {n}"
        ))),
    }
}

#[async_trait]
impl Provisioner for AnsibleLocal {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        let comm = need_comm("ansible-local", comm)?;
        let o = &self.o;
        let staging = set(&o.staging_directory)
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!(
                    "/tmp/packer-provisioner-ansible-local/{}",
                    uuid::Uuid::new_v4()
                )
            });
        let fail = |what: &str, e: String| BuildError::Failed(format!("{what}: {e}"));
        ctx.ui.say("Provisioning with Ansible...");
        if let Some(dir) = set(&o.playbook_dir) {
            ctx.ui
                .say("Uploading Playbook directory to Ansible staging directory...");
            mkdir(ctx, comm, &staging).await?;
            comm.upload_dir(Path::new(dir), &staging)
                .await
                .map_err(|e| fail("Error uploading playbook_dir directory", e))?;
        } else {
            ctx.ui.say("Creating Ansible staging directory...");
            mkdir(ctx, comm, &staging).await?;
        }
        // The playbooks, as the machine will see them.
        let mut playbooks: Vec<String> = Vec::new();
        if let Some(p) = set(&o.playbook_file) {
            ctx.ui.say("Uploading main Playbook file...");
            let dst = format!("{staging}/{}", base(p));
            comm.upload(Path::new(p), &dst)
                .await
                .map_err(|e| fail("Error uploading main playbook", e))?;
            playbooks.push(dst);
        }
        let pdir = set(&o.playbook_dir).and_then(|d| std::path::absolute(d).ok());
        for p in &o.playbook_files {
            let abs = std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p));
            // A playbook inside playbook_dir is there already.
            if let Some(rel) = pdir.as_ref().and_then(|d| abs.strip_prefix(d).ok()) {
                playbooks.push(format!("{staging}/{}", rel.display()));
                continue;
            }
            ctx.ui
                .say(&format!("Uploading playbook file: {}", abs.display()));
            let dst = format!("{staging}{}", abs.display());
            if let Some(parent) = Path::new(&dst).parent() {
                mkdir(ctx, comm, &parent.display().to_string()).await?;
            }
            comm.upload(&abs, &dst)
                .await
                .map_err(|e| fail(&format!("Error uploading playbook: {p}"), e))?;
            playbooks.push(dst);
        }
        // The inventory: the machine itself.
        let inventory = match set(&o.inventory_file) {
            Some(f) => {
                let dst = format!("{staging}/{}", base(f));
                ctx.ui.say("Uploading inventory file...");
                comm.upload(Path::new(f), &dst)
                    .await
                    .map_err(|e| fail("Error uploading inventory file", e))?;
                dst
            }
            None => {
                let content = if o.inventory_groups.is_empty() {
                    "127.0.0.1".to_string()
                } else {
                    o.inventory_groups
                        .iter()
                        .map(|g| format!("[{g}]\n127.0.0.1\n"))
                        .collect()
                };
                let dst = format!("{staging}/packer-provisioner-ansible-local-inventory");
                ctx.ui.say("Uploading inventory file...");
                comm.upload_bytes(content.as_bytes(), &dst)
                    .await
                    .map_err(|e| fail("Error uploading inventory file", e))?;
                dst
            }
        };
        let galaxy = match set(&o.galaxy_file) {
            Some(f) => {
                ctx.ui.say("Uploading galaxy file...");
                let dst = format!("{staging}/{}", base(f));
                comm.upload(Path::new(f), &dst)
                    .await
                    .map_err(|e| fail("Error uploading galaxy file", e))?;
                let text = std::fs::read_to_string(f).unwrap_or_default();
                let has = |k: &str| text.lines().any(|l| l.starts_with(k));
                Some((dst, has("roles:"), has("collections:")))
            }
            None => None,
        };
        for (v, name, what) in [
            (&o.group_vars, "group_vars", "group_vars directory"),
            (&o.host_vars, "host_vars", "host_vars directory"),
        ] {
            if let Some(src) = set(v) {
                ctx.ui.say(&format!("Uploading {what}..."));
                comm.upload_dir(Path::new(src), &format!("{staging}/{name}"))
                    .await
                    .map_err(|e| fail(&format!("Error uploading {what}"), e))?;
            }
        }
        for (list, sub, what) in [
            (&o.role_paths, "roles", "role directories"),
            (&o.collection_paths, "collections", "collection directories"),
            (&o.playbook_paths, "playbooks", "additional Playbooks"),
        ] {
            if list.is_empty() {
                continue;
            }
            ctx.ui.say(&format!("Uploading {what}..."));
            for src in list {
                comm.upload_dir(Path::new(src), &format!("{staging}/{sub}/{}", base(src)))
                    .await
                    .map_err(|e| fail(&format!("Error uploading {sub}"), e))?;
            }
        }
        let roles_path = set(&o.galaxy_roles_path)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{staging}/galaxy_roles"));
        let collections_path = set(&o.galaxy_collections_path)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{staging}/galaxy_collections"));
        let mut env = String::new();
        if let Some((file, roles, collections)) = &galaxy {
            let force = if o.galaxy_force_install { " -f" } else { "" };
            let mut runs = Vec::new();
            if *roles || !*collections {
                runs.push(format!("install -r {file} -p {roles_path}{force}"));
            }
            if *collections {
                runs.push(format!(
                    "collection install -r {file} -p {collections_path}{force}"
                ));
            }
            for args in runs {
                let cmd = format!("cd {staging} && {} {args}", o.galaxy_command);
                ctx.ui.say(&format!("Executing Ansible Galaxy: {cmd}"));
                match remote(ctx, comm, &cmd).await? {
                    0 => {}
                    n => {
                        return Err(BuildError::Failed(format!(
                            "Error executing Ansible: Error executing Ansible Galaxy: Non-zero exit status: {n}"
                        )))
                    }
                }
            }
            let mut cpaths = Vec::new();
            if *collections {
                cpaths.push(collections_path.clone());
            }
            if !o.collection_paths.is_empty() {
                cpaths.push(format!("{staging}/collections"));
            }
            if !cpaths.is_empty() {
                env.push_str(&format!(
                    " ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH:{}",
                    cpaths.join(":")
                ));
            }
            if *roles {
                env.push_str(&format!(
                    " ANSIBLE_ROLES_PATH=$ANSIBLE_ROLES_PATH:{roles_path}"
                ));
            }
        } else if !o.collection_paths.is_empty() {
            env.push_str(&format!(
                " ANSIBLE_COLLECTIONS_PATH=$ANSIBLE_COLLECTIONS_PATH:{staging}/collections"
            ));
        }
        let generated = ctx.generated();
        let mut extra = format!(
            " --extra-vars \"packer_build_name={} packer_builder_type={} packer_http_addr={} -o IdentitiesOnly=yes\" ",
            ctx.build_name,
            ctx.builder_type,
            generated.get("PackerHTTPAddr").cloned().unwrap_or_default()
        );
        extra.push_str(&o.extra_arguments.join(" "));
        for playbook in &playbooks {
            let cmd = format!(
                "cd {staging} && {env} {} {playbook}{extra} -c local -i {inventory}",
                o.command
            );
            ctx.ui.say(&format!("Executing Ansible: {cmd}"));
            match remote(ctx, comm, &cmd).await? {
                0 => {}
                127 => {
                    return Err(BuildError::Failed(format!(
                        "Error executing Ansible: {} could not be found. Verify that it is available on the\nPATH after connecting to the machine.",
                        o.command
                    )))
                }
                n => {
                    return Err(BuildError::Failed(format!(
                        "Error executing Ansible: Non-zero exit status: {n}"
                    )))
                }
            }
        }
        if o.clean_staging_directory {
            ctx.ui.say("Removing staging directory...");
            remote(ctx, comm, &format!("rm -rf {}", sh_quote(&staging))).await?;
        }
        Ok(())
    }
}
