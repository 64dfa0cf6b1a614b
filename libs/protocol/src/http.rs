//! The HTTP surface around the frames: which path is which route, the query of the messages
//! endpoint, and the Origin check of the WebSocket upgrade. Pure functions, so the Worker's
//! routing is tested natively.

use crate::validate::validate_room;
use crate::{HISTORY_MAX_LIMIT, Invalid, WELCOME_MESSAGES};
use std::net::{IpAddr, Ipv6Addr};

/// What a request path asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET /api/health`: liveness, answered from the isolate alone (the configuration is
    /// valid), so that it costs no store command whoever calls it.
    Health,
    /// `GET /api/health/store`: whether the store answers, checked at most once per isolate per
    /// few seconds and rate-limited per address, since each check is a billed command.
    StoreHealth,
    /// `GET /api/rooms/{room}/ws`.
    RoomSocket(&'a str),
    /// `GET /api/rooms/{room}/messages`.
    RoomMessages(&'a str),
    /// `GET /api/rooms/{room}/health`: the room's log and its mirror to Redis (how far behind
    /// Redis is), answered by the room's Durable Object.
    RoomHealth(&'a str),
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
    match api {
        "health" => return Route::Health,
        "health/store" => return Route::StoreHealth,
        _ => {}
    }
    let Some(rest) = api.strip_prefix("rooms/") else {
        return Route::ApiNotFound;
    };
    let Some((room, action)) = rest.split_once('/') else {
        return Route::ApiNotFound;
    };
    if !matches!(action, "ws" | "messages" | "health") {
        return Route::ApiNotFound;
    }
    match validate_room(room) {
        Err(invalid) => Route::BadRoom(invalid),
        Ok(room) if action == "ws" => Route::RoomSocket(room),
        Ok(room) if action == "messages" => Route::RoomMessages(room),
        Ok(room) => Route::RoomHealth(room),
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

/// The key under which per-address limits count a client, from its `CF-Connecting-IP` header:
/// an IPv4 address whole, an IPv6 address by its /64 (written `2001:db8:1:2::/64`), since one
/// home line or server is handed a whole /64 and could otherwise rotate through it to dodge
/// every limit. An IPv4-mapped IPv6 address (`::ffff:198.51.100.7`) is that IPv4 address. A
/// missing header, or one that is not an address, is [`UNKNOWN_ADDRESS`]: all such clients share
/// one key, so leaving the header out (or filling it with junk) cannot switch a limit off or mint
/// fresh keys. Cloudflare always sets the header, so in production only local tools lack it.
pub fn address_key(header: Option<&str>) -> String {
    let Some(ip) = header.and_then(|h| h.trim().parse::<IpAddr>().ok()) else {
        return UNKNOWN_ADDRESS.to_owned();
    };
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let prefix = Ipv6Addr::from(v6.to_bits() & !u128::from(u64::MAX));
                format!("{prefix}/64")
            }
        },
    }
}

/// The one key every client without a readable address shares (see [`address_key`]).
pub const UNKNOWN_ADDRESS: &str = "unknown";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("/api/health"), Route::Health);
        assert_eq!(route("/api/health/store"), Route::StoreHealth);
        assert_eq!(route("/api/health/"), Route::ApiNotFound);
        assert_eq!(route("/api/health/store/x"), Route::ApiNotFound);
        assert_eq!(route("/api/rooms/lobby/ws"), Route::RoomSocket("lobby"));
        assert_eq!(
            route("/api/rooms/a_b-1/messages"),
            Route::RoomMessages("a_b-1")
        );
        assert_eq!(route("/api/rooms/lobby/health"), Route::RoomHealth("lobby"));
        assert!(matches!(route("/api/rooms/Lobby/ws"), Route::BadRoom(_)));
        assert!(matches!(
            route("/api/rooms/Lobby/health"),
            Route::BadRoom(_)
        ));
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

    #[test]
    fn address_keys() {
        let check = |header: Option<&str>, expected: &str| {
            assert_eq!(address_key(header), expected, "{header:?}");
        };
        // IPv4 addresses are whole.
        check(Some("198.51.100.7"), "198.51.100.7");
        check(Some(" 198.51.100.7 "), "198.51.100.7");
        check(Some("198.51.100.8"), "198.51.100.8");
        // IPv6 addresses count by their /64, however they are written.
        check(Some("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        check(
            Some("2001:db8:1:2:ffff:ffff:ffff:fffe"),
            "2001:db8:1:2::/64",
        );
        check(
            Some("2001:0DB8:0001:0002:0000:0000:0000:0003"),
            "2001:db8:1:2::/64",
        );
        check(Some("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        check(Some("2001:db8::"), "2001:db8::/64");
        check(Some("::1"), "::/64");
        check(Some("fe80::1:2:3:4"), "fe80::/64");
        // An IPv4-mapped address is the IPv4 address it carries.
        check(Some("::ffff:198.51.100.7"), "198.51.100.7");
        check(Some("::ffff:c633:6407"), "198.51.100.7");
        // Anything else is the one shared unknown address.
        for junk in [
            None,
            Some(""),
            Some("unknown"),
            Some("not an address"),
            Some("198.51.100.7:443"),
            Some("[2001:db8::1]"),
            Some("fe80::1%eth0"),
            Some("2001:db8::/64"),
            Some("198.51.100.7, 203.0.113.9"),
            Some("256.1.1.1"),
        ] {
            check(junk, UNKNOWN_ADDRESS);
        }
    }
}
