//! The HTTP surface around the frames: which path is which route, the query of the messages
//! endpoint, and the Origin check of the WebSocket upgrade. Pure functions, so the Worker's
//! routing is tested natively.

use crate::validate::validate_room;
use crate::{HISTORY_MAX_LIMIT, Invalid, WELCOME_MESSAGES};

/// What a request path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /api/health`.
    Health,
    /// `GET /api/rooms/{room}/ws`.
    RoomSocket(&'a str),
    /// `GET /api/rooms/{room}/messages`.
    RoomMessages(&'a str),
    /// `/api/rooms/{room}/…` with a room name that is not valid: 400.
    BadRoom(Invalid),
    /// Anything else under `/api/`: 404.
    ApiNotFound,
    /// Not an API path: static assets (the web client).
    Other,
}

/// Routes `path` (without query).
pub fn route(path: &str) -> Route<'_> {
    let Some(api) = path.strip_prefix("/api/") else {
        return if path == "/api" {
            Route::ApiNotFound
        } else {
            Route::Other
        };
    };
    if api == "health" {
        return Route::Health;
    }
    let Some(rest) = api.strip_prefix("rooms/") else {
        return Route::ApiNotFound;
    };
    let Some((room, action)) = rest.split_once('/') else {
        return Route::ApiNotFound;
    };
    if !matches!(action, "ws" | "messages") {
        return Route::ApiNotFound;
    }
    match validate_room(room) {
        Err(invalid) => Route::BadRoom(invalid),
        Ok(room) if action == "ws" => Route::RoomSocket(room),
        Ok(room) => Route::RoomMessages(room),
    }
}

/// The query of `GET /api/rooms/{room}/messages`: `before` (default: newest) and `limit`
/// (default 50, at most 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessagesQuery {
    pub before: i64,
    pub limit: u32,
}

/// Parses `before=SEQ&limit=N` (either may be absent).
pub fn messages_query(query: Option<&str>) -> Result<MessagesQuery, Invalid> {
    let mut parsed = MessagesQuery {
        before: i64::MAX,
        limit: WELCOME_MESSAGES as u32,
    };
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "before" => {
                parsed.before = value
                    .parse()
                    .map_err(|_| Invalid("before must be an integer seq".into()))?;
            }
            "limit" => {
                parsed.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=HISTORY_MAX_LIMIT).contains(n))
                    .ok_or_else(|| Invalid(format!("limit must be 1 to {HISTORY_MAX_LIMIT}")))?;
            }
            _ => {}
        }
    }
    Ok(parsed)
}

/// Whether a WebSocket upgrade from `origin` may proceed. No `Origin` (not a browser) is
/// allowed; a browser origin must be the Worker's own host or listed in `allowed`
/// (comma-separated origins such as `https://chat.example.com`, or `*` for any).
pub fn origin_allowed(origin: Option<&str>, host: &str, allowed: &str) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    let origin_host = origin
        .split_once("://")
        .map_or(origin, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    if !origin_host.is_empty() && origin_host.eq_ignore_ascii_case(host) {
        return true;
    }
    allowed
        .split(',')
        .map(|a| a.trim().trim_end_matches('/'))
        .any(|a| a == "*" || (!a.is_empty() && a.eq_ignore_ascii_case(origin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/api/health"), Route::Health);
        assert_eq!(route("/api/rooms/lobby/ws"), Route::RoomSocket("lobby"));
        assert_eq!(
            route("/api/rooms/a_b-1/messages"),
            Route::RoomMessages("a_b-1")
        );
        assert!(matches!(route("/api/rooms/Lobby/ws"), Route::BadRoom(_)));
        assert!(matches!(route("/api/rooms//ws"), Route::BadRoom(_)));
        assert!(matches!(route("/api/rooms/a%20b/ws"), Route::BadRoom(_)));
        assert!(matches!(
            route(&format!("/api/rooms/{}/ws", "r".repeat(65))),
            Route::BadRoom(_)
        ));
        assert_eq!(route("/api/rooms/lobby/other"), Route::ApiNotFound);
        assert_eq!(route("/api/rooms/lobby"), Route::ApiNotFound);
        assert_eq!(route("/api/nope"), Route::ApiNotFound);
        assert_eq!(route("/"), Route::Other);
        assert_eq!(route("/r/lobby"), Route::Other);
    }

    #[test]
    fn messages_queries() {
        assert_eq!(
            messages_query(None),
            Ok(MessagesQuery {
                before: i64::MAX,
                limit: 50
            })
        );
        assert_eq!(
            messages_query(Some("before=123&limit=100")),
            Ok(MessagesQuery {
                before: 123,
                limit: 100
            })
        );
        for bad in ["limit=0", "limit=101", "limit=x", "before=abc", "before="] {
            assert!(messages_query(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert!(origin_allowed(None, "chat.example.com", ""));
        assert!(origin_allowed(
            Some("https://chat.example.com"),
            "chat.example.com",
            ""
        ));
        assert!(origin_allowed(
            Some("http://127.0.0.1:8787"),
            "127.0.0.1:8787",
            ""
        ));
        assert!(!origin_allowed(
            Some("https://evil.example"),
            "chat.example.com",
            ""
        ));
        assert!(!origin_allowed(
            Some("http://127.0.0.1:9999"),
            "127.0.0.1:8787",
            ""
        ));
        assert!(origin_allowed(
            Some("https://app.example.org"),
            "chat.example.com",
            "https://other.example, https://app.example.org"
        ));
        assert!(origin_allowed(Some("https://anything.example"), "h", "*"));
        assert!(!origin_allowed(Some("null"), "chat.example.com", ""));
    }
}
