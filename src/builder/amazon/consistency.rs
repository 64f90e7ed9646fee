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
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a resource kiln created or found may stay invisible to EC2's
/// other calls before a not-found answer is believed. AWS gives no bound;
/// propagation is seconds, IAM to EC2 ~10 s, and a build that gives up
/// early leaves the user with nothing, so this errs long.
pub const VISIBILITY: Duration = Duration::from_secs(120);

/// How long a delete retries EC2's "not found" before believing it: what
/// the build just made may not be visible yet, and a delete that took that
/// answer for "already gone" would leak it. Shorter than [`VISIBILITY`]:
/// by the time a build deletes something, later calls have usually seen it.
pub const GONE: Duration = Duration::from_secs(30);

/// The first pause after a not-found answer, and the longest. Short: EC2's
/// propagation takes seconds, and every second past it is a second the
/// build waits for nothing (a 5 s cap cost 2-4 s per created resource);
/// at most one call a second per resource is no load on the API.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(1);

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
    retry_not_found(action, VISIBILITY, None, call).await
}

/// [`eventually`] for a create that runs to its end whatever happens to
/// the build: once `stop` is cancelled (Ctrl-C) a not-found answer is
/// believed at once. That is safe because a not-found answer means the
/// create did not happen, so there is nothing for the cleanup to miss.
pub async fn eventually_unless<T, E, R, F, Fut>(
    action: &str,
    stop: &CancellationToken,
    call: F,
) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    retry_not_found(action, VISIBILITY, Some(stop), call).await
}

/// [`eventually`] with another bound (deletes of what may already be gone
/// use a shorter one).
pub async fn eventually_within<T, E, R, F, Fut>(
    action: &str,
    bound: Duration,
    call: F,
) -> Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    retry_not_found(action, bound, None, call).await
}

async fn retry_not_found<T, E, R, F, Fut>(
    action: &str,
    bound: Duration,
    stop: Option<&CancellationToken>,
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
                let sleep = tokio::time::sleep(jittered(pause));
                match stop {
                    Some(stop) => tokio::select! {
                        _ = sleep => {}
                        _ = stop.cancelled() => return result,
                    },
                    None => sleep.await,
                }
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
    use aws_sdk_ec2::error::ErrorMetadata;
    use aws_sdk_ec2::operation::describe_instances::DescribeInstancesError;
    use std::sync::atomic::{AtomicU32, Ordering};

    type Answer = Result<u32, SdkError<DescribeInstancesError, ()>>;

    fn answer(code: &str) -> Answer {
        let e = DescribeInstancesError::generic(ErrorMetadata::builder().code(code).build());
        Err(SdkError::service_error(e, ()))
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_retried_until_the_resource_shows() {
        let calls = AtomicU32::new(0);
        let got = eventually("DescribeInstances", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=3 => answer("InvalidInstanceID.NotFound"),
                n => Ok(n),
            }
        })
        .await;
        assert_eq!(got.ok(), Some(4));
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_answered_at_once() {
        let calls = AtomicU32::new(0);
        let got = eventually("DescribeInstances", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            answer("UnauthorizedOperation")
        })
        .await;
        assert!(got.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_believed_after_the_bound() {
        let start = tokio::time::Instant::now();
        let got = eventually_within("DeleteVolume", GONE, || async {
            answer("InvalidVolume.NotFound")
        })
        .await;
        assert!(got.is_err());
        assert!(start.elapsed() <= GONE, "{:?}", start.elapsed());
        assert!(
            start.elapsed() >= GONE - MAX_PAUSE * 2,
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_interrupt_cuts_a_create_s_retries_short() {
        let stop = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let cancel = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            cancel.cancel();
        });
        let start = tokio::time::Instant::now();
        let got = eventually_unless("RunInstances", &stop, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            answer("InvalidGroup.NotFound")
        })
        .await;
        assert!(got.is_err());
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_secs(3) && waited < Duration::from_secs(4),
            "{waited:?}"
        );
        assert!(calls.load(Ordering::SeqCst) > 1);
    }

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
