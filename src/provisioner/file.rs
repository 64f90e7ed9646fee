//! file: upload files and directories to the machine, or download them.

use super::{need_comm, Provisioner};
use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::path::{Path, PathBuf};

/// The file provisioner's options (Packer's names).
#[derive(Options)]
pub struct FileOptions {
    /// A local path (upload) or remote path (download).
    source: Option<String>,
    /// Several sources, copied in order.
    sources: Vec<String>,
    /// Text to write to `destination` instead of a source file.
    content: Option<String>,
    /// Where the files go.
    destination: String,
    /// `upload` or `download`.
    #[option(default = "upload")]
    direction: String,
    /// The sources are made by the build: not checked at validate.
    generated: bool,
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
    // A value not known yet reads as Packer's placeholder, which is
    // rejected like any other bad direction, as in Packer.
    if o.direction != "upload" && o.direction != "download" {
        errs.push("Direction must be one of: download, upload.".into());
    }
    let sources: Vec<&String> = o.sources.iter().chain(&o.source).collect();
    if sources.is_empty() && o.content.is_none() {
        errs.push("Source must be specified.".into());
    }
    if o.source.is_some() && !o.sources.is_empty() {
        errs.push("Only one of source or sources may be specified.".into());
    }
    if !sources.is_empty() && o.content.is_some() {
        errs.push("Cannot specify both source and content.".into());
    }
    if o.direction == "upload" && !o.generated {
        for s in &sources {
            if s.contains("{{") {
                continue;
            }
            if let Err(e) = std::fs::metadata(s) {
                errs.push(format!("Bad source '{s}': {e}"));
            }
        }
    }
    if o.destination.is_empty() {
        errs.push("Destination must be specified.".into());
    }
    errs
}

pub struct FileProvisioner {
    sources: Vec<String>,
    content: Option<String>,
    destination: String,
    download: bool,
}

impl FileProvisioner {
    pub fn new(c: &Config) -> Result<FileProvisioner, String> {
        let o = FileOptions::from_config(c)?;
        let errs = check(&o);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        Ok(FileProvisioner {
            sources: o.source.into_iter().chain(o.sources).collect(),
            content: o.content,
            destination: o.destination,
            download: o.direction == "download",
        })
    }

    /// Packer's upload rules: a directory source without a trailing slash
    /// is copied as itself into the destination, with one its contents; a
    /// file goes to the destination path, or into it when that ends in `/`
    /// (or there are several sources).
    async fn upload(&self, ctx: &BuildContext, comm: &dyn Communicator) -> Result<(), BuildError> {
        if let Some(content) = &self.content {
            ctx.ui
                .say(&format!("Uploading content => {}", self.destination));
            return comm
                .upload_bytes(content.as_bytes(), &self.destination)
                .await
                .map_err(|e| BuildError::Failed(format!("Upload failed: {e}")));
        }
        for src in &self.sources {
            let path = Path::new(src);
            if path.is_dir() {
                ctx.ui
                    .say(&format!("Uploading {src} => {}", self.destination));
                let dst = if src.ends_with('/') {
                    self.destination.clone()
                } else {
                    join_remote(&self.destination, &base_name(src))
                };
                comm.upload_dir(path, &dst)
                    .await
                    .map_err(|e| BuildError::Failed(format!("Upload failed: {e}")))?;
                continue;
            }
            let dst = if self.destination.ends_with('/') || self.sources.len() > 1 {
                join_remote(&self.destination, &base_name(src))
            } else {
                self.destination.clone()
            };
            ctx.ui
                .say(&format!("Uploading {src} => {}", self.destination));
            comm.upload(path, &dst)
                .await
                .map_err(|e| BuildError::Failed(format!("Upload failed: {e}")))?;
        }
        Ok(())
    }

    /// Packer's download rules: a source ending in `/` is a directory whose
    /// contents are copied; a destination ending in `/` receives the file
    /// under its own name.
    async fn download(
        &self,
        ctx: &BuildContext,
        comm: &dyn Communicator,
    ) -> Result<(), BuildError> {
        for src in &self.sources {
            let mut dst = PathBuf::from(&self.destination);
            ctx.ui
                .say(&format!("Downloading {src} => {}", self.destination));
            let dir = if self.destination.ends_with('/') {
                if !src.ends_with('/') {
                    dst = dst.join(base_name(src));
                }
                PathBuf::from(&self.destination)
            } else {
                dst.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| BuildError::Failed(format!("creating {}: {e}", dir.display())))?;
            }
            let r = if src.ends_with('/') {
                comm.download_dir(src, &dst).await
            } else {
                comm.download(src, &dst).await
            };
            r.map_err(|e| BuildError::Failed(format!("Download failed: {e}")))?;
        }
        Ok(())
    }
}

fn base_name(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn join_remote(dir: &str, name: &str) -> String {
    format!("{}/{name}", dir.trim_end_matches('/'))
}

#[async_trait]
impl Provisioner for FileProvisioner {
    async fn provision(
        &self,
        ctx: &BuildContext,
        comm: Option<&dyn Communicator>,
    ) -> Result<(), BuildError> {
        let comm = need_comm("file", comm)?;
        if self.download {
            self.download(ctx, comm).await
        } else {
            self.upload(ctx, comm).await
        }
    }
}
