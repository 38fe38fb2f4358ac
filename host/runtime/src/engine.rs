//! The one wasmtime `Engine` of a host, and the epoch ticker that drives deadlines.
//!
//! Configuration, and why:
//! - **async**: host calls (the model, host tools) are async, and a running plugin must yield
//!   so other plugins on the same tokio runtime keep going.
//! - **epoch interruption**: a cheap counter check in loops and function entries (~10 %
//!   slower code, about half the cost of fuel). A ticker thread bumps the epoch every
//!   [`EngineOptions::epoch_tick`]; each run's store yields to tokio at every tick and traps
//!   once its wall-clock deadline has passed. This is what makes the deadline a hard kill for
//!   a plugin spinning in pure wasm.
//! - **fuel**: only when asked for ([`EngineOptions::fuel`]); it slows every plugin.
//! - **pooling allocator**: optional. It pre-reserves slots for instances, memories, tables and
//!   fiber stacks, which makes instantiation cheaper; it pays for hosts that start many short
//!   runs, and costs address space and a fixed concurrency cap (runs beyond it wait).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of each pooled linear memory kept mapped between runs (up to this much of what a
/// run touched): a Rust agent's heap fits, and a thousand slots keep at most 1 GiB resident.
const KEEP_RESIDENT_MEMORY: usize = 1 << 20;
/// Bytes of each pooled table kept mapped between runs.
const KEEP_RESIDENT_TABLES: usize = 64 << 10;

/// Engine-wide settings, fixed for the life of a host.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineOptions {
    /// Use the pooling instance allocator, with slots for this many concurrent runs
    /// (`None`: allocate on demand, no cap on concurrency).
    pub pooling: Option<u32>,
    /// Enable fuel metering, so policies can set a fuel budget.
    pub fuel: bool,
    /// How often the epoch advances: the granularity of deadlines and of cooperative yields.
    pub epoch_tick: Duration,
    /// Stack available to wasm code, in bytes.
    pub max_wasm_stack: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            pooling: None,
            fuel: false,
            epoch_tick: Duration::from_millis(10),
            max_wasm_stack: 1 << 20,
        }
    }
}

/// An engine plus its ticker. Dropping it stops the ticker thread.
pub(crate) struct HostEngine {
    pub(crate) engine: Engine,
    pub(crate) options: EngineOptions,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for HostEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostEngine")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl HostEngine {
    pub(crate) fn new(options: EngineOptions) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .consume_fuel(options.fuel)
            .max_wasm_stack(options.max_wasm_stack)
            // Fiber stacks must hold the wasm stack plus host frames during host calls.
            .async_stack_size(options.max_wasm_stack + (1 << 20))
            .parallel_compilation(true);
        if let Some(slots) = options.pooling {
            let slots = slots.max(1);
            let mut pool = PoolingAllocationConfig::new();
            // A Rust wasip2 component has one memory, a handful of tables and a few dozen
            // core instances (one per adapted interface); leave headroom for other toolchains.
            pool.total_component_instances(slots)
                .total_stacks(slots)
                .total_memories(slots.saturating_mul(2))
                .total_tables(slots.saturating_mul(8))
                .total_core_instances(slots.saturating_mul(64))
                .max_memories_per_component(2)
                .max_tables_per_component(8)
                .max_core_instances_per_component(64)
                .max_memory_size(4 << 30);
            // A slot's memory and tables are reset for the next run by rewriting only the
            // pages the last run touched (the kernel's PAGEMAP_SCAN, Linux 6.7+), and stay
            // mapped: the next run starts without page faults, and the last ends without an
            // `madvise` whose TLB shootdowns and mmap lock stall both cores (figure 12). Without
            // the scan, resetting the whole resident budget by `memset` would cost more than the
            // faults it saves, so memories are then released as before.
            if PoolingAllocationConfig::is_pagemap_scan_available() {
                pool.pagemap_scan(Enabled::Yes)
                    .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY)
                    .table_keep_resident(KEEP_RESIDENT_TABLES);
            }
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config)?;
        let ticker = EpochTicker::start(engine.clone(), options.epoch_tick);
        Ok(Self {
            engine,
            options,
            _ticker: ticker,
        })
    }
}

/// A thread that increments the engine's epoch every tick until dropped.
///
/// It waits on a channel rather than sleeping, so dropping the ticker wakes it at once: a
/// sleeping ticker held every `gamecode` exit up to a whole tick.
struct EpochTicker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: Engine, tick: Duration) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let tick = tick.max(Duration::from_millis(1));
        // If the thread cannot be spawned, deadlines still hold through the tokio timeout
        // around every run; only the pure-wasm kill and the cooperative yields are lost.
        let thread = std::thread::Builder::new()
            .name("gamecode-epoch".into())
            .spawn(move || {
                // Disconnected (the ticker was dropped) ends the loop; nothing is ever sent.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    engine.increment_epoch();
                }
            })
            .inspect_err(|e| tracing::error!("cannot start the epoch ticker thread: {e}"))
            .ok();
        Self {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
