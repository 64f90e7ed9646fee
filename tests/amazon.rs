//! amazon-ebs end to end against the moto EC2 server and a real sshd on
//! 127.0.0.1 (tests/common/ec2.rs): the first-AMI templates, every
//! credential source, and zero leaks under faults, signals and `kill -9`.

mod common;
#[path = "common/ec2.rs"]
mod ec2;

use common::{kiln, repo};
use ec2::{inventory, Ec2, FaultProxy, Realism};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// A working directory with the templates (and index.html), a journal dir
/// and an empty HOME, so no shared AWS file of this machine is read.
struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["first-ami.json", "first-ami.pkr.hcl", "index.html"] {
            std::fs::copy(repo().join("templates").join(f), dir.path().join(f))
                .expect("copy template");
        }
        std::fs::create_dir(dir.path().join("home")).expect("home");
        Work { dir }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn journals(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.path().join("journals"))
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    }
    /// `kiln` with a clean environment: no AWS settings of this machine.
    fn kiln(&self) -> Command {
        let mut c = kiln();
        c.current_dir(self.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path().join("home"))
            .env("KILN_JOURNAL_DIR", self.path().join("journals"))
            .env("AWS_EC2_METADATA_DISABLED", "true");
        c
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A small amazon-ebs template on the harness (SSH to its sshd).
fn small_template(endpoint: &str, ssh_port: u16, extra: &str, inline: &str) -> String {
    format!(
        r#"source "amazon-ebs" "t" {{
  region              = "us-east-1"
  source_ami          = "ami-04681a1dbd79675a5"
  instance_type       = "t2.micro"
  ami_name            = "kiln-test-${{uuidv4()}}"
  ssh_username        = "ec2-user"
  custom_endpoint_ec2 = "{endpoint}"
  ssh_host            = "127.0.0.1"
  ssh_port            = {ssh_port}
  ssh_timeout         = "30s"
  tags = {{
    Name = "kiln-test"
    Base = "{{{{ .SourceAMIName }}}}"
  }}
{extra}
}}

build {{
  sources = ["source.amazon-ebs.t"]
  provisioner "shell" {{
    inline = [{inline}]
  }}
}}
"#
    )
}

/// `kiln validate` of `tpl` (the case `what`) fails, saying `says`, without
/// one EC2 call through `proxy`.
/// `kiln build` of `f` in `w`, with the tests' AWS environment.
fn build(w: &Work, f: &Path) -> Output {
    aws_env(w.kiln().args(["build", "-color=false"]).arg(f))
        .output()
        .expect("run")
}

fn assert_validate_refuses(w: &Work, proxy: &FaultProxy, what: &str, tpl: &str, says: &str) {
    proxy.reset();
    let f = w.write("bad.pkr.hcl", tpl);
    let out = aws_env(w.kiln().args(["validate"]).arg(&f))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
    assert!(text(&out).contains(says), "{what}: {}", text(&out));
    assert!(proxy.calls().is_empty(), "{what}: validate called EC2");
}

/// A temporary role and instance profile for the build's instance: the
/// sweeps below carry it so that IAM's calls are faulted and interrupted too.
const TEMP_PROFILE: &str = r#"  temporary_iam_instance_profile_policy_document {
    Version = "2012-10-17"
    Statement {
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
      Resource = ["*"]
    }
  }
"#;

fn assert_no_leaks(h: &Ec2, what: &str) -> ec2::Inventory {
    let inv = rt().block_on(inventory(&h.client()));
    assert!(inv.leaks().is_empty(), "{what}: leaked {:?}", inv.leaks());
    let iam = rt().block_on(ec2::iam_leaks(&h.moto.endpoint()));
    assert!(iam.is_empty(), "{what}: leaked {iam:?}");
    inv
}

#[test]
fn first_ami_templates_build_an_ami_over_ssh_with_tags() {
    let Some(h) = Ec2::start() else { return };
    for template in ["first-ami.json", "first-ami.pkr.hcl"] {
        h.reset();
        let w = Work::new();
        let out = w
            .kiln()
            .args(["build", "-color=false"])
            .arg(format!("-var=ec2_endpoint={}", h.moto.endpoint()))
            .arg("-var=ssh_host=127.0.0.1")
            .arg(format!("-var=ssh_port={}", h.ssh_port))
            .arg(template)
            .env("AWS_ACCESS_KEY_ID", "AKIDFIRSTAMI")
            .env("AWS_SECRET_ACCESS_KEY", "first-ami-secret-value")
            .output()
            .expect("run kiln");
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{template}:\n{t}");
        assert!(t.contains("Creating temporary keypair"), "{t}");
        assert!(t.contains("Connected to SSH!"), "{t}");
        assert!(t.contains("Uploading index.html => /tmp/index.html"), "{t}");
        assert!(
            !t.contains("first-ami-secret-value"),
            "secret key printed:\n{t}"
        );
        let inv = assert_no_leaks(&h, template);
        assert_eq!(inv.amis.len(), 1, "{template}: {inv:?}");
        let (ami, name) = &inv.amis[0];
        assert!(name.starts_with("first-ami-"), "{name}");
        assert!(
            t.contains(&format!("us-east-1: {ami}")),
            "artifact line missing:\n{t}"
        );
        // Tags, with the source AMI's name rendered.
        let img = rt().block_on(async {
            h.client()
                .describe_images()
                .image_ids(ami)
                .send()
                .await
                .expect("describe")
        });
        let tags: Vec<(String, String)> = img.images()[0]
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert!(
            tags.contains(&("Name".into(), "first-ami".into())),
            "{tags:?}"
        );
        assert!(
            tags.contains(&(
                "Base".into(),
                "amzn2-ami-hvm-2.0.20180810-x86_64-gp2".into()
            )),
            "{tags:?}"
        );
        // As in Packer, the AMI's tags are its snapshots' too.
        let snap = img.images()[0]
            .block_device_mappings()
            .iter()
            .find_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
            .expect("snapshot")
            .to_string();
        let snaps = rt().block_on(async {
            h.client()
                .describe_snapshots()
                .snapshot_ids(&snap)
                .send()
                .await
                .expect("snapshots")
        });
        let stags: Vec<(String, String)> = snaps.snapshots()[0]
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert!(
            stags.contains(&("Name".into(), "first-ami".into())),
            "{template}: snapshot tags {stags:?}"
        );
        // The provisioners ran on the "instance".
        let calls = h.shim_calls();
        assert!(
            calls.contains("sudo amazon-linux-extras install -y nginx1"),
            "{calls}"
        );
        assert!(
            calls.contains("sudo systemctl enable --now nginx"),
            "{calls}"
        );
        assert_eq!(
            std::fs::read("/tmp/index.html").ok(),
            std::fs::read(repo().join("templates/index.html")).ok()
        );
        assert!(
            w.journals().is_empty(),
            "journal left after a clean build: {:?}",
            w.journals()
        );
        std::fs::write(&h.shim_log, "").ok();
    }
}

// ---- credentials ------------------------------------------------------------

/// Build a no-communicator template through the proxy and return the access
/// key ids that signed the EC2 calls.
fn build_with_creds(
    h: &Ec2,
    w: &Work,
    extra: &str,
    env: &[(&str, String)],
) -> (Output, Vec<String>) {
    let (out, signed, _) = build_with_creds_calls(h, w, extra, env);
    (out, signed.into_iter().map(|(_, k)| k).collect())
}

/// As `build_with_creds`, each call's action with its access key id, and
/// the request bodies.
fn build_with_creds_calls(
    h: &Ec2,
    w: &Work,
    extra: &str,
    env: &[(&str, String)],
) -> (Output, Vec<(String, String)>, Vec<String>) {
    let proxy = FaultProxy::start(h.moto.port);
    let tpl = format!(
        r#"source "amazon-ebs" "c" {{
  region              = "us-east-1"
  source_ami          = "ami-04681a1dbd79675a5"
  instance_type       = "t2.micro"
  ami_name            = "kiln-creds-${{uuidv4()}}"
  communicator        = "none"
  custom_endpoint_ec2 = "{}"
{extra}
}}
build {{
  sources = ["source.amazon-ebs.c"]
}}
"#,
        proxy.endpoint()
    );
    let f = w.write("creds.pkr.hcl", &tpl);
    let mut c = w.kiln();
    c.args(["build", "-color=false"]).arg(&f);
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().expect("run kiln");
    let keys = proxy.access_keys.lock().unwrap().clone();
    let bodies = proxy.bodies.lock().unwrap().clone();
    (out, proxy.calls().into_iter().zip(keys).collect(), bodies)
}

fn assert_signed_by(out: &Output, keys: &[String], want: &str, secret: &str) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!keys.is_empty(), "no EC2 call went through the proxy");
    assert!(
        keys.iter().all(|k| k == want),
        "calls signed by {keys:?}, want {want}"
    );
    assert!(!t.contains(secret), "secret printed:\n{t}");
}

#[test]
fn credentials_from_the_template() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (out, keys) = build_with_creds(
        &h,
        &w,
        "  access_key = \"AKIDTEMPLATE\"\n  secret_key = \"template-secret-key\"\n",
        &[],
    );
    assert_signed_by(&out, &keys, "AKIDTEMPLATE", "template-secret-key");
}

#[test]
fn credentials_from_the_environment() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "env-secret-key".to_string()),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    assert_signed_by(&out, &keys, "AKIDENVIRONMENT", "env-secret-key");
}

#[test]
fn credentials_from_a_profile_in_the_shared_file() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let f = w.write(
        "credentials",
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = default-secret\n\n[kiln-test]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret-key\n",
    );
    let env = [("AWS_SHARED_CREDENTIALS_FILE", f.display().to_string())];
    let (out, keys) = build_with_creds(&h, &w, "  profile = \"kiln-test\"\n", &env);
    assert_signed_by(&out, &keys, "AKIDPROFILE", "profile-secret-key");
    // The template's profile wins over keys in the environment (as in
    // Packer); AWS_PROFILE does not.
    let with_env = [
        env[0].clone(),
        ("AWS_ACCESS_KEY_ID", "AKIDENVIRONMENT".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "env-secret-key".to_string()),
    ];
    let (out, keys) = build_with_creds(&h, &w, "  profile = \"kiln-test\"\n", &with_env);
    assert_signed_by(&out, &keys, "AKIDPROFILE", "profile-secret-key");
    let with_env = [
        with_env[0].clone(),
        with_env[1].clone(),
        with_env[2].clone(),
        ("AWS_PROFILE", "kiln-test".to_string()),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &with_env);
    assert_signed_by(&out, &keys, "AKIDENVIRONMENT", "env-secret-key");
    // The same through AWS_PROFILE, and the template's shared_credentials_file.
    let env = [("AWS_PROFILE", "kiln-test".to_string())];
    let (out, keys) = build_with_creds(
        &h,
        &w,
        &format!("  shared_credentials_file = \"{}\"\n", f.display()),
        &env,
    );
    assert_signed_by(&out, &keys, "AKIDPROFILE", "profile-secret-key");
}

/// A minimal IMDSv2 on 127.0.0.1: a session token from PUT, then the role's
/// credentials for GETs that carry it. Returns its port and whether a GET
/// came without a token (IMDSv1), which must never happen.
fn start_imds() -> (
    u16,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let v1 = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let v1c = v1.clone();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hitsc = hits.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            hitsc.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let first = req.lines().next().unwrap_or_default().to_string();
            let has_token = req
                .to_ascii_lowercase()
                .contains("x-aws-ec2-metadata-token: kiln-imds-token");
            let (status, body) = if first.starts_with("PUT /latest/api/token") {
                ("200 OK", "kiln-imds-token".to_string())
            } else if !has_token {
                v1c.store(true, Ordering::SeqCst);
                ("401 Unauthorized", String::new())
            } else if first.starts_with("GET /latest/meta-data/iam/security-credentials/ ") {
                ("200 OK", "kiln-role".to_string())
            } else if first.starts_with("GET /latest/meta-data/iam/security-credentials/kiln-role ")
            {
                let exp =
                    (chrono::Utc::now() + chrono::Duration::hours(6)).format("%Y-%m-%dT%H:%M:%SZ");
                ("200 OK", format!("{{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"AKIDINSTANCEROLE\",\"SecretAccessKey\":\"imds-secret-key\",\"Token\":\"imds-session-token\",\"Expiration\":\"{exp}\",\"LastUpdated\":\"2026-01-01T00:00:00Z\"}}"))
            } else {
                ("404 Not Found", String::new())
            };
            let ttl = if first.starts_with("PUT ") {
                "X-aws-ec2-metadata-token-ttl-seconds: 21600\r\n"
            } else {
                ""
            };
            let _ = write!(
                c,
                "HTTP/1.1 {status}\r\n{ttl}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (port, v1, hits)
}

#[test]
fn credentials_from_the_instance_role_over_imdsv2() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (port, v1, hits) = start_imds();
    let env = [
        (
            "AWS_EC2_METADATA_SERVICE_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        ),
        ("AWS_EC2_METADATA_DISABLED", "false".to_string()),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    assert_signed_by(&out, &keys, "AKIDINSTANCEROLE", "imds-secret-key");
    assert!(
        !v1.load(Ordering::SeqCst),
        "a metadata request came without an IMDSv2 token"
    );
    // skip_metadata_api_check: the instance role is not even asked.
    let before = hits.load(Ordering::SeqCst);
    assert!(before > 0);
    let (out, keys) = build_with_creds(&h, &w, "  skip_metadata_api_check = true\n", &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("No valid credential sources found"), "{t}");
    assert!(keys.is_empty(), "{keys:?}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "skip_metadata_api_check still asked the metadata service"
    );
    // ...while the other sources still work.
    let mut env2 = env.to_vec();
    env2.extend([
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "env-secret".to_string()),
    ]);
    let (out, keys) = build_with_creds(&h, &w, "  skip_metadata_api_check = true\n", &env2);
    assert_signed_by(&out, &keys, "AKIDFROMENV", "env-secret");
}

#[test]
fn no_credentials_fails_before_creating_anything() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (out, keys) = build_with_creds(&h, &w, "", &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("No valid credential sources found"), "{t}");
    assert!(
        keys.is_empty(),
        "EC2 was called without credentials: {keys:?}"
    );
    // Each source kiln tried, once, with why it did not apply.
    for line in [
        "  - environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set",
        "  - shared config profile: profile \"default\": no shared config or credentials file",
        "  - web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set",
        "  - container endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set",
        "  - instance role: AWS_EC2_METADATA_DISABLED is true",
    ] {
        let first_error = t.split("==> Wait completed").next().unwrap_or_default();
        assert_eq!(first_error.matches(line).count(), 1, "{line}\n{t}");
    }
    // Half a key pair in the environment: said so, and the half never printed.
    let env = [("AWS_SECRET_ACCESS_KEY", "half-a-secret".to_string())];
    let (out, _) = build_with_creds(&h, &w, "", &env);
    let t = text(&out);
    assert!(
        t.contains("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"),
        "{t}"
    );
    assert!(!t.contains("half-a-secret"), "{t}");
}

// ---- HTTPS endpoints -----------------------------------------------------------

/// A TLS-terminating proxy to moto on 127.0.0.1, its certificate for that
/// address signed by a CA of its own; returns (its https endpoint, the CA's
/// certificate file, the process). `None` when openssl is missing.
fn tls_proxy(h: &Ec2, dir: &Path, name: &str) -> Option<(String, PathBuf, std::process::Child)> {
    let f = |ext: &str| dir.join(format!("{name}-{ext}"));
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    std::fs::write(
        f("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .ok()?;
    let (ca, ca_key, csr, cert, key, ext) = (
        f("ca.crt"),
        f("ca.key"),
        f("csr"),
        f("crt"),
        f("key"),
        f("ext"),
    );
    let p = |x: &PathBuf| x.display().to_string();
    let ok = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=kiln test CA",
        "-keyout",
        &p(&ca_key),
        "-out",
        &p(&ca),
    ]) && openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p(&key),
        "-out",
        &p(&csr),
    ]) && openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&csr),
        "-CA",
        &p(&ca),
        "-CAkey",
        &p(&ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p(&ext),
        "-out",
        &p(&cert),
    ]);
    if !ok {
        eprintln!("skipping: openssl could not make the certificates");
        return None;
    }
    const PROXY: &str = r#"
import http.server, ssl, sys, urllib.error, urllib.request
cert, key, upstream = sys.argv[1:4]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        try:
            r = urllib.request.urlopen(urllib.request.Request(upstream + self.path, data=body, headers=headers, method="POST"))
            status, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, data = e.code, e.read()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PROXY)
        .arg(&cert)
        .arg(&key)
        .arg(h.moto.endpoint())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take()?)
        .read_line(&mut line)
        .ok()?;
    let port: u16 = line.trim().parse().ok()?;
    Some((format!("https://127.0.0.1:{port}"), ca, child))
}

#[test]
fn an_https_endpoint_is_trusted_through_ssl_cert_file_and_only_then() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let Some((endpoint, cert, mut proxy)) = tls_proxy(&h, w.path(), "endpoint") else {
        return;
    };
    let Some((_, other_cert, mut other)) = tls_proxy(&h, w.path(), "other") else {
        return;
    };
    let _ = other.kill();
    let tpl = format!(
        "source \"amazon-ebs\" \"s\" {{\n  region = \"us-east-1\"\n  source_ami = \"ami-04681a1dbd79675a5\"\n  instance_type = \"t2.micro\"\n  ami_name = \"kiln-https-${{uuidv4()}}\"\n  communicator = \"none\"\n  custom_endpoint_ec2 = \"{endpoint}\"\n}}\nbuild {{\n  sources = [\"source.amazon-ebs.s\"]\n}}\n"
    );
    let f = w.write("https.pkr.hcl", &tpl);
    // A CA that did not sign the endpoint's certificate: refused, and
    // nothing is created.
    let out = aws_env(&mut w.kiln())
        .args(["build", "-color=false"])
        .arg(&f)
        .env("SSL_CERT_FILE", &other_cert)
        .output()
        .expect("run kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.to_lowercase().contains("certificate"), "{t}");
    let inv = assert_no_leaks(&h, "untrusted endpoint");
    assert!(inv.amis.is_empty(), "{inv:?}");
    // Its own certificate: the build goes through.
    let out = aws_env(&mut w.kiln())
        .args(["build", "-color=false"])
        .arg(&f)
        .env("SSL_CERT_FILE", &cert)
        .output()
        .expect("run kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let inv = assert_no_leaks(&h, "trusted endpoint");
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
    // insecure_skip_tls_verify: the certificate is not checked at all (the
    // wrong CA, as above, and the template's amazon-ami data source too).
    let insecure = tpl
        .replace("kiln-https-", "kiln-insecure-")
        .replace("  custom_endpoint_ec2", "  insecure_skip_tls_verify = true\n  source_ami = data.amazon-ami.a.id\n  custom_endpoint_ec2")
        .replace("  source_ami = \"ami-04681a1dbd79675a5\"\n", "");
    let data = format!("data \"amazon-ami\" \"a\" {{\n  region = \"us-east-1\"\n  custom_endpoint_ec2 = \"{endpoint}\"\n  insecure_skip_tls_verify = true\n  filters = {{ image-id = \"ami-04681a1dbd79675a5\" }}\n  owners = [\"137112412989\"]\n}}\n");
    let f = w.write("insecure.pkr.hcl", &format!("{data}{insecure}"));
    let out = aws_env(&mut w.kiln())
        .args(["build", "-color=false"])
        .arg(&f)
        .env("SSL_CERT_FILE", &other_cert)
        .output()
        .expect("run kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let inv = assert_no_leaks(&h, "insecure_skip_tls_verify");
    assert_eq!(inv.amis.len(), 2, "{inv:?}");
    // `kiln cleanup` of a journal such a build left: the header says the
    // endpoint was reached without checks, and cleanup does the same; a
    // journal without that note is refused by the certificate check.
    rt().block_on(
        h.client()
            .create_key_pair()
            .key_name("kiln-left-behind")
            .send(),
    )
    .expect("CreateKeyPair");
    let journal = |name: &str, insecure: bool| {
        let flag = if insecure {
            "\"insecure_skip_tls_verify\":true,"
        } else {
            ""
        };
        w.write(
            name,
            &format!("{{\"kiln_journal\":1,\"pid\":4194305,\"build\":\"amazon-ebs.s\",\"region\":\"us-east-1\",\"endpoint\":\"{endpoint}\",{flag}\"started\":\"2026-01-01T00:00:00Z\"}}\n{{\"add\":{{\"kind\":\"key_pair\",\"region\":\"us-east-1\",\"name\":\"kiln-left-behind\"}}}}\n"),
        )
    };
    let checked = journal("checked.jsonl", false);
    let out = aws_env(&mut w.kiln())
        .arg("cleanup")
        .arg(&checked)
        .env("SSL_CERT_FILE", &other_cert)
        .output()
        .expect("cleanup");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(checked.exists(), "the journal of a failed cleanup is kept");
    assert_eq!(
        rt().block_on(inventory(&h.client())).key_pairs,
        ["kiln-left-behind"]
    );
    let unchecked = journal("unchecked.jsonl", true);
    let out = aws_env(&mut w.kiln())
        .arg("cleanup")
        .arg(&unchecked)
        .env("SSL_CERT_FILE", &other_cert)
        .output()
        .expect("cleanup");
    let _ = proxy.kill();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!unchecked.exists(), "journal kept after a clean cleanup");
    assert_no_leaks(&h, "cleanup through an unchecked endpoint");
}

// ---- zero leaks ---------------------------------------------------------------

fn aws_env(c: &mut Command) -> &mut Command {
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
}

/// The fault sweep: a proxy fails the k-th EC2 call, for every k of a clean
/// build, once refusing the call and once after moto carried it out (the
/// answer lost). Every case leaks nothing; a build that fails leaves no AMI.
/// The proxy models real EC2 meanwhile (a seed per case: new resources
/// unknown for a second, throttling, transient faults), so the cleanup after
/// each fault meets the same conditions a build does.
#[test]
fn fault_sweep_every_ec2_call_leaks_nothing() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let realism =
        |seed| Realism::new(seed, Duration::from_secs(1), 100, Duration::ZERO).with_faults(20);
    proxy.realistic(realism(100));
    let f = w.write(
        "sweep.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            TEMP_PROFILE,
            "\"echo hello\"",
        ),
    );
    let run = || {
        let out = aws_env(w.kiln().args(["build", "-color=false"]).arg(&f))
            .output()
            .expect("run kiln");
        (out.status.code(), text(&out))
    };
    let (code, t) = run();
    assert_eq!(code, Some(0), "clean build:\n{t}");
    let calls = proxy.calls();
    assert!(calls.len() >= 10, "{calls:?}");
    let mut injected = proxy.injected();
    for after in [false, true] {
        for k in 1..=calls.len() {
            h.reset();
            proxy.reset();
            proxy.realistic(realism(k as u64 + if after { 1000 } else { 0 }));
            proxy.fail_at.store(k, Ordering::SeqCst);
            proxy.fail_after_forward.store(after, Ordering::SeqCst);
            let (code, t) = run();
            let case = format!(
                "fault at call {k} ({}) {}",
                calls[k - 1],
                if after { "after forwarding" } else { "refused" }
            );
            let inv = assert_no_leaks(&h, &case);
            match code {
                Some(0) => assert_eq!(inv.amis.len(), 1, "{case}: succeeded without one AMI\n{t}"),
                Some(1) => assert!(
                    inv.amis.is_empty() && inv.snapshots.is_empty(),
                    "{case}: failed but left {inv:?}\n{t}"
                ),
                other => panic!("{case}: exit {other:?}\n{t}"),
            }
            assert!(
                w.journals().is_empty(),
                "{case}: journal left: {:?}\n{t}",
                w.journals()
            );
            injected.extend(proxy.injected());
        }
    }
    proxy.fail_at.store(0, Ordering::SeqCst);
    for kind in [
        "not yet",
        "throttle",
        "InternalError",
        "Unavailable",
        "dropped",
    ] {
        assert!(
            injected.iter().any(|i| i.starts_with(kind)),
            "the model never injected {kind}: {injected:?}"
        );
    }
}

/// Run a build with `-machine-readable`, send `sig` to kiln's own PID when
/// the `n`-th step starts; returns (exit code, output, seconds from the
/// signal to the exit).
fn interrupt_at(w: &Work, f: &Path, step: &str, sig: i32) -> (Option<i32>, String, f64) {
    let start = format!(",step,{step},start");
    interrupt_when(w, f, sig, Duration::ZERO, |line| line.contains(&start))
}

/// `kiln build -machine-readable f`, sent `sig` `after` the first output
/// line that `ready` accepts; returns (exit code, output, seconds from the
/// signal to the exit, -1 when never sent).
fn interrupt_when(
    w: &Work,
    f: &Path,
    sig: i32,
    after: Duration,
    ready: impl Fn(&str) -> bool,
) -> (Option<i32>, String, f64) {
    let mut child = aws_env(w.kiln().args(["build", "-machine-readable"]).arg(f))
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
        if sent.is_none() && ready(&line) {
            std::thread::sleep(after);
            // SAFETY: sending a signal to our own child process.
            unsafe {
                libc::kill(pid, sig);
            }
            sent = Some(Instant::now());
        }
        out.push_str(&line);
        out.push('\n');
    }
    let status = child.wait().expect("wait");
    let took = sent.map(|s| s.elapsed().as_secs_f64()).unwrap_or(-1.0);
    (status.code(), out, took)
}

/// Read `child`'s stdout until a line contains `needle` (or it ends).
fn read_until(child: &mut std::process::Child, needle: &str) {
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        if line.map(|l| l.contains(needle)).unwrap_or(true) {
            break;
        }
    }
}

fn step_names(machine_output: &str) -> Vec<String> {
    machine_output
        .lines()
        .filter_map(|l| l.split(",step,").nth(1))
        .filter_map(|r| r.strip_suffix(",start"))
        .map(str::to_string)
        .collect()
}

/// SIGINT or SIGTERM as each step starts, through a proxy that models real
/// EC2 (new resources unknown for 2 s, throttling, transient faults, slow
/// states; a seed per step): the cleanup meets EC2 as it is and still
/// leaves nothing.
#[test]
fn interrupt_at_every_step_cleans_up_and_exits_1() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let realism = |seed| {
        Realism::new(seed, Duration::from_secs(2), 100, Duration::from_secs(2)).with_faults(20)
    };
    proxy.realistic(realism(200));
    // The provisioner sleeps so that an interrupt there lands mid-command.
    let f = w.write(
        "sig.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            TEMP_PROFILE,
            "\"echo start\", \"sleep 20\"",
        ),
    );
    let probe = w.write(
        "probe.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            TEMP_PROFILE,
            "\"echo start\"",
        ),
    );
    let out = aws_env(w.kiln().args(["build", "-machine-readable"]).arg(&probe))
        .output()
        .expect("run");
    let steps = step_names(&String::from_utf8_lossy(&out.stdout));
    assert!(steps.len() >= 10, "{steps:?}");
    for (i, step) in steps.iter().enumerate() {
        h.reset();
        proxy.realistic(realism(201 + i as u64));
        let sig = if i % 2 == 0 {
            libc::SIGINT
        } else {
            libc::SIGTERM
        };
        let case_start = Instant::now();
        // Only the provisioner case needs the long command.
        let (code, t, took) = interrupt_at(
            &w,
            if step == "StepProvision" { &f } else { &probe },
            step,
            sig,
        );
        let case = format!("signal {sig} at {step}");
        assert_eq!(code, Some(1), "{case}:\n{t}");
        assert!((0.0..5.0).contains(&took), "{case}: took {took}s to stop");
        assert!(
            t.contains("Interrupted"),
            "{case}: does not say it was interrupted\n{t}"
        );
        let inv = assert_no_leaks(&h, &case);
        // A signal that lands as the last step starts may come after the AMI
        // was finished: then the build says so and keeps it.
        let finished = t.contains("AMIs were created");
        assert!(
            inv.amis.len() == usize::from(finished),
            "{case}: an interrupted build left {inv:?}\n{t}"
        );
        eprintln!(
            "{case}: stopped {took:.2}s after the signal, {:.1}s in all",
            case_start.elapsed().as_secs_f64()
        );
        assert!(w.journals().is_empty(), "{case}: journal left");
    }
}

/// Copies to several regions go out together and are awaited together
/// (on EC2 each takes minutes); every copy is an artifact, tagged, and a
/// region named twice is copied to once.
#[test]
fn copies_to_every_region_are_made_at_once() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.delay.lock().unwrap().push(("CopyImage".into(), 800));
    let extra = "  ami_regions = [\"us-west-2\", \"eu-west-1\", \"us-west-2\", \"us-east-1\"]\n  snapshot_copy_duration_minutes = 30\n";
    let f = w.write(
        "regions.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let events = proxy.events.lock().unwrap().clone();
    let starts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == "start CopyImage")
        .map(|(i, _)| i)
        .collect();
    let first_end = events
        .iter()
        .position(|e| e == "end CopyImage")
        .unwrap_or(usize::MAX);
    assert_eq!(starts.len(), 2, "one copy per other region: {events:?}");
    let copy = proxy.params("CopyImage");
    assert!(
        copy.contains(&"SnapshotCopyCompletionDurationMinutes=30".to_string()),
        "a time-based copy was not asked for: {copy:?}"
    );
    assert!(
        starts.iter().all(|i| *i < first_end),
        "the copies went out one after another: {events:?}"
    );
    for region in ["us-west-2", "eu-west-1"] {
        let c = ec2::client_at(&h.moto.endpoint(), region);
        let inv = rt().block_on(inventory(&c));
        assert_eq!(inv.amis.len(), 1, "{region}: {inv:?}");
        assert!(
            t.contains(&format!("{region}: {}", inv.amis[0].0)),
            "{region}'s copy is not an artifact:\n{t}"
        );
        let tags = rt()
            .block_on(
                c.describe_tags()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("resource-id")
                            .values(&inv.amis[0].0)
                            .build(),
                    )
                    .send(),
            )
            .expect("DescribeTags");
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == Some("Name") && t.value() == Some("kiln-test")),
            "{region}: copy untagged: {tags:?}"
        );
    }
    assert!(t.contains("Waiting for all copies to complete"), "{t}");
    // Listed as Packer lists them, sorted by region.
    let artifacts = &t[t
        .find("AMIs were created:")
        .unwrap_or_else(|| panic!("{t}"))..];
    let regions: Vec<&str> = artifacts
        .lines()
        .skip(1)
        .take(3)
        .filter_map(|l| l.split(':').next())
        .collect();
    assert_eq!(regions, ["eu-west-1", "us-east-1", "us-west-2"], "{t}");
    assert_no_leaks(&h, "copies to two regions");
}

/// Packer leaves the AMI and its copies (untagged) when interrupted while
/// the copies are made (hashicorp/packer#10248). kiln deletes them all: a
/// signal lands while CopyImage is still unanswered (moto has made the
/// copy, kiln does not know its id yet), and while the copy is awaited.
#[test]
fn an_interrupt_during_the_region_copies_leaves_no_ami_in_any_region() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let west = ec2::client_at(&h.moto.endpoint(), "us-west-2");
    for (i, slow) in ["CopyImage", "DescribeImages"].into_iter().enumerate() {
        h.reset();
        let proxy = FaultProxy::start(h.moto.port);
        proxy.delay.lock().unwrap().push((slow.to_string(), 1200));
        let f = w.write(
            "copies.pkr.hcl",
            &small_template(
                &proxy.endpoint(),
                h.ssh_port,
                "  ami_regions = [\"us-west-2\"]\n",
                "\"echo start\"",
            ),
        );
        let sig = if i == 0 { libc::SIGINT } else { libc::SIGTERM };
        // The copy has gone out (and, for the slow wait, been answered).
        let ready = |line: &str| {
            if slow == "CopyImage" {
                line.contains("Copying AMI")
            } else {
                line.contains("in region (us-west-2) to become ready")
            }
        };
        let (code, out, took) = interrupt_when(&w, &f, sig, Duration::from_millis(300), ready);
        let case = format!("signal {sig} while {slow} is slow");
        assert!(took >= 0.0, "{case}: the copy never started\n{out}");
        assert_eq!(code, Some(1), "{case}:\n{out}");
        assert!(
            proxy.calls().iter().any(|c| c == "CopyImage"),
            "{case}: no CopyImage\n{out}"
        );
        assert_no_leaks(&h, &case);
        let east = rt().block_on(inventory(&h.client()));
        assert!(
            east.amis.is_empty(),
            "{case}: AMI left in us-east-1 {:?}\n{out}",
            east.amis
        );
        let w2 = rt().block_on(inventory(&west));
        assert!(
            w2.amis.is_empty() && w2.leaks().is_empty(),
            "{case}: left in us-west-2 {w2:?}\n{out}"
        );
        assert!(w.journals().is_empty(), "{case}: journal left");
    }
}

/// Real EC2 is eventually consistent, throttles and changes state slowly
/// (the test proxy's [`Realism`] models it, with seeds): the classic first
/// build, in both its forms, still makes its AMI and leaves nothing behind.
#[test]
fn first_ami_builds_through_lag_throttling_and_slow_states_without_leaks() {
    let Some(h) = Ec2::start() else { return };
    let settings = [
        // lag 3 s with 15% throttling
        (1u64, Duration::from_secs(3), 150u64, Duration::ZERO),
        // lag 10 s with slow states (tested with fewer throttles)
        (2, Duration::from_secs(10), 50, Duration::from_secs(4)),
    ];
    for (t, template) in ["first-ami.json", "first-ami.pkr.hcl"]
        .into_iter()
        .enumerate()
    {
        for (seed, lag, throttle, slow) in settings {
            // Another seed for each template: four runs, four seeds.
            let seed = seed + 10 * t as u64;
            h.reset();
            let proxy = FaultProxy::start(h.moto.port);
            // Transient faults too where the lag is short.
            let faults = if lag < Duration::from_secs(5) { 30 } else { 0 };
            proxy.realistic(Realism::new(seed, lag, throttle, slow).with_faults(faults));
            let w = Work::new();
            let out = w
                .kiln()
                .args(["build", "-color=false"])
                .arg(format!("-var=ec2_endpoint={}", proxy.endpoint()))
                .arg("-var=ssh_host=127.0.0.1")
                .arg(format!("-var=ssh_port={}", h.ssh_port))
                .arg(template)
                .env("AWS_ACCESS_KEY_ID", "AKIDFIRSTAMI")
                .env("AWS_SECRET_ACCESS_KEY", "first-ami-secret-value")
                .output()
                .expect("run kiln");
            let t = text(&out);
            let case = format!("{template}, seed {seed}, lag {lag:?}, throttle {throttle}/1000");
            let injected = proxy.injected();
            assert_eq!(out.status.code(), Some(0), "{case}: {injected:?}\n{t}");
            // The proxy really misbehaved: unknown ids right after creation.
            assert!(
                injected.iter().any(|i| i.starts_with("not yet")),
                "{case}: no visibility lag was injected: {injected:?}"
            );
            let inv = assert_no_leaks(&h, &case);
            assert_eq!(inv.amis.len(), 1, "{case}: {inv:?}");
            assert!(w.journals().is_empty(), "{case}: journal left");
        }
    }
}

/// Eight builds in one `kiln build` (eight sources) through a proxy that
/// throttles 15% of calls and hides new resources for 3 s: they share one
/// retry partition per region, and all succeed without leaks.
#[test]
fn eight_parallel_builds_through_throttling_all_succeed() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.realistic(Realism::new(8, Duration::from_secs(3), 150, Duration::ZERO).with_faults(20));
    let one = small_template(&proxy.endpoint(), h.ssh_port, "", "\"echo hello\"");
    // The template's single source, eight times over, and one build of all.
    let source_end = one.find("\nbuild {").expect("build block");
    let source = &one[..source_end];
    let mut tpl = String::new();
    let mut names = Vec::new();
    for i in 0..8 {
        tpl.push_str(&source.replace("\"amazon-ebs\" \"t\"", &format!("\"amazon-ebs\" \"b{i}\"")));
        tpl.push('\n');
        names.push(format!("\"source.amazon-ebs.b{i}\""));
    }
    tpl.push_str(&format!(
        "build {{\n  sources = [{}]\n  provisioner \"shell\" {{\n    inline = [\"echo hello\"]\n  }}\n}}\n",
        names.join(", ")
    ));
    let f = w.write("eight.pkr.hcl", &tpl);
    let out = build(&w, &f);
    let t = text(&out);
    let injected = proxy.injected();
    assert_eq!(out.status.code(), Some(0), "{injected:?}\n{t}");
    for kind in ["throttle", "InternalError", "Unavailable", "dropped"] {
        assert!(
            injected.iter().any(|i| i.starts_with(kind)),
            "no {kind} was injected: {injected:?}"
        );
    }
    let inv = assert_no_leaks(&h, "eight builds");
    assert_eq!(inv.amis.len(), 8, "{inv:?}\n{t}");
    assert!(w.journals().is_empty(), "journal left");
}

#[test]
fn kill_9_then_kiln_cleanup_deletes_everything() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let f = w.write(
        "k.pkr.hcl",
        &small_template(
            &h.moto.endpoint(),
            h.ssh_port,
            TEMP_PROFILE,
            "\"echo started\", \"sleep 60\"",
        ),
    );
    let mut child = aws_env(w.kiln().args(["build", "-color=false"]).arg(&f))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    read_until(&mut child, "started");
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let inv = rt().block_on(inventory(&h.client()));
    assert!(
        !inv.instances.is_empty() && !inv.key_pairs.is_empty(),
        "kill -9 should leave the build's resources: {inv:?}"
    );
    let iam = rt().block_on(ec2::iam_leaks(&h.moto.endpoint()));
    assert_eq!(
        iam.len(),
        2,
        "kill -9 should leave the role and the instance profile: {iam:?}"
    );
    assert_eq!(w.journals().len(), 1);
    let out = aws_env(w.kiln().args(["cleanup"]))
        .output()
        .expect("cleanup");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_leaks(&h, "after kiln cleanup");
    assert!(w.journals().is_empty(), "journal kept after a full cleanup");
    let out = aws_env(w.kiln().args(["cleanup"]))
        .output()
        .expect("cleanup again");
    assert!(text(&out).contains("No cleanup journals"), "{}", text(&out));
}

/// kill -9 while a CopyImage is unanswered: the journal knows the copy by
/// region and name only, and `kiln cleanup` still finds and deletes it, with
/// the build region's AMI and every temporary resource.
#[test]
fn kill_9_during_a_copy_then_kiln_cleanup_deletes_the_copy_too() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.delay.lock().unwrap().push(("CopyImage".into(), 3000));
    let f = w.write(
        "kc.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            "  ami_regions = [\"us-west-2\"]\n",
            "\"true\"",
        ),
    );
    let mut child = aws_env(w.kiln().args(["build", "-color=false"]).arg(&f))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    read_until(&mut child, "Copying AMI");
    // The copy reaches moto; its answer is held back.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !proxy
        .events
        .lock()
        .unwrap()
        .iter()
        .any(|e| e == "start CopyImage")
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().expect("kill -9");
    child.wait().expect("wait");
    let west = ec2::client_at(&h.moto.endpoint(), "us-west-2");
    let before = rt().block_on(inventory(&west));
    assert_eq!(
        before.amis.len(),
        1,
        "the copy should exist in us-west-2 before the cleanup: {before:?}"
    );
    assert_eq!(w.journals().len(), 1);
    let out = aws_env(w.kiln().args(["cleanup"]))
        .output()
        .expect("cleanup");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_leaks(&h, "after kiln cleanup");
    let east = rt().block_on(inventory(&h.client()));
    assert!(
        east.amis.is_empty(),
        "build region AMI left: {east:?}\n{}",
        text(&out)
    );
    let after = rt().block_on(inventory(&west));
    assert!(
        after.amis.is_empty() && after.leaks().is_empty(),
        "left in us-west-2: {after:?}\n{}",
        text(&out)
    );
    assert!(w.journals().is_empty(), "journal kept after a full cleanup");
}

#[test]
fn force_replaces_an_existing_ami_of_the_same_name() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let tpl = small_template(
        &h.moto.endpoint(),
        h.ssh_port,
        "  force_delete_snapshot = true",
        "\"true\"",
    )
    .replace("kiln-test-${uuidv4()}", "kiln-fixed-name");
    let f = w.write("force.pkr.hcl", &tpl);
    let build = |force: bool| {
        let mut c = w.kiln();
        c.args(["build", "-color=false"]);
        if force {
            c.arg("-force");
        }
        let out = aws_env(c.arg(&f)).output().expect("run");
        (out.status.code(), text(&out))
    };
    assert_eq!(build(false).0, Some(0));
    let first = rt().block_on(inventory(&h.client())).amis;
    let (code, t) = build(false);
    assert_eq!(code, Some(1), "{t}");
    assert!(t.contains("is used by an existing AMI"), "{t}");
    assert_no_leaks(&h, "refused duplicate name");
    let (code, t) = build(true);
    assert_eq!(code, Some(0), "{t}");
    let after = assert_no_leaks(&h, "-force").amis;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, first, "-force should have replaced the AMI");
}

#[test]
fn a_failing_provisioner_fails_the_build_and_leaks_nothing() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let f = w.write(
        "fail.pkr.hcl",
        &small_template(&h.moto.endpoint(), h.ssh_port, "", "\"exit 3\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("exit status 3") || t.contains("non-zero exit status"),
        "{t}"
    );
    let inv = assert_no_leaks(&h, "failing provisioner");
    assert!(inv.amis.is_empty());
    let _ = Duration::ZERO;
}

#[test]
fn assume_role_signs_ec2_calls_with_the_role_credentials() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDBASEUSER".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "base-secret-key".to_string()),
    ];
    let extra = r#"  assume_role {
    role_arn     = "arn:aws:iam::123456789012:role/kiln-builder"
    session_name = "kiln-test"
    policy       = "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ec2:*\",\"Resource\":\"*\"}]}"
    policy_arns  = ["arn:aws:iam::aws:policy/AmazonEC2FullAccess"]
    tags         = { Team = "images", Stage = "build" }
    transitive_tag_keys = ["Team"]
  }
"#;
    let (out, calls, bodies) = build_with_creds_calls(&h, &w, extra, &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let assume = ec2::params_of(&bodies, "AssumeRole");
    // Session tags as Key/Value pairs of one index, whatever the order.
    for (k, v) in [("Team", "images"), ("Stage", "build")] {
        let n = assume
            .iter()
            .find_map(|p| {
                p.strip_prefix("Tags.member.")
                    .and_then(|r| r.strip_suffix(&format!(".Key={k}")))
            })
            .unwrap_or_else(|| panic!("no tag {k}: {assume:?}"));
        assert!(
            assume.contains(&format!("Tags.member.{n}.Value={v}")),
            "tag {k} lacks value {v}: {assume:?}"
        );
    }
    for want in [
        "PolicyArns.member.1.arn=arn:aws:iam::aws:policy/AmazonEC2FullAccess",
        "TransitiveTagKeys.member.1=Team",
        "RoleSessionName=kiln-test",
        "Policy={\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"ec2:*\",\"Resource\":\"*\"}]}",
    ] {
        assert!(assume.iter().any(|p| p == want), "AssumeRole lacks {want}: {assume:?}");
    }
    // STS AssumeRole is signed by the base user, every EC2 call by the role.
    let (sts, ec2): (Vec<_>, Vec<_>) = calls.iter().partition(|(a, _)| a == "AssumeRole");
    assert!(
        !sts.is_empty() && sts.iter().all(|(_, k)| k == "AKIDBASEUSER"),
        "{calls:?}"
    );
    assert!(
        !ec2.is_empty() && ec2.iter().all(|(_, k)| k.starts_with("ASIA")),
        "EC2 calls not signed by the role: {calls:?}"
    );
    assert!(!t.contains("base-secret-key"), "{t}");
}

#[test]
fn a_profile_role_behind_mfa_is_assumed_with_mfa_code() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let creds = w.write(
        "credentials",
        "[base]\naws_access_key_id = AKIDMFABASE\naws_secret_access_key = mfa-base-secret\n",
    );
    let config = w.write(
        "config",
        "[profile builder]\nrole_arn = arn:aws:iam::123456789012:role/kiln-mfa\nmfa_serial = arn:aws:iam::123456789012:mfa/kiln-user\nsource_profile = base\nrole_session_name = kiln-mfa-session\n",
    );
    let env = [
        ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    let (out, calls, bodies) = build_with_creds_calls(
        &h,
        &w,
        "  profile  = \"builder\"\n  mfa_code = \"246810\"\n",
        &env,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let assume = ec2::params_of(&bodies, "AssumeRole");
    for want in [
        "RoleArn=arn:aws:iam::123456789012:role/kiln-mfa",
        "SerialNumber=arn:aws:iam::123456789012:mfa/kiln-user",
        "TokenCode=246810",
        "RoleSessionName=kiln-mfa-session",
    ] {
        assert!(
            assume.iter().any(|p| p == want),
            "AssumeRole lacks {want}: {assume:?}"
        );
    }
    let (sts, ec2): (Vec<_>, Vec<_>) = calls.iter().partition(|(a, _)| a == "AssumeRole");
    assert!(
        sts.len() == 1 && sts[0].1 == "AKIDMFABASE",
        "one AssumeRole, signed by the source profile: {calls:?}"
    );
    assert!(
        !ec2.is_empty() && ec2.iter().all(|(_, k)| k.starts_with("ASIA")),
        "EC2 calls not signed by the role: {calls:?}"
    );
    assert!(!t.contains("mfa-base-secret"), "{t}");

    // Without the code: refused before any call, saying what to set.
    let (out, calls, _) = build_with_creds_calls(&h, &w, "  profile = \"builder\"\n", &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("mfa_code") && t.contains("arn:aws:iam::123456789012:mfa/kiln-user"),
        "{t}"
    );
    assert!(
        calls.is_empty(),
        "calls made without credentials: {calls:?}"
    );
    // A code for a profile that asks none is a mistake too.
    let (out, calls, _) = build_with_creds_calls(
        &h,
        &w,
        "  profile  = \"base\"\n  mfa_code = \"246810\"\n",
        &env,
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("mfa_code is set, but profile \"base\""), "{t}");
    assert!(calls.is_empty(), "{calls:?}");
    assert_no_leaks(&h, "mfa profile");
}

/// A stand-in for Vault's HTTP API on 127.0.0.1 (Vault itself is not
/// packaged for this machine): the AWS secrets engine's credentials
/// endpoint, answering `token` only. Returns its address and the request
/// lines (with the namespace header) it saw.
fn vault_stand_in(
    token: &'static str,
    key_id: &'static str,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = vec![0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let line = req.lines().next().unwrap_or_default().to_string();
            let header = |h: &str| {
                req.lines().find_map(|l| {
                    l.split_once(':')
                        .filter(|(k, _)| k.eq_ignore_ascii_case(h))
                        .map(|(_, v)| v.trim().to_string())
                })
            };
            log.lock().unwrap().push(format!(
                "{line} ns={}",
                header("X-Vault-Namespace").unwrap_or_default()
            ));
            let (status, body) = if header("X-Vault-Token").as_deref() != Some(token) {
                (
                    "403 Forbidden",
                    r#"{"errors":["permission denied"]}"#.to_string(),
                )
            } else if line.contains("/creds/builder") {
                (
                    "200 OK",
                    format!(
                        r#"{{"request_id":"r","lease_id":"aws/creds/builder/x","lease_duration":900,"renewable":false,"data":{{"access_key":"{key_id}","secret_key":"vault-secret-key","security_token":"vault-session-token"}}}}"#
                    ),
                )
            } else {
                ("404 Not Found", r#"{"errors":[]}"#.to_string())
            };
            let _ = write!(c, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

#[test]
fn vault_aws_engine_credentials_sign_the_ec2_calls() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (addr, seen) = vault_stand_in("s.kiln-test-token", "ASIAVAULTKEY");
    let block = "  vault_aws_engine {\n    name        = \"builder\"\n    engine_name = \"aws-images\"\n    role_arn    = \"arn:aws:iam::123456789012:role/kiln\"\n    ttl         = \"900s\"\n  }\n";
    let env = [
        ("VAULT_ADDR", addr.clone()),
        ("VAULT_TOKEN", "s.kiln-test-token".to_string()),
        ("VAULT_NAMESPACE", "images".to_string()),
    ];
    let (out, keys) = build_with_creds(&h, &w, block, &env);
    assert_signed_by(&out, &keys, "ASIAVAULTKEY", "vault-secret-key");
    let t = text(&out);
    assert!(
        !t.contains("vault-session-token") && !t.contains("s.kiln-test-token"),
        "{t}"
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "Vault asked once per build: {seen:?}");
    assert!(seen[0].starts_with("GET /v1/aws-images/creds/builder?role_arn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fkiln&ttl=900s ") && seen[0].ends_with("ns=images"), "{seen:?}");

    // A token Vault refuses: the build stops before any EC2 call, with Vault's reason.
    let env = [
        ("VAULT_ADDR", addr.clone()),
        ("VAULT_TOKEN", "s.wrong".to_string()),
    ];
    let (out, keys) = build_with_creds(&h, &w, block, &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("Vault answered 403: permission denied"), "{t}");
    assert!(keys.is_empty(), "EC2 called without credentials: {keys:?}");
    // No token at all (and no ~/.vault-token): says how to get one.
    let (out, keys) = build_with_creds(&h, &w, block, &[("VAULT_ADDR", addr)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("no Vault token: set VAULT_TOKEN"),
        "{}",
        text(&out)
    );
    assert!(keys.is_empty());
    // Refused at validate: no role name, keys beside it, a ttl without unit.
    for (bad, says) in [
        ("  vault_aws_engine {\n    engine_name = \"aws\"\n  }\n", "vault_aws_engine: name"),
        ("  access_key = \"AKID\"\n  secret_key = \"s\"\n  vault_aws_engine {\n    name = \"builder\"\n  }\n", "must not set the access_key or secret_key"),
        ("  vault_aws_engine {\n    name = \"builder\"\n    ttl  = \"900\"\n  }\n", "vault_aws_engine.ttl \"900\""),
    ] {
        let f = w.write("vbad.pkr.hcl", &small_template(&h.moto.endpoint(), h.ssh_port, bad, "\"true\""));
        let out = aws_env(w.kiln().args(["validate"]).arg(&f)).output().expect("run");
        assert_eq!(out.status.code(), Some(1), "{bad}: {}", text(&out));
        // The diagnostic may be wrapped: compare words.
        let flat = text(&out).split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
        assert!(flat.contains(says), "{bad}: {}", text(&out));
    }
    assert_no_leaks(&h, "vault");
}

/// A build whose credentials came from Vault, or from a profile's role
/// behind MFA, is cleaned up after kill -9 with credentials got the same
/// way: the journal names the Vault engine (never a secret), and
/// `kiln cleanup -mfa-code` answers the MFA device.
#[test]
fn kiln_cleanup_gets_credentials_as_the_killed_build_did() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (addr, seen) = vault_stand_in("s.cleanup-token", "ASIAVAULTCLEAN");
    let creds = w.write(
        "credentials",
        "[base]\naws_access_key_id = AKIDMFABASE\naws_secret_access_key = mfa-base-secret\n",
    );
    let config = w.write("config", "[profile builder]\nrole_arn = arn:aws:iam::123456789012:role/kiln-mfa\nmfa_serial = arn:aws:iam::123456789012:mfa/kiln-user\nsource_profile = base\n");
    let vault_env = vec![
        ("VAULT_ADDR", addr),
        ("VAULT_TOKEN", "s.cleanup-token".to_string()),
    ];
    let mfa_env = vec![
        ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    for (extra, env, code) in [
        (
            "  vault_aws_engine {\n    name = \"builder\"\n  }\n",
            vault_env,
            None,
        ),
        (
            "  profile  = \"builder\"\n  mfa_code = \"135790\"\n",
            mfa_env,
            Some("246802"),
        ),
    ] {
        h.reset();
        let proxy = FaultProxy::start(h.moto.port);
        let tpl = format!(
            "source \"amazon-ebs\" \"k\" {{\n  region = \"us-east-1\"\n  source_ami = \"ami-04681a1dbd79675a5\"\n  instance_type = \"t2.micro\"\n  ami_name = \"kiln-killed-${{uuidv4()}}\"\n  communicator = \"none\"\n  custom_endpoint_ec2 = \"{}\"\n{extra}}}\nbuild {{\n  sources = [\"source.amazon-ebs.k\"]\n  provisioner \"shell-local\" {{\n    inline = [\"echo started\", \"sleep 60\"]\n  }}\n}}\n",
            proxy.endpoint()
        );
        let f = w.write("killed.pkr.hcl", &tpl);
        let mut c = w.kiln();
        c.args(["build", "-color=false"])
            .arg(&f)
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        for (k, v) in &env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn");
        read_until(&mut child, "started");
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        assert!(
            !rt().block_on(inventory(&h.client())).instances.is_empty(),
            "{extra}: kill -9 should leave the instance"
        );
        assert_eq!(w.journals().len(), 1, "{extra}");
        let journal = std::fs::read_to_string(&w.journals()[0]).expect("journal");
        assert!(
            !journal.contains("s.cleanup-token")
                && !journal.contains("135790")
                && !journal.contains("secret"),
            "a secret in the journal: {journal}"
        );
        let cleanup = |args: &[&str]| {
            let mut c = w.kiln();
            c.arg("cleanup").args(args);
            for (k, v) in &env {
                c.env(k, v);
            }
            c.output().expect("cleanup")
        };
        if code.is_some() {
            // Without the code: nothing can be deleted, and the journal stays.
            let out = cleanup(&[]);
            assert_eq!(out.status.code(), Some(1), "{}", text(&out));
            assert!(text(&out).contains("-mfa-code"), "{}", text(&out));
            assert_eq!(
                w.journals().len(),
                1,
                "journal dropped after a failed cleanup"
            );
        }
        proxy.reset();
        let out = cleanup(&code.map(|c| vec!["-mfa-code", c]).unwrap_or_default());
        assert_eq!(out.status.code(), Some(0), "{extra}: {}", text(&out));
        assert_no_leaks(&h, extra);
        assert!(w.journals().is_empty(), "{extra}: journal kept");
        let calls: Vec<(String, String)> = proxy
            .calls()
            .into_iter()
            .zip(proxy.access_keys.lock().unwrap().clone())
            .collect();
        let ec2_calls: Vec<_> = calls.iter().filter(|(a, _)| a != "AssumeRole").collect();
        assert!(!ec2_calls.is_empty(), "{calls:?}");
        match code {
            None => {
                assert!(
                    ec2_calls.iter().all(|(_, k)| k == "ASIAVAULTCLEAN"),
                    "cleanup not signed by Vault's key: {calls:?}"
                );
                assert!(
                    seen.lock().unwrap().len() >= 2,
                    "Vault asked by the build and by the cleanup"
                );
            }
            Some(code) => {
                let bodies = proxy.bodies.lock().unwrap().clone();
                assert!(
                    ec2::params_of(&bodies, "AssumeRole").contains(&format!("TokenCode={code}")),
                    "{bodies:?}"
                );
                assert!(
                    ec2_calls.iter().all(|(_, k)| k.starts_with("ASIA")),
                    "cleanup not signed by the role: {calls:?}"
                );
            }
        }
    }
}

#[test]
fn amazon_ami_data_source_finds_the_newest_matching_ami() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let ep = h.moto.endpoint();
    let tpl = format!(
        r#"data "amazon-ami" "base" {{
  region              = "us-east-1"
  custom_endpoint_ec2 = "{ep}"
  filters = {{
    name                = "amzn2-ami-hvm-*-x86_64-gp2"
    virtualization-type = "hvm"
  }}
  owners      = ["137112412989"]
  most_recent = true
}}

source "amazon-ebs" "d" {{
  region              = "us-east-1"
  source_ami          = data.amazon-ami.base.id
  instance_type       = "t2.micro"
  ami_name            = "from-data-source"
  communicator        = "none"
  custom_endpoint_ec2 = "{ep}"
  tags = {{
    Base = data.amazon-ami.base.name
  }}
}}

build {{
  sources = ["source.amazon-ebs.d"]
}}
"#
    );
    let f = w.write("data.pkr.hcl", &tpl);
    // validate leaves the data source unasked (its id unknown, yet set, as in
    // Packer); -evaluate-datasources asks it.
    let proxy = FaultProxy::start(h.moto.port);
    let via_proxy = w.write("data-proxy.pkr.hcl", &tpl.replace(&ep, &proxy.endpoint()));
    let out = aws_env(w.kiln().args(["validate"]).arg(&via_proxy))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        proxy.calls().is_empty(),
        "validate asked EC2: {:?}",
        proxy.calls()
    );
    let out = aws_env(
        w.kiln()
            .args(["validate", "-evaluate-datasources"])
            .arg(&via_proxy),
    )
    .output()
    .expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        proxy.calls().iter().any(|c| c == "DescribeImages"),
        "{:?}",
        proxy.calls()
    );
    // Without credentials: the data source's error says where kiln looked,
    // and EC2 is not asked.
    proxy.reset();
    let out = w
        .kiln()
        .args(["validate", "-evaluate-datasources"])
        .arg(&via_proxy)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("No valid credential sources found")
            && text(&out).contains("AWS_ACCESS_KEY_ID"),
        "{}",
        text(&out)
    );
    assert!(
        proxy.calls().is_empty(),
        "asked EC2 without credentials: {:?}",
        proxy.calls()
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // The newest of moto's Amazon Linux 2 AMIs, by creation date.
    let want = rt().block_on(async {
        let out = h
            .client()
            .describe_images()
            .owners("137112412989")
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("name")
                    .values("amzn2-ami-hvm-*-x86_64-gp2")
                    .build(),
            )
            .send()
            .await
            .expect("describe");
        let mut imgs = out.images().to_vec();
        imgs.sort_by(|a, b| a.creation_date().cmp(&b.creation_date()));
        imgs.last()
            .map(|i| {
                (
                    i.image_id().unwrap_or_default().to_string(),
                    i.name().unwrap_or_default().to_string(),
                )
            })
            .expect("an amzn2 AMI in moto")
    });
    assert!(
        t.contains(&format!("Found Image ID: {}", want.0)),
        "want {want:?}\n{t}"
    );
    assert!(
        t.contains(&format!("Adding tag: \"Base\": \"{}\"", want.1)),
        "{t}"
    );
    assert_no_leaks(&h, "data source build");
}

#[test]
fn debug_writes_the_temporary_key_0600_and_removes_it() {
    use std::io::Write;
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let f = w.write(
        "dbg.pkr.hcl",
        &small_template(&h.moto.endpoint(), h.ssh_port, "", "\"true\""),
    );
    let mut child = aws_env(w.kiln().args(["build", "-debug", "-color=false"]).arg(&f))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let key = w.path().join("ec2_t.pem");
    let mut seen_key = false;
    let mut seen_prevalidate = false;
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().expect("stdout")).lines() {
        let Ok(line) = line else { break };
        // Stepping through, nothing is made before its own step.
        if line.contains("Pausing after run of step 'StepPreValidate'") {
            let inv = rt().block_on(inventory(&h.client()));
            assert!(
                inv.key_pairs.is_empty() && inv.security_groups.is_empty(),
                "made before its step under -debug: {inv:?}\n{out}"
            );
            seen_prevalidate = true;
        }
        if line.contains("Pausing after run of step 'StepKeyPair'") {
            use std::os::unix::fs::PermissionsExt;
            let meta =
                std::fs::metadata(&key).unwrap_or_else(|e| panic!("{}: {e}\n{out}", key.display()));
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            assert!(std::fs::read_to_string(&key)
                .expect("key")
                .contains("PRIVATE KEY"));
            seen_key = true;
        }
        if line.contains("Press enter") || line.contains("press Enter") {
            let _ = stdin.write_all(b"\n");
        }
        out.push_str(&line);
        out.push('\n');
    }
    drop(stdin);
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "{out}");
    assert!(seen_key, "no pause after StepKeyPair:\n{out}");
    assert!(seen_prevalidate, "no pause after StepPreValidate:\n{out}");
    assert!(
        out.contains("Saving key for debug purposes: ec2_t.pem"),
        "{out}"
    );
    assert!(!key.exists(), "the debug key was left behind");
    assert_no_leaks(&h, "-debug build");
}

/// Most of amazon-ebs's options at once, checked through the EC2 API: a
/// copy in a second region, launch and volume permissions, tags on AMIs and
/// snapshots in every region, user data (deprecate_at: moto lacks EnableImageDeprecation), a launch volume that
/// outlives the instance (and must be deleted), run tags.
#[test]
fn ami_options_copies_permissions_tags_and_volumes() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let extra = r##"  ami_regions      = ["us-west-2"]
  ami_users        = ["111122223333"]
  ami_groups       = ["all"]
  snapshot_users   = ["111122223333"]
  ami_description  = "built by kiln from {{ .SourceAMIName }}"
  user_data        = "#!/bin/sh\necho hi"
  ena_support      = true
  sriov_support    = true
  run_tags         = { Purpose = "kiln-test-builder" }
  skip_ami_run_tags = true
  run_volume_tags  = { Purpose = "kiln-test-volume" }
  snapshot_tags    = { Snap = "from {{ .SourceAMI }} in {{ .BuildRegion }}", Base = "the snapshot's own" }
  launch_block_device_mappings {
    device_name           = "/dev/sdf"
    volume_size           = 2
    volume_type           = "gp3"
    delete_on_termination = false
  }
"##;
    let f = w.write(
        "opts.pkr.hcl",
        &small_template(&h.moto.endpoint(), h.ssh_port, extra, "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("Copying AMI") && t.contains("us-west-2: ami-"),
        "{t}"
    );
    let east = rt().block_on(inventory(&h.client()));
    assert!(east.leaks().is_empty(), "leaked {:?}", east.leaks());
    let west_client = ec2::client_at(&h.moto.endpoint(), "us-west-2");
    let west = rt().block_on(inventory(&west_client));
    assert!(
        west.leaks().is_empty(),
        "leaked in us-west-2 {:?}",
        west.leaks()
    );
    assert_eq!(east.amis.len(), 1, "{east:?}");
    assert_eq!(west.amis.len(), 1, "{west:?}");
    let id = |s: &str| s.to_string();
    let (ami, _) = &east.amis[0];
    rt().block_on(async {
        let c = h.client();
        let img = c
            .describe_images()
            .image_ids(id(ami))
            .send()
            .await
            .expect("describe")
            .images()[0]
            .clone();
        assert_eq!(
            img.description(),
            Some("built by kiln from amzn2-ami-hvm-2.0.20180810-x86_64-gp2"),
            "the description's build values are rendered"
        );
        let tags: Vec<_> = img
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        assert!(
            tags.contains(&("Base", "amzn2-ami-hvm-2.0.20180810-x86_64-gp2")),
            "{tags:?}"
        );
        let perms = c
            .describe_image_attribute()
            .image_id(id(ami))
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .expect("attribute");
        let users: Vec<_> = perms
            .launch_permissions()
            .iter()
            .filter_map(|p| p.user_id())
            .collect();
        assert!(users.contains(&"111122223333"), "{perms:?}");
        assert!(
            perms
                .launch_permissions()
                .iter()
                .any(|p| p.group().map(|g| g.as_str()) == Some("all")),
            "{perms:?}"
        );
        let snap = img
            .block_device_mappings()
            .iter()
            .find_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
            .expect("snapshot")
            .to_string();
        let snaps = c
            .describe_snapshots()
            .snapshot_ids(&snap)
            .send()
            .await
            .expect("snapshots");
        let stags: Vec<_> = snaps.snapshots()[0]
            .tags()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_string(),
                    t.value().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert!(
            stags.contains(&(
                "Snap".to_string(),
                "from ami-04681a1dbd79675a5 in us-east-1".to_string()
            )),
            "{stags:?}"
        );
        // The AMI's tags reach the snapshot beside snapshot_tags.
        assert!(
            stags.contains(&("Name".to_string(), "kiln-test".to_string())),
            "{stags:?}"
        );
        // skip_ami_run_tags: the run tags stayed on the instance.
        assert!(
            !tags.iter().any(|(k, _)| *k == "Purpose")
                && !stags.iter().any(|(k, _)| k == "Purpose"),
            "{tags:?} {stags:?}"
        );
        // A key of both: snapshot_tags wins on the snapshot, tags on the AMI.
        assert!(
            stags.contains(&("Base".to_string(), "the snapshot's own".to_string())),
            "{stags:?}"
        );
        assert_eq!(
            stags.iter().filter(|(k, _)| k == "Base").count(),
            1,
            "{stags:?}"
        );
        // The copy is tagged too, with its own region.
        let (west_ami, _) = &west.amis[0];
        let wimg = west_client
            .describe_images()
            .image_ids(id(west_ami))
            .send()
            .await
            .expect("describe west")
            .images()[0]
            .clone();
        assert_eq!(
            wimg.description(),
            img.description(),
            "the copy has the same description"
        );
        let wtags: Vec<_> = wimg
            .tags()
            .iter()
            .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
            .collect();
        assert!(wtags.contains(&("Name", "kiln-test")), "{wtags:?}");
        // The builder instance carried the run tags (it is terminated now).
        let inst = c.describe_instances().send().await.expect("instances");
        let i = inst
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .next()
            .expect("instance")
            .clone();
        assert!(
            i.tags()
                .iter()
                .any(|t| t.key() == Some("Purpose") && t.value() == Some("kiln-test-builder")),
            "{:?}",
            i.tags()
        );
    });
}

/// Spot instances (a temporary launch template and an instant fleet), and
/// the network found by filters: the default VPC, a subnet and a group in it.
#[test]
fn spot_instance_with_vpc_subnet_and_group_filters() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let (vpc, group) = rt().block_on(async {
        let c = h.client();
        let vpcs = c
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("is-default")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .expect("vpcs");
        let vpc = vpcs.vpcs()[0].vpc_id().expect("vpc id").to_string();
        let g = c
            .create_security_group()
            .group_name("kiln-test-ssh")
            .description("pre-made")
            .vpc_id(&vpc)
            .send()
            .await
            .expect("group");
        (vpc, g.group_id().expect("group id").to_string())
    });
    let extra = r#"  spot_price          = "auto"
  spot_instance_types = ["t3.micro", "t3a.micro"]
  vpc_filter {
    filters = { "is-default" = "true" }
  }
  subnet_filter {
    filters   = { "default-for-az" = "true" }
    most_free = true
  }
  security_group_filter {
    filters = { "group-name" = "kiln-test-ssh" }
  }
  spot_tags       = { Purpose = "spot-request" }
  spot_tag {
    key   = "Stage"
    value = "spot"
  }
  fleet_tags = { Fleet = "kiln" }
  fleet_tag {
    key   = "Owner"
    value = "images"
  }
  run_volume_tags = { Disk = "build" }
  user_data       = "hello-spot"
  launch_block_device_mappings {
    device_name           = "/dev/sdb"
    volume_size           = 4
    volume_type           = "gp3"
    delete_on_termination = true
  }
  metadata_options {
    http_tokens = "required"
  }
"#;
    // The spot types stand for instance_type (the plugin refuses both).
    let f = w.write(
        "spot.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"echo on spot\"")
            .replace("  instance_type       = \"t2.micro\"\n", ""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains(&format!("Found VPC ID: {vpc}")), "{t}");
    assert!(
        t.contains(&format!("Found security group(s): {group}")),
        "{t}"
    );
    assert!(
        t.contains("Launching a spot AWS instance") && t.contains("on spot"),
        "{t}"
    );
    // The launch template carries the same launch settings RunInstances gets.
    let data = proxy.params("CreateLaunchTemplate");
    for want in [
        "LaunchTemplateData.BlockDeviceMapping.1.DeviceName=/dev/sdb",
        "LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize=4",
        "LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeType=gp3",
        "LaunchTemplateData.MetadataOptions.HttpTokens=required",
        "LaunchTemplateData.UserData=aGVsbG8tc3BvdA==",
        "LaunchTemplateData.SecurityGroupId.1=",
    ] {
        assert!(
            data.iter()
                .any(|p| p.starts_with(want) && (want.ends_with('=') || p == want)),
            "CreateLaunchTemplate lacks {want}: {data:?}"
        );
    }
    let fleet = proxy.params("CreateFleet");
    assert!(
        fleet.contains(&"TagSpecification.1.ResourceType=fleet".to_string()),
        "CreateFleet has no fleet tags: {fleet:?}"
    );
    for key in ["Fleet", "Owner"] {
        assert!(
            fleet
                .iter()
                .any(|p| p.starts_with("TagSpecification.1.Tag.")
                    && p.ends_with(&format!(".Key={key}"))),
            "fleet tags lack {key}: {fleet:?}"
        );
    }
    for (kind, tag) in [
        ("instance", "Name"),
        ("volume", "Disk"),
        ("spot-instances-request", "Purpose"),
        ("spot-instances-request", "Stage"),
    ] {
        let n = data
            .iter()
            .find_map(|p| {
                p.strip_prefix("LaunchTemplateData.TagSpecification.")
                    .and_then(|r| r.strip_suffix(&format!(".ResourceType={kind}")))
            })
            .unwrap_or_else(|| panic!("no {kind} tags: {data:?}"));
        let prefix = format!("LaunchTemplateData.TagSpecification.{n}.Tag.");
        assert!(
            data.iter().any(|p| p
                .strip_prefix(&prefix)
                .is_some_and(|r| r.ends_with(&format!(".Key={tag}")))),
            "{kind} tags lack {tag}: {data:?}"
        );
    }
    let inv = rt().block_on(inventory(&h.client()));
    // The pre-made group is the test's, not a leak.
    let leaks: Vec<String> = inv
        .leaks()
        .into_iter()
        .filter(|l| !l.contains(&group))
        .collect();
    assert!(leaks.is_empty(), "{leaks:?}");
    assert_eq!(inv.amis.len(), 1);
    let templates = rt().block_on(async {
        h.client()
            .describe_launch_templates()
            .send()
            .await
            .expect("templates")
    });
    assert!(
        templates.launch_templates().is_empty(),
        "launch template left: {:?}",
        templates.launch_templates()
    );
}

/// The temporary key pair is made while the security group is: with EC2
/// slow to answer CreateKeyPair, the group is asked for before that answer,
/// and the launch still waits for the key.
#[test]
fn key_pair_is_made_while_the_security_group_is() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy
        .delay
        .lock()
        .unwrap()
        .push(("CreateKeyPair".into(), 1500));
    let f = w.write(
        "slowkey.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, "", "\"echo keyed\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("keyed"), "{t}");
    let events = proxy.events.lock().unwrap().clone();
    let at = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("no {e:?} in {events:?}"))
    };
    assert!(
        at("start CreateSecurityGroup") < at("end CreateKeyPair"),
        "the group waited for the key: {events:?}"
    );
    assert!(
        at("end CreateKeyPair") < at("start RunInstances"),
        "launched before the key was made: {events:?}"
    );
    assert_no_leaks(&h, "slow key pair");
}

/// Once the AMI exists, the instance is terminated and its temporary group
/// deleted without a DescribeInstances poll in between: deleting the
/// group, retried while EC2 says it is in use (as it does until the
/// instance is gone), is the wait.
#[test]
fn the_group_deletion_waits_for_the_instance_to_be_gone() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    for _ in 0..3 {
        proxy.refuse_once.lock().unwrap().push((
            "DeleteSecurityGroup".into(),
            "DependencyViolation".into(),
            "resource sg-x has a dependent object".into(),
        ));
    }
    let f = w.write(
        "release.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, "", "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("Error cleaning up"), "{t}");
    let calls = proxy.calls();
    let after: Vec<&str> = calls
        .iter()
        .skip_while(|c| *c != "TerminateInstances")
        .map(String::as_str)
        .filter(|c| *c != "CreateTags")
        .collect();
    assert_eq!(
        after,
        [
            "TerminateInstances",
            "DeleteSecurityGroup",
            "DeleteSecurityGroup",
            "DeleteSecurityGroup",
            "DeleteSecurityGroup"
        ],
        "{calls:?}"
    );
    assert_no_leaks(&h, "group released late");
}

/// Calls that need nothing from the AMI-name check go out while it runs:
/// the source AMI's lookup and the temporary key pair (once the
/// credentials are known good).
#[test]
fn the_source_lookup_and_key_pair_go_out_while_the_ami_name_is_checked() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy
        .delay
        .lock()
        .unwrap()
        .push(("DescribeImages".into(), 600));
    let f = w.write(
        "early.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, "", "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let events = proxy.events.lock().unwrap().clone();
    let starts: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| *e == "start DescribeImages")
        .map(|(i, _)| i)
        .collect();
    let first_end = events
        .iter()
        .position(|e| e == "end DescribeImages")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        starts.len() >= 2 && starts[1] < first_end,
        "the source lookup waited for the name check: {events:?}"
    );
    let key = events
        .iter()
        .position(|e| e == "start CreateKeyPair")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        key < first_end,
        "the key pair waited for the name check: {events:?}"
    );
    // The group's VPC is the template's (none: the default), so the
    // temporary security group is made meanwhile too.
    let group = events
        .iter()
        .position(|e| e == "start CreateSecurityGroup")
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(
        group < first_end,
        "the security group waited for the name check: {events:?}"
    );
    // The output keeps Packer's order.
    let order = [
        "Prevalidating AMI Name",
        "Found Image ID",
        "Creating temporary keypair",
        "Creating temporary security group",
        "Authorizing access to port",
        "Launching a source AWS instance",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|s| t.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{t}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{t}");
    assert_no_leaks(&h, "early calls");
}

/// A group whose VPC comes from a filter waits for the network step, and
/// a security group that failed is deleted before a retried step
/// (`-on-error=ask`) makes another: the build then succeeds, leaving nothing.
#[test]
fn a_group_waits_for_its_vpc_and_a_retried_group_replaces_the_failed_one() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.refuse_once.lock().unwrap().push((
        "AuthorizeSecurityGroupIngress".into(),
        "InvalidPermission.Malformed".into(),
        "refused once by the test".into(),
    ));
    let extra = "vpc_filter {\n    filters = { \"is-default\" = \"true\" }\n  }";
    let f = w.write(
        "retry-group.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\""),
    );
    let out = build_on_error_ask(&w, &f, b"r\n");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("refused once by the test"), "{t}");
    let calls = proxy.calls();
    let at = |a: &str| {
        calls
            .iter()
            .position(|c| c == a)
            .unwrap_or_else(|| panic!("no {a} in {calls:?}"))
    };
    assert!(
        at("DescribeVpcs") < at("CreateSecurityGroup"),
        "the group did not wait for its VPC: {calls:?}"
    );
    assert_eq!(
        calls.iter().filter(|c| *c == "CreateSecurityGroup").count(),
        2,
        "{calls:?}"
    );
    let first_delete = at("DeleteSecurityGroup");
    let second_create = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| *c == "CreateSecurityGroup")
        .nth(1)
        .map(|(i, _)| i)
        .unwrap_or(0);
    assert!(
        first_delete < second_create,
        "the failed group was not deleted before the retry: {calls:?}"
    );
    let inv = assert_no_leaks(&h, "retried group");
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
}

/// The key pair goes once provisioning is over, and the instance with its
/// security group once the AMI is made: they are deleted while the build
/// goes on (here, while it stops the instance and tags the AMI), and the
/// output still says so in Packer's order, at cleanup.
#[test]
fn temporary_resources_go_once_the_build_is_done_with_them() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.delay.lock().unwrap().extend([
        ("StopInstances".to_string(), 700),
        ("CreateTags".to_string(), 700),
    ]);
    let f = w.write(
        "release.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, "", "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let events = proxy.events.lock().unwrap().clone();
    let at = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("no {e:?} in {events:?}"))
    };
    assert!(
        at("start DeleteKeyPair") < at("end StopInstances"),
        "{events:?}"
    );
    assert!(
        at("start TerminateInstances") < at("end CreateTags"),
        "{events:?}"
    );
    assert!(
        at("start DeleteSecurityGroup") < at("end CreateTags"),
        "{events:?}"
    );
    let pos = |s: &str| t.find(s).unwrap_or_else(|| panic!("no {s:?} in\n{t}"));
    assert!(
        pos("Adding tags to AMI") < pos("Terminating the source AWS instance"),
        "{t}"
    );
    assert!(
        pos("Deleting temporary security group") < pos("Deleting temporary keypair"),
        "{t}"
    );
    let inv = assert_no_leaks(&h, "early deletes");
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
}

/// EC2 is eventually consistent: a CreateTags that does not find the new
/// AMI yet is retried (as Packer does), not a failed build.
#[test]
fn tags_are_retried_while_ec2_does_not_know_the_ami_yet() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.refuse_once.lock().unwrap().push((
        "CreateTags".into(),
        "InvalidAMIID.NotFound".into(),
        "The image id does not exist (yet)".into(),
    ));
    let f = w.write(
        "tags-retry.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, "", "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    // The refused call went out again, unchanged.
    let bodies: Vec<String> = proxy
        .bodies
        .lock()
        .unwrap()
        .iter()
        .filter(|b| b.contains("Action=CreateTags"))
        .cloned()
        .collect();
    assert!(
        bodies
            .iter()
            .enumerate()
            .any(|(i, b)| bodies[i + 1..].contains(b)),
        "no CreateTags was sent again: {bodies:?}"
    );
    let inv = assert_no_leaks(&h, "tags retried");
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
    let img = rt().block_on(async {
        h.client()
            .describe_images()
            .image_ids(&inv.amis[0].0)
            .send()
            .await
            .expect("describe")
    });
    assert!(
        img.images()[0]
            .tags()
            .iter()
            .any(|t| t.key() == Some("Name") && t.value() == Some("kiln-test")),
        "{img:?}"
    );
}

/// `kiln build -on-error=ask` of `f`, answering its prompts with `answers`.
fn build_on_error_ask(w: &Work, f: &std::path::Path, answers: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = aws_env(
        w.kiln()
            .args(["build", "-color=false", "-on-error=ask"])
            .arg(f),
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("run");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(answers);
    }
    child.wait_with_output().expect("wait")
}

/// A refused CreateKeyPair fails the launch that waits for the key; with
/// `-on-error=ask`, retrying that step meets the same error instead of
/// launching an instance without a key, and nothing is left behind.
#[test]
fn a_refused_key_pair_fails_the_launch_and_a_retry_too() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.refuse.lock().unwrap().push((
        "CreateKeyPair".into(),
        "UnauthorizedOperation".into(),
        "You are not authorized to perform this operation.".into(),
    ));
    let f = w.write(
        "nokey.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, "", "\"true\""),
    );
    let out = build_on_error_ask(&w, &f, b"r\nc\n");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.matches("CreateKeyPair: ").count() >= 2,
        "the retry did not meet the key pair failure again: {t}"
    );
    assert!(t.contains("UnauthorizedOperation"), "{t}");
    assert!(
        !proxy.calls().iter().any(|c| c == "RunInstances"),
        "launched without a key: {:?}",
        proxy.calls()
    );
    assert_no_leaks(&h, "refused key pair");
}

/// A one-shot-per-connection HTTP server on 127.0.0.1 that answers every
/// request with `body`; stands in for the "what is my IP" service.
fn ip_echo_server(body: &'static str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = c.read(&mut buf);
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://127.0.0.1:{port}/")
}

#[test]
fn source_public_ip_opens_the_group_to_this_hosts_address_only() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let extra = "  temporary_security_group_source_public_ip = true\n";
    let f = w.write(
        "pub.pkr.hcl",
        &small_template(&h.moto.endpoint(), h.ssh_port, extra, "\"echo ok\""),
    );
    let url = ip_echo_server("203.0.113.7\n");
    let out = aws_env(w.kiln().args(["build", "-color=false"]).arg(&f))
        .env("KILN_PUBLIC_IP_URL", &url)
        .output()
        .expect("run");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains(r#"from ["203.0.113.7/32"]"#), "{t}");
    assert!(!t.contains("0.0.0.0/0"), "{t}");
    let inv = rt().block_on(inventory(&h.client()));
    assert!(inv.leaks().is_empty(), "{:?}", inv.leaks());

    // A service that answers nonsense fails the build with a clear message, leaving nothing.
    let bad = ip_echo_server("<html>rate limited</html>");
    let f2 = w.write(
        "pub2.pkr.hcl",
        &small_template(&h.moto.endpoint(), h.ssh_port, extra, "\"echo ok\""),
    );
    let out = aws_env(w.kiln().args(["build", "-color=false"]).arg(&f2))
        .env("KILN_PUBLIC_IP_URL", &bad)
        .output()
        .expect("run");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("not an IP address"), "{t}");
    let inv = rt().block_on(inventory(&h.client()));
    assert!(inv.leaks().is_empty(), "{:?}", inv.leaks());
}

/// `ssh_interface`, and Packer's default without it, read from instances
/// moto really launched: one in the default subnet (public IP mapped on
/// launch) and one in a subnet of a new VPC that maps none. No connection
/// is made: the addresses are not loopback.
#[test]
fn ssh_interface_picks_the_address_ec2_reports() {
    use aws_sdk_ec2::types::InstanceType;
    use kiln::builder::amazon::config::SshInterface;
    use kiln::builder::amazon::instance::InstanceInfo;
    let Some(moto) = ec2::Moto::start() else {
        return;
    };
    let ec2 = ec2::client_at(&moto.endpoint(), "us-east-1");
    rt().block_on(async {
        let launch = |subnet: Option<String>| {
            let ec2 = ec2.clone();
            async move {
                let out = ec2
                    .run_instances()
                    .image_id("ami-04681a1dbd79675a5")
                    .instance_type(InstanceType::T2Micro)
                    .min_count(1)
                    .max_count(1)
                    .set_subnet_id(subnet)
                    .send()
                    .await
                    .expect("RunInstances");
                let id = out.instances()[0].instance_id().expect("id").to_string();
                let d = ec2
                    .describe_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .expect("DescribeInstances");
                d.reservations()[0].instances()[0].clone()
            }
        };
        let public = launch(None).await;
        let info = InstanceInfo::from_sdk(&public);
        assert!(
            info.vpc_id.is_some() && public.public_ip_address().is_some(),
            "moto launches into the default VPC with a public IP: {public:?}"
        );
        assert_eq!(
            info.ssh_host(None).as_deref(),
            public.public_ip_address(),
            "in a VPC the default is the public IP"
        );
        assert_eq!(
            info.ssh_host(Some(SshInterface::PublicIp)).as_deref(),
            public.public_ip_address()
        );
        assert_eq!(
            info.ssh_host(Some(SshInterface::PrivateIp)).as_deref(),
            public.private_ip_address()
        );
        assert_eq!(
            info.ssh_host(Some(SshInterface::PublicDns)).as_deref(),
            public.public_dns_name().filter(|s| !s.is_empty())
        );
        assert_eq!(
            info.ssh_host(Some(SshInterface::PrivateDns)).as_deref(),
            public.private_dns_name()
        );
        assert_ne!(public.public_ip_address(), public.private_ip_address());

        let vpc = ec2
            .create_vpc()
            .cidr_block("10.42.0.0/16")
            .send()
            .await
            .expect("CreateVpc");
        let vpc_id = vpc
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let sub = ec2
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block("10.42.1.0/24")
            .send()
            .await
            .expect("CreateSubnet");
        let subnet_id = sub
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string();
        let private = launch(Some(subnet_id)).await;
        let info = InstanceInfo::from_sdk(&private);
        assert_eq!(info.vpc_id.as_deref(), Some(vpc_id.as_str()));
        assert_eq!(
            private.public_ip_address(),
            None,
            "a subnet without MapPublicIpOnLaunch gives no public IP"
        );
        let ip = private.private_ip_address().expect("private IP");
        assert!(ip.starts_with("10.42.1."), "{ip}");
        assert_eq!(
            info.ssh_host(None).as_deref(),
            Some(ip),
            "without a public IP the default is the private IP"
        );
        assert_eq!(
            info.ssh_host(Some(SshInterface::PublicIp)),
            None,
            "a chosen interface never falls back"
        );
    });
}

/// Enhanced networking (`ena_support`, `sriov_support`) needs an HVM AMI:
/// a paravirtual source AMI (the proxy answers DescribeImages with one; the
/// AMI-name check is skipped with force_deregister) or
/// `ami_virtualization_type = "paravirtual"` is refused before anything is
/// launched, as in Packer, and what was begun is deleted.
#[test]
fn enhanced_networking_on_a_paravirtual_ami_is_refused_before_the_launch() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let f = w.write(
        "ena.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            "  ena_support = true\n  ami_virtualization_type = \"paravirtual\"\n",
            "\"true\"",
        ),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("Cannot enable enhanced networking, AMIVirtType 'paravirtual' is not HVM"),
        "{t}"
    );
    assert_no_leaks(&h, "paravirtual ami_virtualization_type");

    proxy.reset();
    proxy.stand_in.lock().unwrap().push((
        "DescribeImages".into(),
        r#"<?xml version="1.0" encoding="UTF-8"?><DescribeImagesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>11111111-2222-3333-4444-555555555555</requestId><imagesSet><item><imageId>ami-0123456789abcdef0</imageId><imageState>available</imageState><name>pv-source</name><virtualizationType>paravirtual</virtualizationType><rootDeviceName>/dev/sda1</rootDeviceName><rootDeviceType>ebs</rootDeviceType><creationDate>2020-01-01T00:00:00.000Z</creationDate></item></imagesSet></DescribeImagesResponse>"#.into(),
    ));
    let f = w.write(
        "ena.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            "  sriov_support = true\n  force_deregister = true\n",
            "\"true\"",
        ),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(
            "Cannot enable enhanced networking, source AMI 'ami-0123456789abcdef0' is not HVM"
        ),
        "{t}"
    );
    assert!(
        !proxy.calls().iter().any(|c| c == "RunInstances"),
        "{:?}",
        proxy.calls()
    );
    assert_no_leaks(&h, "paravirtual source");
}

/// A `vpc_id` of a non-default VPC without `subnet_id` or `subnet_filter`
/// is refused before anything is launched, as Packer refuses it (EC2 would
/// launch into the default VPC and reject the group made in this one); the
/// key pair and group already begun are deleted. The default VPC passes.
#[test]
fn a_non_default_vpc_without_a_subnet_is_refused_before_the_launch() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let vpc = rt().block_on(async {
        h.client()
            .create_vpc()
            .cidr_block("10.77.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string()
    });
    let f = w.write(
        "vpc.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            &format!("  vpc_id = \"{vpc}\"\n"),
            "\"true\"",
        ),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!(
            "subnet_id or subnet_filter must be provided for non-default VPCs ({vpc})"
        )),
        "{t}"
    );
    assert!(
        !proxy.calls().iter().any(|c| c == "RunInstances"),
        "{:?}",
        proxy.calls()
    );
    assert_no_leaks(&h, "non-default vpc");

    let default_vpc = rt().block_on(async {
        let out = h
            .client()
            .describe_vpcs()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("is-default")
                    .values("true")
                    .build(),
            )
            .send()
            .await
            .expect("DescribeVpcs");
        out.vpcs()[0].vpc_id().expect("id").to_string()
    });
    let f = w.write(
        "vpc.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            &format!("  vpc_id = \"{default_vpc}\"\n"),
            "\"true\"",
        ),
    );
    let out = build(&w, &f);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_no_leaks(&h, "default vpc");
}

/// `deregistration_protection`: EnableImageDeregistrationProtection for the
/// new AMI (moto lacks the action: the proxy stands in for it), as the last
/// step. When that call fails, the cleanup turns the protection off before
/// it deregisters the AMI, so nothing is left that cannot be deleted.
#[test]
fn deregistration_protection_is_enabled_last_and_undone_on_failure() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    for action in [
        "EnableImageDeregistrationProtection",
        "DisableImageDeregistrationProtection",
    ] {
        proxy.stand_in.lock().unwrap().push((
            action.into(),
            format!(r#"<?xml version="1.0" encoding="UTF-8"?><{action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>11111111-2222-3333-4444-555555555555</requestId><return>enabled-with-cooldown</return></{action}Response>"#),
        ));
    }
    let extra =
        "  deregistration_protection {\n    enabled       = true\n    with_cooldown = true\n  }\n";
    let f = w.write(
        "protect.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let inv = assert_no_leaks(&h, "deregistration_protection");
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
    let ami = &inv.amis[0].0;
    assert!(
        t.contains(&format!(
            "Enabling deregistration protection on AMI ({ami})"
        )),
        "{t}"
    );
    let reqs = proxy.stood_in.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(
        reqs[0].contains("Action=EnableImageDeregistrationProtection")
            && reqs[0].contains(&format!("ImageId={ami}"))
            && reqs[0].contains("WithCooldown=true"),
        "{reqs:?}"
    );
    let calls = proxy.calls();
    let at = |a: &str| {
        calls
            .iter()
            .position(|c| c == a)
            .unwrap_or_else(|| panic!("no {a} in {calls:?}"))
    };
    assert!(
        at("CreateTags") < at("EnableImageDeregistrationProtection"),
        "{calls:?}"
    );

    // The protection call fails: the AMI goes, its protection turned off first.
    h.reset();
    proxy.reset();
    proxy.stood_in.lock().unwrap().clear();
    proxy.refuse.lock().unwrap().push((
        "EnableImageDeregistrationProtection".into(),
        "UnauthorizedOperation".into(),
        "refused by the test".into(),
    ));
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("refused by the test"), "{t}");
    let inv = assert_no_leaks(&h, "deregistration_protection refused");
    assert!(inv.amis.is_empty(), "{inv:?}");
    let calls = proxy.calls();
    let at = |a: &str| {
        calls
            .iter()
            .position(|c| c == a)
            .unwrap_or_else(|| panic!("no {a} in {calls:?}"))
    };
    assert!(
        at("DisableImageDeregistrationProtection") < at("DeregisterImage"),
        "{calls:?}"
    );
}

/// `deprecate_at`: EnableImageDeprecation for the new AMI, with the time in
/// UTC. Moto does not implement that action, so the proxy answers it with
/// EC2's documented response and keeps the request; everything else is
/// moto's. A time that is not RFC 3339 is refused before any EC2 call.
#[test]
fn deprecate_at_enables_deprecation_of_the_new_ami() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.stand_in.lock().unwrap().push((
        "EnableImageDeprecation".into(),
        r#"<?xml version="1.0" encoding="UTF-8"?><EnableImageDeprecationResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>11111111-2222-3333-4444-555555555555</requestId><return>true</return></EnableImageDeprecationResponse>"#.into(),
    ));
    let f = w.write(
        "dep.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            "  deprecate_at = \"2031-01-31T10:20:00+02:00\"\n",
            "\"true\"",
        ),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let inv = assert_no_leaks(&h, "deprecate_at");
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
    let ami = &inv.amis[0].0;
    assert!(
        t.contains(&format!("Enabling deprecation on AMI ({ami})")),
        "{t}"
    );
    let reqs = proxy.stood_in.lock().unwrap().clone();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(reqs[0].contains(&format!("ImageId={ami}")), "{reqs:?}");
    assert!(
        reqs[0].contains("DeprecateAt=2031-01-31T08%3A20%3A00Z"),
        "{reqs:?}"
    );
    let calls = proxy.calls();
    let at = |a: &str| calls.iter().position(|c| c == a);
    assert!(
        at("CreateImage") < at("EnableImageDeprecation"),
        "{calls:?}"
    );

    proxy.reset();
    let bad = w.write(
        "bad.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            "  deprecate_at = \"next tuesday\"\n",
            "\"true\"",
        ),
    );
    for cmd in ["validate", "build"] {
        let out = aws_env(w.kiln().arg(cmd).arg(&bad)).output().expect("run");
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {t}");
        assert!(
            t.contains("deprecate_at \"next tuesday\" is not an RFC 3339 time"),
            "{cmd}: {t}"
        );
    }
    assert!(
        proxy.calls().is_empty(),
        "a bad deprecate_at made EC2 calls: {:?}",
        proxy.calls()
    );
}

/// `temporary_iam_instance_profile_policy_document`: a role with that
/// inline policy, trusted by EC2, in an instance profile the instance is
/// launched with; all deleted at the end. `iam_instance_profile` is checked
/// to exist before anything is created (unless `skip_profile_validation`).
#[test]
fn temporary_instance_profile_is_made_used_and_deleted() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let f = w.write(
        "iam.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, TEMP_PROFILE, "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert_no_leaks(&h, "temporary instance profile");
    let name = t
        .split("Creating temporary instance profile for this instance: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("profile name in the output")
        .to_string();
    let calls = proxy.calls();
    let policy = proxy.params("PutRolePolicy");
    let doc = policy
        .iter()
        .find_map(|kv| kv.strip_prefix("PolicyDocument="))
        .expect("PolicyDocument");
    let doc: serde_json::Value = serde_json::from_str(doc).expect("policy is JSON");
    assert_eq!(
        doc,
        serde_json::json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": ["*"]}]})
    );
    let trust = proxy.params("CreateRole");
    assert!(
        trust
            .iter()
            .any(|kv| kv.starts_with("AssumeRolePolicyDocument=")
                && kv.contains("ec2.amazonaws.com")),
        "{trust:?}"
    );
    assert!(
        proxy
            .params("RunInstances")
            .contains(&format!("IamInstanceProfile.Name={name}")),
        "the instance was not launched with {name}"
    );
    let at = |a: &str| calls.iter().position(|c| c == a).unwrap_or(usize::MAX);
    assert!(
        at("AddRoleToInstanceProfile") < at("RunInstances")
            && at("TerminateInstances") < at("DeleteRole"),
        "{calls:?}"
    );

    // A named profile: checked, then used as is (nothing temporary).
    h.reset();
    proxy.reset();
    let named = w.write(
        "named.pkr.hcl",
        &small_template(
            &proxy.endpoint(),
            h.ssh_port,
            "  iam_instance_profile = \"no-such-profile\"\n",
            "\"true\"",
        ),
    );
    let out = aws_env(w.kiln().args(["build", "-color=false"]).arg(&named))
        .output()
        .expect("run");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("Couldn't find specified instance profile") && t.contains("no-such-profile"),
        "{t}"
    );
    assert!(
        !proxy.calls().iter().any(|c| c == "RunInstances"),
        "launched without the profile: {:?}",
        proxy.calls()
    );
    assert_no_leaks(&h, "missing named profile");
    // An existing profile (made here, not by the build) is checked and used,
    // and left alone; with skip_profile_validation it is not even looked up.
    let iam = ec2::iam_at(&h.moto.endpoint());
    rt().block_on(async {
        iam.create_instance_profile()
            .instance_profile_name("builder-profile")
            .send()
            .await
            .expect("CreateInstanceProfile")
    });
    for (extra, lookup) in [("", true), ("  skip_profile_validation = true\n", false)] {
        proxy.reset();
        let f = w.write(
            "named.pkr.hcl",
            &small_template(
                &proxy.endpoint(),
                h.ssh_port,
                &format!("  iam_instance_profile = \"builder-profile\"\n{extra}"),
                "\"true\"",
            ),
        );
        let out = build(&w, &f);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(
            proxy.calls().iter().any(|c| c == "GetInstanceProfile"),
            lookup,
            "{extra}: {:?}",
            proxy.calls()
        );
        assert!(
            proxy
                .params("RunInstances")
                .iter()
                .any(|p| p == "IamInstanceProfile.Name=builder-profile"),
            "{extra}: named profile not passed on"
        );
        let left = rt().block_on(ec2::iam_leaks(&h.moto.endpoint()));
        assert_eq!(
            left,
            vec!["instance profile builder-profile".to_string()],
            "{extra}: the user's profile must stay, nothing else"
        );
    }
    rt().block_on(async {
        iam.delete_instance_profile()
            .instance_profile_name("builder-profile")
            .send()
            .await
            .expect("DeleteInstanceProfile")
    });
    assert_no_leaks(&h, "skip_profile_validation");
}

/// The instance and AMI options EC2 takes as parameters: each reaches the
/// call it belongs to (read back from moto where moto keeps it, else from
/// the request), and a bad value is refused before anything is created.
#[test]
fn run_and_ami_options_reach_ec2() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let extra = r#"  instance_type            = "t3.micro"
  enable_unlimited_credits = true
  enable_nitro_enclave     = true
  placement {
    tenancy                 = "dedicated"
    host_resource_group_arn = "arn:aws:resource-groups:us-east-1:123456789012:group/hosts"
  }
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
    instance_metadata_tags      = "enabled"
  }
  ami_org_arns      = ["arn:aws:organizations::123456789012:organization/o-abc123"]
  ami_ou_arns       = ["arn:aws:organizations::123456789012:ou/o-abc123/ou-ab12-cd34"]
  ami_product_codes = ["abcdefghij0123456789klmno"]
  imds_support      = "v2.0"
"#;
    let f = w.write(
        "opts.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\"")
            .replace("  instance_type       = \"t2.micro\"\n", ""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let inv = assert_no_leaks(&h, "run options");
    let ami = inv.amis[0].0.clone();
    let run = proxy.params("RunInstances");
    for want in [
        "CreditSpecification.CpuCredits=unlimited",
        "EnclaveOptions.Enabled=true",
        "Placement.Tenancy=dedicated",
        "Placement.HostResourceGroupArn=arn:aws:resource-groups:us-east-1:123456789012:group/hosts",
        "MetadataOptions.HttpEndpoint=enabled",
        "MetadataOptions.HttpTokens=required",
        "MetadataOptions.HttpPutResponseHopLimit=2",
        "MetadataOptions.InstanceMetadataTags=enabled",
    ] {
        assert!(
            run.iter().any(|p| p == want),
            "RunInstances lacks {want}: {run:?}"
        );
    }
    let modify = proxy.params("ModifyImageAttribute");
    assert!(
        modify
            .iter()
            .any(|p| p == "ProductCode.1=abcdefghij0123456789klmno"),
        "{modify:?}"
    );
    assert!(
        modify.iter().any(|p| p == "ImdsSupport.Value=v2.0"),
        "{modify:?}"
    );
    rt().block_on(async {
        let perms = h
            .client()
            .describe_image_attribute()
            .image_id(&ami)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .expect("attribute");
        let lp = perms.launch_permissions();
        assert!(
            lp.iter().any(|p| p.organization_arn()
                == Some("arn:aws:organizations::123456789012:organization/o-abc123")),
            "{lp:?}"
        );
        assert!(
            lp.iter().any(|p| p.organizational_unit_arn()
                == Some("arn:aws:organizations::123456789012:ou/o-abc123/ou-ab12-cd34")),
            "{lp:?}"
        );
    });

    // Refused up front, each with what is wrong.
    for (bad, says) in [
        ("  metadata_options {\n    http_tokens = \"mandatory\"\n  }\n", "metadata_options.http_tokens \"mandatory\" is invalid"),
        ("  placement {\n    tenancy = \"shared\"\n  }\n", "placement.tenancy \"shared\" is invalid"),
        ("  enable_unlimited_credits = true\n  instance_type = \"m5.large\"\n", "enable_unlimited_credits needs a burstable instance type"),
        ("  imds_support = \"v2\"\n", "imds_support \"v2\" is invalid"),
        ("  enable_nitro_enclave = true\n  spot_price = \"auto\"\n", "enable_nitro_enclave cannot be used with spot instances"),
        ("  skip_save_build_region = true\n  ami_regions = [\"us-east-1\"]\n", "skip_save_build_region needs ami_regions with a region other than"),
        ("  snapshot_copy_duration_minutes = 20\n", "snapshot_copy_duration_minutes 20 is invalid"),
        ("  kms_key_id = \"alias/kiln\"\n", "encrypt_boot must also be true"),
        ("  encrypt_boot = true\n  ami_regions = [\"us-west-2\"]\n  region_kms_key_ids = { \"eu-west-1\" = \"alias/y\" }\n", "Region eu-west-1 is in region_kms_key_ids"),
        ("  encrypt_boot = true\n  ami_regions = [\"us-west-2\", \"eu-west-1\"]\n  region_kms_key_ids = { \"eu-west-1\" = \"alias/y\" }\n", "Region us-west-2 is in ami_regions but"),
        ("  encrypt_boot = true\n  kms_key_id = \"my key\"\n", "is not a valid KMS Key Id"),
        ("  encrypt_boot = true\n  ami_users = [\"123456789012\"]\n", "Cannot share AMI encrypted with default"),
        ("  encrypt_boot = true\n  snapshot_users = [\"123456789012\"]\n", "Cannot share snapshot encrypted"),
        ("  ami_name = \"ab\"\n", "ami_name must be between 3 and 128"),
    ] {
        let tpl = small_template(&proxy.endpoint(), h.ssh_port, bad, "\"true\"");
        let tpl = if bad.contains("instance_type") { tpl.replace("  instance_type       = \"t2.micro\"\n", "") } else { tpl };
        let tpl = if bad.contains("ami_name") { tpl.replace("  ami_name            = \"kiln-test-${uuidv4()}\"\n", "") } else { tpl };
        assert_validate_refuses(&w, &proxy, bad, &tpl, says);
    }
}

/// `skip_save_build_region`: the build region's AMI is an intermediary,
/// under a name of its own, deregistered (with its snapshots) once it is
/// copied; an AMI of the same name already in the build region is no
/// obstacle, and only the copies are artifacts.
#[test]
fn skip_save_build_region_keeps_only_the_copies() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let extra = "  ami_regions = [\"us-west-2\"]\n  skip_save_build_region = true\n  snapshot_tags = { Snap = \"copied\" }\n";
    let tpl = small_template(&h.moto.endpoint(), h.ssh_port, extra, "\"true\"")
        .replace("kiln-test-${uuidv4()}", "kiln-skip-build-region");
    let f = w.write("skip.pkr.hcl", &tpl);
    // The same name in the build region, from an earlier build.
    let plain = w.write(
        "plain.pkr.hcl",
        &small_template(&h.moto.endpoint(), h.ssh_port, "", "\"true\"")
            .replace("kiln-test-${uuidv4()}", "kiln-skip-build-region"),
    );
    let first = aws_env(w.kiln().args(["build", "-color=false"]).arg(&plain))
        .output()
        .expect("run");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let before = rt().block_on(inventory(&h.client()));
    assert_eq!(before.amis.len(), 1, "{before:?}");

    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("Creating AMI kiln-intermediary-"), "{t}");
    assert!(t.contains("us-west-2: ami-"), "{t}");
    let artifacts = &t[t.find("AMIs were created").unwrap_or_else(|| panic!("{t}"))..];
    assert!(
        !artifacts.contains("us-east-1: ami-"),
        "the intermediary is an artifact: {t}"
    );
    let east = rt().block_on(inventory(&h.client()));
    assert!(east.leaks().is_empty(), "leaked {:?}", east.leaks());
    assert_eq!(
        east.amis, before.amis,
        "the intermediary AMI is still in us-east-1 (or the earlier AMI went): {east:?}"
    );
    let west_client = ec2::client_at(&h.moto.endpoint(), "us-west-2");
    let west = rt().block_on(inventory(&west_client));
    assert!(
        west.leaks().is_empty(),
        "leaked in us-west-2 {:?}",
        west.leaks()
    );
    assert_eq!(west.amis.len(), 1, "{west:?}");
    rt().block_on(async {
        let img = west_client
            .describe_images()
            .image_ids(&west.amis[0].0)
            .send()
            .await
            .expect("describe")
            .images()[0]
            .clone();
        assert_eq!(
            img.name(),
            Some("kiln-skip-build-region"),
            "the copy keeps ami_name"
        );
        assert!(
            img.tags()
                .iter()
                .any(|t| t.key() == Some("Name") && t.value() == Some("kiln-test")),
            "{:?}",
            img.tags()
        );
        // Every snapshot left in the build region belongs to the earlier AMI.
        let snaps = h
            .client()
            .describe_snapshots()
            .owner_ids("self")
            .send()
            .await
            .expect("snapshots");
        assert!(
            snaps
                .snapshots()
                .iter()
                .all(|sn| !sn.tags().iter().any(|t| t.key() == Some("Snap"))),
            "an intermediary snapshot is left: {:?}",
            snaps.snapshots()
        );
    });
}

/// `encrypt_boot = true`: as in Packer, the AMI CreateImage makes is an
/// intermediary under a name of its own, copied within the build region
/// (and to every `ami_regions` one) with encryption and `kms_key_id`, then
/// deregistered with its snapshots; the encrypted copies are the artifact,
/// tagged, listed in Packer's (sorted) order.
#[test]
fn encrypt_boot_keeps_only_encrypted_copies() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let extra = "  encrypt_boot = true\n  kms_key_id = \"alias/kiln-test\"\n  ami_regions = [\"us-west-2\"]\n  snapshot_tags = { Snap = \"enc\" }\n";
    let tpl = small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\"")
        .replace("kiln-test-${uuidv4()}", "kiln-encrypted");
    let f = w.write("enc.pkr.hcl", &tpl);
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("Creating AMI kiln-intermediary-"), "{t}");
    let copies = proxy.params("CopyImage");
    let asked: Vec<&String> = copies
        .iter()
        .filter(|p| {
            p.starts_with("Encrypted=") || p.starts_with("KmsKeyId=") || p.starts_with("Name=")
        })
        .collect();
    assert_eq!(
        asked.iter().filter(|p| **p == "Encrypted=true").count(),
        2,
        "two encrypted copies (us-east-1 itself, us-west-2): {copies:?}"
    );
    assert_eq!(
        asked
            .iter()
            .filter(|p| **p == "KmsKeyId=alias/kiln-test")
            .count(),
        2,
        "{copies:?}"
    );
    assert_eq!(
        asked
            .iter()
            .filter(|p| **p == "Name=kiln-encrypted")
            .count(),
        2,
        "{copies:?}"
    );
    let mut ids = Vec::new();
    for region in ["us-east-1", "us-west-2"] {
        let c = ec2::client_at(&h.moto.endpoint(), region);
        let inv = rt().block_on(inventory(&c));
        assert!(inv.leaks().is_empty(), "{region}: leaked {:?}", inv.leaks());
        assert_eq!(
            inv.amis.len(),
            1,
            "{region}: only the encrypted copy is kept: {inv:?}"
        );
        assert_eq!(inv.amis[0].1, "kiln-encrypted", "{region}: {inv:?}");
        let tags = rt()
            .block_on(
                c.describe_tags()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("resource-id")
                            .values(&inv.amis[0].0)
                            .build(),
                    )
                    .send(),
            )
            .expect("DescribeTags");
        assert!(
            tags.tags()
                .iter()
                .any(|t| t.key() == Some("Name") && t.value() == Some("kiln-test")),
            "{region}: copy untagged: {tags:?}"
        );
        ids.push(format!("{region}: {}", inv.amis[0].0));
    }
    let artifacts = &t[t
        .find("AMIs were created:")
        .unwrap_or_else(|| panic!("{t}"))..];
    assert!(
        artifacts.contains(&format!("AMIs were created:\n{}\n{}\n", ids[0], ids[1])),
        "the copies, sorted, are the artifact:\n{t}"
    );
    assert_no_leaks(&h, "encrypt_boot");
}

/// `subnet_filter`: several matches are an error unless `most_free` (the
/// subnet with the most free addresses) or `random` chooses.
#[test]
fn subnet_filter_needs_one_match_or_a_way_to_choose() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (big, small) = rt().block_on(async {
        let c = h.client();
        let vpc = c
            .create_vpc()
            .cidr_block("10.60.0.0/16")
            .send()
            .await
            .expect("vpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let mut ids = Vec::new();
        for cidr in ["10.60.0.0/20", "10.60.16.0/26"] {
            let sub = c
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(cidr)
                .availability_zone("us-east-1a")
                .send()
                .await
                .expect("subnet");
            let id = sub
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("id")
                .to_string();
            c.create_tags()
                .resources(&id)
                .tags(
                    aws_sdk_ec2::types::Tag::builder()
                        .key("Class")
                        .value("build")
                        .build(),
                )
                .send()
                .await
                .expect("tag");
            ids.push(id);
        }
        (ids[0].clone(), ids[1].clone())
    });
    let build = |choice: &str| {
        let extra = format!("  subnet_filter {{\n    filters = {{ \"tag:Class\" = \"build\" }}\n{choice}  }}\n  associate_public_ip_address = true\n");
        let f = w.write(
            "subnet.pkr.hcl",
            &small_template(&h.moto.endpoint(), h.ssh_port, &extra, "\"true\""),
        );
        let out = build(&w, &f);
        (out.status.code(), text(&out))
    };
    let (code, t) = build("");
    assert_eq!(code, Some(1), "{t}");
    assert!(
        t.contains("matched 2 subnets") && t.contains(&big) && t.contains(&small),
        "{t}"
    );
    assert_no_leaks(&h, "ambiguous subnet_filter");
    let (code, t) = build("    most_free = true\n");
    assert_eq!(code, Some(0), "{t}");
    assert!(
        t.contains(&format!("Found Subnet ID: {big}")),
        "most_free must pick the /20:\n{t}"
    );
    let mut seen = std::collections::HashSet::new();
    for _ in 0..12 {
        let (code, t) = build("    random = true\n");
        assert_eq!(code, Some(0), "{t}");
        seen.extend(
            [&big, &small]
                .into_iter()
                .filter(|id| t.contains(&format!("Found Subnet ID: {id}")))
                .cloned(),
        );
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(
        seen.len(),
        2,
        "random never picked both subnets in 12 builds: {seen:?}"
    );
    assert_no_leaks(&h, "subnet_filter");
}

/// `decode_authorization_messages`: a call EC2 refuses with an encoded
/// authorization message is reported with what STS decodes of it. Moto
/// neither refuses nor decodes, so the proxy refuses RunInstances and
/// answers DecodeAuthorizationMessage as AWS documents it.
#[test]
fn decode_authorization_messages_explains_a_refused_call() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.refuse.lock().unwrap().push((
        "RunInstances".into(),
        "UnauthorizedOperation".into(),
        "You are not authorized to perform this operation. Encoded authorization failure message: kilnENCODED123".into(),
    ));
    proxy.stand_in.lock().unwrap().push((
        "DecodeAuthorizationMessage".into(),
        r#"<DecodeAuthorizationMessageResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><DecodeAuthorizationMessageResult><DecodedMessage>{"allowed":false,"explicitDeny":false,"context":{"action":"ec2:RunInstances"}}</DecodedMessage></DecodeAuthorizationMessageResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></DecodeAuthorizationMessageResponse>"#.into(),
    ));
    for (extra, decoded) in [
        ("", false),
        ("  decode_authorization_messages = true\n", true),
    ] {
        proxy.stood_in.lock().unwrap().clear();
        let f = w.write(
            "auth.pkr.hcl",
            &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\""),
        );
        let out = build(&w, &f);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(t.contains("UnauthorizedOperation"), "{t}");
        assert_eq!(
            t.contains(r#"decoded authorization failure message: {"allowed":false"#),
            decoded,
            "{extra}: {t}"
        );
        let asked = proxy.stood_in.lock().unwrap().clone();
        assert_eq!(
            asked
                .iter()
                .any(|b| b.contains("EncodedMessage=kilnENCODED123")),
            decoded,
            "{asked:?}"
        );
        assert_no_leaks(&h, "refused RunInstances");
    }
}

/// Tags in block form (`tag`, `snapshot_tag`, `run_tag`, `run_volume_tag`)
/// merge into their maps, a later key winning; `no_ephemeral` maps the
/// instance-store device names to nothing; a capacity reservation and
/// license configurations reach RunInstances. Bad combinations are refused
/// before any call.
#[test]
fn tag_blocks_no_ephemeral_capacity_reservations_and_licenses() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let extra = r#"  tag {
    key   = "Name"
    value = "from-a-block"
  }
  tag {
    key   = "Team"
    value = "images"
  }
  snapshot_tag {
    key   = "Disk"
    value = "root"
  }
  run_tags = { Purpose = "map" }
  run_tag {
    key   = "Purpose"
    value = "block"
  }
  run_volume_tag {
    name  = "Volume"
    value = "build"
  }
  no_ephemeral = true
  launch_block_device_mappings {
    device_name           = "xvdcb"
    volume_size           = 1
    delete_on_termination = true
  }
  capacity_reservation_preference = "open"
  license_specifications {
    license_configuration_request = {
      license_configuration_arn = "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0"
    }
  }
"#;
    let f = w.write(
        "tags.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, extra, "\"true\""),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let inv = assert_no_leaks(&h, "tag blocks");
    let ami = inv.amis[0].0.clone();
    rt().block_on(async {
        let c = h.client();
        let tags_of = |id: String| {
            let c = c.clone();
            async move {
                let out = c
                    .describe_tags()
                    .filters(
                        aws_sdk_ec2::types::Filter::builder()
                            .name("resource-id")
                            .values(id)
                            .build(),
                    )
                    .send()
                    .await
                    .expect("DescribeTags");
                out.tags()
                    .iter()
                    .map(|t| {
                        (
                            t.key().unwrap_or_default().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect::<Vec<_>>()
            }
        };
        let ami_tags = tags_of(ami.clone()).await;
        for want in [("Name", "from-a-block"), ("Team", "images")] {
            assert!(
                ami_tags.iter().any(|(k, v)| k == want.0 && v == want.1),
                "AMI lacks {want:?}: {ami_tags:?}"
            );
        }
        assert!(
            ami_tags.iter().any(|(k, v)| k == "Base" && !v.is_empty()),
            "the map's other tags stay: {ami_tags:?}"
        );
        assert!(
            !ami_tags
                .iter()
                .any(|(k, v)| k == "Name" && v == "kiln-test"),
            "the block did not replace the map's Name: {ami_tags:?}"
        );
        let img = c
            .describe_images()
            .image_ids(&ami)
            .send()
            .await
            .expect("images");
        let snap = img.images()[0]
            .block_device_mappings()
            .iter()
            .find_map(|b| b.ebs().and_then(|e| e.snapshot_id()))
            .expect("snapshot")
            .to_string();
        let snap_tags = tags_of(snap).await;
        assert!(
            snap_tags.iter().any(|(k, v)| k == "Disk" && v == "root"),
            "snapshot lacks Disk=root: {snap_tags:?}"
        );
        // As in Packer, the run tags reach the AMI and its snapshots, and
        // `tags` win over them (the default Name "Packer Builder" is gone).
        assert!(
            ami_tags.iter().any(|(k, v)| k == "Purpose" && v == "block"),
            "AMI lacks the run tag: {ami_tags:?}"
        );
        for want in [
            ("Purpose", "block"),
            ("Name", "from-a-block"),
            ("Team", "images"),
        ] {
            assert!(
                snap_tags.iter().any(|(k, v)| k == want.0 && v == want.1),
                "snapshot lacks {want:?}: {snap_tags:?}"
            );
        }
        assert!(
            !ami_tags
                .iter()
                .chain(&snap_tags)
                .any(|(_, v)| v == "Packer Builder"),
            "{ami_tags:?} {snap_tags:?}"
        );
    });
    let create = proxy.params("CreateImage");
    assert!(
        create.contains(&"TagSpecification.1.ResourceType=image".to_string()),
        "{create:?}"
    );
    let run = proxy.params("RunInstances");
    let tag_spec = |kind: &str, key: &str, value: &str| {
        let n = run
            .iter()
            .find_map(|p| {
                p.strip_prefix("TagSpecification.")
                    .and_then(|r| r.strip_suffix(&format!(".ResourceType={kind}")))
            })
            .unwrap_or_else(|| panic!("no {kind} tags: {run:?}"));
        let prefix = format!("TagSpecification.{n}.Tag.");
        let idx = run
            .iter()
            .find_map(|p| {
                p.strip_prefix(&prefix)
                    .and_then(|r| r.strip_suffix(&format!(".Key={key}")))
            })
            .unwrap_or_else(|| panic!("{kind} tags lack {key}: {run:?}"));
        assert!(
            run.contains(&format!("{prefix}{idx}.Value={value}")),
            "{kind} tag {key} is not {value}: {run:?}"
        );
    };
    tag_spec("instance", "Purpose", "block");
    tag_spec("volume", "Volume", "build");
    assert!(
        run.contains(
            &"CapacityReservationSpecification.CapacityReservationPreference=open".to_string()
        ),
        "{run:?}"
    );
    assert!(run.contains(&"LicenseSpecification.1.LicenseConfigurationArn=arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0".to_string()), "{run:?}");
    // xvdca..xvdcz mapped to nothing, but the device the user mapped kept as mapped.
    let devices: Vec<&String> = run
        .iter()
        .filter(|p| p.starts_with("BlockDeviceMapping.") && p.contains(".DeviceName=xvdc"))
        .collect();
    assert_eq!(devices.len(), 26, "{devices:?}");
    let user = run
        .iter()
        .find_map(|p| {
            p.strip_prefix("BlockDeviceMapping.")
                .and_then(|r| r.strip_suffix(".DeviceName=xvdcb"))
        })
        .expect("xvdcb mapped");
    assert!(
        run.contains(&format!("BlockDeviceMapping.{user}.Ebs.VolumeSize=1")),
        "{run:?}"
    );
    let empty = run
        .iter()
        .filter(|p| p.starts_with("BlockDeviceMapping.") && p.ends_with(".NoDevice="))
        .count();
    assert_eq!(empty, 25, "{run:?}");

    for (bad, says) in [
        (
            "  tag {\n    value = \"x\"\n  }\n",
            "every tag block needs a non-empty key",
        ),
        (
            "  capacity_reservation_preference = \"always\"\n",
            "capacity_reservation_preference \"always\" is invalid",
        ),
        (
            "  capacity_reservation_id = \"cr-1\"\n  capacity_reservation_group_arn = \"arn:g\"\n",
            "are mutually exclusive",
        ),
        (
            "  capacity_reservation_preference = \"open\"\n  spot_price = \"auto\"\n",
            "cannot be used with spot_price",
        ),
    ] {
        assert_validate_refuses(
            &w,
            &proxy,
            bad,
            &small_template(&proxy.endpoint(), h.ssh_port, bad, "\"true\""),
            says,
        );
    }
}

/// Packer options that do nothing in kiln still validate, checked as Packer
/// checks them, with a warning saying why they do nothing; one whose build
/// kiln cannot make is refused with the reason. No EC2 needed: validate
/// makes no calls (the endpoint is a closed port).
#[test]
fn packer_options_without_effect_warn_and_unbuildable_ones_are_refused() {
    let w = Work::new();
    let endpoint = "http://127.0.0.1:9";
    let validate = |extra: &str| {
        let f = w.write(
            "opts.pkr.hcl",
            &small_template(endpoint, 22, extra, "\"true\""),
        );
        let out = aws_env(w.kiln().args(["validate"]).arg(&f))
            .output()
            .expect("run");
        (out.status.code(), text(&out))
    };
    for (extra, warns) in [
        ("  spot_price = \"auto\"\n  block_duration_minutes = 120\n", "block_duration_minutes has no effect: EC2 no longer offers Spot blocks"),
        ("  pause_before_ssm = \"5s\"\n", "pause_before_ssm has no effect: it is used only with ssh_interface = \"session_manager\""),
        ("  session_manager_port = 8047\n", "session_manager_port has no effect"),
        ("  fast_launch {\n    enable_fast_launch = false\n    max_parallel_launches = 6\n  }\n", ""),
    ] {
        let (code, t) = validate(extra);
        assert_eq!(code, Some(0), "{extra}: {t}");
        assert!(t.contains(warns), "{extra}: {t}");
    }
    for (extra, says) in [
        (
            "  block_duration_minutes = 120\n",
            "block_duration_minutes needs spot_price",
        ),
        (
            "  spot_price = \"0.05\"\n  block_duration_minutes = 90\n",
            "block_duration_minutes must be a multiple of 60 from 60 to 360",
        ),
        (
            "  fast_launch {\n    enable_fast_launch = true\n  }\n",
            "fast_launch.enable_fast_launch is not supported by kiln",
        ),
        (
            "  ssh_interface = \"session_manager\"\n",
            "ssh_interface \"session_manager\" is not supported by kiln yet",
        ),
    ] {
        let (code, t) = validate(extra);
        assert_eq!(code, Some(1), "{extra}: {t}");
        assert!(t.contains(says), "{extra}: {t}");
    }
}

/// `ssh_clear_authorized_keys`: before the AMI is made, the temporary key
/// is taken out of the login user's `authorized_keys` (here written by a
/// provisioner from moto's key pairs, as cloud-init writes it on EC2) and
/// every other line stays; root's file is edited through `sudo -n` (the
/// harness's sudo is a shim that logs its arguments).
#[test]
fn ssh_clear_authorized_keys_removes_the_temporary_key_only() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let home = ec2::home().expect("the login user's home");
    let ssh_dir = home.join(".ssh");
    let inline = format!(
        "\"mkdir -p ~/.ssh\", \"printf 'ssh-ed25519 AAAAC3NzaKEEPME keep@me\\\\n' > ~/.ssh/authorized_keys\", \"{} {} >> ~/.ssh/authorized_keys\", \"cp ~/.ssh/authorized_keys ~/.ssh/authorized_keys.before\"",
        ec2::KEYS_COMMAND,
        h.moto.endpoint()
    );
    let f = w.write(
        "clear.pkr.hcl",
        &small_template(
            &h.moto.endpoint(),
            h.ssh_port,
            "  ssh_clear_authorized_keys = true\n",
            &inline,
        ),
    );
    let out = build(&w, &f);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(
        t.contains("Trying to remove ephemeral keys from authorized_keys files"),
        "{t}"
    );
    let before = std::fs::read_to_string(ssh_dir.join("authorized_keys.before")).expect("before");
    let after = std::fs::read_to_string(ssh_dir.join("authorized_keys")).expect("after");
    let _ = std::fs::remove_file(ssh_dir.join("authorized_keys.before"));
    let _ = std::fs::remove_file(ssh_dir.join("authorized_keys"));
    let temp: Vec<&str> = before
        .lines()
        .filter(|l| l.starts_with("ssh-rsa "))
        .collect();
    assert_eq!(
        temp.len(),
        1,
        "the provisioner should have written the build's key: {before}"
    );
    assert_eq!(
        after, "ssh-ed25519 AAAAC3NzaKEEPME keep@me\n",
        "before:\n{before}"
    );
    assert!(!ssh_dir.join("authorized_keys.bak").exists());
    let blob = temp[0].split_whitespace().nth(1).expect("key blob");
    let sudo = h.shim_calls();
    assert!(
        sudo.contains(&format!(
            "sudo -n sh -c sed -i.bak '\\|{blob}|d' /root/.ssh/authorized_keys"
        )),
        "{sudo}"
    );
    assert_no_leaks(&h, "ssh_clear_authorized_keys");
}

/// A stand-in for the AWS SSO portal on 127.0.0.1: `GetRoleCredentials`
/// (GET /federation/credentials) in its real wire format, answering with
/// `key` for the bearer token `token` and 401 for any other. Returns its
/// endpoint and the requests it saw.
fn sso_portal(token: &'static str, key: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 8192];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            log.lock().unwrap().push(req.clone());
            let authorised = req
                .lines()
                .any(|l| l.to_ascii_lowercase() == format!("x-amz-sso_bearer_token: {token}"));
            let (status, body) = if authorised && req.starts_with("GET /federation/credentials") {
                (
                    "200 OK",
                    format!("{{\"roleCredentials\":{{\"accessKeyId\":\"{key}\",\"secretAccessKey\":\"sso-secret-key\",\"sessionToken\":\"sso-session-token\",\"expiration\":4102444800000}}}}"),
                )
            } else {
                (
                    "401 Unauthorized",
                    "{\"message\":\"Session token not found or invalid\"}".to_string(),
                )
            };
            let _ = c.write_all(
                format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nx-amzn-ErrorType: UnauthorizedException\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

/// `aws sso login` profiles, both kinds: a legacy one (`sso_start_url` on
/// the profile) and one naming an `sso-session`. The token comes from the
/// cache `aws sso login` writes (~/.aws/sso/cache/SHA1.json), the role
/// credentials from the SSO portal (a stand-in speaking its protocol), and
/// they sign the EC2 calls. An expired token says how to log in again.
#[test]
fn credentials_from_an_sso_login() {
    use sha1::Digest;
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (portal, seen) = sso_portal("cached-sso-access-token", "ASIASSOROLE");
    let home = w.path().join("home");
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("mkdir");
    let start_url = "https://kiln-test.awsapps.com/start";
    let token = |expires: &str| {
        // An expired login's token is one the portal no longer takes.
        let access = if expires < "2026" {
            "expired-sso-token"
        } else {
            "cached-sso-access-token"
        };
        format!("{{\"accessToken\": \"{access}\", \"expiresAt\": \"{expires}\", \"region\": \"us-east-1\", \"startUrl\": \"{start_url}\"}}")
    };
    let sha1 = |s: &str| hex::encode(sha1::Sha1::digest(s.as_bytes()));
    std::fs::write(
        cache.join(format!("{}.json", sha1(start_url))),
        token("2099-01-01T00:00:00Z"),
    )
    .expect("token");
    std::fs::write(
        cache.join(format!("{}.json", sha1("kiln-session"))),
        token("2099-01-01T00:00:00Z"),
    )
    .expect("token");
    let config = w.write(
        "aws-config",
        &format!("[profile legacy]\nsso_start_url = {start_url}\nsso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = Builder\nregion = us-east-1\n\n[profile session]\nsso_session = kiln-session\nsso_account_id = 123456789012\nsso_role_name = Builder\nregion = us-east-1\n\n[sso-session kiln-session]\nsso_start_url = {start_url}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"),
    );
    let env = |profile: &str| {
        vec![
            ("HOME", home.display().to_string()),
            ("AWS_CONFIG_FILE", config.display().to_string()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                w.path().join("none").display().to_string(),
            ),
            ("AWS_PROFILE", profile.to_string()),
            ("AWS_ENDPOINT_URL_SSO", portal.clone()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
    };
    for profile in ["legacy", "session"] {
        seen.lock().unwrap().clear();
        let (out, keys) = build_with_creds(&h, &w, "", &env(profile));
        assert_signed_by(&out, &keys, "ASIASSOROLE", "sso-secret-key");
        let reqs = seen.lock().unwrap().clone();
        assert!(
            reqs.iter()
                .any(|r| r.contains("account_id=123456789012") && r.contains("role_name=Builder")),
            "{profile}: {reqs:?}"
        );
        assert!(
            !text(&out).contains("cached-sso-access-token"),
            "token printed"
        );
    }
    // An expired login: no call to EC2, and the way out named.
    for id in [start_url, "kiln-session"] {
        std::fs::write(
            cache.join(format!("{}.json", sha1(id))),
            token("2020-01-01T00:00:00Z"),
        )
        .expect("token");
    }
    for profile in ["legacy", "session"] {
        let (out, keys) = build_with_creds(&h, &w, "", &env(profile));
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            keys.is_empty(),
            "EC2 was called without credentials: {keys:?}"
        );
        assert!(
            t.contains(&format!("aws sso login --profile {profile}")),
            "{profile}: {t}"
        );
    }
}

/// Temporary resources carry Packer's names (`packer_` key pairs and
/// security groups, `packer-` instance profiles), so IAM policies written
/// for Packer's builds keep matching kiln's.
#[test]
fn temporary_resources_are_named_as_packer_names_them() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let f = w.write(
        "names.pkr.hcl",
        &small_template(&proxy.endpoint(), h.ssh_port, TEMP_PROFILE, "\"true\""),
    );
    let out = build(&w, &f);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (action, name) in [
        ("CreateSecurityGroup", "GroupName=packer_"),
        ("CreateKeyPair", "KeyName=packer_"),
    ] {
        let params = proxy.params(action);
        assert!(
            params.iter().any(|p| p.starts_with(name)),
            "{action}: {params:?}"
        );
    }
    assert!(
        text(&out).contains("temporary instance profile for this instance: packer-"),
        "{}",
        text(&out)
    );
    assert_no_leaks(&h, "packer names");
}

// ---- more credential sources ---------------------------------------------------

/// Environment variables for one run of kiln.
type Env = Vec<(&'static str, String)>;

/// One HTTP request a stand-in saw: the request line, headers (names in
/// lower case) and body.
#[derive(Clone, Debug)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 stand-in on 127.0.0.1 for an AWS protocol the test must
/// serve itself: `answer` gives (status line, body) for each request.
/// Returns its port and the requests it saw.
fn stand_in(
    answer: impl Fn(&Seen) -> (&'static str, String) + Send + 'static,
) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    stand_in_on(l, answer)
}

/// [`stand_in`] on a listener the caller bound.
fn stand_in_on(
    l: std::net::TcpListener,
    answer: impl Fn(&Seen) -> (&'static str, String) + Send + 'static,
) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let port = l.local_addr().expect("addr").port();
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(c) = conn else { continue };
            let mut r = BufReader::new(c);
            let mut line = String::new();
            if r.read_line(&mut line).is_err() {
                continue;
            }
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0usize);
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let req = Seen {
                line: line.trim().to_string(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            };
            log.lock().unwrap().push(req.clone());
            let (status, body) = answer(&req);
            let _ = r.get_mut().write_all(
                format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                    .as_bytes(),
            );
        }
    });
    (port, seen)
}

/// Role credentials as the container endpoint answers them (ECS's shape;
/// EKS Pod Identity adds AccountId).
fn container_credentials(key: &str) -> String {
    let exp = (chrono::Utc::now() + chrono::Duration::hours(6)).format("%Y-%m-%dT%H:%M:%SZ");
    format!("{{\"AccessKeyId\":\"{key}\",\"SecretAccessKey\":\"container-secret-key\",\"Token\":\"container-session-token\",\"AccountId\":\"123456789012\",\"Expiration\":\"{exp}\"}}")
}

/// A container credentials endpoint answering `key` to requests whose
/// Authorization header is `auth`, 401 otherwise.
fn container_endpoint(auth: &'static str, key: &'static str) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    stand_in(move |r| {
        if r.header("authorization") == Some(auth) && r.line.starts_with("GET /") {
            ("200 OK", container_credentials(key))
        } else {
            (
                "401 Unauthorized",
                "{\"message\":\"invalid authorization token\"}".into(),
            )
        }
    })
}

/// ECS task roles and EKS Pod Identity: the full URI with an authorization
/// token, given in the environment (ECS) or in a file (EKS, which rotates
/// it), sign the EC2 calls; a refused token is an error, and never printed.
#[test]
fn credentials_from_the_container_endpoint() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (port, seen) = container_endpoint("ecs-auth-token", "ASIACONTAINER");
    let uri = format!("http://127.0.0.1:{port}/v2/credentials/kiln-task");
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri.clone()),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-token".into()),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    assert_signed_by(&out, &keys, "ASIACONTAINER", "container-secret-key");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|r| r.line.starts_with("GET /v2/credentials/kiln-task ")),
        "{:?}",
        seen.lock().unwrap()
    );
    // EKS Pod Identity: the token in a file.
    let (port, _) = container_endpoint("eks-pod-identity-token", "ASIAPODIDENTITY");
    // A projected service-account token, as EKS writes it: no newline.
    let token = w.write("eks-token", "eks-pod-identity-token");
    let env = [
        (
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            format!("http://127.0.0.1:{port}/v1/credentials"),
        ),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token.display().to_string(),
        ),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    assert_signed_by(&out, &keys, "ASIAPODIDENTITY", "container-secret-key");
    // A token the endpoint refuses: no EC2 call, the endpoint's answer
    // named, the token not printed.
    let env = [
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", uri),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "stale-auth-token".into(),
        ),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(keys.is_empty(), "{keys:?}");
    assert!(t.contains("container endpoint"), "{t}");
    assert!(!t.contains("stale-auth-token"), "token printed: {t}");
    assert_no_leaks(&h, "container");
}

/// `credential_process`: the profile's command prints the credentials
/// (version 1 JSON); a failing command fails the build with its message.
#[test]
fn credentials_from_a_credential_process() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let script = w.write(
        "creds.sh",
        "#!/bin/sh\n[ \"$1\" = --account ] || { echo \"bad arguments: $*\" >&2; exit 3; }\necho '{\"Version\": 1, \"AccessKeyId\": \"ASIAPROCESS\", \"SecretAccessKey\": \"process-secret-key\", \"SessionToken\": \"process-token\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    );
    Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .expect("chmod");
    let config = w.write(
        "config",
        &format!(
            "[profile proc]\ncredential_process = {} --account builder\n\n[profile broken]\ncredential_process = {} --other\n",
            script.display(),
            script.display()
        ),
    );
    let env = |p: &str| {
        [
            ("AWS_CONFIG_FILE", config.display().to_string()),
            ("AWS_PROFILE", p.to_string()),
        ]
    };
    let (out, keys) = build_with_creds(&h, &w, "", &env("proc"));
    assert_signed_by(&out, &keys, "ASIAPROCESS", "process-secret-key");
    // The template's profile names it just as well.
    let (out, keys) = build_with_creds(
        &h,
        &w,
        "  profile = \"proc\"\n",
        &[("AWS_CONFIG_FILE", config.display().to_string())],
    );
    assert_signed_by(&out, &keys, "ASIAPROCESS", "process-secret-key");
    let (out, keys) = build_with_creds(&h, &w, "", &env("broken"));
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(keys.is_empty(), "{keys:?}");
    assert!(t.contains("bad arguments: --other"), "{t}");
    assert_no_leaks(&h, "credential_process");
}

/// Web identity, as GitHub Actions' OIDC sets it up: the token file and
/// the role in the environment; STS (moto's) trades the token for the
/// role's credentials, which sign the EC2 calls.
#[test]
fn credentials_from_web_identity() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let token = w.write("oidc-token", "eyJraWQiOiJraWxuIn0.kiln-oidc-token.sig");
    let sts = FaultProxy::start(h.moto.port);
    let env = [
        ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
        (
            "AWS_ROLE_ARN",
            "arn:aws:iam::123456789012:role/kiln-oidc".to_string(),
        ),
        ("AWS_ROLE_SESSION_NAME", "kiln-ci-run".to_string()),
        ("AWS_ENDPOINT_URL_STS", sts.endpoint()),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let assume = sts.params("AssumeRoleWithWebIdentity");
    for want in [
        "RoleArn=arn:aws:iam::123456789012:role/kiln-oidc",
        "RoleSessionName=kiln-ci-run",
        "WebIdentityToken=eyJraWQiOiJraWxuIn0.kiln-oidc-token.sig",
    ] {
        assert!(assume.iter().any(|p| p == want), "{want}: {assume:?}");
    }
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k.starts_with("ASIA")),
        "EC2 calls not signed by the role: {keys:?}"
    );
    assert!(!t.contains("kiln-oidc-token"), "token printed: {t}");
}

/// Profiles that chain roles (`source_profile` → `role_arn` → …), with the
/// options the SDK for Go reads (`role_session_name`, `external_id`,
/// `duration_seconds`), and each `credential_source`; the build region
/// from the profile when the template has none.
#[test]
fn credentials_from_profile_role_chains() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (imds, _, _) = start_imds();
    let (ecs, _) = container_endpoint("ecs-auth-token", "ASIACONTAINERSRC");
    let creds = w.write(
        "credentials",
        "[base]\naws_access_key_id = AKIDCHAINBASE\naws_secret_access_key = chain-base-secret\n\n[self]\naws_access_key_id = AKIDSELF\naws_secret_access_key = self-secret\n",
    );
    let config = w.write(
        "config",
        "[profile middle]\nrole_arn = arn:aws:iam::123456789012:role/kiln-middle\nsource_profile = base\n\n\
         [profile top]\nrole_arn = arn:aws:iam::123456789012:role/kiln-top\nsource_profile = middle\nrole_session_name = kiln-chain\nexternal_id = kiln-external-42\nduration_seconds = 1800\nregion = us-west-2\n\n\
         [profile self]\nrole_arn = arn:aws:iam::123456789012:role/kiln-self\nsource_profile = self\n\n\
         [profile env]\nrole_arn = arn:aws:iam::123456789012:role/kiln-env\ncredential_source = Environment\n\n\
         [profile imds]\nrole_arn = arn:aws:iam::123456789012:role/kiln-imds\ncredential_source = Ec2InstanceMetadata\n\n\
         [profile ecs]\nrole_arn = arn:aws:iam::123456789012:role/kiln-ecs\ncredential_source = EcsContainer\n\n\
         [profile loop-a]\nrole_arn = arn:aws:iam::123456789012:role/a\nsource_profile = loop-b\n\n\
         [profile loop-b]\nrole_arn = arn:aws:iam::123456789012:role/b\nsource_profile = loop-a\n",
    );
    let files = [
        ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    // (profile, extra environment, the signer of each AssumeRole in order)
    let cases: Vec<(&str, Env, Vec<&str>)> = vec![
        ("top", vec![], vec!["AKIDCHAINBASE", "ASIA"]),
        ("self", vec![], vec!["AKIDSELF"]),
        (
            "env",
            vec![
                ("AWS_ACCESS_KEY_ID", "AKIDENVSOURCE".into()),
                ("AWS_SECRET_ACCESS_KEY", "env-source-secret".into()),
            ],
            vec!["AKIDENVSOURCE"],
        ),
        (
            "imds",
            vec![
                (
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                    format!("http://127.0.0.1:{imds}"),
                ),
                ("AWS_EC2_METADATA_DISABLED", "false".into()),
            ],
            vec!["AKIDINSTANCEROLE"],
        ),
        (
            "ecs",
            vec![
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("http://127.0.0.1:{ecs}/v2/credentials/x"),
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-token".into()),
            ],
            vec!["ASIACONTAINERSRC"],
        ),
    ];
    for (profile, extra_env, signers) in cases {
        let mut env = files.to_vec();
        env.extend(extra_env);
        let (out, calls, bodies) =
            build_with_creds_calls(&h, &w, &format!("  profile = \"{profile}\"\n"), &env);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(0), "{profile}: {t}");
        let (sts, ec2): (Vec<_>, Vec<_>) = calls.iter().partition(|(a, _)| a == "AssumeRole");
        assert_eq!(sts.len(), signers.len(), "{profile}: {calls:?}");
        for ((_, key), want) in sts.iter().zip(&signers) {
            assert!(key.starts_with(want), "{profile}: {calls:?}");
        }
        // Each link signs with the credentials the one before returned.
        if sts.len() == 2 {
            assert_ne!(sts[1].1, sts[0].1, "{profile}: {calls:?}");
        }
        assert!(
            !ec2.is_empty()
                && ec2
                    .iter()
                    .all(|(_, k)| k.starts_with("ASIA") && !sts.iter().any(|(_, s)| s == k)),
            "{profile}: EC2 calls not signed by the last role: {calls:?}"
        );
        assert!(!t.contains("secret"), "{profile}: a secret printed: {t}");
        if profile == "top" {
            let params = ec2::params_of(&bodies, "AssumeRole");
            for want in [
                "RoleArn=arn:aws:iam::123456789012:role/kiln-middle",
                "RoleArn=arn:aws:iam::123456789012:role/kiln-top",
                "RoleSessionName=kiln-chain",
                "ExternalId=kiln-external-42",
                "DurationSeconds=1800",
            ] {
                assert!(params.iter().any(|p| p == want), "{want}: {params:?}");
            }
        }
    }
    // The region from the profile, when the template and environment have none.
    let proxy = FaultProxy::start(h.moto.port);
    let tpl = format!(
        "source \"amazon-ebs\" \"r\" {{\n  source_ami = \"ami-04681a1dbd79675a5\"\n  instance_type = \"t2.micro\"\n  ami_name = \"kiln-region-${{uuidv4()}}\"\n  communicator = \"none\"\n  custom_endpoint_ec2 = \"{}\"\n  skip_region_validation = true\n}}\nbuild {{\n  sources = [\"source.amazon-ebs.r\"]\n}}\n",
        proxy.endpoint()
    );
    let f = w.write("region.pkr.hcl", &tpl);
    let mut c = w.kiln();
    c.args(["build", "-color=false"]).arg(&f);
    for (k, v) in files
        .iter()
        .cloned()
        .chain([("AWS_PROFILE", "top".to_string())])
    {
        c.env(k, v);
    }
    let out = c.output().expect("kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("us-west-2: ami-"), "{t}");
    // A loop without keys to start from is refused before any call.
    let (out, calls, _) = build_with_creds_calls(&h, &w, "  profile = \"loop-a\"\n", &files);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("loop-a -> loop-b -> loop-a"), "{t}");
    assert!(calls.is_empty(), "{calls:?}");
}

/// An `sso-session` login whose token expires within five minutes is
/// refreshed as the AWS CLI refreshes it (SSO OIDC CreateToken with the
/// cached refresh token), and the cache is rewritten.
#[test]
fn an_expiring_sso_token_is_refreshed() {
    use sha1::Digest;
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (port, seen) = stand_in(|r| {
        let bearer = r.header("x-amz-sso_bearer_token");
        if r.line.starts_with("POST /token") && r.body.contains("\"kiln-refresh-token\"") {
            (
                "200 OK",
                "{\"accessToken\":\"refreshed-sso-token\",\"expiresIn\":28800,\"refreshToken\":\"kiln-refresh-token-2\",\"tokenType\":\"Bearer\"}".into(),
            )
        } else if r.line.starts_with("GET /federation/credentials")
            && bearer == Some("refreshed-sso-token")
        {
            ("200 OK", "{\"roleCredentials\":{\"accessKeyId\":\"ASIASSOREFRESHED\",\"secretAccessKey\":\"sso-secret-key\",\"sessionToken\":\"t\",\"expiration\":4102444800000}}".into())
        } else {
            ("401 Unauthorized", "{\"message\":\"no\"}".into())
        }
    });
    let home = w.path().join("home");
    let cache = home.join(".aws/sso/cache");
    std::fs::create_dir_all(&cache).expect("mkdir");
    let file = cache.join(format!(
        "{}.json",
        hex::encode(sha1::Sha1::digest(b"kiln-session"))
    ));
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(2)).format("%Y-%m-%dT%H:%M:%SZ");
    std::fs::write(&file, format!("{{\"accessToken\":\"old-sso-token\",\"expiresAt\":\"{soon}\",\"refreshToken\":\"kiln-refresh-token\",\"clientId\":\"kiln-client\",\"clientSecret\":\"kiln-client-secret\",\"registrationExpiresAt\":\"2099-01-01T00:00:00Z\",\"region\":\"us-east-1\",\"startUrl\":\"https://kiln-test.awsapps.com/start\"}}")).expect("token");
    let config = w.write(
        "aws-config",
        "[profile session]\nsso_session = kiln-session\nsso_account_id = 123456789012\nsso_role_name = Builder\n\n[sso-session kiln-session]\nsso_start_url = https://kiln-test.awsapps.com/start\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n",
    );
    let ep = format!("http://127.0.0.1:{port}");
    let env = [
        ("HOME", home.display().to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
        ("AWS_PROFILE", "session".to_string()),
        ("AWS_ENDPOINT_URL_SSO", ep.clone()),
        ("AWS_ENDPOINT_URL_SSO_OIDC", ep),
    ];
    let (out, keys) = build_with_creds(&h, &w, "", &env);
    assert_signed_by(&out, &keys, "ASIASSOREFRESHED", "sso-secret-key");
    let reqs = seen.lock().unwrap().clone();
    assert!(
        reqs.iter().any(|r| r.line.starts_with("POST /token")
            && r.body.contains("refresh_token")
            && r.body.contains("kiln-client")),
        "{reqs:?}"
    );
    let cached = std::fs::read_to_string(&file).expect("cache");
    assert!(
        cached.contains("refreshed-sso-token") && cached.contains("kiln-refresh-token-2"),
        "{cached}"
    );
    assert!(!text(&out).contains("kiln-client-secret"));
}

/// `kiln cleanup` after `kill -9` reaches the same identity as the build,
/// for the sources the environment and the shared files give: a container
/// endpoint, `credential_process`, a role chain, web identity.
#[test]
fn kiln_cleanup_reaches_each_credential_source() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let (port, _) = container_endpoint("ecs-auth-token", "ASIACLEANCONTAINER");
    let script = w.write(
        "creds.sh",
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"ASIACLEANPROCESS\", \"SecretAccessKey\": \"p\", \"SessionToken\": \"t\", \"Expiration\": \"2099-01-01T00:00:00Z\"}'\n",
    );
    Command::new("chmod")
        .arg("755")
        .arg(&script)
        .status()
        .expect("chmod");
    let creds = w.write(
        "credentials",
        "[base]\naws_access_key_id = AKIDCLEANBASE\naws_secret_access_key = base-secret\n",
    );
    let config = w.write(
        "config",
        &format!("[profile proc]\ncredential_process = {}\n\n[profile chain]\nrole_arn = arn:aws:iam::123456789012:role/kiln-clean\nsource_profile = base\nexternal_id = kiln-clean-ext\n", script.display()),
    );
    let token = w.write("oidc-token", "kiln-clean-oidc-token");
    let files = vec![
        ("AWS_SHARED_CREDENTIALS_FILE", creds.display().to_string()),
        ("AWS_CONFIG_FILE", config.display().to_string()),
    ];
    let with = |extra: Vec<(&'static str, String)>| {
        let mut e = files.clone();
        e.extend(extra);
        e
    };
    let cases: Vec<(&str, Env, &str)> = vec![
        (
            "container",
            with(vec![
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    format!("http://127.0.0.1:{port}/v2/credentials/x"),
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ecs-auth-token".into()),
            ]),
            "ASIACLEANCONTAINER",
        ),
        (
            "credential_process",
            with(vec![("AWS_PROFILE", "proc".into())]),
            "ASIACLEANPROCESS",
        ),
        (
            "role chain",
            with(vec![("AWS_PROFILE", "chain".into())]),
            "ASIA",
        ),
        (
            "web identity",
            with(vec![
                ("AWS_WEB_IDENTITY_TOKEN_FILE", token.display().to_string()),
                (
                    "AWS_ROLE_ARN",
                    "arn:aws:iam::123456789012:role/kiln-oidc".into(),
                ),
            ]),
            "ASIA",
        ),
    ];
    for (what, env, signer) in cases {
        h.reset();
        let proxy = FaultProxy::start(h.moto.port);
        let mut env = env;
        env.push(("AWS_ENDPOINT_URL_STS", proxy.endpoint()));
        let tpl = format!(
            "source \"amazon-ebs\" \"k\" {{\n  region = \"us-east-1\"\n  source_ami = \"ami-04681a1dbd79675a5\"\n  instance_type = \"t2.micro\"\n  ami_name = \"kiln-killed-${{uuidv4()}}\"\n  communicator = \"none\"\n  custom_endpoint_ec2 = \"{}\"\n}}\nbuild {{\n  sources = [\"source.amazon-ebs.k\"]\n  provisioner \"shell-local\" {{\n    inline = [\"echo started\", \"sleep 60\"]\n  }}\n}}\n",
            proxy.endpoint()
        );
        let f = w.write("killed.pkr.hcl", &tpl);
        let mut c = w.kiln();
        c.args(["build", "-color=false"])
            .arg(&f)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = c.spawn().expect("spawn");
        read_until(&mut child, "started");
        child.kill().expect("kill -9");
        child.wait().expect("wait");
        assert_eq!(w.journals().len(), 1, "{what}");
        proxy.reset();
        let out = w
            .kiln()
            .arg("cleanup")
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .output()
            .expect("cleanup");
        assert_eq!(out.status.code(), Some(0), "{what}: {}", text(&out));
        assert_no_leaks(&h, what);
        let signed: Vec<(String, String)> = proxy
            .calls()
            .into_iter()
            .zip(proxy.access_keys.lock().unwrap().clone())
            .filter(|(a, _)| !a.starts_with("AssumeRole"))
            .collect();
        assert!(
            !signed.is_empty() && signed.iter().all(|(_, k)| k.starts_with(signer)),
            "{what}: cleanup not signed as the build was: {signed:?}"
        );
        if what == "role chain" {
            assert!(
                proxy
                    .params("AssumeRole")
                    .contains(&"ExternalId=kiln-clean-ext".to_string()),
                "{what}"
            );
        }
    }
}

/// An ECS task role given by `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, which
/// the SDKs always ask at 169.254.170.2. The build runs in a network
/// namespace of its own where that address is on the loopback device, so
/// nothing leaves the machine: the stand-in answers there, and a relay
/// inside the namespace reaches moto outside it. Skips where namespaces
/// cannot be made (not root, or no `ip`).
#[test]
fn credentials_from_an_ecs_task_role_by_relative_uri() {
    use std::sync::mpsc::channel;
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let (listeners_tx, listeners_rx) = channel();
    let (cmd_tx, cmd_rx) = channel::<Command>();
    let (out_tx, out_rx) = channel();
    // A thread of its own enters the namespace: the listeners it binds and
    // the processes it starts live there; every other thread stays out.
    std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET changes only this thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            let _ = listeners_tx.send(None);
            return;
        }
        let ip = |args: &[&str]| {
            Command::new("ip")
                .args(args)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ip(&["link", "set", "lo", "up"])
            || !ip(&["addr", "add", "169.254.170.2/32", "dev", "lo"])
        {
            let _ = listeners_tx.send(None);
            return;
        }
        let ecs = std::net::TcpListener::bind("169.254.170.2:80").expect("bind ecs");
        let relay = std::net::TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let _ = listeners_tx.send(Some((ecs, relay)));
        if let Ok(mut c) = cmd_rx.recv() {
            let _ = out_tx.send(c.output().expect("run kiln"));
        }
    });
    let Some((ecs, relay)) = listeners_rx.recv().expect("namespace thread") else {
        eprintln!("skipped: cannot make a network namespace here");
        return;
    };
    let (_, seen) = stand_in_on(ecs, |r| {
        if r.line.starts_with("GET /v2/credentials/kiln-task-id ") {
            ("200 OK", container_credentials("ASIAECSTASKROLE"))
        } else {
            ("404 Not Found", "{}".into())
        }
    });
    let relay_port = relay.local_addr().expect("addr").port();
    let upstream = proxy.endpoint().trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for inside in relay.incoming().flatten() {
            let Ok(outside) = std::net::TcpStream::connect(&upstream) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    inside.try_clone().expect("clone"),
                    outside.try_clone().expect("clone"),
                ),
                (outside, inside),
            ] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    let tpl = format!(
        "source \"amazon-ebs\" \"e\" {{\n  region = \"us-east-1\"\n  source_ami = \"ami-04681a1dbd79675a5\"\n  instance_type = \"t2.micro\"\n  ami_name = \"kiln-ecs-${{uuidv4()}}\"\n  communicator = \"none\"\n  custom_endpoint_ec2 = \"http://127.0.0.1:{relay_port}\"\n}}\nbuild {{\n  sources = [\"source.amazon-ebs.e\"]\n}}\n"
    );
    let f = w.write("ecs.pkr.hcl", &tpl);
    let mut c = w.kiln();
    c.args(["build", "-color=false"]).arg(&f).env(
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/kiln-task-id",
    );
    cmd_tx.send(c).expect("send");
    let out = out_rx.recv().expect("kiln output");
    let keys = proxy.access_keys.lock().unwrap().clone();
    assert_signed_by(&out, &keys, "ASIAECSTASKROLE", "container-secret-key");
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|r| r.line.starts_with("GET /v2/credentials/kiln-task-id ")),
        "{seen:?}"
    );
    assert_no_leaks(&h, "ecs relative uri");
}

/// The ansible provisioner on an amazon-ebs build with a temporary key
/// pair: the key (only in kiln's memory) is written 0600 for Ansible's run
/// and removed after it, and never printed.
#[test]
fn ansible_gets_the_temporary_key_0600_and_it_is_removed() {
    let Some(h) = Ec2::start() else { return };
    if std::process::Command::new("ansible-playbook")
        .arg("--version")
        .output()
        .map_or(true, |o| !o.status.success())
    {
        eprintln!("SKIP: ansible-playbook is not installed");
        return;
    }
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let tmp = w.path().join("tmp");
    std::fs::create_dir_all(&tmp).expect("tmp");
    w.write(
        "key.yml",
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: the key file\n      shell: \"stat -c 'mode=%a' {{ lookup('env', 'TMPDIR') }}/ansible-key*\"\n      register: key\n    - debug:\n        msg: \"{{ key.stdout }}\"\n",
    );
    let tpl = small_template(&proxy.endpoint(), h.ssh_port, "", "\"true\"").replace(
        "  provisioner \"shell\" {",
        "  provisioner \"ansible\" {\n    playbook_file    = \"key.yml\"\n    ansible_env_vars = [\"ANSIBLE_NOCOLOR=1\", \"ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3\"]\n  }\n  provisioner \"shell\" {",
    );
    let f = w.write("ansible.pkr.hcl", &tpl);
    let mut cmd = w.kiln();
    cmd.env("TMPDIR", &tmp);
    for k in ["PYENV_ROOT", "PYENV_VERSION"] {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let out = aws_env(cmd.args(["build", "-color=false"]).arg(&f))
        .output()
        .expect("run");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("\"msg\": \"mode=600\""), "{t}");
    assert!(!t.contains("PRIVATE KEY"), "the key was printed: {t}");
    let left: Vec<_> = std::fs::read_dir(&tmp)
        .expect("tmp")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    assert_no_leaks(&h, "ansible");
}

/// `kiln build -reuse` (docs/incremental.md) on the loopback EC2: an AMI
/// made from the same inputs stands for the build (no instance launched,
/// same AMI in the artifact list and the manifest); a byte of an uploaded
/// file, an inline command or the source AMI makes a rebuild; the AMI's
/// name and tags do not; `-force` rebuilds; a deregistered or deprecated
/// match is not reused; `kiln plan` names what changed. Through the proxy
/// that models real EC2 (new resources unknown for a while, slow states).
#[test]
fn reuse_builds_only_when_an_input_changed() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    proxy.realistic(ec2::Realism::new(
        11,
        Duration::from_millis(400),
        0,
        Duration::from_millis(600),
    ));
    std::fs::write(w.path().join("page.html"), "<h1>one</h1>\n").expect("page");
    let template = |source_ami: &str, tag: &str, inline: &str| {
        format!(
            r#"source "amazon-ebs" "web" {{
  region              = "us-east-1"
  source_ami          = "{source_ami}"
  instance_type       = "t2.micro"
  ami_name            = "web-${{uuidv4()}}"
  ssh_username        = "ec2-user"
  custom_endpoint_ec2 = "{}"
  ssh_host            = "127.0.0.1"
  ssh_port            = {}
  ssh_timeout         = "30s"
  tags = {{
    Release = "{tag}"
  }}
}}

build {{
  sources = ["source.amazon-ebs.web"]
  provisioner "file" {{
    source      = "page.html"
    destination = "/tmp/page.html"
  }}
  provisioner "shell" {{
    inline = ["{inline}"]
  }}
  post-processor "manifest" {{
    output = "manifest.json"
  }}
}}
"#,
            proxy.endpoint(),
            h.ssh_port
        )
    };
    let base = "ami-04681a1dbd79675a5";
    let f = w.write("web.pkr.hcl", &template(base, "1", "true"));
    let run = |args: &[&str]| {
        proxy.reset();
        let out = aws_env(w.kiln().args(args).arg(&f)).output().expect("run");
        // Whether an instance was launched (a RunInstances refused by the
        // model of EC2, its group not visible yet, is tried again).
        let launched = proxy.calls().iter().any(|c| *c == "RunInstances");
        (out.status.code(), text(&out), usize::from(launched))
    };
    let ami_in = |t: &str| -> String {
        t.lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix("us-east-1: "))
            .unwrap_or_else(|| panic!("no AMI in the artifacts:\n{t}"))
            .to_string()
    };
    let last_manifest = || -> serde_json::Value {
        let m: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(w.path().join("manifest.json")).expect("manifest"),
        )
        .expect("manifest json");
        m["builds"]
            .as_array()
            .and_then(|b| b.last())
            .cloned()
            .expect("an entry")
    };
    let build = ["build", "-color=false", "-reuse"];

    // A first build makes an AMI, tagged with its inputs.
    let (code, t, launches) = run(&build);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(launches, 1, "no instance launched:\n{t}");
    let first = ami_in(&t);
    let tags = rt()
        .block_on(h.client().describe_images().image_ids(&first).send())
        .expect("describe");
    let keys: Vec<&str> = tags.images()[0]
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .collect();
    for k in ["kiln:inputs", "kiln:parts", "kiln:build", "Release"] {
        assert!(keys.contains(&k), "{k} missing: {keys:?}");
    }
    let snaps = rt()
        .block_on(h.client().describe_snapshots().owner_ids("self").send())
        .expect("snapshots");
    assert!(
        snaps
            .snapshots()
            .iter()
            .any(|s| s.tags().iter().any(|t| t.key() == Some("kiln:inputs"))),
        "the snapshot has no inputs tag: {snaps:?}"
    );

    // The same command again: nothing launched, the same AMI.
    let (code, t, launches) = run(&build);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(launches, 0, "{t}");
    assert!(t.contains("Up to date"), "{t}");
    assert_eq!(ami_in(&t), first, "{t}");
    let entry = last_manifest();
    assert_eq!(
        entry["artifact_id"],
        format!("us-east-1:{first}"),
        "{entry}"
    );
    assert_eq!(entry["reused"], true, "{entry}");

    // Only labels changed (a new AMI name every run, another tag value): reused.
    std::fs::write(&f, template(base, "2", "true")).expect("write");
    let (code, t, launches) = run(&build);
    assert_eq!((code, launches), (Some(0), 0), "{t}");
    assert_eq!(ami_in(&t), first);

    // One byte of the uploaded file: plan names it, build rebuilds.
    std::fs::write(w.path().join("page.html"), "<h1>One</h1>\n").expect("page");
    let (code, t, launches) = run(&["plan", "-color=false"]);
    assert_eq!((code, launches), (Some(0), 0), "{t}");
    assert!(
        t.contains("provisioner 1 (file): file page.html changed"),
        "{t}"
    );
    assert!(!t.contains("provisioner 2"), "only the file changed:\n{t}");
    let (code, t, launches) = run(&build);
    assert_eq!((code, launches), (Some(0), 1), "{t}");
    let second = ami_in(&t);
    assert_ne!(second, first);

    // An inline command.
    std::fs::write(&f, template(base, "2", "echo changed")).expect("write");
    let (code, t, _) = run(&["build", "-color=false", "-reuse", "-dry-run"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(t.contains("provisioner 2 (shell): inline changed"), "{t}");
    let (code, t, launches) = run(&build);
    assert_eq!((code, launches), (Some(0), 1), "{t}");
    let third = ami_in(&t);

    // The source AMI.
    let other = rt()
        .block_on(h.client().describe_images().owners("amazon").send())
        .expect("images")
        .images()
        .iter()
        .filter_map(|i| i.image_id())
        .find(|id| *id != base)
        .expect("another AMI")
        .to_string();
    std::fs::write(&f, template(&other, "2", "echo changed")).expect("write");
    let (_, t, _) = run(&["plan", "-color=false"]);
    assert!(t.contains("source: source AMI changed"), "{t}");
    let (code, t, launches) = run(&build);
    assert_eq!((code, launches), (Some(0), 1), "{t}");
    std::fs::write(&f, template(base, "2", "echo changed")).expect("write");
    let (code, t, launches) = run(&build);
    assert_eq!(
        (code, launches),
        (Some(0), 0),
        "back to the third AMI's inputs:\n{t}"
    );
    assert_eq!(ami_in(&t), third);

    // -force always builds.
    let (code, t, launches) = run(&["build", "-color=false", "-reuse", "-force"]);
    assert_eq!((code, launches), (Some(0), 1), "{t}");
    let forced = ami_in(&t);

    // A deregistered match is not found; a deprecated one is not reused.
    for ami in [&third, &forced] {
        deregister_with_snapshots(&h.client(), ami);
    }
    let (code, t, launches) = run(&build);
    assert_eq!((code, launches), (Some(0), 1), "{t}");
    let rebuilt = ami_in(&t);
    proxy
        .deprecated
        .lock()
        .unwrap()
        .push((rebuilt.clone(), "2020-01-01T00:00:00.000Z".into()));
    let (code, t, launches) = run(&build);
    assert_eq!((code, launches), (Some(0), 1), "{t}");
    assert!(t.contains("deprecated: not reused"), "{t}");
    assert_ne!(ami_in(&t), rebuilt);
    assert_no_leaks(&h, "reuse");
}

/// What a user does to retire an AMI: deregister it, delete its snapshots.
fn deregister_with_snapshots(ec2: &aws_sdk_ec2::Client, ami: &str) {
    rt().block_on(async {
        let img = ec2
            .describe_images()
            .image_ids(ami)
            .send()
            .await
            .expect("describe");
        let snaps: Vec<String> = img
            .images()
            .iter()
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|b| b.ebs().and_then(|e| e.snapshot_id()).map(str::to_string))
            .collect();
        ec2.deregister_image()
            .image_id(ami)
            .send()
            .await
            .expect("deregister");
        for s in snaps {
            ec2.delete_snapshot()
                .snapshot_id(s)
                .send()
                .await
                .expect("delete snapshot");
        }
    });
}

/// `-reuse` of an AMI that lacks a copy in one of `ami_regions`: only that
/// copy is made (no instance), tagged like the rest; then everything is
/// reused. The legacy JSON front end reuses as HCL2 does.
#[test]
fn reuse_makes_only_the_missing_copies_and_works_for_json_templates() {
    let Some(h) = Ec2::start() else { return };
    let w = Work::new();
    let proxy = FaultProxy::start(h.moto.port);
    let json = format!(
        r#"{{
  "builders": [{{
    "type": "amazon-ebs",
    "region": "us-east-1",
    "source_ami": "ami-04681a1dbd79675a5",
    "instance_type": "t2.micro",
    "ami_name": "copies-{{{{timestamp}}}}-{{{{uuid}}}}",
    "ami_regions": ["us-west-2"],
    "ssh_username": "ec2-user",
    "custom_endpoint_ec2": "{}",
    "ssh_host": "127.0.0.1",
    "ssh_port": {},
    "ssh_timeout": "30s",
    "tags": {{"Name": "copies"}}
  }}],
  "provisioners": [{{"type": "shell", "inline": ["true"]}}]
}}
"#,
        proxy.endpoint(),
        h.ssh_port
    );
    let f = w.write("copies.json", &json);
    let run = || {
        proxy.reset();
        let out = aws_env(w.kiln().args(["build", "-color=false", "-reuse"]).arg(&f))
            .output()
            .expect("run");
        let calls = proxy.calls();
        let count = |a: &str| calls.iter().filter(|c| *c == a).count();
        (
            out.status.code(),
            text(&out),
            count("RunInstances"),
            count("CopyImage"),
        )
    };
    let (code, t, launches, copies) = run();
    assert_eq!((code, launches, copies), (Some(0), 1, 1), "{t}");
    let west = ec2::client_at(&h.moto.endpoint(), "us-west-2");
    let copy = rt().block_on(inventory(&west)).amis[0].0.clone();
    deregister_with_snapshots(&west, &copy);
    let (code, t, launches, copies) = run();
    assert_eq!((code, launches, copies), (Some(0), 0, 1), "{t}");
    let inv = rt().block_on(inventory(&west));
    assert_eq!(inv.amis.len(), 1, "{inv:?}");
    let new_copy = &inv.amis[0].0;
    assert!(t.contains(&format!("us-west-2: {new_copy}")), "{t}");
    let tags = rt()
        .block_on(west.describe_images().image_ids(new_copy).send())
        .expect("describe");
    let keys: Vec<&str> = tags.images()[0]
        .tags()
        .iter()
        .filter_map(|t| t.key())
        .collect();
    assert!(
        keys.contains(&"kiln:inputs") && keys.contains(&"Name"),
        "{keys:?}"
    );
    let (code, t, launches, copies) = run();
    assert_eq!((code, launches, copies), (Some(0), 0, 0), "{t}");
    assert_no_leaks(&h, "reuse with copies");
}
