//! compress: pack the artifact's files into one archive, the format chosen
//! by the output's extension as Packer chooses it: `.tar.gz`/`.tgz`,
//! `.tar`, `.zip`, `.gz`, `.bgzf`, `.lz4`, `.xz` (the single-stream formats
//! take one file; `.tar.` + those pack several).

use super::PostProcessor;
use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::runner::interpolate::render_fields;
use crate::runner::{Artifact, BuildContext, BuildError};
use async_trait::async_trait;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The compress post-processor's options (Packer's names).
#[derive(Options)]
pub struct CompressOptions {
    /// The archive's path, a template; its extension picks the format.
    output: String,
    /// The format as an extension (`tar.gz`, `zip`, `lz4`...), read in
    /// place of `output`'s own, which is then left as it is (as Packer).
    format: String,
    /// -1 (the format's default) to 9.
    compression_level: Option<i64>,
    /// Keep the artifact it was given.
    keep_input_artifact: bool,
}

pub const FIELDS: &[Field] = CompressOptions::FIELDS;

const DEFAULT_OUTPUT: &str = "packer_{{.BuildName}}_{{.BuilderType}}.tar.gz";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Codec {
    None,
    Gzip,
    Bgzf,
    Lz4,
    Xz,
    Zip,
}

/// (packs several files into a tar first, codec)
fn format_of(name: &str) -> Result<(bool, Codec), String> {
    let n = name.to_ascii_lowercase();
    let (tar, rest) = if let Some(stem) = n.strip_suffix(".tgz") {
        (true, format!("{stem}.gz"))
    } else {
        (n.contains(".tar"), n.clone())
    };
    let codec = if rest.ends_with(".zip") {
        Codec::Zip
    } else if rest.ends_with(".gz") {
        Codec::Gzip
    } else if rest.ends_with(".bgzf") {
        Codec::Bgzf
    } else if rest.ends_with(".lz4") {
        Codec::Lz4
    } else if rest.ends_with(".xz") {
        Codec::Xz
    } else if rest.ends_with(".tar") {
        Codec::None
    } else {
        return Err(format!("output {name:?}: unknown archive format; use .tar.gz, .tgz, .tar, .zip, .gz, .bgzf, .lz4 or .xz"));
    };
    Ok((tar && codec != Codec::Zip, codec))
}

pub fn validate(c: &Config) -> Vec<String> {
    match CompressOptions::from_config(c) {
        Ok(o) => check(&o),
        Err(e) => vec![e],
    }
}

fn check(o: &CompressOptions) -> Vec<String> {
    let mut errs = Vec::new();
    if !o.output.is_empty() || !o.format.is_empty() {
        if let Err(e) = format_of(&format_name(&o.output, &o.format)) {
            errs.push(e);
        }
    }
    if let Some(l) = o.compression_level {
        if !(-1..=9).contains(&l) {
            errs.push(format!(
                "compression_level {l}: must be between -1 (default) and 9"
            ));
        }
    }
    errs
}

pub struct Compress {
    output: String,
    format: String,
    level: u32,
    keep: bool,
}

/// The name the archive's format is read from: `output`, or with `format`
/// set, `output.format` (Packer's rule: `format` wins over the extension).
fn format_name(output: &str, format: &str) -> String {
    if format.is_empty() {
        output.to_string()
    } else {
        format!("{output}.{}", format.trim_start_matches('.'))
    }
}

impl Compress {
    pub fn new(c: &Config) -> Result<Compress, String> {
        let o = CompressOptions::from_config(c)?;
        let errs = check(&o);
        if !errs.is_empty() {
            return Err(errs.join("\n"));
        }
        let level = match o.compression_level {
            None | Some(-1) => 6,
            Some(l) => l as u32,
        };
        let output = match o.output {
            s if s.is_empty() => DEFAULT_OUTPUT.into(),
            s => s,
        };
        Ok(Compress {
            output,
            format: o.format,
            level,
            keep: o.keep_input_artifact,
        })
    }
}

/// A writer that fails once the build is cancelled, so a long compression
/// stops promptly.
struct Cancellable<W> {
    inner: W,
    cancel: Arc<AtomicBool>,
}

impl<W: Write> Write for Cancellable<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "cancelled",
            ));
        }
        self.inner.write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// BGZF: gzip members of at most 64 KiB of input, each with the `BC` extra
/// field giving the member's size, then the standard empty EOF member.
struct Bgzf<W: Write> {
    out: W,
    buf: Vec<u8>,
    level: u32,
}

const BGZF_BLOCK: usize = 0xff00;
const BGZF_EOF: [u8; 28] = [
    0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, 0x42, 0x43, 2, 0, 0x1b, 0, 3, 0, 0, 0, 0, 0, 0, 0,
    0, 0,
];

impl<W: Write> Bgzf<W> {
    fn block(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut deflated = Vec::new();
        let mut enc =
            flate2::write::DeflateEncoder::new(&mut deflated, flate2::Compression::new(self.level));
        enc.write_all(data)?;
        enc.finish()?;
        let bsize = 18 + deflated.len() + 8 - 1;
        let mut h = vec![
            0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0, b'B', b'C', 2, 0,
        ];
        h.extend_from_slice(&(bsize as u16).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&deflated)?;
        let mut crc = flate2::Crc::new();
        crc.update(data);
        self.out.write_all(&crc.sum().to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())
    }
    fn finish(mut self) -> std::io::Result<W> {
        let rest = std::mem::take(&mut self.buf);
        if !rest.is_empty() {
            self.block(&rest)?;
        }
        self.out.write_all(&BGZF_EOF)?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Bgzf<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        while self.buf.len() >= BGZF_BLOCK {
            let rest = self.buf.split_off(BGZF_BLOCK);
            let block = std::mem::replace(&mut self.buf, rest);
            self.block(&block)?;
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn copy_into(w: &mut dyn Write, path: &Path) -> std::io::Result<()> {
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, w).map(|_| ())
}

/// Write `files` to `w` (through `codec`); for tar, each under its file name.
fn pack(
    w: Box<dyn Write>,
    files: &[PathBuf],
    tar: bool,
    codec: Codec,
    level: u32,
) -> std::io::Result<()> {
    let body = |w: &mut dyn Write| -> std::io::Result<()> {
        if tar {
            let mut t = tar::Builder::new(w);
            for f in files {
                let name = f
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| f.clone());
                t.append_path_with_name(f, name)?;
            }
            t.into_inner()?.flush()
        } else {
            copy_into(w, &files[0])
        }
    };
    match codec {
        Codec::None => {
            let mut w = w;
            body(&mut w)
        }
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(w, flate2::Compression::new(level));
            body(&mut e)?;
            e.finish()?.flush()
        }
        Codec::Bgzf => {
            let mut e = Bgzf {
                out: w,
                buf: Vec::new(),
                level,
            };
            body(&mut e)?;
            e.finish()?.flush()
        }
        Codec::Lz4 => {
            let mut e = lz4_flex::frame::FrameEncoder::new(w);
            body(&mut e)?;
            e.finish().map_err(std::io::Error::other)?.flush()
        }
        Codec::Xz => {
            let mut e = liblzma::write::XzEncoder::new(w, level);
            body(&mut e)?;
            e.finish()?.flush()
        }
        Codec::Zip => Err(std::io::Error::other("zip is written by pack_zip")),
    }
}

fn pack_zip(out: std::fs::File, files: &[PathBuf], level: u32) -> std::io::Result<()> {
    let mut z = zip::ZipWriter::new(out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(level as i64))
        .large_file(true);
    for f in files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        z.start_file(name, opts).map_err(std::io::Error::other)?;
        let mut src = std::fs::File::open(f)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = src.read(&mut buf)?;
            if n == 0 {
                break;
            }
            z.write_all(&buf[..n])?;
        }
    }
    z.finish().map_err(std::io::Error::other)?.sync_all()
}

#[async_trait]
impl PostProcessor for Compress {
    async fn process(
        &self,
        ctx: &BuildContext,
        input: Artifact,
    ) -> Result<(Artifact, bool), BuildError> {
        let generated = ctx.generated();
        let fields = [
            ("BuildName", ctx.build_name.as_str()),
            ("BuilderType", ctx.builder_type.as_str()),
        ];
        let output = PathBuf::from(
            render_fields(&self.output, &fields, &generated)
                .map_err(|e| format!("compress output: {e}"))?,
        );
        let (tar, codec) = format_of(&format_name(&output.to_string_lossy(), &self.format))
            .map_err(BuildError::Failed)?;
        if input.files.is_empty() {
            return Err(BuildError::Failed(
                "compress: the artifact has no files to compress".into(),
            ));
        }
        if !tar && codec != Codec::Zip && input.files.len() > 1 {
            return Err(BuildError::Failed(format!("compress: {} files cannot go into {} (one stream holds one file); use a .tar.* output", input.files.len(), output.display())));
        }
        ctx.ui.say(&format!(
            "Compressing {} file(s) into {} ...",
            input.files.len(),
            output.display()
        ));
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        // Beside the output, to be renamed over it; a device's or FIFO's
        // archive is made in the temporary directory and copied in.
        let special = std::fs::metadata(&output).is_ok_and(|m| !m.is_file());
        let dir = output
            .parent()
            .filter(|d| !d.as_os_str().is_empty() && !special)
            .map(Path::to_path_buf)
            .unwrap_or_else(|| {
                if special {
                    std::env::temp_dir()
                } else {
                    PathBuf::from(".")
                }
            });
        let tmp = tempfile::Builder::new()
            .prefix(".kiln-compress-")
            .tempfile_in(&dir)
            .map_err(|e| format!("creating a temporary file in {}: {e}", dir.display()))?;
        let cancel = Arc::new(AtomicBool::new(false));
        let (files, level, flag) = (input.files.clone(), self.level, cancel.clone());
        let file = tmp.reopen().map_err(|e| e.to_string())?;
        let job = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if codec == Codec::Zip {
                return pack_zip(file, &files, level);
            }
            let w = Cancellable {
                inner: std::io::BufWriter::with_capacity(1 << 20, file.try_clone()?),
                cancel: flag,
            };
            pack(Box::new(w), &files, tar, codec, level)?;
            file.sync_all()
        });
        let r = tokio::select! {
            r = job => r.map_err(|e| BuildError::Failed(format!("compress: {e}")))?.map_err(|e| BuildError::Failed(format!("compress {}: {e}", output.display()))),
            _ = ctx.cancel.cancelled() => {
                cancel.store(true, Ordering::Relaxed);
                Err(BuildError::Cancelled)
            }
        };
        // On error the temporary file is dropped (removed); no half archive.
        r?;
        // A device or a read FIFO gets the archive's bytes; anything else
        // is replaced whole, never half-written.
        let special = crate::util::fs::open_special(&output)
            .map_err(|e| format!("writing {}: {e}", output.display()))?;
        match special {
            Some(mut to) => {
                let mut from = tmp.reopen().map_err(|e| e.to_string())?;
                std::io::copy(&mut from, &mut to)
                    .map_err(|e| format!("writing {}: {e}", output.display()))?;
            }
            None => {
                tmp.persist(&output)
                    .map_err(|e| format!("writing {}: {}", output.display(), e.error))?;
            }
        }
        let description = format!("compressed artifacts in: {}", output.display());
        Ok((
            Artifact {
                builder_type: "packer.post-processor.compress".into(),
                id: output.display().to_string(),
                files: vec![output],
                description,
                reused: false,
                state: Default::default(),
            },
            self.keep,
        ))
    }
}
