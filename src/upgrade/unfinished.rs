//! The blocks `hcl2_upgrade` could not finish. Packer marks each in the file
//! with a comment above it ("# 1 error occurred upgrading the following
//! block:", "# could not parse template for following block: …") and leaves
//! its Go-template calls as they were, which HCL2 cannot run. Packer still
//! says only "Successfully created"; kiln names each block and its line.
//! They are found in the written text, so the lines are the file's.

/// One block left for the user to finish by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfinished {
    /// 1-based line of the block's header in the written file.
    pub line: usize,
    /// The block's header, e.g. `provisioner "shell"`.
    pub block: String,
    /// The template functions left untranslated (or why the block was left).
    pub calls: Vec<String>,
}

use super::engine::{ERRORS_HEADER, NOT_PARSED_HEADER};

const NOT_PARSED: &str = "a Go template that does not parse";

impl Unfinished {
    /// What is left in the block, for a message.
    pub fn what(&self) -> String {
        if self.calls.iter().any(|c| c == NOT_PARSED) {
            format!("holds {NOT_PARSED}")
        } else {
            let calls: Vec<String> = self.calls.iter().map(|c| format!("`{c}`")).collect();
            format!("still calls {}", calls.join(", "))
        }
    }
}

/// The call named by a `unhandled "split" call:` comment line.
fn unhandled(comment: &str) -> Option<String> {
    let rest = comment.strip_prefix("unhandled ")?.strip_suffix(" call:")?;
    let name = rest.strip_prefix('"')?.strip_suffix('"')?;
    Some(name.to_string())
}

fn is_header(comment: &str) -> bool {
    comment.ends_with(ERRORS_HEADER)
        && comment
            .split(' ')
            .nth(1)
            .is_some_and(|w| w == "error" || w == "errors")
}

/// Every marked block of an upgraded file, in file order.
pub fn find(text: &str) -> Vec<Unfinished> {
    let mut out = Vec::new();
    let mut open: Option<Vec<String>> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(c) = t.strip_prefix("# ") {
            if is_header(c) {
                open = Some(Vec::new());
            } else if c.starts_with(NOT_PARSED_HEADER) {
                open = Some(vec![NOT_PARSED.to_string()]);
            } else if let Some(call) = unhandled(c) {
                let calls = open.get_or_insert_with(Vec::new);
                if !calls.contains(&call) {
                    calls.push(call);
                }
            }
            continue;
        }
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if let Some(calls) = open.take() {
            let block = t.trim_end_matches('{').trim_end().to_string();
            out.push(Unfinished {
                line: i + 1,
                block,
                calls,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_marked_block_with_its_calls_and_line() {
        let text = "build {\n  sources = [\"source.null.a\"]\n\n\n  # 1 error occurred upgrading the following block:\n  # unhandled \"split\" call:\n  # there is no way to automatically upgrade the \"split\" call.\n  provisioner \"shell\" {\n    inline = [\"{{ split `a` `-` 0 }}\"]\n  }\n\n  # 2 errors occurred upgrading the following block:\n  # unhandled \"lower\" call:\n  # Visit x for more infos.\n\n  # unhandled \"upper\" call:\n  # Visit y for more infos.\n  post-processor \"shell-local\" {\n  }\n\n  # could not parse template for following block: \"template: x\"\n  provisioner \"file\" {\n  }\n  provisioner \"shell\" {\n  }\n}\n";
        let got = find(text);
        assert_eq!(got[1].what(), "still calls `lower`, `upper`");
        assert_eq!(got[2].what(), "holds a Go template that does not parse");
        assert_eq!(
            got,
            vec![
                Unfinished {
                    line: 8,
                    block: "provisioner \"shell\"".into(),
                    calls: vec!["split".into()]
                },
                Unfinished {
                    line: 18,
                    block: "post-processor \"shell-local\"".into(),
                    calls: vec!["lower".into(), "upper".into()]
                },
                Unfinished {
                    line: 22,
                    block: "provisioner \"file\"".into(),
                    calls: vec![NOT_PARSED.into()]
                },
            ]
        );
    }

    #[test]
    fn a_file_without_marks_has_none() {
        assert!(find("# 1 error in a comment of the user's own\nlocals {\n  a = \"# unhandled \\\"x\\\" call:\"\n}\n").is_empty());
    }
}
