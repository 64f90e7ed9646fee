//! The qemu builder for real: the README quick start built from nothing
//! (base system from Debian's archive, a TCG guest, SSH provisioning), the
//! produced image booted on its own and its nginx asked for the page; and
//! interrupts while the guest runs, which must leave no qemu process and
//! no temporary file.
//!
//! They need root, qemu-system-x86_64, qemu-img, mmdebstrap and xorriso
//! (`scripts/test.sh` installs them) and skip with a note without them.

mod common;

use common::{kiln, repo};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Why these tests cannot run here, if they cannot.
fn missing() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root (mmdebstrap --mode=root)".into());
    }
    for t in [
        "qemu-system-x86_64",
        "qemu-img",
        "mmdebstrap",
        "xorriso",
        "mkfs.ext4",
        "ssh",
    ] {
        if !have(t) {
            return Some(format!("{t} is not installed"));
        }
    }
    None
}

macro_rules! require_qemu {
    () => {
        if let Some(why) = missing() {
            eprintln!("SKIP: {why}; scripts/test.sh installs what the qemu tests need");
            return;
        }
    };
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Every process whose command line mentions `needle` (a test's own directory).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                out.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    common::walk(dir, &mut v);
    v
}

/// A booted copy of a built image: qemu with SSH and HTTP forwarded to loopback.
struct Guest {
    child: std::process::Child,
    ssh_port: u16,
    http_port: u16,
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn boot(dir: &Path, disk: &Path) -> Guest {
    let (ssh_port, http_port) = (free_port(), free_port());
    let child = Command::new("qemu-system-x86_64")
        .args(["-machine", "pc,accel=tcg", "-m", "512", "-smp", "2", "-display", "none", "-kernel"])
        .arg(dir.join("vmlinuz"))
        .arg("-initrd")
        .arg(dir.join("initrd.img"))
        .args(["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"])
        .arg("-drive")
        .arg(format!("file={},if=virtio,format=qcow2,snapshot=on", disk.display()))
        .arg("-netdev")
        .arg(format!("user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:{ssh_port}-:22,hostfwd=tcp:127.0.0.1:{http_port}-:80"))
        .args(["-device", "virtio-net,netdev=n0", "-serial", "null"])
        .stdin(Stdio::null())
        .spawn()
        .expect("start qemu");
    Guest {
        child,
        ssh_port,
        http_port,
    }
}

/// GET / from 127.0.0.1:port; the body when the answer is 200.
fn http_get(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn ssh(key: &Path, port: u16, user: &str, cmd: &str) -> Output {
    Command::new("ssh")
        .args([
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "LogLevel=ERROR",
            "-i",
        ])
        .arg(key)
        .args(["-p", &port.to_string(), &format!("{user}@127.0.0.1"), cmd])
        .stdin(Stdio::null())
        .output()
        .expect("ssh")
}

#[test]
fn quickstart_builds_from_nothing_and_the_image_serves_the_page() {
    require_qemu!();
    let work = tempfile::tempdir().expect("tmp");
    let cache = work.path().join("cache");
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    // The README's command: the quick start with -reuse, from a copy of
    // the templates (a change to index.html below is the copy's).
    let tpl_dir = work.path().join("tpl");
    std::fs::create_dir_all(&tpl_dir).expect("tpl");
    for f in ["quickstart.pkr.hcl", "index.html"] {
        std::fs::copy(repo().join("templates").join(f), tpl_dir.join(f)).expect("copy");
    }
    let tpl = tpl_dir.join("quickstart.pkr.hcl");
    let quickstart = |command: &str| {
        let mut c = kiln();
        c.current_dir(work.path())
            .env("KILN_CACHE_DIR", &cache)
            .env("TMPDIR", &tmp)
            .arg(command)
            .arg("-color=false");
        if command == "build" {
            c.arg("-reuse");
        }
        c.arg(&tpl).output().expect("run kiln")
    };
    let started = Instant::now();
    let out = quickstart("build");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    eprintln!(
        "quick start from nothing: {:.0}s",
        started.elapsed().as_secs_f64()
    );
    assert!(
        t.contains("building a minimal Debian"),
        "the base was not built from nothing:\n{t}"
    );
    assert!(t.contains("Setting up nginx"), "{t}");
    // The README's template validates with its data source evaluated (the
    // base image is cached now) and without (tests/unknown_values.rs).
    let v = kiln()
        .current_dir(work.path())
        .env("KILN_CACHE_DIR", &cache)
        .args(["validate", "-evaluate-datasources"])
        .arg(repo().join("templates/quickstart.pkr.hcl"))
        .output()
        .expect("run kiln");
    assert_eq!(v.status.code(), Some(0), "{}", text(&v));

    let dir = work.path().join("output/quickstart");
    let disk = dir.join("quickstart.qcow2");
    // A compressed qcow2, its sha256 beside it, a manifest naming it.
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(&disk)
        .output()
        .expect("qemu-img");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("qemu-img json");
    assert_eq!(info["format"], "qcow2");
    assert!(
        info["format-specific"]["data"]["compression-type"] == "zstd",
        "{info}"
    );
    let sum = std::fs::read_to_string(dir.join("quickstart.sha256")).expect("checksum file");
    let digest = {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(std::fs::read(&disk).expect("disk"));
        hex::encode(h.finalize())
    };
    assert!(
        sum.starts_with(&digest) && sum.contains("quickstart.qcow2"),
        "{sum} vs {digest}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("output/quickstart-manifest.json"))
            .expect("manifest"),
    )
    .expect("manifest json");
    assert_eq!(manifest["builds"][0]["builder_type"], "qemu");
    assert_eq!(
        manifest["builds"][0]["files"][0]["name"],
        "quickstart.qcow2"
    );
    // Nothing of the build is left in the temp directory, no qemu runs.
    assert!(
        files_under(&tmp).is_empty(),
        "left behind: {:?}",
        files_under(&tmp)
    );
    assert!(processes_mentioning(&work.path().display().to_string()).is_empty());

    // A Vagrant box of the quick-start image (libvirt), which `vagrant box
    // add` takes when Debian's vagrant is installed.
    vagrant_box_of(work.path(), &disk);

    // Boot the image on its own; log in; ask nginx inside for the page.
    let key = files_under(&cache)
        .into_iter()
        .find(|p| p.ends_with("id_ed25519"))
        .expect("base key");
    let page = std::fs::read_to_string(repo().join("templates/index.html")).expect("index.html");
    let guest = boot(&dir, &disk);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut inside = None;
    while Instant::now() < deadline {
        let o = ssh(&key, guest.ssh_port, "debian", "exec 3<>/dev/tcp/127.0.0.1/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3; echo; ls /etc/ssh/ssh_host_ed25519_key");
        if o.status.success() {
            inside = Some(String::from_utf8_lossy(&o.stdout).into_owned());
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    let inside = inside.expect("could not log in to the booted image over SSH");
    assert!(
        inside.contains("200 OK") && inside.contains(page.trim()),
        "nginx inside the guest answered:\n{inside}"
    );
    assert!(
        inside.contains("/etc/ssh/ssh_host_ed25519_key"),
        "the image made no host keys of its own:\n{inside}"
    );
    // And from the host through the forwarded port.
    let body = http_get(guest.http_port).expect("page from the host");
    assert_eq!(body.trim(), page.trim());
    drop(guest);

    // The same command again: no input changed, the image is reused (no
    // VM), and the post-processors run on it.
    let started = Instant::now();
    let out = quickstart("build");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    eprintln!(
        "quick start again with -reuse: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(t.contains("Up to date"), "{t}");
    assert!(
        !t.contains("Setting up nginx") && !t.contains("Starting VM"),
        "{t}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("output/quickstart-manifest.json"))
            .expect("manifest"),
    )
    .expect("manifest json");
    let last = &manifest["builds"][1];
    assert_eq!(last["reused"], true, "{manifest}");
    assert_eq!(last["files"][0]["name"], "quickstart.qcow2", "{manifest}");
    let sum = std::fs::read_to_string(dir.join("quickstart.sha256")).expect("checksum file");
    assert!(sum.starts_with(&digest), "{sum} vs {digest}");
    let record = || -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(dir.join("kiln-inputs.json")).expect("inputs record"),
        )
        .expect("record json")
    };
    let before = record()["kiln_inputs"].clone();

    // One byte of the uploaded page: plan names it; the build replaces the image.
    std::fs::write(
        tpl_dir.join("index.html"),
        page.replacen('<', "<!-- -->\n<", 1),
    )
    .expect("page");
    let out = quickstart("plan");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("provisioner 1 (file): file index.html changed"),
        "{t}"
    );
    let out = quickstart("build");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("Setting up nginx"), "not rebuilt:\n{t}");
    assert_ne!(record()["kiln_inputs"], before);

    // A second build reuses the base, and http_content / cd_content reach the guest.
    let f = work.path().join("files.pkr.hcl");
    std::fs::write(&f, files_template()).expect("write");
    let out = kiln()
        .current_dir(work.path())
        .env("KILN_CACHE_DIR", &cache)
        .env("TMPDIR", &tmp)
        .args(["build", "-color=false"])
        .arg(&f)
        .output()
        .expect("run kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        !t.contains("building a minimal Debian"),
        "the cached base was rebuilt:\n{t}"
    );
    assert!(
        t.contains("served to the guest"),
        "the guest did not get http_content:\n{t}"
    );
    assert!(
        t.contains("from the cd"),
        "the guest did not see cd_content:\n{t}"
    );
    // disk_additional_size: a second, empty 64 MiB disk the guest saw, kept beside the first.
    assert!(
        t.contains("second disk: 131072 sectors"),
        "the guest did not see the additional disk:\n{t}"
    );
    let mut names: Vec<String> = std::fs::read_dir(work.path().join("out-files"))
        .expect("output")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["files.raw", "files.raw-1"]);
    assert!(
        files_under(&tmp).is_empty(),
        "left behind: {:?}",
        files_under(&tmp)
    );

    // boot_command: typed into the guest's keyboard. The guest's only
    // program is a shell on the screen's console, so what it writes to its
    // disk is what was typed, run (the shifted characters, `{{ .Name }}`,
    // the arithmetic); then it powers itself off — before the build's
    // next step, as an unattended installer does at its end, which with
    // `communicator = "none"` is how the build goes on.
    let f = work.path().join("typed.pkr.hcl");
    std::fs::write(&f, typed_template()).expect("write");
    let out = kiln()
        .current_dir(work.path())
        .env("KILN_CACHE_DIR", &cache)
        .env("TMPDIR", &tmp)
        .args(["build", "-color=false"])
        .arg(&f)
        .output()
        .expect("run kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("Typing the boot command"), "{t}");
    assert!(
        !t.contains("did not power off in time"),
        "the typed command did not run:\n{t}"
    );
    let disk = work.path().join("out-typed/typed.raw");
    let proof = Command::new("debugfs")
        .args(["-R", "cat /proof"])
        .arg(&disk)
        .output()
        .expect("debugfs");
    assert_eq!(
        String::from_utf8_lossy(&proof.stdout).trim(),
        "kiln-typed-42 typed.raw",
        "{}",
        String::from_utf8_lossy(&proof.stderr)
    );

    // The quick start provisioned with Ansible instead of shell, through
    // kiln's SSH relay (use_proxy, Packer's default): a role with a task
    // file, a template of facts and a handler. Its base has python3.
    if !have("ansible-playbook") {
        eprintln!("SKIP: the Ansible quick start (ansible-playbook is not installed)");
        return;
    }
    let out = kiln()
        .current_dir(work.path())
        .env("KILN_CACHE_DIR", &cache)
        .env("TMPDIR", &tmp)
        .args(["build", "-color=false"])
        .arg(repo().join("templates/quickstart-ansible.pkr.hcl"))
        .output()
        .expect("run kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("Relaying Ansible's SSH sessions"), "{t}");
    assert!(t.contains("RUNNING HANDLER [web : enable nginx]"), "{t}");
    assert!(t.contains("failed=0"), "{t}");
    let raw = work.path().join("ansible.raw");
    let ok = Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(
            work.path()
                .join("output/quickstart-ansible/quickstart.qcow2"),
        )
        .arg(&raw)
        .status()
        .expect("qemu-img");
    assert!(ok.success());
    let inside = |what: &str| {
        let o = Command::new("debugfs")
            .args(["-R", what])
            .arg(&raw)
            .output()
            .expect("debugfs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(inside("cat /var/www/html/index.html").trim(), page.trim());
    assert_eq!(
        inside("cat /var/www/html/built-by.txt").trim(),
        "quickstart (qemu) on Debian 12"
    );
    assert!(
        inside("stat /etc/systemd/system/multi-user.target.wants/nginx.service")
            .contains("Type: symlink"),
        "the handler did not enable nginx"
    );
    assert!(
        !inside("ls /etc/ssh").contains("ssh_host_ed25519_key"),
        "the image keeps the build's host keys"
    );
}

/// A guest whose init is a shell on the screen's console (keyboard input),
/// given one command by `boot_command`.
fn typed_template() -> &'static str {
    r#"data "kiln-debian-base" "base" {
  cached_packages = ["nginx"]
}

source "qemu" "typed" {
  disk_image        = true
  iso_url           = "file://${data.kiln-debian-base.base.disk}"
  iso_checksum      = data.kiln-debian-base.base.checksum
  skip_compaction   = true
  format            = "raw"
  output_directory  = "out-typed"
  vm_name           = "typed.raw"
  memory            = 256
  communicator      = "none"
  boot_wait         = "25s"
  boot_key_interval = "20ms"
  shutdown_timeout  = "1m"
  qemuargs = [
    ["-kernel", data.kiln-debian-base.base.kernel],
    ["-initrd", data.kiln-debian-base.base.initrd],
    ["-append", "root=/dev/vda rw console=tty0 init=/bin/sh"],
  ]
  boot_command = [
    "<enter>mount -t proc p /proc; echo kiln-typed-$((6*7)) {{ .Name }} > /proof; sync<enter>",
    "<wait>echo o > /proc/sysrq-trigger<enter>",
    "<wait3>",
  ]
}

build {
  sources = ["source.qemu.typed"]
}
"#
}

/// A template whose guest fetches `http_content` through `build.PackerHTTPAddr`
/// and reads `cd_content` from its CD.
fn files_template() -> &'static str {
    r#"data "kiln-debian-base" "base" {
  cached_packages = ["nginx"]
}

source "qemu" "files" {
  disk_image       = true
  iso_url          = "file://${data.kiln-debian-base.base.disk}"
  iso_checksum     = data.kiln-debian-base.base.checksum
  skip_compaction  = true
  format           = "raw"
  output_directory = "out-files"
  vm_name          = "files.raw"
  memory           = 512
  qemuargs = [
    ["-kernel", data.kiln-debian-base.base.kernel],
    ["-initrd", data.kiln-debian-base.base.initrd],
    ["-append", data.kiln-debian-base.base.kernel_args],
  ]
  disk_additional_size = ["64M"]
  http_content = { "/hello.txt" = "served to the guest" }
  cd_content   = { "meta/label.txt" = "from the cd" }
  cd_label     = "KILNCD"

  ssh_username         = data.kiln-debian-base.base.ssh_username
  ssh_private_key_file = data.kiln-debian-base.base.ssh_private_key_file
  shutdown_command     = "sudo systemctl poweroff"
}

build {
  sources = ["source.qemu.files"]
  provisioner "shell" {
    inline_shebang   = "/bin/bash -e"
    environment_vars = ["ADDR=${build.PackerHTTPAddr}"]
    inline = [
      "exec 3<>/dev/tcp/$${ADDR%:*}/$${ADDR#*:}; printf 'GET /hello.txt HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3; echo",
      "sudo mount -o ro /dev/disk/by-label/KILNCD /mnt && cat /mnt/meta/label.txt",
      "echo second disk: $(cat /sys/block/vdb/size) sectors",
    ]
  }
}
"#
}

/// A guest that never offers SSH: a blank disk (the firmware finds nothing
/// to boot), so the build sits in "Waiting for SSH" with qemu running.
fn idle_template(dir: &Path) -> PathBuf {
    let blank = dir.join("blank.raw");
    std::fs::write(&blank, vec![0u8; 1 << 20]).expect("blank disk");
    let key = dir.join("key");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let f = dir.join("idle.pkr.hcl");
    std::fs::write(
        &f,
        format!(
            r##"source "qemu" "idle" {{
  disk_image           = true
  iso_url              = "{blank}"
  iso_checksum         = "none"
  output_directory     = "out-idle"
  accelerator          = "tcg"
  memory               = 128
  cd_content           = {{ "user-data" = "#cloud-config" }}
  ssh_username         = "nobody"
  ssh_private_key_file = "{key}"
  ssh_timeout          = "10m"
}}
build {{
  sources = ["source.qemu.idle"]
}}
"##,
            blank = blank.display(),
            key = key.display()
        ),
    )
    .expect("write");
    f
}

#[test]
fn an_interrupt_while_the_guest_runs_leaves_no_qemu_and_no_files() {
    require_qemu!();
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let work = tempfile::tempdir().expect("tmp");
        let tmp = work.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmp");
        let f = idle_template(work.path());
        let mut child = kiln()
            .current_dir(work.path())
            .env("TMPDIR", &tmp)
            .args(["build", "-machine-readable"])
            .arg(&f)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let pid = child.id() as i32;
        let stdout = child.stdout.take().expect("stdout");
        let mut out = String::new();
        let mut sent: Option<Instant> = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sent.is_none() && line.contains(",step,StepConnect,start") {
                // The guest is up: qemu runs with its disk, CD and QMP socket.
                std::thread::sleep(Duration::from_secs(2));
                let running = processes_mentioning(&work.path().display().to_string());
                assert!(
                    running.iter().any(|p| p.contains("qemu-system")),
                    "{name}: no qemu running before the signal: {running:?}"
                );
                assert!(
                    !files_under(&tmp).is_empty(),
                    "{name}: expected the build's scratch files while it runs"
                );
                // SAFETY: signalling our own child.
                unsafe {
                    libc::kill(pid, sig);
                }
                sent = Some(Instant::now());
            }
            out.push_str(&line);
            out.push('\n');
        }
        let status = child.wait().expect("wait");
        let mut err = String::new();
        let _ = child.stderr.take().map(|mut e| e.read_to_string(&mut err));
        let took = sent
            .map(|s| s.elapsed().as_secs_f64())
            .expect("the build never reached StepConnect");
        assert_eq!(status.code(), Some(1), "{name}:\n{out}{err}");
        assert!(took < 10.0, "{name}: took {took:.1}s to stop");
        assert!(
            out.contains("Interrupted") || err.contains("Interrupted"),
            "{name}: does not say it was interrupted\n{out}{err}"
        );
        assert!(
            processes_mentioning(&work.path().display().to_string()).is_empty(),
            "{name}: processes left: {:?}",
            processes_mentioning(&work.path().display().to_string())
        );
        assert!(
            files_under(&tmp).is_empty(),
            "{name}: temporary files left: {:?}",
            files_under(&tmp)
        );
        assert!(
            !work.path().join("out-idle").exists(),
            "{name}: the half-written output directory is still there"
        );
        eprintln!("{name}: stopped {took:.2}s after the signal");
    }
}

#[test]
fn an_existing_output_directory_needs_force() {
    require_qemu!();
    let work = tempfile::tempdir().expect("tmp");
    let f = idle_template(work.path());
    std::fs::create_dir_all(work.path().join("out-idle")).expect("mkdir");
    std::fs::write(work.path().join("out-idle/keep.txt"), "mine").expect("write");
    let out = kiln()
        .current_dir(work.path())
        .args(["build", "-color=false"])
        .arg(&f)
        .output()
        .expect("run");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("Output directory exists"), "{t}");
    // Refusing must not delete what was there.
    assert_eq!(
        std::fs::read_to_string(work.path().join("out-idle/keep.txt"))
            .ok()
            .as_deref(),
        Some("mine")
    );
}

/// Packer's display-and-VNC options mean nothing to kiln's qemu (no VNC:
/// the boot_command is typed over QMP): a template that sets them still
/// validates, with a warning naming each and why, never silently. A
/// boot_command that cannot be typed is refused by validate.
#[test]
fn options_without_effect_validate_with_a_warning() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("base.iso"), b"not really an iso").expect("iso");
    let tpl = r#"source "qemu" "w" {
  iso_url          = "base.iso"
  iso_checksum     = "none"
  communicator     = "none"
  vnc_port_min     = 5900
  vnc_bind_address = "127.0.0.1"
  qmp_enable       = true
  http_bind_address = "0.0.0.0"
}
build {
  sources = ["source.qemu.w"]
}
"#;
    std::fs::write(dir.path().join("w.pkr.hcl"), tpl).expect("write");
    let out = kiln()
        .args(["validate", "w.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("validate");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    for k in [
        "vnc_port_min",
        "vnc_bind_address",
        "qmp_enable",
        "http_bind_address",
    ] {
        assert!(
            e.contains(&format!("{k} has no effect")),
            "no warning for {k}:\n{e}"
        );
    }
    std::fs::write(
        dir.path().join("w.pkr.hcl"),
        tpl.replace(
            "  qmp_enable",
            "  boot_command     = [\"<enter>café<wait>\"]\n  qmp_enable",
        ),
    )
    .expect("write");
    let out = kiln()
        .args(["validate", "w.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("validate");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        format!("{o}{e}").contains("boot_command: 'é' cannot be typed on a US keyboard"),
        "{o}\n{e}"
    );
}

/// A one-file HTTP server on 127.0.0.1: `GET /<name>` answers `body`, any
/// other path 404. Returns its port and the paths asked for.
fn serve(
    name: &'static str,
    body: Vec<u8>,
) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let path = String::from_utf8_lossy(&head)
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_string();
            seen.lock().unwrap().push(path.clone());
            if path == format!("/{name}") {
                let _ = write!(
                    c,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = c.write_all(&body);
            } else {
                let _ = c.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        }
    });
    (port, asked)
}

/// An http(s) `iso_url` is downloaded (here from a server the test runs on
/// 127.0.0.1) into Packer's cache under the SHA-1 of its checksum, each of
/// `iso_urls` tried in turn; a second build reuses it without asking the
/// server; a download whose checksum does not hold fails the build and
/// leaves nothing under the cache name.
#[test]
fn http_iso_urls_are_downloaded_verified_and_cached() {
    require_qemu!();
    use sha2::Digest;
    let work = tempfile::tempdir().expect("tmp");
    let blank = vec![0u8; 1 << 20];
    let sum = hex::encode(sha2::Sha256::digest(&blank));
    let (port, asked) = serve("blank.raw", blank.clone());
    let cache = work.path().join("cache");
    let template = |checksum: &str| {
        format!(
            r#"source "qemu" "dl" {{
  disk_image       = true
  iso_urls         = ["http://127.0.0.1:{port}/missing.raw", "http://127.0.0.1:{port}/blank.raw"]
  iso_checksum     = "{checksum}"
  format           = "raw"
  skip_compaction  = true
  output_directory = "out-dl"
  accelerator      = "tcg"
  memory           = 128
  communicator     = "none"
  shutdown_timeout = "1s"
}}
build {{
  sources = ["source.qemu.dl"]
}}
"#
        )
    };
    let run = |checksum: &str| {
        let f = work.path().join("dl.pkr.hcl");
        std::fs::write(&f, template(checksum)).expect("write");
        kiln()
            .current_dir(work.path())
            .env("PACKER_CACHE_DIR", &cache)
            .args(["build", "-force", "-color=false"])
            .arg(&f)
            .output()
            .expect("run kiln")
    };
    let spec = format!("sha256:{sum}");
    let out = run(&spec);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_eq!(
        *asked.lock().unwrap(),
        ["/missing.raw", "/blank.raw"],
        "{t}"
    );
    let cached = {
        use sha1::Digest;
        cache.join(format!(
            "{}.iso",
            hex::encode(sha1::Sha1::digest(spec.as_bytes()))
        ))
    };
    assert_eq!(
        std::fs::read(&cached).ok().as_deref(),
        Some(&blank[..]),
        "not in the cache: {t}"
    );
    assert_eq!(
        std::fs::read(work.path().join("out-dl/packer-dl"))
            .ok()
            .map(|d| d.len()),
        Some(blank.len()),
        "{t}"
    );

    // Again: from the cache, the server not asked.
    let out = run(&spec);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("Using the downloaded"), "{t}");
    assert_eq!(
        asked.lock().unwrap().len(),
        2,
        "the cached image was downloaded again: {t}"
    );

    // A checksum the download does not match.
    let wrong = format!("sha256:{}", "1".repeat(64));
    let out = run(&wrong);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("Checksum did not match"), "{t}");
    let names: Vec<String> = std::fs::read_dir(&cache)
        .expect("cache")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [cached
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned()],
        "a bad or partial download was kept"
    );
}

/// `floppy_files` (flattened into the root, as Packer), `floppy_dirs`
/// (their trees kept) and `floppy_content` make one FAT12 floppy labelled
/// `floppy_label` that qemu gets with `-fda`. Read here from the host while
/// the guest runs (the test guest's cloud kernel has no floppy driver), then
/// the build is interrupted: the image goes with the scratch directory.
#[test]
fn floppy_options_make_a_fat12_floppy_for_the_guest() {
    require_qemu!();
    let work = tempfile::tempdir().expect("tmp");
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    std::fs::write(work.path().join("answers.txt"), "flattened").expect("file");
    std::fs::create_dir_all(work.path().join("scripts/inner")).expect("dir");
    std::fs::write(
        work.path().join("scripts/inner/setup.cmd"),
        "kept in its tree",
    )
    .expect("file");
    let idle = std::fs::read_to_string(idle_template(work.path())).expect("template");
    let tpl = idle.replace(
        "  ssh_timeout          = \"10m\"\n",
        &format!(
            "  ssh_timeout          = \"10m\"\n  floppy_files         = [\"{}\"]\n  floppy_dirs          = [\"{}\"]\n  floppy_content       = {{ \"meta/id.txt\" = \"from content\" }}\n  floppy_label         = \"kilnfd\"\n",
            work.path().join("answers.txt").display(),
            work.path().join("scripts").display()
        ),
    );
    let f = work.path().join("floppy.pkr.hcl");
    std::fs::write(&f, tpl).expect("write");
    let mut child = kiln()
        .current_dir(work.path())
        .env("TMPDIR", &tmp)
        .args(["build", "-machine-readable"])
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let copy = work.path().join("floppy-copy.img");
    let mut out = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains(",step,StepConnect,start") && !copy.exists() {
            let qemu = processes_mentioning(&tmp.display().to_string())
                .into_iter()
                .find(|p| p.contains("qemu-system"))
                .expect("qemu runs");
            let fda = qemu
                .split_whitespace()
                .skip_while(|a| *a != "-fda")
                .nth(1)
                .expect("qemu has -fda")
                .to_string();
            std::fs::copy(&fda, &copy).expect("copy the floppy");
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "{out}");
    assert!(
        files_under(&tmp).is_empty(),
        "left behind: {:?}",
        files_under(&tmp)
    );
    assert_eq!(
        std::fs::metadata(&copy).expect("floppy copied").len(),
        1_474_560
    );
    // The boot sector's BIOS parameter block is a standard 1.44 MB floppy's
    // (what mkfs.fat writes, and what firmware and installers expect).
    let img = std::fs::read(&copy).expect("read");
    let u16_at = |o: usize| u16::from_le_bytes([img[o], img[o + 1]]);
    let bpb = (
        u16_at(11),
        img[13],
        u16_at(14),
        img[16],
        u16_at(17),
        u16_at(19),
        img[21],
        u16_at(22),
        u16_at(24),
        u16_at(26),
    );
    assert_eq!(bpb, (512, 1, 1, 2, 224, 2880, 0xF0, 9, 18, 2), "bytes/sector, sectors/cluster, reserved, FATs, root entries, sectors, media, sectors/FAT, sectors/track, heads");
    assert_eq!(&img[510..512], &[0x55, 0xAA]);
    let fs = fatfs::FileSystem::new(
        std::fs::File::open(&copy).expect("open"),
        fatfs::FsOptions::new(),
    )
    .expect("a FAT volume");
    assert_eq!(fs.fat_type(), fatfs::FatType::Fat12);
    assert_eq!(fs.volume_label().trim_end(), "KILNFD");
    let read = |p: &str| {
        let mut s = String::new();
        fs.root_dir()
            .open_file(p)
            .unwrap_or_else(|e| panic!("{p}: {e}"))
            .read_to_string(&mut s)
            .expect("read");
        s
    };
    assert_eq!(read("answers.txt"), "flattened");
    assert_eq!(read("scripts/inner/setup.cmd"), "kept in its tree");
    assert_eq!(read("meta/id.txt"), "from content");
}

/// The qemu plugin's machine options reach a real qemu, which runs with
/// them: UEFI firmware as two pflash drives (the variables copied into the
/// output directory as `efivars.fd`, no `-boot`), `vga`, and the CD on the
/// bus `cdrom_interface` names. A local `iso_url` that does not exist yet
/// is a warning at validate when no checksum is asked for.
#[test]
fn efi_vga_and_cdrom_interface_reach_qemu() {
    require_qemu!();
    let work = tempfile::tempdir().expect("tmp");
    let tmp = work.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    // Stand-in firmware: qemu maps any flash image of a whole number of
    // sectors; the guest never needs to boot for qemu's arguments to hold.
    let code = work.path().join("CODE.fd");
    let vars = work.path().join("VARS.fd");
    std::fs::write(&code, vec![0u8; 256 * 1024]).expect("code");
    std::fs::write(&vars, b"variables-of-the-firmware".repeat(4096)).expect("vars");
    let idle = std::fs::read_to_string(idle_template(work.path())).expect("template");
    let tpl = idle.replace(
        "  ssh_timeout          = \"10m\"\n",
        &format!(
            "  ssh_timeout          = \"10m\"\n  efi_firmware_code    = \"{}\"\n  efi_firmware_vars    = \"{}\"\n  vga                  = \"std\"\n  cdrom_interface      = \"ide\"\n",
            code.display(),
            vars.display()
        ),
    );
    let f = work.path().join("efi.pkr.hcl");
    std::fs::write(&f, tpl).expect("write");
    let mut child = kiln()
        .current_dir(work.path())
        .env("TMPDIR", &tmp)
        .args(["build", "-machine-readable"])
        .arg(&f)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let mut out = String::new();
    let mut seen: Option<(String, Vec<u8>)> = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if line.contains(",step,StepConnect,start") && seen.is_none() {
            std::thread::sleep(Duration::from_secs(1));
            let qemu = processes_mentioning(&tmp.display().to_string())
                .into_iter()
                .find(|p| p.contains("qemu-system"))
                .expect("qemu runs with the options");
            let copied = std::fs::read(work.path().join("out-idle/efivars.fd")).unwrap_or_default();
            seen = Some((qemu, copied));
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(1), "{out}");
    let (qemu, copied) = seen.expect("the build reached StepConnect");
    assert!(
        qemu.contains(&format!(
            "file={},if=pflash,unit=0,format=raw,readonly=on",
            code.display()
        )),
        "{qemu}"
    );
    assert!(
        qemu.contains("out-idle/efivars.fd,if=pflash,unit=1,format=raw"),
        "{qemu}"
    );
    assert_eq!(copied, std::fs::read(&vars).expect("vars"));
    assert!(!qemu.contains(" -boot "), "{qemu}");
    assert!(qemu.contains(" -vga std"), "{qemu}");
    assert!(qemu.contains(",if=ide,id=cdrom0,media=cdrom"), "{qemu}");

    // Validate: a missing local ISO with iso_checksum "none" warns.
    let later = work.path().join("later.pkr.hcl");
    std::fs::write(
        &later,
        "source \"qemu\" \"l\" {\n  iso_url = \"made-by-an-earlier-step.iso\"\n  iso_checksum = \"none\"\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.qemu.l\"]\n}\n",
    )
    .expect("write");
    let v = kiln()
        .current_dir(work.path())
        .args(["validate", "later.pkr.hcl"])
        .output()
        .expect("validate");
    let t = text(&v);
    assert_eq!(v.status.code(), Some(0), "{t}");
    assert!(
        t.contains("made-by-an-earlier-step.iso does not exist yet"),
        "{t}"
    );
}

/// Make a libvirt box of `disk` with kiln's vagrant post-processor (after
/// artifice) and check its metadata; `vagrant box add` it when vagrant is
/// installed.
fn vagrant_box_of(work: &Path, disk: &Path) {
    let dir = work.join("box");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("box.pkr.hcl"),
        format!(
            r#"source "null" "quickstart" {{
  communicator = "none"
}}
build {{
  sources = ["source.null.quickstart"]
  post-processors {{
    post-processor "artifice" {{
      files = ["{}"]
    }}
    post-processor "vagrant" {{
      provider_override   = "libvirt"
      compression_level   = 1
      keep_input_artifact = true
    }}
  }}
}}
"#,
            disk.display()
        ),
    )
    .expect("write");
    let out = kiln()
        .current_dir(&dir)
        .args(["build", "-color=false", "box.pkr.hcl"])
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let boxfile = dir.join("packer_quickstart_libvirt.box");
    let list = Command::new("tar")
        .arg("-xzf")
        .arg(&boxfile)
        .arg("-O")
        .arg("metadata.json")
        .output()
        .expect("tar");
    let meta: serde_json::Value = serde_json::from_slice(&list.stdout).expect("metadata.json");
    let info = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(disk)
        .output()
        .expect("qemu-img");
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("json");
    let gib = info["virtual-size"]
        .as_u64()
        .expect("virtual size")
        .div_ceil(1 << 30);
    assert_eq!(
        meta,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": gib})
    );
    if !have("vagrant") {
        eprintln!("SKIP (vagrant box add): vagrant is not installed");
        return;
    }
    let added = Command::new("vagrant")
        .args(["box", "add", "--name", "kiln/quickstart"])
        .arg(&boxfile)
        .env("VAGRANT_HOME", work.join("vagrant-home"))
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("vagrant");
    assert!(added.status.success(), "vagrant box add: {}", text(&added));
}
