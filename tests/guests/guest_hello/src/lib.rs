//! The simplest well-behaved plugin: `run(task)` answers `hello, <task>` without any host
//! call, after printing one line to stdout and one to stderr (so capture can be tested). Used
//! for concurrency and containment tests and instantiation benchmarks.

wit_bindgen::generate!({ path: "../../../wit/v0.1.0", world: "plugin" });

use exports::gamecode::plugin::agent::Guest;
use gamecode::plugin::types::AgentError;

struct Hello;

impl Guest for Hello {
    fn run(task: String) -> Result<String, AgentError> {
        println!("hello from stdout");
        eprintln!("hello from stderr");
        Ok(format!("hello, {task}"))
    }
}

export!(Hello);
