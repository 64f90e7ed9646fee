//! The git data sources of packer-plugin-git, read with libgit2 (the git2
//! crate), not by running `git`: `git-repository` (the checked-out branch,
//! branches, tags, whether the work tree is clean), `git-commit` (a
//! commit's hash, author, message, signature, tree and parents) and
//! `git-tree` (the files of a commit's tree). Images named or tagged by
//! the commit they were built from read these.

use crate::graph::Config;
use crate::plugin::{Field, Options};
use crate::value::{Attrs, Value};
use git2::{BranchType, ObjectType, Oid, Repository, StatusOptions, TreeWalkMode, TreeWalkResult};

/// `git-repository`'s option.
#[derive(Options)]
pub struct RepositoryOptions {
    /// A path in the repository (its parents are searched for `.git`);
    /// default the working directory.
    path: Option<String>,
}

/// `git-commit`'s and `git-tree`'s options.
#[derive(Options)]
pub struct CommitOptions {
    /// A path in the repository; default the working directory.
    path: Option<String>,
    /// What names the commit (`HEAD`, a branch, a tag, `HEAD~2`, a hash);
    /// default `HEAD`.
    commit_ish: Option<String>,
}

pub const REPOSITORY_FIELDS: &[Field] = RepositoryOptions::FIELDS;
pub const COMMIT_FIELDS: &[Field] = CommitOptions::FIELDS;

pub fn validate_repository(c: &Config) -> Vec<String> {
    RepositoryOptions::from_config(c)
        .err()
        .into_iter()
        .collect()
}

pub fn validate_commit(c: &Config) -> Vec<String> {
    CommitOptions::from_config(c).err().into_iter().collect()
}

fn open(path: Option<String>) -> Result<Repository, String> {
    let path = path.filter(|p| !p.is_empty()).unwrap_or_else(|| ".".into());
    Repository::discover(&path)
        .map_err(|e| format!("opening the git repository at {path:?}: {}", e.message()))
}

fn strings(v: impl IntoIterator<Item = String>) -> Value {
    Value::List(v.into_iter().map(Value::String).collect())
}

fn output(config: &Config, outputs: Vec<(&str, Value)>) -> Value {
    let mut m: Attrs = config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in outputs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

/// Local branch names, sorted (go-git lists `refs/heads` in name order).
fn branches(repo: &Repository, at: Option<Oid>) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for b in repo
        .branches(Some(BranchType::Local))
        .map_err(|e| e.message().to_string())?
    {
        let (b, _) = b.map_err(|e| e.message().to_string())?;
        let target = b.get().target();
        if at.is_some_and(|oid| target != Some(oid)) {
            continue;
        }
        if let Ok(Some(name)) = b.name() {
            out.push(name.to_string());
        }
    }
    out.sort();
    Ok(out)
}

pub fn execute_repository(c: &Config) -> Result<Value, String> {
    let o = RepositoryOptions::from_config(c)?;
    let repo = open(o.path)?;
    let head = repo
        .head()
        .map_err(|e| format!("reading HEAD: {}", e.message()))?;
    // A branch's short name; a detached HEAD is "HEAD", as go-git names it.
    let head_name = if repo.head_detached().unwrap_or(false) {
        "HEAD".to_string()
    } else {
        head.shorthand().unwrap_or("HEAD").to_string()
    };
    let mut tags: Vec<String> = repo
        .tag_names(None)
        .map_err(|e| e.message().to_string())?
        .iter()
        .flatten()
        .map(str::to_string)
        .collect();
    tags.sort();
    // Clean: nothing modified, staged or untracked (ignored files aside).
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut opts))
        .map_err(|e| format!("reading the work tree's status: {}", e.message()))?;
    let is_clean = statuses
        .iter()
        .all(|s| s.status().is_empty() || s.status() == git2::Status::CURRENT);
    Ok(output(
        c,
        vec![
            ("head", Value::String(head_name)),
            ("branches", strings(branches(&repo, None)?)),
            ("tags", strings(tags)),
            ("is_clean", Value::Bool(is_clean)),
        ],
    ))
}

fn commit_of<'r>(
    repo: &'r Repository,
    commit_ish: Option<String>,
) -> Result<git2::Commit<'r>, String> {
    let rev = commit_ish
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "HEAD".into());
    repo.revparse_single(&rev)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| format!("resolving {rev:?}: {}", e.message()))
}

/// `Name <email>`, as go-git prints a signature.
fn person(s: &git2::Signature) -> String {
    format!(
        "{} <{}>",
        String::from_utf8_lossy(s.name_bytes()),
        String::from_utf8_lossy(s.email_bytes())
    )
}

pub fn execute_commit(c: &Config) -> Result<Value, String> {
    let o = CommitOptions::from_config(c)?;
    let repo = open(o.path)?;
    let commit = commit_of(&repo, o.commit_ish)?;
    let id = commit.id();
    let when = commit.committer().when().seconds();
    let timestamp = chrono::DateTime::from_timestamp(when, 0)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default();
    let (author, committer) = (person(&commit.author()), person(&commit.committer()));
    let signature = repo
        .extract_signature(&id, None)
        .map(|(sig, _)| String::from_utf8_lossy(&sig).into_owned())
        .unwrap_or_default();
    Ok(output(
        c,
        vec![
            ("hash", Value::String(id.to_string())),
            ("branches", strings(branches(&repo, Some(id))?)),
            ("author", Value::String(author)),
            ("committer", Value::String(committer)),
            ("timestamp", Value::String(timestamp)),
            ("pgp_signature", Value::String(signature)),
            (
                "message",
                Value::String(String::from_utf8_lossy(commit.message_raw_bytes()).into_owned()),
            ),
            ("tree_hash", Value::String(commit.tree_id().to_string())),
            (
                "parent_hashes",
                strings(commit.parent_ids().map(|p| p.to_string())),
            ),
        ],
    ))
}

pub fn execute_tree(c: &Config) -> Result<Value, String> {
    let o = CommitOptions::from_config(c)?;
    let repo = open(o.path)?;
    let commit = commit_of(&repo, o.commit_ish)?;
    let tree = commit.tree().map_err(|e| e.message().to_string())?;
    let mut files = Vec::new();
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        if entry.kind() == Some(ObjectType::Blob) {
            files.push(format!(
                "{dir}{}",
                String::from_utf8_lossy(entry.name_bytes())
            ));
        }
        TreeWalkResult::Ok
    })
    .map_err(|e| e.message().to_string())?;
    Ok(output(
        c,
        vec![
            ("hash", Value::String(commit.id().to_string())),
            ("files", strings(files)),
        ],
    ))
}
