//! Where kiln's log goes. Warnings always reach stderr (`ui::warn`: a journal
//! left behind, a line of one ignored); `PACKER_LOG=1`, as in Packer, turns on
//! the debug log, to `PACKER_LOG_PATH` when set, else stderr. `KILN_LOG`
//! takes a filter of its own (`tracing-subscriber`'s syntax, e.g.
//! `kiln=trace,aws_smithy_runtime=debug`).
//!
//! The AWS SDK and russh stay at `info` unless `KILN_LOG` asks for more:
//! their debug output is about the wire, not the build.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub fn init() {
    let packer_log = std::env::var("PACKER_LOG").is_ok_and(|v| !v.is_empty() && v != "0");
    // `Targets` (no regex engine) for the fixed filters: set up at every
    // start, it must cost next to nothing; `KILN_LOG` gets the full syntax.
    let filter: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> =
        match std::env::var("KILN_LOG").ok().filter(|f| !f.is_empty()) {
            Some(f) => match EnvFilter::try_new(&f) {
                Ok(f) => Box::new(f),
                Err(e) => {
                    eprintln!("kiln: KILN_LOG ignored: {e}");
                    Box::new(Targets::new().with_target("kiln", LevelFilter::WARN))
                }
            },
            None if packer_log => Box::new(
                Targets::new()
                    .with_default(LevelFilter::INFO)
                    .with_target("kiln", LevelFilter::DEBUG)
                    .with_target("qemu", LevelFilter::DEBUG),
            ),
            // No log asked for: no subscriber at all (setting one up cost 0.7 MB
            // of peak RSS on every build, bench/ec2.py); the warnings users must
            // see go to stderr themselves (`ui::warn`).
            None => return,
        };
    let path = std::env::var_os("PACKER_LOG_PATH").filter(|p| !p.is_empty() && packer_log);
    let file = path.as_ref().and_then(|p| {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
        {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!(
                    "kiln: PACKER_LOG_PATH {}: {e}; logging to stderr",
                    p.to_string_lossy()
                );
                None
            }
        }
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_target(packer_log);
    let out: Box<dyn Layer<_> + Send + Sync> = match file {
        Some(f) => {
            let f = std::sync::Arc::new(std::sync::Mutex::new(f));
            Box::new(fmt.with_writer(move || Masked(FileRef(f.clone()))))
        }
        None => Box::new(fmt.with_writer(|| Masked(std::io::stderr()))),
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(out)
        .try_init();
}

/// A log writer that masks sensitive values ([`crate::ui::mask`]): the
/// formatter hands it one whole event per write.
struct Masked<W: std::io::Write>(W);

impl<W: std::io::Write> std::io::Write for Masked<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(crate::ui::mask(&text).as_bytes())?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// The log file, shared by every event's writer.
struct FileRef(std::sync::Arc<std::sync::Mutex<std::fs::File>>);

impl std::io::Write for FileRef {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut f) => f.write(buf),
            Err(p) => p.into_inner().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.lock() {
            Ok(mut f) => f.flush(),
            Err(p) => p.into_inner().flush(),
        }
    }
}
