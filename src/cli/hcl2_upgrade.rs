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
    let out = a.output_file.clone().unwrap_or_else(|| PathBuf::from(format!("{}.pkr.hcl", a.template.display())));
    let raw = match std::fs::read_to_string(&a.template) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: {}: {e}\nFailed to get config from JSON", a.template.display());
            return 1;
        }
    };
    let up = match crate::upgrade::upgrade(&raw, a.with_annotations) {
        Ok(u) => u,
        Err(e) => {
            eprintln!("Error: {}: {e}\nFailed to get config from JSON", a.template.display());
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
    let code = i32::from(!up.errors.is_empty());
    println!("Successfully created {}. Exit {code}", out.display());
    code
}
