//! Where kiln's log goes. Warnings always reach stderr (a journal left
//! behind, a line of one ignored); `PACKER_LOG=1`, as in Packer, turns on
//! the debug log, to `PACKER_LOG_PATH` when set, else stderr. `KILN_LOG`
//! takes a filter of its own (`tracing-subscriber`'s syntax, e.g.
//! `kiln=trace,aws_smithy_runtime=debug`).
//!
//! The AWS SDK and russh stay at `info` unless `KILN_LOG` asks for more:
//! their debug output is about the wire, not the build.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let packer_log = std::env::var("PACKER_LOG").is_ok_and(|v| !v.is_empty() && v != "0");
    let filter = match std::env::var("KILN_LOG").ok().filter(|f| !f.is_empty()) {
        Some(f) => EnvFilter::try_new(f).unwrap_or_else(|e| {
            eprintln!("kiln: KILN_LOG ignored: {e}");
            EnvFilter::new("kiln=warn")
        }),
        None if packer_log => EnvFilter::new("info,kiln=debug,qemu=debug"),
        // Only kiln's own warnings: libraries' are for their developers.
        None => EnvFilter::new("kiln=warn"),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(packer_log);
    let path = std::env::var_os("PACKER_LOG_PATH").filter(|p| !p.is_empty() && packer_log);
    let file = path.as_ref().and_then(|p| match std::fs::OpenOptions::new().create(true).append(true).open(p) {
        Ok(f) => Some(f),
        Err(e) => {
            eprintln!("kiln: PACKER_LOG_PATH {}: {e}; logging to stderr", p.to_string_lossy());
            None
        }
    });
    let _ = match file {
        Some(f) => builder.with_ansi(false).with_writer(std::sync::Mutex::new(f)).try_init(),
        None => builder.with_ansi(false).with_writer(std::io::stderr).try_init(),
    };
}
