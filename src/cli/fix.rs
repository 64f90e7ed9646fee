//! `kiln fix`: Packer's fixers over a legacy JSON template, the result on
//! stdout, then (unless `-validate=false`) checked as a template.

use clap::{ArgAction, Args};
use std::path::PathBuf;

#[derive(Args)]
pub struct FixArgs {
    /// Validate the fixed template (`-validate=false` to skip)
    #[arg(long, action = ArgAction::Set, num_args = 0..=1, default_value_t = true, default_missing_value = "true")]
    validate: bool,
    /// The JSON template
    template: PathBuf,
}

pub fn run(a: FixArgs) -> i32 {
    if !crate::frontend::is_legacy_json(&a.template) {
        eprintln!("packer fix only works with JSON files for now.");
        return 1;
    }
    let text = match crate::util::fs::read_regular_string(&a.template) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Error opening template: {e}");
            return 1;
        }
    };
    let template: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(&text) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Error parsing template: {e}");
            return 1;
        }
    };
    let fixed = match crate::fix::fix(template) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error fixing: {e}");
            return 1;
        }
    };
    let result = crate::fix::render(&fixed);
    println!("{result}");
    if !a.validate {
        return 0;
    }
    // The fixed template as the legacy front end reads it, structure only
    // (variables and plugins are `validate`'s business).
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error! could not check the fixed template: {e}");
            return 1;
        }
    };
    let path = dir.path().join("fixed.json");
    if let Err(e) = std::fs::write(&path, &result) {
        eprintln!("Error! could not check the fixed template: {e}");
        return 1;
    }
    let opts = crate::frontend::hcl::LoadOptions {
        path,
        syntax_only: true,
        ..Default::default()
    };
    let (_, diags) = crate::frontend::load(&opts);
    let errors: Vec<String> = diags
        .errors()
        .map(|d| {
            // Packer's template checks say what is wrong without kiln's prefix.
            let summary = d
                .summary
                .strip_prefix("Error parsing template: ")
                .unwrap_or(&d.summary);
            match &d.detail {
                Some(detail) => format!("{summary}: {detail}"),
                None => summary.to_string(),
            }
        })
        .collect();
    if errors.is_empty() {
        return 0;
    }
    let list: String = errors.iter().map(|e| format!("\n\t* {e}")).collect();
    eprintln!(
        "Error! Fixed template failed to validate: {} error{} occurred:{list}\n\n\n\nThis is usually caused by an error in the input template.\nPlease fix the error and try again.",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    1
}
