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
//! - exactly once: a `send` whose `client_id` is already stored, pending or in flight is never
//!   stored twice, also after a restart (the tail, with its `client_id`s, is reloaded);
//! - a failed write loses nothing: its senders get `store_unavailable` and retry, and the room
//!   reloads the tail from Redis before its next write, delivering anything the "failed" write
//!   did store (a timeout after Redis applied it), so a retry is answered, not stored again.

mod core;
mod limits;
pub mod store;

pub use crate::core::{Batch, ConnId, Connection, Output, RoomCore, StoreFailure};
pub use limits::{RateLimit, RoomConfig, TokenBucket};
