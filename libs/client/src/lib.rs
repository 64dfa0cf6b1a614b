//! The chat client's state as plain Rust, tested natively: what the web client shows and what
//! it sends are decided here; the Leptos components only render it and the transport only
//! carries frames and timers. Time and randomness are arguments, as in the room core.

mod attention;
mod backoff;
mod chat;
mod face;
pub mod markup;
mod messages;
mod outbox;
mod rooms;
mod typing;

pub use attention::{Alert, Attention};
pub use backoff::{Backoff, Beat, Heartbeat};
pub use chat::{ChatState, ConnectionStatus, Notice, ROOM_FULL_DEFAULT_WAIT_MS, ViewChange};
pub use face::{Face, HUES};
pub use messages::{MessageList, Row};
pub use outbox::{
    Act, CONFIRM_WINDOW_MS, NOT_CONFIRMED_REASON, Outbox, OutboxEntry, OutboxState,
    PENDING_ACTIONS_AFTER_MS, PendingView, RATE_LIMITED_REASON, STORE_REFUSED_REASON,
    STORE_UNAVAILABLE_REASON,
};
pub use protocol::Secret;
pub use rooms::{MAX_ROOMS, RoomEntry, Rooms, UNREAD_PAGE, Unread};
pub use typing::Typing;

/// Whole seconds from `now` until `at`, rounded up (a countdown shows 1 s until it is due), 0
/// once it is due.
pub fn seconds_until(at: i64, now: i64) -> i64 {
    ((at - now).max(0) + 999) / 1000
}

/// An id of `len` characters of `A-Za-z0-9_-` from random bytes the caller supplies (the
/// browser's crypto in the app, fixed bytes in tests).
pub fn make_id(random: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    random
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 64]))
        .collect()
}
