//! Validation of everything a client chooses: room names, display names, ids and text. The
//! server enforces these; the client uses the same functions to say what is wrong before sending.

use crate::{ID_MAX_CHARS, ID_MIN_CHARS, NAME_MAX_CHARS, ROOM_MAX_CHARS, TEXT_MAX_CHARS};

/// Why a value was refused, in words fit to show a user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A room name: 1–64 characters of `a-z 0-9 _ -`.
pub fn validate_room(room: &str) -> Result<&str, Invalid> {
    let len = room.chars().count();
    if len == 0 || len > ROOM_MAX_CHARS {
        return Err(invalid(format!(
            "a room name has 1 to {ROOM_MAX_CHARS} characters"
        )));
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
    {
        return Err(invalid(
            "a room name may only use lowercase letters a-z, digits, '_' and '-'",
        ));
    }
    Ok(room)
}

/// A display name: trimmed, 1–32 characters, no control characters. Returns the trimmed name.
pub fn validate_name(name: &str) -> Result<&str, Invalid> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 {
        return Err(invalid("the name is empty"));
    }
    if len > NAME_MAX_CHARS {
        return Err(invalid(format!(
            "the name is longer than {NAME_MAX_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("the name contains control characters"));
    }
    Ok(name)
}

/// A `user_id` or `client_id`: 8–64 characters of `A-Za-z0-9_-`.
fn validate_id<'a>(what: &str, id: &'a str) -> Result<&'a str, Invalid> {
    let len = id.len();
    if !(ID_MIN_CHARS..=ID_MAX_CHARS).contains(&len)
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(format!(
            "{what} must be {ID_MIN_CHARS} to {ID_MAX_CHARS} characters of A-Z a-z 0-9 _ -"
        )));
    }
    Ok(id)
}

/// See [`validate_id`]: the id a client keeps across reconnects.
pub fn validate_user_id(id: &str) -> Result<&str, Invalid> {
    validate_id("user_id", id)
}

/// See [`validate_id`]: the id of one message, reused on retries.
pub fn validate_client_id(id: &str) -> Result<&str, Invalid> {
    validate_id("client_id", id)
}

/// Message text: trimmed, 1–2000 characters, no control characters but newline and tab.
/// Returns the trimmed text.
pub fn validate_text(text: &str) -> Result<&str, Invalid> {
    let text = text.trim();
    let len = text.chars().count();
    if len == 0 {
        return Err(invalid("the message is empty"));
    }
    if len > TEXT_MAX_CHARS {
        return Err(invalid(format!(
            "the message is longer than {TEXT_MAX_CHARS} characters ({len})"
        )));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(invalid("the message contains control characters"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        for ok in ["lobby", "a", "room_1-x", &"r".repeat(64)] {
            assert_eq!(validate_room(ok), Ok(ok), "{ok}");
        }
        for bad in ["", "Lobby", "a b", "ü", "a/b", "a.b", &"r".repeat(65)] {
            assert!(validate_room(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded_in_characters() {
        assert_eq!(validate_name("  alice "), Ok("alice"));
        assert_eq!(
            validate_name(&"é".repeat(32)).map(|n| n.chars().count()),
            Ok(32)
        );
        for bad in ["", "   ", &"x".repeat(33), "a\u{7}b", "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ids() {
        assert!(validate_user_id("abcd_EF-12").is_ok());
        assert!(validate_client_id(&"x".repeat(64)).is_ok());
        for bad in ["short", "has space1", "ünïcode12", &"x".repeat(65), ""] {
            assert!(validate_user_id(bad).is_err(), "{bad:?}");
            assert!(validate_client_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_counts_characters_and_allows_newline_and_tab() {
        assert_eq!(validate_text(" hi\n\tthere "), Ok("hi\n\tthere"));
        assert!(
            validate_text(&"😀".repeat(2000)).is_ok(),
            "2000 characters, 8000 bytes"
        );
        assert!(validate_text(&"😀".repeat(2001)).is_err());
        for bad in ["", " \n ", "a\u{0}b", "a\rb", "bell\u{7}"] {
            assert!(validate_text(bad).is_err(), "{bad:?}");
        }
    }
}
