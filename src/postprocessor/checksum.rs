//! checksum: a checksum file per hash type over the artifact's files
//! (Packer's format: `<hex>\t<file name>` lines, appended).

use super::PostProcessor;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::interpolate::render_fields;
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;
use sha2::Digest;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The checksum post-processor's options (Packer's names).
#[derive(Options)]
pub struct ChecksumOptions {
    /// Hash types, one file each (`md5` when empty).
    checksum_types: Vec<String>,
    /// The checksum file's path, a template (`{{.ChecksumType}}`...).
    output: String,
    /// Keep the artifact it was given.
    #[allow(dead_code)] // the runner reads it from the step
    keep_input_artifact: bool,
}

pub const FIELDS: &[Field] = ChecksumOptions::FIELDS;

const TYPES: &[&str] = &["md5", "sha1", "sha224", "sha256", "sha384", "sha512"];
const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.BuilderType}}_{{.ChecksumType}}.checksum";

pub fn validate(c: &Config) -> Vec<String> {
    match ChecksumOptions::from_config(c) {
        Ok(o) => check(&o),
        Err(e) => vec![e],
    }
}

fn check(o: &ChecksumOptions) -> Vec<String> {
    o.checksum_types
        .iter()
        .filter(|t| !TYPES.contains(&t.as_str()))
        .map(|t| {
            format!(
                "Unrecognized checksum type: {t} (one of {})",
                TYPES.join(", ")
            )
        })
        .collect()
}

pub struct Checksum {
    types: Vec<String>,
    output: String,
}

impl Checksum {
    pub fn new(c: &Config) -> Result<Checksum, String> {
        let o = ChecksumOptions::from_config(c)?;
        let errs = check(&o);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        let mut types = o.checksum_types;
        if types.is_empty() {
            types.push("md5".into());
        }
        let output = match o.output {
            s if s.is_empty() => DEFAULT_OUTPUT.into(),
            s => s,
        };
        Ok(Checksum { types, output })
    }
}

/// Fed `Some(bytes)` chunk by chunk, then `None` for the digest.
type Hasher = Box<dyn FnMut(Option<&[u8]>) -> Option<Vec<u8>> + Send>;

fn hasher(kind: &str) -> Hasher {
    macro_rules! h {
        ($t:ty) => {{
            let mut h = <$t>::new();
            Box::new(move |chunk: Option<&[u8]>| match chunk {
                Some(c) => {
                    h.update(c);
                    None
                }
                None => Some(h.clone().finalize().to_vec()),
            })
        }};
    }
    match kind {
        "md5" => h!(md5::Md5),
        "sha1" => h!(sha1::Sha1),
        "sha224" => h!(sha2::Sha224),
        "sha384" => h!(sha2::Sha384),
        "sha512" => h!(sha2::Sha512),
        _ => h!(sha2::Sha256),
    }
}

/// Hash a file with every requested type in one pass.
fn hash_file(path: &Path, types: &[String]) -> std::io::Result<Vec<Vec<u8>>> {
    let mut hs: Vec<_> = types.iter().map(|t| hasher(t)).collect();
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        for h in hs.iter_mut() {
            h(Some(&buf[..n]));
        }
    }
    Ok(hs.iter_mut().map(|h| h(None).unwrap_or_default()).collect())
}

#[async_trait]
impl PostProcessor for Checksum {
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError> {
        let generated = ctx.generated();
        let mut outputs: Vec<PathBuf> = Vec::new();
        let mut paths = Vec::new();
        for t in &self.types {
            let fields = [
                ("BuildName", ctx.build_name.as_str()),
                ("BuilderType", ctx.builder_type.as_str()),
                ("ChecksumType", t.as_str()),
            ];
            paths.push(PathBuf::from(
                render_fields(&self.output, &fields, &generated)
                    .map_err(|e| format!("checksum output: {e}"))?,
            ));
        }
        let files = input.files.clone();
        let types = self.types.clone();
        let lines = tokio::task::spawn_blocking(move || -> Result<Vec<String>, String> {
            let mut per_type = vec![String::new(); types.len()];
            for f in &files {
                let sums = hash_file(f, &types)
                    .map_err(|e| format!("checksum of {}: {e}", f.display()))?;
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                for (i, s) in sums.iter().enumerate() {
                    per_type[i].push_str(&format!("{}\t{name}\n", hex::encode(s)));
                }
            }
            Ok(per_type)
        })
        .await
        .map_err(|e| format!("checksum: {e}"))??;
        for (path, text) in paths.iter().zip(lines) {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
            }
            crate::util::fs::append(path, text.as_bytes())
                .map_err(|e| format!("writing {}: {e}", path.display()))?;
            ctx.ui
                .message(&format!("Checksum written to {}", path.display()));
            if !outputs.contains(path) {
                outputs.push(path.clone());
            }
        }
        let description = format!(
            "Created artifact from files: {}",
            outputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok((
            Artifact {
                builder_type: "packer.post-processor.checksum".into(),
                id: String::new(),
                files: outputs,
                description,
                reused: false,
                state: Default::default(),
            },
            true,
        ))
    }
}
