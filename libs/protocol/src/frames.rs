//! The frames themselves: client → server and server → client, tagged by `"type"`.

use serde::{Deserialize, Serialize};

/// A stored chat message, as sent in `welcome`, `message`, `updated` and `history` frames and
/// as stored (JSON) in the room's Redis sorted set, with `seq` as its score. The members after
/// `ts` are absent while they are empty, so a message nobody changed reads as it always did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The room's revision of the message's last change (an edit, a deletion, a reaction, its
    /// quote rewritten); absent until the first change, when it is `seq` (a message is created
    /// at the revision that is its `seq`). See [`Message::rev`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i64>,
    /// When the text was last edited (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<i64>,
    /// The author took the message back: `text` is empty, and `reply` and `reactions` are gone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// Each emoji put on the message, in the order first used, with who put it there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// The message this one answers, quoted as it is now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<Quote>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// One emoji on a message and the users who put it there, in the order they did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub user_ids: Vec<String>,
}

/// The quote of the original in a reply: its author and the start of its first line
/// ([`crate::QUOTE_MAX_CHARS`]), rewritten when the original is edited or deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub seq: i64,
    pub user_id: String,
    pub name: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
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

/// The key to a browser's identity, sent in `hello`: the room derives the public `user_id`
/// from it. Anyone who has it can speak as that user, so its `Debug` (logs, panics, the room's
/// held frames) never shows it. On the wire it is a plain string.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self::new(secret)
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// A `hello` without a `protocol` member comes from a client older than the member: version 1.
fn first_protocol() -> u32 {
    1
}

/// Client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Must be the first frame. `protocol` is the version the client speaks
    /// ([`crate::PROTOCOL_VERSION`]; 1 when absent). `secret` is the client's private key to
    /// its identity (random, kept in the browser); the room derives the public `user_id` from
    /// it and never stores or echoes it. `since` is the newest `seq` the client already holds.
    Hello {
        #[serde(default = "first_protocol")]
        protocol: u32,
        name: String,
        secret: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<i64>,
    },
    /// A new message, or a retry of one (same `client_id`). `reply_to` is the `seq` of the
    /// message it answers (protocol 3).
    Send {
        client_id: String,
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<i64>,
    },
    /// Replaces the text of one's own message `seq` (protocol 3). Like every action, it has a
    /// `client_id` of its own, is confirmed with `applied` and answered again, not applied
    /// again, when retried.
    Edit {
        client_id: String,
        seq: i64,
        text: String,
    },
    /// Takes back one's own message `seq` (protocol 3).
    Delete { client_id: String, seq: i64 },
    /// Puts (`on: true`) or takes off this user's `emoji` on message `seq` (protocol 3). A state
    /// rather than a toggle, so that a retry can never undo what it retries.
    React {
        client_id: String,
        seq: i64,
        emoji: String,
        on: bool,
    },
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
    /// `true`: replace the message list with `messages`; `false`: a resume, whose `messages`
    /// are added, or in protocol 3 replace the held message of the same `seq` (the current
    /// state of a message that changed after `since`).
    pub reset: bool,
    /// The room's revision (protocol 3): the `since` of the client's next hello, until a later
    /// frame carries a higher `seq` or `rev`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rev: Option<i64>,
    /// How long the room recognises a sent `client_id` (its dedupe window, ms): a retry within
    /// it is answered with the stored message, one after it may be stored again. Absent from
    /// servers older than the field, whose window was counted in messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dedupe_window_ms: Option<u64>,
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
    /// An edit or deletion of someone else's message.
    NotAllowed,
    /// An action or reply names a message the room cannot change: none has that `seq`, it was
    /// deleted, or it is older than the room's window of change (its newest messages).
    NotFound,
    /// A reaction that is not one of [`crate::REACTION_EMOJI`], or past the bounds:
    /// [`crate::REACTIONS_MAX`] emoji per message, [`crate::REACTIONS_PER_USER_MAX`] per person
    /// per message.
    BadReaction,
}

/// The `error` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub code: ErrorCode,
    pub message: String,
    /// Present when the error concerns a `send` or an action.
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
    /// The current state of messages that changed (edited, deleted, reacted to, a quote
    /// rewritten), ascending by `rev`, to everyone (protocol 3; older clients ignore it).
    Updated {
        messages: Vec<Message>,
    },
    /// The action with this `client_id` is applied (or was already): its confirmation to the
    /// connections that sent it. `seq` is the message it acted on.
    Applied {
        client_id: String,
        seq: i64,
    },
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
    /// The answer to a `hello` in a protocol version this server does not speak (a page left
    /// open across a deploy, or a rollback): the server speaks `oldest..=newest`. The socket
    /// closes after it with [`crate::CLOSE_UNSUPPORTED_PROTOCOL`]; the client reloads to get
    /// the assets that match the server. Its type and members never change, so every client
    /// from protocol 2 on understands it.
    UnsupportedProtocol {
        oldest: u32,
        newest: u32,
        message: String,
    },
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
    /// The `client_id` of a `send` or an action, which every error about it carries.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { client_id, .. }
            | ClientFrame::Edit { client_id, .. }
            | ClientFrame::Delete { client_id, .. }
            | ClientFrame::React { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    /// Parses a text frame, with a message fit to send back in a `bad_request` error.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("invalid frame: {e}"))
    }

    /// For a text that is a JSON object of type `hello` but not one this server reads: the
    /// `protocol` it names (`None` when it names none, as version 1 and the hellos before
    /// identities were derived did not). `None` outside the outer option for anything else.
    /// The room tells such a client its version is not spoken here rather than `bad_request`,
    /// which an old client would not act on.
    pub fn unreadable_hello(text: &str) -> Option<Option<u64>> {
        if Self::parse(text).is_ok() {
            return None;
        }
        let value: serde_json::Value = serde_json::from_str(text).ok()?;
        let object = value.as_object()?;
        (object.get("type")?.as_str()? == "hello")
            .then(|| object.get("protocol").and_then(serde_json::Value::as_u64))
    }
}

impl Message {
    /// The revision of the message's last change: `seq` until it first changes.
    pub fn rev(&self) -> i64 {
        self.rev.unwrap_or(self.seq)
    }

    /// The message as stored in Redis.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
