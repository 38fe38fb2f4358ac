//! Adversarial guest: `run` spins forever in a pure busy loop — no host calls, no allocation,
//! no I/O — so only the host's deadline (epoch interruption) can stop it.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::types::AgentError;
use std::hint::black_box;

struct Looper;

impl Guest for Looper {
    fn run(_task: String) -> Result<String, AgentError> {
        let mut counter: u64 = 0;
        loop {
            // `black_box` keeps the optimizer from proving the loop side-effect free.
            counter = black_box(counter.wrapping_add(1));
        }
    }
}

export!(Looper);
