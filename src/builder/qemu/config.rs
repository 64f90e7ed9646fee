//! The qemu builder's options, as Packer's qemu plugin names them.

use crate::communicator::CommunicatorOptions;
use crate::graph::Config;
use crate::plugin::{Field, Options, StringMap};
use std::path::PathBuf;
use std::time::Duration;

/// The qemu builder's options (Packer's names); the communicator's are
/// [`crate::communicator::CommunicatorOptions`].
#[derive(Options)]
#[allow(dead_code)] // the no_effect options are declared, never read
pub struct QemuOptions {
    /// The ISO or disk image: a path, a `file://` or an `http(s)://` URL.
    iso_url: Option<String>,
    /// URLs tried in order after `iso_url`.
    iso_urls: Vec<String>,
    /// `type:hex`, a bare digest, `file:SUMS`, or `none`.
    iso_checksum: Option<String>,
    /// Where a download is kept (else Packer's cache name).
    iso_target_path: Option<String>,
    #[option(default = "iso")]
    iso_target_extension: String,
    /// `iso_url` is a disk to boot, not an installer.
    disk_image: bool,
    /// The output disk is a qcow2 overlay over `iso_url`.
    use_backing_file: bool,
    output_directory: Option<String>,
    vm_name: Option<String>,
    /// `qcow2` or `raw`.
    #[option(default = "qcow2")]
    format: String,
    disk_size: Option<String>,
    #[option(default = "virtio")]
    disk_interface: String,
    #[option(default = "writeback")]
    disk_cache: String,
    #[option(default = "ignore")]
    disk_discard: String,
    #[option(default = "off")]
    disk_detect_zeroes: String,
    disk_compression: bool,
    /// Empty disks beside the main one (`<vm_name>-1`, `-2`...).
    disk_additional_size: Vec<String>,
    skip_compaction: bool,
    skip_resize_disk: bool,
    #[option(default = "virtio-net")]
    net_device: String,
    /// MiB.
    memory: Option<i64>,
    cpus: Option<i64>,
    cores: Option<i64>,
    sockets: Option<i64>,
    threads: Option<i64>,
    #[option(default = "pc")]
    machine_type: String,
    cpu_model: Option<String>,
    firmware: Option<String>,
    /// The firmware as a pflash drive instead of `-bios`.
    use_pflash: bool,
    /// Boot with UEFI firmware (OVMF): set by either path below too.
    efi_boot: bool,
    efi_firmware_code: Option<String>,
    efi_firmware_vars: Option<String>,
    /// Leave the writable copy of the firmware's variables out of the artifact.
    efi_drop_efivars: bool,
    /// qemu's `-vga` card; unset: the machine's default.
    vga: Option<String>,
    /// The interface of the CD drives (the ISO, `cd_files`): `ide`, `scsi`,
    /// `virtio`, `virtio-scsi`...; unset: qemu's default for a CD.
    cdrom_interface: Option<String>,
    /// `kvm`, `tcg`, `hvf`, `none`; unset: KVM where it really works.
    accelerator: Option<String>,
    headless: bool,
    display: Option<String>,
    use_default_display: bool,
    #[option(default = "qemu-system-x86_64")]
    qemu_binary: String,
    /// Extra qemu arguments, one list per option (`[["-m", "1024M"]]`).
    qemuargs: Vec<Vec<String>>,
    ssh_host_port_min: Option<i64>,
    ssh_host_port_max: Option<i64>,
    host_port_min: Option<i64>,
    host_port_max: Option<i64>,
    skip_nat_mapping: bool,
    /// Files served to the guest at `{{ .HTTPIP }}:{{ .HTTPPort }}`.
    http_directory: Option<String>,
    /// Paths and their content, served like `http_directory`.
    http_content: StringMap,
    http_port_min: Option<i64>,
    http_port_max: Option<i64>,
    #[option(
        no_effect = "kiln's HTTP server listens on 127.0.0.1 and reaches the guest through qemu's guestfwd"
    )]
    http_bind_address: Option<String>,
    cd_files: Vec<String>,
    cd_content: StringMap,
    #[option(default = "cidata")]
    cd_label: String,
    floppy_files: Vec<String>,
    floppy_dirs: Vec<String>,
    floppy_content: StringMap,
    floppy_label: Option<String>,
    /// Keys typed into the guest after `boot_wait`.
    boot_command: Vec<String>,
    boot_wait: Option<Duration>,
    boot_key_interval: Option<Duration>,
    #[option(
        no_effect = "it paces USB scancode groups, which qemu's typing (Packer's over VNC, kiln's over QMP) does not send; boot_key_interval paces each key"
    )]
    boot_keygroup_interval: Option<Duration>,
    #[option(no_effect = "kiln opens no VNC display (it types the boot_command through QMP)")]
    vnc_bind_address: Option<String>,
    #[option(no_effect = "kiln opens no VNC display (it types the boot_command through QMP)")]
    vnc_port_min: Option<i64>,
    #[option(no_effect = "kiln opens no VNC display (it types the boot_command through QMP)")]
    vnc_port_max: Option<i64>,
    #[option(no_effect = "kiln opens no VNC display (it types the boot_command through QMP)")]
    vnc_use_password: bool,
    #[option(no_effect = "kiln always drives qemu over a QMP socket of its own")]
    qmp_enable: bool,
    #[option(no_effect = "kiln always drives qemu over a QMP socket of its own")]
    qmp_socket_path: Option<String>,
    /// Run on the guest to stop it (else an ACPI power-off).
    shutdown_command: Option<String>,
    #[option(default = Duration::from_secs(300))]
    shutdown_timeout: Duration,
}

pub const FIELDS: &[Field] = QemuOptions::FIELDS;

/// Where Debian's `ovmf` package puts the firmware (the qemu plugin's
/// defaults).
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS.fd";

#[derive(Debug, Clone)]
pub struct Efi {
    pub code: PathBuf,
    pub vars: PathBuf,
}

/// The CPU topology settings, in the order `-smp` takes them.
const TOPOLOGY: [&str; 3] = ["sockets", "cores", "threads"];

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
    pub use_pflash: bool,
    /// UEFI boot: the firmware's code (read only) and the variables file
    /// copied into the output directory as `efivars.fd` (written by the
    /// guest).
    pub efi: Option<Efi>,
    pub efi_drop_efivars: bool,
    pub vga: Option<String>,
    pub cdrom_interface: Option<String>,
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
    /// `ssh_host`: connect there, not to the forwarded port on 127.0.0.1.
    pub ssh_host: Option<String>,
    pub ssh_clear_authorized_keys: bool,
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
fn download_target(o: &QemuOptions, checksum: Option<&str>, url: &str) -> PathBuf {
    if let Some(p) = o.iso_target_path.as_ref().filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    use sha1::Digest;
    let key = checksum.unwrap_or(url);
    let mut name = hex::encode(sha1::Sha1::digest(key.as_bytes()));
    let ext = &o.iso_target_extension;
    if !ext.is_empty() {
        name = format!("{name}.{ext}");
    }
    let dir = std::env::var_os("PACKER_CACHE_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("packer_cache"));
    dir.join(name)
}

/// A port range from its options (the first of each list that is set; the
/// last of each list is the option's current name), checked.
fn port_range(
    min: &[(&str, Option<i64>)],
    max: &[(&str, Option<i64>)],
    default: (u16, u16),
) -> Result<(u16, u16), String> {
    let read = |keys: &[(&str, Option<i64>)], d: u16| -> Result<u16, String> {
        match keys.iter().find_map(|(k, v)| Some((k, (*v)?))) {
            Some((k, v)) => u16::try_from(v)
                .ok()
                .filter(|p| *p > 0)
                .ok_or(format!("{k} {v} is not a TCP port")),
            None => Ok(d),
        }
    };
    let (lo, hi) = (read(min, default.0)?, read(max, default.1)?);
    if lo > hi {
        // Named by the current option names, as Packer's message names them.
        let name = |keys: &[(&str, Option<i64>)]| keys.last().map_or("", |k| k.0).to_string();
        return Err(format!("{} must be less than {}", name(min), name(max)));
    }
    Ok((lo, hi))
}

impl QemuConfig {
    pub fn from_config(c: &Config, build_name: &str) -> Result<QemuConfig, Vec<String>> {
        let comm = CommunicatorOptions::from_config(c).map_err(|e| vec![e])?;
        let mut errs: Vec<String> = crate::communicator::check(&comm);
        let o = QemuOptions::from_config(c).map_err(|e| vec![e])?;
        crate::plugin::warn_no_effect(QemuOptions::FIELDS, c, build_name);
        let urls: Vec<String> = o.iso_url.iter().chain(&o.iso_urls).cloned().collect();
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
                let mut missing = None;
                for u in &urls {
                    match local_path(u) {
                        Ok(Some(p)) if p.exists() => {
                            found = Some(p);
                            break;
                        }
                        Ok(Some(p)) => {
                            if found.is_none() && last_err.is_none() {
                                missing = Some(p.clone());
                            }
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
                    // A file a step before the build makes (Packer checks
                    // only when it builds): the build finds it or fails then.
                    None if missing.is_some()
                        && o.iso_checksum
                            .as_deref()
                            .is_some_and(|c| c.eq_ignore_ascii_case("none")) =>
                    {
                        let p = missing.unwrap_or_default();
                        crate::ui::warn(&format!(
                            "{build_name}: iso_url {} does not exist yet; the build needs it then",
                            p.display()
                        ));
                        p
                    }
                    None => {
                        errs.push(last_err.unwrap_or_else(|| format!("iso_url {u:?} not found")));
                        PathBuf::new()
                    }
                }
            }
        };
        let checksum = match o.iso_checksum.clone() {
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
            Some(u) => download_target(&o, checksum.as_deref(), u),
            None => source,
        };
        let format = o.format;
        if !matches!(format.as_str(), "qcow2" | "raw") {
            errs.push(format!(
                "invalid format {format:?}, only 'qcow2' and 'raw' are allowed"
            ));
        }
        let disk_image = o.disk_image;
        let use_backing_file = o.use_backing_file;
        if use_backing_file && !(disk_image && format == "qcow2") {
            errs.push(
                "use_backing_file can only be enabled for QCOW2 images and when disk_image is true"
                    .into(),
            );
        }
        let disk_compression = o.disk_compression;
        if disk_compression && format != "qcow2" {
            errs.push("disk_compression is only supported for the qcow2 format".into());
        }
        let accelerator = match o.accelerator.as_deref() {
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
        let disk_interface = o.disk_interface;
        if !matches!(
            disk_interface.as_str(),
            "ide" | "sata" | "scsi" | "virtio" | "virtio-scsi" | "nvme"
        ) {
            errs.push(format!(
                "unrecognized disk interface type {disk_interface:?}"
            ));
        }
        let num = |k: &str, v: Option<i64>, d: i64, errs: &mut Vec<String>| match v {
            Some(v) if v > 0 => v,
            Some(v) => {
                errs.push(format!("{k} must be positive, not {v}"));
                d
            }
            None => d,
        };
        let memory = num("memory", o.memory, 512, &mut errs);
        let cpus = num("cpus", o.cpus, 1, &mut errs);
        let topology = TOPOLOGY
            .into_iter()
            .zip([o.sockets, o.cores, o.threads])
            .filter(|(_, v)| v.is_some())
            .map(|(k, v)| (k, num(k, v, 1, &mut errs)))
            .collect();
        // The old names win when set, with Packer's warning.
        for (old, new, v) in [
            ("ssh_host_port_min", "host_port_min", o.ssh_host_port_min),
            ("ssh_host_port_max", "host_port_max", o.ssh_host_port_max),
        ] {
            if v.is_some_and(|v| v != 0) {
                crate::ui::warn(&format!(
                    "{build_name}: {old} is deprecated and is being replaced by {new}; please update your template to use {new}"
                ));
            }
        }
        let nonzero = |v: Option<i64>| v.filter(|v| *v != 0);
        let ssh_port_range = port_range(
            &[
                ("ssh_host_port_min", nonzero(o.ssh_host_port_min)),
                ("host_port_min", o.host_port_min),
            ],
            &[
                ("ssh_host_port_max", nonzero(o.ssh_host_port_max)),
                ("host_port_max", o.host_port_max),
            ],
            (2222, 4444),
        )
        .unwrap_or_else(|e| {
            errs.push(e);
            (2222, 4444)
        });
        let http_port_range = port_range(
            &[("http_port_min", o.http_port_min)],
            &[("http_port_max", o.http_port_max)],
            (8000, 9000),
        )
        .unwrap_or_else(|e| {
            errs.push(e);
            (8000, 9000)
        });
        let http_directory = o
            .http_directory
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let http_content: Vec<(String, String)> = o.http_content.into_iter().collect();
        if http_directory.is_some() && !http_content.is_empty() {
            errs.push("http_directory and http_content cannot both be set".into());
        }
        let boot_wait = o.boot_wait;
        let boot_key_interval = o
            .boot_key_interval
            .or_else(|| {
                std::env::var("PACKER_KEY_INTERVAL")
                    .ok()
                    .and_then(|v| crate::util::duration::parse(&v).ok())
            })
            .unwrap_or(Duration::from_millis(100));
        let shutdown_timeout = o.shutdown_timeout;
        let boot_command = o.boot_command;
        for line in &boot_command {
            if let Err(e) = super::bootcommand::parse(line) {
                errs.push(e);
            }
        }
        let communicator_none = comm.communicator.as_deref() == Some("none");
        let guest_port = u16::try_from(comm.ssh_port).unwrap_or(22);
        let cfg = QemuConfig {
            raw: c.clone(),
            build_name: build_name.to_string(),
            source,
            remote,
            checksum,
            disk_image,
            use_backing_file,
            output_directory: PathBuf::from(
                o.output_directory
                    .unwrap_or_else(|| format!("output-{build_name}")),
            ),
            vm_name: o.vm_name.unwrap_or_else(|| format!("packer-{build_name}")),
            format,
            disk_size: o.disk_size.filter(|s| !s.is_empty()),
            disk_additional_size: o.disk_additional_size,
            disk_interface,
            disk_cache: o.disk_cache,
            disk_discard: o.disk_discard,
            disk_detect_zeroes: o.disk_detect_zeroes,
            disk_compression,
            skip_compaction: o.skip_compaction,
            skip_resize_disk: o.skip_resize_disk,
            net_device: o.net_device,
            memory,
            cpus,
            topology,
            machine_type: o.machine_type,
            cpu_model: o.cpu_model,
            firmware: o.firmware.filter(|f| !f.is_empty()).map(PathBuf::from),
            use_pflash: o.use_pflash,
            efi: efi(o.efi_boot, o.efi_firmware_code, o.efi_firmware_vars),
            efi_drop_efivars: o.efi_drop_efivars,
            vga: o.vga.filter(|v| !v.is_empty()),
            cdrom_interface: o.cdrom_interface.filter(|v| !v.is_empty()),
            accelerator,
            headless: o.headless,
            display: o.display.filter(|d| !d.is_empty()),
            use_default_display: o.use_default_display,
            qemu_binary: o.qemu_binary,
            qemuargs: o.qemuargs,
            ssh_port_range,
            skip_nat_mapping: o.skip_nat_mapping,
            http_directory,
            http_content,
            http_port_range,
            floppy_files: o.floppy_files,
            floppy_dirs: o.floppy_dirs,
            floppy_content: o.floppy_content.into_iter().collect(),
            floppy_label: o
                .floppy_label
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "packer".into()),
            cd_files: o.cd_files,
            cd_content: o.cd_content.into_iter().collect(),
            cd_label: o.cd_label,
            boot_wait,
            boot_command,
            boot_key_interval,
            shutdown_command: o.shutdown_command.filter(|s| !s.is_empty()),
            shutdown_timeout,
            communicator_none,
            guest_port,
            ssh_host: comm.ssh_host,
            ssh_clear_authorized_keys: comm.ssh_clear_authorized_keys,
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

/// The qemu plugin's EFI settings: either firmware path turns EFI on; an
/// unset one is OVMF's usual place.
fn efi(on: bool, code: Option<String>, vars: Option<String>) -> Option<Efi> {
    let code = code.filter(|c| !c.is_empty());
    let vars = vars.filter(|v| !v.is_empty());
    if !on && code.is_none() && vars.is_none() {
        return None;
    }
    Some(Efi {
        code: PathBuf::from(code.unwrap_or_else(|| OVMF_CODE.into())),
        vars: PathBuf::from(vars.unwrap_or_else(|| OVMF_VARS.into())),
    })
}
