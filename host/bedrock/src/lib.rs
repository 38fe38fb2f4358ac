//! `gamecode-bedrock`: AWS Bedrock implementation of `gamecode-backend`'s [`LLMBackend`]
//! (Converse API) with a production retry policy and categorized errors.
//!
//! ```no_run
//! use gamecode_bedrock::BedrockBackend;
//! use gamecode_backend::{ChatRequest, LLMBackend, Message, MessageRole};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let backend = BedrockBackend::new().await?;
//! let response = backend
//!     .chat(ChatRequest {
//!         messages: vec![Message::text(MessageRole::User, "Hello, Claude!")],
//!         ..Default::default()
//!     })
//!     .await?;
//! println!("{}", response.text());
//! # Ok(()) }
//! ```
//!
//! [`LLMBackend`]: gamecode_backend::LLMBackend
//!
//! # Stable surface
//!
//! [`BedrockBackend`] (its constructors, `with_*` options and the seed's `chat` and
//! `chat_with_retry`), [`DEFAULT_MODEL`], [`check_model_id`], [`current_models`],
//! [`Recorder`], [`classify_service_error`]. The [`catalogue`], [`document`] and [`live`]
//! modules serve the gamecode CLI and may change with Bedrock; the request shapes are the
//! AWS SDK's.

mod backend;
pub mod catalogue;
mod classify;
mod convert;
pub mod document;
mod kept;
#[cfg(feature = "control-plane")]
pub mod live;
mod models;
mod normalize;
mod recorder;
mod stream;

pub use backend::{API_KEY_VAR, BedrockBackend};
pub use classify::{classify_service_error, parse_retry_after};
pub use models::{DEFAULT_MODEL, SUPPORTED_MODELS, check_model_id, current_models};
pub use normalize::{Normalized, is_valid_tool_name, normalize};
pub use recorder::Recorder;

// Re-exported so users of this crate alone can name the whole API.
pub use gamecode_backend;
