//! File writes that never leave a half-written or truncated file.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` atomically: a temp file in the same directory,
/// fsync, the old file's permissions, rename over it, fsync the directory.
/// A symlink is followed (its target is replaced, the link kept). On any
/// error (a full disk, say) the temp file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target: PathBuf = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tf = tempfile::Builder::new().prefix(".kiln-").tempfile_in(dir)?;
    tf.write_all(bytes)?;
    tf.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target)
            .map(|m| m.permissions().mode())
            .unwrap_or(0o644);
        std::fs::set_permissions(tf.path(), std::fs::Permissions::from_mode(mode))?;
    }
    tf.persist(&target).map_err(|e| e.error)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Create `path` with mode 0600 from the start (a private key must never be
/// readable by others, not even for a moment), replacing any old file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
