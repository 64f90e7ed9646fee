//! Local processes kiln starts (shell-local scripts, qemu, tools) and
//! everything they start in turn: none outlives kiln. A build makes kiln a
//! child subreaper, so a descendant whose parent exits (a script's
//! background job, a daemon that double-forks or calls `setsid`) becomes
//! kiln's child instead of init's; before kiln exits, [`end_descendants`]
//! stops every descendant still running and reaps it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Make orphaned descendants kiln's children (Linux's
/// `PR_SET_CHILD_SUBREAPER`), so that [`end_descendants`] can find them
/// all. Without it (another kernel), only those still under a live
/// ancestor are found.
pub fn become_subreaper() {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag.
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
}

/// Kills a process group (SIGKILL) when dropped unless [`GroupGuard::done`]
/// was called: what a step started in a group of its own ends with the
/// step when the step is cut short (dropped by an interrupt, say).
pub struct GroupGuard(pub u32);

impl GroupGuard {
    /// The group's leader ran to its end: leave the group be.
    pub fn done(mut self) {
        self.0 = 0;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Ok(pgid) = i32::try_from(self.0) {
            if pgid > 1 {
                // SAFETY: signalling a process group; a gone one is ESRCH.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }
}

/// Every process whose chain of parents reaches kiln, from /proc.
pub fn descendants() -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut parent_of: HashMap<i32, i32> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(ppid) = parent(pid) {
            parent_of.insert(pid, ppid);
        }
    }
    let mut found: HashSet<i32> = HashSet::new();
    let mut frontier = vec![me];
    while let Some(p) = frontier.pop() {
        for (&child, _) in parent_of.iter().filter(|(_, &pp)| pp == p) {
            if found.insert(child) {
                frontier.push(child);
            }
        }
    }
    let mut v: Vec<i32> = found.into_iter().collect();
    v.sort_unstable();
    v
}

/// A process's parent, from `/proc/PID/stat` (the field after the
/// command name, which may itself hold spaces and parentheses). A zombie
/// keeps its parent too: /proc is read one process at a time, so a child
/// may be seen under a parent that has exited since, and the chain must
/// still lead to kiln.
fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    fields.next()?;
    fields.next()?.parse().ok()
}

/// Stop every descendant still running: SIGTERM, up to `grace` to exit,
/// then SIGKILL; and reap each that is kiln's child, so that when this
/// returns none is left running. Answers how many there were.
///
/// A scan of /proc is not atomic (a shell may fork while it is read), so
/// the scan is never the judge of "none left": kiln is the subreaper of
/// all its descendants, so none is left exactly when kiln has no child at
/// all, which `waitpid` answers in one call.
pub fn end_descendants(grace: Duration) -> usize {
    let start = Instant::now();
    let mut signalled: HashSet<i32> = HashSet::new();
    loop {
        if !reap_children() {
            break;
        }
        let killing = start.elapsed() >= grace;
        for p in descendants() {
            if killing || signalled.insert(p) {
                let sig = if killing {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                // SAFETY: signalling a process id; a gone one answers ESRCH.
                unsafe {
                    libc::kill(p, sig);
                }
            }
        }
        // SIGKILL cannot be caught: past the grace, what is left ends
        // within moments unless the kernel holds it (a hung mount, say),
        // and kiln must still exit then.
        if start.elapsed() >= grace + Duration::from_secs(5) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signalled.len()
}

/// Reap every child that has exited; answers whether kiln still has a
/// child (running, or a zombie not reaped yet).
fn reap_children() -> bool {
    loop {
        let mut status = 0;
        // SAFETY: waitpid with WNOHANG on any child.
        let r = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        match r {
            0 => return true,
            r if r > 0 => continue,
            // ECHILD: no child at all. EINTR: ask again.
            _ => {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parent_is_read_past_a_command_name_with_parentheses() {
        let me = std::process::id() as i32;
        // SAFETY: getppid has no preconditions.
        let pp = unsafe { libc::getppid() };
        assert_eq!(parent(me), Some(pp));
    }
}
