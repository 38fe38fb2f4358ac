//! Busy time: the CPU time a future used inside its own polls.
//!
//! Under load, wall-clock intervals measure the wait for a CPU as much as the work. The
//! thread's CPU time (`CLOCK_THREAD_CPUTIME_ID`) across each `poll` is the work itself, and
//! excludes the time the OS gave the core to someone else mid-poll. A plugin run does all its
//! host and guest work inside the polls of its future (the guest runs on a fiber within
//! them), so its busy time minus that of its backend calls is the host's and guest's own
//! cost. Each reading is a system call (~0.2 µs), which the figures include.

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// CPU time the calling thread has used so far.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant the kernel knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` to completion, adding the CPU time used inside its polls to `busy`.
pub async fn timed_polls<F: Future>(f: F, busy: &mut Duration) -> F::Output {
    let mut f = pin!(f);
    std::future::poll_fn(|cx| {
        let t = thread_cpu_time();
        let r = f.as_mut().poll(cx);
        *busy += thread_cpu_time().saturating_sub(t);
        match r {
            Poll::Ready(v) => Poll::Ready(v),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_polls_not_waits() {
        let mut busy = Duration::ZERO;
        let out = timed_polls(
            async {
                tokio::time::sleep(Duration::from_millis(30)).await;
                // Spin (on CPU) for 5 ms, then block (off CPU) for 20 ms.
                let t = std::time::Instant::now();
                while t.elapsed() < Duration::from_millis(5) {
                    std::hint::spin_loop();
                }
                std::thread::sleep(Duration::from_millis(20));
                7
            },
            &mut busy,
        )
        .await;
        assert_eq!(out, 7);
        // A loaded machine may take the core away during the spin; the waits never count.
        assert!(busy >= Duration::from_millis(1), "{busy:?}");
        assert!(busy < Duration::from_millis(20), "{busy:?}");
    }
}
