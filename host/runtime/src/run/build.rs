//! Building backend types from what a guest sent, once the policy admitted its size: JSON
//! texts are parsed through the run's cache within what the request may still hold, and the
//! options the policy governs are checked as they are built.

use gamecode_backend as b;

use super::json::{JsonBudget, JsonCache, JsonError};
use super::{ChatFailure, RunState};
use crate::policy::{Policy, PolicyViolation, Size, too_many_items};

/// A guest's value as its WIT version lifted it: measured for the policy first, and built into
/// backend types only once admitted.
pub(crate) trait Guest: Sized {
    type Built;
    /// What it adds to a request, as the policy counts it.
    fn size(&self) -> Size;
    /// Its backend form.
    fn build(self, builder: &mut Builder<'_>) -> Result<Self::Built, Unbuilt>;
}

/// A guest's chat request: what it asks of the policy beyond its size.
pub(crate) trait GuestRequest: Guest<Built = b::ChatRequest> {
    fn model(&self) -> Option<&str>;
    fn max_tokens(&self) -> Option<u32>;
}

/// Why a request admitted by the policy could not be built.
#[derive(Debug)]
pub(crate) enum Unbuilt {
    Invalid(String),
    /// A JSON text holds more values (`items`) than the request had left.
    TooLarge {
        items: usize,
    },
    /// The policy refuses an option it asks for.
    Policy(PolicyViolation),
}

/// What building needs: the run's JSON cache, what the request may still hold, the policy.
pub(crate) struct Builder<'a> {
    json: &'a mut JsonCache,
    budget: JsonBudget,
    policy: &'a Policy,
    place: String,
}

impl Builder<'_> {
    /// Parses guest JSON text; `what` names it in the error (built only on failure).
    pub(crate) fn json(
        &mut self,
        text: &str,
        what: impl FnOnce() -> String,
    ) -> Result<serde_json::Value, Unbuilt> {
        self.json
            .parse(text, &mut self.budget)
            .map_err(|e| match e {
                JsonError::TooLarge { items } => Unbuilt::TooLarge { items },
                e => Unbuilt::Invalid(format!("{} is not valid JSON: {e}", what())),
            })
    }

    /// Checks request options against the policy (reasoning, service tier).
    pub(crate) fn admit_options(&self, options: &b::ChatOptions) -> Result<(), Unbuilt> {
        self.policy.admit_options(options).map_err(Unbuilt::Policy)
    }

    /// The guardrail the policy defines under the name the guest used.
    pub(crate) fn guardrail(&self, name: &str) -> Result<b::GuardrailConfig, Unbuilt> {
        self.policy.guardrail(name).map_err(Unbuilt::Policy)
    }

    /// Where the content being built goes (`message 3`), for errors.
    pub(crate) fn place(&self) -> &str {
        &self.place
    }
}

impl RunState {
    /// Builds an admitted `guest` value; `used_items` of the request's structure were counted
    /// before (its JSON values are counted against what is left).
    pub(crate) fn build<G: Guest>(
        &mut self,
        guest: G,
        used_items: usize,
        place: String,
    ) -> Result<G::Built, ChatFailure> {
        let mut builder = Builder {
            json: &mut self.json,
            budget: JsonBudget {
                items_left: self.policy.max_request_items.saturating_sub(used_items),
            },
            policy: &self.policy,
            place,
        };
        let built = guest.build(&mut builder);
        let left = builder.budget.items_left;
        built.map_err(|e| self.refused(e, used_items, left))
    }

    /// Records the policy refusal of a request that could not be built.
    fn refused(&mut self, unbuilt: Unbuilt, used_items: usize, items_left: usize) -> ChatFailure {
        match unbuilt {
            Unbuilt::Invalid(m) => ChatFailure::Invalid(m),
            Unbuilt::Policy(v) => ChatFailure::Policy(self.record_violation(v)),
            Unbuilt::TooLarge { items } => {
                // What was used before, what the JSON texts took, and the one that overflowed.
                let max = self.policy.max_request_items;
                let seen = max.max(used_items).saturating_sub(items_left) + items;
                ChatFailure::Policy(self.record_violation(too_many_items(seen, max, true)))
            }
        }
    }
}
