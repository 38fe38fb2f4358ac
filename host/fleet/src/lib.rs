//! `gamecode-fleet`: gamecode on NATS JetStream. How a worker or a submitter reaches a
//! fleet's servers ([`FleetConfig`], [`connect`]); the fleet's queue, results and plugin store
//! ([`Fleet`]); what they say to each other ([`protocol`]); and the state store that keeps
//! runs, journals and sessions in JetStream so that any worker can resume a run
//! ([`JetStreamStore`]).

mod connect;
mod fleet;
pub mod protocol;
mod store;

/// The NATS client the fleet is built on (its JetStream, KV and object-store APIs).
pub use async_nats;
pub use connect::{Auth, FleetConfig, FleetError, Secret, Tls, connect};
pub use fleet::{Fleet, WORKERS, hex};
pub use store::JetStreamStore;
