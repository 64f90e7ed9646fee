//! Careless and hostile input (kiln often runs as root in CI images): a
//! write never damages what it replaces, a read never hangs or skips
//! silently, values from outside the template are data, and `hcl2_upgrade`
//! never drops parts of a template. Every test runs a real `kiln` process
//! under a deadline, so a hang fails instead of blocking the suite.

mod common;

use common::{kiln, text};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Run `cmd`, killed after `secs`: (output, whether it finished in time).
fn run_within(cmd: &mut Command, secs: u64) -> (Output, bool) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kiln");
    let start = Instant::now();
    let mut in_time = true;
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(secs) {
            let _ = child.kill();
            in_time = false;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().expect("output"), in_time)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().expect("utf8")).expect("path");
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
}

/// A character device node like /dev/null (1, 3) or /dev/full (1, 7).
fn mknod_char(p: &Path, minor: u32) {
    let c = std::ffi::CString::new(p.to_str().expect("utf8")).expect("path");
    // SAFETY: a NUL-terminated path; makedev has no preconditions.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, minor)) };
    assert_eq!(r, 0, "mknod");
}

const JSON: &str = r#"{"builders": [{"type": "null", "communicator": "none"}]}"#;

#[test]
fn upgrade_writes_into_a_device_and_never_replaces_it() {
    if !is_root() {
        eprintln!("SKIP: mknod needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.json");
    std::fs::write(&input, JSON).expect("write");
    let null = dir.path().join("null.pkr.hcl");
    let full = dir.path().join("full.pkr.hcl");
    mknod_char(&null, 3);
    mknod_char(&full, 7);
    let (o, in_time) = run_within(
        kiln()
            .arg("hcl2_upgrade")
            .arg("-output-file")
            .arg(&null)
            .arg(&input),
        30,
    );
    assert!(in_time, "hung");
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let (o, _) = run_within(
        kiln()
            .arg("hcl2_upgrade")
            .arg("-output-file")
            .arg(&full)
            .arg(&input),
        30,
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    for p in [&null, &full] {
        let m = std::fs::symlink_metadata(p).expect("still there");
        assert!(
            m.file_type().is_char_device(),
            "{} was replaced",
            p.display()
        );
    }
}

#[test]
fn post_processor_outputs_into_a_device_or_fifo_leave_them_in_place() {
    if !is_root() {
        eprintln!("SKIP: mknod needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let dev = dir.path().join("dev-null");
    mknod_char(&dev, 3);
    let fifo = dir.path().join("manifest.fifo");
    mkfifo(&fifo);
    // Something reads the FIFO, as a pipeline would.
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(&fifo).unwrap_or_default())
    };
    let tpl = format!(
        r#"source "file" "f" {{
  content = "hello"
  target  = "{}/artifact.txt"
}}
build {{
  sources = ["source.file.f"]
  post-processor "manifest" {{
    output = "{}"
  }}
  post-processor "compress" {{
    output = "{}"
    format = "tar.gz"
  }}
  post-processor "checksum" {{
    checksum_types = ["sha256"]
    output         = "{}"
  }}
}}
"#,
        dir.path().display(),
        fifo.display(),
        dev.display(),
        dev.display()
    );
    let f = dir.path().join("t.pkr.hcl");
    std::fs::write(&f, tpl).expect("write");
    let (o, in_time) = run_within(kiln().current_dir(dir.path()).arg("build").arg(&f), 60);
    assert!(in_time, "hung: {:?}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let manifest = reader.join().expect("reader");
    assert!(manifest.contains("\"builds\""), "{manifest}");
    assert!(std::fs::symlink_metadata(&dev)
        .expect("dev")
        .file_type()
        .is_char_device());
    assert!(std::fs::symlink_metadata(&fifo)
        .expect("fifo")
        .file_type()
        .is_fifo());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".kiln-"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn fmt_keeps_owner_mode_and_hard_links() {
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("t.pkr.hcl");
    let link = dir.path().join("link.pkr.hcl");
    std::fs::write(&f, "a   =  1\n").expect("write");
    std::fs::hard_link(&f, &link).expect("link");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    if is_root() {
        // A file that belongs to someone else, as in a mounted checkout.
        std::os::unix::fs::chown(&f, Some(65534), Some(65534)).expect("chown");
    }
    let before = std::fs::metadata(&f).expect("meta");
    let (o, _) = run_within(kiln().arg("fmt").arg(&f), 30);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let after = std::fs::metadata(&f).expect("meta");
    assert_eq!(std::fs::read_to_string(&link).expect("link"), "a = 1\n");
    assert_eq!(after.ino(), before.ino(), "the file was replaced");
    assert_eq!((after.uid(), after.gid()), (before.uid(), before.gid()));
    assert_eq!(after.mode(), before.mode());
}

#[test]
fn a_file_of_another_owner_with_one_link_keeps_its_owner() {
    if !is_root() {
        eprintln!("SKIP: chown needs root");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("t.pkr.hcl");
    std::fs::write(&f, "a   =  1\n").expect("write");
    std::os::unix::fs::chown(&f, Some(65534), Some(65534)).expect("chown");
    let (o, _) = run_within(kiln().arg("fmt").arg(&f), 30);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let m = std::fs::metadata(&f).expect("meta");
    assert_eq!((m.uid(), m.gid()), (65534, 65534));
    assert_eq!(std::fs::read_to_string(&f).expect("read"), "a = 1\n");
}

#[test]
fn upgrade_onto_its_own_input_fails_and_keeps_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = dir.path().join("in.json");
    std::fs::write(&input, JSON).expect("write");
    // The same file by another name, too.
    let alias = dir.path().join(".").join("in.json");
    for out in [&input, &alias] {
        let (o, _) = run_within(
            kiln()
                .arg("hcl2_upgrade")
                .arg("-output-file")
                .arg(out)
                .arg(&input),
            30,
        );
        assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
        assert_eq!(std::fs::read_to_string(&input).expect("input"), JSON);
    }
}

#[test]
fn fifos_and_dangling_links_are_errors_not_hangs_or_skips() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(
        d.join("ok.pkr.hcl"),
        "source \"null\" \"n\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.n\"]\n}\n",
    )
    .expect("write");
    let fifo = d.join("vars.pkrvars.hcl");
    mkfifo(&fifo);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["validate".into(), fifo.display().to_string()], "FIFO"),
        (
            vec![
                "validate".into(),
                format!("-var-file={}", fifo.display()),
                d.join("ok.pkr.hcl").display().to_string(),
            ],
            "FIFO",
        ),
        (vec!["fmt".into(), fifo.display().to_string()], "FIFO"),
        (
            vec!["hcl2_upgrade".into(), fifo.display().to_string()],
            "FIFO",
        ),
        (vec!["console".into(), fifo.display().to_string()], "FIFO"),
    ];
    for (args, says) in cases {
        let (o, in_time) = run_within(kiln().current_dir(d).args(&args), 20);
        let (out, err) = text(&o);
        assert!(in_time, "{args:?} hung");
        assert_ne!(o.status.code(), Some(0), "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A FIFO and a dangling link among a directory's templates.
    let tdir = d.join("tree");
    std::fs::create_dir(&tdir).expect("mkdir");
    std::fs::copy(d.join("ok.pkr.hcl"), tdir.join("ok.pkr.hcl")).expect("copy");
    std::os::unix::fs::symlink("/nonexistent/x.pkr.hcl", tdir.join("gone.pkr.hcl"))
        .expect("symlink");
    let (o, in_time) = run_within(kiln().arg("validate").arg(&tdir), 20);
    let (_, err) = text(&o);
    assert!(in_time);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("Failed to read file"), "{err}");
    std::fs::remove_file(tdir.join("gone.pkr.hcl")).expect("rm");
    mkfifo(&tdir.join("pipe.pkr.hcl"));
    let (o, in_time) = run_within(kiln().arg("validate").arg(&tdir), 20);
    assert!(in_time, "a FIFO in the directory hung validate");
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

#[test]
fn fmt_recursive_does_not_follow_directory_links() {
    let dir = tempfile::tempdir().expect("tmp");
    let outside = tempfile::tempdir().expect("tmp");
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).expect("mkdir");
    std::fs::write(tree.join("sub/in.pkr.hcl"), "a   =  1\n").expect("write");
    std::fs::write(outside.path().join("out.pkr.hcl"), "b   =  2\n").expect("write");
    std::os::unix::fs::symlink(outside.path(), tree.join("elsewhere")).expect("symlink");
    std::os::unix::fs::symlink(&tree, tree.join("sub/loop")).expect("symlink");
    let (o, in_time) = run_within(kiln().arg("fmt").arg("-recursive").arg(&tree), 30);
    assert!(in_time, "a link loop hung fmt");
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(
        std::fs::read_to_string(tree.join("sub/in.pkr.hcl")).expect("in"),
        "a = 1\n"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("out.pkr.hcl")).expect("out"),
        "b   =  2\n",
        "a file outside the tree was rewritten"
    );
}

#[test]
fn values_from_outside_the_template_are_data_not_calls() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    std::fs::write(
        d.join("t.pkr.hcl"),
        "variable \"l\" {\n  type    = list(string)\n  default = []\n}\nsource \"null\" \"n\" {\n  communicator = \"none\"\n}\nbuild {\n  sources = [\"source.null.n\"]\n}\n",
    )
    .expect("write");
    std::fs::write(d.join("v.pkrvars.hcl"), "l = [file(\"/etc/hostname\")]\n").expect("write");
    // (arguments, an environment variable to set)
    type Run<'a> = (Vec<&'a str>, Option<(&'a str, &'a str)>);
    let runs: Vec<Run> = vec![
        (
            vec!["validate", "-var", "l=[upper(\"a\")]", "t.pkr.hcl"],
            None,
        ),
        (
            vec!["validate", "-var-file=v.pkrvars.hcl", "t.pkr.hcl"],
            None,
        ),
        (
            vec!["validate", "t.pkr.hcl"],
            Some(("PKR_VAR_l", "[abs(-1)]")),
        ),
    ];
    for (args, env) in runs {
        let mut c = kiln();
        c.current_dir(d).args(&args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let (o, _) = run_within(&mut c, 20);
        let (_, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?} {env:?}: {err}");
        assert!(
            err.contains("Function calls not allowed"),
            "{args:?}: {err}"
        );
    }
    // Plain data still works.
    let (o, _) = run_within(
        kiln()
            .current_dir(d)
            .args(["validate", "-var", "l=[\"a\"]", "t.pkr.hcl"]),
        20,
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn upgrade_refuses_what_it_would_drop() {
    let cases = [
        r#"{"builders": [{"type": "null", "communicator": "none"}], "provisioners": {"type": "shell", "inline": ["x"]}}"#,
        r#"{"builders": {"type": "null", "communicator": "none"}}"#,
        r#"{"variables": ["a"], "builders": [{"type": "null", "communicator": "none"}]}"#,
        r#"{"builders": [{"type": "null", "communicator": "none"}], "post-processors": {"type": "manifest"}}"#,
        r#"{"builders": [{"type": "null", "communicator": "none"}], "builders": [{"type": "file"}]}"#,
        r#"{"builders": [{"type": "null", "communicator": "none", "communicator": "ssh"}]}"#,
    ];
    for case in cases {
        let dir = tempfile::tempdir().expect("tmp");
        let input = dir.path().join("in.json");
        let out = dir.path().join("out.pkr.hcl");
        std::fs::write(&input, case).expect("write");
        let (o, _) = run_within(
            kiln()
                .arg("hcl2_upgrade")
                .arg("-output-file")
                .arg(&out)
                .arg(&input),
            20,
        );
        assert_eq!(o.status.code(), Some(1), "{case}: {:?}", text(&o));
        assert!(!out.exists(), "{case}: wrote a partial upgrade");
        let (o, _) = run_within(kiln().arg("validate").arg(&input), 20);
        assert_eq!(o.status.code(), Some(1), "validate {case}: {:?}", text(&o));
    }
}

#[test]
fn console_reports_a_bad_line_and_goes_on_and_stops_at_an_endless_one() {
    use std::io::Write;
    let mut child = kiln()
        .arg("console")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"1+1\n\xff\xfe\"a\"\n2+2\n")
        .expect("write");
    let o = child.wait_with_output().expect("wait");
    let (out, err) = text(&o);
    assert_eq!(out, "2\n4\n", "{err}");
    assert!(err.contains("not valid UTF-8"), "{err}");
    // /dev/zero: no end of line, ever; bounded memory and time.
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let (o, in_time) = run_within(kiln().arg("console").stdin(zero), 20);
    assert!(in_time, "console read /dev/zero forever");
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
}

/// A sensitive value reaches no diagnostic, warning or log line, whichever
/// check trips over it: function errors, plugin options, durations, the
/// communicator, data source URLs, validation messages, the console.
#[test]
fn a_sensitive_value_appears_in_no_error_or_log_line() {
    const SECRET: &str = "hunter2-s3cr3t-value";
    let var = format!(
        "variable \"s\" {{\n  type      = string\n  default   = \"{SECRET}\"\n  sensitive = true\n}}\n"
    );
    let null = "source \"null\" \"n\" {\n  communicator = \"none\"\n}\n";
    let build = "build {\n  sources = [\"source.null.n\"]\n}\n";
    let cases: Vec<String> = vec![
        format!("{var}locals {{\n  x = file(var.s)\n}}\n{null}{build}"),
        format!("{var}locals {{\n  x = cidrhost(var.s, 1)\n}}\n{null}{build}"),
        format!("{var}locals {{\n  x = timeadd(var.s, \"1h\")\n}}\n{null}{build}"),
        format!("{var}locals {{\n  x = base64decode(var.s)\n}}\n{null}{build}"),
        format!("{var}locals {{\n  x = tonumber(var.s)\n}}\n{null}{build}"),
        format!("{var}{null}build {{\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {{\n    script = var.s\n  }}\n}}\n"),
        format!("{var}{null}build {{\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {{\n    inline           = [\"true\"]\n    environment_vars = [var.s]\n  }}\n}}\n"),
        format!("{var}source \"null\" \"n\" {{\n  communicator = \"ssh\"\n  ssh_host     = \"127.0.0.1\"\n  ssh_username = \"u\"\n  ssh_password = \"p\"\n  ssh_timeout  = var.s\n}}\n{build}"),
        format!("{var}source \"null\" \"n\" {{\n  communicator = var.s\n}}\n{build}"),
        format!("{var}data \"http\" \"h\" {{\n  url = \"ftp://${{var.s}}\"\n}}\n{null}{build}"),
        format!("variable \"s\" {{\n  type      = string\n  default   = \"{SECRET}\"\n  sensitive = true\n  validation {{\n    condition     = length(var.s) < 3\n    error_message = \"The value ${{var.s}} is too long.\"\n  }}\n}}\n{null}{build}"),
        format!("{var}{null}build {{\n  sources = [\"source.null.n\"]\n  provisioner \"shell-local\" {{\n    inline = [\"echo ${{var.s}}\", \"exit 3\"]\n  }}\n}}\n"),
    ];
    for (i, tpl) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("t.pkr.hcl");
        std::fs::write(&f, tpl).expect("write");
        let log = dir.path().join("log.txt");
        for args in [&["validate"][..], &["build", "-color=false"][..]] {
            let (o, in_time) = run_within(
                kiln()
                    .current_dir(dir.path())
                    .env("PACKER_LOG", "1")
                    .env("PACKER_LOG_PATH", &log)
                    .args(args)
                    .arg(&f),
                60,
            );
            assert!(in_time, "case {i} hung");
            let (out, err) = text(&o);
            let logged = std::fs::read_to_string(&log).unwrap_or_default();
            for (what, s) in [("stdout", &out), ("stderr", &err), ("log", &logged)] {
                assert!(
                    !s.contains(SECRET),
                    "case {i}, {args:?}: the secret is in {what}:\n{s}\n--- template:\n{tpl}"
                );
            }
        }
    }
    // The console, evaluating a failing call on the value.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("c.pkr.hcl"), &var).expect("write");
    let mut child = kiln()
        .current_dir(dir.path())
        .args(["console", "c.pkr.hcl"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(b"file(var.s)\ncidrnetmask(var.s)\nvar.s\n")
            .expect("write");
    }
    let o = child.wait_with_output().expect("wait");
    let (out, err) = text(&o);
    assert!(!out.contains(SECRET) && !err.contains(SECRET), "{out}{err}");
}

/// A writable file in a directory its user may not write in is still
/// formatted (in place: no temporary file can be made beside it). Run as
/// `nobody` through setpriv, which needs root.
#[test]
fn fmt_rewrites_a_writable_file_in_a_read_only_directory() {
    use std::os::unix::fs::PermissionsExt;
    let setpriv = Path::new("/usr/bin/setpriv");
    if !is_root() || !setpriv.exists() {
        eprintln!("SKIP: needs root and setpriv to run kiln as another user");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).expect("mkdir");
    let f = ro.join("t.pkr.hcl");
    std::fs::write(&f, "a   =  1\n").expect("write");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let (o, in_time) = run_within(
        Command::new(setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_kiln"))
            .arg("fmt")
            .arg(&f),
        30,
    );
    assert!(in_time);
    let (out, err) = text(&o);
    if err.contains("Permission denied") && err.contains("kiln") && o.status.code() == Some(126) {
        eprintln!("SKIP: nobody cannot run the kiln binary here");
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert_eq!(std::fs::read_to_string(&f).expect("read"), "a = 1\n");
}

/// Inputs that ask for unbounded work in a few bytes: nested YAML aliases
/// ("billion laughs") and a bcrypt cost of 31 (months of hashing) are
/// diagnostics naming kiln's limit, given at once.
#[test]
fn expansion_and_work_bombs_are_refused_at_once() {
    let laughs: String = ["a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]".to_string()]
        .into_iter()
        .chain((b'b'..=b'i').map(|c| {
            let prev = (c - 1) as char;
            let c = c as char;
            format!("{c}: &{c} [{}]", vec![format!("*{prev}"); 9].join(","))
        }))
        .collect::<Vec<_>>()
        .join("\\n");
    let input =
        format!("yamldecode(\"{laughs}\")\nbcrypt(\"pw\", 31)\nlength(bcrypt(\"pw\", 4))\n");
    let mut cmd = kiln();
    cmd.arg("console").stdin(Stdio::piped());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write");
    }
    let start = Instant::now();
    let o = child.wait_with_output().expect("wait");
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "took {:?}",
        start.elapsed()
    );
    let (out, err) = text(&o);
    assert_eq!(out, "60\n", "{err}");
    assert!(
        err.contains("the document expands to more than 1048576 values"),
        "{err}"
    );
    assert!(err.contains("cost 31 is past kiln's limit of 16"), "{err}");
}

/// Legacy user variables that each double the one before (`{{user `v1`}}`
/// twice, thirty times over) stop at kiln's limit for one string instead
/// of filling memory.
#[test]
fn a_legacy_variable_chain_that_doubles_stops_at_the_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut vars = vec![("v0".to_string(), "x".repeat(1000))];
    for i in 1..30 {
        let p = i - 1;
        vars.push((
            format!("v{i}"),
            format!("{{{{user `v{p}`}}}}{{{{user `v{p}`}}}}"),
        ));
    }
    let vars: String = vars
        .iter()
        .map(|(k, v)| format!("{k:?}: {v:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let t = dir.path().join("t.json");
    std::fs::write(
        &t,
        format!("{{\"variables\": {{{vars}}}, \"builders\": [{{\"type\": \"null\", \"communicator\": \"none\"}}]}}"),
    )
    .expect("write");
    let (o, in_time) = run_within(kiln().arg("validate").arg(&t), 60);
    assert!(in_time, "validate ran on");
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("kiln's limit for one value"), "{err}");
}
