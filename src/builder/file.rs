//! The file builder: writes `content` (or copies `source`) to `target`.

use super::Builder;
use crate::graph::Config;
use crate::plugin::{get_str, Field, Kind};
use crate::runner::{Artifact, BuildContext, BuildError, ProvisionHook};
use async_trait::async_trait;
use std::path::PathBuf;

pub const FIELDS: &[Field] = &[
    Field("source", Kind::String),
    Field("target", Kind::String),
    Field("content", Kind::String),
];

pub fn validate(c: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    if get_str(c, "target").unwrap_or_default().is_empty() {
        errs.push("target is required".into());
    }
    if get_str(c, "source").is_some() && get_str(c, "content").is_some() {
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
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("; "));
        }
        Ok(FileBuilder {
            source: get_str(c, "source").map(PathBuf::from),
            content: get_str(c, "content").unwrap_or_default(),
            target: PathBuf::from(get_str(c, "target").unwrap_or_default()),
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
        Ok(Some(Artifact {
            builder_type: "file".into(),
            id: self.target.display().to_string(),
            files: vec![self.target.clone()],
            description: format!("Stored file: {}", self.target.display()),
        }))
    }
}
