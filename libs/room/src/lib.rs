//! A chat room as a sans-IO state machine, in the manner of quinn-proto: inputs arrive through
//! `handle_*` methods with the current time passed in, outputs (frames to deliver, batches to
//! persist, loads to perform) queue up and are drained by the caller with
//! [`RoomCore::poll_output`]. No clock, no I/O, no randomness: the Durable Object drives it in
//! production and plain tests drive it natively.
//!
//! What the room guarantees:
//! - one total order: `seq = max(now, committed + 1)`, assigned when a batch is formed;
//! - commit, then deliver: a message is broadcast only after its batch was committed to the
//!   room's log ([`wal`], the Durable Object's own storage), with at most one commit in flight
//!   and the sends that arrive meanwhile grouped into the next one;
//! - exactly once, enforced by the log: a `send` whose (`user_id`, `client_id`) is committed,
//!   queued or in flight is never committed twice; the log remembers ids for a time window, not
//!   a count, and refuses a batch written against a log that moved on (fencing), so a second
//!   instance of the room cannot interleave;
//! - a failed commit writes nothing and loses nothing: its senders get `store_unavailable` and
//!   retry, and the room carries on from the same log;
//! - Redis is a mirror of the log, written in `seq` order off the delivery path ([`mirror`]):
//!   an outage of Redis delays the mirror, not the chat.

pub mod actions;
mod alarm;
mod core;
mod health;
pub mod identity;
mod limits;
pub mod mirror;
pub mod store;
pub mod wal;

pub use crate::core::{
    Batch, CLOSE_TRY_AGAIN_LATER, ConnId, Connection, Output, RoomCore, StoreFailure, Tail,
};
pub use alarm::alarm_to_set;
pub use health::{HEALTH_CACHE_MS, HealthCache, HealthCheck};
pub use limits::{
    Config, ConfigError, KeyedLimiter, RateLimit, RoomConfig, StoreAccess, TokenBucket, VARIABLES,
    Variable, variables_table,
};
