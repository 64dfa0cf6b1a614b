//! edge-chat's wire protocol ([`PROTOCOL_VERSION`]): every frame between browser and room, the limits, and
//! the validation both sides apply. This crate is the compatibility boundary: the golden tests in
//! `tests/golden.rs` pin the JSON of every frame, so a change to the wire format fails a test.

mod codec;
mod frames;
pub mod http;
pub mod json;
mod validate;

pub use codec::DecodeError;
pub use frames::{
    ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Member, Message, Quote, Reaction, Secret,
    ServerFrame, TypingNotice, Welcome,
};
pub use validate::{
    Invalid, validate_client_id, validate_name, validate_room, validate_secret, validate_text,
    validate_user_id,
};

/// The protocol version this crate speaks, sent in `hello`. 1: the hello named no version.
/// 2: the hello says `protocol`, and the server answers a version it does not speak with
/// `unsupported_protocol`. 3: messages can be edited, deleted, reacted to and replied to; `since`
/// is the room's revision, and a resume carries the messages that changed meanwhile.
pub const PROTOCOL_VERSION: u32 = 3;
/// The oldest version a server built from this crate still accepts. Raise it only when the
/// oldest clients can no longer be served; they are then told to reload, not left hanging.
pub const OLDEST_PROTOCOL: u32 = 1;
/// WebSocket close code after `unsupported_protocol` (a private code: 4000–4999; 426 is HTTP's
/// "Upgrade Required").
pub const CLOSE_UNSUPPORTED_PROTOCOL: u16 = 4426;

/// The WebSocket path of a room: `/api/rooms/{room}/ws`.
pub fn ws_path(room: &str) -> String {
    format!("/api/rooms/{room}/ws")
}

/// Room names: 1 to this many characters of `a-z 0-9 _ -`.
pub const ROOM_MAX_CHARS: usize = 64;
/// Display names: 1 to this many characters after trimming.
pub const NAME_MAX_CHARS: usize = 32;
/// `user_id` and `client_id`: this many to [`ID_MAX_CHARS`] characters of `A-Za-z0-9_-`.
pub const ID_MIN_CHARS: usize = 8;
/// See [`ID_MIN_CHARS`].
pub const ID_MAX_CHARS: usize = 64;
/// `secret` in `hello`: this many to [`ID_MAX_CHARS`] characters of `A-Za-z0-9_-` (at least
/// 128 bits when random).
pub const SECRET_MIN_CHARS: usize = 22;
/// Message text: 1 to this many characters after trimming…
pub const TEXT_MAX_CHARS: usize = 2000;
/// …and at most this many bytes of UTF-8 (1024 four-byte emoji), which bounds what one message
/// costs in Redis whatever script it is written in.
pub const TEXT_MAX_BYTES: usize = 4096;
/// A reply's quote holds at most this many characters of the original's first line (`…` ends
/// one that was cut).
pub const QUOTE_MAX_CHARS: usize = 80;
/// The emoji a reaction may be: one of these, exactly (a documented set rather than "any emoji",
/// which would need Unicode's emoji tables in both the room and the client to decide).
pub const REACTION_EMOJI: [&str; 24] = [
    "👍", "👎", "❤️", "😂", "😮", "😢", "🎉", "🙏", "🔥", "👀", "✅", "❌", "😄", "😍", "🤔", "👏",
    "🚀", "💯", "🙌", "😅", "🤝", "⭐", "💡", "☕",
];
/// Distinct emoji one message may carry.
pub const REACTIONS_MAX: usize = 20;
/// Distinct emoji one person may put on one message.
pub const REACTIONS_PER_USER_MAX: usize = 10;
/// A text frame larger than this closes the connection with [`CLOSE_TOO_BIG`].
pub const FRAME_MAX_BYTES: usize = 16 * 1024;
/// WebSocket close code for an oversize frame ("message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// A `history` request asks for 1 to this many messages.
pub const HISTORY_MAX_LIMIT: u32 = 100;
/// How many of the newest messages a `welcome` with `reset: true` carries.
pub const WELCOME_MESSAGES: usize = 50;
/// The heartbeat the client sends as a bare text frame, answered with [`PONG`] by the runtime
/// without waking the room.
pub const PING: &str = "ping";
/// See [`PING`].
pub const PONG: &str = "pong";
