//! Provisioning over SSH against a real OpenSSH server on 127.0.0.1 (started
//! by the test; see common/sshd.rs): shell and file provisioners, large and
//! tree transfers verified by checksum, a dropped connection, exit codes,
//! a bastion hop, live output, and interruption.

mod common;

use common::sshd::Sshd;
use common::{kiln, text};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn build(dir: &Path, template: &str) -> Output {
    std::fs::write(dir.join("t.pkr.hcl"), template).expect("write template");
    kiln()
        .args(["build", "-color=false", "t.pkr.hcl"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run kiln")
}

fn template(sshd: &Sshd, provisioners: &str) -> String {
    null_build(&sshd.source_args(), provisioners)
}

/// A `null` source whose body is `source`, built with `provisioners`.
fn null_build(source: &str, provisioners: &str) -> String {
    format!("source \"null\" \"box\" {{\n{source}}}\n\nbuild {{\n  sources = [\"source.null.box\"]\n{provisioners}}}\n")
}

/// One shell provisioner running `inline` (the list's HCL items).
fn shell(inline: &str) -> String {
    format!("  provisioner \"shell\" {{\n    inline = [{inline}]\n  }}\n")
}

fn sha256(p: &Path) -> String {
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(p).expect("open");
    std::io::copy(&mut f, &mut h).expect("read");
    hex::encode(h.finalize())
}

/// Deterministic pseudo-random bytes (xorshift), fast to make.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

#[test]
fn inline_commands_and_scripts_with_environment() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("s.sh"),
        "#!/bin/sh\necho \"script sees $GREETING and $PACKER_BUILD_NAME\"\n",
    )
    .expect("script");
    let out = build(
        dir.path(),
        &template(
            &sshd,
            "  provisioner \"shell\" {\n    environment_vars = [\"GREETING=it's here\"]\n    env = { OTHER = \"x y\" }\n    inline = [\"echo inline $GREETING / $OTHER\", \"echo to-stderr >&2\"]\n  }\n  provisioner \"shell\" {\n    environment_vars = [\"GREETING=hi\"]\n    scripts = [\"s.sh\"]\n  }\n",
        ),
    );
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("==> null.box: Connected to SSH!"), "{o}");
    assert!(o.contains("    null.box: inline it's here / x y"), "{o}");
    assert!(o.contains("==> null.box: to-stderr"), "{o}");
    assert!(
        o.contains("==> null.box: Provisioning with shell script: s.sh"),
        "{o}"
    );
    assert!(o.contains("    null.box: script sees hi and box"), "{o}");
}

#[test]
fn upload_and_download_of_a_large_file_and_a_tree_keep_their_bytes() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let remote = tempfile::tempdir().expect("remote dir");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, noise(100 * 1024 * 1024, 7)).expect("big");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).expect("tree");
    std::fs::create_dir_all(tree.join("empty")).expect("tree");
    std::fs::write(tree.join("a.txt"), "a\n").expect("a");
    std::fs::write(tree.join("sub/b.bin"), noise(300_000, 3)).expect("b");
    std::fs::write(tree.join("sub/deeper/c.txt"), "c\n").expect("c");
    let r = remote.path().display();
    let provs = format!(
        "  provisioner \"file\" {{\n    source      = \"big.bin\"\n    destination = \"{r}/up/\"\n  }}\n\
         provisioner \"file\" {{\n    source      = \"tree\"\n    destination = \"{r}/up\"\n  }}\n\
         provisioner \"file\" {{\n    source      = \"tree/\"\n    destination = \"{r}/flat\"\n  }}\n\
         provisioner \"file\" {{\n    content     = \"from content\"\n    destination = \"{r}/content.txt\"\n  }}\n\
         provisioner \"file\" {{\n    direction   = \"download\"\n    source      = \"{r}/up/big.bin\"\n    destination = \"down/\"\n  }}\n\
         provisioner \"file\" {{\n    direction   = \"download\"\n    source      = \"{r}/up/tree/\"\n    destination = \"down/tree\"\n  }}\n"
    );
    // The first upload's destination directory must exist, as with Packer.
    std::fs::create_dir_all(remote.path().join("up")).expect("up");
    let out = build(dir.path(), &template(&sshd, &provs));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let rp = remote.path();
    assert_eq!(
        sha256(&rp.join("up/big.bin")),
        sha256(&big),
        "upload changed the bytes"
    );
    assert_eq!(
        sha256(&dir.path().join("down/big.bin")),
        sha256(&big),
        "download changed the bytes"
    );
    for (rel, local) in [
        ("up/tree/sub/b.bin", "tree/sub/b.bin"),
        ("up/tree/sub/deeper/c.txt", "tree/sub/deeper/c.txt"),
        ("flat/a.txt", "tree/a.txt"),
        ("flat/sub/b.bin", "tree/sub/b.bin"),
    ] {
        assert_eq!(
            sha256(&rp.join(rel)),
            sha256(&dir.path().join(local)),
            "{rel}"
        );
    }
    assert!(
        rp.join("up/tree/empty").is_dir() && !rp.join("flat/tree").exists(),
        "directory rules"
    );
    assert_eq!(
        std::fs::read_to_string(rp.join("content.txt")).expect("content"),
        "from content"
    );
    assert_eq!(
        sha256(&dir.path().join("down/tree/sub/b.bin")),
        sha256(&tree.join("sub/b.bin"))
    );
}

/// Shell that kills the sshd process serving this session: the connection drops.
const KILL_SESSION: &str = "p=$$; while [ \\\"$(ps -o comm= -p $p)\\\" != sshd ]; do p=$(ps -o ppid= -p $p | tr -d ' '); done; kill -9 $p";

#[test]
fn a_dropped_connection_is_expected_and_the_next_provisioner_reconnects() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    // Killing the session's sshd process drops the connection mid-script.
    let provs = &"  provisioner \"shell\" {\n    expect_disconnect = true\n    inline = [\"echo going down\", \"sleep 0.5\", \"{KILL_SESSION}\", \"sleep 5\"]\n  }\n  provisioner \"shell\" {\n    inline = [\"echo back again\"]\n  }\n".replace("{KILL_SESSION}", KILL_SESSION);
    let out = build(dir.path(), &template(&sshd, provs));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("going down") && o.contains("    null.box: back again"),
        "{o}"
    );

    // Without expect_disconnect it is an error.
    let provs = &"  provisioner \"shell\" {\n    inline = [\"{KILL_SESSION}\", \"sleep 5\"]\n  }\n"
        .replace("{KILL_SESSION}", KILL_SESSION);
    let out = build(dir.path(), &template(&sshd, provs));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).0.contains("Script disconnected unexpectedly"),
        "{}",
        text(&out).0
    );
}

#[test]
fn exit_status_decides_and_a_failure_runs_the_error_cleanup_provisioner() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let provs = "  provisioner \"shell\" {\n    valid_exit_codes = [0, 7]\n    inline = [\"exit 7\"]\n  }\n  provisioner \"shell\" {\n    inline = [\"echo failing\", \"exit 3\"]\n  }\n  provisioner \"shell\" {\n    inline = [\"echo never\"]\n  }\n  error-cleanup-provisioner \"shell-local\" {\n    inline = [\"touch cleaned\"]\n  }\n";
    let out = build(dir.path(), &template(&sshd, provs));
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        o.contains("Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"),
        "{o}"
    );
    assert!(!o.contains("never"), "{o}");
    assert!(
        dir.path().join("cleaned").exists(),
        "error-cleanup-provisioner did not run:\n{o}"
    );
}

#[test]
fn a_bastion_host_carries_the_connection() {
    let (Some(target), Some(bastion)) = (Sshd::start(), Sshd::start()) else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    // The target's address is only used from the bastion's side; the
    // bastion has its own key.
    let tpl = format!(
        "source \"null\" \"box\" {{\n{}  ssh_bastion_host             = \"127.0.0.1\"\n  ssh_bastion_port             = {}\n  ssh_bastion_username         = \"{}\"\n  ssh_bastion_private_key_file = \"{}\"\n}}\n\nbuild {{\n  sources = [\"source.null.box\"]\n  provisioner \"shell\" {{\n    inline = [\"echo via bastion $SSH_CONNECTION\"]\n  }}\n}}\n",
        target.source_args(),
        bastion.port,
        bastion.user,
        bastion.key.display()
    );
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains(&format!(" 127.0.0.1 {}", target.port)),
        "SSH_CONNECTION should show the target port: {o}"
    );
    // And a wrong bastion key fails the build instead of going direct.
    let bad = tpl.replace(
        &bastion.key.display().to_string(),
        &target.dir.path().join("host").display().to_string(),
    );
    let bad = bad.replace(
        "ssh_timeout          = \"20s\"",
        "ssh_timeout          = \"3s\"",
    );
    let out = build(dir.path(), &bad);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
}

/// `kiln build` of `template` in `dir`, with `input` on its stdin.
fn build_answering(dir: &Path, template: &str, input: &str) -> Output {
    std::fs::write(dir.join("t.pkr.hcl"), template).expect("write template");
    let mut child = kiln()
        .args(["build", "-color=false", "t.pkr.hcl"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("answer");
    child.wait_with_output().expect("run kiln")
}

/// `ssh_bastion_interactive`: a bastion that lets users in only by
/// keyboard-interactive (PAM's password question here, as a bastion asks
/// for a one-time code) is answered by the user — from standard input when
/// there is no terminal — and the answer is never printed. An input that
/// ends before the answer fails the build at once, saying why.
#[test]
fn ssh_bastion_interactive_answers_the_bastions_questions() {
    let (user, password) = ("kiln-kbd", "Kbd-Answer-5821");
    if !user_with_password(user, password) {
        return;
    }
    let Some(target) = Sshd::start() else { return };
    let Some(bastion) = Sshd::start_with("UsePAM yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods keyboard-interactive\n") else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let tpl = format!(
        "source \"null\" \"box\" {{\n{}  ssh_bastion_host        = \"127.0.0.1\"\n  ssh_bastion_port        = {}\n  ssh_bastion_username    = \"{user}\"\n  ssh_bastion_interactive = true\n}}\n\nbuild {{\n  sources = [\"source.null.box\"]\n  provisioner \"shell\" {{\n    inline = [\"echo via bastion $SSH_CONNECTION\"]\n  }}\n}}\n",
        target.source_args(),
        bastion.port,
    );
    let out = build_answering(dir.path(), &tpl, &format!("{password}\n"));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains(&format!(" 127.0.0.1 {}", target.port)),
        "not through the bastion: {o}"
    );
    assert!(
        e.contains(&format!(
            "SSH login to {user}@127.0.0.1 (keyboard-interactive)"
        )) && e.contains("Password:"),
        "the question was not shown: {e}"
    );
    assert!(
        !o.contains(password) && !e.contains(password),
        "the answer was printed:\n{o}\n{e}"
    );

    let out = build_answering(dir.path(), &tpl, "");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        format!("{o}{e}").contains("ssh_bastion_interactive: no answer to \"Password:\""),
        "{o}\n{e}"
    );
}

/// Spawn `kiln build` and return the child with its stdout lines.
fn spawn_build(
    dir: &Path,
    template: &str,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    std::fs::write(dir.join("t.pkr.hcl"), template).expect("write");
    let mut child = kiln()
        .args(["build", "-color=false", "t.pkr.hcl"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

fn wait_for(
    rx: &std::sync::mpsc::Receiver<String>,
    needle: &str,
    within: Duration,
    seen: &mut Vec<String>,
) -> bool {
    let deadline = Instant::now() + within;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) => {
                let hit = l.contains(needle);
                seen.push(l);
                if hit {
                    return true;
                }
            }
            Err(_) => return false,
        }
    }
    false
}

#[test]
fn remote_output_appears_while_the_command_runs() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let gate = dir.path().join("gate");
    // The command prints, then waits for the test to open the gate: its
    // first line can only be seen if it is streamed.
    let provs = format!("  provisioner \"shell\" {{\n    inline = [\"echo first\", \"while [ ! -e {} ]; do sleep 0.05; done\", \"echo second\"]\n  }}\n", gate.display());
    let (mut child, rx) = spawn_build(dir.path(), &template(&sshd, &provs));
    let mut seen = Vec::new();
    let streamed = wait_for(&rx, "null.box: first", Duration::from_secs(30), &mut seen);
    std::fs::write(&gate, "").expect("gate");
    assert!(
        streamed,
        "first line not shown while the command ran: {seen:?}"
    );
    assert!(!seen.iter().any(|l| l.contains("second")), "{seen:?}");
    assert!(
        wait_for(&rx, "null.box: second", Duration::from_secs(30), &mut seen),
        "{seen:?}"
    );
    assert!(child.wait().expect("wait").success());
}

#[cfg(unix)]
#[test]
fn sigint_and_sigterm_mid_provisioner_stop_the_build_and_clean_up() {
    let Some(sshd) = Sshd::start() else { return };
    // OpenSSH refuses signal requests for root's sessions ("session
    // signalling requires privilege separation"): the remote command is
    // stopped for other users, so the build logs in as one.
    let user = unprivileged_user();
    for (sig, secs) in [(libc::SIGINT, 61), (libc::SIGTERM, 62)] {
        let dir = tempfile::tempdir().expect("tmp");
        // A sleep of its own length, to be found among the machine's processes.
        let remote = format!("sleep {secs}");
        let provs = format!(
            "  provisioner \"shell\" {{\n    inline = [\"echo started\", \"{remote}\"]\n  }}\n"
        );
        let mut tpl = template(&sshd, &provs);
        if let Some(u) = &user {
            tpl = tpl.replace(
                &format!("ssh_username         = \"{}\"", sshd.user),
                &format!("ssh_username         = \"{u}\""),
            );
        }
        let (mut child, rx) = spawn_build(dir.path(), &tpl);
        let mut seen = Vec::new();
        assert!(
            wait_for(&rx, "null.box: started", Duration::from_secs(30), &mut seen),
            "{seen:?}"
        );
        // SAFETY: sending a signal to a child process we own.
        unsafe { libc::kill(child.id() as i32, sig) };
        let sent = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                sent.elapsed() < Duration::from_secs(10),
                "kiln did not stop after signal {sig}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let stopped_after = sent.elapsed();
        while let Ok(l) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.push(l);
        }
        let all = seen.join("\n");
        assert_eq!(status.code(), Some(1), "{all}");
        assert!(all.contains("Interrupted"), "{all}");
        // The issue's bound: kiln stops within 2 s of the signal.
        assert!(
            stopped_after < Duration::from_secs(2),
            "took {stopped_after:?}"
        );
        // ...and the provisioner's command does not run on without it.
        let running = || {
            Command::new("pgrep")
                .args(["-x", "-f", &remote])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let left = running();
        let _ = Command::new("pkill").args(["-x", "-f", &remote]).status();
        if user.is_some() {
            assert!(!left, "the remote `{remote}` still runs after signal {sig}");
        }
    }
}

/// A user other than root to log in as (this one, or `kiln-sig`, created
/// when the tests run as root); `None` when there is none to be had.
fn unprivileged_user() -> Option<String> {
    let me = Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())?;
    if me != "root" {
        return Some(me);
    }
    let _ = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", "kiln-sig"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    // An account with no password (`!`) is locked, and sshd refuses it.
    let unlocked = Command::new("usermod")
        .args(["-p", "*", "kiln-sig"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    unlocked.then(|| "kiln-sig".to_string())
}

#[test]
fn a_wrong_key_is_an_authentication_error_not_a_hang() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let tpl = template(
        &sshd,
        "  provisioner \"shell\" {\n    inline = [\"true\"]\n  }\n",
    )
    .replace(
        &sshd.key.display().to_string(),
        &sshd.dir.path().join("host").display().to_string(),
    );
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        o.contains("unable to authenticate") || o.contains("Timeout waiting for SSH"),
        "{o}"
    );
    let _ = std::io::stdout().flush();
}

/// `ssh_wait_timeout`, `ssh_timeout`'s old name, is accepted and wins over
/// it, as Packer's communicator config reads it.
#[test]
fn ssh_wait_timeout_is_the_old_name_of_ssh_timeout_and_wins() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let closed = free_port();
    let tpl = template(&sshd, &shell("\"true\""))
        .replace(
            &format!("ssh_port             = {}", sshd.port),
            &format!("ssh_port             = {closed}\n  ssh_wait_timeout = \"2s\""),
        )
        .replace("\"20s\"", "\"10m\"");
    let started = Instant::now();
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(o.contains("Timeout waiting for SSH (2s elapsed)"), "{o}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
}

/// `ssh_timeout` is how long kiln keeps trying: a machine whose sshd comes
/// up shortly before it runs out is reached (the retry pauses grow, and
/// the last one is cut short so that an attempt is made at the deadline),
/// and one that never comes up fails no sooner than the timeout.
#[test]
fn ssh_keeps_trying_until_its_timeout() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    // A port that opens 1.8 s after the build starts, forwarding to sshd.
    let late = free_port();
    let upstream = sshd.port;
    let opened = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1800));
        let l = std::net::TcpListener::bind(("127.0.0.1", late)).expect("bind the late port");
        l.set_nonblocking(true).expect("nonblocking");
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            match l.accept() {
                Ok((c, _)) => {
                    let _ = c.set_nonblocking(false);
                    let Ok(u) = std::net::TcpStream::connect(("127.0.0.1", upstream)) else {
                        return;
                    };
                    for (mut from, mut to) in [
                        (c.try_clone().expect("clone"), u.try_clone().expect("clone")),
                        (u, c),
                    ] {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Both);
                        });
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    let tpl = template(&sshd, &shell("\"echo reached late\""))
        .replace(
            &format!("ssh_port             = {}", sshd.port),
            &format!("ssh_port             = {late}"),
        )
        .replace("\"20s\"", "\"2500ms\"");
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}\n{e}");
    assert!(o.contains("reached late"), "{o}");
    drop(opened);

    // Nothing listening: a failure, after the whole timeout.
    let closed = free_port();
    let tpl = template(&sshd, &shell("\"true\""))
        .replace(
            &format!("ssh_port             = {}", sshd.port),
            &format!("ssh_port             = {closed}"),
        )
        .replace("\"20s\"", "\"2s\"");
    let started = Instant::now();
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(o.contains("Timeout waiting for SSH (2s elapsed)"), "{o}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "gave up before ssh_timeout: {:?}",
        started.elapsed()
    );
}

/// `ssh_ciphers` and `ssh_key_exchange_algorithms` choose what the
/// connection uses (sshd logs the negotiated pair at DEBUG1); a list the
/// server shares nothing with fails with the server's refusal, not a hang.
#[test]
fn ssh_ciphers_and_key_exchange_algorithms_are_the_ones_negotiated() {
    let Some(sshd) = Sshd::start_with("LogLevel DEBUG1\n") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let args = sshd.source_args();
    let chosen = format!("{args}  ssh_ciphers = [\"aes256-ctr\"]\n  ssh_key_exchange_algorithms = [\"diffie-hellman-group14-sha256\"]\n");
    let tpl = null_build(&chosen, &shell("\"echo ok\""));
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let log = sshd.log();
    assert!(
        log.contains("kex: algorithm: diffie-hellman-group14-sha256"),
        "{log}"
    );
    assert!(
        log.contains("kex: client->server cipher: aes256-ctr"),
        "{log}"
    );

    // The server offers only AES-GCM; kiln asks for CBC alone: the build
    // fails at once, naming both lists, not with a timeout.
    let Some(gcm) = Sshd::start_with("LogLevel DEBUG1\nCiphers aes128-gcm@openssh.com\n") else {
        return;
    };
    let tpl = null_build(
        &format!("{}  ssh_ciphers = [\"aes128-cbc\"]\n", gcm.source_args()),
        "",
    );
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    let all = format!("{o}{e}");
    assert!(all.contains("no common cipher algorithm; kiln offered [aes128-cbc] (ssh_ciphers), the server offered [aes128-gcm@openssh.com]"), "{all}");
    assert!(!all.contains("Timeout waiting for SSH"), "{all}");

    // An algorithm kiln does not speak is refused before any connection.
    let tpl = null_build(&format!("{args}  ssh_ciphers = [\"3des-cbc\"]\n"), "");
    std::fs::write(dir.path().join("bad.pkr.hcl"), tpl).expect("write");
    let out = kiln()
        .args(["validate", "bad.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("validate");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        format!("{o}{e}").contains("ssh_ciphers: \"3des-cbc\" is not an algorithm kiln supports"),
        "{o}\n{e}"
    );
}

/// A helper process, killed and reaped when the test is done with it (or panics).
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn wait_for_port(port: u16) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    true
}

/// A SOCKS5 proxy that wants a username and password (RFC 1928, 1929),
/// from Python's standard library: OpenSSH's own proxy (`ssh -D`) takes
/// no credentials. It prints each username/password it is offered.
const SOCKS5_WITH_PASSWORD: &str = r#"
import select, socket, socketserver, struct, sys
class H(socketserver.BaseRequestHandler):
    def handle(self):
        c = self.request
        n = c.recv(2)[1]; methods = c.recv(n)
        if 2 not in methods:
            c.sendall(b"\x05\xff"); return
        c.sendall(b"\x05\x02")
        c.recv(1); u = c.recv(c.recv(1)[0]).decode(); p = c.recv(c.recv(1)[0]).decode()
        print(f"{u}:{p}", flush=True)
        if (u, p) != (sys.argv[2], sys.argv[3]):
            c.sendall(b"\x01\x01"); return
        c.sendall(b"\x01\x00")
        ver, cmd, _, atyp = c.recv(4)
        host = socket.inet_ntoa(c.recv(4)) if atyp == 1 else c.recv(c.recv(1)[0]).decode()
        port = struct.unpack(">H", c.recv(2))[0]
        up = socket.create_connection((host, port))
        c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1") + struct.pack(">H", 0))
        while True:
            r, _, _ = select.select([c, up], [], [])
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (up if s is c else c).sendall(data)
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

/// `ssh_proxy_host`: the connection goes through a SOCKS5 proxy — OpenSSH's
/// own (`ssh -D`, sshd logs the forwarded connection), and one that wants
/// credentials, which kiln sends; refused credentials fail at once.
#[test]
fn ssh_proxy_host_reaches_the_machine_through_socks5() {
    let Some(sshd) = Sshd::start_with("LogLevel DEBUG1\n") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let socks = free_port();
    let forward = Command::new("ssh")
        .args([
            "-N",
            "-D",
            &format!("127.0.0.1:{socks}"),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-p",
            &sshd.port.to_string(),
            "-i",
        ])
        .arg(&sshd.key)
        .arg(format!("{}@127.0.0.1", sshd.user))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh -D");
    let forward = Reap(forward);
    if !wait_for_port(socks) {
        eprintln!("skipping: ssh -D did not start");
        return;
    }
    let via = |extra: &str| {
        null_build(
            &format!(
                "{}  ssh_proxy_host = \"127.0.0.1\"\n{extra}",
                sshd.source_args()
            ),
            &shell("\"echo through the proxy\""),
        )
    };
    let out = build(dir.path(), &via(&format!("  ssh_proxy_port = {socks}\n")));
    let (o, e) = text(&out);
    drop(forward);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("through the proxy"), "{o}");
    let log = sshd.log();
    assert!(
        log.contains("server_request_direct_tcpip: originator 127.0.0.1")
            && log.contains(&format!("port {}", sshd.port)),
        "sshd forwarded nothing:\n{log}"
    );

    // A proxy that wants a password.
    let port = free_port();
    let proxy = Command::new("python3")
        .arg("-c")
        .arg(SOCKS5_WITH_PASSWORD)
        .args([port.to_string().as_str(), "builder", "s3cret-proxy-pw"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut proxy = Reap(proxy);
    if !wait_for_port(port) {
        eprintln!("skipping: the SOCKS5 stand-in did not start");
        return;
    }
    let creds = |pw: &str| {
        format!("  ssh_proxy_port = {port}\n  ssh_proxy_username = \"builder\"\n  ssh_proxy_password = \"{pw}\"\n")
    };
    let out = build(dir.path(), &via(&creds("s3cret-proxy-pw")));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("through the proxy")
            && !o.contains("s3cret-proxy-pw")
            && !e.contains("s3cret-proxy-pw"),
        "{o}\n{e}"
    );
    let out = build(dir.path(), &via(&creds("wrong")));
    let (o, e) = text(&out);
    let _ = proxy.0.kill();
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        format!("{o}{e}").contains(&format!("SOCKS5 proxy 127.0.0.1:{port}"))
            && !format!("{o}{e}").contains("Timeout waiting for SSH"),
        "{o}\n{e}"
    );
    let mut offered = String::new();
    if let Some(mut so) = proxy.0.stdout.take() {
        use std::io::Read;
        let _ = so.read_to_string(&mut offered);
    }
    assert!(
        offered.contains("builder:s3cret-proxy-pw") && offered.contains("builder:wrong"),
        "{offered}"
    );
}

/// A local login `user` with `password` (made if missing); false (the
/// test skips) without root.
fn user_with_password(user: &str, password: &str) -> bool {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        eprintln!("skipping: creating a user with a password needs root");
        return false;
    }
    let _ = Command::new("useradd")
        .args(["-m", "-s", "/bin/sh", user])
        .stderr(Stdio::null())
        .status();
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    chpasswd
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{user}:{password}\n").as_bytes())
        .expect("write");
    assert!(chpasswd.wait().expect("chpasswd").success());
    true
}

#[test]
fn password_authentication_logs_in_and_the_password_is_never_printed() {
    let (user, password) = ("kiln-pw", "Correct-Horse-7431");
    if !user_with_password(user, password) {
        return;
    }
    let Some(sshd) =
        Sshd::start_with("PasswordAuthentication yes\nKbdInteractiveAuthentication no\n")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = format!(
        "source \"null\" \"pw\" {{\n  ssh_host     = \"127.0.0.1\"\n  ssh_port     = {}\n  ssh_username = \"{user}\"\n  ssh_password = \"{password}\"\n  ssh_timeout  = \"20s\"\n}}\nbuild {{\n  sources = [\"source.null.pw\"]\n  provisioner \"shell\" {{\n    inline = [\"echo logged in as $(id -un)\"]\n  }}\n}}\n",
        sshd.port
    );
    let out = build(dir.path(), &tpl);
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains(&format!("logged in as {user}")), "{t}");
    assert!(!t.contains(password), "password printed:\n{t}");
    // A wrong password is an authentication error, not a hang.
    let out = build(
        dir.path(),
        &tpl.replace(password, "wrong-password").replace("20s", "3s"),
    );
    let t = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("unable to authenticate"), "{t}");
}

/// The script travels with its command in one SSH session; when the remote
/// side cannot write it, kiln retries until `start_retry_timeout` and then
/// says so, without running anything or printing its internal marker. The
/// script is removed after it ran unless `skip_clean`.
#[test]
fn an_unwritable_remote_path_is_an_upload_error_and_scripts_are_removed() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let provs = "  provisioner \"shell\" {\n    remote_path = \"/nonexistent-kiln-dir/s.sh\"\n    start_retry_timeout = \"1s\"\n    inline = [\"touch ran\"]\n  }\n";
    let out = build(dir.path(), &template(&sshd, provs));
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        o.contains("Error uploading script: the remote side could not write the script"),
        "{o}\n{e}"
    );
    assert!(
        !o.contains("__kiln") && !e.contains("__kiln"),
        "internal marker leaked:\n{o}\n{e}"
    );

    let kept = dir.path().join("kept.sh");
    let gone = dir.path().join("gone.sh");
    let provs = format!(
        "  provisioner \"shell\" {{\n    remote_path = \"{}\"\n    inline = [\"echo one\"]\n  }}\n  provisioner \"shell\" {{\n    remote_path = \"{}\"\n    skip_clean = true\n    inline = [\"echo two\"]\n  }}\n",
        gone.display(),
        kept.display()
    );
    let out = build(dir.path(), &template(&sshd, &provs));
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("one") && o.contains("two"), "{o}");
    assert!(!gone.exists(), "the script should be removed after it ran");
    let body = std::fs::read_to_string(&kept).expect("skip_clean keeps the script");
    assert!(
        body.starts_with("#!/bin/sh -e\n") && body.contains("echo two"),
        "{body}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kept).expect("meta").permissions().mode() & 0o777,
        0o755
    );
}

/// `ssh_file_transfer_method = "sftp"`: files and trees go up and down over
/// the SFTP subsystem. The server forces every session into `internal-sftp`,
/// so nothing could travel through a remote shell.
#[test]
fn sftp_moves_files_and_trees_without_a_remote_shell() {
    let Some(sshd) = Sshd::start_with("Subsystem sftp internal-sftp\nForceCommand internal-sftp\n")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tmp");
    let remote = tempfile::tempdir().expect("remote dir");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, noise(5 * 1024 * 1024, 11)).expect("big");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub/deeper")).expect("tree");
    std::fs::create_dir_all(tree.join("empty")).expect("tree");
    std::fs::write(tree.join("a.txt"), "a\n").expect("a");
    std::fs::write(tree.join("sub/b.bin"), noise(300_000, 5)).expect("b");
    std::fs::write(tree.join("sub/deeper/run.sh"), "#!/bin/sh\n").expect("c");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tree.join("sub/deeper/run.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .expect("chmod");
    std::os::unix::fs::symlink("a.txt", tree.join("link")).expect("symlink");
    let r = remote.path().display();
    std::fs::create_dir_all(remote.path().join("up")).expect("up");
    let provs = format!(
        "  provisioner \"file\" {{\n    source      = \"big.bin\"\n    destination = \"{r}/up/\"\n  }}\n\
         provisioner \"file\" {{\n    source      = \"tree\"\n    destination = \"{r}/up\"\n  }}\n\
         provisioner \"file\" {{\n    source      = \"tree/\"\n    destination = \"{r}/flat\"\n  }}\n\
         provisioner \"file\" {{\n    content     = \"from content\"\n    destination = \"{r}/content.txt\"\n  }}\n\
         provisioner \"file\" {{\n    direction   = \"download\"\n    source      = \"{r}/up/big.bin\"\n    destination = \"down/\"\n  }}\n\
         provisioner \"file\" {{\n    direction   = \"download\"\n    source      = \"{r}/up/tree/\"\n    destination = \"down/tree\"\n  }}\n"
    );
    let tpl = template(&sshd, &provs).replace(
        "source \"null\" \"box\" {\n",
        "source \"null\" \"box\" {\n  ssh_file_transfer_method = \"sftp\"\n",
    );
    let out = build(dir.path(), &tpl);
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let rp = remote.path();
    assert_eq!(
        sha256(&rp.join("up/big.bin")),
        sha256(&big),
        "upload changed the bytes"
    );
    assert_eq!(
        sha256(&dir.path().join("down/big.bin")),
        sha256(&big),
        "download changed the bytes"
    );
    for (rel, local) in [
        ("up/tree/sub/b.bin", "tree/sub/b.bin"),
        ("up/tree/a.txt", "tree/a.txt"),
        ("flat/a.txt", "tree/a.txt"),
        ("flat/sub/b.bin", "tree/sub/b.bin"),
    ] {
        assert_eq!(
            sha256(&rp.join(rel)),
            sha256(&dir.path().join(local)),
            "{rel}"
        );
    }
    assert!(
        rp.join("up/tree/empty").is_dir() && !rp.join("flat/tree").exists(),
        "directory rules"
    );
    assert_eq!(
        std::fs::metadata(rp.join("up/tree/sub/deeper/run.sh"))
            .expect("run.sh")
            .permissions()
            .mode()
            & 0o777,
        0o750,
        "mode kept"
    );
    assert_eq!(
        std::fs::read_link(rp.join("up/tree/link"))
            .expect("link")
            .to_string_lossy(),
        "a.txt",
        "symlink kept"
    );
    assert_eq!(
        std::fs::read_to_string(rp.join("content.txt")).expect("content"),
        "from content"
    );
    assert_eq!(
        sha256(&dir.path().join("down/tree/sub/b.bin")),
        sha256(&tree.join("sub/b.bin"))
    );
    assert_eq!(
        std::fs::read_link(dir.path().join("down/tree/link"))
            .expect("link")
            .to_string_lossy(),
        "a.txt"
    );

    // An unknown method is refused before connecting, as Packer does.
    let bad = tpl.replace("\"sftp\"\n", "\"ftp\"\n");
    let out = build(dir.path(), &bad);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        format!("{o}{e}").contains("ssh_file_transfer_method ('ftp') is invalid"),
        "{o}\n{e}"
    );
}

/// `ssh_pty = true`: commands run in a pseudo-terminal (`tty` names one),
/// while scripts and files still arrive intact (through a terminal stdin
/// data would be echoed and never end: kiln once hung here).
#[test]
fn ssh_pty_gives_commands_a_terminal_and_transfers_still_work() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let remote = dir.path().join("remote");
    std::fs::create_dir_all(&remote).expect("remote dir");
    std::fs::write(
        dir.path().join("s.sh"),
        "#!/bin/sh\necho \"script ran with $GREETING\"\n",
    )
    .expect("script");
    let payload = noise(300_000, 7);
    std::fs::write(dir.path().join("payload.bin"), &payload).expect("payload");
    let provisioners = format!(
        "  provisioner \"shell\" {{\n    inline = [\"tty\", \"echo inline done\"]\n  }}\n  provisioner \"shell\" {{\n    environment_vars = [\"GREETING=pty\"]\n    script = \"s.sh\"\n  }}\n  provisioner \"file\" {{\n    source      = \"payload.bin\"\n    destination = \"{r}/payload.bin\"\n  }}\n  provisioner \"file\" {{\n    content     = \"hello\"\n    destination = \"{r}/hello.txt\"\n  }}\n",
        r = remote.display()
    );
    let tpl = template(&sshd, &provisioners).replacen(
        "  ssh_timeout",
        "  ssh_pty              = true\n  ssh_timeout",
        1,
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = tx.send(build(&d, &tpl));
    });
    let out = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("kiln build with ssh_pty hung");
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.lines().any(|l| l.contains("null.box: /dev/pts/")),
        "tty found no terminal: {o}"
    );
    assert!(
        o.contains("inline done") && o.contains("script ran with pty"),
        "{o}"
    );
    assert_eq!(
        std::fs::read(remote.join("payload.bin")).expect("uploaded"),
        payload
    );
    assert_eq!(
        std::fs::read_to_string(remote.join("hello.txt")).expect("content"),
        "hello"
    );
}

/// Options kiln has no code for yet are refused by name, not ignored: a
/// template that needs a tunnel must not build without one.
#[test]
fn options_not_built_yet_are_refused_by_name() {
    let dir = tempfile::tempdir().expect("tmp");
    for (line, says) in [
        (
            "ssh_local_tunnels = [\"8080:localhost:80\"]",
            "ssh_local_tunnels is not supported by kiln yet",
        ),
        (
            "ssh_remote_tunnels = [\"8443:localhost:443\"]",
            "ssh_remote_tunnels is not supported by kiln yet",
        ),
    ] {
        let tpl = format!("source \"null\" \"x\" {{\n  ssh_host = \"127.0.0.1\"\n  ssh_username = \"u\"\n  ssh_password = \"p\"\n  {line}\n}}\nbuild {{\n  sources = [\"source.null.x\"]\n}}\n");
        std::fs::write(dir.path().join("t.pkr.hcl"), tpl).expect("write");
        let out = kiln()
            .args(["validate", "t.pkr.hcl"])
            .current_dir(dir.path())
            .output()
            .expect("validate");
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{line}: {o}\n{e}");
        assert!(format!("{o}{e}").contains(says), "{line}: {o}\n{e}");
    }
    // An empty list asks for nothing.
    let tpl = "source \"null\" \"x\" {\n  ssh_host = \"127.0.0.1\"\n  ssh_username = \"u\"\n  ssh_password = \"p\"\n  ssh_local_tunnels = []\n}\nbuild {\n  sources = [\"source.null.x\"]\n}\n";
    std::fs::write(dir.path().join("t.pkr.hcl"), tpl).expect("write");
    let out = kiln()
        .args(["validate", "t.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("validate");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

/// A script saved with Windows line ends runs (its CRs are dropped, as
/// Packer does); with `binary = true` it arrives byte for byte.
#[test]
fn crlf_scripts_run_and_binary_ones_arrive_unchanged() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    // The script prints its own size as it arrived: 2 CRLF lines.
    std::fs::write(
        dir.path().join("win.sh"),
        "echo line-one\r\nwc -c < \"$0\" | tr -d ' '\r\n",
    )
    .expect("script");
    let run = |binary: bool| {
        let p = format!(
            "  provisioner \"shell\" {{\n    script = \"win.sh\"\n    binary = {binary}\n  }}\n"
        );
        let out = build(dir.path(), &template(&sshd, &p));
        let (o, e) = text(&out);
        assert!(out.status.success(), "binary={binary}: {o}\n{e}");
        o
    };
    let o = run(false);
    assert!(
        o.contains("line-one\n") && !o.contains("line-one\r"),
        "{o:?}"
    );
    let size = |o: &str| {
        o.lines()
            .filter_map(|l| l.rsplit(' ').next())
            .find_map(|w| w.trim().parse::<usize>().ok())
    };
    let crlf_len = "echo line-one\r\nwc -c < \"$0\" | tr -d ' '\r\n".len();
    assert_eq!(size(&o), Some(crlf_len - 2), "{o}");
    let o = run(true);
    assert_eq!(size(&o), Some(crlf_len), "{o}");
}

/// `use_env_var_file`: the variables reach the script through a file the
/// command sources (0600, quotes intact), which is removed afterwards
/// unless `skip_clean`.
#[test]
fn use_env_var_file_sources_the_variables_from_a_private_file() {
    let Some(sshd) = Sshd::start() else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let remote = tempfile::tempdir().expect("remote folder");
    let folder = remote.path().display().to_string();
    let run = |skip_clean: bool| {
        let p = format!(
            "  provisioner \"shell\" {{\n    use_env_var_file = true\n    skip_clean = {skip_clean}\n    remote_folder = \"{folder}\"\n    environment_vars = [\"GREETING=it's me\"]\n    inline = [\"echo \\\"got: $GREETING\\\"\", \"ls -l {folder} | grep varfile_ | cut -c1-10\"]\n  }}\n"
        );
        let out = build(dir.path(), &template(&sshd, &p));
        let (o, e) = text(&out);
        assert!(out.status.success(), "{o}\n{e}");
        o
    };
    let o = run(false);
    assert!(o.contains("got: it's me"), "{o}");
    assert!(
        o.contains("-rw-------"),
        "the variable file is not private: {o}"
    );
    let left: Vec<_> = std::fs::read_dir(remote.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    assert!(left.iter().all(|f| !f.starts_with("varfile_")), "{left:?}");
    run(true);
    let kept: Vec<_> = std::fs::read_dir(remote.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("varfile_"))
        .collect();
    assert_eq!(kept.len(), 1);
    let text = std::fs::read_to_string(kept[0].path()).expect("varfile");
    assert!(text.contains("export GREETING='it'\"'\"'s me'\n"), "{text}");
}

/// A user CA (an ed25519 key pair `ca`, `ca.pub`) in `dir`; `None` (the
/// test skips) when ssh-keygen fails.
fn user_ca(dir: &Path) -> Option<std::path::PathBuf> {
    let ca = dir.join("ca");
    if Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&ca)
        .status()
        .is_ok_and(|s| s.success())
    {
        Some(ca)
    } else {
        eprintln!("skipping: ssh-keygen failed");
        None
    }
}

/// sshd settings that trust the user CA `ca` and no authorized key.
fn trusting(ca: &Path) -> String {
    format!(
        "TrustedUserCAKeys {}\nAuthorizedKeysFile none\n",
        ca.with_extension("pub").display()
    )
}

/// The certificate `ca` signs for `key`'s public half and `user`, valid
/// an hour: its path (`{key}-cert.pub`, as ssh-keygen names it).
fn certify(ca: &Path, key: &Path, user: &str) -> String {
    certify_for(ca, key, user, Some("+1h"))
}

/// As [`certify`], valid for `validity` (ssh-keygen's `-V`), or "forever"
/// (ssh-keygen's default) without one.
fn certify_for(ca: &Path, key: &Path, user: &str, validity: Option<&str>) -> String {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-s"])
        .arg(ca)
        .args(["-I", "kiln-test", "-n", user]);
    if let Some(v) = validity {
        cmd.args(["-V", v]);
    }
    let signed = cmd
        .arg(key.with_extension("pub"))
        .status()
        .expect("ssh-keygen -s");
    assert!(signed.success());
    format!("{}-cert.pub", key.display())
}

/// `ssh_certificate_file`: a login with an OpenSSH user certificate, signed
/// by a CA the server trusts and no authorized key at all; without the
/// certificate the same key is refused.
#[test]
fn ssh_certificate_file_logs_in_with_a_certificate() {
    let ca_dir = tempfile::tempdir().expect("tmp");
    let Some(ca) = user_ca(ca_dir.path()) else {
        return;
    };
    let Some(sshd) = Sshd::start_with(&trusting(&ca)) else {
        return;
    };
    let cert = certify(&ca, &sshd.key, &sshd.user);
    let dir = tempfile::tempdir().expect("tmp");
    let with = |extra: &str| {
        null_build(
            &format!(
                "{}{extra}  ssh_handshake_attempts = 1\n",
                sshd.source_args()
            ),
            &shell("\"echo certified\""),
        )
    };
    let out = build(
        dir.path(),
        &with(&format!("  ssh_certificate_file = \"{cert}\"\n")),
    );
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("certified"), "{o}");
    // A certificate valid "forever" (ssh-keygen's default) logs in too.
    let cert = certify_for(&ca, &sshd.key, &sshd.user, None);
    let out = build(
        dir.path(),
        &with(&format!("  ssh_certificate_file = \"{cert}\"\n")),
    );
    let (o, e) = text(&out);
    assert!(out.status.success(), "forever: {o}\n{e}");
    assert!(o.contains("certified"), "{o}");
    let out = build(dir.path(), &with(""));
    let (o, e) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "without the certificate the key alone must be refused: {o}\n{e}"
    );
    // A file that is no certificate is refused before connecting.
    let out = build(
        dir.path(),
        &with(&format!(
            "  ssh_certificate_file = \"{}\"\n",
            sshd.key.display()
        )),
    );
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}\n{e}");
    assert!(
        format!("{o}{e}").contains("ssh_certificate_file is invalid"),
        "{o}\n{e}"
    );
}

/// `ssh_bastion_certificate_file`: the bastion trusts a CA and no key; the
/// build reaches the target through it with the bastion key's certificate.
#[test]
fn ssh_bastion_certificate_file_logs_in_to_the_bastion_with_a_certificate() {
    let ca_dir = tempfile::tempdir().expect("tmp");
    let Some(ca) = user_ca(ca_dir.path()) else {
        return;
    };
    let Some(target) = Sshd::start() else { return };
    let Some(bastion) = Sshd::start_with(&trusting(&ca)) else {
        return;
    };
    let cert = certify(&ca, &bastion.key, &bastion.user);
    let dir = tempfile::tempdir().expect("tmp");
    let tpl = |cert: &str| {
        let source = format!(
            "{}  ssh_handshake_attempts = 1\n  ssh_bastion_host = \"127.0.0.1\"\n  ssh_bastion_port = {}\n  ssh_bastion_username = \"{}\"\n  ssh_bastion_private_key_file = \"{}\"\n{cert}",
            target.source_args(),
            bastion.port,
            bastion.user,
            bastion.key.display()
        );
        null_build(&source, &shell("\"echo via a certified bastion\""))
    };
    let out = build(
        dir.path(),
        &tpl(&format!("  ssh_bastion_certificate_file = \"{cert}\"\n")),
    );
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("via a certified bastion"), "{o}");
    let out = build(
        dir.path(),
        &tpl("").replace(
            "ssh_timeout          = \"20s\"",
            "ssh_timeout          = \"3s\"",
        ),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the bastion must refuse the key without its certificate: {:?}",
        text(&out)
    );
}
