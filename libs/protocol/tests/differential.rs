//! The client's hand-written JSON reader (`protocol::json`) and frame decoder
//! (`ServerFrame::decode`) against serde_json and serde's derives, on arbitrary text, on
//! mutated JSON and on a corpus of edge cases. They must agree on accepting or refusing, and on
//! the value when both accept, except where this file says why they may not:
//!
//! - **Duplicate keys.** Both accept `{"a":1,"a":2}`; serde_json's `Value` keeps the last, the
//!   client's reader keeps both and its `get` reads the first. No server writes duplicates
//!   (serde's serializer cannot), so the reader does not pay to refuse them. Values with
//!   duplicate keys are compared on accepting only.
//! - **Nesting.** The client refuses more than `MAX_DEPTH` (32) levels, serde_json more than
//!   128; a frame nests four.
//! - **Numbers beyond `f64`.** serde_json refuses `1e400`; the client reads it as
//!   `Json::OtherNumber`, which no field accepts (it only has to step over numbers it does not
//!   know in members it does not know).

use proptest::prelude::*;
use protocol::json::{Json, MAX_DEPTH};
use protocol::{ServerFrame, TypingNotice};
use serde_json::Value;

/// A value as both sides can be compared: integers that fit `i64` are exact, every other number
/// is just "a number", objects are read as serde_json reads them (the last of duplicate keys).
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Null,
    Bool(bool),
    Int(i64),
    OtherNumber,
    Str(String),
    Array(Vec<Seen>),
    Object(Vec<(String, Seen)>),
}

fn ours(json: &Json) -> Seen {
    match json {
        Json::Null => Seen::Null,
        Json::Bool(b) => Seen::Bool(*b),
        Json::Int(n) => Seen::Int(*n),
        Json::OtherNumber => Seen::OtherNumber,
        Json::Str(s) => Seen::Str(s.clone()),
        Json::Array(items) => Seen::Array(items.iter().map(ours).collect()),
        Json::Object(members) => {
            let mut seen: Vec<(String, Seen)> = Vec::new();
            for (key, value) in members {
                seen.retain(|(k, _)| k != key);
                seen.push((key.clone(), ours(value)));
            }
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            Seen::Object(seen)
        }
    }
}

fn theirs(value: &Value) -> Seen {
    match value {
        Value::Null => Seen::Null,
        Value::Bool(b) => Seen::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.is_f64()) {
            (Some(n), false) => Seen::Int(n),
            _ => Seen::OtherNumber,
        },
        Value::String(s) => Seen::Str(s.clone()),
        Value::Array(items) => Seen::Array(items.iter().map(theirs).collect()),
        Value::Object(members) => {
            let mut seen: Vec<(String, Seen)> = members
                .iter()
                .map(|(k, v)| (k.clone(), theirs(v)))
                .collect();
            seen.sort_by(|a, b| a.0.cmp(&b.0));
            Seen::Object(seen)
        }
    }
}

fn has_duplicate_keys(json: &Json) -> bool {
    match json {
        Json::Array(items) => items.iter().any(has_duplicate_keys),
        Json::Object(members) => {
            members
                .iter()
                .enumerate()
                .any(|(i, (key, _))| members[..i].iter().any(|(k, _)| k == key))
                || members.iter().any(|(_, v)| has_duplicate_keys(v))
        }
        _ => false,
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(members) => 1 + members.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether `text` spells a number outside `f64`'s range outside a string (a scan of number
/// tokens; a string that spells one too only makes the check lenient, never wrong).
fn has_number_beyond_f64(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'-' || bytes[at].is_ascii_digit() {
            let start = at;
            at += 1;
            while at < bytes.len()
                && matches!(bytes[at], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')
            {
                at += 1;
            }
            if text
                .get(start..at)
                .and_then(|token| token.parse::<f64>().ok())
                .is_some_and(f64::is_infinite)
            {
                return true;
            }
        } else {
            at += 1;
        }
    }
    false
}

/// Fails unless both readers agree on `text`, or disagree for a reason the module names.
fn agree(text: &str) -> Result<(), String> {
    let mine = Json::parse(text);
    let serde = serde_json::from_str::<Value>(text);
    match (&mine, &serde) {
        (Ok(mine), Ok(serde)) => {
            if has_duplicate_keys(mine) || ours(mine) == theirs(serde) {
                Ok(())
            } else {
                Err(format!("{text:?}: ours {mine:?}, serde {serde:?}"))
            }
        }
        (Err(_), Err(_)) => Ok(()),
        (Err(_), Ok(value)) if depth(value) > MAX_DEPTH => Ok(()),
        (Ok(_), Err(_)) if has_number_beyond_f64(text) => Ok(()),
        _ => Err(format!(
            "{text:?}: ours {}, serde {}",
            mine.as_ref().map_or("refuses", |_| "accepts"),
            serde.as_ref().map_or("refuses", |_| "accepts"),
        )),
    }
}

fn nested(open: &str, close: &str, levels: usize) -> String {
    format!("{}1{}", open.repeat(levels), close.repeat(levels))
}

#[test]
fn the_edge_cases_agree() {
    let mut corpus: Vec<String> = [
        "-0",
        "0",
        "-1",
        "01",
        "1.",
        ".5",
        "+1",
        "1e2",
        "1E-2",
        "-0.0",
        "1e400",
        "-1e400",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "tru",
        "nul",
        "true ",
        " null",
        "1 2",
        "[1,]",
        "[,1]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1,\"a\":2}",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud83d\\ude00\"",
        "\"\\ud83d\\u0041\"",
        "\"\\u00e9\"",
        "\"\\uD83D\\uDE00\"",
        "\"\\x41\"",
        "\"\t\"",
        "\"\u{7f}\"",
        "\"é🙂\"",
        "\u{feff}1",
        "",
        " ",
        "[]",
        "{}",
        "[[]]",
        "{\"\":null}",
        "\"\\/\"",
        "[1]x",
        "{\"a\":[1,{\"b\":\"c\"}]}",
    ]
    .map(str::to_owned)
    .to_vec();
    for levels in [MAX_DEPTH, MAX_DEPTH + 1, 128, 129] {
        corpus.push(nested("[", "]", levels));
        corpus.push(nested("{\"a\":", "}", levels));
    }
    let failures: Vec<String> = corpus.iter().filter_map(|t| agree(t).err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    // The documented differences are what they say.
    assert!(Json::parse(&nested("[", "]", MAX_DEPTH + 1)).is_err());
    assert!(serde_json::from_str::<Value>(&nested("[", "]", MAX_DEPTH + 1)).is_ok());
    assert_eq!(Json::parse("1e400"), Ok(Json::OtherNumber));
    assert!(serde_json::from_str::<Value>("1e400").is_err());
    let duplicates = Json::parse("{\"a\":1,\"a\":2}").map(|j| j.get("a").cloned());
    assert_eq!(duplicates, Ok(Some(Json::Int(1))));
}

/// JSON text of values up to some depth, with the keys, numbers and strings that matter.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
        Just("\"\\ud83d\\ude00\"".to_owned()),
    ];
    leaf.prop_recursive(6, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(","))),
            prop::collection::vec(("[a-c]{0,2}", inner), 0..5).prop_map(|members| {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("\"{k}\":{v}"))
                    .collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// What goes wrong with JSON in transit or in hostile hands.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(usize),
    Duplicate(usize, usize),
    Insert(usize, &'static str),
    Append(&'static str),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let bits = prop::sample::select(vec![
        "\"", "\\", ",", ":", "{", "}", "[", "]", "-", "0", "e", " ", "\u{0}", "\\ud800",
        "\\udc00", "\\u12", "1e400", "tru", "é", "\u{7f}", "x",
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
        (any::<usize>(), bits.clone()).prop_map(|(at, bit)| Mutation::Insert(at, bit)),
        bits.prop_map(Mutation::Append),
    ]
}

/// `text` mutated, cutting only at character boundaries (the input of both is a `str`).
fn mutate(text: &str, mutation: &Mutation) -> String {
    let boundary = |at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    match mutation {
        Mutation::Truncate(at) => text[..boundary(*at)].to_owned(),
        Mutation::Duplicate(a, b) => {
            let (a, b) = (boundary(*a), boundary(*b));
            let (from, to) = (a.min(b), a.max(b));
            format!("{}{}", &text[..to], &text[from..])
        }
        Mutation::Insert(at, bit) => {
            let at = boundary(*at);
            format!("{}{bit}{}", &text[..at], &text[at..])
        }
        Mutation::Append(bit) => format!("{text}{bit}"),
    }
}

/// Frames as the Worker writes them, to mutate.
fn frames() -> Vec<String> {
    let message = protocol::Message {
        seq: 7,
        client_id: "c1234567".into(),
        user_id: "u1234567".into(),
        name: "alice".into(),
        text: "hi \"there\"\n🙂".into(),
        ts: 1_732_700_000_123,
        ..Default::default()
    };
    [
        ServerFrame::Message {
            message: message.clone(),
        },
        ServerFrame::Messages {
            messages: vec![message.clone(), message],
        },
        ServerFrame::TypingBatch {
            notices: vec![TypingNotice {
                user_id: "u1".into(),
                name: "bob".into(),
                active: true,
            }],
        },
        ServerFrame::Left {
            user_id: "u1".into(),
        },
        ServerFrame::error(protocol::ErrorCode::RateLimited, "slow down"),
    ]
    .iter()
    .map(ServerFrame::to_json)
    .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_read_alike(text in any::<String>()) {
        prop_assert_eq!(agree(&text), Ok(()));
    }

    #[test]
    fn mutated_json_is_read_alike(text in json_text(), mutations in prop::collection::vec(mutation(), 0..3)) {
        let text = mutations.iter().fold(text, |text, m| mutate(&text, m));
        prop_assert_eq!(agree(&text), Ok(()));
    }

    /// The client's frame decoder and serde's derives accept the same mutated frames and read
    /// the same frame from them (a frame with duplicate keys is compared on accepting only).
    #[test]
    fn mutated_frames_decode_alike(
        which in 0..5usize,
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let text = mutations.iter().fold(frames()[which].clone(), |text, m| mutate(&text, m));
        let mine = ServerFrame::decode(&text).ok();
        let serde = serde_json::from_str::<ServerFrame>(&text).ok();
        let duplicates = Json::parse(&text).is_ok_and(|json| has_duplicate_keys(&json));
        let beyond = has_number_beyond_f64(&text);
        match (&mine, &serde) {
            (Some(mine), Some(serde)) if !duplicates => prop_assert_eq!(mine, serde),
            (Some(_), Some(_)) | (None, None) => {}
            (Some(_), None) if beyond || duplicates => {}
            (None, Some(_)) if duplicates => {}
            _ => prop_assert!(false, "{text:?}: ours {mine:?}, serde {serde:?}"),
        }
    }
}
