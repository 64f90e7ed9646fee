//! Waiting for EC2 to reach a state: polls fast at first (most transitions
//! on a quiet account take well under a second to show) and back off to a
//! few seconds; `aws_polling` sets a fixed delay and a bound instead. A
//! timeout says what it waited for and the last state it saw.

use std::future::Future;
use std::time::{Duration, Instant};

pub enum Poll<T> {
    Ready(T),
    /// Not yet; the state seen, for the timeout message.
    Pending(String),
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// Fixed delay (`aws_polling.delay_seconds`); `None`: adaptive.
    pub delay: Option<Duration>,
    pub max_attempts: Option<u32>,
    /// Bound when `max_attempts` is not set.
    pub timeout: Duration,
}

impl Policy {
    pub fn new(delay: Option<Duration>, max_attempts: Option<u32>) -> Policy {
        Policy {
            delay,
            max_attempts,
            timeout: Duration::from_secs(30 * 60),
        }
    }
}

const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(5);

/// Poll `check` until it is ready, fails, or the policy's bound is reached.
pub async fn until<T, F, Fut>(what: &str, policy: &Policy, mut check: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, String>>,
{
    let start = Instant::now();
    let mut delay = policy.delay.unwrap_or(FIRST);
    let mut attempts = 0u32;
    let mut last;
    loop {
        attempts += 1;
        match check().await? {
            Poll::Ready(t) => return Ok(t),
            Poll::Pending(state) => last = state,
        }
        let out_of_attempts = policy.max_attempts.is_some_and(|m| attempts >= m);
        if out_of_attempts
            || (policy.max_attempts.is_none() && start.elapsed() + delay > policy.timeout)
        {
            return Err(format!(
                "timed out after {:.0?} ({attempts} checks) waiting for {what}; last state: {last}",
                start.elapsed()
            ));
        }
        tokio::time::sleep(delay).await;
        if policy.delay.is_none() {
            delay = (delay * 3 / 2).min(LONGEST);
        }
    }
}
