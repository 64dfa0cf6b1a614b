//! A chat room as a sans-IO state machine, in the manner of quinn-proto: inputs arrive through
//! `handle_*` methods with the current time passed in, outputs (frames to deliver, batches to
//! persist, loads to perform) queue up and are drained by the caller with
//! [`RoomCore::poll_output`]. No clock, no I/O, no randomness: the Durable Object drives it in
//! production and plain tests drive it natively.
//!
//! What the room guarantees:
//! - one total order: `seq = max(now, last_seq + 1)`, assigned when a batch is formed;
//! - persist, then deliver: a message is broadcast only after its batch was stored, with at most
//!   one write in flight and the sends that arrive meanwhile grouped into the next write;
//! - exactly once, enforced by Redis: a `send` whose (`user_id`, `client_id`) is stored, pending
//!   or in flight is never stored twice; the write script skips ids Redis already holds (within
//!   the newest `history_limit` messages) and refuses any batch written against a store that
//!   moved on (fencing), so a late write or a second instance of the room cannot interleave;
//! - a failed write loses nothing: its senders get `store_unavailable` and retry, and the room
//!   reloads the tail from Redis before its next write, delivering to everyone anything a
//!   "failed" write did store (a timeout after Redis applied it); the mark that says so is kept
//!   durably, so this holds across hibernation too.

mod alarm;
mod core;
mod health;
pub mod identity;
mod limits;
pub mod mirror;
pub mod store;
pub mod wal;

pub use crate::core::{
    Batch, CLOSE_TRY_AGAIN_LATER, ConnId, Connection, Output, RoomCore, StoreFailure,
};
pub use alarm::alarm_to_set;
pub use health::{HEALTH_CACHE_MS, HealthCache, HealthCheck};
pub use limits::{ConfigError, KeyedLimiter, RateLimit, RoomConfig, TokenBucket};
