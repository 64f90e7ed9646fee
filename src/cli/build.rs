//! `kiln build`

use super::{prepare, PrepareArgs, Prepared, VarArgs};
use crate::runner::{OnError, RunOptions};
use crate::ui::Ui;
use clap::{ArgAction, Args};
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct BuildArgs {
    /// Build only the specified builds (globs, comma-separated)
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Build all builds except these (globs, comma-separated)
    #[arg(long, value_delimiter = ',')]
    except: Vec<String>,
    /// Number of builds to run in parallel; 0 means no limit
    #[arg(long = "parallel-builds", default_value_t = 0)]
    parallel_builds: usize,
    /// If the build fails do: cleanup (default), abort, ask, or run-cleanup-provisioner
    #[arg(long = "on-error", default_value = "cleanup")]
    on_error: String,
    /// Force a build to continue if artifacts exist, deletes existing artifacts
    #[arg(long)]
    force: bool,
    /// Reuse an artifact made earlier from the same inputs instead of building (kiln extension; docs/incremental.md)
    #[arg(long)]
    reuse: bool,
    /// With -reuse: say what would be reused or built, build nothing (as `kiln plan`)
    #[arg(long = "dry-run")]
    dry_run: bool,
    /// Enable prefixing of each ui output with an RFC3339 timestamp
    #[arg(long = "timestamp-ui")]
    timestamp_ui: bool,
    /// Produce machine-readable output
    #[arg(long = "machine-readable")]
    machine_readable: bool,
    /// Colour the output (-color=false to disable)
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    color: bool,
    /// Debug mode: pause after each step and before each cleanup (builds run one at a time)
    #[arg(long)]
    debug: bool,
    /// Warn about var-file assignments to variables the template does not declare
    #[arg(long = "warn-on-undeclared-var")]
    warn_on_undeclared_var: bool,
    #[command(flatten)]
    vars: VarArgs,
    /// Template file or directory
    template: PathBuf,
}

pub fn run(a: BuildArgs) -> i32 {
    let on_error = match a.on_error.as_str() {
        "cleanup" => OnError::Cleanup,
        "abort" => OnError::Abort,
        "ask" => OnError::Ask,
        "run-cleanup-provisioner" => OnError::RunCleanupProvisioner,
        other => {
            eprintln!("Error: invalid -on-error value {other:?}: use cleanup, abort, ask or run-cleanup-provisioner");
            return 1;
        }
    };
    let Prepared { graph, ui, rt } = match prepare(PrepareArgs {
        vars: &a.vars,
        template: &a.template,
        only: &a.only,
        except: &a.except,
        warn_undeclared_var: a.warn_on_undeclared_var,
        color: a.color,
        machine_readable: a.machine_readable,
        timestamp: a.timestamp_ui,
    }) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let mut parallel_builds = a.parallel_builds;
    if a.debug {
        ui.say("Debug mode enabled. Builds will not be parallelized.");
        parallel_builds = 1;
    }
    let run_opts = RunOptions {
        parallel_builds,
        on_error,
        force: a.force,
        debug: a.debug,
        legacy_ui: false,
        reuse: a.reuse,
    };
    if a.dry_run {
        if !a.reuse {
            eprintln!("Error: -dry-run needs -reuse (kiln plan is the same)");
            return 1;
        }
        return rt.block_on(crate::incremental::plan::plan(
            graph,
            ui,
            run_opts,
            CancellationToken::new(),
        ));
    }
    // An interrupted build ends whatever it started locally, and whatever
    // that started, before kiln exits (see util::procs). A build that ran
    // to its end leaves a script's deliberate background job alone, as
    // Packer does.
    crate::util::procs::become_subreaper();
    let cancel = CancellationToken::new();
    let interrupted = cancel.clone();
    let code = rt.block_on(async move {
        spawn_signal_handler(cancel.clone(), ui.clone());
        crate::runner::run(graph, ui, run_opts, cancel).await
    });
    drop(rt);
    if interrupted.is_cancelled() {
        let left = crate::util::procs::end_descendants(std::time::Duration::from_secs(2));
        if left > 0 {
            tracing::debug!("stopped {left} process(es) the interrupted build left running");
        }
    }
    code
}

/// SIGINT, SIGTERM and SIGHUP cancel the run; cleanups still run.
fn spawn_signal_handler(cancel: CancellationToken, ui: Ui) {
    use tokio::signal::unix::{signal, SignalKind};
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
            // A closed terminal or SSH session: kiln must not die at once
            // and leave what it made behind.
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        loop {
            let name = tokio::select! {
                _ = int.recv() => "interrupt",
                _ = term.recv() => "terminate",
                _ = hup.recv() => "hangup",
            };
            if cancel.is_cancelled() {
                ui.error(&format!(
                    "Received another {name} signal: still cleaning up, please wait."
                ));
            } else {
                ui.error(&format!(
                    "Received {name} signal: cancelling builds and cleaning up..."
                ));
                cancel.cancel();
            }
        }
    });
}
