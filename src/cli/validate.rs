//! `kiln validate`

use super::{print_diags, stderr_color, VarArgs};
use crate::ui::{Ui, UiOptions};
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
    /// Do not warn about var-file assignments to variables the template does not declare
    #[arg(long = "no-warn-undeclared-var")]
    no_warn_undeclared_var: bool,
    /// Machine-readable output on stdout: each diagnostic a `ui` line (errors `error`, warnings `say`)
    #[arg(long = "machine-readable")]
    machine_readable: bool,
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
    opts.only = a.only.clone();
    opts.except = a.except.clone();
    opts.evaluate_datasources = a.evaluate_datasources;
    opts.warn_undeclared_var = !a.no_warn_undeclared_var;
    let color = stderr_color() && !a.no_color;
    let (loaded, diags) = crate::frontend::load(&opts);
    // -machine-readable: as Packer 1.6.6 prints them, errors as `ui,error`,
    // warnings as `ui,say`, and nothing more when the template is valid.
    let machine = a.machine_readable.then(|| {
        Ui::new(
            UiOptions {
                machine_readable: true,
                ..UiOptions::default()
            },
            Vec::new(),
        )
    });
    if let Some(ui) = &machine {
        for d in &diags.0 {
            let text = crate::diag::render(std::slice::from_ref(d), false);
            if d.is_error() {
                ui.error(&text);
            } else {
                ui.say(&text);
            }
        }
    } else {
        print_diags(&diags, color);
    }
    if diags.has_errors() {
        return 1;
    }
    if let Some(mut l) = loaded {
        if let Err(e) = l.graph.select(&a.only, &a.except) {
            match &machine {
                Some(ui) => ui.error(&format!("Error: {e}")),
                None => eprintln!("Error: {e}"),
            }
            return 1;
        }
    }
    if machine.is_some() {
        return 0;
    }
    if a.syntax_only {
        println!("Syntax-only check passed. Everything looks okay.");
    } else {
        println!("The configuration is valid.");
    }
    0
}
