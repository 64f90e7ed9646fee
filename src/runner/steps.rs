//! A build as a list of small steps, each with its cleanup beside its run
//! (Packer's multistep), over typed state instead of a string-keyed bag.
//!
//! Steps run in order; every step that ran is cleaned up in reverse order,
//! on success, on error and on cancellation (unless `-on-error=abort`).

use super::{BuildContext, BuildError};
use async_trait::async_trait;

#[async_trait]
pub trait Step<S: Send>: Send + Sync {
    fn name(&self) -> &'static str;
    async fn run(&self, state: &mut S, ctx: &BuildContext) -> Result<(), BuildError>;
    /// Undo what `run` created. Runs even when `run` failed half-way.
    async fn cleanup(&self, _state: &mut S, _ctx: &BuildContext) {}
}

/// Run `steps` over `state`. Cancellation interrupts the running step (its
/// future is dropped, which must leave nothing behind that its cleanup cannot
/// find in `state`).
pub async fn run_steps<S: Send>(steps: &[Box<dyn Step<S> + '_>], state: &mut S, ctx: &BuildContext) -> Result<(), BuildError> {
    let mut ran = 0;
    let mut result = Ok(());
    for step in steps {
        if ctx.cancel.is_cancelled() {
            result = Err(BuildError::Cancelled);
            break;
        }
        ctx.ui.event("step", &[step.name(), "start"]);
        ran += 1;
        let r = tokio::select! {
            r = step.run(state, ctx) => r,
            _ = ctx.cancel.cancelled() => Err(BuildError::Cancelled),
        };
        ctx.ui.event("step", &[step.name(), if r.is_ok() { "done" } else { "failed" }]);
        if let Err(e) = r {
            result = Err(e);
            break;
        }
    }
    if result.is_err() && ctx.on_error == super::OnError::Abort {
        ctx.ui.error("Step failed; -on-error=abort: leaving everything as it is, without cleanup.");
        return result;
    }
    for step in steps[..ran].iter().rev() {
        step.cleanup(state, ctx).await;
    }
    result
}
