//! The frames themselves: client → server and server → client, tagged by `"type"`.

use serde::{Deserialize, Serialize};

/// A stored chat message, as sent in `welcome`, `message` and `history` frames and as stored
/// (JSON) in the room's Redis sorted set, with `seq` as its score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Strictly increasing within the room; the order and the cursor for everything.
    pub seq: i64,
    /// The sender's id for this message, reused on retries; the key of deduplication.
    pub client_id: String,
    pub user_id: String,
    pub name: String,
    pub text: String,
    /// Milliseconds since the Unix epoch when the room accepted the message.
    pub ts: i64,
}

/// One typing notice inside a `typing_batch` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypingNotice {
    pub user_id: String,
    pub name: String,
    pub active: bool,
}

/// Someone in the room.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    pub user_id: String,
    pub name: String,
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Must be the first frame. `secret` is the client's private key to its identity (random,
    /// kept in the browser); the room derives the public `user_id` from it and never stores or
    /// echoes it. `since` is the newest `seq` the client already holds.
    Hello {
        name: String,
        secret: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// A new message, or a retry of one (same `client_id`).
    Send { client_id: String, text: String },
    /// The user started or stopped typing.
    Typing { active: bool },
    /// Up to `limit` messages older than `before`.
    History { before: i64, limit: u32 },
}

/// The `welcome` frame: who you are, who is here, and the messages to start from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    pub you: Member,
    pub online: Vec<Member>,
    /// Ascending by `seq`.
    pub messages: Vec<Message>,
    /// Whether the room holds messages older than the first of `messages`.
    pub has_more: bool,
    /// `true`: replace the message list with `messages`; `false`: append them (a resume).
    pub reset: bool,
}

/// A page of older messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Ascending by `seq`.
    pub messages: Vec<Message>,
    /// Whether even older messages exist.
    pub has_more: bool,
}

/// Why the server refused something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON, an unknown or malformed frame, a bad id or limit, a binary frame.
    BadRequest,
    /// A frame other than `hello` before `hello`.
    NotJoined,
    /// The display name is empty, too long, blank-looking or has control or bidi characters.
    InvalidName,
    /// The message text is empty, too long (characters or bytes) or has control or bidi
    /// override characters.
    InvalidText,
    /// Too many frames; retry after `retry_after_ms`.
    RateLimited,
    /// Redis could not be reached (network, timeout, 5xx); the send may be retried with the same
    /// `client_id` after `retry_after_ms` and is stored at most once.
    StoreUnavailable,
    /// The store refused the request (bad credentials, a Redis error): retrying will not help
    /// until an operator fixes it. Nothing was stored; no `retry_after_ms`.
    StoreRefused,
    /// The room, or this address in the room, has as many connections as allowed; the socket is
    /// closed after this frame. Try again later (`retry_after_ms`).
    RoomFull,
}

/// The `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    /// Present when the error concerns a `send`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Present when retrying the same frame later makes sense.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// Server → client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Welcome(Welcome),
    /// A stored message, to everyone in the room (the sender's acknowledgement too).
    Message {
        message: Message,
    },
    /// Several stored messages at once, ascending: what one write stored, sent as one frame per
    /// socket rather than one per message. Means exactly what that many `message` frames mean.
    Messages {
        messages: Vec<Message>,
    },
    History(HistoryPage),
    /// Someone else started or stopped typing.
    Typing {
        user_id: String,
        name: String,
        active: bool,
    },
    /// The typing notices of one tick in a busy room, the latest per user, in one frame; means
    /// what that many `typing` frames mean. A client ignores its own user's notice.
    TypingBatch {
        notices: Vec<TypingNotice>,
    },
    /// Someone came online after the `welcome`'s roster, or changed their name (same
    /// `user_id`: replace the entry).
    Joined {
        member: Member,
    },
    /// The last connection of `user_id` closed.
    Left {
        user_id: String,
    },
    Error(ErrorFrame),
}

impl ServerFrame {
    /// An error frame without `client_id` or `retry_after_ms`.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        ServerFrame::Error(ErrorFrame {
            code,
            message: message.into(),
            client_id: None,
            retry_after_ms: None,
        })
    }

    /// The stored messages a `message` or `messages` frame carries (none for other frames).
    pub fn stored_messages(&self) -> &[Message] {
        match self {
            ServerFrame::Message { message } => std::slice::from_ref(message),
            ServerFrame::Messages { messages } => messages,
            _ => &[],
        }
    }

    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail: no maps with non-string keys, no
        // custom serializers.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ClientFrame {
    /// The `client_id` of a `send`, which every error about it carries.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    /// Parses a text frame, with a message fit to send back in a `bad_request` error.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid frame: {e}"))
    }
}

impl Message {
    /// The message as stored in Redis.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
