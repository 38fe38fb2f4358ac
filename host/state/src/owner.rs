//! Which process owns a run, and whether it is still alive: a pid alone is reused, so the
//! owner is the pid, its start time and the machine's boot id.

/// A process that owns runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// The process's start time since boot, in clock ticks (Linux), else 0.
    pub started: u64,
    /// The boot this process belongs to (Linux), else empty.
    pub boot: String,
}

impl Owner {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            pid,
            started: start_time(pid).unwrap_or(0),
            boot: boot_id(),
        }
    }

    /// Whether this owner is still running (on this machine, this boot).
    pub fn alive(&self) -> bool {
        if self.boot != boot_id() {
            return false;
        }
        if cfg!(target_os = "linux") {
            return start_time(self.pid) == Some(self.started);
        }
        let Ok(pid) = libc::pid_t::try_from(self.pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }

    /// The form the store keeps: `pid:started:boot`.
    pub fn to_text(&self) -> String {
        format!("{}:{}:{}", self.pid, self.started, self.boot)
    }

    /// Reads [`Owner::to_text`]'s form.
    pub fn from_text(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, ':');
        Some(Self {
            pid: parts.next()?.parse().ok()?,
            started: parts.next()?.parse().ok()?,
            boot: parts.next()?.to_string(),
        })
    }
}

/// Field 22 of `/proc/PID/stat` (after the parenthesised command, which may hold spaces).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 1..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_child_is_not() {
        let me = Owner::current();
        assert!(me.alive());
        assert_eq!(Owner::from_text(&me.to_text()), Some(me.clone()));
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("`true` runs");
        let pid = child.id();
        let dead = Owner {
            pid,
            started: start_time(pid).unwrap_or(0),
            boot: me.boot.clone(),
        };
        child.wait().expect("it exits");
        assert!(!dead.alive(), "a reaped child is gone");
        // Same pid, another start time: a reused pid is not the owner.
        let reused = Owner {
            started: me.started + 1,
            ..me
        };
        if cfg!(target_os = "linux") {
            assert!(!reused.alive());
        }
    }
}
