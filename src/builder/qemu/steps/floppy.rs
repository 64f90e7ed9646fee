//! The floppy (`floppy_files`, `floppy_dirs`, `floppy_content`): a 1.44 MB
//! FAT12 image, labelled `floppy_label`, written in-process as Packer writes
//! it, attached with `-fda`. `floppy_files` land in the root (Packer
//! flattens them), `floppy_dirs` keep their trees, `floppy_content` its paths.

use super::*;
use std::io::Write;

pub struct CreateFloppy<'a> {
    pub cfg: &'a QemuConfig,
}

const FLOPPY_BYTES: u64 = 1_474_560;

type Dir<'a> = fatfs::Dir<'a, std::fs::File>;

fn add_file(dir: &Dir, name: &str, body: &[u8]) -> Result<(), String> {
    let mut f = dir.create_file(name).map_err(|e| format!("{name}: {e}"))?;
    f.truncate().map_err(|e| format!("{name}: {e}"))?;
    f.write_all(body)
        .map_err(|e| format!("{name}: {e} (a floppy holds 1.44 MB)"))
}

/// `path` (a directory) into `dir` under its own name, recursively.
fn add_tree(dir: &Dir, path: &Path) -> Result<(), String> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    if path.is_dir() {
        let sub = dir.create_dir(&name).map_err(|e| format!("{name}: {e}"))?;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            add_tree(&sub, &e)?;
        }
        Ok(())
    } else {
        add_file(
            dir,
            &name,
            &std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )
    }
}

/// The directory at `path` below `root` (made as needed), and the file name.
fn parent_of<'a>(root: &Dir<'a>, path: &str) -> Result<(Dir<'a>, String), String> {
    let mut parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let name = parts
        .pop()
        .ok_or_else(|| format!("floppy_content: {path:?} names no file"))?
        .to_string();
    let mut dir = root.clone();
    for p in parts {
        dir = match dir.open_dir(p) {
            Ok(d) => d,
            Err(_) => dir.create_dir(p).map_err(|e| format!("{p}: {e}"))?,
        };
    }
    Ok((dir, name))
}

fn write_floppy(c: &QemuConfig, image: &Path) -> Result<(), String> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(image)
        .map_err(|e| format!("{}: {e}", image.display()))?;
    file.set_len(FLOPPY_BYTES).map_err(|e| e.to_string())?;
    let mut label = [b' '; 11];
    for (i, b) in c
        .floppy_label
        .to_ascii_uppercase()
        .bytes()
        .take(11)
        .enumerate()
    {
        label[i] = b;
    }
    // A standard 3.5" 1.44 MB floppy, as mkfs.fat makes one: 80 cylinders
    // of 2 heads by 18 sectors, one-sector clusters, 224 root entries.
    let options = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat12)
        .volume_label(label)
        .media(0xF0)
        .sectors_per_track(18)
        .heads(2)
        .bytes_per_cluster(512)
        .max_root_dir_entries(224);
    fatfs::format_volume(&file, options).map_err(|e| format!("formatting the floppy: {e}"))?;
    let fs = fatfs::FileSystem::new(file, fatfs::FsOptions::new())
        .map_err(|e| format!("the floppy: {e}"))?;
    let root = fs.root_dir();
    for pattern in &c.floppy_files {
        let matches = super::media::glob_paths(pattern);
        if matches.is_empty() {
            return Err(format!("floppy_files: {pattern} matches nothing"));
        }
        for m in matches {
            if m.is_dir() {
                add_tree(&root, &m)?;
            } else {
                let name = m
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                add_file(
                    &root,
                    &name,
                    &std::fs::read(&m).map_err(|e| format!("{}: {e}", m.display()))?,
                )?;
            }
        }
    }
    for d in &c.floppy_dirs {
        let p = Path::new(d.trim_end_matches('/'));
        if !p.is_dir() {
            return Err(format!("floppy_dirs: {d} is not a directory"));
        }
        add_tree(&root, p)?;
    }
    for (path, body) in &c.floppy_content {
        let (dir, name) = parent_of(&root, path)?;
        add_file(&dir, &name, body.as_bytes())?;
    }
    drop(root);
    fs.unmount().map_err(|e| format!("the floppy: {e}"))
}

#[async_trait]
impl Step<State> for CreateFloppy<'_> {
    fn name(&self) -> &'static str {
        "StepCreateFloppy"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        if c.floppy_files.is_empty() && c.floppy_dirs.is_empty() && c.floppy_content.is_empty() {
            return Ok(());
        }
        ctx.ui.say("Creating floppy disk...");
        let image = s.scratch()?.join("floppy.img");
        write_floppy(c, &image).map_err(|e| failed(format!("Error creating floppy: {e}")))?;
        s.floppy = Some(image);
        Ok(())
    }
}
