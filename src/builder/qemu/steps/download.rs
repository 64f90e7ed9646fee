//! The source image: downloaded when `iso_url` is http(s) — into Packer's
//! cache, reused while its checksum holds, each URL of `iso_urls` tried in
//! turn, never half-written under its final name — and its checksum
//! verified (`iso_checksum`: a digest, `type:digest`, or `file:` a checksums
//! file, local or http(s)).

use super::*;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};

pub struct VerifySource<'a> {
    pub cfg: &'a QemuConfig,
}

/// The name a checksums file lists the image under: the URL's last segment.
fn listed_name(c: &QemuConfig) -> String {
    match c.remote.first() {
        Some(u) => u
            .split(['?', '#'])
            .next()
            .unwrap_or(u)
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string(),
        None => c
            .source
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default(),
    }
}

/// Whether `path` holds what the checksum says (`Ok(None)`), or what it holds instead.
fn verify(path: &Path, want: Option<&(String, String)>) -> Result<Option<String>, String> {
    let Some((kind, want)) = want else {
        return Ok(None);
    };
    let got = hash_file(path, kind)?;
    Ok(if &got == want { None } else { Some(got) })
}

#[async_trait]
impl Step<State> for VerifySource<'_> {
    fn name(&self) -> &'static str {
        "StepDownload"
    }
    async fn run(&self, _s: &mut State, ctx: &BuildContext) -> Result<(), BuildError> {
        let c = self.cfg;
        let (spec, name) = (c.checksum.clone(), listed_name(c));
        let want = match spec {
            Some(spec) => Some(blocking(move || expected_checksum(&spec, &name)).await?),
            None => None,
        };
        if c.remote.is_empty() {
            let Some(w) = want else { return Ok(()) };
            ctx.ui.say(&format!(
                "Verifying {} checksum of {}...",
                w.0,
                c.source.display()
            ));
            let (path, w2) = (c.source.clone(), w.clone());
            if let Some(got) = blocking(move || verify(&path, Some(&w2))).await? {
                return Err(failed(format!(
                    "Checksum did not match for {}: expected {}:{}, got {got}",
                    c.source.display(),
                    w.0,
                    w.1
                )));
            }
            return Ok(());
        }
        let target = c.source.clone();
        if target.exists() {
            let (path, w) = (target.clone(), want.clone());
            if blocking(move || verify(&path, w.as_ref())).await?.is_none() {
                ctx.ui.say(&format!(
                    "Using the downloaded {} (its checksum holds)",
                    target.display()
                ));
                return Ok(());
            }
        }
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| failed(format!("creating {}: {e}", dir.display())))?;
        }
        let mut errors = Vec::new();
        for url in &c.remote {
            ctx.ui
                .say(&format!("Downloading {url} to {}...", target.display()));
            let stop = Arc::new(AtomicBool::new(false));
            let _stop_on_drop = StopOnDrop(stop.clone());
            let (u, t, w) = (url.clone(), target.clone(), want.clone());
            let got = tokio::task::spawn_blocking(move || download(&u, &t, w.as_ref(), &stop))
                .await
                .map_err(|e| failed(e.to_string()))?;
            match got {
                Ok(bytes) => {
                    ctx.ui.message(&format!("Downloaded {bytes} bytes"));
                    return Ok(());
                }
                Err(e) => {
                    ctx.ui.error(&format!("Download of {url} failed: {e}"));
                    errors.push(format!("{url}: {e}"));
                }
            }
        }
        Err(failed(format!(
            "Error downloading the image: {}",
            errors.join("; ")
        )))
    }
}

/// Hashing and reading files, off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, BuildError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(failed)
}

/// Tells a download thread to stop (and remove its partial file) when the
/// step's future is dropped — an interrupt.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_body(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A small text file over http(s) (a checksums file).
fn fetch_text(url: &str) -> Result<String, String> {
    let mut r = agent()
        .get(url)
        .call()
        .map_err(|e| format!("iso_checksum file {url}: {e}"))?;
    r.body_mut()
        .with_config()
        .limit(16 << 20)
        .read_to_string()
        .map_err(|e| format!("iso_checksum file {url}: {e}"))
}

/// Download `url` to `target` through `target.part`, checked against
/// `want` before it takes the final name; the bytes written.
fn download(
    url: &str,
    target: &Path,
    want: Option<&(String, String)>,
    stop: &AtomicBool,
) -> Result<u64, String> {
    let part = target.with_extension(format!(
        "{}part",
        target
            .extension()
            .map(|e| format!("{}.", e.to_string_lossy()))
            .unwrap_or_default()
    ));
    let r = (|| {
        let mut resp = agent().get(url).call().map_err(|e| e.to_string())?;
        let mut body = resp.body_mut().as_reader();
        let mut f = std::fs::File::create(&part).map_err(|e| format!("{}: {e}", part.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Err("interrupted".to_string());
            }
            let n = body.read(&mut buf).map_err(|e| e.to_string())?;
            if n == 0 {
                break;
            }
            f.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", part.display()))?;
            total += n as u64;
        }
        f.sync_all()
            .map_err(|e| format!("{}: {e}", part.display()))?;
        if let Some(got) = verify(&part, want)? {
            let (kind, w) = want
                .map(|(k, w)| (k.as_str(), w.as_str()))
                .unwrap_or_default();
            return Err(format!(
                "Checksum did not match: expected {kind}:{w}, got {got}"
            ));
        }
        std::fs::rename(&part, target).map_err(|e| format!("{}: {e}", target.display()))?;
        Ok(total)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    r
}

fn hash_file(path: &Path, kind: &str) -> Result<String, String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; 1 << 20];
    macro_rules! digest {
        ($h:expr) => {{
            let mut h = $h;
            loop {
                let n = f
                    .read(&mut buf)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
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
        other => {
            return Err(format!(
                "unsupported checksum type {other:?} (md5, sha1, sha256, sha512)"
            ))
        }
    })
}

/// `type:value`, `file:PATH` or `file:https://…` (a checksums file) or a
/// bare hex digest; `name` is the image's file name, which a checksums
/// file's line names.
fn expected_checksum(spec: &str, name: &str) -> Result<(String, String), String> {
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
        let text = if crate::builder::qemu::config::is_remote(file) {
            fetch_text(file)?
        } else {
            std::fs::read_to_string(file).map_err(|e| format!("iso_checksum file {file}: {e}"))?
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_specs() {
        let p = "disk.img";
        assert_eq!(
            expected_checksum("sha256:ABC", p).ok(),
            Some(("sha256".into(), "abc".into()))
        );
        assert_eq!(
            expected_checksum(&"a".repeat(64), p).ok(),
            Some(("sha256".into(), "a".repeat(64)))
        );
        assert_eq!(
            expected_checksum(&"b".repeat(32), p).ok(),
            Some(("md5".into(), "b".repeat(32)))
        );
        assert!(expected_checksum("abc", p).is_err());
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("SHA256SUMS");
        std::fs::write(
            &f,
            format!(
                "{}  other.img\n{} *disk.img\n",
                "0".repeat(64),
                "1".repeat(64)
            ),
        )
        .expect("write");
        assert_eq!(
            expected_checksum(&format!("file:{}", f.display()), p).ok(),
            Some(("sha256".into(), "1".repeat(64)))
        );
    }
}
