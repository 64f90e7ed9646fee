//! File writes that never damage what they replace: no half-written or
//! truncated file, and no device, FIFO or socket replaced by a regular file
//! (kiln often runs as root, where `rename` over `/dev/null` succeeds).

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Write `bytes` to `path`, whatever `path` is:
///
/// - a new path, or a regular file with one link that kiln may replace
///   with an identical owner and mode: atomically (a temp file in the same
///   directory, fsync, the old file's mode, owner and group, rename over it,
///   fsync the directory); on any error `path` is untouched;
/// - a regular file that a rename would change (more than one hard link, an
///   owner kiln cannot give the new file, a directory kiln may not write
///   in): in place, after reserving the space, so that a full disk fails
///   before any byte changes;
/// - a character or block device (`/dev/null`, `/dev/full`): written to as
///   it is, and its error (no space left on device) reported;
/// - a FIFO: written to when a reader has it open, else refused (a write
///   would wait forever); a socket or a directory: refused.
///
/// A symlink is followed: its target is written, the link kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let target: PathBuf = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if let Some(mut f) = open_special(&target)? {
        f.write_all(bytes)?;
        return f.flush();
    }
    let meta = match std::fs::metadata(&target) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if meta.as_ref().is_some_and(|m| m.nlink() > 1) {
        return write_in_place(&target, bytes);
    }
    match replace(&target, bytes, meta.as_ref()) {
        Ok(()) => Ok(()),
        // The directory is not ours to write in (read-only, or another
        // user's), or the file's owner cannot be kept: the file itself may
        // still be writable.
        Err(Replace::Cannot(e)) => match meta {
            Some(_) => write_in_place(&target, bytes).map_err(|_| e),
            None => Err(e),
        },
        Err(Replace::Failed(e)) => Err(e),
    }
}

/// `path` opened for writing when it exists and is not a regular file, so
/// that a writer streams into it rather than renaming a file over it: a
/// character or block device, or a FIFO that something reads. A FIFO with
/// no reader (a write would wait forever), a socket and a directory are
/// errors; a regular file or a new path is `None`.
pub fn open_special(path: &Path) -> std::io::Result<Option<std::fs::File>> {
    let ft = match std::fs::metadata(path) {
        Ok(m) => m.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if ft.is_file() {
        return Ok(None);
    }
    if ft.is_dir() {
        return Err(refused("is a directory"));
    }
    if ft.is_socket() {
        return Err(refused("is a socket, not a file"));
    }
    if ft.is_fifo() {
        return open_fifo(path).map(Some);
    }
    // Character and block devices (/dev/null, /dev/full): written as they
    // are; their errors (no space left on device) are the writer's.
    std::fs::OpenOptions::new().write(true).open(path).map(Some)
}

/// Append `bytes` to `path` (created if new), or write them to it when it
/// is a device or a read FIFO ([`open_special`]).
pub fn append(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(mut f) = open_special(path)? {
        f.write_all(bytes)?;
        return f.flush();
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

enum Replace {
    /// Nothing was written; another way may work.
    Cannot(std::io::Error),
    /// The write itself failed (a full disk): no other way will do better.
    Failed(std::io::Error),
}

fn refused(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string())
}

fn replace(target: &Path, bytes: &[u8], old: Option<&std::fs::Metadata>) -> Result<(), Replace> {
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tf = tempfile::Builder::new()
        .prefix(".kiln-")
        .tempfile_in(dir)
        .map_err(Replace::Cannot)?;
    tf.write_all(bytes).map_err(Replace::Failed)?;
    tf.as_file().sync_all().map_err(Replace::Failed)?;
    let mode = old.map_or(0o644, |m| m.permissions().mode());
    std::fs::set_permissions(tf.path(), std::fs::Permissions::from_mode(mode))
        .map_err(Replace::Cannot)?;
    if let Some(m) = old {
        let mine = tf.as_file().metadata().map_err(Replace::Cannot)?;
        if (mine.uid(), mine.gid()) != (m.uid(), m.gid()) {
            std::os::unix::fs::fchown(tf.as_file(), Some(m.uid()), Some(m.gid()))
                .map_err(Replace::Cannot)?;
            // chown clears set-id bits; the mode is the old file's again.
            std::fs::set_permissions(tf.path(), std::fs::Permissions::from_mode(mode))
                .map_err(Replace::Cannot)?;
        }
    }
    tf.persist(target).map_err(|e| Replace::Cannot(e.error))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Overwrite a regular file's contents, keeping the file itself (its
/// links, owner, mode). The space is reserved first, so a full disk is an
/// error before the old contents change.
fn write_in_place(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut f = std::fs::OpenOptions::new().write(true).open(target)?;
    let len = i64::try_from(bytes.len()).map_err(|_| refused("too large"))?;
    if len > 0 {
        // SAFETY: a valid open descriptor; the range is within i64.
        let r = unsafe { libc::posix_fallocate(f.as_raw_fd(), 0, len) };
        // EOPNOTSUPP / EINVAL: a file system without it; write regardless.
        if r != 0 && r != libc::EOPNOTSUPP && r != libc::EINVAL {
            return Err(std::io::Error::from_raw_os_error(r));
        }
    }
    f.write_all(bytes)?;
    f.set_len(bytes.len() as u64)?;
    f.sync_all()
}

/// A FIFO opened for writing only when something reads it: opening one
/// with no reader would block forever.
fn open_fifo(target: &Path) -> std::io::Result<std::fs::File> {
    use std::os::fd::AsRawFd;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(target)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENXIO) => refused("is a FIFO that nothing reads"),
            _ => e,
        })?;
    // Blocking again from here: a slow reader is waited for, not an error.
    // SAFETY: F_GETFL/F_SETFL on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK);
        }
    }
    Ok(f)
}

/// Create `path` with mode 0600 from the start (a private key must never be
/// readable by others, not even for a moment), replacing any old file.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The contents of `path` when it is a regular file (a symlink to one
/// included). Anything else is refused rather than read: a FIFO would block
/// forever, `/dev/zero` would never end, a socket cannot be read at all.
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    // Non-blocking open, so that a FIFO with no writer cannot hang it.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        let ft = meta.file_type();
        let what = if ft.is_dir() {
            "a directory"
        } else if ft.is_fifo() {
            "a FIFO (named pipe)"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("is {what}, not a regular file"),
        ));
    }
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.utf8_error()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_at_once_not_waited_on() {
        let dir = tempfile::tempdir().expect("tmp");
        let fifo = dir.path().join("f.pkr.hcl");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf8")).expect("path");
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = read_regular(&fifo).expect_err("a FIFO");
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = write_atomic(&fifo, b"x").expect_err("no reader");
        assert!(e.to_string().contains("nothing reads"), "{e}");
        assert!(std::fs::metadata(&fifo)
            .expect("still there")
            .file_type()
            .is_fifo());
    }

    #[test]
    fn a_rewrite_keeps_hard_links_and_mode() {
        let dir = tempfile::tempdir().expect("tmp");
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, "old contents, longer than the new").expect("write");
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        std::fs::hard_link(&a, &b).expect("link");
        write_atomic(&a, b"new").expect("rewrite");
        assert_eq!(std::fs::read(&b).expect("b"), b"new");
        let (ma, mb) = (
            std::fs::metadata(&a).expect("a"),
            std::fs::metadata(&b).expect("b"),
        );
        assert_eq!(ma.ino(), mb.ino());
        assert_eq!(ma.permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_device_is_written_to_not_replaced() {
        write_atomic(Path::new("/dev/null"), b"x").expect("/dev/null takes it");
        assert!(std::fs::metadata("/dev/null")
            .expect("null")
            .file_type()
            .is_char_device());
        if Path::new("/dev/full").exists() {
            let e = write_atomic(Path::new("/dev/full"), b"x").expect_err("full");
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
        }
    }
}
