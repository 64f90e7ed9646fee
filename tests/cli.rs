//! Packer's global commands and flags that scripts rely on.

mod common;

#[test]
fn version_command_and_flags() {
    let out = common::kiln().arg("version").output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first, format!("kiln v{}", env!("CARGO_PKG_VERSION")), "{text}");
    assert!(text.contains("Compatible with Packer v1.9.5"), "{text}");
    // `packer -v`, `-version` and `--version` print the bare number
    for flag in ["-v", "-version", "--version"] {
        let out = common::kiln().arg(flag).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{}\n", env!("CARGO_PKG_VERSION")), "{flag}");
    }
    // an unknown command is a usage error, exit 1 as in Packer
    let out = common::kiln().arg("frobnicate").output().expect("run");
    assert_eq!(out.status.code(), Some(1));
}

/// A flag kiln does not know is a usage error (exit 1, as in Packer), and
/// the message and the help name flags as Packer users type them.
#[test]
fn flag_errors_and_help_speak_single_dash() {
    let out = common::kiln().args(["validate", "-color=false", "t.json"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'-color'") && !err.contains("--color"), "{err}");
    assert!(err.contains("'-no-color'"), "the near miss, single-dash: {err}");

    let out = common::kiln().args(["build", "-bogus", "t.json"]).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("'-bogus'") && err.contains("'-- -bogus'"), "a bare -- stays: {err}");

    let out = common::kiln().args(["build", "-help"]).output().expect("run");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("-var-file") && help.contains("-on-error") && !help.contains("--var"), "{help}");
}
