//! Malformed guest: claims `gamecode:plugin@0.2.0` but its `agent.run` has 0.1.0's shape (a
//! string task, not a `task` record). The host must refuse it, saying which version it claims
//! and which function does not match.

wit_bindgen::generate!({
    inline: "
        package gamecode:plugin@0.2.0;
        interface agent {
            run: func(task: string) -> result<string, string>;
        }
        world plugin { export agent; }
    ",
});

use exports::gamecode::plugin::agent::Guest;

struct WrongShape;

impl Guest for WrongShape {
    fn run(task: String) -> Result<String, String> {
        Ok(task)
    }
}

export!(WrongShape);
