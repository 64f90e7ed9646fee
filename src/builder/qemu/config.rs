//! The qemu builder's options, as Packer's qemu plugin names them.

use crate::graph::Config;
use crate::plugin::{
    get_bool, get_duration, get_i64, get_str, get_string_map, get_strings, is_set, Field, Kind,
};
use std::path::PathBuf;
use std::time::Duration;

pub const FIELDS: &[Field] = &[
    Field::new("iso_url", Kind::String),
    Field::new("iso_urls", Kind::Strings),
    Field::new("iso_checksum", Kind::String),
    Field::new("iso_target_path", Kind::String),
    Field::new("iso_target_extension", Kind::String),
    Field::new("disk_image", Kind::Bool),
    Field::new("use_backing_file", Kind::Bool),
    Field::new("output_directory", Kind::String),
    Field::new("vm_name", Kind::String),
    Field::new("format", Kind::String),
    Field::new("disk_size", Kind::String),
    Field::new("disk_interface", Kind::String),
    Field::new("disk_cache", Kind::String),
    Field::new("disk_discard", Kind::String),
    Field::new("disk_detect_zeroes", Kind::String),
    Field::new("disk_compression", Kind::Bool),
    Field::new("disk_additional_size", Kind::Strings),
    Field::new("skip_compaction", Kind::Bool),
    Field::new("skip_resize_disk", Kind::Bool),
    Field::new("net_device", Kind::String),
    Field::new("memory", Kind::Number),
    Field::new("cpus", Kind::Number),
    Field::new("cores", Kind::Number),
    Field::new("sockets", Kind::Number),
    Field::new("threads", Kind::Number),
    Field::new("machine_type", Kind::String),
    Field::new("cpu_model", Kind::String),
    Field::new("firmware", Kind::String),
    Field::new("accelerator", Kind::String),
    Field::new("headless", Kind::Bool),
    Field::new("display", Kind::String),
    Field::new("use_default_display", Kind::Bool),
    Field::new("qemu_binary", Kind::String),
    Field::new("qemuargs", Kind::Any),
    Field::new("ssh_host_port_min", Kind::Number),
    Field::new("ssh_host_port_max", Kind::Number),
    Field::new("host_port_min", Kind::Number),
    Field::new("host_port_max", Kind::Number),
    Field::new("skip_nat_mapping", Kind::Bool),
    Field::new("http_directory", Kind::String),
    Field::new("http_content", Kind::StringMap),
    Field::new("http_port_min", Kind::Number),
    Field::new("http_port_max", Kind::Number),
    Field::new("http_bind_address", Kind::String),
    Field::new("cd_files", Kind::Strings),
    Field::new("cd_content", Kind::StringMap),
    Field::new("cd_label", Kind::String),
    Field::new("floppy_files", Kind::Strings),
    Field::new("floppy_dirs", Kind::Strings),
    Field::new("floppy_content", Kind::StringMap),
    Field::new("floppy_label", Kind::String),
    Field::new("boot_command", Kind::Strings),
    Field::new("boot_wait", Kind::Duration),
    Field::new("boot_key_interval", Kind::Duration),
    Field::new("boot_keygroup_interval", Kind::Duration),
    Field::new("vnc_bind_address", Kind::String),
    Field::new("vnc_port_min", Kind::Number),
    Field::new("vnc_port_max", Kind::Number),
    Field::new("vnc_use_password", Kind::Bool),
    Field::new("qmp_enable", Kind::Bool),
    Field::new("qmp_socket_path", Kind::String),
    Field::new("shutdown_command", Kind::String),
    Field::new("shutdown_timeout", Kind::Duration),
];

/// The CPU topology settings, in the order `-smp` takes them.
const TOPOLOGY: [&str; 3] = ["sockets", "cores", "threads"];

/// Options Packer has that mean nothing in how kiln runs qemu: accepted (a
/// template written for Packer keeps validating) with a warning that says
/// why they do nothing, rather than ignored without a word.
const NO_EFFECT: &[(&str, &str)] = &[
    ("vnc_bind_address", "kiln opens no VNC display (it types the boot_command through QMP)"),
    ("vnc_port_min", "kiln opens no VNC display (it types the boot_command through QMP)"),
    ("vnc_port_max", "kiln opens no VNC display (it types the boot_command through QMP)"),
    ("vnc_use_password", "kiln opens no VNC display (it types the boot_command through QMP)"),
    ("boot_keygroup_interval", "it paces USB scancode groups, which qemu's typing (Packer's over VNC, kiln's over QMP) does not send; boot_key_interval paces each key"),
    ("qmp_enable", "kiln always drives qemu over a QMP socket of its own"),
    ("qmp_socket_path", "kiln always drives qemu over a QMP socket of its own"),
    ("http_bind_address", "kiln's HTTP server listens on 127.0.0.1 and reaches the guest through qemu's guestfwd"),
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Accel {
    Kvm,
    Tcg,
    Hvf,
    None,
    /// kvm when it really works here, else tcg.
    Auto,
}

#[derive(Debug, Clone)]
pub struct QemuConfig {
    pub raw: Config,
    pub build_name: String,
    /// The ISO, or with `disk_image` the disk to start from: a local file,
    /// or where the download of `remote` goes.
    pub source: PathBuf,
    /// `iso_url`/`iso_urls` to download (in order, until one works) when
    /// none names a local file; their file name finds a `file:` checksum's line.
    pub remote: Vec<String>,
    pub checksum: Option<String>,
    pub disk_image: bool,
    pub use_backing_file: bool,
    pub output_directory: PathBuf,
    pub vm_name: String,
    pub format: String,
    pub disk_size: Option<String>,
    /// `disk_additional_size`: empty disks beside the main one, named
    /// `<vm_name>-1`, `-2`… in the output directory (as in Packer).
    pub disk_additional_size: Vec<String>,
    pub disk_interface: String,
    pub disk_cache: String,
    pub disk_discard: String,
    pub disk_detect_zeroes: String,
    pub disk_compression: bool,
    pub skip_compaction: bool,
    pub skip_resize_disk: bool,
    pub net_device: String,
    pub memory: i64,
    pub cpus: i64,
    /// The guest's CPU topology: each of [`TOPOLOGY`] the template sets.
    pub topology: Vec<(&'static str, i64)>,
    pub machine_type: String,
    pub cpu_model: Option<String>,
    pub firmware: Option<PathBuf>,
    pub accelerator: Accel,
    pub headless: bool,
    /// `display`: qemu's `-display` when not headless; `use_default_display`: none given.
    pub display: Option<String>,
    pub use_default_display: bool,
    pub qemu_binary: String,
    pub qemuargs: Vec<Vec<String>>,
    pub ssh_port_range: (u16, u16),
    pub skip_nat_mapping: bool,
    pub http_directory: Option<PathBuf>,
    pub http_content: Vec<(String, String)>,
    pub http_port_range: (u16, u16),
    pub floppy_files: Vec<String>,
    pub floppy_dirs: Vec<String>,
    pub floppy_content: Vec<(String, String)>,
    /// `floppy_label` (default "packer", as in Packer).
    pub floppy_label: String,
    pub cd_files: Vec<String>,
    pub cd_content: Vec<(String, String)>,
    pub cd_label: String,
    pub boot_wait: Option<Duration>,
    /// `boot_command`, typed after `boot_wait` ([`super::bootcommand`]).
    pub boot_command: Vec<String>,
    /// `boot_key_interval` (else `PACKER_KEY_INTERVAL`, else 100 ms, as in Packer).
    pub boot_key_interval: Duration,
    pub shutdown_command: Option<String>,
    pub shutdown_timeout: Duration,
    pub communicator_none: bool,
    pub guest_port: u16,
}

/// A local path from `iso_url`: a plain path or a `file://` URL; `None`
/// for an `http(s)://` URL, which is downloaded.
fn local_path(url: &str) -> Result<Option<PathBuf>, String> {
    if let Some(p) = url.strip_prefix("file://") {
        let p = percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .to_string();
        return Ok(Some(PathBuf::from(p)));
    }
    if is_remote(url) {
        return Ok(None);
    }
    if url.contains("://") {
        return Err(format!("iso_url {url:?}: kiln reads local files, file:// URLs and downloads http:// and https:// ones; fetch this one first"));
    }
    Ok(Some(PathBuf::from(url)))
}

pub fn is_remote(url: &str) -> bool {
    let l = url.to_ascii_lowercase();
    l.starts_with("http://") || l.starts_with("https://")
}

/// Where a downloaded image is kept: `iso_target_path`, else Packer's cache
/// name — the SHA-1 of the checksum (of the URL without one) with
/// `iso_target_extension` — in `PACKER_CACHE_DIR` (default `packer_cache`).
fn download_target(c: &Config, checksum: Option<&str>, url: &str) -> PathBuf {
    if let Some(p) = get_str(c, "iso_target_path").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    use sha1::Digest;
    let key = checksum.unwrap_or(url);
    let mut name = hex::encode(sha1::Sha1::digest(key.as_bytes()));
    let ext = get_str(c, "iso_target_extension").unwrap_or_else(|| "iso".into());
    if !ext.is_empty() {
        name = format!("{name}.{ext}");
    }
    let dir = std::env::var_os("PACKER_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("packer_cache"));
    dir.join(name)
}

fn port_range(
    c: &Config,
    min_keys: &[&str],
    max_keys: &[&str],
    default: (u16, u16),
) -> Result<(u16, u16), String> {
    let read = |keys: &[&str], d: u16| -> Result<u16, String> {
        for k in keys {
            if let Some(v) = get_i64(c, k) {
                return u16::try_from(v)
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(format!("{k} {v} is not a TCP port"));
            }
        }
        Ok(d)
    };
    let (lo, hi) = (read(min_keys, default.0)?, read(max_keys, default.1)?);
    if lo > hi {
        return Err(format!("{} must be less than {}", min_keys[0], max_keys[0]));
    }
    Ok((lo, hi))
}

fn qemuargs(c: &Config) -> Result<Vec<Vec<String>>, String> {
    let Some(v) = c.get("qemuargs") else {
        return Ok(Vec::new());
    };
    let rows = v
        .as_seq()
        .ok_or("qemuargs must be a list of lists of strings, e.g. [[\"-m\", \"1024M\"]]")?;
    rows.iter()
        .map(|row| {
            let items = row
                .as_seq()
                .ok_or("each qemuargs entry must be a list of strings")?;
            items
                .iter()
                .map(|i| {
                    crate::value::to_display_string(i)
                        .ok_or_else(|| "qemuargs entries must be strings".to_string())
                })
                .collect()
        })
        .collect()
}

impl QemuConfig {
    pub fn from_config(c: &Config, build_name: &str) -> Result<QemuConfig, Vec<String>> {
        let mut errs: Vec<String> = crate::communicator::validate(c);
        for (k, why) in NO_EFFECT {
            if is_set(c, k) {
                crate::ui::warn(&format!("{build_name}: {k} has no effect: {why}"));
            }
        }
        let mut urls = get_strings(c, "iso_urls");
        if let Some(u) = get_str(c, "iso_url") {
            urls.insert(0, u);
        }
        let mut remote: Vec<String> = Vec::new();
        let source = match urls.first() {
            None => {
                errs.push("One of iso_url or iso_urls must be specified".into());
                PathBuf::new()
            }
            Some(u) => {
                // The first URL that names a local file that exists; else
                // the http(s) ones, downloaded in order until one works.
                let mut found = None;
                let mut last_err = None;
                for u in &urls {
                    match local_path(u) {
                        Ok(Some(p)) if p.exists() => {
                            found = Some(p);
                            break;
                        }
                        Ok(Some(p)) => {
                            last_err = Some(format!("iso_url: {} does not exist", p.display()))
                        }
                        Ok(None) => remote.push(u.clone()),
                        Err(e) => last_err = Some(e),
                    }
                }
                match found {
                    Some(p) => {
                        remote.clear();
                        p
                    }
                    None if !remote.is_empty() => PathBuf::new(),
                    None => {
                        errs.push(last_err.unwrap_or_else(|| format!("iso_url {u:?} not found")));
                        PathBuf::new()
                    }
                }
            }
        };
        let checksum = match get_str(c, "iso_checksum") {
            None => {
                errs.push(
                    "A checksum must be specified (iso_checksum); use \"none\" to skip the check"
                        .into(),
                );
                None
            }
            Some(s) if s.eq_ignore_ascii_case("none") => None,
            Some(s) => Some(s),
        };
        let source = match remote.first() {
            Some(u) => download_target(c, checksum.as_deref(), u),
            None => source,
        };
        let format = get_str(c, "format").unwrap_or_else(|| "qcow2".into());
        if !matches!(format.as_str(), "qcow2" | "raw") {
            errs.push(format!(
                "invalid format {format:?}, only 'qcow2' and 'raw' are allowed"
            ));
        }
        let disk_image = get_bool(c, "disk_image").unwrap_or(false);
        let use_backing_file = get_bool(c, "use_backing_file").unwrap_or(false);
        if use_backing_file && !(disk_image && format == "qcow2") {
            errs.push(
                "use_backing_file can only be enabled for QCOW2 images and when disk_image is true"
                    .into(),
            );
        }
        let disk_compression = get_bool(c, "disk_compression").unwrap_or(false);
        if disk_compression && format != "qcow2" {
            errs.push("disk_compression is only supported for the qcow2 format".into());
        }
        let accelerator = match get_str(c, "accelerator").as_deref() {
            None | Some("") => Accel::Auto,
            Some("kvm") => Accel::Kvm,
            Some("tcg") => Accel::Tcg,
            Some("hvf") => Accel::Hvf,
            Some("none") => Accel::None,
            Some(o) => {
                errs.push(format!(
                    "invalid accelerator {o:?}, only 'kvm', 'tcg', 'hvf' and 'none' are allowed"
                ));
                Accel::Auto
            }
        };
        let disk_interface = get_str(c, "disk_interface").unwrap_or_else(|| "virtio".into());
        if !matches!(
            disk_interface.as_str(),
            "ide" | "sata" | "scsi" | "virtio" | "virtio-scsi" | "nvme"
        ) {
            errs.push(format!(
                "unrecognized disk interface type {disk_interface:?}"
            ));
        }
        let num = |k: &str, d: i64, errs: &mut Vec<String>| match get_i64(c, k) {
            Some(v) if v > 0 => v,
            Some(v) => {
                errs.push(format!("{k} must be positive, not {v}"));
                d
            }
            None => d,
        };
        let memory = num("memory", 512, &mut errs);
        let cpus = num("cpus", 1, &mut errs);
        let topology = TOPOLOGY
            .iter()
            .filter(|k| crate::plugin::is_set(c, k))
            .map(|k| (*k, num(k, 1, &mut errs)))
            .collect();
        let ssh_port_range = port_range(
            c,
            &["host_port_min", "ssh_host_port_min"],
            &["host_port_max", "ssh_host_port_max"],
            (2222, 4444),
        )
        .unwrap_or_else(|e| {
            errs.push(e);
            (2222, 4444)
        });
        let http_port_range = port_range(c, &["http_port_min"], &["http_port_max"], (8000, 9000))
            .unwrap_or_else(|e| {
                errs.push(e);
                (8000, 9000)
            });
        let http_directory = get_str(c, "http_directory")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let http_content = get_string_map(c, "http_content");
        if http_directory.is_some() && !http_content.is_empty() {
            errs.push("http_directory and http_content cannot both be set".into());
        }
        let mut dur = |k: &str| {
            get_duration(c, k).unwrap_or_else(|e| {
                errs.push(e);
                None
            })
        };
        let boot_wait = dur("boot_wait");
        let boot_key_interval = dur("boot_key_interval")
            .or_else(|| {
                std::env::var("PACKER_KEY_INTERVAL")
                    .ok()
                    .and_then(|v| crate::util::duration::parse(&v).ok())
            })
            .unwrap_or(Duration::from_millis(100));
        let shutdown_timeout = dur("shutdown_timeout").unwrap_or(Duration::from_secs(300));
        let boot_command = get_strings(c, "boot_command");
        for line in &boot_command {
            if let Err(e) = super::bootcommand::parse(line) {
                errs.push(e);
            }
        }
        let qemuargs = qemuargs(c).unwrap_or_else(|e| {
            errs.push(e);
            Vec::new()
        });
        let communicator_none = get_str(c, "communicator").as_deref() == Some("none");
        let guest_port = get_i64(c, "ssh_port")
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(22);
        let cfg = QemuConfig {
            raw: c.clone(),
            build_name: build_name.to_string(),
            source,
            remote,
            checksum,
            disk_image,
            use_backing_file,
            output_directory: PathBuf::from(
                get_str(c, "output_directory").unwrap_or_else(|| format!("output-{build_name}")),
            ),
            vm_name: get_str(c, "vm_name").unwrap_or_else(|| format!("packer-{build_name}")),
            format,
            disk_size: get_str(c, "disk_size").filter(|s| !s.is_empty()),
            disk_additional_size: get_strings(c, "disk_additional_size"),
            disk_interface,
            disk_cache: get_str(c, "disk_cache").unwrap_or_else(|| "writeback".into()),
            disk_discard: get_str(c, "disk_discard").unwrap_or_else(|| "ignore".into()),
            disk_detect_zeroes: get_str(c, "disk_detect_zeroes").unwrap_or_else(|| "off".into()),
            disk_compression,
            skip_compaction: get_bool(c, "skip_compaction").unwrap_or(false),
            skip_resize_disk: get_bool(c, "skip_resize_disk").unwrap_or(false),
            net_device: get_str(c, "net_device").unwrap_or_else(|| "virtio-net".into()),
            memory,
            cpus,
            topology,
            machine_type: get_str(c, "machine_type").unwrap_or_else(|| "pc".into()),
            cpu_model: get_str(c, "cpu_model"),
            firmware: get_str(c, "firmware").map(PathBuf::from),
            accelerator,
            headless: get_bool(c, "headless").unwrap_or(false),
            display: get_str(c, "display").filter(|d| !d.is_empty()),
            use_default_display: get_bool(c, "use_default_display").unwrap_or(false),
            qemu_binary: get_str(c, "qemu_binary").unwrap_or_else(|| "qemu-system-x86_64".into()),
            qemuargs,
            ssh_port_range,
            skip_nat_mapping: get_bool(c, "skip_nat_mapping").unwrap_or(false),
            http_directory,
            http_content,
            http_port_range,
            floppy_files: get_strings(c, "floppy_files"),
            floppy_dirs: get_strings(c, "floppy_dirs"),
            floppy_content: get_string_map(c, "floppy_content"),
            floppy_label: get_str(c, "floppy_label")
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "packer".into()),
            cd_files: get_strings(c, "cd_files"),
            cd_content: get_string_map(c, "cd_content"),
            cd_label: get_str(c, "cd_label").unwrap_or_else(|| "cidata".into()),
            boot_wait,
            boot_command,
            boot_key_interval,
            shutdown_command: get_str(c, "shutdown_command").filter(|s| !s.is_empty()),
            shutdown_timeout,
            communicator_none,
            guest_port,
        };
        if errs.is_empty() {
            Ok(cfg)
        } else {
            Err(errs)
        }
    }
}

pub fn validate(c: &Config) -> Vec<String> {
    match QemuConfig::from_config(c, "validate") {
        Ok(_) => Vec::new(),
        Err(e) => e,
    }
}
