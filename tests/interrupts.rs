//! Interrupts leave nothing running: each way a build is stopped (SIGINT
//! to kiln's PID, Ctrl-C to its process group, SIGTERM, two signals in a
//! row, SIGHUP), 20 times each at a random moment of a shell-local script
//! that starts a background job and a job in a session of its own. After
//! kiln exits no process it started is left, and nothing more happens.

mod common;

use common::{kiln, text};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Processes whose working directory is `dir` (everything the script
/// starts runs there).
fn running_in(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let p = e.path();
        if std::fs::read_link(p.join("cwd")).is_ok_and(|c| c == dir) {
            let cmd = std::fs::read(p.join("cmdline")).unwrap_or_default();
            found.push(format!(
                "{}: {}",
                e.file_name().to_string_lossy(),
                String::from_utf8_lossy(&cmd).replace('\0', " ")
            ));
        }
    }
    found
}

const SCRIPT: &str = r#"source "null" "n" {
  communicator = "none"
}
build {
  sources = ["source.null.n"]
  provisioner "shell-local" {
    inline = [
      "(while true; do echo bg >> marks; sleep 0.02; done) &",
      "setsid sh -c 'while true; do echo sid >> marks; sleep 0.02; done' &",
      "echo started > started",
      "for i in $(seq 1 500); do echo fg >> marks; sleep 0.02; done",
      "echo finished > finished",
    ]
  }
}
"#;

#[derive(Clone, Copy, Debug)]
enum Stop {
    IntToPid,
    CtrlCToGroup,
    Term,
    TwoInts,
    Hup,
}

/// A small deterministic generator (the seed is printed, so a failure
/// can be replayed).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: signalling our own child (or its process group).
    unsafe {
        libc::kill(pid, sig);
    }
}

#[test]
fn every_signal_kind_twenty_times_leaves_no_process_and_no_later_effect() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    let kinds = [
        Stop::IntToPid,
        Stop::CtrlCToGroup,
        Stop::Term,
        Stop::TwoInts,
        Stop::Hup,
    ];
    for round in 0..20 {
        for kind in kinds {
            let dir = tempfile::tempdir().expect("tmp");
            // The canonical path: /proc/PID/cwd shows it so.
            let d = std::fs::canonicalize(dir.path()).expect("canonical");
            std::fs::write(d.join("t.pkr.hcl"), SCRIPT).expect("write");
            let child = kiln()
                .current_dir(&d)
                .args(["build", "-color=false", "t.pkr.hcl"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // Its own group, as a shell's foreground job: Ctrl-C
                // goes to the group.
                .process_group(0)
                .spawn()
                .expect("spawn kiln");
            let pid = child.id() as i32;
            let start = Instant::now();
            while !d.join("started").exists() {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "the script never started"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(rng.below(300)));
            match kind {
                Stop::IntToPid => signal(pid, libc::SIGINT),
                Stop::CtrlCToGroup => signal(-pid, libc::SIGINT),
                Stop::Term => signal(pid, libc::SIGTERM),
                Stop::TwoInts => {
                    signal(pid, libc::SIGINT);
                    std::thread::sleep(Duration::from_millis(rng.below(50)));
                    signal(pid, libc::SIGINT);
                }
                Stop::Hup => signal(pid, libc::SIGHUP),
            }
            let out = child.wait_with_output().expect("wait");
            let (o, e) = text(&out);
            let case = format!("round {round}, {kind:?} (seed {seed})");
            assert_eq!(out.status.code(), Some(1), "{case}\n{o}{e}");
            let left = running_in(&d);
            assert!(left.is_empty(), "{case}: left running: {left:?}\n{o}{e}");
            let marks = std::fs::metadata(d.join("marks")).map_or(0, |m| m.len());
            std::thread::sleep(Duration::from_millis(200));
            let later = std::fs::metadata(d.join("marks")).map_or(0, |m| m.len());
            assert_eq!(
                marks, later,
                "{case}: something still writes after kiln exited"
            );
            assert!(!d.join("finished").exists(), "{case}: the script ran on");
        }
    }
}
