//! Order statistics and the process's memory, for reports.

use std::time::Duration;

/// Order statistics of a sample (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

/// Summarizes `values` (any unit). An empty sample gives NaNs.
pub fn summarize(values: &[f64]) -> Summary {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let pick = |q: f64| {
        if n == 0 {
            f64::NAN
        } else {
            v[(((n as f64) * q).ceil() as usize).clamp(1, n) - 1]
        }
    };
    Summary {
        n,
        min: pick(0.0),
        p50: pick(0.5),
        p90: pick(0.9),
        p99: pick(0.99),
        max: v.last().copied().unwrap_or(f64::NAN),
        mean: if n == 0 {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / n as f64
        },
    }
}

/// Nanoseconds as f64.
pub fn ns(d: Duration) -> f64 {
    d.as_secs_f64() * 1e9
}

/// A time in nanoseconds, in a readable unit.
pub fn fmt_ns(x: f64) -> String {
    let a = x.abs();
    if x.is_nan() {
        "n/a".into()
    } else if a < 1e3 {
        format!("{x:.0} ns")
    } else if a < 1e6 {
        format!("{:.2} µs", x / 1e3)
    } else if a < 1e9 {
        format!("{:.2} ms", x / 1e6)
    } else {
        format!("{:.2} s", x / 1e9)
    }
}

impl Summary {
    /// `p50 … p99 (n)` in time units.
    pub fn times(&self) -> String {
        format!(
            "p50 {:>10}  p90 {:>10}  p99 {:>10}  min {:>10}  max {:>10}  (n={})",
            fmt_ns(self.p50),
            fmt_ns(self.p90),
            fmt_ns(self.p99),
            fmt_ns(self.min),
            fmt_ns(self.max),
            self.n
        )
    }
}

/// (VmRSS, VmHWM) of this process in bytes, from /proc/self/status.
pub fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system, all threads) this process has used, from /proc/self/stat
/// (clock ticks, assumed 100 per second as on every Linux x86_64 build; 10 ms resolution).
pub fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at field 3.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. indexes 11 and 12 after the ')'.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false if that is not possible.
pub fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summarize(&v);
        assert_eq!(
            (s.min, s.p50, s.p90, s.p99, s.max),
            (1.0, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(summarize(&[7.0]).p99, 7.0);
        assert!(summarize(&[]).p50.is_nan());
    }
}
