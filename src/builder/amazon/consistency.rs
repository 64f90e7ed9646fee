//! EC2's eventual consistency: a resource a call has just created (or one
//! a lookup has just found) can be unknown to the next calls for seconds —
//! an instance profile reaches EC2 from IAM in ~10 — and AWS documents that
//! callers retry. Every call kiln makes that names such a resource goes
//! through [`eventually`]: it retries the not-found class of answers with
//! a growing, jittered pause for a bounded time, and returns every other
//! answer (success or error) as it is. Throttling, 5xx answers and dropped
//! connections are the SDK's retry strategy's (`client.rs`), shared by all
//! calls made with one client.

use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long a resource kiln created or found may stay invisible to EC2's
/// other calls before a not-found answer is believed. AWS gives no bound;
/// propagation is seconds, IAM to EC2 ~10 s, and a build that gives up
/// early leaves the user with nothing, so this errs long.
pub const VISIBILITY: Duration = Duration::from_secs(120);

/// The first pause after a not-found answer, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// Whether a failed call says that a resource it names is not (yet) known:
/// EC2's `InvalidX.NotFound` codes (`InvalidGroup.NotFound`,
/// `InvalidInstanceID.NotFound`, `InvalidAMIID.NotFound`...), launch
/// templates' `...NotFoundException`, and RunInstances' "Invalid IAM
/// Instance Profile" while a new instance profile propagates.
pub fn not_visible_yet<E, R>(e: &SdkError<E, R>) -> bool
where
    E: ProvideErrorMetadata,
{
    let SdkError::ServiceError(s) = e else {
        return false;
    };
    let code = s.err().code().unwrap_or_default();
    let message = s.err().message().unwrap_or_default();
    code.ends_with(".NotFound")
        || code.ends_with("NotFoundException")
        || (code == "InvalidParameterValue"
            && message
                .to_ascii_lowercase()
                .contains("iam instance profile"))
}

/// Run `call` until its answer is not a not-found one, or [`VISIBILITY`]
/// has passed since the first attempt; the last answer is returned.
/// `action` names the call in the debug log.
pub async fn eventually<T, E, R, F, Fut>(action: &str, call: F) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    eventually_within(action, VISIBILITY, call).await
}

/// [`eventually`] with another bound (deletes of what may already be gone
/// use a shorter one).
pub async fn eventually_within<T, E, R, F, Fut>(
    action: &str,
    bound: Duration,
    mut call: F,
) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    let start = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        let result = call().await;
        match &result {
            Err(e) if not_visible_yet(e) && start.elapsed() + pause < bound => {
                tracing::debug!(
                    "{action}: {} not visible yet ({:.1}s); retrying",
                    e.code().unwrap_or("resource"),
                    start.elapsed().as_secs_f64()
                );
                tokio::time::sleep(jittered(pause)).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
            _ => return result,
        }
    }
}

/// `pause` scaled by a random factor in [0.5, 1.0): builds that wait on the
/// same thing do not call again in step.
fn jittered(pause: Duration) -> Duration {
    let r = uuid::Uuid::new_v4().as_u128() % 1000;
    pause.mul_f64(0.5 + r as f64 / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_and_whole() {
        for _ in 0..200 {
            let j = jittered(Duration::from_secs(2));
            assert!(
                j >= Duration::from_secs(1) && j < Duration::from_secs(2),
                "{j:?}"
            );
        }
    }
}
