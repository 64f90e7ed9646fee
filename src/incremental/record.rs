//! The record beside a local artifact (a qemu output directory, a file
//! builder's target): its inputs' digest and parts, and the size and
//! sha256 of each file the builder made, so a later `-reuse` can tell
//! that the files are still the ones those inputs made.

use super::inputs::file_sha256;
use super::{Earlier, Fingerprint};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The record's file name in a qemu output directory.
pub const FILE_NAME: &str = "kiln-inputs.json";

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Record {
    /// [`Fingerprint::digest`].
    pub kiln_inputs: String,
    /// [`Fingerprint::compact`].
    pub parts: String,
    pub build: String,
    pub created: String,
    pub files: Vec<RecordedFile>,
    /// The artifact's state (what post-processors read of it).
    #[serde(default)]
    pub state: std::collections::BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct RecordedFile {
    /// Relative to the record's directory.
    pub name: String,
    pub size: u64,
    pub sha256: String,
}

/// What a record says of its artifact now.
pub enum Found {
    /// Same inputs, every file as made; the artifact's state.
    Same(Vec<PathBuf>, std::collections::BTreeMap<String, String>),
    /// An artifact of other inputs (or files changed since): it is what a
    /// rebuild replaces.
    Stale(Earlier),
    /// No record.
    None,
}

/// Write `record_path` for `files` (which sit in its directory).
pub fn write(
    record_path: &Path,
    fp: &Fingerprint,
    build: &str,
    files: &[PathBuf],
    state: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    let dir = record_path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for f in files {
        let meta = std::fs::metadata(f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f
            .strip_prefix(dir)
            .unwrap_or(f)
            .to_string_lossy()
            .into_owned();
        out.push(RecordedFile {
            name,
            size: meta.len(),
            sha256: file_sha256(f)?,
        });
    }
    let r = Record {
        kiln_inputs: fp.digest(),
        parts: fp.compact(),
        build: build.to_string(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        files: out,
        state: state.clone(),
    };
    let text = serde_json::to_string_pretty(&r).map_err(|e| e.to_string())? + "\n";
    crate::util::fs::write_atomic(record_path, text.as_bytes())
        .map_err(|e| format!("{}: {e}", record_path.display()))
}

/// Read `record_path`, and check its files against it if its digest is
/// `fp`'s.
pub fn check(record_path: &Path, fp: &Fingerprint) -> Found {
    let Ok(text) = crate::util::fs::read_regular_string(record_path) else {
        return Found::None;
    };
    let Ok(r) = serde_json::from_str::<Record>(&text) else {
        return Found::None;
    };
    let dir = record_path.parent().unwrap_or(Path::new("."));
    let earlier = |why: &str| Earlier {
        what: format!("{} (made {}{why})", record_path.display(), r.created),
        parts: r.parts.clone(),
    };
    if r.kiln_inputs != fp.digest() {
        return Found::Stale(earlier(""));
    }
    let mut files = Vec::new();
    for f in &r.files {
        let p = dir.join(&f.name);
        let same = std::fs::metadata(&p).is_ok_and(|m| m.len() == f.size)
            && file_sha256(&p).is_ok_and(|s| s == f.sha256);
        if !same {
            return Found::Stale(earlier(&format!(", but {} changed since", f.name)));
        }
        files.push(p);
    }
    Found::Same(files, r.state)
}
