//! `kiln validate`

use super::{print_diags, stderr_color, VarArgs};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ValidateArgs {
    /// Only check syntax; do not evaluate
    #[arg(long = "syntax-only")]
    syntax_only: bool,
    /// Evaluate data sources during validation
    #[arg(long = "evaluate-datasources")]
    evaluate_datasources: bool,
    /// Validate only these builds (globs)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Validate all builds but these (globs)
    #[arg(long, value_delimiter = ',')]
    except: Vec<String>,
    /// Disable colour output
    #[arg(long = "no-color")]
    no_color: bool,
    #[command(flatten)]
    vars: VarArgs,
    /// Template file or directory
    template: PathBuf,
}

pub fn run(a: ValidateArgs) -> i32 {
    let mut opts = match a.vars.load_options(a.template.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    opts.syntax_only = a.syntax_only;
    opts.evaluate_datasources = a.evaluate_datasources;
    let color = stderr_color() && !a.no_color;
    let (loaded, diags) = crate::frontend::load(&opts);
    print_diags(&diags, color);
    if diags.has_errors() {
        return 1;
    }
    if let Some(mut l) = loaded {
        if let Err(e) = l.graph.select(&a.only, &a.except) {
            eprintln!("Error: {e}");
            return 1;
        }
    }
    if a.syntax_only {
        println!("Syntax-only check passed. Everything looks okay.");
    } else {
        println!("The configuration is valid.");
    }
    0
}
