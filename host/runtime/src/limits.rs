//! The per-run `ResourceLimiter`: the linear-memory cap and bounds on tables and instances.
//!
//! Growth beyond the cap is *denied* (`memory.grow` returns -1) rather than trapped, so a
//! guest that can cope with a failed allocation may; the denial is recorded so that when the
//! guest then traps (Rust aborts on allocation failure) the run reports
//! `MemoryLimitExceeded` instead of an anonymous trap.

use wasmtime::ResourceLimiter;

/// Table elements a plugin may have in one table. Rust and C guests use a few hundred
/// (function pointers); this bound only stops a table-growth bomb.
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// Tracks and caps one run's memory.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    /// Bytes granted across every linear memory of the store.
    total: u64,
    /// The largest `total` seen.
    peak: u64,
    /// The size of the first growth that was denied, if any.
    denied: Option<u64>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            total: 0,
            peak: 0,
            denied: None,
        }
    }

    /// The cap in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// The most linear memory the run had at once, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }

    /// Whether a growth was refused because of the cap.
    pub(crate) fn hit_limit(&self) -> bool {
        self.denied.is_some()
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let growth = (desired as u64).saturating_sub(current as u64);
        let total = self.total.saturating_add(growth);
        if total > self.limit {
            if self.denied.is_none() {
                tracing::warn!(
                    limit = self.limit,
                    requested = total,
                    "plugin memory growth denied: over its memory cap"
                );
                self.denied = Some(total);
            }
            return Ok(false);
        }
        self.total = total;
        self.peak = self.peak.max(total);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        // Rust wasip2 components have a few dozen core instances; this stays far above that.
        1_000
    }

    fn tables(&self) -> usize {
        1_000
    }

    fn memories(&self) -> usize {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_is_summed_across_memories_and_denied_over_the_cap() {
        let mut l = MemoryLimiter::new(10 * 65536);
        assert!(l.memory_growing(0, 4 * 65536, None).unwrap());
        assert!(l.memory_growing(0, 4 * 65536, None).unwrap());
        assert!(!l.hit_limit());
        assert!(!l.memory_growing(4 * 65536, 7 * 65536, None).unwrap());
        assert!(l.hit_limit());
        assert_eq!(l.peak(), 8 * 65536);
        assert!(l.memory_growing(4 * 65536, 6 * 65536, None).unwrap());
        assert_eq!(l.peak(), 10 * 65536);
    }
}
