//! What the actions on a message do to it (edit, delete, react) and the quote a reply carries:
//! plain functions over [`Message`], which the room core applies in commit order.

use protocol::{
    ErrorCode, Message, QUOTE_MAX_CHARS, Quote, REACTION_EMOJI, REACTIONS_MAX,
    REACTIONS_PER_USER_MAX, Reaction,
};

/// What a queued write does: a new message, or an action on the message `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Send { text: String, reply_to: Option<i64> },
    Edit { seq: i64, text: String },
    Delete { seq: i64 },
    React { seq: i64, emoji: String, on: bool },
}

impl Change {
    /// The message an action acts on (`None` for a send).
    pub fn target(&self) -> Option<i64> {
        match self {
            Change::Send { .. } => None,
            Change::Edit { seq, .. } | Change::Delete { seq } | Change::React { seq, .. } => {
                Some(*seq)
            }
        }
    }
}

/// Why an action was refused: the error code and the words for the user.
pub type Refusal = (ErrorCode, &'static str);

/// The refusal of an action or reply whose message the room cannot change.
pub const NOT_FOUND: Refusal = (
    ErrorCode::NotFound,
    "no such message, or it was deleted, or it is too old to change",
);

/// Applies the action `change` by `user_id` at `now` to `message`. `Ok(true)` when the message
/// changed, `Ok(false)` when it already was as the action asks (a retry after a restart: applied,
/// nothing to write), or why it is refused. Only the author edits or deletes; anyone reacts.
pub fn apply(
    message: &mut Message,
    change: &Change,
    user_id: &str,
    now: i64,
) -> Result<bool, Refusal> {
    let own = message.user_id == user_id;
    match change {
        Change::Send { .. } => Ok(false),
        Change::Edit { text, .. } => {
            if !own {
                return Err((ErrorCode::NotAllowed, "only its author can edit a message"));
            }
            if message.deleted {
                return Err(NOT_FOUND);
            }
            if message.text == *text {
                return Ok(false);
            }
            message.text.clone_from(text);
            message.edited_ts = Some(now);
            Ok(true)
        }
        Change::Delete { .. } => {
            if !own {
                return Err((
                    ErrorCode::NotAllowed,
                    "only its author can delete a message",
                ));
            }
            if message.deleted {
                return Ok(false);
            }
            // What remains of a deleted message: its seq, author, name, time and client_id (the
            // key that answers a retry of its send). Its words go, and with them its quote of
            // another message and the reactions to it.
            message.deleted = true;
            message.text.clear();
            message.reply = None;
            message.reactions.clear();
            message.edited_ts = None;
            Ok(true)
        }
        Change::React { emoji, on, .. } => {
            if message.deleted {
                return Err(NOT_FOUND);
            }
            react(message, emoji, user_id, *on)
        }
    }
}

/// Puts or takes off `user_id`'s `emoji` on `message`, within the bounds.
fn react(message: &mut Message, emoji: &str, user_id: &str, on: bool) -> Result<bool, Refusal> {
    if !REACTION_EMOJI.contains(&emoji) {
        return Err((
            ErrorCode::BadReaction,
            "that is not one of the emoji a reaction may be",
        ));
    }
    let at = message.reactions.iter().position(|r| r.emoji == emoji);
    let has = at.is_some_and(|at| message.reactions[at].user_ids.iter().any(|u| u == user_id));
    if has == on {
        return Ok(false);
    }
    if !on {
        if let Some(at) = at {
            message.reactions[at].user_ids.retain(|u| u != user_id);
            if message.reactions[at].user_ids.is_empty() {
                message.reactions.remove(at);
            }
        }
        return Ok(true);
    }
    let mine = message
        .reactions
        .iter()
        .filter(|r| r.user_ids.iter().any(|u| u == user_id))
        .count();
    if mine >= REACTIONS_PER_USER_MAX {
        return Err((
            ErrorCode::BadReaction,
            "you have put as many emoji on this message as one person may",
        ));
    }
    match at {
        Some(at) => message.reactions[at].user_ids.push(user_id.to_owned()),
        None if message.reactions.len() >= REACTIONS_MAX => {
            return Err((
                ErrorCode::BadReaction,
                "this message has as many different emoji as it may",
            ));
        }
        None => message.reactions.push(Reaction {
            emoji: emoji.to_owned(),
            user_ids: vec![user_id.to_owned()],
        }),
    }
    Ok(true)
}

/// The quote of `original` a reply carries: its author, and the start of its first line.
pub fn quote(original: &Message) -> Quote {
    let first_line = original.text.lines().next().unwrap_or("").trim_end();
    let mut text: String = first_line.chars().take(QUOTE_MAX_CHARS).collect();
    let cut = text.len() < first_line.len() || original.text.trim_end().contains('\n');
    if cut {
        // The ellipsis replaces the last character kept, so a quote is never longer than the
        // bound.
        if text.chars().count() >= QUOTE_MAX_CHARS {
            text.pop();
        }
        text.push('…');
    }
    Quote {
        seq: original.seq,
        user_id: original.user_id.clone(),
        name: original.name.clone(),
        text,
        deleted: original.deleted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn message(text: &str) -> Message {
        Message {
            seq: 10,
            client_id: "client-1".into(),
            user_id: "alice".into(),
            name: "Alice".into(),
            text: text.into(),
            ts: 10,
            ..Message::default()
        }
    }

    fn react_on(emoji: &str) -> Change {
        Change::React {
            seq: 10,
            emoji: emoji.into(),
            on: true,
        }
    }

    #[test]
    fn only_the_author_edits_or_deletes_and_a_retry_changes_nothing() {
        let mut m = message("helo");
        let edit = Change::Edit {
            seq: 10,
            text: "hello".into(),
        };
        assert_eq!(
            apply(&mut m, &edit, "bob", 20).map_err(|r| r.0),
            Err(ErrorCode::NotAllowed)
        );
        assert_eq!(apply(&mut m, &edit, "alice", 20), Ok(true));
        assert_eq!((m.text.as_str(), m.edited_ts), ("hello", Some(20)));
        assert_eq!(apply(&mut m, &edit, "alice", 30), Ok(false), "a retry");
        assert_eq!(m.edited_ts, Some(20));
        let delete = Change::Delete { seq: 10 };
        assert_eq!(
            apply(&mut m, &delete, "bob", 40).map_err(|r| r.0),
            Err(ErrorCode::NotAllowed)
        );
        assert_eq!(apply(&mut m, &delete, "alice", 40), Ok(true));
        assert!(m.deleted && m.text.is_empty());
        assert_eq!(apply(&mut m, &delete, "alice", 50), Ok(false), "a retry");
        assert_eq!(apply(&mut m, &edit, "alice", 50), Err(NOT_FOUND));
        assert_eq!(apply(&mut m, &react_on("👍"), "bob", 50), Err(NOT_FOUND));
    }

    #[test]
    fn a_deletion_keeps_the_seq_the_author_and_the_time_only() {
        let mut m = message("secret plans");
        apply(&mut m, &react_on("🎉"), "bob", 11).ok();
        m.reply = Some(quote(&message("earlier")));
        apply(&mut m, &Change::Delete { seq: 10 }, "alice", 12).ok();
        assert_eq!(
            m,
            Message {
                deleted: true,
                text: String::new(),
                ..message("")
            }
        );
    }

    #[test]
    fn reactions_are_states_in_the_order_first_used_within_bounds() {
        let mut m = message("hi");
        assert_eq!(apply(&mut m, &react_on("👍"), "bob", 1), Ok(true));
        assert_eq!(apply(&mut m, &react_on("🎉"), "carol", 1), Ok(true));
        assert_eq!(apply(&mut m, &react_on("👍"), "carol", 1), Ok(true));
        assert_eq!(apply(&mut m, &react_on("👍"), "carol", 1), Ok(false));
        assert_eq!(
            m.reactions,
            vec![
                Reaction {
                    emoji: "👍".into(),
                    user_ids: vec!["bob".into(), "carol".into()]
                },
                Reaction {
                    emoji: "🎉".into(),
                    user_ids: vec!["carol".into()]
                },
            ]
        );
        let off = Change::React {
            seq: 10,
            emoji: "🎉".into(),
            on: false,
        };
        assert_eq!(apply(&mut m, &off, "carol", 1), Ok(true));
        assert_eq!(apply(&mut m, &off, "carol", 1), Ok(false));
        assert_eq!(m.reactions.len(), 1, "an emoji nobody has is gone");
        assert_eq!(
            apply(&mut m, &react_on("🍕"), "bob", 1).map_err(|r| r.0),
            Err(ErrorCode::BadReaction),
            "not in the set"
        );
        // One person: at most ten emoji on a message.
        for emoji in &REACTION_EMOJI[..REACTIONS_PER_USER_MAX] {
            apply(&mut m, &react_on(emoji), "dave", 1).ok();
        }
        assert_eq!(
            apply(&mut m, &react_on(REACTION_EMOJI[10]), "dave", 1).map_err(|r| r.0),
            Err(ErrorCode::BadReaction)
        );
        // The message: at most twenty emoji.
        for emoji in &REACTION_EMOJI[10..REACTIONS_MAX] {
            assert_eq!(apply(&mut m, &react_on(emoji), "erin", 1), Ok(true));
        }
        assert_eq!(m.reactions.len(), REACTIONS_MAX);
        assert_eq!(
            apply(&mut m, &react_on(REACTION_EMOJI[20]), "erin", 1).map_err(|r| r.0),
            Err(ErrorCode::BadReaction)
        );
    }

    #[test]
    fn a_quote_is_the_author_and_the_start_of_the_first_line() {
        assert_eq!(quote(&message("short")).text, "short");
        assert_eq!(quote(&message("two\nlines")).text, "two…");
        let long = "x".repeat(200);
        let quoted = quote(&message(&long)).text;
        assert_eq!(quoted.chars().count(), QUOTE_MAX_CHARS);
        assert!(quoted.ends_with('…'));
        let mut gone = message("words");
        gone.deleted = true;
        gone.text.clear();
        let q = quote(&gone);
        assert!(q.deleted && q.text.is_empty() && q.name == "Alice" && q.seq == 10);
    }
}
