//! `kiln build`

use super::{prepare, PrepareArgs, Prepared, VarArgs};
use crate::runner::{OnError, RunOptions};
use crate::ui::Ui;
use clap::{ArgAction, Args};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
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
    let end_ui = ui.clone();
    let (mut code, late) = rt.block_on(async move {
        let late = spawn_signal_handler(cancel.clone(), ui.clone());
        (crate::runner::run(graph, ui, run_opts, cancel).await, late)
    });
    drop(rt);
    // A signal that came as the last build finished, after the runner had
    // looked: the artifacts stand, but the run was interrupted (Packer's
    // build exits 1 for a signal until it returns).
    let signalled = late.is_some_and(|f| f.load(Ordering::SeqCst));
    if signalled && !interrupted.is_cancelled() {
        end_ui.error("Interrupted as the builds finished: their artifacts are kept.");
        code = code.max(1);
    }
    if interrupted.is_cancelled() || signalled {
        let left = crate::util::procs::end_descendants(std::time::Duration::from_secs(2));
        if left > 0 {
            tracing::debug!("stopped {left} process(es) the interrupted build left running");
        }
    }
    code
}

/// A flag set by SIGINT, SIGTERM or SIGHUP for as long as kiln runs (the
/// runtime's signal streams end with it); `None` if it could not be set.
fn late_signals() -> Option<&'static AtomicBool> {
    static SEEN: AtomicBool = AtomicBool::new(false);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the action only stores to an atomic, which is
        // async-signal-safe.
        let r =
            unsafe { signal_hook_registry::register(sig, || SEEN.store(true, Ordering::SeqCst)) };
        r.ok()?;
    }
    Some(&SEEN)
}

/// SIGINT, SIGTERM and SIGHUP cancel the run; cleanups still run. Also
/// returns [`late_signals`]' flag, set up once the streams are (before
/// that, a signal still ends kiln at once: nothing is made yet).
fn spawn_signal_handler(cancel: CancellationToken, ui: Ui) -> Option<&'static AtomicBool> {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        // A closed terminal or SSH session: kiln must not die at once
        // and leave what it made behind.
        signal(SignalKind::hangup()),
    ) else {
        return None;
    };
    let late = late_signals();
    tokio::spawn(async move {
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
    late
}
