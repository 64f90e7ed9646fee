//! Incremental builds (`kiln build -reuse`, `kiln plan`): what an image is
//! made of, as a fingerprint that lives on the image itself.
//!
//! A build's fingerprint is a list of [`Part`]s — the builder's options that
//! decide the image's content, what it starts from once resolved (the
//! source AMI's id, not its filter), each provisioner's options in order,
//! the bytes of every file they upload or run, kiln's version — and its
//! [`Fingerprint::digest`] is the hash over them. Names, descriptions, tags
//! and post-processors are not in it: they label an image, they do not
//! make it. [`inputs`] computes the parts from the graph (the per-plugin
//! rules are in [`rules`]); the builder adds what only it can resolve and
//! keeps the digest on what it makes (an AMI tag, or the [`record`] beside
//! a local artifact). The parts are kept too, in a compact form, so that a
//! rebuild can say which input changed. `docs/incremental.md` is the
//! user's account of all this.

pub mod inputs;
pub mod plan;
pub mod record;
pub mod rules;

use sha2::{Digest, Sha256};

/// The AMI (and snapshot) tag that holds a build's digest.
pub const TAG: &str = "kiln:inputs";
/// The tags that hold its parts (`kiln:parts`, `kiln:parts:2`, …).
pub const PARTS_TAG: &str = "kiln:parts";
/// The tag naming the build (what `kiln plan` compares against).
pub const BUILD_TAG: &str = "kiln:build";
/// How long one tag value may be on EC2.
const TAG_VALUE_MAX: usize = 255;
/// The most `kiln:parts` tags an image gets (EC2 allows 50 tags in all).
const PARTS_TAGS_MAX: usize = 8;

/// One input of a build.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// Stable across runs and machines (`b.instance_type`, `p2.scripts.0`).
    pub id: String,
    /// What a person calls it (`provisioner 2 (shell): script install.sh`).
    pub label: String,
    /// sha256 of the input, hex.
    pub digest: String,
}

impl Part {
    pub fn new(id: impl Into<String>, label: impl Into<String>, bytes: &[u8]) -> Part {
        Part {
            id: id.into(),
            label: label.into(),
            digest: hex::encode(Sha256::digest(bytes)),
        }
    }
}

/// Everything a build's image is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fingerprint {
    pub parts: Vec<Part>,
}

impl Fingerprint {
    /// This fingerprint with `extra` parts (what a builder resolved).
    pub fn with(&self, extra: Vec<Part>) -> Fingerprint {
        let mut parts = self.parts.clone();
        parts.extend(extra);
        Fingerprint { parts }
    }

    /// The digest an artifact is found by: `v1-` and sha256 over every
    /// part's id and digest, in order.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"kiln inputs v1\n");
        for p in &self.parts {
            h.update(p.id.as_bytes());
            h.update(b"\0");
            h.update(p.digest.as_bytes());
            h.update(b"\n");
        }
        format!("v1-{}", hex::encode(h.finalize()))
    }

    /// The parts as `id=short` words: short enough for tags, enough to say
    /// which input changed.
    pub fn compact(&self) -> String {
        self.parts
            .iter()
            .map(|p| format!("{}={}", p.id, &p.digest[..8.min(p.digest.len())]))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// [`Fingerprint::compact`] cut into tag values; past the tags allowed,
    /// the rest is left out (a change there is then named only as "an
    /// input", the digest still tells).
    pub fn tag_values(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for word in self.compact().split(' ') {
            let fits = out
                .last()
                .is_some_and(|last| last.len() + 1 + word.len() <= TAG_VALUE_MAX);
            if fits {
                if let Some(last) = out.last_mut() {
                    last.push(' ');
                    last.push_str(word);
                }
            } else if out.len() < PARTS_TAGS_MAX && word.len() <= TAG_VALUE_MAX {
                out.push(word.to_string());
            } else {
                break;
            }
        }
        out
    }

    /// The tag keys for [`Fingerprint::tag_values`], in order.
    pub fn parts_tag_key(i: usize) -> String {
        if i == 0 {
            PARTS_TAG.to_string()
        } else {
            format!("{PARTS_TAG}:{}", i + 1)
        }
    }

    /// What changed since an artifact whose parts were `old` (compact
    /// form), in this fingerprint's order, then what is gone.
    pub fn changes_since(&self, old: &str) -> Vec<String> {
        let old: Vec<(&str, &str)> = old
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .collect();
        let mut out = Vec::new();
        for p in &self.parts {
            match old.iter().find(|(id, _)| *id == p.id) {
                Some((_, d)) if p.digest.starts_with(d) => {}
                Some(_) => out.push(format!("{} changed", p.label)),
                None => out.push(format!("{} added", p.label)),
            }
        }
        for (id, _) in &old {
            if !self.parts.iter().any(|p| p.id == *id) {
                out.push(format!("{} removed", label_of_id(id)));
            }
        }
        out
    }
}

/// A person's name for a part that is no longer in the template.
fn label_of_id(id: &str) -> String {
    let mut it = id.splitn(2, '.');
    let (head, rest) = (it.next().unwrap_or(id), it.next());
    let owner = match head.strip_prefix('p') {
        Some(n) if n.chars().all(|c| c.is_ascii_digit()) => format!("provisioner {n}"),
        _ if head == "b" => "source".to_string(),
        _ => head.to_string(),
    };
    match rest {
        Some(opt) => format!("{owner}: {opt}"),
        None => owner,
    }
}

/// How an artifact found by its digest is told apart from one made now.
#[derive(Debug, Clone)]
pub struct Earlier {
    /// What it is (`ami-0abc in us-east-1, made 2026-12-01T10:00:00Z`).
    pub what: String,
    /// Its parts, compact.
    pub parts: String,
}

/// What a builder found for a fingerprint.
#[derive(Debug)]
pub enum Reuse {
    /// An artifact made from exactly these inputs, ready to use.
    Found(crate::runner::Artifact),
    /// None: the build runs. `inputs` is the whole fingerprint (with what
    /// the builder resolved), `newest` the newest artifact of this build.
    Build {
        inputs: Fingerprint,
        newest: Option<Earlier>,
    },
    /// This builder cannot say (why): its builds always run.
    Unsupported(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(parts: &[(&str, &str)]) -> Fingerprint {
        Fingerprint {
            parts: parts
                .iter()
                .map(|(id, v)| Part::new(*id, format!("the {id}"), v.as_bytes()))
                .collect(),
        }
    }

    #[test]
    fn the_digest_follows_every_part_and_its_order() {
        let a = fp(&[("kiln", "1"), ("b.x", "2")]);
        assert_eq!(a.digest(), fp(&[("kiln", "1"), ("b.x", "2")]).digest());
        assert_ne!(a.digest(), fp(&[("kiln", "1"), ("b.x", "3")]).digest());
        assert_ne!(a.digest(), fp(&[("b.x", "2"), ("kiln", "1")]).digest());
        assert!(a.digest().starts_with("v1-") && a.digest().len() == 67);
    }

    #[test]
    fn changes_are_named_against_the_compact_form() {
        let old = fp(&[("kiln", "1"), ("p1.inline", "a"), ("p2.script", "x")]).compact();
        let new = fp(&[("kiln", "1"), ("p1.inline", "b"), ("p3", "y")]);
        assert_eq!(
            new.changes_since(&old),
            [
                "the p1.inline changed",
                "the p3 added",
                "provisioner 2: script removed"
            ]
        );
        assert!(fp(&[("kiln", "1")])
            .changes_since(&fp(&[("kiln", "1")]).compact())
            .is_empty());
    }

    #[test]
    fn tag_values_fit_ec2s_limits() {
        let parts: Vec<(String, String)> = (0..400)
            .map(|i| (format!("b.option_number_{i}"), i.to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = parts
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        let v = fp(&refs).tag_values();
        assert_eq!(v.len(), PARTS_TAGS_MAX);
        assert!(v.iter().all(|t| t.len() <= TAG_VALUE_MAX));
        assert_eq!(Fingerprint::parts_tag_key(0), "kiln:parts");
        assert_eq!(Fingerprint::parts_tag_key(1), "kiln:parts:2");
    }
}
