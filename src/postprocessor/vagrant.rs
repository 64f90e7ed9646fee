//! vagrant: a Vagrant box of the image a build made, as packer-plugin-vagrant
//! makes it: `metadata.json`, a `Vagrantfile` and the disk, in a tar (gzip
//! at `compression_level`). qemu images become `libvirt` boxes (the disk as
//! `box.img`, its format and size in the metadata), amazon-ebs AMIs `aws`
//! boxes (a Vagrantfile naming the AMI of each region).

use super::PostProcessor;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::interpolate::render_fields;
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The vagrant post-processor's options (the plugin's names).
#[derive(Options)]
pub struct VagrantOptions {
    /// gzip level, 0 (a plain tar) to 9; unset: gzip's default (6).
    compression_level: Option<i64>,
    /// Files copied into the box beside the Vagrantfile.
    include: Vec<String>,
    /// The box's path (`{{ .BuildName }}`, `{{ .Provider }}`, `{{ .ArtifactId }}`).
    output: Option<String>,
    /// A file whose contents (rendered like `output`) end the box's Vagrantfile.
    vagrantfile_template: Option<String>,
    /// `vagrantfile_template` is made by the build: not checked before it.
    vagrantfile_template_generated: bool,
    /// The provider, where the builder does not say (an artifice artifact).
    provider_override: Option<String>,
    /// Keep the image the box is made of (the libvirt box holds a copy).
    #[allow(dead_code)] // the runner reads it from the step
    keep_input_artifact: bool,
}

pub const FIELDS: &[Field] = VagrantOptions::FIELDS;

/// The providers kiln makes boxes for, and for which builders.
const PROVIDERS: &[(&str, &str)] = &[("qemu", "libvirt"), ("amazon-ebs", "aws")];

pub fn validate(c: &Config) -> Vec<String> {
    let o = match VagrantOptions::from_config(c) {
        Ok(o) => o,
        Err(e) => return vec![e],
    };
    let mut errs = Vec::new();
    if let Some(l) = o.compression_level.filter(|l| !(-1..=9).contains(l)) {
        errs.push(format!(
            "compression_level must be between 0 (none) and 9, not {l}"
        ));
    }
    if let Some(t) = o.vagrantfile_template.as_deref().filter(|t| !t.is_empty()) {
        if !o.vagrantfile_template_generated && !Path::new(t).exists() {
            errs.push(format!("vagrantfile_template '{t}' does not exist"));
        }
    }
    if let Some(p) = o.provider_override.as_deref().filter(|p| !p.is_empty()) {
        if !PROVIDERS.iter().any(|(_, known)| *known == p) {
            errs.push(format!(
                "provider_override {p:?}: kiln makes boxes for the libvirt (qemu) and aws (amazon-ebs) providers"
            ));
        }
    }
    errs
}

pub struct Vagrant {
    level: u32,
    include: Vec<String>,
    output: String,
    template: Option<PathBuf>,
    provider_override: Option<String>,
}

impl Vagrant {
    pub fn new(c: &Config) -> Result<Vagrant, String> {
        let errs = validate(c);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        let o = VagrantOptions::from_config(c)?;
        Ok(Vagrant {
            // -1 is gzip's "default", which is 6.
            level: match o.compression_level {
                None | Some(-1) => 6,
                Some(l) => u32::try_from(l).unwrap_or(6),
            },
            include: o.include,
            output: o
                .output
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "packer_{{ .BuildName }}_{{.Provider}}.box".into()),
            template: o
                .vagrantfile_template
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            provider_override: o.provider_override.filter(|s| !s.is_empty()),
        })
    }
}

/// What the box holds besides the Vagrantfile: the provider's part of the
/// Vagrantfile, its metadata, and whether the input is kept by default.
struct Provided {
    vagrantfile: String,
    metadata: serde_json::Value,
    keep: bool,
}

#[async_trait]
impl PostProcessor for Vagrant {
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError> {
        let provider = match &self.provider_override {
            Some(p) => p.clone(),
            None => match PROVIDERS.iter().find(|(b, _)| *b == input.builder_type) {
                Some((_, p)) => p.to_string(),
                None if input.builder_type == "packer.post-processor.artifice" => {
                    return Err(BuildError::Failed("Unknown provider type: When using an artifact created by the artifice post-processor, you need to set the provider_override option.".into()));
                }
                None => {
                    return Err(BuildError::Failed(format!(
                        "Unknown artifact type, can't build box: {}",
                        input.builder_type
                    )))
                }
            },
        };
        ctx.ui
            .say(&format!("Creating Vagrant box for '{provider}' provider"));
        let fields = [
            ("ArtifactId", input.id.as_str()),
            ("BuildName", ctx.build_name.as_str()),
            ("Provider", provider.as_str()),
        ];
        let generated = ctx.generated();
        let output = PathBuf::from(
            render_fields(&self.output, &fields, &generated).map_err(BuildError::Failed)?,
        );
        let dir = tempfile::Builder::new()
            .prefix("packer")
            .tempdir()
            .map_err(|e| format!("creating a temporary directory: {e}"))?;
        for src in &self.include {
            ctx.ui.message(&format!("Copying from include: {src}"));
            let name = Path::new(src).file_name().unwrap_or_default();
            std::fs::copy(src, dir.path().join(name))
                .map_err(|e| format!("Error copying include file: {src}\n\n{e}"))?;
        }
        let provided = match provider.as_str() {
            "libvirt" => libvirt(ctx, &input, dir.path()).await?,
            _ => aws(&input)?,
        };
        std::fs::write(
            dir.path().join("metadata.json"),
            format!("{}\n", provided.metadata),
        )
        .map_err(|e| format!("writing metadata.json: {e}"))?;
        let custom = match &self.template {
            Some(t) => {
                ctx.ui
                    .message(&format!("Using custom Vagrantfile: {}", t.display()));
                let text = std::fs::read_to_string(t)
                    .map_err(|e| format!("reading {}: {e}", t.display()))?;
                render_fields(&text, &fields, &generated).map_err(BuildError::Failed)?
            }
            None => String::new(),
        };
        std::fs::write(
            dir.path().join("Vagrantfile"),
            format!(
                "\n# The contents below were provided by the Packer Vagrant post-processor\n{}\n\n# The contents below (if any) are custom contents provided by the\n# Packer template during image build.\n{custom}\n",
                provided.vagrantfile
            ),
        )
        .map_err(|e| format!("writing the Vagrantfile: {e}"))?;
        let (level, out, ui) = (self.level, output.clone(), ctx.ui.clone());
        let src = dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || dir_to_box(&out, &src, level, &ui))
            .await
            .map_err(|e| format!("making the box: {e}"))?
            .map_err(|e| format!("making the box {}: {e}", output.display()))?;
        Ok((
            Artifact {
                builder_type: "mitchellh.post-processor.vagrant".into(),
                id: provider.clone(),
                files: vec![output.clone()],
                description: format!("'{provider}' provider box: {}", output.display()),
                reused: false,
                state: BTreeMap::new(),
            },
            provided.keep,
        ))
    }
}

/// A libvirt box: the qemu image as `box.img`, its format and size (whole
/// GiB, rounded up) in the metadata, the accelerator as libvirt's driver.
/// The image is the qemu builder's disk, or (after artifice, with
/// `provider_override = "libvirt"`) the first file qemu-img reads as one.
async fn libvirt(ctx: &BuildContext, input: &Artifact, dir: &Path) -> Result<Provided, BuildError> {
    let named = input.state.get("diskName").and_then(|name| {
        input
            .files
            .iter()
            .find(|f| f.file_name().is_some_and(|n| n.to_string_lossy() == *name))
    });
    let mut found = None;
    if let Some(disk) = named {
        found = Some((disk.clone(), image_info(disk).await));
    } else {
        for f in &input.files {
            if let Some(info) = image_info(f).await.filter(|i| i.0 == "qcow2") {
                found = Some((f.clone(), Some(info)));
                break;
            }
        }
    }
    let Some((disk, info)) = found else {
        return Err(BuildError::Failed(
            "the artifact has no disk image to put in the box".into(),
        ));
    };
    ctx.ui
        .message(&format!("Copying from artifact: {}", disk.display()));
    let dst = dir.join("box.img");
    let (from, to) = (disk.clone(), dst.clone());
    tokio::task::spawn_blocking(move || std::fs::copy(from, to))
        .await
        .map_err(|e| format!("copying the disk: {e}"))?
        .map_err(|e| format!("copying {}: {e}", disk.display()))?;
    let format = input
        .state
        .get("diskType")
        .cloned()
        .or_else(|| info.as_ref().map(|i| i.0.clone()))
        .unwrap_or_else(|| "qcow2".into());
    let bytes = info
        .map(|i| i.1)
        .unwrap_or_else(|| std::fs::metadata(&dst).map(|m| m.len()).unwrap_or(0));
    const GIB: u64 = 1 << 30;
    let size = bytes.div_ceil(GIB);
    let driver = match input.state.get("domainType").map(String::as_str) {
        Some("kvm") => "kvm",
        _ => "qemu",
    };
    Ok(Provided {
        vagrantfile: format!(
            "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.driver = \"{driver}\"\n  end\nend\n"
        ),
        metadata: serde_json::json!({
            "format": format,
            "provider": "libvirt",
            "virtual_size": size,
        }),
        keep: false,
    })
}

/// A disk image's format and virtual size in bytes, as qemu-img reads them.
async fn image_info(disk: &Path) -> Option<(String, u64)> {
    let out = tokio::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(disk)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .ok()?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some((
        info.get("format")?.as_str()?.to_string(),
        info.get("virtual-size")?.as_u64()?,
    ))
}

/// An aws box: a Vagrantfile naming the AMI of each region
/// (`region:ami,region:ami`, the amazon-ebs artifact's id).
fn aws(input: &Artifact) -> Result<Provided, BuildError> {
    let mut images: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in input.id.split(',') {
        let Some((region, ami)) = pair.split_once(':') else {
            return Err(BuildError::Failed(format!(
                "Poorly formatted artifact ID: {}",
                input.id
            )));
        };
        images.insert(region, ami);
    }
    let mut v = String::from(
        "\nVagrant.configure(\"2\") do |config|\n  config.vm.provider \"aws\" do |aws|\n",
    );
    for (region, ami) in images {
        v.push_str(&format!(
            "    aws.region_config \"{region}\", ami: \"{ami}\"\n"
        ));
    }
    v.push_str("  end\nend\n");
    Ok(Provided {
        vagrantfile: v,
        metadata: serde_json::json!({ "provider": "aws" }),
        keep: true,
    })
}

/// `dir`'s files as a tar at `dst` (names relative to `dir`), gzip-
/// compressed unless `level` is 0.
fn dir_to_box(dst: &Path, dir: &Path, level: u32, ui: &crate::ui::BuildUi) -> std::io::Result<()> {
    if let Some(parent) = dst.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let file = std::fs::File::create(dst)?;
    if level == 0 {
        write_tar(file, dir, ui)?.sync_all()
    } else {
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::new(level));
        // finish() writes gzip's trailer and reports what a drop would lose.
        write_tar(gz, dir, ui)?.finish()?.sync_all()
    }
}

fn write_tar<W: Write>(w: W, dir: &Path, ui: &crate::ui::BuildUi) -> std::io::Result<W> {
    let mut tar = tar::Builder::new(w);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    names.sort();
    for path in names {
        let name = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        ui.message(&format!("Compressing: {}", name.display()));
        tar.append_path_with_name(&path, &name)?;
    }
    tar.into_inner()
}
