//! A build as a list of small steps, each with its cleanup beside its run
//! (Packer's multistep), over typed state instead of a string-keyed bag.
//!
//! Steps run in order; every step that ran is cleaned up in reverse order,
//! on success, on error and on cancellation (unless `-on-error=abort`, or
//! `-on-error=ask` answered with "abort"). With `-debug` the runner pauses
//! after each step and before each cleanup, as Packer's debug runner does.

use super::{read_answer, BuildContext, BuildError, OnError};
use async_trait::async_trait;

#[async_trait]
pub trait Step<S: Send>: Send + Sync {
    fn name(&self) -> &'static str;
    async fn run(&self, state: &mut S, ctx: &BuildContext) -> Result<(), BuildError>;
    /// Undo what `run` created. Runs even when `run` failed half-way.
    async fn cleanup(&self, _state: &mut S, _ctx: &BuildContext) {}
}

/// What to do after a step failed.
enum AfterFailure {
    Cleanup,
    Abort,
    Retry,
}

/// Ask on the terminal what to do about a failed step (`-on-error=ask`).
async fn ask(ctx: &BuildContext, step: &str, err: &BuildError) -> AfterFailure {
    ctx.ui.error(&format!("{err}\n\n==> Step {step:?} failed"));
    loop {
        ctx.ui.say("[c] Clean up and exit, [a] abort without cleanup, or [r] retry step (build may fail even if retry succeeds)?");
        match read_answer(ctx).await {
            // EOF or Ctrl-C: the safe choice.
            Err(_) | Ok(None) => return AfterFailure::Cleanup,
            Ok(Some(a)) => match a.trim() {
                "c" | "C" => return AfterFailure::Cleanup,
                "a" | "A" => return AfterFailure::Abort,
                "r" | "R" => return AfterFailure::Retry,
                other => ctx.ui.error(&format!("Incorrect input: {other:?}")),
            },
        }
    }
}

async fn debug_pause(ctx: &BuildContext, what: &str) -> Result<(), BuildError> {
    if !ctx.debug {
        return Ok(());
    }
    ctx.ui.say(&format!("{what}. Press enter to continue."));
    super::wait_for_enter(ctx).await
}

/// Run `steps` over `state`. Cancellation interrupts the running step (its
/// future is dropped, which must leave nothing behind that its cleanup cannot
/// find in `state`).
pub async fn run_steps<S: Send>(
    steps: &[Box<dyn Step<S> + '_>],
    state: &mut S,
    ctx: &BuildContext,
) -> Result<(), BuildError> {
    let mut ran = 0;
    let mut result = Ok(());
    let mut abort = false;
    'steps: for step in steps {
        if ctx.cancel.is_cancelled() {
            result = Err(BuildError::Cancelled);
            break;
        }
        ran += 1;
        loop {
            ctx.ui.event("step", &[step.name(), "start"]);
            tracing::debug!(build = %ctx.full_name, "running step {}", step.name());
            let started = std::time::Instant::now();
            let r = tokio::select! {
                r = step.run(state, ctx) => r,
                _ = ctx.cancel.cancelled() => Err(BuildError::Cancelled),
            };
            ctx.ui.event(
                "step",
                &[step.name(), if r.is_ok() { "done" } else { "failed" }],
            );
            match &r {
                Ok(()) => {
                    tracing::debug!(build = %ctx.full_name, "step {} done in {:?}", step.name(), started.elapsed())
                }
                Err(e) => {
                    tracing::debug!(build = %ctx.full_name, "step {} failed after {:?}: {}", step.name(), started.elapsed(), ctx.ui.redact(&e.to_string()))
                }
            }
            match r {
                Ok(()) => break,
                Err(e @ BuildError::Failed(_)) if ctx.on_error == OnError::Ask => {
                    match ask(ctx, step.name(), &e).await {
                        AfterFailure::Retry => continue,
                        AfterFailure::Cleanup => result = Err(e),
                        AfterFailure::Abort => {
                            abort = true;
                            result = Err(e);
                        }
                    }
                    break 'steps;
                }
                Err(e) => {
                    abort = ctx.on_error == OnError::Abort && e != BuildError::Cancelled;
                    result = Err(e);
                    break 'steps;
                }
            }
        }
        if let Err(e) =
            debug_pause(ctx, &format!("Pausing after run of step '{}'", step.name())).await
        {
            result = Err(e);
            break;
        }
    }
    if abort {
        ctx.ui.error(
            "Step failed; aborting without cleanup: everything the build created is left as it is.",
        );
        return result;
    }
    for step in steps[..ran].iter().rev() {
        if !ctx.cancel.is_cancelled() {
            let _ = debug_pause(
                ctx,
                &format!("Pausing before cleanup of step '{}'", step.name()),
            )
            .await;
        }
        tracing::debug!(build = %ctx.full_name, "cleaning up step {}", step.name());
        step.cleanup(state, ctx).await;
    }
    result
}
