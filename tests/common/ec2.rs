//! A loopback EC2 for the tests: the moto server on 127.0.0.1 and a real
//! OpenSSH server whose authorized keys are moto's key pairs (so the
//! temporary key pair a build creates through the EC2 API is what lets it
//! log in), a fault-injecting proxy between kiln and moto, and leak checks
//! through the AWS SDK.
//!
//! Needs root (sshd runs an AuthorizedKeysCommand only from a root-owned
//! path, and the login user `ec2-user` is created if missing); tests skip
//! cleanly without root, moto_server or sshd.

#![allow(dead_code)]

use aws_sdk_ec2::types::{Filter, InstanceStateName};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const USER: &str = "ec2-user";
pub const KEYS_COMMAND: &str = "/usr/local/libexec/kiln-tests/authorized-keys";

fn free_port() -> Option<u16> {
    Some(
        TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port(),
    )
}

fn wait_port(port: u16, secs: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    true
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// sshd's AuthorizedKeysCommand: the public key of every key pair in moto.
const KEYS_SCRIPT: &str = include_str!("authorized-keys");

fn install_keys_command() -> bool {
    let path = Path::new(KEYS_COMMAND);
    if std::fs::read_to_string(path).is_ok_and(|s| s == KEYS_SCRIPT) {
        return true;
    }
    let Some(dir) = path.parent() else {
        return false;
    };
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    let tmp = dir.join(format!(".authorized-keys.{}", std::process::id()));
    std::fs::write(&tmp, KEYS_SCRIPT).is_ok()
        && std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).is_ok()
        && std::fs::rename(&tmp, path).is_ok()
}

fn ensure_user() -> bool {
    let exists = || {
        Command::new("id")
            .arg(USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !exists() {
        let _ = Command::new("useradd")
            .args(["-m", "-s", "/bin/sh", USER])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    // No password, but not locked: sshd refuses locked accounts.
    let _ = Command::new("usermod")
        .args(["-p", "*", USER])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    exists() && home().is_some()
}

/// The login user's home directory, made if missing and owned by the user
/// with its `.ssh` (a `useradd` that raced another test's, or an account
/// made without `-m` or by root's hand, leaves it missing or root's).
pub fn home() -> Option<PathBuf> {
    let out = Command::new("getent")
        .args(["passwd", USER])
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = line.trim().split(':').collect();
    let (uid, gid): (u32, u32) = (f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?);
    let dir = PathBuf::from(f.get(5).filter(|d| !d.is_empty())?);
    std::fs::create_dir_all(&dir).ok()?;
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).ok()?;
    let ssh = dir.join(".ssh");
    if ssh.exists() {
        std::os::unix::fs::chown(&ssh, Some(uid), Some(gid)).ok()?;
    }
    Some(dir)
}

pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let port = free_port()?;
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(_) => {
                eprintln!("skipping: moto_server not found (pip install 'moto[server]')");
                return None;
            }
        };
        let m = Moto { port, child };
        if !wait_port(port, 30) {
            eprintln!("skipping: moto_server did not start");
            return None;
        }
        Some(m)
    }
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Moto + an sshd that logs `ec2-user` in with moto's key pairs.
pub struct Ec2 {
    pub moto: Moto,
    pub ssh_port: u16,
    pub dir: tempfile::TempDir,
    /// Commands the "instance" has no business running for real (package
    /// managers, sudo, systemctl) are shims here that log their arguments.
    pub shim_log: PathBuf,
    sshd: Child,
}

const SHIMS: &[&str] = &["sudo", "yum", "amazon-linux-extras", "systemctl", "apt-get"];

impl Ec2 {
    pub fn start() -> Option<Ec2> {
        if !is_root() {
            eprintln!("skipping: the EC2 harness needs root (sshd's AuthorizedKeysCommand, the ec2-user login)");
            return None;
        }
        if !Path::new("/usr/sbin/sshd").exists() {
            eprintln!("skipping: /usr/sbin/sshd is not installed");
            return None;
        }
        if !install_keys_command() || !ensure_user() {
            eprintln!("skipping: could not install the AuthorizedKeysCommand or create {USER}");
            return None;
        }
        let moto = Moto::start()?;
        let dir = tempfile::tempdir().ok()?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).ok()?;
        let shims = dir.path().join("shims");
        std::fs::create_dir(&shims).ok()?;
        let shim_log = dir.path().join("shims.log");
        std::fs::write(&shim_log, "").ok()?;
        std::fs::set_permissions(&shim_log, std::fs::Permissions::from_mode(0o666)).ok()?;
        for s in SHIMS {
            let p = shims.join(s);
            std::fs::write(
                &p,
                format!("#!/bin/sh\necho \"{s} $*\" >> {}\n", shim_log.display()),
            )
            .ok()?;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).ok()?;
        }
        let host_key = dir.path().join("host");
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&host_key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port()?;
        let d = dir.path().display();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAuthorizedKeysFile none\n\
             AuthorizedKeysCommand {KEYS_COMMAND} {} %u\nAuthorizedKeysCommandUser root\nAllowUsers {USER}\n\
             SetEnv PATH={}:/usr/local/bin:/usr/bin:/bin\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n",
            moto.endpoint(),
            shims.display()
        );
        std::fs::write(dir.path().join("sshd_config"), config).ok()?;
        let sshd = Command::new("/usr/sbin/sshd")
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(dir.path().join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let e = Ec2 {
            moto,
            ssh_port: port,
            dir,
            shim_log,
            sshd,
        };
        if !wait_port(port, 10) {
            eprintln!("skipping: sshd did not start");
            return None;
        }
        Some(e)
    }

    pub fn shim_calls(&self) -> String {
        std::fs::read_to_string(&self.shim_log).unwrap_or_default()
    }

    /// An SDK client on moto (through `endpoint`, moto itself by default).
    pub fn client(&self) -> aws_sdk_ec2::Client {
        client_at(&self.moto.endpoint(), "us-east-1")
    }

    /// Forget everything moto holds (between cases of one test).
    pub fn reset(&self) {
        let _ = post(self.moto.port, "/moto-api/reset", "");
    }
}

impl Drop for Ec2 {
    fn drop(&mut self) {
        let _ = self.sshd.kill();
        let _ = self.sshd.wait();
    }
}

pub fn client_at(endpoint: &str, region: &str) -> aws_sdk_ec2::Client {
    let creds = aws_sdk_ec2::config::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_sdk_ec2::config::Builder::new()
        .behavior_version(aws_sdk_ec2::config::BehaviorVersion::latest())
        .region(aws_sdk_ec2::config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .http_client(kiln::builder::amazon::client::http_client())
        .build();
    aws_sdk_ec2::Client::from_conf(conf)
}

fn post(port: u16, path: &str, body: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(s, "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// What a build left behind: temporary resources (leaks) and AMIs (products).
#[derive(Debug, Default)]
pub struct Inventory {
    pub instances: Vec<String>,
    pub key_pairs: Vec<String>,
    pub security_groups: Vec<String>,
    pub volumes: Vec<String>,
    pub amis: Vec<(String, String)>,
    pub snapshots: Vec<String>,
    pub launch_templates: Vec<String>,
}

impl Inventory {
    pub fn leaks(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        v.extend(self.instances.iter().map(|i| format!("instance {i}")));
        v.extend(self.key_pairs.iter().map(|i| format!("key pair {i}")));
        v.extend(
            self.security_groups
                .iter()
                .map(|i| format!("security group {i}")),
        );
        v.extend(self.volumes.iter().map(|i| format!("volume {i}")));
        v.extend(self.snapshots.iter().map(|i| format!("snapshot {i}")));
        v.extend(
            self.launch_templates
                .iter()
                .map(|i| format!("launch template {i}")),
        );
        v
    }
}

pub async fn inventory(ec2: &aws_sdk_ec2::Client) -> Inventory {
    let mut inv = Inventory::default();
    let out = ec2
        .describe_instances()
        .send()
        .await
        .expect("DescribeInstances");
    for i in out.reservations().iter().flat_map(|r| r.instances()) {
        if i.state().and_then(|s| s.name()) != Some(&InstanceStateName::Terminated) {
            inv.instances
                .push(i.instance_id().unwrap_or_default().to_string());
        }
    }
    let out = ec2
        .describe_key_pairs()
        .send()
        .await
        .expect("DescribeKeyPairs");
    inv.key_pairs = out
        .key_pairs()
        .iter()
        .filter_map(|k| k.key_name().map(str::to_string))
        .collect();
    let out = ec2
        .describe_security_groups()
        .send()
        .await
        .expect("DescribeSecurityGroups");
    inv.security_groups = out
        .security_groups()
        .iter()
        .filter(|g| g.group_name() != Some("default"))
        .filter_map(|g| g.group_id().map(str::to_string))
        .collect();
    let out = ec2
        .describe_volumes()
        .filters(Filter::builder().name("status").values("available").build())
        .send()
        .await
        .expect("DescribeVolumes");
    inv.volumes = out
        .volumes()
        .iter()
        .filter_map(|v| v.volume_id().map(str::to_string))
        .collect();
    let out = ec2
        .describe_images()
        .owners("self")
        .send()
        .await
        .expect("DescribeImages");
    inv.amis = out
        .images()
        .iter()
        .map(|i| {
            (
                i.image_id().unwrap_or_default().to_string(),
                i.name().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let out = ec2
        .describe_launch_templates()
        .send()
        .await
        .expect("DescribeLaunchTemplates");
    inv.launch_templates = out
        .launch_templates()
        .iter()
        .filter_map(|t| t.launch_template_name().map(str::to_string))
        .collect();
    // Snapshots no AMI refers to (moto's own AMIs come with snapshots).
    let all = ec2.describe_images().send().await.expect("DescribeImages");
    let used: std::collections::HashSet<String> = all
        .images()
        .iter()
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
        .collect();
    let out = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .expect("DescribeSnapshots");
    inv.snapshots = out
        .snapshots()
        .iter()
        .filter_map(|s| s.snapshot_id().map(str::to_string))
        .filter(|s| !used.contains(s))
        .collect();
    inv
}

/// IAM roles and instance profiles a build left behind (moto starts with
/// none).
pub async fn iam_leaks(endpoint: &str) -> Vec<String> {
    let iam = iam_at(endpoint);
    let mut v = Vec::new();
    let roles = iam.list_roles().send().await.expect("ListRoles");
    v.extend(
        roles
            .roles()
            .iter()
            .map(|r| format!("IAM role {}", r.role_name())),
    );
    let profiles = iam
        .list_instance_profiles()
        .send()
        .await
        .expect("ListInstanceProfiles");
    v.extend(
        profiles
            .instance_profiles()
            .iter()
            .map(|p| format!("instance profile {}", p.instance_profile_name())),
    );
    v
}

pub fn iam_at(endpoint: &str) -> aws_sdk_iam::Client {
    let creds = aws_sdk_iam::config::Credentials::new("testing", "testing", None, None, "test");
    let conf = aws_sdk_iam::config::Builder::new()
        .behavior_version(aws_sdk_iam::config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(creds)
        .http_client(kiln::builder::amazon::client::http_client())
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

/// The decoded `Name=value` parameters of the form-encoded request bodies
/// (AWS query protocol) that call `action`.
pub fn params_of(bodies: &[String], action: &str) -> Vec<String> {
    let decode = |kv: &str| {
        percent_encoding::percent_decode_str(&kv.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    bodies
        .iter()
        .filter(|b| b.split('&').any(|kv| kv == format!("Action={action}")))
        .flat_map(|b| b.split('&').map(decode).collect::<Vec<_>>())
        .collect()
}

/// `response` with `<deprecationTime>` added to the items of `marks`'
/// AMIs (an answer moto sent chunked is decoded first).
fn with_deprecation(response: &[u8], marks: &[(String, String)]) -> Vec<u8> {
    let Some(at) = find_body(response) else {
        return response.to_vec();
    };
    let (head, body) = response.split_at(at);
    let head = String::from_utf8_lossy(head);
    let mut body = String::from_utf8_lossy(body).into_owned();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut plain = String::new();
        let mut rest = body.as_str();
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            plain.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        body = plain;
    }
    for (ami, when) in marks {
        let id = format!("<imageId>{ami}</imageId>");
        body = body.replace(
            &id,
            &format!("{id}<deprecationTime>{when}</deprecationTime>"),
        );
    }
    let head: Vec<&str> = head
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.is_empty()
                && !l.starts_with("content-length:")
                && !l.starts_with("transfer-encoding:")
        })
        .collect();
    format!(
        "{}\r\nContent-Length: {}\r\n\r\n{body}",
        head.join("\r\n"),
        body.len()
    )
    .into_bytes()
}

/// An HTTP proxy in front of moto that counts EC2 calls, remembers the
/// access key id each request was signed with, and can fail the k-th call.
pub struct FaultProxy {
    pub port: u16,
    pub calls: Arc<Mutex<Vec<String>>>,
    pub access_keys: Arc<Mutex<Vec<String>>>,
    /// Fail the call with this 1-based index (0: never).
    pub fail_at: Arc<AtomicUsize>,
    /// Forward the failing call to moto first (its effect happens, the
    /// answer is lost), instead of refusing it.
    pub fail_after_forward: Arc<std::sync::atomic::AtomicBool>,
    /// Actions moto does not implement, answered here with the body EC2
    /// documents for them; their requests are kept in `stood_in`.
    pub stand_in: Arc<Mutex<Vec<(String, String)>>>,
    pub stood_in: Arc<Mutex<Vec<String>>>,
    /// Every request body, in order.
    pub bodies: Arc<Mutex<Vec<String>>>,
    /// Actions refused with this (code, message), as EC2 refuses them.
    pub refuse: Arc<Mutex<Vec<(String, String, String)>>>,
    /// Like `refuse`, but each entry refuses only the first such call.
    pub refuse_once: Arc<Mutex<Vec<(String, String, String)>>>,
    /// Actions answered only after this many milliseconds.
    pub delay: Arc<Mutex<Vec<(String, u64)>>>,
    /// `start <Action>` / `end <Action>` as requests arrive and answers leave.
    pub events: Arc<Mutex<Vec<String>>>,
    /// EC2's documented misbehaviour, when set (see [`Realism`]).
    pub realism: Arc<Mutex<Option<Realism>>>,
    /// `(ami, time)`: DescribeImages answers give these AMIs this
    /// `deprecationTime` (moto keeps none).
    pub deprecated: Arc<Mutex<Vec<(String, String)>>>,
}

/// What real EC2 does and moto does not, modelled with seeded randomness
/// (EC2 API reference: "Eventual consistency", "Request throttling"):
///
/// - **visibility lag**: a resource a call has just created (a security
///   group, instance, AMI, snapshot, volume or key pair, as its id or name
///   appears in the create call's answer) is unknown to every other call
///   naming it for `lag`: EC2's `Invalid<Kind>.NotFound`;
/// - **throttling**: `throttle_per_mille` of all calls are refused with
///   `RequestLimitExceeded` (HTTP 503), before moto sees them;
/// - **slow states**: for `slow_states` after an instance or AMI appears,
///   `running` and `available` in answers read `pending`;
/// - **transient faults** ([`Realism::with_faults`]): `fault_per_mille` of
///   all calls get `InternalError` (HTTP 500), `Unavailable` (HTTP 503) or a
///   connection closed without an answer, before moto sees them.
///
/// `injected` counts what was done, so a test can check that the proxy
/// really misbehaved.
#[derive(Clone, Debug, Default)]
pub struct Realism {
    pub seed: u64,
    pub lag: Duration,
    pub throttle_per_mille: u64,
    pub slow_states: Duration,
    pub fault_per_mille: u64,
    pub created: Vec<(String, &'static str, Instant)>,
    pub injected: Vec<String>,
}

impl Realism {
    pub fn new(seed: u64, lag: Duration, throttle_per_mille: u64, slow_states: Duration) -> Self {
        Realism {
            seed,
            lag,
            throttle_per_mille,
            slow_states,
            ..Realism::default()
        }
    }

    /// With `per_mille` of all calls failing transiently.
    pub fn with_faults(self, per_mille: u64) -> Self {
        Realism {
            fault_per_mille: per_mille,
            ..self
        }
    }

    /// A deterministic draw in 0..1000 for call `n` (splitmix64 of the seed).
    fn draw(&self, n: usize) -> u64 {
        let mut z = self
            .seed
            .wrapping_add((n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % 1000
    }

    /// The error for a request, if EC2 would refuse it now: (status, code);
    /// status 0 is a connection closed without an answer.
    fn refusal(&mut self, n: usize, action: &str, body: &str) -> Option<(u16, String)> {
        if self.draw(n) < self.throttle_per_mille {
            self.injected.push(format!("throttle {action}"));
            return Some((503, "RequestLimitExceeded".into()));
        }
        // A second, independent draw (another stream of the same seed).
        let fault = self.draw(n.wrapping_add(1 << 40));
        if fault < self.fault_per_mille {
            let (status, code) = match fault % 3 {
                0 => (500, "InternalError"),
                1 => (503, "Unavailable"),
                _ => (0, "dropped"),
            };
            self.injected.push(format!("{code} {action}"));
            return Some((status, code.into()));
        }
        let decoded = percent_encoding::percent_decode_str(&body.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned();
        let now = Instant::now();
        let hit = self.created.iter().find(|(id, _, at)| {
            now.duration_since(*at) < self.lag
                && decoded
                    .split('&')
                    .any(|kv| kv.split_once('=').is_some_and(|(_, v)| v == id))
        });
        let (id, code, _) = hit?;
        self.injected.push(format!("not yet {id} {action}"));
        Some((400, (*code).to_string()))
    }

    /// Remember what the answer to `action` created.
    fn record(&mut self, action: &str, answer: &str) {
        let tags: &[(&str, &'static str)] = match action {
            "CreateSecurityGroup" => &[("groupId", "InvalidGroup.NotFound")],
            "RunInstances" => &[("instanceId", "InvalidInstanceID.NotFound")],
            "CreateImage" | "CopyImage" => &[("imageId", "InvalidAMIID.NotFound")],
            "CreateKeyPair" | "ImportKeyPair" => &[("keyName", "InvalidKeyPair.NotFound")],
            "CreateSnapshot" => &[("snapshotId", "InvalidSnapshot.NotFound")],
            "CreateVolume" => &[("volumeId", "InvalidVolume.NotFound")],
            _ => &[],
        };
        for (tag, code) in tags {
            let open = format!("<{tag}>");
            let close = format!("</{tag}>");
            for part in answer.split(&open).skip(1) {
                if let Some(id) = part.split(&close).next() {
                    self.created.push((id.to_string(), code, Instant::now()));
                }
            }
        }
    }

    /// An answer with `running`/`available` read as `pending` while the
    /// resource is new.
    fn slow(&mut self, action: &str, answer: String) -> String {
        if self.slow_states.is_zero() || !matches!(action, "DescribeInstances" | "DescribeImages") {
            return answer;
        }
        let now = Instant::now();
        let young = self.created.iter().any(|(id, _, at)| {
            now.duration_since(*at) < self.slow_states && answer.contains(id.as_str())
        });
        if !young {
            return answer;
        }
        let before = answer.clone();
        let answer = answer
            .replace("<name>running</name>", "<name>pending</name>")
            .replace("<code>16</code>", "<code>0</code>")
            .replace(
                "<imageState>available</imageState>",
                "<imageState>pending</imageState>",
            );
        if answer != before {
            self.injected.push(format!("slow {action}"));
        }
        answer
    }
}

/// Where an HTTP response's body starts.
fn find_body(response: &[u8]) -> Option<usize> {
    response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).ok()?;
    Some((head, body))
}

impl FaultProxy {
    pub fn start(upstream: u16) -> FaultProxy {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = l.local_addr().expect("addr").port();
        let p = FaultProxy {
            port,
            calls: Arc::default(),
            access_keys: Arc::default(),
            fail_at: Arc::new(AtomicUsize::new(0)),
            fail_after_forward: Arc::default(),
            stand_in: Arc::default(),
            stood_in: Arc::default(),
            bodies: Arc::default(),
            refuse: Arc::default(),
            refuse_once: Arc::default(),
            delay: Arc::default(),
            events: Arc::default(),
            realism: Arc::default(),
            deprecated: Arc::default(),
        };
        let (calls, keys, fail_at, after) = (
            p.calls.clone(),
            p.access_keys.clone(),
            p.fail_at.clone(),
            p.fail_after_forward.clone(),
        );
        let (stand_in, stood_in, bodies, refuse) = (
            p.stand_in.clone(),
            p.stood_in.clone(),
            p.bodies.clone(),
            p.refuse.clone(),
        );
        let (delay, events, once) = (p.delay.clone(), p.events.clone(), p.refuse_once.clone());
        let realism = p.realism.clone();
        let deprecated = p.deprecated.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut c) = conn else { continue };
                let (calls, keys, fail_at, after) =
                    (calls.clone(), keys.clone(), fail_at.clone(), after.clone());
                let (stand_in, stood_in, bodies, refuse) = (
                    stand_in.clone(),
                    stood_in.clone(),
                    bodies.clone(),
                    refuse.clone(),
                );
                let (delay, events, once) = (delay.clone(), events.clone(), once.clone());
                let realism = realism.clone();
                let deprecated = deprecated.clone();
                std::thread::spawn(move || {
                    // One request per connection: moto's answers close it, and so do ours.
                    if let Some((head, body)) = read_request(&mut c) {
                        let text = String::from_utf8_lossy(&body).to_string();
                        let action = text
                            .split('&')
                            .find_map(|kv| kv.strip_prefix("Action="))
                            .unwrap_or("?")
                            .to_string();
                        if let Some(k) = head
                            .split("Credential=")
                            .nth(1)
                            .and_then(|r| r.split('/').next())
                        {
                            keys.lock().unwrap().push(k.to_string());
                        }
                        bodies.lock().unwrap().push(text.clone());
                        events.lock().unwrap().push(format!("start {action}"));
                        let n = {
                            let mut c = calls.lock().unwrap();
                            c.push(action.clone());
                            c.len()
                        };
                        let fail = fail_at.load(Ordering::SeqCst) == n;
                        let forward = !fail || after.load(Ordering::SeqCst);
                        let mut response = Vec::new();
                        let answer = stand_in
                            .lock()
                            .unwrap()
                            .iter()
                            .find(|(a, _)| *a == action)
                            .map(|(_, xml)| xml.clone());
                        let refused_once = {
                            let mut o = once.lock().unwrap();
                            o.iter()
                                .position(|(a, _, _)| *a == action)
                                .map(|i| o.remove(i))
                                .map(|(_, c, m)| (c, m))
                        };
                        // A fault the test asked for comes first; the model's
                        // refusals fill the other calls.
                        let realistic = realism
                            .lock()
                            .unwrap()
                            .as_mut()
                            .filter(|_| !fail)
                            .and_then(|r| r.refusal(n, &action, &text));
                        if let Some((0, _)) = realistic {
                            events.lock().unwrap().push(format!("end {action}"));
                            let _ = c.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                        if let Some((status, code)) = realistic {
                            let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{code} (the test proxy's model of EC2)</Message></Error></Errors><RequestID>x</RequestID></Response>");
                            let reason = match status {
                                500 => "Internal Server Error",
                                503 => "Service Unavailable",
                                _ => "Bad Request",
                            };
                            let response = format!("HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}", xml.len());
                            events.lock().unwrap().push(format!("end {action}"));
                            let _ = c.write_all(response.as_bytes());
                            return;
                        }
                        let refused = refused_once.or_else(|| {
                            refuse
                                .lock()
                                .unwrap()
                                .iter()
                                .find(|(a, _, _)| *a == action)
                                .map(|(_, c, m)| (c.clone(), m.clone()))
                        });
                        if let Some((code, message)) = refused {
                            let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>x</RequestID></Response>");
                            response = format!("HTTP/1.1 403 Forbidden\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}", xml.len()).into_bytes();
                        } else if let Some(xml) = answer.filter(|_| forward) {
                            stood_in.lock().unwrap().push(text.clone());
                            response = format!("HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}", xml.len()).into_bytes();
                        } else if forward {
                            // One upstream connection per request, closed by moto.
                            let mut lines: Vec<&str> = head
                                .lines()
                                .filter(|l| {
                                    !l.is_empty()
                                        && !l.to_ascii_lowercase().starts_with("connection:")
                                })
                                .collect();
                            lines.push("Connection: close");
                            let head = lines.join("\r\n") + "\r\n\r\n";
                            let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                                return;
                            };
                            let _ = up.write_all(head.as_bytes());
                            let _ = up.write_all(&body);
                            let _ = up.read_to_end(&mut response);
                        }
                        if let Some(r) = realism.lock().unwrap().as_mut() {
                            let chunked = String::from_utf8_lossy(&response)
                                .to_ascii_lowercase()
                                .contains("transfer-encoding: chunked");
                            if let Some(at) = find_body(&response).filter(|_| !chunked) {
                                let (head, answer) = response.split_at(at);
                                let answer = String::from_utf8_lossy(answer).into_owned();
                                r.record(&action, &answer);
                                let answer = r.slow(&action, answer);
                                let head = String::from_utf8_lossy(head)
                                    .lines()
                                    .filter(|l| {
                                        !l.to_ascii_lowercase().starts_with("content-length:")
                                            && !l.is_empty()
                                    })
                                    .collect::<Vec<_>>()
                                    .join("\r\n");
                                response = format!(
                                    "{head}\r\nContent-Length: {}\r\n\r\n{answer}",
                                    answer.len()
                                )
                                .into_bytes();
                            }
                        }
                        let marks = deprecated.lock().unwrap().clone();
                        if action == "DescribeImages" && !marks.is_empty() {
                            response = with_deprecation(&response, &marks);
                        }
                        if fail {
                            let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InjectedFault</Code><Message>fault injected into call {n} ({action})</Message></Error></Errors><RequestID>x</RequestID></Response>");
                            response = format!("HTTP/1.1 400 Bad Request\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{xml}", xml.len()).into_bytes();
                        }
                        // (Not in the `if let`: its lock would be held through
                        // the sleep, and hold up every other call.)
                        let wait = delay
                            .lock()
                            .unwrap()
                            .iter()
                            .find(|(a, _)| *a == action)
                            .map(|(_, ms)| *ms);
                        if let Some(ms) = wait {
                            std::thread::sleep(std::time::Duration::from_millis(ms));
                        }
                        events.lock().unwrap().push(format!("end {action}"));
                        let _ = c.write_all(&response);
                    }
                });
            }
        });
        p
    }
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    /// The decoded `Name=value` parameters of every request for `action`.
    pub fn params(&self, action: &str) -> Vec<String> {
        params_of(&self.bodies.lock().unwrap(), action)
    }
    /// Model real EC2 from now on (see [`Realism`]).
    pub fn realistic(&self, r: Realism) {
        *self.realism.lock().unwrap() = Some(r);
    }
    /// What the model has injected so far.
    pub fn injected(&self) -> Vec<String> {
        self.realism
            .lock()
            .unwrap()
            .as_ref()
            .map(|r| r.injected.clone())
            .unwrap_or_default()
    }
    pub fn reset(&self) {
        self.calls.lock().unwrap().clear();
        self.bodies.lock().unwrap().clear();
        self.access_keys.lock().unwrap().clear();
    }
}
