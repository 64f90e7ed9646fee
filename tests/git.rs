//! The git data sources (`git-repository`, `git-commit`, `git-tree`) against
//! a repository the test makes with the git CLI (kiln itself reads it with
//! libgit2): branches, lightweight and annotated tags, a second commit, a
//! dirty work tree and a detached HEAD; each output compared with what
//! `git` itself says.

mod common;

use common::kiln;
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Builder")
        .env("GIT_AUTHOR_EMAIL", "ada@example.test")
        .env("GIT_COMMITTER_NAME", "Cy Committer")
        .env("GIT_COMMITTER_EMAIL", "cy@example.test")
        .env("GIT_AUTHOR_DATE", "2026-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2026-01-02T03:04:06Z")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

/// Build a template that prints each data source's outputs as JSON, one
/// line each, and answer them parsed.
fn outputs(work: &Path, repo: &Path) -> serde_json::Value {
    let t = format!(
        r#"data "git-repository" "r" {{
  path = "{repo}"
}}
data "git-commit" "head" {{
  path = "{repo}/sub"
}}
data "git-commit" "first" {{
  path       = "{repo}"
  commit_ish = "v1.0"
}}
data "git-tree" "t" {{
  path = "{repo}"
}}
source "null" "n" {{
  communicator = "none"
}}
build {{
  sources = ["source.null.n"]
  provisioner "shell-local" {{
    inline = ["printf '%s\\n' 'OUT ${{jsonencode({{
      repo  = data.git-repository.r
      head  = data.git-commit.head
      first = data.git-commit.first
      tree  = data.git-tree.t
    }})}}'"]
  }}
}}
"#,
        repo = repo.display()
    );
    std::fs::write(work.join("t.pkr.hcl"), t).expect("write");
    let out = kiln()
        .current_dir(work)
        .args(["build", "-color=false", "t.pkr.hcl"])
        .output()
        .expect("kiln");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{text}");
    let line = text
        .lines()
        .find_map(|l| l.split_once("OUT ").map(|(_, j)| j))
        .unwrap_or_else(|| panic!("no output line:\n{text}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn git_data_sources_read_a_repository_as_git_does() {
    if Command::new("git").arg("--version").output().is_err() {
        eprintln!("SKIP: git is not installed (the test makes its repository with it)");
        return;
    }
    let work = tempfile::tempdir().expect("tmp");
    let repo = work.path().join("repo");
    std::fs::create_dir_all(repo.join("sub")).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("a.txt"), "one\n").expect("write");
    std::fs::write(repo.join("sub/b.txt"), "two\n").expect("write");
    std::fs::write(repo.join(".gitignore"), "ignored.log\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["tag", "v1.0"]);
    git(&repo, &["tag", "-a", "v1.1", "-m", "annotated"]);
    git(&repo, &["branch", "feature"]);
    std::fs::write(repo.join("a.txt"), "one, changed\n").expect("write");
    git(&repo, &["commit", "-q", "-am", "second\n\nwith a body"]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    // Ignored files do not make the tree dirty.
    std::fs::write(repo.join("ignored.log"), "noise").expect("write");

    let o = outputs(work.path(), &repo);
    assert_eq!(o["repo"]["head"], "main", "{o}");
    assert_eq!(
        o["repo"]["branches"],
        serde_json::json!(["feature", "main"])
    );
    assert_eq!(o["repo"]["tags"], serde_json::json!(["v1.0", "v1.1"]));
    assert_eq!(o["repo"]["is_clean"], true, "{o}");

    let h = &o["head"];
    assert_eq!(h["hash"], second.as_str());
    assert_eq!(h["branches"], serde_json::json!(["main"]));
    assert_eq!(h["author"], "Ada Builder <ada@example.test>");
    assert_eq!(h["committer"], "Cy Committer <cy@example.test>");
    assert_eq!(h["timestamp"], "2026-01-02T03:04:06Z");
    assert_eq!(h["message"], "second\n\nwith a body\n");
    assert_eq!(h["pgp_signature"], "");
    assert_eq!(
        h["tree_hash"],
        git(&repo, &["rev-parse", "HEAD^{tree}"]).as_str()
    );
    assert_eq!(h["parent_hashes"], serde_json::json!([first]));

    let f = &o["first"];
    assert_eq!(f["hash"], first.as_str());
    assert_eq!(f["branches"], serde_json::json!(["feature"]));
    assert_eq!(f["parent_hashes"], serde_json::json!([]));
    assert_eq!(f["message"], "first\n");

    assert_eq!(o["tree"]["hash"], second.as_str());
    assert_eq!(
        o["tree"]["files"],
        serde_json::json!([".gitignore", "a.txt", "sub/b.txt"])
    );

    // A file git does not track makes the tree dirty; a detached HEAD is
    // "HEAD".
    std::fs::write(repo.join("new.txt"), "untracked").expect("write");
    git(&repo, &["checkout", "-q", "--detach", "v1.0"]);
    let o = outputs(work.path(), &repo);
    assert_eq!(o["repo"]["is_clean"], false, "{o}");
    assert_eq!(o["repo"]["head"], "HEAD", "{o}");
    assert_eq!(o["head"]["hash"], first.as_str());

    // Not a repository: the build fails with libgit2's reason.
    let elsewhere = tempfile::tempdir().expect("tmp");
    std::fs::write(
        work.path().join("t.pkr.hcl"),
        format!(
            "data \"git-repository\" \"r\" {{\n  path = \"{}\"\n}}\nsource \"null\" \"n\" {{\n  communicator = \"none\"\n}}\nbuild {{\n  sources = [\"source.null.n\"]\n}}\n",
            elsewhere.path().display()
        ),
    )
    .expect("write");
    let out = kiln()
        .current_dir(work.path())
        .args(["build", "t.pkr.hcl"])
        .output()
        .expect("kiln");
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("opening the git repository"), "{text}");
}
