//! `kiln-debian-base` (a kiln extension; Packer has no such data source): a
//! minimal, SSH-ready Debian disk built from Debian's archive, for machines
//! that cannot download a cloud image or an ISO.
//!
//! mmdebstrap builds the root filesystem from the host's own apt sources,
//! `mkfs.ext4 -d` turns it into a raw disk without mounts or loop devices,
//! and the kernel and initrd are kept beside it for direct kernel boot.
//! The result is cached under a key of every input, so a second build
//! with the same inputs skips all of it.
//!
//! The image has a user (`debian` by default) with passwordless sudo whose
//! authorized key is generated here (`ssh_private_key_file` output), DHCP on
//! its first NIC (systemd-networkd), and no SSH host keys: they are made on
//! a machine's first boot, so images built from this base do not share them
//! as long as the build removes them again (`rm /etc/ssh/ssh_host_*`).

use crate::communicator::ssh::sh_quote;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::value::{Attrs, Value};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kiln-debian-base data source's options.
#[derive(Options)]
pub struct DebianBaseOptions {
    /// The Debian release (else the host's, else bookworm).
    suite: Option<String>,
    /// apt source files to build from (else the host's).
    mirrors: Vec<String>,
    /// Packages installed in the image, beyond the base set.
    packages: Vec<String>,
    /// Packages downloaded into the image's apt cache, not installed.
    cached_packages: Vec<String>,
    /// The disk's size ("2G", "1500M").
    #[option(default = "2G")]
    size: String,
    /// The login the image is made for (not root).
    #[option(default = "debian")]
    username: String,
    /// Where built images are kept (else `$KILN_CACHE_DIR`, `~/.cache/kiln`).
    cache_dir: Option<String>,
}

pub const FIELDS: &[Field] = DebianBaseOptions::FIELDS;

/// Bump when the recipe below changes, so old caches are not reused.
const RECIPE: &str = "kiln-debian-base/2";

/// What the image always has: an init, SSH, a kernel for virtio disks and NICs, sudo.
const BASE_PACKAGES: &[&str] = &[
    "systemd-sysv",
    "udev",
    "openssh-server",
    "linux-image-cloud-amd64",
    "sudo",
    "iproute2",
    "ca-certificates",
];

pub const KERNEL_ARGS: &str = "root=/dev/vda rw console=ttyS0 net.ifnames=0";

struct Inputs {
    suite: String,
    mirrors: Vec<String>,
    packages: Vec<String>,
    cached: Vec<String>,
    size: String,
    username: String,
    cache_dir: PathBuf,
}

fn host_suite() -> Option<String> {
    let text = std::fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|s| s.trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
}

/// The host's Debian apt sources, as files mmdebstrap reads.
fn host_mirrors() -> Vec<String> {
    let mut out = Vec::new();
    let list = Path::new("/etc/apt/sources.list");
    if std::fs::read_to_string(list)
        .is_ok_and(|t| t.lines().any(|l| l.trim_start().starts_with("deb ")))
    {
        out.push(list.display().to_string());
    }
    let deb822 = Path::new("/etc/apt/sources.list.d/debian.sources");
    if deb822.exists() {
        out.push(deb822.display().to_string());
    }
    out
}

fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("KILN_CACHE_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("kiln");
    }
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/kiln"))
        .unwrap_or_else(|| std::env::temp_dir().join("kiln-cache"))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.:_".contains(c))
}

fn inputs(c: &Config) -> Result<Inputs, Vec<String>> {
    let o = DebianBaseOptions::from_config(c).map_err(|e| vec![e])?;
    let mut errs = Vec::new();
    let suite = o
        .suite
        .or_else(host_suite)
        .unwrap_or_else(|| "bookworm".into());
    let mut mirrors = o.mirrors;
    if mirrors.is_empty() {
        mirrors = host_mirrors();
    }
    let packages = o.packages;
    let cached = o.cached_packages;
    for p in packages
        .iter()
        .chain(&cached)
        .chain(std::iter::once(&suite))
    {
        if !valid_name(p) {
            errs.push(format!("{p:?} is not a Debian package or suite name"));
        }
    }
    let username = o.username;
    if !username
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        || username.is_empty()
        || username == "root"
    {
        errs.push(format!(
            "username {username:?}: use a lower-case login name other than root"
        ));
    }
    let size = o.size;
    if !size
        .trim_end_matches(['K', 'M', 'G', 'T'])
        .chars()
        .all(|c| c.is_ascii_digit())
        || size.is_empty()
    {
        errs.push(format!("size {size:?}: write it like \"2G\" or \"1500M\""));
    }
    let cache_dir = o.cache_dir.map(PathBuf::from).unwrap_or_else(cache_root);
    if errs.is_empty() {
        Ok(Inputs {
            suite,
            mirrors,
            packages,
            cached,
            size,
            username,
            cache_dir,
        })
    } else {
        Err(errs)
    }
}

pub fn validate(c: &Config) -> Vec<String> {
    inputs(c).err().unwrap_or_default()
}

/// The cache key: every input, and the content of the mirror files.
fn key(i: &Inputs) -> String {
    let mut h = sha2::Sha256::new();
    h.update(RECIPE);
    for part in [&i.suite, &i.size, &i.username] {
        h.update([0]);
        h.update(part);
    }
    for list in [&i.mirrors, &i.packages, &i.cached] {
        h.update([1]);
        for m in list.iter() {
            h.update(m);
            h.update([0]);
            if let Ok(text) = std::fs::read(m) {
                h.update(text);
            }
        }
    }
    hex::encode(h.finalize())[..16].to_string()
}

fn outputs(dir: &Path, i: &Inputs, id: &str) -> Value {
    let s = |p: &str| Value::String(dir.join(p).display().to_string());
    let checksum = std::fs::read_to_string(dir.join("disk.raw.sha256"))
        .map(|h| format!("sha256:{}", h.trim()))
        .unwrap_or_else(|_| "none".into());
    Value::Object(Attrs::from([
        ("id".to_string(), Value::String(id.to_string())),
        ("disk".to_string(), s("disk.raw")),
        ("format".to_string(), Value::String("raw".into())),
        ("checksum".to_string(), Value::String(checksum)),
        ("kernel".to_string(), s("vmlinuz")),
        ("initrd".to_string(), s("initrd.img")),
        ("kernel_args".to_string(), Value::String(KERNEL_ARGS.into())),
        (
            "ssh_username".to_string(),
            Value::String(i.username.clone()),
        ),
        ("ssh_private_key_file".to_string(), s("id_ed25519")),
        ("suite".to_string(), Value::String(i.suite.clone())),
    ]))
}

pub fn execute(c: &Config) -> Result<Value, String> {
    let i = inputs(c).map_err(|e| e.join("\n"))?;
    let id = key(&i);
    let base = i.cache_dir.join("debian-base");
    let dir = base.join(&id);
    if dir.join("disk.raw").exists() {
        return Ok(outputs(&dir, &i, &id));
    }
    std::fs::create_dir_all(&base)
        .map_err(|e| format!("kiln-debian-base: creating {}: {e}", base.display()))?;
    // One builder per key at a time: parallel builds (or kilns) wait for it
    // and then share the result. The lock dies with its holder.
    let lock = std::fs::File::create(base.join(format!("{id}.lock")))
        .map_err(|e| format!("kiln-debian-base: {e}"))?;
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor we own; released when `lock` is dropped.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(format!(
                "kiln-debian-base: locking the cache: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    if dir.join("disk.raw").exists() {
        return Ok(outputs(&dir, &i, &id));
    }
    remove_stale(&base);
    let tmp = base.join(format!("{id}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let r = build(&i, &tmp);
    if let Err(e) = r {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!("kiln-debian-base: {e}"));
    }
    if let Err(e) = std::fs::rename(&tmp, &dir) {
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join("disk.raw").exists() {
            return Err(format!("kiln-debian-base: {e}"));
        }
    }
    Ok(outputs(&dir, &i, &id))
}

/// Half-built caches of processes that are gone.
fn remove_stale(base: &Path) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(pid) = name
            .rsplit_once(".tmp-")
            .and_then(|(_, p)| p.parse::<i32>().ok())
        {
            // SAFETY: kill with signal 0 only checks that the process exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let name = cmd.get_program().to_string_lossy().to_string();
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!(
                "{name} is not installed (Debian package {})",
                if name == "mmdebstrap" {
                    "mmdebstrap"
                } else {
                    "e2fsprogs"
                }
            )
        } else {
            format!("{name}: {e}")
        }
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        return Err(format!(
            "{name} failed ({}):\n{}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    Ok(())
}

fn build(i: &Inputs, tmp: &Path) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("building the base system needs root (mmdebstrap --mode=root, and mkfs.ext4 -d keeps file owners); run kiln with sudo once, later builds reuse the cache".into());
    }
    eprintln!("==> kiln-debian-base: building a minimal Debian {} system from the archive (once; cached in {})", i.suite, tmp.parent().map(|p| p.display().to_string()).unwrap_or_default());
    let root = tmp.join("root");
    std::fs::create_dir_all(tmp).map_err(|e| e.to_string())?;
    let key = russh::keys::PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::random(
        &mut crate::util::ssh_rng(),
    ));
    let private = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(|e| e.to_string())?;
    crate::util::fs::write_private(&tmp.join("id_ed25519"), private.as_bytes())
        .map_err(|e| e.to_string())?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    std::fs::write(tmp.join("id_ed25519.pub"), format!("{public}\n")).map_err(|e| e.to_string())?;

    let u = &i.username;
    let mut hook = format!(
        r#"set -e
R="$1"
printf '/dev/vda / ext4 defaults,errors=remount-ro 0 1\n' > "$R/etc/fstab"
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=eth* en*\n\n[Network]\nDHCP=yes\n' > "$R/etc/systemd/network/80-dhcp.network"
chroot "$R" systemctl enable systemd-networkd >/dev/null 2>&1
echo kiln > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 kiln\n::1 localhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
chroot "$R" useradd -m -s /bin/bash {u}
printf '%s ALL=(ALL) NOPASSWD:ALL\n' {u} > "$R/etc/sudoers.d/90-kiln"
chmod 440 "$R/etc/sudoers.d/90-kiln"
mkdir -p "$R/home/{u}/.ssh"
printf '%s\n' {public} > "$R/home/{u}/.ssh/authorized_keys"
chmod 700 "$R/home/{u}/.ssh"; chmod 600 "$R/home/{u}/.ssh/authorized_keys"
chroot "$R" chown -R {u}:{u} /home/{u}/.ssh
cat > "$R/etc/systemd/system/kiln-ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target
UNIT
chroot "$R" systemctl enable kiln-ssh-host-keys.service >/dev/null 2>&1
rm -f "$R"/etc/ssh/ssh_host_*
: > "$R/etc/machine-id"
"#,
        u = u,
        public = sh_quote(&public)
    );
    let mut skips = Vec::new();
    if !i.cached.is_empty() {
        // Kept in the image's apt cache, so the guest installs them with no network.
        hook.push_str(&format!(
            "chroot \"$R\" apt-get clean\nchroot \"$R\" apt-get install -q --download-only -y {}\n",
            i.cached
                .iter()
                .map(|p| sh_quote(p))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        skips.push("--skip=cleanup/apt/cache");
        skips.push("--skip=cleanup/apt/lists");
    }
    let hook_file = tmp.join("customize.sh");
    std::fs::write(&hook_file, hook).map_err(|e| e.to_string())?;

    let include: Vec<&str> = BASE_PACKAGES
        .iter()
        .copied()
        .chain(i.packages.iter().map(String::as_str))
        .collect();
    let mut mm = Command::new("mmdebstrap");
    mm.args(["--variant=minbase", "--mode=root", "--quiet"])
        .arg(format!("--include={}", include.join(",")))
        .arg(format!(
            "--customize-hook=sh {} \"$1\"",
            sh_quote(&hook_file.display().to_string())
        ))
        .args(&skips)
        .arg(&i.suite)
        .arg(&root);
    for m in &i.mirrors {
        mm.arg(m);
    }
    run(&mut mm)?;

    let boot = root.join("boot");
    let pick = |prefix: &str| -> Result<PathBuf, String> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(&boot)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
            })
            .collect();
        found.sort();
        found
            .pop()
            .ok_or(format!("no {prefix}* in the image's /boot"))
    };
    std::fs::copy(pick("vmlinuz-")?, tmp.join("vmlinuz")).map_err(|e| e.to_string())?;
    std::fs::copy(pick("initrd.img-")?, tmp.join("initrd.img")).map_err(|e| e.to_string())?;
    let disk = tmp.join("disk.raw");
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "kiln-root", "-d"])
        .arg(&root)
        .arg(&disk)
        .arg(&i.size))?;
    std::fs::remove_dir_all(&root).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&hook_file);
    let mut h = sha2::Sha256::new();
    let mut f = std::fs::File::open(&disk).map_err(|e| e.to_string())?;
    std::io::copy(&mut f, &mut h).map_err(|e| e.to_string())?;
    std::fs::write(tmp.join("disk.raw.sha256"), hex::encode(h.finalize()))
        .map_err(|e| e.to_string())?;
    Ok(())
}
