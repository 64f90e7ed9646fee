//! The file builder: writes `content` (or copies `source`) to `target`.

use super::Builder;
use crate::graph::Config;
use crate::incremental::{record, Fingerprint, Reuse};
use crate::plugin::{Field, Options};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;
use std::path::PathBuf;

/// The file builder's options (Packer's names).
#[derive(Options)]
pub struct FileOptions {
    /// A file to copy to `target`.
    source: Option<String>,
    /// The file to write.
    target: String,
    /// Text to write to `target`.
    content: Option<String>,
}

pub const FIELDS: &[Field] = FileOptions::FIELDS;

pub fn validate(c: &Config) -> Vec<String> {
    match FileOptions::from_config(c) {
        Ok(o) => check(&o),
        Err(e) => vec![e],
    }
}

fn check(o: &FileOptions) -> Vec<String> {
    let mut errs = Vec::new();
    if o.target.is_empty() {
        errs.push("target is required".into());
    }
    if o.source.is_some() && o.content.is_some() {
        errs.push("source and content are mutually exclusive".into());
    }
    errs
}

pub struct FileBuilder {
    source: Option<PathBuf>,
    content: String,
    target: PathBuf,
}

impl FileBuilder {
    pub fn new(c: &Config) -> Result<FileBuilder, String> {
        let o = FileOptions::from_config(c)?;
        let errs = check(&o);
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        Ok(FileBuilder {
            source: o.source.map(PathBuf::from),
            content: o.content.unwrap_or_default(),
            target: PathBuf::from(o.target),
        })
    }
}

#[async_trait]
impl Builder for FileBuilder {
    async fn run(
        &self,
        ctx: &BuildContext,
        hook: &dyn ProvisionHook,
    ) -> Result<Option<Artifact>, BuildError> {
        // Every directory leading to the target, as Packer's file builder
        // makes them.
        if let Some(dir) = self.target.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        match &self.source {
            Some(src) => {
                ctx.ui.say(&format!(
                    "Copying {} to {}",
                    src.display(),
                    self.target.display()
                ));
                tokio::fs::copy(src, &self.target)
                    .await
                    .map_err(|e| format!("copying {}: {e}", src.display()))?;
            }
            None => {
                ctx.ui
                    .say(&format!("Writing content to {}", self.target.display()));
                tokio::fs::write(&self.target, self.content.as_bytes())
                    .await
                    .map_err(|e| format!("writing {}: {e}", self.target.display()))?;
            }
        }
        hook.provision(ctx, None).await?;
        if ctx.reuse {
            if let Ok(fp) = &ctx.inputs {
                record::write(
                    &self.record_path(),
                    fp,
                    &ctx.full_name,
                    std::slice::from_ref(&self.target),
                    &Default::default(),
                )
                .map_err(|e| format!("writing the inputs record: {e}"))?;
            }
        }
        Ok(Some(self.artifact(false)))
    }

    /// The record beside the target ([`crate::incremental::record`]).
    async fn reusable(
        &self,
        _ctx: &BuildContext,
        inputs: &Fingerprint,
        _dry_run: bool,
    ) -> Result<Reuse, BuildError> {
        Ok(match record::check(&self.record_path(), inputs) {
            record::Found::Same(..) => Reuse::Found(self.artifact(true)),
            record::Found::Stale(e) => Reuse::Build {
                inputs: inputs.clone(),
                newest: Some(e),
            },
            record::Found::None => Reuse::Build {
                inputs: inputs.clone(),
                newest: None,
            },
        })
    }
}

impl FileBuilder {
    /// `TARGET.kiln-inputs.json`, written under `-reuse` only.
    fn record_path(&self) -> PathBuf {
        let mut name = self.target.as_os_str().to_owned();
        name.push(".kiln-inputs.json");
        PathBuf::from(name)
    }

    fn artifact(&self, reused: bool) -> Artifact {
        Artifact {
            builder_type: "file".into(),
            id: self.target.display().to_string(),
            files: vec![self.target.clone()],
            description: format!("Stored file: {}", self.target.display()),
            reused,
            state: Default::default(),
        }
    }
}
