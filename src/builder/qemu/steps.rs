//! The qemu build as Packer's step sequence, each step with its cleanup,
//! over typed state.

use super::config::QemuConfig;
use super::http;
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
    pub cd: Option<PathBuf>,
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
        State { accel: "tcg", scratch: None, output_created: false, succeeded: false, disk: cfg.output_directory.join(&cfg.vm_name), cd: None, http: None, host_port: 0, key: None, vm: None, ssh: None }
    }
    fn scratch(&mut self) -> Result<PathBuf, BuildError> {
        if self.scratch.is_none() {
            self.scratch = Some(tempfile::Builder::new().prefix("kiln-qemu-").tempdir().map_err(|e| failed(format!("creating a temporary directory: {e}")))?);
        }
        Ok(self.scratch.as_ref().map(|d| d.path().to_path_buf()).unwrap_or_default())
    }
    pub fn console_tail(&self, n: usize) -> String {
        let Some(d) = &self.scratch else { return String::new() };
        let text = std::fs::read_to_string(d.path().join("console.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

/// Run a helper tool (qemu-img, xorriso); killed if the build is cancelled.
async fn tool(program: &str, args: &[&str]) -> Result<String, String> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { format!("{program} is not installed (it comes with Debian's qemu-utils / xorriso packages)") } else { format!("{program}: {e}") })?;
    if !out.status.success() {
        return Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---- accelerator ------------------------------------------------------------

pub struct Accelerator<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for Accelerator<'_> {
    fn name(&self) -> &'static str {
        "StepAccelerator"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let (accel, note) = super::accel::resolve(self.cfg.accelerator);
        if let Some(n) = note {
            ctx.ui.say(&n);
        }
        s.accel = accel;
        Ok(())
    }
}

// ---- output directory -------------------------------------------------------

pub struct PrepareOutputDir<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for PrepareOutputDir<'_> {
    fn name(&self) -> &'static str {
        "StepPrepareOutputDir"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let dir = &self.cfg.output_directory;
        if dir.exists() {
            if !ctx.force {
                return Err(failed(format!("Output directory exists: {}\n\nUse the force flag to delete it prior to building.", dir.display())));
            }
            ctx.ui.say("Deleting previous output directory...");
            std::fs::remove_dir_all(dir).map_err(|e| failed(format!("deleting {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| failed(format!("creating {}: {e}", dir.display())))?;
        s.output_created = true;
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.output_created && !s.succeeded {
            ctx.ui.say("Deleting output directory...");
            let _ = std::fs::remove_dir_all(&self.cfg.output_directory);
        }
    }
}

// ---- checksum -----------------------------------------------------------------

fn hash_file(path: &Path, kind: &str) -> Result<String, String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    macro_rules! digest {
        ($h:expr) => {{
            let mut h = $h;
            loop {
                let n = f.read(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            hex::encode(h.finalize())
        }};
    }
    Ok(match kind {
        "md5" => digest!(md5::Md5::new()),
        "sha1" => digest!(sha1::Sha1::new()),
        "sha256" => digest!(sha2::Sha256::new()),
        "sha512" => digest!(sha2::Sha512::new()),
        other => return Err(format!("unsupported checksum type {other:?} (md5, sha1, sha256, sha512)")),
    })
}

/// `type:value`, `file:PATH` (a checksums file) or a bare hex digest.
fn expected_checksum(spec: &str, source: &Path) -> Result<(String, String), String> {
    let by_len = |hex: &str| -> Result<String, String> {
        Ok(match hex.len() {
            32 => "md5",
            40 => "sha1",
            64 => "sha256",
            128 => "sha512",
            n => return Err(format!("iso_checksum: cannot tell the hash type of a {n}-digit value; write it as TYPE:VALUE")),
        }
        .to_string())
    };
    if let Some(file) = spec.strip_prefix("file:") {
        let file = file.strip_prefix("//").unwrap_or(file);
        let text = std::fs::read_to_string(file).map_err(|e| format!("iso_checksum file {file}: {e}"))?;
        let name = source.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        for line in text.lines() {
            // "HEX  name", "HEX *name" or BSD "SHA256 (name) = HEX".
            if let Some((lhs, hex)) = line.split_once(") = ") {
                if lhs.ends_with(&format!("({name}")) {
                    let kind = lhs.split(' ').next().unwrap_or("").to_lowercase();
                    return Ok((kind, hex.trim().to_lowercase()));
                }
            }
            let mut parts = line.split_whitespace();
            if let (Some(hex), Some(n)) = (parts.next(), parts.next()) {
                if n.trim_start_matches('*').trim_start_matches("./") == name {
                    return Ok((by_len(hex)?, hex.to_lowercase()));
                }
            }
        }
        return Err(format!("iso_checksum file {file} has no line for {name}"));
    }
    match spec.split_once(':') {
        Some((kind, hex)) => Ok((kind.to_lowercase(), hex.to_lowercase())),
        None => Ok((by_len(spec)?, spec.to_lowercase())),
    }
}

pub struct VerifySource<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for VerifySource<'_> {
    fn name(&self) -> &'static str {
        "StepDownload"
    }
    async fn run(&self, _s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(spec) = &self.cfg.checksum else { return Ok(()) };
        let (kind, want) = expected_checksum(spec, &self.cfg.source)?;
        ctx.ui.say(&format!("Verifying {kind} checksum of {}...", self.cfg.source.display()));
        let (path, k) = (self.cfg.source.clone(), kind.clone());
        let got = tokio::task::spawn_blocking(move || hash_file(&path, &k)).await.map_err(|e| failed(e.to_string()))??;
        if got != want {
            return Err(failed(format!("Checksum did not match for {}: expected {kind}:{want}, got {got}", self.cfg.source.display())));
        }
        Ok(())
    }
}

// ---- CD ---------------------------------------------------------------------

pub struct CreateCd<'a> {
    pub cfg: &'a QemuConfig,
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

#[async_trait]
impl Step<State> for CreateCd<'_> {
    fn name(&self) -> &'static str {
        "StepCreateCD"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if self.cfg.cd_files.is_empty() && self.cfg.cd_content.is_empty() {
            return Ok(());
        }
        ctx.ui.say("Creating CD disk...");
        let scratch = s.scratch()?;
        let root = scratch.join("cd");
        std::fs::create_dir_all(&root).map_err(|e| failed(e.to_string()))?;
        for pattern in &self.cfg.cd_files {
            // A directory with a trailing slash contributes its contents, as Packer.
            let contents_only = pattern.ends_with('/');
            let matches = glob_paths(pattern.trim_end_matches('/'));
            if matches.is_empty() {
                return Err(failed(format!("cd_files: {pattern} matches nothing")));
            }
            for m in matches {
                let dest = if contents_only { root.clone() } else { root.join(m.file_name().unwrap_or_default()) };
                copy_tree(&m, &dest).map_err(|e| failed(format!("cd_files: copying {}: {e}", m.display())))?;
            }
        }
        for (name, body) in &self.cfg.cd_content {
            let p = root.join(name.trim_start_matches('/'));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
            }
            std::fs::write(&p, body).map_err(|e| failed(format!("cd_content {name}: {e}")))?;
        }
        let iso = scratch.join("cd.iso");
        let (iso_s, root_s) = (iso.to_string_lossy().to_string(), root.to_string_lossy().to_string());
        tool("xorriso", &["-as", "mkisofs", "-quiet", "-V", &self.cfg.cd_label, "-J", "-R", "-o", &iso_s, &root_s]).await?;
        ctx.ui.message(&format!("Done copying paths from CD_dirs and CD_files to {iso_s}"));
        s.cd = Some(iso);
        Ok(())
    }
}

/// Paths matching a glob (`*`, `?`, `[…]`) or the path itself.
fn glob_paths(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        let p = PathBuf::from(pattern);
        return if p.exists() { vec![p] } else { Vec::new() };
    }
    let Ok(glob) = globset::Glob::new(pattern) else { return Vec::new() };
    let m = glob.compile_matcher();
    let base = pattern.split(['*', '?', '[']).next().unwrap_or("");
    let base = Path::new(base).parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(base).into_iter().flatten().map(|e| e.path().to_path_buf()).filter(|p| m.is_match(p.strip_prefix("./").unwrap_or(p))).collect();
    out.sort();
    out
}

// ---- disk -------------------------------------------------------------------

pub struct CreateDisk<'a> {
    pub cfg: &'a QemuConfig,
}

async fn image_format(path: &Path) -> Result<String, String> {
    let info = tool("qemu-img", &["info", "--output=json", &path.to_string_lossy()]).await?;
    let v: serde_json::Value = serde_json::from_str(&info).map_err(|e| format!("qemu-img info: {e}"))?;
    Ok(v.get("format").and_then(|f| f.as_str()).unwrap_or("raw").to_string())
}

#[async_trait]
impl Step<State> for CreateDisk<'_> {
    fn name(&self) -> &'static str {
        "StepCreateDisk"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        let disk = s.disk.to_string_lossy().to_string();
        let src = std::fs::canonicalize(&c.source).map_err(|e| failed(format!("{}: {e}", c.source.display())))?;
        let src_s = src.to_string_lossy().to_string();
        if c.disk_image {
            let src_fmt = image_format(&src).await?;
            if c.use_backing_file {
                ctx.ui.say(&format!("Creating a disk backed by {src_s}..."));
                tool("qemu-img", &["create", "-f", "qcow2", "-b", &src_s, "-F", &src_fmt, &disk]).await?;
            } else {
                ctx.ui.say(&format!("Copying hard drive {src_s} to {disk}..."));
                tool("qemu-img", &["convert", "-f", &src_fmt, "-O", &c.format, &src_s, &disk]).await?;
            }
            if let (Some(size), false) = (&c.disk_size, c.skip_resize_disk) {
                ctx.ui.say(&format!("Resizing hard drive to {size}..."));
                tool("qemu-img", &["resize", "-f", &c.format, &disk, &qemu_size(size)]).await?;
            }
        } else {
            let size = qemu_size(c.disk_size.as_deref().unwrap_or("40960M"));
            ctx.ui.say(&format!("Creating required virtual machine disks ({size})..."));
            tool("qemu-img", &["create", "-f", &c.format, &disk, &size]).await?;
        }
        Ok(())
    }
}

/// Packer's disk sizes: a bare number is MiB.
fn qemu_size(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_digit()) {
        format!("{s}M")
    } else {
        s.trim_end_matches(['b', 'B']).to_string()
    }
}

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
        use crate::plugin::{get_bool, get_i64, get_str, is_set};
        let c = &self.cfg.raw;
        if self.cfg.communicator_none || is_set(c, "ssh_password") || is_set(c, "ssh_private_key_file") || get_bool(c, "ssh_agent_auth").unwrap_or(false) {
            return Ok(());
        }
        let kind = get_str(c, "temporary_key_pair_type").unwrap_or_else(|| "ed25519".into());
        ctx.ui.say(&format!("Creating temporary {kind} SSH key for instance..."));
        let key = match kind.as_str() {
            "ed25519" => PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::random(&mut rand_core::OsRng)),
            "rsa" => {
                let bits = get_i64(c, "temporary_key_pair_bits").unwrap_or(4096);
                let bits = usize::try_from(bits).ok().filter(|b| *b >= 2048).ok_or(failed(format!("temporary_key_pair_bits {bits}: RSA keys need at least 2048 bits")))?;
                let pair = tokio::task::spawn_blocking(move || russh::keys::ssh_key::private::RsaKeypair::random(&mut rand_core::OsRng, bits)).await.map_err(|e| failed(e.to_string()))?.map_err(|e| failed(format!("generating an RSA key: {e}")))?;
                PrivateKey::from(pair)
            }
            other => return Err(failed(format!("temporary_key_pair_type {other:?}: use \"rsa\" or \"ed25519\""))),
        };
        let public = key.public_key().to_openssh().map_err(|e| failed(e.to_string()))?;
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
            (None, false) => http::Content::Files(Arc::new(self.cfg.http_content.iter().map(|(k, v)| (if k.starts_with('/') { k.clone() } else { format!("/{k}") }, v.clone())).collect())),
            (None, true) => return Ok(()),
        };
        let server = http::start(content, self.cfg.http_port_range).await?;
        ctx.ui.say(&format!("Starting HTTP server on port {}", server.port));
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
        ctx.ui.say(&format!("Looking for available communicator (SSH, WinRM, etc) port between {lo} and {hi}"));
        // Start at a random offset so parallel builds rarely race for one port.
        let span = u32::from(hi - lo) + 1;
        let start = (std::process::id() ^ uuid::Uuid::new_v4().as_u128() as u32) % span;
        for i in 0..span {
            let port = lo + ((start + i) % span) as u16;
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                s.host_port = port;
                ctx.set_generated("SSHHostPort", port.to_string());
                ctx.ui.say(&format!("Found available port: {port} on IP: 127.0.0.1"));
                return Ok(());
            }
        }
        Err(failed(format!("no free port between {lo} and {hi} on 127.0.0.1")))
    }
}

// ---- run qemu --------------------------------------------------------------------

pub struct RunQemu<'a> {
    pub cfg: &'a QemuConfig,
}

/// `{{ .HTTPIP }}`-style placeholders Packer fills in `qemuargs`.
fn interpolate(s: &str, vars: &[(&str, String)]) -> String {
    let mut out = s.to_string();
    for (k, v) in vars {
        for pat in [format!("{{{{ .{k} }}}}"), format!("{{{{.{k}}}}}")] {
            out = out.replace(&pat, v);
        }
    }
    out
}

impl RunQemu<'_> {
    fn args(&self, s: &State, scratch: &Path) -> Vec<String> {
        let c = self.cfg;
        let mut net = String::from("user,id=user.0,restrict=on");
        if !c.communicator_none && !c.skip_nat_mapping {
            net.push_str(&format!(",hostfwd=tcp:127.0.0.1:{}-:{}", s.host_port, c.guest_port));
        }
        if let Some(h) = &s.http {
            let exe = std::env::current_exe().map(|p| p.to_string_lossy().to_string()).unwrap_or_else(|_| "kiln".into());
            net.push_str(&format!(",guestfwd=tcp:{GUEST_HTTP_IP}:{p}-cmd:{exe} __guestfwd 127.0.0.1:{p}", p = h.port));
        }
        let mut drive = format!("file={},if={},cache={},discard={},format={}", s.disk.display(), c.disk_interface, c.disk_cache, c.disk_discard, c.format);
        if c.disk_detect_zeroes != "off" {
            drive.push_str(&format!(",detect-zeroes={}", c.disk_detect_zeroes));
        }
        let headless = c.headless || std::env::var_os("DISPLAY").is_none();
        // Defaults, each a flag with its values; a qemuargs row with the same flag replaces it.
        let mut defaults: Vec<Vec<String>> = vec![
            vec!["-name".into(), c.vm_name.clone()],
            vec!["-machine".into(), format!("type={},accel={}", c.machine_type, s.accel)],
            vec!["-m".into(), format!("{}M", c.memory)],
            vec!["-smp".into(), c.cpus.to_string()],
            vec!["-netdev".into(), net],
            vec!["-device".into(), format!("{},netdev=user.0", c.net_device)],
            vec!["-drive".into(), drive],
            vec!["-boot".into(), if c.disk_image { "c".into() } else { "once=d".into() }],
            vec!["-qmp".into(), format!("unix:{},server=on,wait=off", scratch.join("qmp.sock").display())],
            vec!["-serial".into(), format!("file:{}", scratch.join("console.log").display())],
        ];
        if headless {
            defaults.push(vec!["-display".into(), "none".into()]);
        }
        if !c.disk_image {
            defaults.push(vec!["-cdrom".into(), c.source.display().to_string()]);
        }
        if let Some(cd) = &s.cd {
            defaults.push(vec!["-drive".into(), format!("file={},media=cdrom,readonly=on", cd.display())]);
        }
        if let Some(fw) = &c.firmware {
            defaults.push(vec!["-bios".into(), fw.display().to_string()]);
        }
        if let Some(m) = &c.cpu_model {
            defaults.push(vec!["-cpu".into(), m.clone()]);
        }
        let vars = [
            ("HTTPIP", GUEST_HTTP_IP.to_string()),
            ("HTTPPort", s.http.as_ref().map(|h| h.port.to_string()).unwrap_or_default()),
            ("HTTPDir", c.http_directory.as_ref().map(|d| d.display().to_string()).unwrap_or_default()),
            ("OutputDir", c.output_directory.display().to_string()),
            ("Name", c.vm_name.clone()),
            ("SSHHostPort", s.host_port.to_string()),
        ];
        let user: Vec<Vec<String>> = c.qemuargs.iter().map(|row| row.iter().map(|a| interpolate(a, &vars)).collect()).collect();
        let replaced: Vec<&String> = user.iter().filter_map(|r| r.first()).filter(|f| defaults.iter().any(|d| &d[0] == *f)).collect();
        // The QMP socket and the console log are kiln's own; the netdev too, unless the user replaces it.
        let mut out: Vec<String> = Vec::new();
        for d in &defaults {
            if !replaced.contains(&&d[0]) || d[0] == "-qmp" {
                out.extend(d.iter().cloned());
            }
        }
        for r in &user {
            if r.first().map(String::as_str) == Some("-qmp") {
                continue;
            }
            out.extend(r.iter().cloned());
        }
        out
    }
}

#[async_trait]
impl Step<State> for RunQemu<'_> {
    fn name(&self) -> &'static str {
        "StepRun"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let scratch = s.scratch()?;
        let args = self.args(s, &scratch);
        ctx.ui.say(if self.cfg.disk_image { "Starting VM, booting disk image" } else { "Starting VM, booting from CD-ROM" });
        tracing::debug!(qemu = %self.cfg.qemu_binary, ?args, "starting qemu");
        let mut cmd = tokio::process::Command::new(&self.cfg.qemu_binary);
        cmd.args(&args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).kill_on_drop(true);
        // Its own process group (a terminal's Ctrl-C reaches kiln, which shuts
        // the guest down in order), and it dies with kiln even on `kill -9`.
        cmd.process_group(0);
        // SAFETY: prctl in the child between fork and exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| failed(if e.kind() == std::io::ErrorKind::NotFound { format!("{} is not installed (Debian: qemu-system-x86)", self.cfg.qemu_binary) } else { format!("starting {}: {e}", self.cfg.qemu_binary) }))?;
        let pid = child.id().and_then(|p| i32::try_from(p).ok()).unwrap_or(0);
        let stderr = child.stderr.take();
        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let mut err_text = String::new();
            if let Some(e) = stderr {
                let mut lines = BufReader::new(e).lines();
                while let Ok(Some(l)) = lines.next_line().await {
                    tracing::debug!(target: "qemu", "{l}");
                    if err_text.len() < 4096 {
                        err_text.push_str(&l);
                        err_text.push('\n');
                    }
                }
            }
            let status = child.wait().await.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            let _ = tx.send(Some(format!("{status}{}{}", if err_text.is_empty() { "" } else { ": " }, err_text.trim())));
        });
        s.vm = Some(Vm { pid, exited: rx, qmp: scratch.join("qmp.sock") });
        // A qemu that refuses its arguments exits at once: report that here.
        if let Some(vm) = &mut s.vm {
            if let Ok(Ok(())) = tokio::time::timeout(Duration::from_millis(300), vm.exited.changed()).await {
                let why = vm.exited.borrow().clone().unwrap_or_default();
                return Err(failed(format!("Error launching VM: qemu exited: {why}")));
            }
        }
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if let Some(vm) = s.vm.take() {
            if vm.exited.borrow().is_none() {
                ctx.ui.say("Stopping the virtual machine...");
                stop(vm).await;
            }
        }
    }
}

/// Send one QMP command (`quit`, `system_powerdown`); best effort.
async fn qmp(sock: &Path, command: &str) -> Result<(), String> {
    let stream = tokio::time::timeout(Duration::from_secs(2), tokio::net::UnixStream::connect(sock)).await.map_err(|_| "QMP: timeout".to_string())?.map_err(|e| e.to_string())?;
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let mut next = async || tokio::time::timeout(Duration::from_secs(2), lines.next_line()).await.ok().and_then(|l| l.ok()).flatten();
    next().await.ok_or("QMP: no greeting")?;
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").await.map_err(|e| e.to_string())?;
    next().await.ok_or("QMP: no answer")?;
    w.write_all(format!("{{\"execute\":\"{command}\"}}\n").as_bytes()).await.map_err(|e| e.to_string())?;
    let _ = next().await;
    Ok(())
}

async fn wait_exit(vm: &mut Vm, d: Duration) -> bool {
    if vm.exited.borrow().is_some() {
        return true;
    }
    let mut rx = vm.exited.clone();
    let done = tokio::time::timeout(d, rx.wait_for(|v| v.is_some())).await.is_ok();
    done
}

/// Stop qemu now: QMP quit, then SIGTERM, then SIGKILL.
async fn stop(mut vm: Vm) {
    let _ = qmp(&vm.qmp, "quit").await;
    if wait_exit(&mut vm, Duration::from_secs(3)).await {
        return;
    }
    // SAFETY: signalling a child we started; its pid is not reused while we hold its wait task.
    unsafe {
        libc::kill(vm.pid, libc::SIGTERM);
    }
    if wait_exit(&mut vm, Duration::from_secs(5)).await {
        return;
    }
    // SAFETY: as above.
    unsafe {
        libc::kill(vm.pid, libc::SIGKILL);
    }
    wait_exit(&mut vm, Duration::from_secs(5)).await;
}

// ---- boot wait -------------------------------------------------------------------

pub struct BootWait<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for BootWait<'_> {
    fn name(&self) -> &'static str {
        "StepBootWait"
    }
    async fn run(&self, _s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if let Some(d) = self.cfg.boot_wait.filter(|d| !d.is_zero()) {
            ctx.ui.say(&format!("Waiting {}s for boot...", d.as_secs()));
            ctx.sleep(d).await?;
        }
        Ok(())
    }
}

// ---- connect, failing fast when the guest dies --------------------------------------

pub struct Connect<'a> {
    pub inner: crate::builder::common::StepConnect<'a, State>,
}

#[async_trait]
impl Step<State> for Connect<'_> {
    fn name(&self) -> &'static str {
        "StepConnect"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(mut exited) = s.vm.as_ref().map(|v| v.exited.clone()) else { return self.inner.run(s, ctx).await };
        let raced = tokio::select! {
            r = self.inner.run(s, ctx) => Some(r),
            _ = exited.wait_for(|v| v.is_some()) => None,
        };
        let r = raced.unwrap_or_else(|| {
            let why = exited.borrow().clone().unwrap_or_default();
            Err(failed(format!("the virtual machine stopped before SSH became available ({why})")))
        });
        r.map_err(|e| match e {
            BuildError::Failed(m) => {
                let tail = s.console_tail(15);
                if tail.trim().is_empty() {
                    BuildError::Failed(m)
                } else {
                    BuildError::Failed(format!("{m}\nLast lines of the guest's console:\n{tail}"))
                }
            }
            other => other,
        })
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        self.inner.cleanup(s, ctx).await;
    }
}

// ---- shutdown --------------------------------------------------------------------

pub struct Shutdown<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for Shutdown<'_> {
    fn name(&self) -> &'static str {
        "StepShutdown"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let timeout = self.cfg.shutdown_timeout;
        match (&self.cfg.shutdown_command, s.ssh.take()) {
            (Some(cmd), Some(ssh)) => {
                ctx.ui.say("Gracefully halting virtual machine...");
                use crate::communicator::Communicator;
                // The connection drops as the machine goes down: not an error.
                let _ = tokio::time::timeout(Duration::from_secs(30), ssh.run(cmd, &mut |_| {})).await;
                ssh.close().await;
            }
            (_, ssh) => {
                if let Some(ssh) = ssh {
                    ssh.close().await;
                }
                ctx.ui.say("Halting the virtual machine (ACPI power button)...");
                if let Some(vm) = &s.vm {
                    let _ = qmp(&vm.qmp, "system_powerdown").await;
                }
            }
        }
        let Some(vm) = s.vm.as_mut() else { return Ok(()) };
        let done = tokio::select! {
            d = wait_exit(vm, timeout) => d,
            _ = ctx.cancel.cancelled() => return Err(BuildError::Cancelled),
        };
        if !done {
            if self.cfg.shutdown_command.is_some() {
                return Err(failed("Timeout while waiting for machine to shutdown."));
            }
            ctx.ui.error("The machine did not power off in time; stopping it.");
            if let Some(vm) = s.vm.take() {
                stop(vm).await;
            }
        }
        Ok(())
    }
}

// ---- convert / compact ---------------------------------------------------------------

pub struct ConvertDisk<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for ConvertDisk<'_> {
    fn name(&self) -> &'static str {
        "StepConvertDisk"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        if c.skip_compaction || c.use_backing_file || (c.format != "qcow2") {
            return Ok(());
        }
        ctx.ui.say(&format!("Converting hard drive{}...", if c.disk_compression { " (compressed)" } else { "" }));
        let tmp = s.disk.with_extension("kiln-convert");
        let (disk, tmp_s) = (s.disk.to_string_lossy().to_string(), tmp.to_string_lossy().to_string());
        // Parallel, out-of-order writes; zstd when compressing (qemu >= 5.1
        // reads it; far faster than zlib, which made this step minutes long).
        let mut args = vec!["convert", "-m", "4", "-W", "-O", c.format.as_str()];
        if c.disk_compression {
            args.extend(["-c", "-o", "compression_type=zstd"]);
        }
        args.extend([disk.as_str(), tmp_s.as_str()]);
        let r = tool("qemu-img", &args).await;
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(e));
        }
        std::fs::rename(&tmp, &s.disk).map_err(|e| failed(format!("renaming {tmp_s}: {e}")))?;
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, _ctx: &BuildContext) {
        let _ = std::fs::remove_file(s.disk.with_extension("kiln-convert"));
    }
}

/// Marks the build good: the output directory stays.
pub struct Keep;

#[async_trait]
impl Step<State> for Keep {
    fn name(&self) -> &'static str {
        "StepKeep"
    }
    async fn run(&self, s: &mut State, _ctx: &BuildContext) -> Result<(), BuildError> {
        s.succeeded = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_specs() {
        let p = Path::new("/x/disk.img");
        assert_eq!(expected_checksum("sha256:ABC", p).ok(), Some(("sha256".into(), "abc".into())));
        assert_eq!(expected_checksum(&"a".repeat(64), p).ok(), Some(("sha256".into(), "a".repeat(64))));
        assert_eq!(expected_checksum(&"b".repeat(32), p).ok(), Some(("md5".into(), "b".repeat(32))));
        assert!(expected_checksum("abc", p).is_err());
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("SHA256SUMS");
        std::fs::write(&f, format!("{}  other.img\n{} *disk.img\n", "0".repeat(64), "1".repeat(64))).expect("write");
        assert_eq!(expected_checksum(&format!("file:{}", f.display()), p).ok(), Some(("sha256".into(), "1".repeat(64))));
    }

    #[test]
    fn sizes_are_mebibytes_when_bare() {
        assert_eq!(qemu_size("40960"), "40960M");
        assert_eq!(qemu_size("2G"), "2G");
        assert_eq!(qemu_size("10GB"), "10G");
    }

    #[test]
    fn qemuargs_replace_defaults_and_interpolate() {
        assert_eq!(interpolate("http://{{ .HTTPIP }}:{{.HTTPPort}}/", &[("HTTPIP", "10.0.2.2".into()), ("HTTPPort", "8080".into())]), "http://10.0.2.2:8080/");
    }
}
