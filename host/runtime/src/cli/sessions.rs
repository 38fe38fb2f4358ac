//! `gamecode sessions list | show NAME | rm NAME`: the sessions `gamecode run --session` and
//! `gamecode chat` keep in the state store, and how their conversations read.

use gamecode_backend as b;
use gamecode_host::state::{SessionTurn, StateStore};
use gamecode_host::text::escape_controls;

use crate::runs::{age, shorten};
use crate::state::open;
use crate::{EXIT_OTHER, EXIT_USAGE, Failure, SessionsAction};

pub(crate) fn sessions(action: SessionsAction) -> Result<(), Failure> {
    let store = open()?;
    match action {
        SessionsAction::List => list(store.as_ref()),
        SessionsAction::Show { name } => {
            let turns = turns(store.as_ref(), &name)?;
            if turns.is_empty() {
                return Err(Failure::new(EXIT_USAGE, format!("no session `{name}`")));
            }
            print!("{}", render(&turns));
            Ok(())
        }
        SessionsAction::Rm { name } => {
            // A run that may still go on reads the session as it was when it started: keep
            // the turns it reads until it ends.
            let open: Vec<String> = store
                .runs()
                .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?
                .into_iter()
                .filter(|r| r.session.as_deref() == Some(name.as_str()) && !r.status.ended())
                .map(|r| format!("{} ({})", r.id, r.status))
                .collect();
            if !open.is_empty() {
                return Err(Failure::new(
                    EXIT_OTHER,
                    format!(
                        "session `{name}` has runs that have not ended: {}; resume, approve or \
                         finish them first",
                        open.join(", ")
                    ),
                ));
            }
            let removed = store
                .remove_session(&name)
                .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
            if removed == 0 {
                return Err(Failure::new(EXIT_USAGE, format!("no session `{name}`")));
            }
            println!("removed session `{name}` ({removed} turns)");
            Ok(())
        }
    }
}

fn list(store: &dyn StateStore) -> Result<(), Failure> {
    let sessions = store
        .sessions()
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))?;
    if sessions.is_empty() {
        println!("no sessions yet (`gamecode chat`, or `gamecode run --session NAME`)");
        return Ok(());
    }
    println!(
        "{:<28}  {:>5}  {:>7}  {:>8}",
        "SESSION", "TURNS", "STARTED", "LAST"
    );
    for s in &sessions {
        println!(
            "{:<28}  {:>5}  {:>7}  {:>8}",
            shorten(&escape_controls(&s.name), 28),
            s.turns,
            age(s.created_ms),
            age(s.updated_ms)
        );
    }
    Ok(())
}

/// Every turn of session `name`, in order.
pub(crate) fn turns(store: &dyn StateStore, name: &str) -> Result<Vec<SessionTurn>, Failure> {
    store
        .session_turns(name, None, i64::MAX as u64)
        .map_err(|e| Failure::new(EXIT_OTHER, e.to_string()))
}

/// A session's turns as a person reads them: who said what, the tools called between.
pub(crate) fn render(turns: &[SessionTurn]) -> String {
    let mut out = String::new();
    let keys = turns.iter().any(|t| t.key != turns[0].key);
    for turn in turns {
        let of = if keys {
            format!(" ({})", escape_controls(&turn.key))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "── turn {}{of}, {} ago, run {}\n",
            turn.seq,
            age(turn.created_ms),
            turn.run_id.as_deref().unwrap_or("-")
        ));
        let messages: Vec<b::Message> = match serde_json::from_str(&turn.messages) {
            Ok(m) => m,
            Err(e) => {
                out.push_str(&format!("   (unreadable: {e})\n"));
                continue;
            }
        };
        for m in &messages {
            for line in message_lines(m) {
                out.push_str(&escape_controls(&line));
                out.push('\n');
            }
        }
    }
    out
}

fn message_lines(m: &b::Message) -> Vec<String> {
    let who = match m.role {
        b::MessageRole::User => "you",
        b::MessageRole::Assistant => "agent",
        _ => "system",
    };
    let mut lines = Vec::new();
    for block in &m.content {
        match block {
            b::ContentBlock::Text { text } if !text.trim().is_empty() => {
                lines.push(format!("{who}: {}", text.trim()));
            }
            b::ContentBlock::Cited(c) => lines.push(format!("{who}: {}", c.text.trim())),
            b::ContentBlock::ToolUse(call) => lines.push(format!(
                "   → {} {}",
                call.name,
                shorten(&call.input.to_string(), 100)
            )),
            b::ContentBlock::ToolResult(r) => {
                let text: Vec<String> = r
                    .content
                    .iter()
                    .map(|c| match c {
                        b::ToolResultContent::Text(t) => t.clone(),
                        b::ToolResultContent::Json(v) => v.to_string(),
                        _ => "(media)".to_string(),
                    })
                    .collect();
                let mark = if r.is_error { "✗" } else { "←" };
                lines.push(format!(
                    "   {mark} {}",
                    shorten(&text.join(" ").replace('\n', " "), 100)
                ));
            }
            b::ContentBlock::Image(_) => lines.push(format!("{who}: (an image)")),
            b::ContentBlock::Document(d) => lines.push(format!("{who}: (document {})", d.name)),
            _ => {}
        }
    }
    lines
}
