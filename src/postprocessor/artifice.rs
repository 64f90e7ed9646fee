//! artifice: replace the artifact with files the build left on this
//! machine (Packer core's post-processor), so a build can make a tarball
//! or a binary and keep only that.

use super::PostProcessor;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// The artifice post-processor's options (Packer's names).
#[derive(Options)]
pub struct ArtificeOptions {
    /// The new artifact's files: paths or Go glob patterns (`*`, `?`,
    /// `[a-z]`, within one path segment).
    files: Vec<String>,
    /// Keep the artifact it replaces (kept by default, as in Packer).
    #[allow(dead_code)] // the runner reads it from the step
    keep_input_artifact: bool,
}

pub const FIELDS: &[Field] = ArtificeOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    match ArtificeOptions::from_config(c) {
        Ok(o) if o.files.is_empty() => vec!["No files specified in artifice configuration".into()],
        Ok(_) => Vec::new(),
        Err(e) => vec![e],
    }
}

pub struct Artifice {
    files: Vec<String>,
}

impl Artifice {
    pub fn new(c: &Config) -> Result<Artifice, String> {
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        Ok(Artifice {
            files: ArtificeOptions::from_config(c)?.files,
        })
    }
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths `pattern` matches, as Go's `filepath.Glob`: a pattern without
/// wildcards names itself if it exists (nothing otherwise); wildcards match
/// within one path segment; each directory's matches in name order.
pub fn glob(pattern: &str) -> Result<Vec<PathBuf>, String> {
    if !has_meta(pattern) {
        return Ok(std::fs::symlink_metadata(pattern)
            .map(|_| vec![PathBuf::from(pattern)])
            .unwrap_or_default());
    }
    let p = Path::new(pattern);
    let (dir, last) = match (p.parent(), p.file_name()) {
        (Some(d), Some(f)) => (d, f.to_string_lossy().into_owned()),
        _ => return Ok(Vec::new()),
    };
    let dirs: Vec<PathBuf> = if dir.as_os_str().is_empty() {
        vec![PathBuf::new()]
    } else if has_meta(&dir.to_string_lossy()) {
        glob(&dir.to_string_lossy())?
    } else {
        vec![dir.to_path_buf()]
    };
    let matcher = globset::GlobBuilder::new(&last)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("syntax error in pattern {pattern:?}: {e}"))?
        .compile_matcher();
    let mut out = Vec::new();
    for d in dirs {
        let listing = if d.as_os_str().is_empty() {
            std::fs::read_dir(".")
        } else {
            std::fs::read_dir(&d)
        };
        let Ok(listing) = listing else { continue };
        let mut names: Vec<String> = listing
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| matcher.is_match(n))
            .collect();
        names.sort();
        out.extend(names.into_iter().map(|n| d.join(n)));
    }
    Ok(out)
}

#[async_trait]
impl PostProcessor for Artifice {
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError> {
        let shown = |files: &[PathBuf]| {
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !input.files.is_empty() {
            ctx.ui.say(&format!(
                "Discarding files from artifact: {}",
                shown(&input.files)
            ));
        }
        let mut files = Vec::new();
        for pattern in &self.files {
            files.extend(glob(pattern).map_err(BuildError::Failed)?);
        }
        ctx.ui
            .say(&format!("Using these artifact files: {}", shown(&files)));
        let description = format!("Created artifact from files: {}", shown(&files));
        Ok((
            Artifact {
                builder_type: "packer.post-processor.artifice".into(),
                id: String::new(),
                files,
                description,
                reused: false,
                state: Default::default(),
            },
            true,
        ))
    }
}
