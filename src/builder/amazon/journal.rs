//! The cleanup journal: every cloud resource a build is about to create is
//! appended (and fsync'ed) *before* the call that creates it, keyed by a name
//! or client token that kiln chose, so that whatever happens to the call or
//! to kiln — an error, a lost response, Ctrl-C, `kill -9`, power loss — the
//! resource can be found and deleted later. A clean end removes the journal;
//! `kiln cleanup` replays one a killed build left behind.
//!
//! Format: JSON lines. The first is a [`Header`]; then `{"add": Resource}`
//! (again with the id once it is known) and `{"done": Resource}` once the
//! resource is deleted or has become the build's product.

use super::resources::Resource;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What `kiln cleanup` needs to reach the same account (never a secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub kiln_journal: u32,
    pub pid: u32,
    pub build: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_credentials_file: Option<String>,
    /// The build did not ask the instance role, so cleanup does not either.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_metadata_api_check: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The role's external id (a name the role's trust policy asks for,
    /// not a secret, by AWS's definition) and session name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<String>,
    /// Where Vault's AWS engine gave the build its credentials (no secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<super::vault::VaultEngine>,
    /// The build reached its endpoint with `insecure_skip_tls_verify`, so
    /// `kiln cleanup` must too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_skip_tls_verify: bool,
    pub started: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Entry {
    Add(Resource),
    Done(Resource),
}

pub struct Journal {
    path: PathBuf,
    file: Mutex<std::fs::File>,
}

/// Where journals live: `$KILN_JOURNAL_DIR`, else `$XDG_STATE_HOME/kiln/journals`,
/// else `~/.local/state/kiln/journals`.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KILN_JOURNAL_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")));
    state
        .unwrap_or_else(std::env::temp_dir)
        .join("kiln/journals")
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Journal {
    pub fn create(header: &Header, run_id: &str) -> Result<Journal, String> {
        let d = dir();
        std::fs::create_dir_all(&d).map_err(|e| {
            format!(
                "creating the cleanup journal directory {}: {e}",
                d.display()
            )
        })?;
        let path = d.join(format!(
            "{}-{}.jsonl",
            sanitize(&header.build),
            &run_id[..run_id.len().min(8)]
        ));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("creating the cleanup journal {}: {e}", path.display()))?;
        let j = Journal {
            path,
            file: Mutex::new(file),
        };
        let line = serde_json::to_string(header).map_err(|e| e.to_string())?;
        j.append(&line)?;
        if let Some(parent) = j.path.parent() {
            // The new name must survive a power loss too.
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(j)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, line: &str) -> Result<(), String> {
        let mut f = self
            .file
            .lock()
            .map_err(|_| "cleanup journal lock poisoned".to_string())?;
        f.write_all(format!("{line}\n").as_bytes())
            .and_then(|_| f.sync_data())
            .map_err(|e| format!("writing the cleanup journal {}: {e}", self.path.display()))
    }

    /// Record a resource about to be created (or its id once known).
    pub fn add(&self, r: &Resource) -> Result<(), String> {
        self.append(&serde_json::to_string(&Entry::Add(r.clone())).map_err(|e| e.to_string())?)
    }

    /// Record that a resource is gone or kept as the build's product.
    pub fn done(&self, r: &Resource) {
        if let Ok(s) = serde_json::to_string(&Entry::Done(r.clone())) {
            if let Err(e) = self.append(&s) {
                crate::ui::warn(&e);
            }
        }
    }

    /// Remove the journal after a clean end (everything recorded is done).
    pub fn finish(&self) {
        match read(&self.path) {
            Ok((_, pending)) if pending.is_empty() => {
                let _ = std::fs::remove_file(&self.path);
            }
            Ok((_, pending)) => crate::ui::warn(&format!(
                "cleanup journal {} keeps {} resources; run `kiln cleanup {}`",
                self.path.display(),
                pending.len(),
                self.path.display()
            )),
            Err(e) => crate::ui::warn(&e),
        }
    }
}

/// Read a journal: its header and the resources not yet done, in the order
/// they were first added, each with the most recent details (its id).
pub fn read(path: &Path) -> Result<(Header, Vec<Resource>), String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let first = lines
        .next()
        .ok_or_else(|| format!("{}: empty journal", path.display()))?;
    let header: Header = serde_json::from_str(first).map_err(|e| {
        format!(
            "{}: line 1 is not a kiln journal header: {e}",
            path.display()
        )
    })?;
    let mut pending: Vec<Resource> = Vec::new();
    for (i, line) in lines.enumerate() {
        let entry: Entry = match serde_json::from_str(line) {
            Ok(e) => e,
            // A line cut short by a crash: the last one, and its resource was
            // not created yet (the call comes after the fsync).
            Err(e) => {
                crate::ui::warn(&format!("{}: line {} ignored: {e}", path.display(), i + 2));
                continue;
            }
        };
        match entry {
            Entry::Add(r) => match pending.iter_mut().find(|p| p.same(&r)) {
                Some(p) => p.merge(r),
                None => pending.push(r),
            },
            Entry::Done(r) => pending.retain(|p| !p.same(&r)),
        }
    }
    Ok((header, pending))
}

/// Journals in [`dir`] whose build process is gone.
pub fn orphans() -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir()) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .filter(|p| match read(p) {
            Ok((h, _)) => !process_alive(h.pid),
            Err(_) => false,
        })
        .collect();
    out.sort();
    out
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    // kill(pid, 0): ESRCH means gone; EPERM means alive but not ours.
    let r = unsafe { libc::kill(pid as libc::pid_t, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
