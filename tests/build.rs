//! `kiln build` against Packer 1.6.6: the same `==>` lines and manifest for a
//! directory with variables of several types, locals, a var file, two
//! sources, only/except provisioners and a manifest post-processor.
//! The snapshots under tests/snapshots/ are Packer 1.6.6's own output,
//! masked; when `packer` is installed it is also run live beside kiln.

mod common;

use common::{fixture_copy, kiln, mask, text};
use std::process::Command;

const ARGS: &[&str] = &[
    "build",
    "-color=false",
    "-parallel-builds=1",
    "-var-file=demo.pkrvars.hcl",
    "-var",
    "verbose=true",
    ".",
];
const SECRET: &str = "tok-9f8e7d6c5b4a";

/// Packer lists artifacts in Go map order (random): compare them sorted.
fn normalise(s: &str) -> String {
    let mask = mask(s);
    let (head, tail) = match mask.find("==> Builds finished") {
        Some(i) => mask.split_at(i),
        None => (mask.as_str(), ""),
    };
    let mut lines: Vec<&str> = tail.lines().collect();
    if lines.len() > 1 {
        lines[1..].sort();
    }
    format!("{head}{}", lines.join("\n"))
}

fn snapshot(name: &str) -> String {
    std::fs::read_to_string(common::repo().join("tests/snapshots").join(name)).expect("snapshot")
}

#[test]
fn build_output_matches_packer_snapshot() {
    let dir = fixture_copy("build-demo");
    let out = kiln()
        .args(ARGS)
        .current_dir(dir.path())
        .output()
        .expect("run kiln");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "kiln failed:\n{stdout}\n{stderr}");
    assert_eq!(
        normalise(&stdout),
        normalise(&snapshot("build-demo.stdout.packer-1.6.6"))
    );
    let manifest =
        std::fs::read_to_string(dir.path().join("manifest.json")).expect("manifest written");
    assert_eq!(
        mask(&manifest),
        snapshot("build-demo.manifest.packer-1.6.6.json")
    );
}

#[test]
fn build_output_matches_live_packer() {
    if !common::packer_available() {
        eprintln!("skipping: packer is not installed");
        return;
    }
    let kd = fixture_copy("build-demo");
    let pd = fixture_copy("build-demo");
    let k = kiln()
        .args(ARGS)
        .current_dir(kd.path())
        .output()
        .expect("kiln");
    let p = Command::new("packer")
        .args(ARGS)
        .current_dir(pd.path())
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("packer");
    assert_eq!(k.status.code(), p.status.code());
    assert_eq!(normalise(&text(&k).0), normalise(&text(&p).0));
    let km = std::fs::read_to_string(kd.path().join("manifest.json")).expect("kiln manifest");
    let pm = std::fs::read_to_string(pd.path().join("manifest.json")).expect("packer manifest");
    assert_eq!(mask(&km), mask(&pm));
}

const JSON_ARGS: &[&str] = &[
    "build",
    "-color=false",
    "-parallel-builds=1",
    "-var",
    "who=world",
    "template.json",
];

/// A JSON template (named null builders, `{{user}}`/`{{build_name}}`,
/// only/except/override, a shell-local → manifest chain) prints what Packer
/// 1.6.6 prints, whose post-processor lines differ from HCL2's.
#[test]
fn json_build_output_matches_packer_snapshot() {
    let dir = fixture_copy("build-json");
    let out = kiln()
        .args(JSON_ARGS)
        .current_dir(dir.path())
        .output()
        .expect("run kiln");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "kiln failed:\n{stdout}\n{stderr}");
    assert_eq!(
        normalise(&stdout),
        normalise(&snapshot("build-json.stdout.packer-1.6.6"))
    );
    let manifest =
        std::fs::read_to_string(dir.path().join("manifest.json")).expect("manifest written");
    assert_eq!(
        mask(&manifest),
        snapshot("build-json.manifest.packer-1.6.6.json")
    );
}

#[test]
fn json_build_output_matches_live_packer() {
    if !common::packer_available() {
        eprintln!("skipping: packer is not installed");
        return;
    }
    let kd = fixture_copy("build-json");
    let pd = fixture_copy("build-json");
    let k = kiln()
        .args(JSON_ARGS)
        .current_dir(kd.path())
        .output()
        .expect("kiln");
    let p = Command::new("packer")
        .args(JSON_ARGS)
        .current_dir(pd.path())
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("packer");
    assert_eq!(k.status.code(), p.status.code());
    assert_eq!(normalise(&text(&k).0), normalise(&text(&p).0));
    let km = std::fs::read_to_string(kd.path().join("manifest.json")).expect("kiln manifest");
    let pm = std::fs::read_to_string(pd.path().join("manifest.json")).expect("packer manifest");
    assert_eq!(mask(&km), mask(&pm));
}

#[test]
fn sensitive_values_never_reach_any_output() {
    let dir = fixture_copy("build-demo");
    // The secret is echoed by a provisioner and also put in the manifest.
    let extra = dir.path().join("leak.pkr.hcl");
    std::fs::write(
        &extra,
        "locals {\n  leak = \"x-${var.api_token}-y\"\n}\nbuild {\n  name = \"leak\"\n  sources = [\"source.null.alpha\"]\n  provisioner \"shell-local\" {\n    inline = [\"echo ${var.api_token}\", \"echo ${local.leak} >&2\"]\n  }\n  post-processor \"manifest\" {\n    output = \"leak.json\"\n    custom_data = { token = var.api_token }\n  }\n}\n",
    )
    .expect("write");
    for args in [
        ARGS,
        &[
            "build",
            "-machine-readable",
            "-var-file=demo.pkrvars.hcl",
            ".",
        ][..],
        &["inspect", "."][..],
        &["inspect", "--graph=json", "."][..],
    ] {
        let out = kiln()
            .args(args)
            .current_dir(dir.path())
            .output()
            .expect("run");
        let (o, e) = text(&out);
        assert!(out.status.success(), "{args:?} failed:\n{o}\n{e}");
        assert!(
            !o.contains(SECRET) && !e.contains(SECRET),
            "secret leaked by {args:?}:\n{o}\n{e}"
        );
    }
    // The debug log (PACKER_LOG=1, to stderr or PACKER_LOG_PATH) masks it too.
    let log = dir.path().join("packer.log");
    let out = kiln()
        .args(ARGS)
        .current_dir(dir.path())
        .env("PACKER_LOG", "1")
        .output()
        .expect("run");
    let (o, e) = text(&out);
    assert!(
        out.status.success() && e.contains("running step") && !o.contains("running step"),
        "no debug log on stderr:\n{e}"
    );
    assert!(
        !o.contains(SECRET) && !e.contains(SECRET),
        "secret leaked by PACKER_LOG=1:\n{e}"
    );
    let out = kiln()
        .args(ARGS)
        .current_dir(dir.path())
        .env("PACKER_LOG", "1")
        .env("PACKER_LOG_PATH", &log)
        .output()
        .expect("run");
    let written = std::fs::read_to_string(&log).expect("PACKER_LOG_PATH written");
    assert!(
        out.status.success()
            && written.contains("running step StepProvision")
            && !text(&out).1.contains("running step"),
        "{written}"
    );
    assert!(!written.contains(SECRET), "secret in the log:\n{written}");
    // Without PACKER_LOG: no debug lines anywhere.
    let out = kiln()
        .args(ARGS)
        .current_dir(dir.path())
        .env_remove("PACKER_LOG")
        .output()
        .expect("run");
    assert!(!text(&out).1.contains("running step"), "{}", text(&out).1);
    let out = kiln()
        .args(ARGS)
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(
        text(&out).0.contains("<sensitive>"),
        "the secret's echo should show as <sensitive>"
    );
    for f in ["manifest.json", "leak.json"] {
        let m = std::fs::read_to_string(dir.path().join(f)).expect("manifest");
        assert!(!m.contains(SECRET), "secret in {f}:\n{m}");
    }
}

#[test]
fn failing_provisioner_fails_the_build_and_runs_error_cleanup() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        "source \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {\n    inline = [\"echo before\", \"exit 3\"]\n  }\n  provisioner \"shell-local\" {\n    inline = [\"echo never\"]\n  }\n  error-cleanup-provisioner \"shell-local\" {\n    inline = [\"echo cleaning > cleaned.txt\"]\n  }\n}\n",
    )
    .expect("write");
    let out = kiln()
        .args(["build", "-color=false", "."])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let (o, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"),
        "{o}"
    );
    assert!(!o.contains("never"), "{o}");
    assert!(
        dir.path().join("cleaned.txt").exists(),
        "error-cleanup-provisioner did not run:\n{o}"
    );
    assert!(
        o.contains("==> Some builds didn't complete successfully and had errors:"),
        "{o}"
    );
}

#[test]
fn valid_exit_codes_and_only_except_flags() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        "source \"null\" \"a\" {\n  communicator = \"none\"\n}\nsource \"null\" \"b\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\", \"source.null.b\"]\n  provisioner \"shell-local\" {\n    valid_exit_codes = [0, 7]\n    inline = [\"echo from $PACKER_BUILD_NAME\", \"exit 7\"]\n  }\n}\n",
    )
    .expect("write");
    let out = kiln()
        .args(["build", "-color=false", "-only=null.b", "."])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(o.contains("from b") && !o.contains("from a"), "{o}");
    let out = kiln()
        .args(["build", "-color=false", "-except=null.*", "."])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert!(text(&out)
        .0
        .contains("Builds finished but no artifacts were created."));
}

/// Run `kiln build ARGS .` in `dir` with `input` on stdin.
fn build_with_stdin(dir: &std::path::Path, args: &[&str], input: &str) -> std::process::Output {
    common::run_with_stdin(
        kiln().arg("build").args(args).arg(".").current_dir(dir),
        input.as_bytes(),
    )
}

/// A template whose provisioner fails until the file `ok` exists, and
/// whose error-cleanup provisioner leaves `cleaned.txt`.
const FLAKY: &str = "source \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {\n    inline = [\"echo attempt >> attempts\", \"test -e ok || { touch ok; exit 5; }\"]\n  }\n}\n";

#[test]
fn on_error_ask_retries_cleans_up_or_aborts_as_answered() {
    // "r": the step runs again and the build succeeds.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("t.pkr.hcl"), FLAKY).expect("write");
    let out = build_with_stdin(dir.path(), &["-color=false", "-on-error=ask"], "r\n");
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        format!("{o}{e}")
            .contains("[c] Clean up and exit, [a] abort without cleanup, or [r] retry step"),
        "{o}\n{e}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("attempts"))
            .expect("attempts")
            .lines()
            .count(),
        2
    );

    // A wrong answer asks again; "a" fails the build without cleanup; "c" and EOF clean up.
    for (input, aborted) in [("x\na\n", true), ("c\n", false), ("", false)] {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("t.pkr.hcl"), FLAKY).expect("write");
        let out = build_with_stdin(dir.path(), &["-color=false", "-on-error=ask"], input);
        let (o, e) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{input:?}: {o}\n{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("attempts"))
                .expect("attempts")
                .lines()
                .count(),
            1,
            "{input:?}"
        );
        assert_eq!(
            format!("{o}{e}").contains("aborting without cleanup"),
            aborted,
            "{input:?}: {o}\n{e}"
        );
        if input.starts_with('x') {
            assert!(format!("{o}{e}").contains("Incorrect input"), "{o}{e}");
        }
    }
}

#[test]
fn debug_pauses_after_each_step_and_before_each_cleanup() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.hcl"),
        FLAKY.replace("test -e ok || { touch ok; exit 5; }", "true"),
    )
    .expect("write");
    let out = build_with_stdin(dir.path(), &["-color=false", "-debug"], "\n\n\n");
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert!(
        o.contains("Debug mode enabled. Builds will not be parallelized."),
        "{o}"
    );
    assert!(
        o.contains(
            "==> null.a: Pausing after run of step 'StepProvision'. Press enter to continue."
        ),
        "{o}"
    );
    assert!(
        o.contains(
            "==> null.a: Pausing before cleanup of step 'StepProvision'. Press enter to continue."
        ),
        "{o}"
    );
}

#[cfg(unix)]
#[test]
fn sigint_and_sigterm_stop_the_build_and_run_cleanup() {
    let temp_script = regex::Regex::new(r"/tmp/packer-shell[A-Za-z0-9]+").expect("re");
    for sig in [libc::SIGINT, libc::SIGTERM] {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(
            dir.path().join("t.pkr.hcl"),
            "source \"null\" \"a\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.a\"]\n  provisioner \"shell-local\" {\n    inline = [\"echo started\", \"sleep 30\", \"echo all-done-marker\"]\n  }\n}\n",
        )
        .expect("write");
        let child = kiln()
            .args(["build", "-color=false", "."])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        // Wait for the provisioner to be running.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        let sent = std::time::Instant::now();
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let out = child.wait_with_output().expect("wait");
        let took = sent.elapsed();
        let o = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "signal {sig}: {o}");
        assert!(
            took < std::time::Duration::from_secs(5),
            "took {took:?} to stop"
        );
        assert!(
            o.contains("started") && !o.contains("all-done-marker"),
            "{o}"
        );
        assert!(o.contains("cancelled") && o.contains("Interrupted"), "{o}");
        // The temp script was removed by cleanup.
        let script = temp_script.find(&o).map(|m| m.as_str().to_string());
        if let Some(s) = script {
            assert!(
                !std::path::Path::new(&s).exists(),
                "temp script {s} left behind"
            );
        }
    }
}

#[test]
fn a_pkr_json_template_builds_like_its_hcl_twin() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join("t.pkr.json"),
        r#"{
  "variable": { "who": { "type": "string", "default": "json" } },
  "source": { "null": { "a": { "communicator": "none" } } },
  "build": {
    "sources": ["source.null.a"],
    "provisioner": [
      { "shell-local": { "inline": ["echo hello ${var.who}"] } },
      { "shell-local": { "inline": ["echo second"] } }
    ]
  }
}"#,
    )
    .expect("write");
    let out = kiln()
        .args(["build", "-color=false", "-var", "who=there", "."])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let (o, e) = text(&out);
    assert!(out.status.success(), "{o}\n{e}");
    let (a, b) = (o.find("null.a: hello there"), o.find("null.a: second"));
    assert!(
        a.is_some() && b.is_some() && a < b,
        "provisioners missing or out of order:\n{o}"
    );
}

/// A one-page HTTP server on 127.0.0.1: `/version` answers `1.2.3\n` with
/// the request's `X-Token` echoed in `X-Echo`, anything else 404. Answers
/// `n` requests, then stops.
fn http_server(n: usize) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in l.incoming().take(n).flatten() {
            let mut r = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let _ = r.read_line(&mut first);
            let mut token = String::new();
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("x-token:") {
                    token = v.trim().to_string();
                }
            }
            let mut w = stream;
            let _ = if first.starts_with("GET /version ") {
                write!(w, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Echo: {token}\r\nContent-Length: 6\r\nConnection: close\r\n\r\n1.2.3\n")
            } else {
                write!(
                    w,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
            };
        }
    });
    port
}

/// Packer's `http` data source: a GET with `request_headers`; `body` and
/// `response_headers` feed the template; anything but 200 fails the build.
#[test]
fn http_data_source_feeds_the_template() {
    let port = http_server(3);
    let dir = tempfile::tempdir().expect("tmp");
    let tpl = |path: &str| {
        format!(
            "data \"http\" \"v\" {{\n  url = \"http://127.0.0.1:{port}{path}\"\n  request_headers = {{\n    X-Token = \"abc\"\n  }}\n}}\n\
             locals {{\n  version = trimspace(data.http.v.body)\n  echo    = data.http.v.response_headers[\"X-Echo\"]\n}}\n\
             source \"null\" \"n\" {{\n  communicator = \"none\"\n}}\n\
             build {{\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {{\n    inline = [\"echo version=${{local.version}} echo=${{local.echo}}\"]\n  }}\n}}\n"
        )
    };
    std::fs::write(dir.path().join("t.pkr.hcl"), tpl("/version")).expect("write");
    // validate does not ask the server (the values are unknown, and fine)
    let out = kiln()
        .args(["validate", "t.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    let out = kiln()
        .args(["build", "-color=false", "t.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("version=1.2.3 echo=abc"), "{o}");
    // a 404: the build fails, naming the status
    std::fs::write(dir.path().join("t.pkr.hcl"), tpl("/missing")).expect("write");
    let out = kiln()
        .args(["build", "-color=false", "t.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}{e}");
    assert!(format!("{o}{e}").contains("Response code: 404"), "{o}{e}");
    // no url: refused by validate
    std::fs::write(dir.path().join("t.pkr.hcl"), "data \"http\" \"v\" {\n}\n").expect("write");
    let out = kiln()
        .args(["validate", "t.pkr.hcl"])
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).1.contains("url"), "{:?}", text(&out));
}

/// The sleep provisioner waits its `duration` (a Go duration), and Ctrl-C
/// cuts the wait short like any step.
#[test]
fn sleep_provisioner_waits_and_is_interrupted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpl = |d: &str| {
        format!("source \"null\" \"n\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.n\"]\n  provisioner \"sleep\" {{\n    duration = \"{d}\"\n  }}\n  provisioner \"shell-local\" {{\n    inline = [\"echo after-sleep\"]\n  }}\n}}\n")
    };
    std::fs::write(dir.path().join("s.pkr.hcl"), tpl("1.5s")).expect("write");
    let start = std::time::Instant::now();
    let out = kiln()
        .current_dir(dir.path())
        .args(["build", "-color=false", "s.pkr.hcl"])
        .output()
        .expect("kiln");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t:?}");
    assert!(t.0.contains("after-sleep"), "{t:?}");
    assert!(start.elapsed() >= std::time::Duration::from_millis(1500));
    // Interrupted an hour into an hour's sleep: ends now, the build failed.
    std::fs::write(dir.path().join("s.pkr.hcl"), tpl("1h")).expect("write");
    let child = kiln()
        .current_dir(dir.path())
        .args(["build", "-color=false", "s.pkr.hcl"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(700));
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t:?}");
    assert!(!t.0.contains("after-sleep"), "{t:?}");
    // A value that is not a duration is refused before the build.
    std::fs::write(dir.path().join("s.pkr.hcl"), tpl("soon")).expect("write");
    let out = kiln()
        .current_dir(dir.path())
        .args(["validate", "s.pkr.hcl"])
        .output()
        .expect("kiln");
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
}
