//! Adversarial guest: `run` panics. Rust's panic hook prints the message to stderr (which the
//! host captures), then the guest aborts with a trap.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::types::AgentError;

struct Panicker;

impl Guest for Panicker {
    fn run(_task: String) -> Result<String, AgentError> {
        panic!("guest panicked on purpose");
    }
}

export!(Panicker);
