//! The guest's media: the CD, the disk (created, or the source image
//! copied or overlaid), and at the end its conversion and what is kept.

use super::*;

// ---- CD ---------------------------------------------------------------------

pub struct CreateCd<'a> {
    pub cfg: &'a QemuConfig,
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    if from.is_dir() {
        std::fs::create_dir_all(to)?;
        for e in std::fs::read_dir(from)? {
            let e = e?;
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        }
        Ok(())
    } else {
        std::fs::copy(from, to).map(|_| ())
    }
}

#[async_trait]
impl Step<State> for CreateCd<'_> {
    fn name(&self) -> &'static str {
        "StepCreateCD"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        if self.cfg.cd_files.is_empty() && self.cfg.cd_content.is_empty() {
            return Ok(());
        }
        ctx.ui.say("Creating CD disk...");
        let scratch = s.scratch()?;
        let root = scratch.join("cd");
        std::fs::create_dir_all(&root).map_err(|e| failed(e.to_string()))?;
        for pattern in &self.cfg.cd_files {
            // A directory with a trailing slash contributes its contents, as Packer.
            let contents_only = pattern.ends_with('/');
            let matches = glob_paths(pattern.trim_end_matches('/'));
            if matches.is_empty() {
                return Err(failed(format!("cd_files: {pattern} matches nothing")));
            }
            for m in matches {
                let dest = if contents_only {
                    root.clone()
                } else {
                    root.join(m.file_name().unwrap_or_default())
                };
                copy_tree(&m, &dest)
                    .map_err(|e| failed(format!("cd_files: copying {}: {e}", m.display())))?;
            }
        }
        for (name, body) in &self.cfg.cd_content {
            let p = root.join(name.trim_start_matches('/'));
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent).map_err(|e| failed(e.to_string()))?;
            }
            std::fs::write(&p, body).map_err(|e| failed(format!("cd_content {name}: {e}")))?;
        }
        let iso = scratch.join("cd.iso");
        let (iso_s, root_s) = (
            iso.to_string_lossy().to_string(),
            root.to_string_lossy().to_string(),
        );
        tool(
            "xorriso",
            &[
                "-as",
                "mkisofs",
                "-quiet",
                "-V",
                &self.cfg.cd_label,
                "-J",
                "-R",
                "-o",
                &iso_s,
                &root_s,
            ],
        )
        .await?;
        ctx.ui.message(&format!(
            "Done copying paths from CD_dirs and CD_files to {iso_s}"
        ));
        s.cd = Some(iso);
        Ok(())
    }
}

/// Paths matching a glob (`*`, `?`, `[…]`) or the path itself.
pub(super) fn glob_paths(pattern: &str) -> Vec<PathBuf> {
    if !pattern.contains(['*', '?', '[']) {
        let p = PathBuf::from(pattern);
        return if p.exists() { vec![p] } else { Vec::new() };
    }
    let Ok(glob) = globset::Glob::new(pattern) else {
        return Vec::new();
    };
    let m = glob.compile_matcher();
    let base = pattern.split(['*', '?', '[']).next().unwrap_or("");
    let base = Path::new(base)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(base)
        .into_iter()
        .flatten()
        .map(|e| e.path().to_path_buf())
        .filter(|p| m.is_match(p.strip_prefix("./").unwrap_or(p)))
        .collect();
    out.sort();
    out
}

// ---- disk -------------------------------------------------------------------

pub struct CreateDisk<'a> {
    pub cfg: &'a QemuConfig,
}

async fn image_format(path: &Path) -> Result<String, String> {
    let info = tool(
        "qemu-img",
        &["info", "--output=json", &path.to_string_lossy()],
    )
    .await?;
    let v: serde_json::Value =
        serde_json::from_str(&info).map_err(|e| format!("qemu-img info: {e}"))?;
    Ok(v.get("format")
        .and_then(|f| f.as_str())
        .unwrap_or("raw")
        .to_string())
}

#[async_trait]
impl Step<State> for CreateDisk<'_> {
    fn name(&self) -> &'static str {
        "StepCreateDisk"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        let disk = s.disk.to_string_lossy().to_string();
        let src = std::fs::canonicalize(&c.source)
            .map_err(|e| failed(format!("{}: {e}", c.source.display())))?;
        let src_s = src.to_string_lossy().to_string();
        if c.disk_image {
            let src_fmt = image_format(&src).await?;
            if c.use_backing_file {
                ctx.ui.say(&format!("Creating a disk backed by {src_s}..."));
                tool(
                    "qemu-img",
                    &["create", "-f", "qcow2", "-b", &src_s, "-F", &src_fmt, &disk],
                )
                .await?;
            } else {
                ctx.ui
                    .say(&format!("Copying hard drive {src_s} to {disk}..."));
                tool(
                    "qemu-img",
                    &["convert", "-f", &src_fmt, "-O", &c.format, &src_s, &disk],
                )
                .await?;
            }
            if let (Some(size), false) = (&c.disk_size, c.skip_resize_disk) {
                ctx.ui.say(&format!("Resizing hard drive to {size}..."));
                tool(
                    "qemu-img",
                    &["resize", "-f", &c.format, &disk, &qemu_size(size)],
                )
                .await?;
            }
        } else {
            let size = qemu_size(c.disk_size.as_deref().unwrap_or("40960M"));
            ctx.ui.say(&format!(
                "Creating required virtual machine disks ({size})..."
            ));
            tool("qemu-img", &["create", "-f", &c.format, &disk, &size]).await?;
        }
        for (path, size) in s.extra_disks.iter().zip(&c.disk_additional_size) {
            let (path, size) = (path.to_string_lossy(), qemu_size(size));
            ctx.ui
                .say(&format!("Creating additional disk {path} ({size})..."));
            tool("qemu-img", &["create", "-f", &c.format, &path, &size]).await?;
        }
        Ok(())
    }
}

/// Packer's disk sizes: a bare number is MiB.
fn qemu_size(s: &str) -> String {
    if s.chars().all(|c| c.is_ascii_digit()) {
        format!("{s}M")
    } else {
        s.trim_end_matches(['b', 'B']).to_string()
    }
}

// ---- convert / compact ---------------------------------------------------------------

pub struct ConvertDisk<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for ConvertDisk<'_> {
    fn name(&self) -> &'static str {
        "StepConvertDisk"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        if c.skip_compaction || c.use_backing_file || (c.format != "qcow2") {
            return Ok(());
        }
        ctx.ui.say(&format!(
            "Converting hard drive{}...",
            if c.disk_compression {
                " (compressed)"
            } else {
                ""
            }
        ));
        let tmp = s.disk.with_extension("kiln-convert");
        let (disk, tmp_s) = (
            s.disk.to_string_lossy().to_string(),
            tmp.to_string_lossy().to_string(),
        );
        // Parallel, out-of-order writes; zstd when compressing (qemu >= 5.1
        // reads it; far faster than zlib, which made this step minutes long).
        let mut args = vec!["convert", "-m", "4", "-W", "-O", c.format.as_str()];
        if c.disk_compression {
            args.extend(["-c", "-o", "compression_type=zstd"]);
        }
        args.extend([disk.as_str(), tmp_s.as_str()]);
        let r = tool("qemu-img", &args).await;
        if let Err(e) = r {
            let _ = std::fs::remove_file(&tmp);
            return Err(failed(e));
        }
        std::fs::rename(&tmp, &s.disk).map_err(|e| failed(format!("renaming {tmp_s}: {e}")))?;
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, _ctx: &BuildContext) {
        let _ = std::fs::remove_file(s.disk.with_extension("kiln-convert"));
    }
}

/// Marks the build good: the output directory stays.
pub struct Keep;

#[async_trait]
impl Step<State> for Keep {
    fn name(&self) -> &'static str {
        "StepKeep"
    }
    async fn run(&self, s: &mut State, _ctx: &BuildContext) -> Result<(), BuildError> {
        s.succeeded = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_mebibytes_when_bare() {
        assert_eq!(qemu_size("40960"), "40960M");
        assert_eq!(qemu_size("2G"), "2G");
        assert_eq!(qemu_size("10GB"), "10G");
    }
}
