//! Host tool calls of a run, under the policy: the guest's JSON input bounded and parsed,
//! a panicking tool failing only its call.

use futures::FutureExt;

use super::RunState;
use super::journaled::Answer;
use super::json::{JsonBudget, JsonError};
use crate::journal::ToolReply;
use crate::observer::RunEvent;
use crate::tools::ToolError;

impl RunState {
    /// The host tools this plugin may see.
    pub(crate) fn tool_specs(&self) -> Vec<crate::tools::ToolSpec> {
        self.tools
            .entries()
            .filter(|(s, t)| self.policy.host_tool_allowed(&s.name, t.opt_in()))
            .map(|(s, _)| s.clone())
            .collect()
    }

    /// One host tool call under the policy. `input` is the guest's JSON text.
    pub(crate) async fn call_tool(&mut self, name: &str, input: &str) -> Result<String, ToolError> {
        self.call_tool_content(name, input)
            .await
            .map(|content| crate::tools::content_text(&content))
    }

    /// One host tool call under the policy, its output as content (text, JSON, media).
    pub(crate) async fn call_tool_content(
        &mut self,
        name: &str,
        input: &str,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        self.tool_calls = self.tool_calls.saturating_add(1);
        let result = match self.approved(name, input).await {
            Ok(()) => self.tool_result(name, input).await,
            Err(e) => Err(e),
        };
        if self.halt.is_some() {
            // Stopped (to wait for a person, or by its journal): not a call that ended.
            return result;
        }
        let shown = crate::text::echo(name);
        match &result {
            Ok(out) => {
                let bytes: usize = out.iter().map(crate::tools::content_bytes).sum();
                tracing::info!(plugin = %self.plugin, tool = %shown, bytes, "host tool call")
            }
            Err(e) => {
                tracing::info!(plugin = %self.plugin, tool = %shown, "host tool call failed: {e}")
            }
        }
        self.emit(RunEvent::ToolCall {
            name: shown,
            ok: result.is_ok(),
            error: result.as_ref().err().map(ToString::to_string),
        });
        result
    }

    /// An admitted call's result: from the journal, or the tool's (journaled).
    async fn tool_result(
        &mut self,
        name: &str,
        input: &str,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        match self.tool_answer(name, input).await? {
            Answer::Replayed(ToolReply::Ok(content)) => Ok(content),
            Answer::Replayed(ToolReply::Err(e)) => Err(e),
            Answer::Journal(ask) => {
                let result = self.call_tool_inner(name, input).await;
                self.journal_tool(ask, &result);
                result
            }
            Answer::Live => self.call_tool_inner(name, input).await,
        }
    }

    async fn call_tool_inner(
        &mut self,
        name: &str,
        input: &str,
    ) -> Result<Vec<gamecode_backend::ToolResultContent>, ToolError> {
        let Some(tool) = self.tools.get(name).cloned() else {
            return Err(ToolError::NotFound(format!(
                "no host tool is called `{}`",
                crate::text::echo(name)
            )));
        };
        if let Err(v) = self.policy.admit_tool(name, tool.opt_in()) {
            let v = self.record_violation(v);
            return Err(ToolError::NotAllowed(v.message));
        }
        // Size and structure before the parse: the input is the guest's, unbounded.
        if let Err(v) = self.policy.admit_tool_input(input.len()) {
            let v = self.record_violation(v);
            return Err(ToolError::InvalidInput(v.message));
        }
        let mut budget = JsonBudget {
            items_left: self.policy.max_request_items,
        };
        let input = self.json.parse(input, &mut budget).map_err(|e| match e {
            JsonError::TooLarge { items } => {
                let v = crate::policy::too_many_items(items, self.policy.max_request_items, false);
                ToolError::InvalidInput(self.record_violation(v).message)
            }
            e => ToolError::InvalidInput(format!("the input is not valid JSON: {e}")),
        })?;
        // A panicking tool (embedder code) fails this call, not the host's task.
        std::panic::AssertUnwindSafe(tool.call_content(input))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(ToolError::Failed(format!(
                    "the host tool `{name}` panicked"
                )))
            })
    }
}
