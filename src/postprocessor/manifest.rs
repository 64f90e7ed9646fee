//! manifest: record each build's artifact in a JSON file, the same shape as
//! Packer's `packer-manifest.json`, appending to what is there.

use super::PostProcessor;
use crate::graph::Config;
use crate::plugin::{Field, Options, StringMap};
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The manifest post-processor's options (Packer's names).
#[derive(Options)]
pub struct ManifestOptions {
    /// The manifest file, appended to.
    #[option(default = "packer-manifest.json")]
    output: String,
    /// Record file names without their directories.
    strip_path: bool,
    /// Leave out `build_time`.
    strip_time: bool,
    /// Extra values copied into the build's entry.
    custom_data: Option<StringMap>,
}

pub const FIELDS: &[Field] = ManifestOptions::FIELDS;

/// Builds of one run write one manifest; serialise them.
static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Serialize, Deserialize, Default)]
struct ManifestFile {
    #[serde(default)]
    builds: Vec<serde_json::Value>,
    #[serde(default)]
    last_run_uuid: String,
}

#[derive(Serialize)]
struct FileEntry {
    name: String,
    size: u64,
}

#[derive(Serialize)]
struct BuildEntry {
    name: String,
    builder_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    build_time: i64,
    files: Option<Vec<FileEntry>>,
    artifact_id: String,
    packer_run_uuid: String,
    custom_data: Option<indexmap::IndexMap<String, String>>,
    /// `-reuse` found the artifact instead of building it (kiln extension;
    /// absent otherwise, so the entry is Packer's).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reused: bool,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

pub struct Manifest {
    output: PathBuf,
    strip_path: bool,
    strip_time: bool,
    custom_data: Option<indexmap::IndexMap<String, String>>,
}

impl Manifest {
    pub fn new(c: &Config) -> Result<Manifest, String> {
        let o = ManifestOptions::from_config(c)?;
        Ok(Manifest {
            output: PathBuf::from(o.output),
            strip_path: o.strip_path,
            strip_time: o.strip_time,
            custom_data: o.custom_data,
        })
    }
}

/// JSON as Go's `json.MarshalIndent(v, "", "  ")` writes it.
pub fn go_json_pretty<T: Serialize>(v: &T) -> Result<String, String> {
    let s = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    Ok(s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026"))
}

#[async_trait]
impl PostProcessor for Manifest {
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError> {
        let files = if input.files.is_empty() {
            None
        } else {
            Some(
                input
                    .files
                    .iter()
                    .map(|f| {
                        let size = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
                        let name = if self.strip_path {
                            f.file_name()
                                .map(|n| n.to_string_lossy().into_owned())
                                .unwrap_or_default()
                        } else {
                            f.display().to_string()
                        };
                        FileEntry { name, size }
                    })
                    .collect(),
            )
        };
        let entry = BuildEntry {
            name: ctx.build_name.clone(),
            builder_type: input.builder_type.clone(),
            build_time: if self.strip_time {
                0
            } else {
                chrono::Utc::now().timestamp()
            },
            files,
            artifact_id: input.id.clone(),
            packer_run_uuid: ctx.run_uuid.clone(),
            custom_data: self.custom_data.clone(),
            reused: input.reused,
        };
        let _guard = LOCK.lock().await;
        // Only a regular file holds earlier builds (a FIFO or device output
        // is written to, never read: reading one could wait forever).
        let mut m: ManifestFile = match crate::util::fs::read_regular(&self.output) {
            Ok(bytes) if !bytes.is_empty() => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} exists but is not a manifest Packer or kiln wrote: {e}",
                    self.output.display()
                )
            })?,
            _ => ManifestFile::default(),
        };
        m.builds
            .push(serde_json::to_value(&entry).map_err(|e| e.to_string())?);
        m.last_run_uuid = ctx.run_uuid.clone();
        let text = ctx.ui.root().redact(&go_json_pretty(&m)?);
        crate::util::fs::write_atomic(&self.output, text.as_bytes())
            .map_err(|e| format!("writing {}: {e}", self.output.display()))?;
        Ok((input, true))
    }
}
