//! Before anything is made: the accelerator, the output directory, the
//! source image's checksum.

use super::*;

// ---- accelerator ------------------------------------------------------------

pub struct Accelerator<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for Accelerator<'_> {
    fn name(&self) -> &'static str {
        "StepAccelerator"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let (accel, note) = accel::resolve(self.cfg.accelerator);
        if let Some(n) = note {
            ctx.ui.say(&n);
        }
        s.accel = accel;
        Ok(())
    }
}

// ---- output directory -------------------------------------------------------

pub struct PrepareOutputDir<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for PrepareOutputDir<'_> {
    fn name(&self) -> &'static str {
        "StepPrepareOutputDir"
    }
    async fn run(&self, s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let dir = &self.cfg.output_directory;
        if dir.exists() {
            if !ctx.force {
                return Err(failed(format!("Output directory exists: {}\n\nUse the force flag to delete it prior to building.", dir.display())));
            }
            ctx.ui.say("Deleting previous output directory...");
            std::fs::remove_dir_all(dir).map_err(|e| failed(format!("deleting {}: {e}", dir.display())))?;
        }
        std::fs::create_dir_all(dir).map_err(|e| failed(format!("creating {}: {e}", dir.display())))?;
        s.output_created = true;
        Ok(())
    }
    async fn cleanup(&self, s: &mut State, ctx: &BuildContext) {
        if s.output_created && !s.succeeded {
            ctx.ui.say("Deleting output directory...");
            let _ = std::fs::remove_dir_all(&self.cfg.output_directory);
        }
    }
}

// ---- checksum -----------------------------------------------------------------

fn hash_file(path: &Path, kind: &str) -> Result<String, String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    macro_rules! digest {
        ($h:expr) => {{
            let mut h = $h;
            loop {
                let n = f.read(&mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            hex::encode(h.finalize())
        }};
    }
    Ok(match kind {
        "md5" => digest!(md5::Md5::new()),
        "sha1" => digest!(sha1::Sha1::new()),
        "sha256" => digest!(sha2::Sha256::new()),
        "sha512" => digest!(sha2::Sha512::new()),
        other => return Err(format!("unsupported checksum type {other:?} (md5, sha1, sha256, sha512)")),
    })
}

/// `type:value`, `file:PATH` (a checksums file) or a bare hex digest.
fn expected_checksum(spec: &str, source: &Path) -> Result<(String, String), String> {
    let by_len = |hex: &str| -> Result<String, String> {
        Ok(match hex.len() {
            32 => "md5",
            40 => "sha1",
            64 => "sha256",
            128 => "sha512",
            n => return Err(format!("iso_checksum: cannot tell the hash type of a {n}-digit value; write it as TYPE:VALUE")),
        }
        .to_string())
    };
    if let Some(file) = spec.strip_prefix("file:") {
        let file = file.strip_prefix("//").unwrap_or(file);
        let text = std::fs::read_to_string(file).map_err(|e| format!("iso_checksum file {file}: {e}"))?;
        let name = source.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        for line in text.lines() {
            // "HEX  name", "HEX *name" or BSD "SHA256 (name) = HEX".
            if let Some((lhs, hex)) = line.split_once(") = ") {
                if lhs.ends_with(&format!("({name}")) {
                    let kind = lhs.split(' ').next().unwrap_or("").to_lowercase();
                    return Ok((kind, hex.trim().to_lowercase()));
                }
            }
            let mut parts = line.split_whitespace();
            if let (Some(hex), Some(n)) = (parts.next(), parts.next()) {
                if n.trim_start_matches('*').trim_start_matches("./") == name {
                    return Ok((by_len(hex)?, hex.to_lowercase()));
                }
            }
        }
        return Err(format!("iso_checksum file {file} has no line for {name}"));
    }
    match spec.split_once(':') {
        Some((kind, hex)) => Ok((kind.to_lowercase(), hex.to_lowercase())),
        None => Ok((by_len(spec)?, spec.to_lowercase())),
    }
}

pub struct VerifySource<'a> {
    pub cfg: &'a QemuConfig,
}

#[async_trait]
impl Step<State> for VerifySource<'_> {
    fn name(&self) -> &'static str {
        "StepDownload"
    }
    async fn run(&self, _s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let Some(spec) = &self.cfg.checksum else { return Ok(()) };
        let (kind, want) = expected_checksum(spec, &self.cfg.source)?;
        ctx.ui.say(&format!("Verifying {kind} checksum of {}...", self.cfg.source.display()));
        let (path, k) = (self.cfg.source.clone(), kind.clone());
        let got = tokio::task::spawn_blocking(move || hash_file(&path, &k)).await.map_err(|e| failed(e.to_string()))??;
        if got != want {
            return Err(failed(format!("Checksum did not match for {}: expected {kind}:{want}, got {got}", self.cfg.source.display())));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_specs() {
        let p = Path::new("/x/disk.img");
        assert_eq!(expected_checksum("sha256:ABC", p).ok(), Some(("sha256".into(), "abc".into())));
        assert_eq!(expected_checksum(&"a".repeat(64), p).ok(), Some(("sha256".into(), "a".repeat(64))));
        assert_eq!(expected_checksum(&"b".repeat(32), p).ok(), Some(("md5".into(), "b".repeat(32))));
        assert!(expected_checksum("abc", p).is_err());
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("SHA256SUMS");
        std::fs::write(&f, format!("{}  other.img\n{} *disk.img\n", "0".repeat(64), "1".repeat(64))).expect("write");
        assert_eq!(expected_checksum(&format!("file:{}", f.display()), p).ok(), Some(("sha256".into(), "1".repeat(64))));
    }
}
