//! Golden JSON for every frame of protocol v1. A failure here means the wire format changed:
//! that is a compatibility decision (old clients in the field), not a test to update casually.

use pretty_assertions::assert_eq;
use protocol::{
    ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Member, Message, ServerFrame, TypingNotice,
    Welcome,
};

fn message(seq: i64) -> Message {
    Message {
        seq,
        client_id: "c1234567".into(),
        user_id: "u1234567".into(),
        name: "alice".into(),
        text: "hi <b>\"there\"</b>\n🙂".into(),
        ts: 1732700000123,
    }
}

fn alice() -> Member {
    Member {
        user_id: "u1234567".into(),
        name: "alice".into(),
    }
}

/// Serializes `frame` and checks the exact JSON, then parses the JSON back.
fn check_client(frame: ClientFrame, json: &str) {
    assert_eq!(frame.to_json(), json);
    assert_eq!(ClientFrame::parse(json), Ok(frame));
}

fn check_server(frame: ServerFrame, json: &str) {
    assert_eq!(frame.to_json(), json);
    assert_eq!(serde_json::from_str::<ServerFrame>(json).ok(), Some(frame));
}

#[test]
fn client_frames() {
    check_client(
        ClientFrame::Hello {
            name: "alice".into(),
            secret: "s123456789012345678901".into(),
            since: Some(1732700000123),
        },
        r#"{"type":"hello","name":"alice","secret":"s123456789012345678901","since":1732700000123}"#,
    );
    check_client(
        ClientFrame::Hello {
            name: "alice".into(),
            secret: "s123456789012345678901".into(),
            since: None,
        },
        r#"{"type":"hello","name":"alice","secret":"s123456789012345678901"}"#,
    );
    check_client(
        ClientFrame::Send {
            client_id: "c1234567".into(),
            text: "hi".into(),
        },
        r#"{"type":"send","client_id":"c1234567","text":"hi"}"#,
    );
    check_client(
        ClientFrame::Typing { active: true },
        r#"{"type":"typing","active":true}"#,
    );
    check_client(
        ClientFrame::History {
            before: 1732700000123,
            limit: 50,
        },
        r#"{"type":"history","before":1732700000123,"limit":50}"#,
    );
}

#[test]
fn hello_since_may_be_null() {
    assert_eq!(
        ClientFrame::parse(r#"{"type":"hello","name":"a","secret":"s1234567","since":null}"#),
        Ok(ClientFrame::Hello {
            name: "a".into(),
            secret: "s1234567".into(),
            since: None
        })
    );
}

#[test]
fn malformed_client_frames_are_errors() {
    for bad in [
        "",
        "ping",
        "{}",
        r#"{"type":"shout","text":"x"}"#,
        r#"{"type":"send","text":"x"}"#,
        r#"{"type":"send","client_id":5,"text":"x"}"#,
        r#"{"type":"typing","active":"yes"}"#,
        r#"{"type":"history","before":1,"limit":-1}"#,
        r#"{"type":"send","client_id":"c1234567","text":"x","extra":1}"#,
        // Protocol v1 before identities were derived: a client may not name its own user_id.
        r#"{"type":"hello","name":"a","user_id":"u1234567"}"#,
        r#"{"type":"hello","name":"a","secret":"s123456789012345678901","user_id":"u1234567"}"#,
        r#"["send"]"#,
    ] {
        assert!(ClientFrame::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn server_frames() {
    check_server(
        ServerFrame::Welcome(Welcome {
            you: alice(),
            online: vec![alice()],
            messages: vec![message(1)],
            has_more: true,
            reset: true,
        }),
        concat!(
            r#"{"type":"welcome","you":{"user_id":"u1234567","name":"alice"},"#,
            r#""online":[{"user_id":"u1234567","name":"alice"}],"#,
            r#""messages":[{"seq":1,"client_id":"c1234567","user_id":"u1234567","name":"alice","#,
            r#""text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}],"has_more":true,"reset":true}"#
        ),
    );
    check_server(
        ServerFrame::Message {
            message: message(7),
        },
        concat!(
            r#"{"type":"message","message":{"seq":7,"client_id":"c1234567","user_id":"u1234567","#,
            r#""name":"alice","text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}}"#
        ),
    );
    check_server(
        ServerFrame::Messages {
            messages: vec![message(7), message(8)],
        },
        concat!(
            r#"{"type":"messages","messages":[{"seq":7,"client_id":"c1234567","user_id":"u1234567","#,
            r#""name":"alice","text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123},"#,
            r#"{"seq":8,"client_id":"c1234567","user_id":"u1234567","#,
            r#""name":"alice","text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}]}"#
        ),
    );
    check_server(
        ServerFrame::History(HistoryPage {
            messages: vec![],
            has_more: false,
        }),
        r#"{"type":"history","messages":[],"has_more":false}"#,
    );
    check_server(
        ServerFrame::Typing {
            user_id: "u1234567".into(),
            name: "alice".into(),
            active: false,
        },
        r#"{"type":"typing","user_id":"u1234567","name":"alice","active":false}"#,
    );
    check_server(
        ServerFrame::TypingBatch {
            notices: vec![TypingNotice {
                user_id: "u1234567".into(),
                name: "alice".into(),
                active: true,
            }],
        },
        r#"{"type":"typing_batch","notices":[{"user_id":"u1234567","name":"alice","active":true}]}"#,
    );
    check_server(
        ServerFrame::Joined { member: alice() },
        r#"{"type":"joined","member":{"user_id":"u1234567","name":"alice"}}"#,
    );
    check_server(
        ServerFrame::Left {
            user_id: "u1234567".into(),
        },
        r#"{"type":"left","user_id":"u1234567"}"#,
    );
    check_server(
        ServerFrame::Error(ErrorFrame {
            code: ErrorCode::StoreUnavailable,
            message: "the message store is unavailable".into(),
            client_id: Some("c1234567".into()),
            retry_after_ms: Some(1000),
        }),
        concat!(
            r#"{"type":"error","code":"store_unavailable","message":"the message store is unavailable","#,
            r#""client_id":"c1234567","retry_after_ms":1000}"#
        ),
    );
    check_server(
        ServerFrame::error(ErrorCode::NotJoined, "send hello first"),
        r#"{"type":"error","code":"not_joined","message":"send hello first"}"#,
    );
}

#[test]
fn error_codes() {
    for (code, json) in [
        (ErrorCode::BadRequest, "\"bad_request\""),
        (ErrorCode::NotJoined, "\"not_joined\""),
        (ErrorCode::InvalidName, "\"invalid_name\""),
        (ErrorCode::InvalidText, "\"invalid_text\""),
        (ErrorCode::RateLimited, "\"rate_limited\""),
        (ErrorCode::StoreUnavailable, "\"store_unavailable\""),
        (ErrorCode::StoreRefused, "\"store_refused\""),
        (ErrorCode::RoomFull, "\"room_full\""),
    ] {
        assert_eq!(serde_json::to_string(&code).ok().as_deref(), Some(json));
    }
}

#[test]
fn stored_message_json_is_the_message_object() {
    assert_eq!(
        message(3).to_json(),
        r#"{"seq":3,"client_id":"c1234567","user_id":"u1234567","name":"alice","text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}"#
    );
}
