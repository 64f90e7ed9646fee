//! `kiln plan` (kiln extension): for each build of a template, whether
//! `kiln build -reuse` would reuse an artifact made from the same inputs
//! or build, and which inputs changed since the newest artifact of that
//! build. Looks only; see `incremental::plan`.

use super::{prepare, PrepareArgs, VarArgs};
use crate::runner::RunOptions;
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
    let p = match prepare(PrepareArgs {
        vars: &a.vars,
        template: &a.template,
        only: &a.only,
        except: &a.except,
        warn_undeclared_var: false,
        color: a.color,
        machine_readable: a.machine_readable,
        timestamp: false,
    }) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let opts = RunOptions {
        parallel_builds: 1,
        on_error: Default::default(),
        force: false,
        debug: false,
        legacy_ui: false,
        reuse: true,
    };
    p.rt.block_on(crate::incremental::plan::plan(
        p.graph,
        p.ui,
        opts,
        CancellationToken::new(),
    ))
}
