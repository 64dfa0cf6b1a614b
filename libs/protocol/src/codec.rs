//! The client's side of the wire, written by hand over [`crate::json`]: server frames decoded,
//! client frames encoded, without serde. It means exactly what the serde derives in `frames.rs`
//! mean; `tests/golden.rs` decodes and encodes every golden frame both ways and compares.

use crate::frames::{
    ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Member, Message, Quote, Reaction, ServerFrame,
    TypingNotice, Welcome,
};
use crate::json::{Json, JsonError, ObjectWriter};

/// Why a text is not a server frame this client knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(transparent)]
    Json(#[from] JsonError),
    /// Valid JSON, but not a known frame: an unknown `type` (a newer server), or a field
    /// missing or of the wrong kind.
    #[error("not a known server frame: {0}")]
    Shape(&'static str),
}

fn shape(what: &'static str) -> impl Fn() -> DecodeError {
    move || DecodeError::Shape(what)
}

impl Message {
    fn decode(json: &Json) -> Option<Message> {
        Some(Message {
            seq: json.int_member("seq")?,
            client_id: json.str_member("client_id")?,
            user_id: json.str_member("user_id")?,
            name: json.str_member("name")?,
            text: json.str_member("text")?,
            ts: json.int_member("ts")?,
            rev: json.optional_member("rev", Json::as_i64)?,
            edited_ts: json.optional_member("edited_ts", Json::as_i64)?,
            deleted: defaulted(json, "deleted", Json::as_bool)?,
            reactions: defaulted(json, "reactions", |list| {
                list.as_array()?.iter().map(Reaction::decode).collect()
            })?,
            reply: json.optional_member("reply", Quote::decode)?,
        })
    }
}

/// A member serde reads with `#[serde(default)]` into a type that is not an `Option`: the
/// default when absent, read by `read` when present (`null` included, which is an error there).
fn defaulted<T: Default>(json: &Json, name: &str, read: impl Fn(&Json) -> Option<T>) -> Option<T> {
    match json.get(name) {
        None => Some(T::default()),
        Some(value) => read(value),
    }
}

impl Reaction {
    fn decode(json: &Json) -> Option<Reaction> {
        Some(Reaction {
            emoji: json.str_member("emoji")?,
            user_ids: json.list_member("user_ids", |id| id.as_str().map(str::to_owned))?,
        })
    }
}

impl Quote {
    fn decode(json: &Json) -> Option<Quote> {
        Some(Quote {
            seq: json.int_member("seq")?,
            user_id: json.str_member("user_id")?,
            name: json.str_member("name")?,
            text: json.str_member("text")?,
            deleted: defaulted(json, "deleted", Json::as_bool)?,
        })
    }
}

impl Member {
    fn decode(json: &Json) -> Option<Member> {
        Some(Member {
            user_id: json.str_member("user_id")?,
            name: json.str_member("name")?,
        })
    }
}

impl TypingNotice {
    fn decode(json: &Json) -> Option<TypingNotice> {
        Some(TypingNotice {
            user_id: json.str_member("user_id")?,
            name: json.str_member("name")?,
            active: json.bool_member("active")?,
        })
    }
}

impl ErrorCode {
    /// Every code, for tests and for [`ErrorCode::as_str`]'s inverse.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::BadRequest,
        ErrorCode::NotJoined,
        ErrorCode::InvalidName,
        ErrorCode::InvalidText,
        ErrorCode::RateLimited,
        ErrorCode::StoreUnavailable,
        ErrorCode::StoreRefused,
        ErrorCode::RoomFull,
        ErrorCode::NotAllowed,
        ErrorCode::NotFound,
        ErrorCode::BadReaction,
    ];

    /// The code as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidText => "invalid_text",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::StoreUnavailable => "store_unavailable",
            ErrorCode::StoreRefused => "store_refused",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::BadReaction => "bad_reaction",
        }
    }

    fn decode(json: &Json) -> Option<ErrorCode> {
        let name = json.as_str()?;
        ErrorCode::ALL
            .into_iter()
            .find(|code| code.as_str() == name)
    }
}

impl HistoryPage {
    /// Decodes a page as `GET /api/rooms/{room}/messages` answers it:
    /// `{"messages":[…],"has_more":…}`, members it does not define ignored.
    pub fn decode(text: &str) -> Result<HistoryPage, DecodeError> {
        HistoryPage::from_json(&Json::parse(text)?)
            .ok_or(DecodeError::Shape("not a page of messages"))
    }

    fn from_json(json: &Json) -> Option<HistoryPage> {
        Some(HistoryPage {
            messages: json.list_member("messages", Message::decode)?,
            has_more: json.bool_member("has_more")?,
        })
    }
}

impl ServerFrame {
    /// Decodes a server frame, as the client does (the Worker encodes with serde). Members a
    /// frame does not define are ignored, so a newer server may add some.
    pub fn decode(text: &str) -> Result<ServerFrame, DecodeError> {
        let json = Json::parse(text)?;
        let kind = json
            .get("type")
            .and_then(Json::as_str)
            .ok_or_else(shape("no type"))?;
        let fields = shape("a field is missing or of the wrong kind");
        let frame = match kind {
            "welcome" => Self::welcome(&json),
            "message" => json
                .get("message")
                .and_then(Message::decode)
                .map(|message| ServerFrame::Message { message }),
            "messages" => json
                .list_member("messages", Message::decode)
                .map(|messages| ServerFrame::Messages { messages }),
            "updated" => json
                .list_member("messages", Message::decode)
                .map(|messages| ServerFrame::Updated { messages }),
            "applied" => json.str_member("client_id").and_then(|client_id| {
                Some(ServerFrame::Applied {
                    client_id,
                    seq: json.int_member("seq")?,
                })
            }),
            "history" => Some(ServerFrame::History(
                HistoryPage::from_json(&json).ok_or_else(&fields)?,
            )),
            "typing" => TypingNotice::decode(&json).map(|n| ServerFrame::Typing {
                user_id: n.user_id,
                name: n.name,
                active: n.active,
            }),
            "typing_batch" => json
                .list_member("notices", TypingNotice::decode)
                .map(|notices| ServerFrame::TypingBatch { notices }),
            "joined" => json
                .get("member")
                .and_then(Member::decode)
                .map(|member| ServerFrame::Joined { member }),
            "left" => json
                .str_member("user_id")
                .map(|user_id| ServerFrame::Left { user_id }),
            "error" => Self::error_frame(&json),
            "unsupported_protocol" => Self::unsupported_protocol(&json),
            _ => return Err(DecodeError::Shape("unknown type")),
        };
        frame.ok_or_else(fields)
    }

    fn welcome(json: &Json) -> Option<ServerFrame> {
        Some(ServerFrame::Welcome(Welcome {
            you: Member::decode(json.get("you")?)?,
            online: json.list_member("online", Member::decode)?,
            messages: json.list_member("messages", Message::decode)?,
            has_more: json.bool_member("has_more")?,
            reset: json.bool_member("reset")?,
            rev: json.optional_member("rev", Json::as_i64)?,
            dedupe_window_ms: json
                .optional_member("dedupe_window_ms", |v| u64::try_from(v.as_i64()?).ok())?,
        }))
    }

    fn unsupported_protocol(json: &Json) -> Option<ServerFrame> {
        let version = |name| u32::try_from(json.int_member(name)?).ok();
        Some(ServerFrame::UnsupportedProtocol {
            oldest: version("oldest")?,
            newest: version("newest")?,
            message: json.str_member("message")?,
        })
    }

    fn error_frame(json: &Json) -> Option<ServerFrame> {
        let client_id = json.optional_member("client_id", |v| v.as_str().map(str::to_owned))?;
        let retry_after_ms =
            json.optional_member("retry_after_ms", |v| u64::try_from(v.as_i64()?).ok())?;
        Some(ServerFrame::Error(ErrorFrame {
            code: ErrorCode::decode(json.get("code")?)?,
            message: json.str_member("message")?,
            client_id,
            retry_after_ms,
        }))
    }
}

impl ClientFrame {
    /// The frame as JSON text, spelled exactly as serde_json spells the derive's output.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        let mut object = ObjectWriter::new(&mut out);
        match self {
            ClientFrame::Hello {
                protocol,
                name,
                secret,
                since,
            } => {
                object
                    .str("type", "hello")
                    .int("protocol", i64::from(*protocol))
                    .str("name", name)
                    .str("secret", secret.as_str());
                if let Some(since) = since {
                    object.int("since", *since);
                }
            }
            ClientFrame::Send {
                client_id,
                text,
                reply_to,
            } => {
                object
                    .str("type", "send")
                    .str("client_id", client_id)
                    .str("text", text);
                if let Some(seq) = reply_to {
                    object.int("reply_to", *seq);
                }
            }
            ClientFrame::Edit {
                client_id,
                seq,
                text,
            } => {
                object
                    .str("type", "edit")
                    .str("client_id", client_id)
                    .int("seq", *seq)
                    .str("text", text);
            }
            ClientFrame::Delete { client_id, seq } => {
                object
                    .str("type", "delete")
                    .str("client_id", client_id)
                    .int("seq", *seq);
            }
            ClientFrame::React {
                client_id,
                seq,
                emoji,
                on,
            } => {
                object
                    .str("type", "react")
                    .str("client_id", client_id)
                    .int("seq", *seq)
                    .str("emoji", emoji)
                    .bool("on", *on);
            }
            ClientFrame::Typing { active } => {
                object.str("type", "typing").bool("active", *active);
            }
            ClientFrame::History { before, limit } => {
                object
                    .str("type", "history")
                    .int("before", *before)
                    .int("limit", i64::from(*limit));
            }
        }
        object.end();
        out
    }
}
