//! Waiting for EC2 to reach a state: polls fast at first (most transitions
//! on a quiet account take well under a second to show) and back off to a
//! few seconds; `aws_polling` sets a fixed delay and a bound instead. A
//! long wait says what it waits for, its state and how long it has waited,
//! at growing intervals (an AMI takes ten minutes and more on real EC2, and
//! a CI log must not look hung); a timeout says what it waited for and the
//! last state it saw.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
// Tokio's clock, so a test can pause it.
use tokio::time::Instant;

pub enum Poll<T> {
    Ready(T),
    /// Not yet; the state seen, for the timeout message.
    Pending(String),
}

/// Where a long wait reports that it is still waiting.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

#[derive(Debug, Clone)]
pub struct Policy {
    /// Fixed delay (`aws_polling.delay_seconds`); `None`: adaptive.
    pub delay: Option<Duration>,
    pub max_attempts: Option<u32>,
    /// Bound when `max_attempts` is not set.
    pub timeout: Duration,
    /// Told about a wait still going after [`FIRST_REPORT`], and again at
    /// doubling intervals; `None`: only the debug log is.
    pub progress: Option<Progress>,
}

impl Policy {
    pub fn new(delay: Option<Duration>, max_attempts: Option<u32>) -> Policy {
        Policy {
            delay,
            max_attempts,
            timeout: Duration::from_secs(30 * 60),
            progress: None,
        }
    }

    /// This policy, reporting long waits to `say`.
    pub fn reporting(mut self, say: impl Fn(&str) + Send + Sync + 'static) -> Policy {
        self.progress = Some(Progress(Arc::new(say)));
        self
    }
}

/// When a wait first says it is still waiting; later reports come at
/// doubling intervals, at most [`REPORT_EVERY`] apart.
const FIRST_REPORT: Duration = Duration::from_secs(30);
const REPORT_EVERY: Duration = Duration::from_secs(120);

const FIRST: Duration = Duration::from_millis(100);
/// The longest pause between two checks, reached after 40 s of waiting.
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
    let mut next_report = FIRST_REPORT;
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
        if start.elapsed() >= next_report {
            let msg = format!(
                "Still waiting for {what} ({last}) after {}",
                minutes_seconds(start.elapsed())
            );
            tracing::debug!("{msg}");
            if let Some(p) = &policy.progress {
                (p.0)(&msg);
            }
            next_report = (next_report * 2).min(start.elapsed() + REPORT_EVERY);
        }
        tokio::time::sleep(delay).await;
        if policy.delay.is_none() {
            // The pause grows with the wait, as a share of it: a state that
            // comes in seconds is seen within a second (a fixed 5 s cap
            // overshot short waits by seconds), one that takes ten minutes
            // is asked about every few seconds.
            let share = (start.elapsed() / 8).clamp(Duration::from_secs(1), LONGEST);
            delay = (delay * 3 / 2).min(share);
        }
    }
}

/// `95s` as `1m35s`, `40s` as `40s`: a wait's length in a log line.
fn minutes_seconds(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn minutes_and_seconds() {
        assert_eq!(minutes_seconds(Duration::from_secs(40)), "40s");
        assert_eq!(minutes_seconds(Duration::from_secs(95)), "1m35s");
        assert_eq!(minutes_seconds(Duration::from_secs(3600)), "60m00s");
    }

    /// A long wait says so (paused time: no real waiting).
    #[tokio::test(start_paused = true)]
    async fn a_long_wait_reports_what_it_waits_for_at_intervals() {
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = said.clone();
        let policy = Policy::new(None, None).reporting(move |m| {
            log.lock().expect("lock").push(m.to_string());
        });
        let mut polls = 0u32;
        let start = tokio::time::Instant::now();
        let r: Result<(), String> = until("AMI ami-1 to become available", &policy, || {
            polls += 1;
            let done = start.elapsed() >= Duration::from_secs(200);
            async move {
                Ok(if done {
                    Poll::Ready(())
                } else {
                    Poll::Pending("pending".into())
                })
            }
        })
        .await;
        assert!(r.is_ok());
        let said = said.lock().expect("lock").clone();
        assert!(said.len() >= 2 && said.len() <= 4, "{said:?}");
        assert!(
            said[0]
                .starts_with("Still waiting for AMI ami-1 to become available (pending) after 3"),
            "{said:?}"
        );
        // Backed off to a few seconds: no hammering.
        assert!(polls < 60, "{polls} polls in 200 s");
    }
}
