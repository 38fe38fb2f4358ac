//! `gamecode-fleet`: gamecode on NATS JetStream. Today: how a worker or a submitter reaches a
//! fleet's servers ([`FleetConfig`], [`connect`]) — the URL, credentials and TLS from flags or
//! the environment, never logged, and the subject prefix that keeps fleets sharing a cluster
//! apart.

mod connect;

/// The NATS client the fleet is built on (its JetStream, KV and object-store APIs).
pub use async_nats;
pub use connect::{Auth, FleetConfig, FleetError, Secret, Tls, connect};
