//! Link-time choices that depend on the machine kiln is built for.
//!
//! A position-independent binary carries one dynamic relocation per pointer
//! in its static data (vtables, tables of `&str`): kiln has ~36,000, an
//! 860 KB `.rela.dyn` that the loader reads, and keeps resident, at every
//! start. Packed relative relocations (`-z pack-relative-relocs`, DT_RELR)
//! say the same in a few kilobytes: a build's peak RSS drops by ~0.8 MB and
//! the binary stays position-independent. The loader must know DT_RELR
//! (glibc 2.36 or later), so this is only done when building for the
//! machine that builds, and its glibc is new enough; a cross build or an
//! older glibc links as before.
//!
//! A release build also lays out its code for the jobs kiln runs most:
//! `link/symbol-order.txt` (written by `bench/layout.py` from callgrind
//! profiles) lists the functions a build runs, and lld places them first in
//! `.text`, together. The kernel maps the 64 KB around each code page a run
//! touches, so ~5,500 functions scattered through 9 MB of code kept most of
//! it resident; packed, they fill ~3 MB. A name the binary no longer has (a
//! dependency or toolchain update changes the hashes in them) is skipped
//! without a warning; only rust-lld, rustc's default linker for
//! x86_64-unknown-linux-gnu since 1.90, is given the file.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    if target == host && target.ends_with("-linux-gnu") && host_glibc().is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link").join("symbol-order.txt");
    println!("cargo:rerun-if-changed={}", order.display());
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    if release && target == "x86_64-unknown-linux-gnu" && links_with_rust_lld() && order.is_file() {
        if let Some(path) = order.to_str().filter(|p| !p.contains(',')) {
            println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={path},--no-warn-symbol-ordering");
        }
    }
}

/// Whether the final link is rustc's own default: rust-lld (rustc 1.90 and
/// later on x86_64 Linux), with no linker chosen in cargo's configuration
/// or RUSTFLAGS. lld's options mean nothing to GNU ld.
fn links_with_rust_lld() -> bool {
    if std::env::var_os("RUSTC_LINKER").is_some() {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "link-self-contained", "fuse-ld"].iter().any(|f| flags.contains(f)) {
        return false;
    }
    rustc_version().is_some_and(|v| v >= (1, 90))
}

/// The compiler's version, from `rustc -V` ("rustc 1.95.0 (59807616e ...)").
fn rustc_version() -> Option<(u32, u32)> {
    let rustc = std::env::var_os("RUSTC")?;
    let out = Command::new(rustc).arg("-V").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    major_minor(text.split_whitespace().nth(1)?)
}

/// The build machine's glibc version, from `getconf GNU_LIBC_VERSION`
/// ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf").arg("GNU_LIBC_VERSION").output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    major_minor(text.trim().strip_prefix("glibc ")?)
}

/// The first two numbers of a version: "1.95.0" and "2.36" give (1, 95)
/// and (2, 36); letters ending the minor number ("2.36b") are ignored.
fn major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.trim_end_matches(|c: char| !c.is_ascii_digit()).parse().ok()?;
    Some((major, minor))
}
