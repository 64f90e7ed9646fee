//! file: upload files and directories to the machine, or download them.

use super::{need_comm, Provisioner};
use crate::communicator::Communicator;
use crate::graph::Config;
use crate::plugin::{get_bool, get_str, get_strings, Field, Kind};
use crate::runner::{BuildContext, BuildError};
use async_trait::async_trait;
use std::path::PathBuf;

pub const FIELDS: &[Field] = &[
    Field("source", Kind::String),
    Field("sources", Kind::Strings),
    Field("content", Kind::String),
    Field("destination", Kind::String),
    Field("direction", Kind::String),
    Field("generated", Kind::Bool),
];

/// Packer's hcl2shim turns an unknown value into this string; the file
/// provisioner then rejects it like any other bad direction.
const UNKNOWN: &str = "74D93920-ED26-11E3-AC10-0800200C9A66";

pub fn validate(c: &Config) -> Vec<String> {
    let mut errs = Vec::new();
    let direction = match c.get("direction") {
        Some(v) if v.is_unknown() => UNKNOWN.to_string(),
        _ => get_str(c, "direction").unwrap_or_else(|| "upload".into()),
    };
    if direction != "upload" && direction != "download" {
        errs.push("Direction must be one of: download, upload.".into());
    }
    let mut sources = get_strings(c, "sources");
    if let Some(s) = get_str(c, "source") {
        sources.push(s);
    }
    let content = get_str(c, "content");
    if sources.is_empty() && content.is_none() {
        errs.push("Source must be specified.".into());
    }
    if get_str(c, "source").is_some() && !get_strings(c, "sources").is_empty() {
        errs.push("Only one of source or sources may be specified.".into());
    }
    if !sources.is_empty() && content.is_some() {
        errs.push("Cannot specify both source and content.".into());
    }
    if direction == "upload" && !get_bool(c, "generated").unwrap_or(false) {
        for s in &sources {
            if s.contains("{{") {
                continue;
            }
            if let Err(e) = std::fs::metadata(s) {
                errs.push(format!("Bad source '{s}': {e}"));
            }
        }
    }
    if get_str(c, "destination").unwrap_or_default().is_empty() {
        errs.push("Destination must be specified.".into());
    }
    errs
}

pub struct FileProvisioner {
    sources: Vec<PathBuf>,
    destination: String,
    download: bool,
}

impl FileProvisioner {
    pub fn new(c: &Config) -> Result<FileProvisioner, String> {
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        let mut sources: Vec<PathBuf> = get_strings(c, "sources").into_iter().map(PathBuf::from).collect();
        if let Some(s) = get_str(c, "source") {
            sources.insert(0, PathBuf::from(s));
        }
        Ok(FileProvisioner {
            sources,
            destination: get_str(c, "destination").unwrap_or_default(),
            download: get_str(c, "direction").as_deref() == Some("download"),
        })
    }
}

#[async_trait]
impl Provisioner for FileProvisioner {
    async fn provision(&self, ctx: &BuildContext, comm: Option<&dyn Communicator>) -> Result<(), BuildError> {
        let comm = need_comm("file", comm)?;
        for s in &self.sources {
            if self.download {
                ctx.ui.say(&format!("Downloading {} => {}", s.display(), self.destination));
                comm.download(&s.to_string_lossy(), std::path::Path::new(&self.destination)).await?;
            } else {
                ctx.ui.say(&format!("Uploading {} => {}", s.display(), self.destination));
                comm.upload(s, &self.destination).await?;
            }
        }
        Ok(())
    }
}
