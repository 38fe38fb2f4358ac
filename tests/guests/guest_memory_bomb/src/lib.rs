//! Adversarial guest: `run` allocates 1 MiB chunks forever, filling each (so every page is
//! really written) and keeping them all. Only the host's memory cap stops it: the refused
//! `memory.grow` makes the allocation fail, which aborts the guest (a trap).

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::types::AgentError;
use std::hint::black_box;

const CHUNK: usize = 1 << 20;

struct MemoryBomb;

impl Guest for MemoryBomb {
    fn run(_task: String) -> Result<String, AgentError> {
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        loop {
            // A non-zero fill is a real memset; a zeroed allocation could skip the writes.
            let chunk = vec![0xA5u8; CHUNK];
            chunks.push(black_box(chunk));
        }
    }
}

export!(MemoryBomb);
