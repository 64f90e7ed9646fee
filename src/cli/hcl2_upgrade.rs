//! `kiln hcl2_upgrade`: a JSON template rewritten as HCL2 (see `crate::upgrade`).

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct Hcl2UpgradeArgs {
    /// Set output file name. By default this will be the TEMPLATE name with ".pkr.hcl" appended to it
    #[arg(long = "output-file", value_name = "PATH")]
    pub output_file: Option<PathBuf>,
    /// Add helper annotation comments to the file to help new HCL2 users understand the template format
    #[arg(long = "with-annotations")]
    pub with_annotations: bool,
    /// The JSON template to upgrade
    pub template: PathBuf,
}

pub fn run(a: Hcl2UpgradeArgs) -> i32 {
    let out = a
        .output_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.pkr.hcl", a.template.display())));
    if same_file(&out, &a.template) {
        eprintln!(
            "Error: the output file {} is the input template: the upgrade would replace the only copy of it\nName another file with -output-file",
            out.display()
        );
        return 1;
    }
    let raw = match crate::util::fs::read_regular_string(&a.template) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "Error: {}: {e}\nFailed to get config from JSON",
                a.template.display()
            );
            return 1;
        }
    };
    let up = match crate::upgrade::upgrade(&raw, a.with_annotations) {
        Ok(u) => u,
        Err(e) => {
            eprintln!(
                "Error: {}: {e}\nFailed to get config from JSON",
                a.template.display()
            );
            return 1;
        }
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("Failed to create output directory: {e}");
            return 1;
        }
    }
    if let Err(e) = crate::util::fs::write_atomic(&out, &up.text) {
        eprintln!("Failed to write to file: {e}");
        return 1;
    }
    for e in &up.errors {
        eprintln!("Ignoring following sources.Parse error: {e}");
    }
    let name = out.display().to_string();
    // What was written must parse: a file that does not is kiln's mistake,
    // and no success is claimed for it.
    let text = String::from_utf8_lossy(&up.text).into_owned();
    let unfinished = crate::upgrade::unfinished::find(&text);
    if let Err(d) = crate::frontend::hcl::parse::parse_text(&name, text) {
        let d = d.hint("the upgrade wrote HCL2 that does not parse: this is a bug in kiln's hcl2_upgrade; fix the file by hand, and please report it with the JSON template");
        eprint!("{}", crate::diag::render(&[d], super::stderr_color()));
        return 1;
    }
    warn_unfinished(&name, &unfinished);
    let code = i32::from(!up.errors.is_empty());
    println!("Successfully created {}. Exit {code}", out.display());
    code
}

/// Packer says "Successfully created" and nothing more when blocks were
/// left with Go-template calls HCL2 cannot run; kiln names each (the exit
/// code stays Packer's, so scripts keep working).
fn warn_unfinished(name: &str, blocks: &[crate::upgrade::unfinished::Unfinished]) {
    if blocks.is_empty() {
        return;
    }
    let n = blocks.len();
    let (s, were, its) = if n == 1 {
        ("", "was", "its")
    } else {
        ("s", "were", "their")
    };
    eprintln!("Warning: {n} block{s} {were} not fully upgraded: {its} Go template calls are left as plain text, which HCL2 does not run:");
    for b in blocks {
        eprintln!("  {name}:{}: {} {}", b.line, b.block, b.what());
    }
    eprintln!("The comment above each says how to upgrade it by hand.");
}

/// Whether `a` and `b` name one file (through links and `..` alike).
fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
