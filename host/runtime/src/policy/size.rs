//! What a request or a piece of content measures, as the policy counts it.

/// Tokens an image or document is assumed to cost before the provider says (an image of
/// ~1.15 megapixels is about 1,600 tokens on Claude).
pub(crate) const ATTACHMENT_TOKENS: u64 = 1_600;

/// What a piece of content adds to a request, as the policy counts it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Size {
    /// Bytes of the strings in it.
    pub bytes: usize,
    /// Messages, blocks and parts (see `Policy::max_request_items`).
    pub items: usize,
    /// Images and documents.
    pub attachments: u32,
    /// The largest image or document, in bytes.
    pub largest_attachment: usize,
    /// The bytes of all its images and documents.
    pub attachment_bytes: usize,
}

impl Size {
    pub(crate) fn add(&mut self, other: Size) {
        self.bytes += other.bytes;
        self.items += other.items;
        self.attachments += other.attachments;
        self.largest_attachment = self.largest_attachment.max(other.largest_attachment);
        self.attachment_bytes += other.attachment_bytes;
    }

    /// The host memory it takes, roughly: its strings and its media.
    pub(crate) fn held_bytes(&self) -> usize {
        self.bytes + self.attachment_bytes
    }

    /// The input tokens this much content is estimated to cost.
    pub(crate) fn tokens(&self) -> u64 {
        estimate_tokens(self.bytes).saturating_add(u64::from(self.attachments) * ATTACHMENT_TOKENS)
    }
}

/// Tokens estimated from a request's size in bytes: about four bytes per token, as
/// tokenizers of English text and JSON average (and as the emulator counts).
pub(crate) fn estimate_tokens(bytes: usize) -> u64 {
    (bytes as u64).div_ceil(4).max(1)
}
