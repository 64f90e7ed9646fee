//! checksum and compress post-processors on real files (the `file` builder's
//! artifact), checked with independent readers: the system's tar, gzip and
//! xz, Python's zipfile, and the lz4 frame decoder.

mod common;

use common::kiln;
use sha2::Digest;
use std::io::Read;
use std::path::Path;
use std::process::Command;

/// Build `post` after a file builder that writes a ~1 MB file `disk.img`.
fn build(dir: &Path, post: &str) -> (i32, String) {
    let payload: String = (0..40_000).map(|i| format!("line {i:08}\n")).collect();
    std::fs::write(dir.join("payload.txt"), &payload).expect("payload");
    let tpl = format!(
        r#"source "file" "img" {{
  source = "payload.txt"
  target = "disk.img"
}}
build {{
  sources = ["source.file.img"]
{post}
}}
"#
    );
    std::fs::write(dir.join("t.pkr.hcl"), tpl).expect("template");
    let out = kiln()
        .current_dir(dir)
        .args(["build", "-color=false", "t.pkr.hcl"])
        .output()
        .expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn has(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

fn sh(dir: &Path, script: &str) -> Vec<u8> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn checksum_writes_every_hash_type_in_packers_format() {
    let d = tempfile::tempdir().expect("tempdir");
    let post = r#"  post-processor "checksum" {
    checksum_types = ["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]
    output         = "sums/{{.BuildName}}.{{.ChecksumType}}"
  }"#;
    let (code, t) = build(d.path(), post);
    assert_eq!(code, 0, "{t}");
    let data = std::fs::read(d.path().join("disk.img")).expect("artifact");
    let want = [
        ("md5", hex::encode(md5::Md5::digest(&data))),
        ("sha1", hex::encode(sha1::Sha1::digest(&data))),
        ("sha224", hex::encode(sha2::Sha224::digest(&data))),
        ("sha256", hex::encode(sha2::Sha256::digest(&data))),
        ("sha384", hex::encode(sha2::Sha384::digest(&data))),
        ("sha512", hex::encode(sha2::Sha512::digest(&data))),
    ];
    for (kind, sum) in want {
        let file = d.path().join(format!("sums/img.{kind}"));
        let got = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e}\n{t}", file.display()));
        assert_eq!(got, format!("{sum}\tdisk.img\n"), "{kind}");
    }
    // `sha256sum -c` accepts the sha256 file (a tab is whitespace to it).
    if has("sha256sum") {
        let line = std::fs::read_to_string(d.path().join("sums/img.sha256"))
            .expect("sha256")
            .replace('\t', "  ");
        std::fs::write(d.path().join("check.sha256"), line).expect("write");
        sh(d.path(), "sha256sum -c check.sha256");
    }
}

#[test]
fn unknown_checksum_type_is_refused_before_the_build() {
    let d = tempfile::tempdir().expect("tempdir");
    let (code, t) = build(
        d.path(),
        "  post-processor \"checksum\" {\n    checksum_types = [\"crc32\"]\n  }",
    );
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("Unrecognized checksum type: crc32"), "{t}");
    assert!(
        !d.path().join("disk.img").exists(),
        "the build ran although the template is invalid"
    );
}

fn compress(dir: &Path, output: &str, extra: &str) -> String {
    let post = format!("  post-processors {{\n    post-processor \"compress\" {{\n      output = \"{output}\"\n{extra}    }}\n    post-processor \"checksum\" {{\n      checksum_types = [\"sha256\"]\n      output = \"{output}.sha256\"\n    }}\n  }}");
    let (code, t) = build(dir, &post);
    assert_eq!(code, 0, "{output}: {t}");
    // The checksum post-processor got the compressed file along the chain.
    let data = std::fs::read(dir.join(output)).expect("archive");
    let name = Path::new(output)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    assert_eq!(
        std::fs::read_to_string(dir.join(format!("{output}.sha256"))).expect("sum"),
        format!("{}\t{name}\n", hex::encode(sha2::Sha256::digest(&data)))
    );
    t
}

#[test]
fn compress_formats_round_trip_through_independent_readers() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    let original = || std::fs::read(dir.join("payload.txt")).expect("payload");

    compress(dir, "out/a.tar.gz", "");
    assert_eq!(sh(dir, "tar -xzOf out/a.tar.gz disk.img"), original());
    compress(dir, "out/b.tgz", "      compression_level = 9\n");
    assert_eq!(sh(dir, "tar -xzOf out/b.tgz disk.img"), original());
    compress(dir, "out/c.tar", "");
    assert_eq!(sh(dir, "tar -xOf out/c.tar disk.img"), original());
    compress(dir, "out/d.gz", "      compression_level = 1\n");
    assert_eq!(sh(dir, "gzip -dc out/d.gz"), original());
    // BGZF is gzip to any gzip reader (members with the BC extra field).
    compress(dir, "out/e.bgzf", "");
    assert_eq!(sh(dir, "gzip -dc out/e.bgzf"), original());
    let raw = std::fs::read(dir.join("out/e.bgzf")).expect("bgzf");
    assert_eq!(&raw[12..14], b"BC", "no BGZF extra field");
    assert!(
        raw.ends_with(&[
            0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 0x42, 0x43, 2, 0, 0x1b, 0, 3, 0, 0, 0, 0,
            0, 0, 0, 0, 0
        ]),
        "no BGZF EOF block"
    );
    if has("xz") {
        compress(dir, "out/f.xz", "");
        assert_eq!(sh(dir, "xz -dc out/f.xz"), original());
    }
    compress(dir, "out/g.lz4", "");
    let mut dec = lz4_flex::frame::FrameDecoder::new(
        std::fs::File::open(dir.join("out/g.lz4")).expect("lz4"),
    );
    let mut got = Vec::new();
    dec.read_to_end(&mut got).expect("lz4 frame");
    assert_eq!(got, original());
    compress(dir, "out/h.zip", "");
    if has("python3") {
        assert_eq!(sh(dir, "python3 -c 'import sys,zipfile; sys.stdout.buffer.write(zipfile.ZipFile(\"out/h.zip\").read(\"disk.img\"))'"), original());
    }
    // No temporary files left beside the archives.
    let left: Vec<String> = std::fs::read_dir(dir.join("out"))
        .expect("out")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// `format` decides the archive's format instead of `output`'s extension,
/// and the file keeps the name `output` gives it (Packer's rule).
#[test]
fn compress_format_wins_over_the_output_extension() {
    let d = tempfile::tempdir().expect("tempdir");
    let dir = d.path();
    compress(dir, "out/image.bin", "      format = \"tar.gz\"\n");
    let original = std::fs::read(dir.join("payload.txt")).expect("payload");
    assert_eq!(sh(dir, "tar -xzOf out/image.bin disk.img"), original);
    compress(dir, "out/plain.tar", "      format = \"gz\"\n");
    assert_eq!(
        sh(dir, "gzip -dc out/plain.tar | tar -xOf - disk.img"),
        original
    );
    let (code, t) = build(
        dir,
        "  post-processor \"compress\" {\n    output = \"x.tar.gz\"\n    format = \"rar\"\n  }",
    );
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("unknown archive format"), "{t}");
}

#[test]
fn compress_refuses_an_unknown_format() {
    let d = tempfile::tempdir().expect("tempdir");
    let (code, t) = build(
        d.path(),
        "  post-processor \"compress\" {\n    output = \"x.rar\"\n  }",
    );
    assert_eq!(code, 1, "{t}");
    assert!(t.contains("unknown archive format"), "{t}");
}

#[test]
fn compress_keeps_or_drops_the_input_artifact() {
    let d = tempfile::tempdir().expect("tempdir");
    let (code, t) = build(
        d.path(),
        "  post-processor \"compress\" {\n    output = \"a.tar.gz\"\n  }",
    );
    assert_eq!(code, 0, "{t}");
    assert!(t.contains("compressed artifacts in: a.tar.gz"), "{t}");
    assert!(
        !t.contains("Stored file: disk.img"),
        "input artifact kept by default:\n{t}"
    );
    let (code, t) = build(d.path(), "  post-processor \"compress\" {\n    output = \"b.tar.gz\"\n    keep_input_artifact = true\n  }");
    assert_eq!(code, 0, "{t}");
    assert!(
        t.contains("Stored file: disk.img"),
        "input artifact not kept:\n{t}"
    );
}

/// artifice: the files a build left on this machine (paths and Go globs)
/// become the artifact; the post-processors after it and the manifest see
/// them, not the builder's.
#[test]
fn artifice_makes_the_named_files_the_artifact() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("out")).expect("mkdir");
    for f in ["out/app-1.tar", "out/app-2.tar", "out/notes.txt"] {
        std::fs::write(dir.path().join(f), f).expect("write");
    }
    let (rc, out) = build(
        dir.path(),
        r#"  post-processors {
    post-processor "artifice" {
      files = ["out/app-*.tar", "out/notes.txt", "out/missing.bin"]
    }
    post-processor "manifest" {
      output = "manifest.json"
    }
  }"#,
    );
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("Discarding files from artifact: disk.img"),
        "{out}"
    );
    assert!(
        out.contains("Using these artifact files: out/app-1.tar, out/app-2.tar, out/notes.txt"),
        "{out}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("manifest.json")).expect("manifest"),
    )
    .expect("json");
    let files: Vec<&str> = manifest["builds"][0]["files"]
        .as_array()
        .expect("files")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(
        files,
        ["out/app-1.tar", "out/app-2.tar", "out/notes.txt"],
        "{manifest}"
    );
    // Packer keeps the artifact it replaces.
    assert!(dir.path().join("disk.img").exists());
    // No files: refused before the build.
    let (rc, out) = build(
        dir.path(),
        "  post-processor \"artifice\" {\n    files = []\n  }",
    );
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("No files specified in artifice configuration"),
        "{out}"
    );
}

/// The entries of a box (a gzip'd or plain tar), read by an independent
/// reader (the tar crate), with their bytes.
fn box_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).expect("box");
    let plain: Vec<u8> = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .expect("gunzip");
        out
    } else {
        bytes
    };
    let mut a = tar::Archive::new(&plain[..]);
    a.entries()
        .expect("tar")
        .map(|e| {
            let mut e = e.expect("entry");
            let name = e.path().expect("name").display().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read");
            (name, data)
        })
        .collect()
}

/// vagrant: a libvirt box of a qcow2 image (here after artifice, with
/// `provider_override`): `metadata.json` names the provider, the format and
/// the size in whole GiB; `box.img` is the image; `include` files and a
/// custom Vagrantfile are in; `vagrant box add` takes it (Debian's vagrant,
/// when installed).
#[test]
fn vagrant_makes_a_libvirt_box_vagrant_accepts() {
    if !has("qemu-img") {
        eprintln!("SKIP: qemu-img is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    sh(dir.path(), "qemu-img create -q -f qcow2 image.qcow2 3G");
    std::fs::write(dir.path().join("info.txt"), "included").expect("write");
    std::fs::write(
        dir.path().join("custom.rb"),
        "# built for {{ .BuildName }} as a {{ .Provider }} box\n",
    )
    .expect("write");
    let (rc, out) = build(
        dir.path(),
        r#"  post-processors {
    post-processor "artifice" {
      files = ["image.qcow2"]
    }
    post-processor "vagrant" {
      provider_override    = "libvirt"
      compression_level    = 1
      include              = ["info.txt"]
      vagrantfile_template = "custom.rb"
      keep_input_artifact  = true
    }
  }"#,
    );
    assert_eq!(rc, 0, "{out}");
    let boxfile = dir.path().join("packer_img_libvirt.box");
    assert!(
        out.contains("Creating Vagrant box for 'libvirt' provider"),
        "{out}"
    );
    assert!(
        out.contains("'libvirt' provider box: packer_img_libvirt.box"),
        "{out}"
    );
    let entries = box_entries(&boxfile);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Vagrantfile", "box.img", "info.txt", "metadata.json"]
    );
    let get = |n: &str| &entries.iter().find(|(name, _)| name == n).expect(n).1;
    let meta: serde_json::Value = serde_json::from_slice(get("metadata.json")).expect("json");
    assert_eq!(
        meta,
        serde_json::json!({"provider": "libvirt", "format": "qcow2", "virtual_size": 3})
    );
    assert_eq!(
        get("box.img"),
        &std::fs::read(dir.path().join("image.qcow2")).expect("image")
    );
    assert_eq!(get("info.txt"), b"included");
    let vf = String::from_utf8_lossy(get("Vagrantfile")).into_owned();
    assert!(
        vf.contains("config.vm.provider :libvirt do |libvirt|"),
        "{vf}"
    );
    assert!(vf.contains("libvirt.driver = \"qemu\""), "{vf}");
    assert!(vf.contains("# built for img as a libvirt box"), "{vf}");
    // Without provider_override an artifice artifact names no provider.
    let (rc, out) = build(
        dir.path(),
        "  post-processors {\n    post-processor \"artifice\" {\n      files = [\"image.qcow2\"]\n    }\n    post-processor \"vagrant\" {}\n  }",
    );
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("you need to set the provider_override option"),
        "{out}"
    );
    // A provider kiln makes no box for is refused before the build.
    let (rc, out) = build(
        dir.path(),
        "  post-processor \"vagrant\" {\n    provider_override = \"virtualbox\"\n  }",
    );
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("provider_override \"virtualbox\""), "{out}");

    if !has("vagrant") {
        eprintln!("SKIP (vagrant box add): vagrant is not installed");
        return;
    }
    let home = dir.path().join("vagrant-home");
    let added = Command::new("vagrant")
        .args(["box", "add", "--name", "kiln/test"])
        .arg(&boxfile)
        .env("VAGRANT_HOME", &home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("vagrant");
    assert!(
        added.status.success(),
        "vagrant box add: {}{}",
        String::from_utf8_lossy(&added.stdout),
        String::from_utf8_lossy(&added.stderr)
    );
    let list = Command::new("vagrant")
        .args(["box", "list"])
        .env("VAGRANT_HOME", &home)
        .env("VAGRANT_CHECKPOINT_DISABLE", "1")
        .output()
        .expect("vagrant");
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(
        list.contains("kiln/test") && list.contains("libvirt"),
        "{list}"
    );
}
