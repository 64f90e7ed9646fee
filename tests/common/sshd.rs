//! A real OpenSSH server on 127.0.0.1 for the tests: its own config, host
//! key, port and authorized key, started and stopped by the test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Sshd {
    pub port: u16,
    pub user: String,
    /// The client's private key (0600).
    pub key: PathBuf,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn keygen(path: &Path) -> bool {
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", ""])
        .arg("-f")
        .arg(path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}

impl Sshd {
    /// Start one; `None` (the test skips) when sshd or ssh-keygen is missing.
    pub fn start() -> Option<Sshd> {
        Self::start_with("")
    }

    /// Start one whose config begins with `extra` (sshd takes the first
    /// value of a keyword, so these lines override the defaults below).
    pub fn start_with(extra: &str) -> Option<Sshd> {
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            eprintln!("skipping: /usr/sbin/sshd is not installed (apt-get install openssh-server)");
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let (host, key) = (dir.path().join("host"), dir.path().join("client"));
        if !keygen(&host) || !keygen(&key) {
            eprintln!("skipping: ssh-keygen failed");
            return None;
        }
        std::fs::copy(
            key.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .ok()?;
        // sshd's privilege-separation directory, needed when run as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let d = dir.path().display();
        let config = format!(
            "{extra}Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\n\
             AuthorizedKeysFile {d}/authorized_keys\nPasswordAuthentication no\nPermitRootLogin prohibit-password\n\
             AllowTcpForwarding yes\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n"
        );
        std::fs::write(dir.path().join("sshd_config"), config).ok()?;
        // -E: its log goes to a file the test can read (`Sshd::log`).
        let child = Command::new(sshd)
            .arg("-D")
            .arg("-E")
            .arg(dir.path().join("sshd.log"))
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let s = Sshd {
            port,
            user: current_user(),
            key,
            dir,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                eprintln!("skipping: sshd did not start");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(s)
    }

    /// What sshd has logged so far (at the config's `LogLevel`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The `source "null"` arguments that reach this server.
    pub fn source_args(&self) -> String {
        format!(
            "  ssh_host             = \"127.0.0.1\"\n  ssh_port             = {}\n  ssh_username         = \"{}\"\n  ssh_private_key_file = \"{}\"\n  ssh_timeout          = \"20s\"\n",
            self.port,
            self.user,
            self.key.display()
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
