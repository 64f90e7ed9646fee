//! The qemu build as Packer's step sequence, each step with its cleanup,
//! over typed state.

use super::config::QemuConfig;
use super::{accel, http};
use crate::builder::common::Connected;
use crate::communicator::ssh::Ssh;
use crate::runner::steps::Step;
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use russh::keys::PrivateKey;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::watch;

/// The guest's view of kiln's HTTP server (`{{ .HTTPIP }}`): an address in
/// the user network that qemu forwards, connection by connection, to the
/// server on 127.0.0.1 (10.0.2.2, the host itself, stays unreachable).
pub const GUEST_HTTP_IP: &str = "10.0.2.100";

/// The `{{ .HTTPIP }}`-style values Packer fills in `qemuargs` and `boot_command`.
fn template_vars(c: &QemuConfig, s: &State) -> Vec<(&'static str, String)> {
    vec![
        ("HTTPIP", GUEST_HTTP_IP.to_string()),
        (
            "HTTPPort",
            s.http
                .as_ref()
                .map(|h| h.port.to_string())
                .unwrap_or_default(),
        ),
        (
            "HTTPDir",
            c.http_directory
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        ),
        ("OutputDir", c.output_directory.display().to_string()),
        ("Name", c.vm_name.clone()),
        ("SSHHostPort", s.host_port.to_string()),
    ]
}

/// Fill `{{ .Name }}` and `{{.Name}}` placeholders from `vars`.
fn interpolate(s: &str, vars: &[(&str, String)]) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        for pat in [format!("{{{{ .{k} }}}}"), format!("{{{{.{k}}}}}")] {
            out = out.replace(&pat, v);
        }
    }
    out
}

fn failed(e: impl Into<String>) -> BuildError {
    BuildError::Failed(e.into())
}

/// A running qemu: its pid and a channel that turns `Some(status)` when it exits.
pub struct Vm {
    pub pid: i32,
    pub exited: watch::Receiver<Option<String>>,
    pub qmp: PathBuf,
}

pub struct State {
    pub accel: &'static str,
    /// The scratch directory (CD image, QMP socket, console log); removed at the end.
    pub scratch: Option<tempfile::TempDir>,
    pub output_created: bool,
    pub succeeded: bool,
    pub disk: PathBuf,
    /// `disk_additional_size`'s disks, in order.
    pub extra_disks: Vec<PathBuf>,
    pub cd: Option<PathBuf>,
    /// The floppy image (`floppy_*`), in the scratch directory.
    pub floppy: Option<PathBuf>,
    /// The guest's writable copy of the UEFI variables (`efivars.fd`).
    pub efivars: Option<PathBuf>,
    pub http: Option<http::Server>,
    pub host_port: u16,
    pub key: Option<Arc<PrivateKey>>,
    pub vm: Option<Vm>,
    pub ssh: Option<Ssh>,
}

impl Connected for State {
    fn ssh_slot(&mut self) -> &mut Option<Ssh> {
        &mut self.ssh
    }
}

impl State {
    pub fn new(cfg: &QemuConfig) -> State {
        State {
            accel: "tcg",
            scratch: None,
            output_created: false,
            succeeded: false,
            disk: cfg.output_directory.join(&cfg.vm_name),
            extra_disks: (1..=cfg.disk_additional_size.len())
                .map(|i| cfg.output_directory.join(format!("{}-{i}", cfg.vm_name)))
                .collect(),
            cd: None,
            floppy: None,
            efivars: None,
            http: None,
            host_port: 0,
            key: None,
            vm: None,
            ssh: None,
        }
    }
    fn scratch(&mut self) -> Result<PathBuf, BuildError> {
        if self.scratch.is_none() {
            self.scratch = Some(
                tempfile::Builder::new()
                    .prefix("kiln-qemu-")
                    .tempdir()
                    .map_err(|e| failed(format!("creating a temporary directory: {e}")))?,
            );
        }
        Ok(self
            .scratch
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .unwrap_or_default())
    }
    pub fn console_tail(&self, n: usize) -> String {
        let Some(d) = &self.scratch else {
            return String::new();
        };
        let text = std::fs::read_to_string(d.path().join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Run a helper tool (qemu-img, xorriso); killed if the build is cancelled.
async fn tool(program: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(program).args(args).stdin(Stdio::null()).kill_on_drop(true).output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{program} is not installed (it comes with Debian's qemu-utils / xorriso packages)")
        } else {
            format!("{program}: {e}")
        }
    })?;
    if !out.status.success() {
        return Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

mod access;
mod boot;
mod download;
mod floppy;
mod machine;
mod media;
mod prepare;
mod qmp;

pub use access::{HttpServer, PortForward, TempKey};
pub use boot::TypeBootCommand;
pub use download::VerifySource;
pub use floppy::CreateFloppy;
pub use machine::{BootWait, Connect, RunQemu, Shutdown};
pub use media::{ConvertDisk, CreateCd, CreateDisk, Keep};
pub use prepare::{Accelerator, PrepareEfivars, PrepareOutputDir};
