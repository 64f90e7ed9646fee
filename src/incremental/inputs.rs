//! A build's fingerprint from the graph: its builder's options, each
//! provisioner's options in order, and the bytes of the local files they
//! name, by the rules of [`super::rules`]. Sensitive values enter only
//! through a keyed hash ([`keyed`]), so a digest on a public AMI tells
//! nothing about them.

use super::rules::{self, Rules};
use super::{Fingerprint, Part};
use crate::graph::{BuildNode, Config};
use crate::value::Value;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::Path;

/// What kiln can say of `node` before it runs; the builder adds what it
/// resolves (the source AMI's id). `Err`: why its inputs cannot be known
/// (a plugin without rules, an unreadable file), so the build runs.
pub fn of_build(node: &BuildNode, sensitive: &[String]) -> Result<Fingerprint, String> {
    let mut parts = vec![Part::new(
        "kiln",
        "kiln's version",
        env!("CARGO_PKG_VERSION").as_bytes(),
    )];
    let kind = &node.source_type;
    let rules = rules::builder(kind)
        .ok_or_else(|| format!("kiln does not know what a {kind} build is made of"))?;
    parts.push(Part::new("b", format!("builder ({kind})"), kind.as_bytes()));
    options(
        &mut parts,
        "b",
        "source",
        &node.builder,
        rules,
        rules::CONNECTION,
        sensitive,
    )?;
    for (i, step) in node.provisioners.iter().enumerate() {
        let n = i + 1;
        let kind = &step.kind;
        let rules = rules::provisioner(kind)
            .ok_or_else(|| format!("kiln does not know what the {kind} provisioner does"))?;
        let id = format!("p{n}");
        parts.push(Part::new(
            id.clone(),
            format!("provisioner {n} ({kind})"),
            kind.as_bytes(),
        ));
        let owner = format!("provisioner {n} ({kind})");
        let mut config = step.config.clone();
        // A download's sources are on the machine, not here.
        if kind == "file" && config.get("direction").and_then(Value::as_str) == Some("download") {
            for k in ["source", "sources"] {
                if let Some(v) = config.shift_remove(k) {
                    config.insert(format!("{k} (remote)"), v);
                }
            }
        }
        options(&mut parts, &id, &owner, &config, rules, &[], sensitive)?;
    }
    Ok(Fingerprint { parts })
}

fn options(
    parts: &mut Vec<Part>,
    id: &str,
    owner: &str,
    config: &Config,
    rules: &Rules,
    also_out: &[&str],
    sensitive: &[String],
) -> Result<(), String> {
    let mut keys: Vec<&String> = config.keys().collect();
    keys.sort();
    let checksummed: Vec<&str> = rules
        .by_checksum
        .iter()
        .filter(|(_, sum)| {
            config
                .get(*sum)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty() && s != "none")
        })
        .map(|(urls, _)| *urls)
        .collect();
    for k in keys {
        let v = &config[k.as_str()];
        if rules.out.contains(&k.as_str()) || also_out.contains(&k.as_str()) || v.is_null() {
            continue;
        }
        let by_checksum = rules.by_checksum.iter().any(|(u, _)| u == k);
        if checksummed.contains(&k.as_str()) {
            continue;
        }
        if rules.files.contains(&k.as_str()) || by_checksum {
            let paths = strings(v);
            let single = matches!(v, Value::String(_));
            for (i, p) in paths.iter().enumerate() {
                // A remote URL (no checksum to stand for it) is in by name.
                if by_checksum && p.contains("://") && !p.starts_with("file://") {
                    parts.push(Part::new(
                        format!("{id}.{k}.{i}"),
                        format!("{owner}: {k} {p}"),
                        p.as_bytes(),
                    ));
                    continue;
                }
                let local = p.strip_prefix("file://").unwrap_or(p);
                let pid = if single {
                    format!("{id}.{k}")
                } else {
                    format!("{id}.{k}.{i}")
                };
                let label = format!("{owner}: {} {}", noun(k), display_name(local));
                let digest = content_digest(Path::new(local), owner, k == "playbook_file")?;
                parts.push(Part {
                    id: pid,
                    label,
                    digest,
                });
            }
            continue;
        }
        let text = canonical(v, sensitive)?;
        parts.push(Part::new(
            format!("{id}.{k}"),
            format!("{owner}: {k}"),
            text.as_bytes(),
        ));
    }
    Ok(())
}

/// What a person calls the file an option names.
fn noun(option: &str) -> &str {
    match option {
        "scripts" | "script" => "script",
        "source" | "sources" => "file",
        "playbook_file" | "playbook_files" => "playbook",
        other => other,
    }
}

fn display_name(p: &str) -> String {
    Path::new(p)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.to_string())
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::List(xs) | Value::Tuple(xs) | Value::Set(xs) => {
            xs.iter().flat_map(strings).collect()
        }
        _ => Vec::new(),
    }
}

/// Playbooks find their roles, variables and templates beside them.
const PLAYBOOK_SIBLINGS: &[&str] = &[
    "roles",
    "group_vars",
    "host_vars",
    "vars",
    "tasks",
    "handlers",
    "templates",
    "files",
    "library",
    "filter_plugins",
    "collections",
    "ansible.cfg",
];

/// sha256 over a file's bytes, or over a directory's entries (relative
/// name, kind, executable bit, bytes) in name order. A file's own name
/// is in too: a directory upload puts it on the machine.
fn content_digest(p: &Path, owner: &str, playbook: bool) -> Result<String, String> {
    let mut h = Sha256::new();
    let meta =
        std::fs::metadata(p).map_err(|e| format!("{owner}: cannot read {}: {e}", p.display()))?;
    h.update(display_name(&p.to_string_lossy()).as_bytes());
    h.update(b"\0");
    if meta.is_dir() {
        hash_dir(&mut h, p)?;
    } else {
        hash_file(&mut h, p)?;
    }
    if playbook {
        if let Some(dir) = p.parent() {
            for s in PLAYBOOK_SIBLINGS {
                let sib = dir.join(s);
                if sib.exists() {
                    h.update(format!("\nsibling {s}\0").as_bytes());
                    if sib.is_dir() {
                        hash_dir(&mut h, &sib)?;
                    } else {
                        hash_file(&mut h, &sib)?;
                    }
                }
            }
        }
    }
    Ok(hex::encode(h.finalize()))
}

fn hash_dir(h: &mut Sha256, dir: &Path) -> Result<(), String> {
    for entry in walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
    {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let rel = entry.path().strip_prefix(dir).unwrap_or(entry.path());
        let ft = entry.file_type();
        h.update(rel.to_string_lossy().as_bytes());
        if ft.is_dir() {
            h.update(b"\0d\n");
        } else if ft.is_symlink() {
            let to = std::fs::read_link(entry.path()).unwrap_or_default();
            h.update(b"\0l");
            h.update(to.to_string_lossy().as_bytes());
            h.update(b"\n");
        } else {
            use std::os::unix::fs::PermissionsExt;
            let exec = entry
                .metadata()
                .map(|m| m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false);
            h.update(if exec { b"\0x" } else { b"\0f" });
            hash_file(h, entry.path())?;
            h.update(b"\n");
        }
    }
    Ok(())
}

fn hash_file(h: &mut Sha256, p: &Path) -> Result<(), String> {
    // Reads refuse FIFOs and devices: hashing one would block or never end.
    let meta = std::fs::metadata(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", p.display()));
    }
    let mut f = std::fs::File::open(p).map_err(|e| format!("reading {}: {e}", p.display()))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| format!("reading {}: {e}", p.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(())
}

/// sha256 of one local file (what a record keeps of each artifact file).
pub fn file_sha256(p: &Path) -> Result<String, String> {
    let mut h = Sha256::new();
    hash_file(&mut h, p)?;
    Ok(hex::encode(h.finalize()))
}

/// A value as canonical JSON: object keys sorted, and every string that
/// holds a sensitive value replaced by its keyed hash.
fn canonical(v: &Value, sensitive: &[String]) -> Result<String, String> {
    fn walk(j: serde_json::Value, sensitive: &[String]) -> Result<serde_json::Value, String> {
        Ok(match j {
            serde_json::Value::String(s)
                if sensitive
                    .iter()
                    .any(|x| !x.is_empty() && s.contains(x.as_str())) =>
            {
                serde_json::json!({ "keyed": keyed(&s)? })
            }
            serde_json::Value::Array(xs) => serde_json::Value::Array(
                xs.into_iter()
                    .map(|x| walk(x, sensitive))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(m) => {
                let mut sorted: Vec<(String, serde_json::Value)> = m.into_iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let mut out = serde_json::Map::new();
                for (k, v) in sorted {
                    out.insert(k, walk(v, sensitive)?);
                }
                serde_json::Value::Object(out)
            }
            other => other,
        })
    }
    let j = walk(v.to_json(), sensitive)?;
    serde_json::to_string(&j).map_err(|e| e.to_string())
}

/// HMAC-SHA256 of a sensitive value under the inputs key: the same value
/// gives the same digest wherever the key is the same, and without the
/// key the digest cannot be checked against guesses.
///
/// The key is `KILN_INPUTS_KEY` when set (give CI runners the same one, as
/// a secret), else a random key kiln keeps in `~/.config/kiln/inputs.key`
/// (0600), made on first use.
pub fn keyed(value: &str) -> Result<String, String> {
    use hmac::{Hmac, Mac};
    let key = inputs_key()?;
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(|e| format!("the inputs key: {e}"))?;
    mac.update(value.as_bytes());
    Ok(hex::encode(mac.finalize().into_bytes()))
}

fn inputs_key() -> Result<Vec<u8>, String> {
    if let Some(k) = std::env::var_os("KILN_INPUTS_KEY").filter(|k| !k.is_empty()) {
        return Ok(k.to_string_lossy().into_owned().into_bytes());
    }
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".config")))
        .ok_or("no KILN_INPUTS_KEY and no HOME to keep a key in")?
        .join("kiln");
    let path = dir.join("inputs.key");
    if let Ok(k) = std::fs::read(&path) {
        if k.len() >= 32 {
            return Ok(k);
        }
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut key = vec![0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    let text = hex::encode(&key);
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match &mut f {
        Ok(f) => f
            .write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?,
        // Another kiln made it meanwhile: use theirs.
        Err(_) => {
            return std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()));
        }
    }
    Ok(text.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sensitive_strings_are_keyed_never_in_clear() {
        std::env::set_var("KILN_INPUTS_KEY", "test-key");
        let v = Value::List(vec![
            Value::string("PASSWORD=hunter22"),
            Value::string("A=b"),
        ]);
        let c = canonical(&v, &["hunter22".to_string()]).expect("canonical");
        assert!(!c.contains("hunter22"), "{c}");
        assert!(c.contains("\"keyed\"") && c.contains("A=b"), "{c}");
        assert_eq!(c, canonical(&v, &["hunter22".to_string()]).expect("again"));
        let other = Value::List(vec![
            Value::string("PASSWORD=hunter23"),
            Value::string("A=b"),
        ]);
        assert_ne!(
            c,
            canonical(&other, &["hunter23".to_string()]).expect("other")
        );
    }
}
