//! `kiln plan` (kiln extension): for each build of a template, whether
//! `kiln build -reuse` would reuse an artifact made from the same inputs
//! or build, and which inputs changed since the newest artifact of that
//! build. Looks only; see `incremental::plan`.

use super::{print_diags, stderr_color, VarArgs};
use crate::runner::RunOptions;
use crate::ui::{Ui, UiOptions};
use clap::{ArgAction, Args};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct PlanArgs {
    /// Plan only the specified builds (globs, comma-separated)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Plan all builds except these (globs, comma-separated)
    #[arg(long, value_delimiter = ',')]
    except: Vec<String>,
    /// Produce machine-readable output
    #[arg(long = "machine-readable")]
    machine_readable: bool,
    /// Colour the output (-color=false to disable)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    color: bool,
    #[command(flatten)]
    vars: VarArgs,
    /// Template file or directory
    template: PathBuf,
}

pub fn run(a: PlanArgs) -> i32 {
    let mut opts = match a.vars.load_options(a.template.clone()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    opts.evaluate_datasources = true;
    opts.only = a.only.clone();
    opts.except = a.except.clone();
    let (loaded, diags) = crate::frontend::load(&opts);
    print_diags(&diags, stderr_color() && a.color);
    let Some(mut loaded) = loaded else { return 1 };
    if diags.has_errors() {
        return 1;
    }
    if let Err(e) = loaded.graph.select(&a.only, &a.except) {
        eprintln!("Error: {e}");
        return 1;
    }
    let ui = Ui::new(
        UiOptions {
            color: a.color && !a.machine_readable,
            machine_readable: a.machine_readable,
            timestamp: false,
        },
        loaded.graph.sensitive.clone(),
    );
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting the runtime: {e}");
            return 1;
        }
    };
    let opts = RunOptions {
        parallel_builds: 1,
        on_error: Default::default(),
        force: false,
        debug: false,
        legacy_ui: false,
        reuse: true,
    };
    rt.block_on(crate::incremental::plan::plan(
        loaded.graph,
        ui,
        opts,
        CancellationToken::new(),
    ))
}
