//! Packer-style output: `==> build: message` lines coloured per build,
//! indented output lines, `-machine-readable` events, `-timestamp-ui`, and a
//! filter that replaces sensitive values with `<sensitive>` everywhere.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A warning the user must see whether or not a log is on: on stderr, and
/// in the log when there is one (`PACKER_LOG`).
pub fn warn(msg: &str) {
    let msg = mask(msg);
    eprintln!("kiln: warning: {msg}");
    tracing::warn!("{msg}");
}

/// Every sensitive value the run knows of, longest first: the template's
/// sensitive variables and locals as soon as they are known, and secrets
/// a build makes. Diagnostics, warnings, the log and the build output are
/// all masked with it, so a value cannot leak through a path that forgot
/// to ask.
static SECRETS: std::sync::RwLock<Vec<String>> = std::sync::RwLock::new(Vec::new());

/// Add values to mask everywhere from now on.
pub fn register_secrets<I: IntoIterator<Item = String>>(values: I) {
    let mut g = match SECRETS.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    g.extend(values.into_iter().filter(|s| !s.is_empty()));
    g.sort_by_key(|s| std::cmp::Reverse(s.len()));
    g.dedup();
}

/// `s` with every registered sensitive value replaced by `<sensitive>`.
pub fn mask(s: &str) -> String {
    let g = match SECRETS.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    redact_with(&g, s)
}

const COLORS: [u8; 5] = [32, 36, 35, 33, 34];

#[derive(Debug, Clone, Default)]
pub struct UiOptions {
    pub color: bool,
    pub machine_readable: bool,
    pub timestamp: bool,
}

struct Inner {
    opts: UiOptions,
    secrets: Vec<String>,
    out: Box<dyn Write + Send>,
}

/// The whole run's UI; cheap to clone.
#[derive(Clone)]
pub struct Ui {
    inner: Arc<Mutex<Inner>>,
}

impl Ui {
    pub fn new(opts: UiOptions, secrets: Vec<String>) -> Ui {
        Ui::with_writer(opts, secrets, Box::new(std::io::stdout()))
    }

    pub fn with_writer(
        opts: UiOptions,
        mut secrets: Vec<String>,
        out: Box<dyn Write + Send>,
    ) -> Ui {
        // Longest first so that a secret containing another is fully masked.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        register_secrets(secrets.iter().cloned());
        Ui {
            inner: Arc::new(Mutex::new(Inner { opts, secrets, out })),
        }
    }

    pub fn add_secret(&self, s: &str) {
        if s.is_empty() {
            return;
        }
        if let Ok(mut g) = self.inner.lock() {
            g.secrets.push(s.to_string());
            g.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
        register_secrets([s.to_string()]);
    }

    /// Mask every sensitive value in `s`.
    pub fn redact(&self, s: &str) -> String {
        let g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        redact_with(&g.secrets, s)
    }

    /// Packer prints the "output will be in this color" preamble only in colour.
    pub fn colored(&self) -> bool {
        self.inner
            .lock()
            .map(|g| g.opts.color && !g.opts.machine_readable)
            .unwrap_or(false)
    }

    fn write_line(&self, target: &str, kind: &str, human: &str, color: Option<(u8, bool)>) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let human = redact_with(&g.secrets, human);
        if g.opts.machine_readable {
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let data = human
                .replace(',', "%!(PACKER_COMMA)")
                .replace('\r', "\\r")
                .replace('\n', "\\n");
            let _ = writeln!(g.out, "{ts},{target},ui,{kind},{data}");
            let _ = g.out.flush();
            return;
        }
        let mut text = human;
        if g.opts.timestamp {
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
            text = text
                .lines()
                .map(|l| format!("{now}: {l}"))
                .collect::<Vec<_>>()
                .join("\n");
        }
        let line = match (g.opts.color, color) {
            (true, Some((c, bold))) => {
                format!("\x1b[{};{c}m{text}\x1b[0m", if bold { 1 } else { 0 })
            }
            _ => text,
        };
        let _ = writeln!(g.out, "{line}");
        let _ = g.out.flush();
    }

    /// A line with no build prefix (`==> Wait completed …`).
    pub fn say(&self, msg: &str) {
        self.write_line("", "say", msg, None);
    }

    pub fn error(&self, msg: &str) {
        self.write_line("", "error", msg, Some((31, true)));
    }

    /// A machine-readable event (`-machine-readable` only).
    pub fn event(&self, target: &str, kind: &str, fields: &[&str]) {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !g.opts.machine_readable {
            return;
        }
        let ts = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let data: Vec<String> = fields
            .iter()
            .map(|f| {
                redact_with(&g.secrets, f)
                    .replace(',', "%!(PACKER_COMMA)")
                    .replace('\n', "\\n")
            })
            .collect();
        let _ = writeln!(g.out, "{ts},{target},{kind},{}", data.join(","));
        let _ = g.out.flush();
    }

    /// The UI of one build, in its colour.
    pub fn build(&self, name: &str, index: usize) -> BuildUi {
        BuildUi {
            ui: self.clone(),
            name: name.to_string(),
            color: COLORS[index % COLORS.len()],
        }
    }
}

/// Mask every secret in `s`, longest first so that a secret containing
/// another is masked whole. For one-off text (inspect, console); the `Ui`
/// keeps its list sorted and skips the sort.
pub fn redact(secrets: &[String], s: &str) -> String {
    let mut sorted = secrets.to_vec();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    redact_with(&sorted, s)
}

/// `secrets` must be sorted longest first.
fn redact_with(secrets: &[String], s: &str) -> String {
    let mut out = s.to_string();
    for sec in secrets {
        if !sec.is_empty() && out.contains(sec.as_str()) {
            out = out.replace(sec.as_str(), "<sensitive>");
        }
    }
    out
}

/// Output of one build.
#[derive(Clone)]
pub struct BuildUi {
    ui: Ui,
    pub name: String,
    color: u8,
}

impl BuildUi {
    /// Mask `s` in everything printed from now on (and in diagnostics).
    pub fn add_secret(&self, s: &str) {
        self.ui.add_secret(s);
    }

    /// `==> NAME: msg`
    pub fn say(&self, msg: &str) {
        self.ui.write_line(
            &self.name,
            "say",
            &format!("==> {}: {msg}", self.name),
            Some((self.color, true)),
        );
    }
    /// `    NAME: line` for each line of msg.
    pub fn message(&self, msg: &str) {
        for l in msg.split('\n') {
            self.ui.write_line(
                &self.name,
                "message",
                &format!("    {}: {l}", self.name),
                Some((self.color, false)),
            );
        }
    }
    /// `==> NAME: msg` in red.
    pub fn error(&self, msg: &str) {
        self.ui.write_line(
            &self.name,
            "error",
            &format!("==> {}: {msg}", self.name),
            Some((31, true)),
        );
    }
    /// A line in the build's colour without the `==>`.
    pub fn plain(&self, msg: &str) {
        self.ui
            .write_line(&self.name, "say", msg, Some((self.color, true)));
    }
    pub fn event(&self, kind: &str, fields: &[&str]) {
        self.ui.event(&self.name, kind, fields);
    }
    pub fn root(&self) -> &Ui {
        &self.ui
    }
    /// `s` with every sensitive value masked (for the debug log).
    pub fn redact(&self, s: &str) -> String {
        self.ui.redact(s)
    }
}

/// Packer 1.6.6's duration wording: "2 minutes 3 seconds 40 milliseconds".
pub fn human_duration(d: std::time::Duration) -> String {
    let mut us = d.as_micros();
    let units: [(&str, u128); 6] = [
        ("hour", 3_600_000_000),
        ("minute", 60_000_000),
        ("second", 1_000_000),
        ("millisecond", 1_000),
        ("microsecond", 1),
        ("", 0),
    ];
    let mut parts = Vec::new();
    for (name, size) in units.iter().take(5) {
        let n = us / size;
        us %= size;
        if n > 0 {
            parts.push(format!("{n} {name}{}", if n == 1 { "" } else { "s" }));
        }
    }
    if parts.is_empty() {
        "0 seconds".into()
    } else {
        parts.join(" ")
    }
}
