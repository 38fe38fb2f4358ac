//! What a run has used, as the policy counts it, and the grant of each admitted call.

use gamecode_backend::ChatRequest;

/// An admitted chat call: what was charged and reserved for it, settled when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    /// The `max_tokens` the request is sent with.
    pub max_tokens: Option<u32>,
    /// Whether that differs from what the guest asked.
    pub clamp: bool,
    /// Tokens charged so far (the input estimate, then output as it streams).
    pub charged: u64,
    /// Output tokens reserved until the call ends.
    pub reserved: u64,
}

impl Grant {
    /// Applies the granted `max_tokens` to the request built after admission.
    pub(crate) fn apply(&self, request: &mut ChatRequest) {
        if !self.clamp {
            return;
        }
        let config = request
            .inference_config
            .get_or_insert_with(Default::default);
        config.max_tokens = self.max_tokens;
        if request.inference_config.as_ref() == Some(&Default::default()) {
            request.inference_config = None;
        }
    }
}

/// What one run has used so far, as far as the policy is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Meter {
    pub chat_calls: u32,
    /// Tokens charged: reported usage of settled calls, estimates for the rest.
    pub tokens_used: u64,
    /// Output tokens reserved for calls in flight.
    pub tokens_reserved: u64,
    /// Streamed replies open now.
    pub open_streams: u32,
}

impl Meter {
    /// Charges `tokens` more to a call in flight (output seen so far, estimated).
    pub(crate) fn charge(&mut self, grant: &mut Grant, tokens: u64) {
        grant.charged += tokens;
        self.tokens_used += tokens;
    }

    /// Ends a call: releases its reservation and replaces its estimated charge with the
    /// reported total, when the backend reported one.
    pub(crate) fn settle(&mut self, grant: &mut Grant, reported_total: Option<u64>) {
        self.tokens_reserved = self.tokens_reserved.saturating_sub(grant.reserved);
        grant.reserved = 0;
        if let Some(total) = reported_total {
            self.tokens_used = self.tokens_used.saturating_sub(grant.charged) + total;
            grant.charged = total;
        }
    }

    /// Withdraws a call that was never sent (its request could not be built, or the backend
    /// refused it before any model saw it): nothing is charged and it does not count.
    pub(crate) fn withdraw(&mut self, grant: &mut Grant) {
        self.settle(grant, Some(0));
        self.chat_calls = self.chat_calls.saturating_sub(1);
    }
}
