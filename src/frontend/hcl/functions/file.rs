//! Filesystem functions. Relative paths resolve against the working
//! directory, as in Packer.

use super::{str_arg, FnEnv, FnError, FR};
use crate::value::Value;
use std::path::{Component, Path, PathBuf};

/// Go's `filepath.Clean`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (abs, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

pub fn abspath(env: &FnEnv, a: Vec<Value>) -> FR {
    let p = str_arg(&a, 0)?;
    let full = env.resolve(&p);
    Ok(Value::String(clean(&full.to_string_lossy())))
}

pub fn basename(_: &FnEnv, a: Vec<Value>) -> FR {
    let p = str_arg(&a, 0)?;
    if p.is_empty() {
        return Ok(Value::string("."));
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return Ok(Value::string("/"));
    }
    Ok(Value::String(t.rsplit('/').next().unwrap_or(t).to_string()))
}

pub fn dirname(_: &FnEnv, a: Vec<Value>) -> FR {
    let p = str_arg(&a, 0)?;
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    Ok(Value::String(clean(dir)))
}

pub fn pathexpand(_: &FnEnv, a: Vec<Value>) -> FR {
    let p = str_arg(&a, 0)?;
    if p == "~" || p.starts_with("~/") {
        if let Some(home) = std::env::var_os("HOME") {
            return Ok(Value::String(format!(
                "{}{}",
                home.to_string_lossy(),
                &p[1..]
            )));
        }
    }
    Ok(Value::String(p))
}

pub fn file(env: &FnEnv, a: Vec<Value>) -> FR {
    let p = str_arg(&a, 0)?;
    let full = env.resolve(&p);
    let bytes = crate::util::fs::read_regular(&full).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            FnError::Failed(format!("no file exists at {p}"))
        } else {
            FnError::Arg(0, format!("failed to read {p}: {e}."))
        }
    })?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| FnError::Arg(0, format!("contents of {p} are not valid UTF-8; use the filebase64 function to obtain the Base64 encoded contents or the other file functions (e.g. filemd5, filesha256) to obtain file hashing results instead.")))
}

pub fn fileexists(env: &FnEnv, a: Vec<Value>) -> FR {
    let p = str_arg(&a, 0)?;
    let full = env.resolve(&p);
    match std::fs::metadata(&full) {
        Ok(m) if m.is_file() => Ok(Value::Bool(true)),
        Ok(_) => Err(FnError::Failed(format!(
            "{p} is not a regular file, but {:?}",
            "directory"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
        Err(e) => Err(FnError::Failed(format!("failed to stat {p}: {e}"))),
    }
}

pub fn fileset(env: &FnEnv, a: Vec<Value>) -> FR {
    let base = str_arg(&a, 0)?;
    let pattern = str_arg(&a, 1)?;
    let root = env.resolve(&base);
    let glob = globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| FnError::Arg(1, format!("failed to glob pattern ({pattern}): {e}")))?
        .compile_matcher();
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .follow_links(true)
        .into_iter()
        .flatten()
    {
        if !entry.file_type().is_file() {
            continue;
        }
        let rel: PathBuf = match entry.path().strip_prefix(&root) {
            Ok(r) => r.to_path_buf(),
            Err(_) => continue,
        };
        let rel_s = rel
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("/");
        if glob.is_match(Path::new(&rel_s)) {
            out.push(Value::String(rel_s));
        }
    }
    Ok(Value::set_from(out))
}

/// `filebase64(path)`: a file's bytes, base64-encoded (any file, not only
/// UTF-8 text).
pub fn filebase64(env: &FnEnv, a: Vec<Value>) -> FR {
    use base64::Engine;
    let p = str_arg(&a, 0)?;
    let full = env.resolve(&p);
    // Refuse a file whose encoding would pass the string limit before
    // reading any of it.
    if let Ok(m) = std::fs::metadata(&full) {
        super::limits::string_len(
            usize::try_from(m.len())
                .unwrap_or(usize::MAX)
                .saturating_mul(4)
                / 3,
        )?;
    }
    let bytes = crate::util::fs::read_regular(&full)
        .map_err(|e| FnError::Failed(format!("failed to read file {p:?}: {e}")))?;
    Ok(Value::String(
        base64::engine::general_purpose::STANDARD.encode(bytes),
    ))
}
