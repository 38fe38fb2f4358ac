//! Turning a validated request into the model's answer.
//!
//! The default responder behaves like a tool-using model, deterministically: it calls an
//! offered tool with schema-valid arguments, answers from tool results once they arrive, and
//! otherwise echoes the user's question; asked about what came before ("what did I say
//! earlier?"), it quotes the conversation's earlier user turns, as a model reads its context.
//! Scripted replies replace it when a test needs a
//! specific answer. Either way `maxTokens` and `stopSequences` are honoured and token usage is
//! estimated (about four characters per token), so clients see realistic stop reasons and
//! usage figures.

use crate::picker::{self, Offered};
use crate::schema::{generate_input, generate_input_for_path, is_path_name, path_in};
use crate::script::{Reply, message_text};
use serde_json::{Value, json};

/// The prefix of the default plain-text answer.
pub(crate) const ECHO_PREFIX: &str = "This is the Bedrock emulator answering: ";
/// The prefix of the default answer to tool results.
pub(crate) const TOOL_RESULTS_PREFIX: &str = "Based on the tool results: ";
/// The prefix of the default answer to a question about the conversation's earlier turns.
pub(crate) const RECALL_PREFIX: &str = "Earlier in this conversation you said: ";

/// A complete model answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    /// Converse content blocks (`{"text": …}` / `{"toolUse": …}` / raw ones).
    pub(crate) content: Vec<Value>,
    pub(crate) stop_reason: String,
    /// Input tokens not read from or written to the prompt cache.
    pub(crate) input_tokens: u64,
    pub(crate) output_tokens: u64,
    pub(crate) cache_read_tokens: u64,
    pub(crate) cache_write_tokens: u64,
    /// Top-level response fields beside the message (`serviceTier`, `performanceConfig`,
    /// `additionalModelResponseFields`), as a JSON object.
    pub(crate) extra: Value,
}

/// Estimated tokens of a text: ceil(chars / 4).
pub(crate) fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Produce the answer to a validated request: `reply` if scripted, else the default
/// responder's. `next_tool_use_id` mints toolUse ids.
pub(crate) fn answer(
    body: &Value,
    reply: Option<Reply>,
    next_tool_use_id: &mut dyn FnMut() -> String,
) -> Answer {
    let raw = matches!(reply, Some(Reply::Raw { .. }));
    let (content, stop_reason, limited) = match reply {
        Some(Reply::Text(text)) => (vec![json!({ "text": text })], "end_turn".to_string(), true),
        Some(Reply::ToolUse { name, input }) => (
            vec![tool_use_block(next_tool_use_id(), &name, input)],
            "tool_use".to_string(),
            false,
        ),
        Some(Reply::Raw {
            content,
            stop_reason,
        }) => (
            fill_tool_use_ids(content, next_tool_use_id),
            stop_reason,
            false,
        ),
        None => {
            let (content, stop) = default_reply(body, next_tool_use_id);
            (content, stop, true)
        }
    };
    let (mut content, stop_reason) = if limited {
        apply_limits(content, stop_reason, body.get("inferenceConfig"))
    } else {
        (content, stop_reason)
    };
    // With thinking on, the answer starts with signed reasoning (raw replies are as given).
    if !raw && crate::thinking::enabled(body) {
        let task = messages(body)
            .iter()
            .rev()
            .find(|m| role(m) == "user" && blocks(m, "toolResult").next().is_none())
            .map(message_text)
            .unwrap_or_default();
        content.insert(0, crate::thinking::reasoning_block(&task, &content));
    }
    let output_chars: usize = content.iter().map(block_chars).sum();
    Answer {
        input_tokens: tokens(request_chars(body)).max(1),
        output_tokens: tokens(output_chars).max(1),
        cache_read_tokens: 0,
        cache_write_tokens: 0,
        extra: response_extras(body, &stop_reason),
        content,
        stop_reason,
    }
}

fn tool_use_block(id: String, name: &str, input: Value) -> Value {
    json!({ "toolUse": { "toolUseId": id, "name": name, "input": input } })
}

fn fill_tool_use_ids(mut content: Vec<Value>, next_id: &mut dyn FnMut() -> String) -> Vec<Value> {
    for block in &mut content {
        if let Some(tu) = block.get_mut("toolUse").and_then(Value::as_object_mut)
            && !tu.contains_key("toolUseId")
        {
            tu.insert("toolUseId".to_string(), Value::String(next_id()));
        }
    }
    content
}

fn messages(body: &Value) -> &[Value] {
    body.get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn role(m: &Value) -> &str {
    m.get("role").and_then(Value::as_str).unwrap_or("")
}

fn blocks<'a>(m: &'a Value, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    m.get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |b| b.get(kind))
}

/// The deterministic "model": it calls the offered tool that fits the user's words (see
/// [`crate::picker`]), chains tools where the task needs several (a listing, then the files
/// in it; the calculator, then the word counter), and answers from the results; with no
/// fitting tool it answers in words.
fn default_reply(body: &Value, next_id: &mut dyn FnMut() -> String) -> (Vec<Value>, String) {
    let msgs = messages(body);
    let last = msgs.last();
    let user_text = msgs
        .iter()
        .rev()
        .find(|m| role(m) == "user" && blocks(m, "toolResult").next().is_none())
        .map(message_text)
        .unwrap_or_default();
    let offered = Offered::all(body);
    let last_is_user = last.is_some_and(|m| role(m) == "user");

    let turn = this_turn(msgs);
    let results: Vec<&Value> = last
        .filter(|m| role(m) == "user")
        .map(|m| blocks(m, "toolResult").collect())
        .unwrap_or_default();

    // A forced tool choice on a new question: that tool (or the one that fits), no preamble.
    if last_is_user
        && results.is_empty()
        && let Some((name, schema)) = forced_tool(body, &offered, &user_text)
    {
        let input = generate_input(&schema, &user_text);
        return (
            vec![tool_use_block(next_id(), &name, input)],
            "tool_use".to_string(),
        );
    }

    // A question about the conversation itself is answered from its earlier turns.
    if last_is_user
        && results.is_empty()
        && asks_about_earlier(&user_text)
        && let Some(text) = recall(msgs)
    {
        return (vec![json!({ "text": text })], "end_turn".to_string());
    }

    // A question about the images or documents just given is answered by looking at them, as
    // a model would, not with a tool that merely shares a word ("this document").
    let about_attachments = last_is_user
        && results.is_empty()
        && refers_to_attachments(&user_text)
        && last.is_some_and(|m| {
            blocks(m, "image")
                .chain(blocks(m, "document"))
                .next()
                .is_some()
        });
    if last_is_user && !offered.is_empty() && !about_attachments {
        let used = tools_used(turn);
        let calls = if results.is_empty() {
            first_calls(&offered, &user_text)
        } else {
            next_calls(&offered, &user_text, turn, &used)
        };
        if !calls.is_empty() {
            let mut content = Vec::new();
            let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
            let mut unique = names.clone();
            unique.dedup();
            content.push(json!({ "text": format!("I'll use the {} tool.", unique.join(" and ")) }));
            for (name, input) in calls {
                content.push(tool_use_block(next_id(), &name, input));
            }
            return (content, "tool_use".to_string());
        }
    }

    // Tool results arrived and nothing more is needed: answer from them.
    if !results.is_empty() {
        let all: Vec<String> = tool_results(turn).map(|r| summarize(turn, r)).collect();
        let text = format!("{TOOL_RESULTS_PREFIX}{}", all.join("; "));
        if let Some(schema) = answer_schema(body) {
            return structured(&schema, &text);
        }
        return (vec![json!({ "text": text })], "end_turn".to_string());
    }
    if let Some(schema) = answer_schema(body) {
        return structured(&schema, &user_text);
    }

    // A plain answer, after saying what it was shown.
    let shown = if user_text.trim().is_empty() {
        "(no text)".to_string()
    } else {
        user_text
    };
    let mut text = String::new();
    let mut cited = Vec::new();
    if let Some(last) = last.filter(|m| role(m) == "user") {
        for seen in crate::media::describe(last) {
            text.push_str(&seen);
            text.push(' ');
        }
        cited = crate::media::citations(last);
    }
    text.push_str(ECHO_PREFIX);
    text.push_str(&shown);
    if !cited.is_empty() {
        // Documents given with citations on: the answer cites them.
        let block = json!({ "citationsContent": {
            "content": [{ "text": text }], "citations": cited } });
        return (vec![block], "end_turn".to_string());
    }
    (vec![json!({ "text": text })], "end_turn".to_string())
}

/// Whether the user asks about the conversation so far ("What did I say before?").
fn asks_about_earlier(text: &str) -> bool {
    const POINTERS: &[&str] = &["earlier", "before", "previously", "remember"];
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| POINTERS.contains(&w.to_lowercase().as_str()))
}

/// The user's earlier words in the conversation (not tool results, not the question being
/// asked), quoted; `None` when there are none.
fn recall(msgs: &[Value]) -> Option<String> {
    let before = msgs.split_last().map_or(&[][..], |(_, rest)| rest);
    let earlier: Vec<String> = before
        .iter()
        .filter(|m| role(m) == "user" && blocks(m, "toolResult").next().is_none())
        .map(message_text)
        .filter(|t| !t.trim().is_empty())
        .map(|t| format!("\"{}\"", t.trim()))
        .collect();
    (!earlier.is_empty()).then(|| format!("{RECALL_PREFIX}{}.", earlier.join("; ")))
}

/// Whether the user's words point at what they attached ("What is in this picture?").
fn refers_to_attachments(text: &str) -> bool {
    const POINTERS: &[&str] = &[
        "this",
        "these",
        "attached",
        "attachment",
        "attachments",
        "picture",
        "image",
        "images",
        "photo",
        "document",
        "documents",
        "pdf",
    ];
    text.split(|c: char| !c.is_alphanumeric())
        .any(|w| POINTERS.contains(&w.to_lowercase().as_str()))
}

/// The JSON schema the answer must follow (`outputConfig.textFormat`), if any.
fn answer_schema(body: &Value) -> Option<Value> {
    let format = body.get("outputConfig")?.get("textFormat")?;
    let schema = format
        .get("structure")?
        .get("jsonSchema")?
        .get("schema")?
        .as_str()?;
    serde_json::from_str(schema).ok()
}

/// An answer in JSON that follows `schema`, its values taken from `text`.
fn structured(schema: &Value, text: &str) -> (Vec<Value>, String) {
    let value = generate_input(schema, text);
    (
        vec![json!({ "text": value.to_string() })],
        "end_turn".to_string(),
    )
}

/// The top-level fields Bedrock adds to a reply for the request's options.
fn response_extras(body: &Value, stop_reason: &str) -> Value {
    let mut extra = serde_json::Map::new();
    if let Some(tier) = body.get("serviceTier") {
        extra.insert("serviceTier".into(), tier.clone());
    }
    if let Some(perf) = body.get("performanceConfig") {
        extra.insert("performanceConfig".into(), perf.clone());
    }
    if let Some(paths) = body
        .get("additionalModelResponseFieldPaths")
        .and_then(Value::as_array)
    {
        // The model-specific fields an Anthropic model has, as the paths select them.
        let model_fields = json!({ "stop_sequence": Value::Null, "stop_reason": stop_reason });
        let mut selected = serde_json::Map::new();
        for path in paths.iter().filter_map(Value::as_str) {
            if let (Some(v), Some(key)) = (model_fields.pointer(path), path.strip_prefix('/')) {
                selected.insert(key.to_string(), v.clone());
            }
        }
        extra.insert(
            "additionalModelResponseFields".into(),
            Value::Object(selected),
        );
    }
    Value::Object(extra)
}

/// The tool `toolChoice` forces (`tool{name}`, or `any`: the best fit, else the first).
fn forced_tool(body: &Value, offered: &[Offered<'_>], task: &str) -> Option<(String, Value)> {
    let choice = body.get("toolConfig")?.get("toolChoice")?;
    let tool = if let Some(name) = choice
        .get("tool")
        .and_then(|t| t.get("name"))
        .and_then(Value::as_str)
    {
        offered.iter().find(|t| t.name == name)?
    } else if choice.get("any").is_some() {
        picker::best(offered, task, &[]).or(offered.first())?
    } else {
        return None;
    };
    Some((tool.name.to_string(), tool.schema.clone()))
}

/// The messages since the last plain (non-toolResult) user turn.
fn this_turn(msgs: &[Value]) -> &[Value] {
    let start = msgs
        .iter()
        .rposition(|m| role(m) == "user" && blocks(m, "toolResult").next().is_none())
        .unwrap_or(0);
    &msgs[start..]
}

/// The tools called this turn, by name.
fn tools_used(turn: &[Value]) -> Vec<&str> {
    turn.iter()
        .filter(|m| role(m) == "assistant")
        .flat_map(|m| blocks(m, "toolUse"))
        .filter_map(|t| t.get("name").and_then(Value::as_str))
        .collect()
}

/// Every tool result of this turn, in order.
fn tool_results(turn: &[Value]) -> impl Iterator<Item = &Value> {
    turn.iter()
        .filter(|m| role(m) == "user")
        .flat_map(|m| blocks(m, "toolResult"))
}

/// The first tool call(s) for a task: the fitting tool; but a file reader with no file named
/// in the task is preceded by a listing, as a model would look before it reads.
fn first_calls(offered: &[Offered<'_>], task: &str) -> Vec<(String, Value)> {
    let Some(tool) = picker::best(offered, task, &[]) else {
        return Vec::new();
    };
    if tool.is("read")
        && takes_path(&tool.schema)
        && path_in(task).is_none()
        && let Some(lister) = offered.iter().find(|t| t.is("dir") && t.name != tool.name)
    {
        return vec![(
            lister.name.to_string(),
            generate_input_for_path(&lister.schema, "."),
        )];
    }
    vec![(tool.name.to_string(), generate_input(&tool.schema, task))]
}

/// What follows tool results: the files of a listing read (up to three), or another tool the
/// task needs that was not used yet; nothing when the task is served.
fn next_calls(
    offered: &[Offered<'_>],
    task: &str,
    turn: &[Value],
    used: &[&str],
) -> Vec<(String, Value)> {
    let (listed, dirs) = listings(turn, offered);
    // A listing of directories only (several granted folders, say): look inside them, as a
    // model would, before reading anything.
    if listed.is_empty()
        && !dirs.is_empty()
        && let Some(lister) = offered
            .iter()
            .find(|t| t.is("dir") && takes_path(&t.schema))
    {
        let named: Vec<&String> = dirs
            .iter()
            .filter(|d| {
                let leaf = d.rsplit('/').next().unwrap_or(d).to_ascii_lowercase();
                picker::concepts(task).contains(&leaf) || task.to_ascii_lowercase().contains(&leaf)
            })
            .collect();
        let chosen: Vec<&String> = if named.is_empty() {
            dirs.iter().take(3).collect()
        } else {
            named
        };
        return chosen
            .into_iter()
            .map(|dir| {
                (
                    lister.name.to_string(),
                    generate_input_for_path(&lister.schema, dir),
                )
            })
            .collect();
    }
    if let Some(reader) = offered
        .iter()
        .find(|t| t.is("read") && takes_path(&t.schema))
        && !used.contains(&reader.name)
        && !listed.is_empty()
    {
        return listed
            .into_iter()
            .take(3)
            .map(|file| {
                (
                    reader.name.to_string(),
                    generate_input_for_path(&reader.schema, &file),
                )
            })
            .collect();
    }
    // Another tool the task names (by its name, not merely its description).
    let concepts = picker::concepts(task);
    match picker::best(offered, task, used) {
        Some(tool)
            if tool.score(&concepts, false) >= 3
                && !(tool.is("dir") && used.iter().any(|u| is_reader(offered, u))) =>
        {
            vec![(tool.name.to_string(), generate_input(&tool.schema, task))]
        }
        _ => Vec::new(),
    }
}

fn is_reader(offered: &[Offered<'_>], name: &str) -> bool {
    offered.iter().any(|t| t.name == name && t.is("read"))
}

/// Files and directories named in the successful results of this turn's listing tools
/// (`name@` links and summary lines skipped), each with the listed directory's path in front;
/// directories only from listings of this turn's last round (so a descent does not repeat).
fn listings(turn: &[Value], offered: &[Offered<'_>]) -> (Vec<String>, Vec<String>) {
    let mut ids = Vec::new();
    for m in turn.iter().filter(|m| role(m) == "assistant") {
        for call in blocks(m, "toolUse") {
            let name = call.get("name").and_then(Value::as_str).unwrap_or("");
            if offered.iter().any(|t| t.name == name && t.is("dir")) {
                let dir = call
                    .get("input")
                    .and_then(|i| i.get("path"))
                    .and_then(Value::as_str)
                    .unwrap_or(".")
                    .trim_end_matches('/')
                    .to_string();
                if let Some(id) = call.get("toolUseId").and_then(Value::as_str) {
                    ids.push((id.to_string(), dir));
                }
            }
        }
    }
    let mut files = Vec::new();
    let mut dirs = Vec::new();
    let listed_before: Vec<String> = ids.iter().map(|(_, d)| d.clone()).collect();
    for result in tool_results(turn) {
        if result.get("status").and_then(Value::as_str) == Some("error") {
            continue;
        }
        let id = result
            .get("toolUseId")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some((_, dir)) = ids.iter().find(|(i, _)| i == id) else {
            continue;
        };
        let text = render_tool_result(result);
        let under = |name: &str| {
            if dir.is_empty() || dir == "." {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            }
        };
        for line in text.lines().map(str::trim) {
            if let Some(sub) = line.strip_suffix('/')
                && !sub.is_empty()
                && !sub.contains(' ')
            {
                let path = under(sub);
                if !listed_before.contains(&path) {
                    dirs.push(path);
                }
                continue;
            }
            if line.is_empty()
                || line.ends_with('@')
                || line.starts_with('(')
                || line.starts_with("...")
                || line.contains(' ')
            {
                continue;
            }
            files.push(under(line));
        }
    }
    (files, dirs)
}

/// One tool result as the final answer quotes it: on one line, at most 300 characters, named
/// by the path it was called on (if any).
fn summarize(turn: &[Value], result: &Value) -> String {
    let text = render_tool_result(result);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut flat = lines.join(" | ");
    if let Some((at, _)) = flat.char_indices().nth(300) {
        flat.truncate(at);
        flat.push('…');
    }
    let id = result.get("toolUseId").and_then(Value::as_str);
    let path = turn
        .iter()
        .flat_map(|m| blocks(m, "toolUse"))
        .find(|c| c.get("toolUseId").and_then(Value::as_str) == id)
        .and_then(|c| {
            c.get("input")?
                .as_object()?
                .iter()
                .find(|(k, _)| is_path_name(k))
        })
        .and_then(|(_, v)| v.as_str());
    match path {
        Some(p) => format!("{p}: {flat}"),
        None => flat,
    }
}

/// Whether a tool's input has a path-like property.
fn takes_path(schema: &Value) -> bool {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.keys().any(|k| is_path_name(k)))
}

/// One toolResult rendered for the answer: its text/json content (and whether it failed).
fn render_tool_result(result: &Value) -> String {
    let parts: Vec<String> = result
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            if let Some(t) = c.get("text").and_then(Value::as_str) {
                t.to_string()
            } else if let Some(j) = c.get("json") {
                j.to_string()
            } else if let Some(k) = c.as_object().and_then(|o| o.keys().next()) {
                format!("[{k}]")
            } else {
                String::new()
            }
        })
        .collect();
    let content = parts.join(" ");
    if result.get("status").and_then(Value::as_str) == Some("error") {
        format!("the tool reported an error: {content}")
    } else {
        content
    }
}

/// Characters a content block contributes to output usage.
fn block_chars(block: &Value) -> usize {
    if let Some(t) = block.get("text").and_then(Value::as_str) {
        t.chars().count()
    } else if let Some(c) = block.get("citationsContent") {
        c.get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| g.get("text").and_then(Value::as_str))
            .map(|t| t.chars().count())
            .sum()
    } else if let Some(r) = block
        .get("reasoningContent")
        .and_then(|r| r.get("reasoningText"))
    {
        r.get("text")
            .and_then(Value::as_str)
            .map_or(0, |t| t.chars().count())
    } else if let Some(tu) = block.get("toolUse") {
        let name = tu.get("name").and_then(Value::as_str).unwrap_or("");
        let input = tu.get("input").map(Value::to_string).unwrap_or_default();
        name.chars().count() + input.chars().count()
    } else {
        block.to_string().chars().count()
    }
}

/// Characters of request text and JSON that count as input tokens.
/// The input tokens a Converse body is billed for (CountTokens' answer).
pub(crate) fn input_tokens(body: &Value) -> u64 {
    tokens(request_chars(body)).max(1)
}

fn request_chars(body: &Value) -> usize {
    prompt_units(body).iter().map(|u| u.chars).sum()
}

/// One piece of a prompt as the model reads it: its size, and what a cache prefix hashes.
pub(crate) struct PromptUnit<'a> {
    /// Characters it counts for (text as text, tool calls and results as rendered, media by
    /// its estimate); 0 for a cache point.
    pub(crate) chars: usize,
    /// The JSON it came from.
    pub(crate) value: &'a Value,
    /// A cache point (`{"type": …, "ttl": …}`), where the prefix before it may be cached.
    pub(crate) cache_point: Option<&'a Value>,
}

/// A request's prompt in the order the model reads it — tools, system, messages, then the
/// tool choice — measured once, so that input, cache reads and cache writes are counted
/// with the same measure and add up to the uncached count exactly.
pub(crate) fn prompt_units(body: &Value) -> Vec<PromptUnit<'_>> {
    fn list(v: Option<&Value>) -> &[Value] {
        v.and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    fn unit(value: &Value, chars: usize) -> PromptUnit<'_> {
        PromptUnit {
            chars,
            value,
            cache_point: None,
        }
    }
    fn point<'a>(value: &'a Value, p: &'a Value) -> PromptUnit<'a> {
        PromptUnit {
            chars: 0,
            value,
            cache_point: Some(p),
        }
    }
    let mut out = Vec::new();
    let tool_config = body.get("toolConfig");
    for t in list(tool_config.and_then(|c| c.get("tools"))) {
        match t.get("cachePoint") {
            Some(p) => out.push(point(t, p)),
            None => out.push(unit(t, t.to_string().chars().count())),
        }
    }
    for s in list(body.get("system")) {
        match (s.get("cachePoint"), s.get("text").and_then(Value::as_str)) {
            (Some(p), _) => out.push(point(s, p)),
            (None, Some(t)) => out.push(unit(s, t.chars().count())),
            (None, None) => out.push(unit(s, 0)),
        }
    }
    for m in messages(body) {
        // The role counts for nothing but is part of what a cached prefix is.
        if let Some(role) = m.get("role") {
            out.push(unit(role, 0));
        }
        for b in list(m.get("content")) {
            let chars = if let Some(p) = b.get("cachePoint") {
                out.push(point(b, p));
                continue;
            } else if let Some(t) = b.get("text").and_then(Value::as_str) {
                t.chars().count()
            } else if let Some(tu) = b.get("toolUse") {
                block_chars(&json!({ "toolUse": tu }))
            } else if let Some(tr) = b.get("toolResult") {
                render_tool_result(tr).chars().count()
            } else {
                crate::media::input_chars(b)
            };
            out.push(unit(b, chars));
        }
    }
    if let Some(choice) = tool_config.and_then(|c| c.get("toolChoice")) {
        out.push(unit(choice, choice.to_string().chars().count()));
    }
    out
}

/// Apply stopSequences, then maxTokens, to the answer's content.
fn apply_limits(
    mut content: Vec<Value>,
    mut stop_reason: String,
    cfg: Option<&Value>,
) -> (Vec<Value>, String) {
    let stop_sequences: Vec<&str> = cfg
        .and_then(|c| c.get("stopSequences"))
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if !stop_sequences.is_empty() {
        for i in 0..content.len() {
            let Some(text) = content[i].get("text").and_then(Value::as_str) else {
                continue;
            };
            let cut = stop_sequences.iter().filter_map(|s| text.find(s)).min();
            if let Some(cut) = cut {
                let kept = text[..cut].to_string();
                content.truncate(i + 1);
                content[i] = json!({ "text": kept });
                if kept.is_empty() {
                    content.pop();
                }
                stop_reason = "stop_sequence".to_string();
                break;
            }
        }
    }

    let max_tokens = cfg.and_then(|c| c.get("maxTokens")).and_then(Value::as_u64);
    if let Some(max_tokens) = max_tokens {
        let mut budget = usize::try_from(max_tokens.saturating_mul(4)).unwrap_or(usize::MAX);
        for i in 0..content.len() {
            let chars = block_chars(&content[i]);
            if chars <= budget {
                budget -= chars;
                continue;
            }
            content.truncate(i + 1);
            match content[i].get("text").and_then(Value::as_str) {
                Some(text) => {
                    let kept: String = text.chars().take(budget).collect();
                    content[i] = json!({ "text": kept });
                    if budget == 0 {
                        content.pop();
                    }
                }
                // A tool call that does not fit is cut off entirely.
                None => {
                    content.pop();
                }
            }
            stop_reason = "max_tokens".to_string();
            break;
        }
    }
    (content, stop_reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("tooluse_{n}")
        }
    }

    fn weather_config() -> Value {
        json!({"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {
            "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}}]})
    }

    #[test]
    fn a_question_about_earlier_turns_is_answered_from_them() {
        let body = json!({"messages": [
            {"role": "user", "content": [{"text": "My name is Ada."}]},
            {"role": "assistant", "content": [{"text": "Hello Ada."}]},
            {"role": "user", "content": [{"text": "What is 6 * 7?"}]},
            {"role": "assistant", "content": [{"text": "42"}]},
            {"role": "user", "content": [{"text": "What did I say before?"}]}]});
        let a = answer(&body, None, &mut ids());
        assert_eq!(
            a.content,
            vec![
                json!({"text": format!("{RECALL_PREFIX}\"My name is Ada.\"; \"What is 6 * 7?\".")})
            ]
        );
        // With nothing earlier, the question is echoed like any.
        let body = json!({"messages": [
            {"role": "user", "content": [{"text": "What did I say before?"}]}]});
        let a = answer(&body, None, &mut ids());
        assert_eq!(
            a.content,
            vec![json!({"text": format!("{ECHO_PREFIX}What did I say before?")})]
        );
    }

    #[test]
    fn echoes_the_user_without_tools() {
        let body = json!({"system": [{"text": "SECRET SYSTEM"}],
            "messages": [{"role": "user", "content": [{"text": "Hello there"}]}]});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.stop_reason, "end_turn");
        assert_eq!(
            a.content,
            vec![json!({"text": format!("{ECHO_PREFIX}Hello there")})]
        );
        assert!(!a.content[0].to_string().contains("SECRET"));
        assert_eq!(
            a.input_tokens,
            tokens("Hello there".len() + "SECRET SYSTEM".len())
        );
        assert_eq!(a.output_tokens, tokens(ECHO_PREFIX.len() + 11));
    }

    #[test]
    fn questions_about_attachments_are_answered_by_looking_at_them() {
        let png = aws_smithy_types::base64::encode(crate::media::tests::png(64, 48));
        let ask = |question: &str| {
            json!({"messages": [{"role": "user", "content": [
                {"image": {"format": "png", "source": {"bytes": png}}},
                {"text": question}]}],
                "toolConfig": {"tools": [{"toolSpec": {"name": "calculator",
                    "description": "Evaluates an arithmetic expression",
                    "inputSchema": {"json": {"type": "object",
                        "properties": {"expression": {"type": "string"}}}}}}]}})
        };
        let a = answer(&ask("What is in this picture?"), None, &mut ids());
        assert_eq!(a.stop_reason, "end_turn");
        assert!(
            a.content[0]["text"]
                .as_str()
                .unwrap()
                .starts_with("I see a PNG image, 64×48")
        );
        // A question that is not about the picture still gets its tool.
        let a = answer(&ask("What is 6 * 7?"), None, &mut ids());
        assert_eq!(a.stop_reason, "tool_use");
    }

    #[test]
    fn calls_the_offered_tool_then_answers_from_results() {
        let mut body = json!({"messages": [{"role": "user", "content": [{"text": "What's the weather in Tokyo?"}]}],
            "toolConfig": weather_config()});
        let mut next = ids();
        let a = answer(&body, None, &mut next);
        assert_eq!(a.stop_reason, "tool_use");
        assert_eq!(
            a.content[0],
            json!({"text": "I'll use the get_weather tool."})
        );
        assert_eq!(
            a.content[1],
            json!({"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Tokyo"}}})
        );
        let msgs = body["messages"].as_array_mut().unwrap();
        msgs.push(json!({"role": "assistant", "content": a.content}));
        msgs.push(
            json!({"role": "user", "content": [{"toolResult": {"toolUseId": "tooluse_1",
            "content": [{"json": {"temp": 21}}, {"text": "sunny"}]}}]}),
        );
        let a = answer(&body, None, &mut next);
        assert_eq!(a.stop_reason, "end_turn");
        assert_eq!(
            a.content,
            vec![json!({"text": format!("{TOOL_RESULTS_PREFIX}{{\"temp\":21}} sunny")})]
        );
    }

    fn tools(specs: &[(&str, &str, Value)]) -> Value {
        json!({"tools": specs.iter().map(|(n, d, s)| json!({
            "toolSpec": {"name": n, "description": d, "inputSchema": {"json": s}}
        })).collect::<Vec<_>>()})
    }

    /// Calls `answer` for a user task, then answers each tool call with `run(name, input)`,
    /// until the model answers in words; returns the tool calls made and the answer.
    fn converse(
        task: &str,
        config: Value,
        run: impl Fn(&str, &Value) -> String,
    ) -> (Vec<(String, Value)>, String) {
        let mut body = json!({"messages": [{"role": "user", "content": [{"text": task}]}],
            "toolConfig": config});
        let mut next = ids();
        let mut calls = Vec::new();
        for _ in 0..6 {
            let a = answer(&body, None, &mut next);
            if a.stop_reason != "tool_use" {
                return (
                    calls,
                    a.content[0]["text"].as_str().unwrap_or("").to_string(),
                );
            }
            let mut results = Vec::new();
            for block in &a.content {
                if let Some(tu) = block.get("toolUse") {
                    let name = tu["name"].as_str().unwrap().to_string();
                    let out = run(&name, &tu["input"]);
                    calls.push((name, tu["input"].clone()));
                    results.push(json!({"toolResult": {"toolUseId": tu["toolUseId"],
                        "content": [{"text": out}]}}));
                }
            }
            let msgs = body["messages"].as_array_mut().unwrap();
            msgs.push(json!({"role": "assistant", "content": a.content}));
            msgs.push(json!({"role": "user", "content": results}));
        }
        panic!("no answer after 6 turns: {calls:?}")
    }

    #[test]
    fn a_custom_tool_gets_the_tasks_own_text_and_unfitting_tools_are_left_alone() {
        let text = json!({"type": "object", "properties": {"text": {"type": "string"}},
            "required": ["text"]});
        let config = tools(&[
            (
                "get_weather",
                "Current weather for a city.",
                json!({"type": "object",
                "properties": {"city": {"type": "string"}}}),
            ),
            ("reverse_text", "Reverses the given text.", text),
        ]);
        let (calls, said) = converse("Reverse the text: hello world", config.clone(), |_, i| {
            i["text"].as_str().unwrap().chars().rev().collect()
        });
        assert_eq!(
            calls,
            [("reverse_text".to_string(), json!({"text": "hello world"}))]
        );
        assert_eq!(said, format!("{TOOL_RESULTS_PREFIX}dlrow olleh"));
        // Nothing fits a greeting: no tool at all.
        let (calls, said) = converse("Good morning!", config, |_, _| unreachable!());
        assert!(calls.is_empty());
        assert_eq!(said, format!("{ECHO_PREFIX}Good morning!"));
    }

    #[test]
    fn a_task_needing_several_tools_chains_them() {
        let path = json!({"type": "object", "properties": {"path": {"type": "string"}}});
        let config = tools(&[
            ("list_dir", "Lists a directory.", path.clone()),
            ("read_file", "Reads a text file.", path),
        ]);
        let (calls, said) = converse("Summarize the docs", config, |name, input| {
            match (name, input["path"].as_str().unwrap()) {
                ("list_dir", ".") => "a.md\nb.txt\nsub/".to_string(),
                ("read_file", "a.md") => "# A\nalpha".to_string(),
                ("read_file", "b.txt") => "beta".to_string(),
                other => panic!("unexpected call {other:?}"),
            }
        });
        let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["list_dir", "read_file", "read_file"]);
        assert!(
            said.contains("a.md: # A | alpha") && said.contains("b.txt: beta"),
            "{said}"
        );
        assert!(!said.contains("sub/:"), "{said}");
    }

    #[test]
    fn tool_errors_are_reported() {
        let body = json!({"messages": [
            {"role": "user", "content": [{"text": "x"}]},
            {"role": "assistant", "content": [{"toolUse": {"toolUseId": "a", "name": "t", "input": {}}},
                                              {"toolUse": {"toolUseId": "b", "name": "t", "input": {}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "a", "content": [{"text": "boom"}], "status": "error"}},
                {"toolResult": {"toolUseId": "b", "content": [{"text": "ok"}]}}]}]});
        let a = answer(&body, None, &mut ids());
        assert_eq!(
            a.content[0]["text"],
            json!(format!(
                "{TOOL_RESULTS_PREFIX}the tool reported an error: boom; ok"
            ))
        );
    }

    #[test]
    fn tool_choice_forces_a_named_tool_without_preamble() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "toolConfig": {"tools": [
                {"toolSpec": {"name": "a", "inputSchema": {"json": {"type": "object"}}}},
                {"toolSpec": {"name": "b", "inputSchema": {"json": {"type": "object"}}}}],
                "toolChoice": {"tool": {"name": "b"}}}});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.content.len(), 1);
        assert_eq!(a.content[0]["toolUse"]["name"], json!("b"));
        assert_eq!(a.content[0]["toolUse"]["input"], json!({}));
    }

    #[test]
    fn max_tokens_and_stop_sequences() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "abc STOP def"}]}],
            "inferenceConfig": {"stopSequences": ["STOP"]}});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.stop_reason, "stop_sequence");
        assert_eq!(a.content[0]["text"], json!(format!("{ECHO_PREFIX}abc ")));

        let body = json!({"messages": [{"role": "user", "content": [{"text": "hello"}]}],
            "inferenceConfig": {"maxTokens": 2}});
        let a = answer(&body, None, &mut ids());
        assert_eq!(a.stop_reason, "max_tokens");
        assert_eq!(a.content[0]["text"], json!(ECHO_PREFIX[..8].to_string()));
        assert_eq!(a.output_tokens, 2);

        // Scripted text is limited too; raw replies are not.
        let a = answer(&body, Some(Reply::Text("0123456789".into())), &mut ids());
        assert_eq!(a.content, vec![json!({"text": "01234567"})]);
        let a = answer(
            &body,
            Some(Reply::Raw {
                content: vec![json!({"text": "0123456789"})],
                stop_reason: "end_turn".into(),
            }),
            &mut ids(),
        );
        assert_eq!(a.content, vec![json!({"text": "0123456789"})]);
    }

    #[test]
    fn scripted_replies() {
        let body = json!({"messages": [{"role": "user", "content": [{"text": "x"}]}]});
        let a = answer(
            &body,
            Some(Reply::ToolUse {
                name: "calc".into(),
                input: json!({"a": 1}),
            }),
            &mut ids(),
        );
        assert_eq!(a.stop_reason, "tool_use");
        assert_eq!(a.content[0]["toolUse"]["toolUseId"], json!("tooluse_1"));
        let a = answer(
            &body,
            Some(Reply::Raw {
                content: vec![
                    json!({"text": "t"}),
                    json!({"toolUse": {"name": "calc", "input": {}}}),
                ],
                stop_reason: "tool_use".into(),
            }),
            &mut ids(),
        );
        assert_eq!(a.content[1]["toolUse"]["toolUseId"], json!("tooluse_1"));
    }
}
