//! File transfer over the SFTP subsystem (`ssh_file_transfer_method =
//! "sftp"`): for machines whose remote side has no `cat`/`tar` to talk to, or
//! where SFTP is the only transfer allowed. The SCP-style default in
//! [`super::ssh`] streams through a remote shell instead.

use russh_sftp::client::SftpSession;
use russh_sftp::protocol::{FileAttributes, FileType};
use std::path::Path;
use tokio::io::{AsyncWriteExt, BufReader};

fn err(what: &str, path: &str, e: impl std::fmt::Display) -> String {
    format!("sftp: {what} {path}: {e}")
}

/// Write the local file `local` to `remote`, keeping its mode.
pub async fn upload(s: &SftpSession, local: &Path, remote: &str) -> Result<(), String> {
    let f = tokio::fs::File::open(local)
        .await
        .map_err(|e| format!("reading {}: {e}", local.display()))?;
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        f.metadata()
            .await
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644)
    };
    let mut rd = BufReader::with_capacity(64 * 1024, f);
    let mut out = s
        .create(remote)
        .await
        .map_err(|e| err("creating", remote, e))?;
    tokio::io::copy_buf(&mut rd, &mut out)
        .await
        .map_err(|e| err("writing", remote, e))?;
    out.shutdown()
        .await
        .map_err(|e| err("closing", remote, e))?;
    chmod(s, remote, mode).await
}

/// Write `data` to `remote`.
pub async fn upload_bytes(s: &SftpSession, data: &[u8], remote: &str) -> Result<(), String> {
    let mut out = s
        .create(remote)
        .await
        .map_err(|e| err("creating", remote, e))?;
    out.write_all(data)
        .await
        .map_err(|e| err("writing", remote, e))?;
    out.shutdown().await.map_err(|e| err("closing", remote, e))
}

async fn chmod(s: &SftpSession, remote: &str, mode: u32) -> Result<(), String> {
    let attrs = FileAttributes {
        permissions: Some(mode),
        ..FileAttributes::empty()
    };
    s.set_metadata(remote, attrs)
        .await
        .map_err(|e| err("setting the mode of", remote, e))
}

/// `mkdir -p remote`.
async fn mkdir_p(s: &SftpSession, remote: &str) -> Result<(), String> {
    let mut path = String::new();
    for part in remote.split('/') {
        if part.is_empty() {
            if path.is_empty() {
                path.push('/');
            }
            continue;
        }
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
        match s.metadata(path.as_str()).await {
            Ok(m) if matches!(m.file_type(), FileType::Dir) => {}
            Ok(_) => return Err(err("creating the directory", &path, "a file is in the way")),
            Err(_) => s
                .create_dir(path.as_str())
                .await
                .map_err(|e| err("creating the directory", &path, e))?,
        }
    }
    Ok(())
}

/// Copy the contents of the local directory into `remote` (created), with
/// modes and symbolic links.
pub async fn upload_dir(s: &SftpSession, local: &Path, remote: &str) -> Result<(), String> {
    mkdir_p(s, remote).await?;
    let mut stack = vec![(
        local.to_path_buf(),
        remote.trim_end_matches('/').to_string(),
    )];
    while let Some((dir, rdir)) = stack.pop() {
        let mut entries = std::fs::read_dir(&dir)
            .map_err(|e| format!("reading {}: {e}", dir.display()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("reading {}: {e}", dir.display()))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let target = format!("{rdir}/{}", e.file_name().to_string_lossy());
            let meta = std::fs::symlink_metadata(&path)
                .map_err(|er| format!("reading {}: {er}", path.display()))?;
            if meta.file_type().is_symlink() {
                let to = std::fs::read_link(&path)
                    .map_err(|er| format!("reading {}: {er}", path.display()))?;
                let _ = s.remove_file(target.as_str()).await;
                // OpenSSH's server reads SSH_FXP_SYMLINK's two paths in the
                // opposite order to the draft (link target first), and so
                // does every client written against it.
                s.symlink(to.to_string_lossy().to_string(), target.as_str())
                    .await
                    .map_err(|er| err("linking", &target, er))?;
            } else if meta.is_dir() {
                if s.metadata(target.as_str()).await.is_err() {
                    s.create_dir(target.as_str())
                        .await
                        .map_err(|er| err("creating the directory", &target, er))?;
                }
                use std::os::unix::fs::PermissionsExt;
                chmod(s, &target, meta.permissions().mode() & 0o7777).await?;
                stack.push((path, target));
            } else {
                upload(s, &path, &target).await?;
            }
        }
    }
    Ok(())
}

/// Copy the remote file to `local`.
pub async fn download(s: &SftpSession, remote: &str, local: &Path) -> Result<(), String> {
    let mut f = s
        .open(remote)
        .await
        .map_err(|e| err("opening", remote, e))?;
    let mut out = tokio::fs::File::create(local)
        .await
        .map_err(|e| format!("writing {}: {e}", local.display()))?;
    tokio::io::copy(&mut f, &mut out)
        .await
        .map_err(|e| err("reading", remote, e))?;
    out.flush()
        .await
        .map_err(|e| format!("writing {}: {e}", local.display()))
}

/// Copy the contents of the remote directory into `local` (created).
pub async fn download_dir(s: &SftpSession, remote: &str, local: &Path) -> Result<(), String> {
    let mut stack = vec![(
        remote.trim_end_matches('/').to_string(),
        local.to_path_buf(),
    )];
    while let Some((rdir, dir)) = stack.pop() {
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let entries = s
            .read_dir(rdir.as_str())
            .await
            .map_err(|e| err("listing", &rdir, e))?;
        for e in entries {
            let name = e.file_name();
            if name == "." || name == ".." {
                continue;
            }
            let rpath = format!("{rdir}/{name}");
            let lpath = dir.join(&name);
            match e.file_type() {
                FileType::Dir => stack.push((rpath, lpath)),
                FileType::Symlink => {
                    let to = s
                        .read_link(rpath.as_str())
                        .await
                        .map_err(|er| err("reading the link", &rpath, er))?;
                    let _ = std::fs::remove_file(&lpath);
                    std::os::unix::fs::symlink(to, &lpath)
                        .map_err(|er| format!("linking {}: {er}", lpath.display()))?;
                }
                _ => {
                    download(s, &rpath, &lpath).await?;
                    if let Some(mode) = e.metadata().permissions {
                        use std::os::unix::fs::PermissionsExt;
                        let _ = std::fs::set_permissions(
                            &lpath,
                            std::fs::Permissions::from_mode(mode & 0o7777),
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether `remote` is a directory (following links).
pub async fn is_dir(s: &SftpSession, remote: &str) -> Result<bool, String> {
    match s.metadata(remote).await {
        Ok(m) => Ok(matches!(m.file_type(), FileType::Dir)),
        Err(_) => Ok(false),
    }
}
