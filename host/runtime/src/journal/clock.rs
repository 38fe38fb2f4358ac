//! The plugin's clocks in a journaled run: live readings are kept to be journaled, and a
//! resumed run is given the journaled readings again, in order, before live ones.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use wasmtime_wasi::{HostMonotonicClock, HostWallClock};

use super::record::Readings;

/// The readings of one run's clocks: journaled ones to give again, new ones to journal.
#[derive(Debug)]
pub(crate) struct ClockTape {
    inner: Mutex<Tape>,
}

#[derive(Debug)]
struct Tape {
    replay_wall: VecDeque<u64>,
    replay_mono: VecDeque<u64>,
    new_wall: Vec<u64>,
    new_mono: Vec<u64>,
    /// Live monotonic readings are `mono_base` + the time since `origin`: they go on from
    /// the last journaled one, never back.
    origin: Instant,
    mono_base: u64,
    last_mono: u64,
}

impl ClockTape {
    pub(crate) fn live() -> Self {
        Self::replaying(Vec::new(), Vec::new())
    }

    pub(crate) fn replaying(wall: Vec<u64>, mono: Vec<u64>) -> Self {
        Self {
            inner: Mutex::new(Tape {
                replay_wall: wall.into(),
                replay_mono: mono.into(),
                new_wall: Vec::new(),
                new_mono: Vec::new(),
                origin: Instant::now(),
                mono_base: 0,
                last_mono: 0,
            }),
        }
    }

    fn tape(&self) -> MutexGuard<'_, Tape> {
        // The tape is plain data, consistent after any panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The readings made since the last call.
    pub(crate) fn take_new(&self) -> Readings {
        let mut tape = self.tape();
        Readings {
            wall: std::mem::take(&mut tape.new_wall),
            mono: std::mem::take(&mut tape.new_mono),
        }
    }

    fn wall(&self) -> u64 {
        let mut tape = self.tape();
        if let Some(ns) = tape.replay_wall.pop_front() {
            return ns;
        }
        let ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        tape.new_wall.push(ns);
        ns
    }

    fn mono(&self) -> u64 {
        let mut tape = self.tape();
        if let Some(ns) = tape.replay_mono.pop_front() {
            tape.last_mono = ns;
            if tape.replay_mono.is_empty() {
                // Live from here: on from the last journaled reading.
                tape.origin = Instant::now();
                tape.mono_base = ns;
            }
            return ns;
        }
        let elapsed = u64::try_from(tape.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let ns = tape.mono_base.saturating_add(elapsed).max(tape.last_mono);
        tape.last_mono = ns;
        tape.new_mono.push(ns);
        ns
    }
}

/// `wasi:clocks/wall-clock` of a journaled run.
pub(crate) struct JournaledWallClock(pub(crate) std::sync::Arc<ClockTape>);

impl HostWallClock for JournaledWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.0.wall())
    }
}

/// `wasi:clocks/monotonic-clock` of a journaled run.
pub(crate) struct JournaledMonotonicClock(pub(crate) std::sync::Arc<ClockTape>);

impl HostMonotonicClock for JournaledMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.mono()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resumed_tape_gives_the_journaled_readings_then_goes_on_from_them() {
        let live = ClockTape::live();
        let readings: Vec<u64> = (0..3).map(|_| live.mono()).collect();
        let wall = live.wall();
        let Readings { wall: w, mono: m } = live.take_new();
        assert_eq!((m.clone(), w.clone()), (readings.clone(), vec![wall]));
        assert!(live.take_new().is_empty(), "taken once");

        // A later process: its own Instant origin, far from the first one's.
        let resumed = ClockTape::replaying(w, m);
        assert_eq!(resumed.wall(), wall);
        let again: Vec<u64> = (0..3).map(|_| resumed.mono()).collect();
        assert_eq!(again, readings);
        let next = resumed.mono();
        assert!(next >= readings[2], "monotonic across the resume");
        let Readings { mono, wall } = resumed.take_new();
        assert_eq!((mono, wall.len()), (vec![next], 0));
    }
}
