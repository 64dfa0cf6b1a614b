//! Validation of everything a client chooses: room names, display names, ids and text. The
//! server enforces these; the client uses the same functions to say what is wrong before sending.

use crate::{
    ID_MAX_CHARS, ID_MIN_CHARS, NAME_MAX_CHARS, ROOM_MAX_CHARS, SECRET_MIN_CHARS, TEXT_MAX_BYTES,
    TEXT_MAX_CHARS,
};

/// Characters that reorder the text around them (bidi embeddings, overrides, isolates and
/// marks). In a name or message they can make one thing look like another ("Trojan Source"), so
/// they are refused everywhere.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that render as nothing (zero-width and invisible format characters) or as a blank
/// that is not whitespace (fillers). Message text may hold ZWJ/ZWNJ (emoji sequences, Indic and
/// Persian scripts need them), but nothing may be made only of these.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2800}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{E0000}'..='\u{E007F}'
    ) || is_bidi_control(c)
}

/// Whether `text` shows something: a character that is neither whitespace nor invisible.
fn has_visible(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace() && !is_invisible(c))
}

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

/// A display name: trimmed, 1–32 characters, no control, bidi or invisible characters (a name
/// must look like what it is: zero-width tricks could make two names look the same or blank).
/// Returns the trimmed name.
pub fn validate_name(name: &str) -> Result<&str, Invalid> {
    let name = name.trim_matches(|c: char| c.is_whitespace() || is_invisible(c));
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
    if name.chars().any(is_invisible) {
        return Err(invalid(
            "the name contains invisible or direction-changing characters",
        ));
    }
    Ok(name)
}

/// A token of `min`–64 characters of `A-Za-z0-9_-` (ids and secrets); `what` names it in the
/// error.
fn validate_token<'a>(what: &str, min: usize, id: &'a str) -> Result<&'a str, Invalid> {
    let len = id.len();
    if !(min..=ID_MAX_CHARS).contains(&len)
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(invalid(format!(
            "{what} must be {min} to {ID_MAX_CHARS} characters of A-Z a-z 0-9 _ -"
        )));
    }
    Ok(id)
}

/// A `user_id` or `client_id`: 8–64 characters of `A-Za-z0-9_-`.
fn validate_id<'a>(what: &str, id: &'a str) -> Result<&'a str, Invalid> {
    validate_token(what, ID_MIN_CHARS, id)
}

/// See [`validate_id`]: the id a client keeps across reconnects.
pub fn validate_user_id(id: &str) -> Result<&str, Invalid> {
    validate_id("user_id", id)
}

/// The secret a client proves its identity with: 22–64 characters of `A-Za-z0-9_-`.
pub fn validate_secret(secret: &str) -> Result<&str, Invalid> {
    validate_token("secret", SECRET_MIN_CHARS, secret)
}

/// See [`validate_id`]: the id of one message, reused on retries.
pub fn validate_client_id(id: &str) -> Result<&str, Invalid> {
    validate_id("client_id", id)
}

/// Message text: trimmed, 1–2000 characters and at most 4096 bytes, something visible, no
/// control characters but newline and tab, no bidi controls. Returns the trimmed text.
pub fn validate_text(text: &str) -> Result<&str, Invalid> {
    let text = text.trim();
    let len = text.chars().count();
    if len == 0 {
        return Err(invalid("the message is empty"));
    }
    if !has_visible(text) {
        return Err(invalid(
            "the message shows nothing (only invisible characters)",
        ));
    }
    if text.len() > TEXT_MAX_BYTES {
        return Err(invalid(format!(
            "the message is longer than {TEXT_MAX_BYTES} bytes ({})",
            text.len()
        )));
    }
    if text.chars().any(is_bidi_control) {
        return Err(invalid(
            "the message contains direction-changing (bidi) control characters",
        ));
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
    fn names_cannot_be_blank_looking_or_reordered() {
        // Invisible characters around a name are trimmed like spaces…
        assert_eq!(validate_name("\u{200B}alice\u{FEFF}"), Ok("alice"));
        // …and a name of nothing else is empty.
        for blank in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{2060}",
            "\u{3164}",
            "\u{2800}\u{2800}",
        ] {
            assert_eq!(
                validate_name(blank),
                Err(invalid("the name is empty")),
                "{blank:?}"
            );
        }
        // Inside a name they would make "alice" and "al\u{200B}ice" look the same.
        for bad in [
            "al\u{200B}ice",
            "ali\u{202E}ecila",
            "a\u{2066}b\u{2069}",
            "bob\u{200F}x",
            "x\u{00AD}y",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(validate_name("Zoë 🙂"), Ok("Zoë 🙂"));
    }

    #[test]
    fn secrets() {
        assert!(validate_secret(&"s".repeat(22)).is_ok());
        assert!(validate_secret(&"s".repeat(64)).is_ok());
        for bad in [
            &"s".repeat(21),
            &"s".repeat(65),
            "has spaces in it but long enough",
            "",
        ] {
            assert!(validate_secret(bad).is_err(), "{bad:?}");
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
        assert!(validate_text(&"x".repeat(2000)).is_ok());
        assert!(
            validate_text(&"😀".repeat(1024)).is_ok(),
            "1024 characters, 4096 bytes"
        );
        assert_eq!(
            validate_text(&"😀".repeat(1025)),
            Err(invalid("the message is longer than 4096 bytes (4100)"))
        );
        assert!(validate_text(&"😀".repeat(2001)).is_err());
        for bad in ["", " \n ", "a\u{0}b", "a\rb", "bell\u{7}"] {
            assert!(validate_text(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn text_must_show_something_and_keep_its_direction() {
        // Emoji sequences and scripts need ZWJ/ZWNJ inside text.
        assert!(validate_text("👨\u{200D}👩\u{200D}👧").is_ok());
        assert!(validate_text("می\u{200C}خواهم").is_ok());
        for bad in ["\u{200B}", "\u{200D}\u{200C}", " \u{2060} ", "\u{FEFF}"] {
            assert_eq!(
                validate_text(bad),
                Err(invalid(
                    "the message shows nothing (only invisible characters)"
                )),
                "{bad:?}"
            );
        }
        for bad in ["pay \u{202E}gnp.exe", "a\u{2067}b", "x\u{200F}"] {
            assert!(validate_text(bad).is_err(), "{bad:?}");
        }
    }
}
