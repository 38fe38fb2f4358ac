//! A loopback emulator of the AWS Bedrock Runtime Converse API.
//!
//! Why it exists: the Bedrock backend, the plugin host and every end-to-end test need a model
//! that answers deterministically, costs nothing, works offline and can be told to fail in
//! exactly the ways real Bedrock fails. Mocking the SDK would not catch wire-level mistakes
//! (URI encoding of model ids, SigV4, rest-json error shapes, event-stream framing), so this
//! emulator speaks the real wire format and the real `aws-sdk-bedrockruntime` talks to it
//! through `endpoint_url`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use bedrock_emulator::{Emulator, Fault, Reply};
//! let emu = Emulator::start().await?;
//! emu.push_reply(Reply::Text("hello".into()));
//! emu.inject(Fault::throttling(), 2);
//! let endpoint = emu.url(); // hand this to the SDK as `endpoint_url`
//! # let _ = endpoint; Ok(()) }
//! ```
//!
//! Request pipeline (in this order): read body → record → route (unknown route: 404
//! `UnknownOperationException`) → SigV4 verification (403s) → injected fault (if any is queued)
//! → request validation (400 `ValidationException`) → scripted reply / rule / default
//! responder → simulated latency → answer (JSON for Converse, an event stream for
//! ConverseStream). Faults are therefore consumed only by requests that were routed and
//! authenticated.

mod cache;
mod catalogue;
mod cli;
mod config;
mod control;
mod faults;
mod guardrail;
mod ids;
mod media;
mod models;
mod picker;
mod record;
mod replay;
mod responder;
mod route;
mod rules;
mod schema;
mod script;
mod server;
mod shape;
mod sigv4;
mod stream;
mod thinking;
mod timefmt;
mod validate;
mod wire;

/// The Claude catalogue the emulator serves and enforces (the backend reads the same one).
pub use bedrock_models;
pub use cli::{EmulatorArgs, run_until_ctrl_c};
pub use config::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_REGION, DEFAULT_SECRET_ACCESS_KEY, EmulatorConfig,
};
pub use control::ACCOUNT_ID;
pub use faults::Fault;
pub use models::{SEED_MODELS, is_valid_model_id};
pub use record::{Operation, RecordedRequest, SentFrame};
pub use replay::ReplayOptions;
pub use rules::Rules;
pub use schema::generate_input;
pub use script::Reply;
pub use server::Emulator;
