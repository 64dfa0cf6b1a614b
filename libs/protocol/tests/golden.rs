//! Golden JSON for every frame of the protocol, as of version 3. A failure here means the wire format changed:
//! that is a compatibility decision (old clients in the field), not a test to update casually.

use pretty_assertions::assert_eq;
use protocol::{
    ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Member, Message, Quote, Reaction, ServerFrame,
    TypingNotice, Welcome,
};

fn message(seq: i64) -> Message {
    Message {
        seq,
        client_id: "c1234567".into(),
        user_id: "u1234567".into(),
        name: "alice".into(),
        text: "hi <b>\"there\"</b>\n🙂".into(),
        ts: 1732700000123,
        ..Default::default()
    }
}

fn alice() -> Member {
    Member {
        user_id: "u1234567".into(),
        name: "alice".into(),
    }
}

/// Checks the exact JSON of `frame` from both encoders (the client's hand-written one and
/// serde's), then parses the JSON back as the Worker does.
fn check_client(frame: ClientFrame, json: &str) {
    assert_eq!(frame.to_json(), json);
    assert_eq!(serde_json::to_string(&frame).ok().as_deref(), Some(json));
    assert_eq!(ClientFrame::parse(json), Ok(frame));
}

/// Checks the exact JSON the Worker writes for `frame`, then decodes it with both decoders
/// (serde's and the client's hand-written one).
fn check_server(frame: ServerFrame, json: &str) {
    assert_eq!(frame.to_json(), json);
    assert_eq!(
        serde_json::from_str::<ServerFrame>(json).ok(),
        Some(frame.clone())
    );
    assert_eq!(ServerFrame::decode(json), Ok(frame));
}

#[test]
fn client_frames() {
    check_client(
        ClientFrame::Hello {
            protocol: 2,
            name: "alice".into(),
            secret: "s123456789012345678901".into(),
            since: Some(1732700000123),
        },
        r#"{"type":"hello","protocol":2,"name":"alice","secret":"s123456789012345678901","since":1732700000123}"#,
    );
    check_client(
        ClientFrame::Hello {
            protocol: 2,
            name: "alice".into(),
            secret: "s123456789012345678901".into(),
            since: None,
        },
        r#"{"type":"hello","protocol":2,"name":"alice","secret":"s123456789012345678901"}"#,
    );
    check_client(
        ClientFrame::Send {
            client_id: "c1234567".into(),
            text: "hi".into(),
            reply_to: None,
        },
        r#"{"type":"send","client_id":"c1234567","text":"hi"}"#,
    );
    check_client(
        ClientFrame::Send {
            client_id: "c1234567".into(),
            text: "hi".into(),
            reply_to: Some(1732700000123),
        },
        r#"{"type":"send","client_id":"c1234567","text":"hi","reply_to":1732700000123}"#,
    );
    check_client(
        ClientFrame::Edit {
            client_id: "c7654321".into(),
            seq: 1732700000123,
            text: "hello".into(),
        },
        r#"{"type":"edit","client_id":"c7654321","seq":1732700000123,"text":"hello"}"#,
    );
    check_client(
        ClientFrame::Delete {
            client_id: "c7654321".into(),
            seq: 1732700000123,
        },
        r#"{"type":"delete","client_id":"c7654321","seq":1732700000123}"#,
    );
    check_client(
        ClientFrame::React {
            client_id: "c7654321".into(),
            seq: 1732700000123,
            emoji: "👍".into(),
            on: false,
        },
        r#"{"type":"react","client_id":"c7654321","seq":1732700000123,"emoji":"👍","on":false}"#,
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
        ClientFrame::parse(
            r#"{"type":"hello","protocol":2,"name":"a","secret":"s1234567","since":null}"#
        ),
        Ok(ClientFrame::Hello {
            protocol: 2,
            name: "a".into(),
            secret: "s1234567".into(),
            since: None
        })
    );
}

/// Pages opened before the hello named its version still speak protocol 1, and are served.
#[test]
fn a_hello_without_a_version_is_protocol_1() {
    assert_eq!(
        ClientFrame::parse(r#"{"type":"hello","name":"a","secret":"s123456789012345678901"}"#),
        Ok(ClientFrame::Hello {
            protocol: 1,
            name: "a".into(),
            secret: "s123456789012345678901".into(),
            since: None
        })
    );
    assert_eq!(protocol::OLDEST_PROTOCOL, 1);
    assert_eq!(protocol::PROTOCOL_VERSION, 3);
}

/// Which unreadable texts are hellos of another protocol version, and the version they name.
#[test]
fn unreadable_hellos_are_told_apart_from_other_bad_frames() {
    for (text, expected) in [
        // The hello before identities were derived (a user id, no secret, no version).
        (
            r#"{"type":"hello","name":"a","user_id":"u1234567"}"#,
            Some(None),
        ),
        // A future hello with a member this version does not know.
        (
            r#"{"type":"hello","protocol":4,"name":"a","secret":"s123456789012345678901","avatar":"x"}"#,
            Some(Some(4)),
        ),
        // A hello of this version missing its secret: a bad frame, and the room says so.
        (r#"{"type":"hello","protocol":2,"name":"a"}"#, Some(Some(2))),
        (
            r#"{"type":"hello","protocol":"two","name":"a"}"#,
            Some(None),
        ),
        // Readable hellos, other frames and junk are not.
        (
            r#"{"type":"hello","protocol":9,"name":"a","secret":"s123456789012345678901"}"#,
            None,
        ),
        (r#"{"type":"send","text":"x"}"#, None),
        ("{not json", None),
        (r#"["hello"]"#, None),
    ] {
        assert_eq!(ClientFrame::unreadable_hello(text), expected, "{text}");
    }
}

/// The secret is the user's identity: logs and panics that print a frame never show it.
#[test]
fn debug_output_never_shows_the_secret() {
    let hello = ClientFrame::Hello {
        protocol: 2,
        name: "alice".into(),
        secret: "s123456789012345678901".into(),
        since: None,
    };
    let printed = format!("{hello:?} {hello:#?}");
    assert!(!printed.contains("s123456789012345678901"), "{printed}");
    assert!(printed.contains("alice"), "{printed}");
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
        r#"{"type":"send","client_id":"c1234567","text":"x","reply_to":"7"}"#,
        r#"{"type":"edit","client_id":"c1234567","text":"x"}"#,
        r#"{"type":"delete","client_id":"c1234567","seq":1.5}"#,
        r#"{"type":"react","client_id":"c1234567","seq":1,"emoji":"👍"}"#,
        // Protocol v1 before identities were derived: a client may not name its own user_id.
        r#"{"type":"hello","name":"a","user_id":"u1234567"}"#,
        r#"{"type":"hello","name":"a","secret":"s123456789012345678901","user_id":"u1234567"}"#,
        r#"{"type":"hello","protocol":-1,"name":"a","secret":"s123456789012345678901"}"#,
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
            rev: Some(1732700000456),
            dedupe_window_ms: Some(7_200_000),
        }),
        concat!(
            r#"{"type":"welcome","you":{"user_id":"u1234567","name":"alice"},"#,
            r#""online":[{"user_id":"u1234567","name":"alice"}],"#,
            r#""messages":[{"seq":1,"client_id":"c1234567","user_id":"u1234567","name":"alice","#,
            r#""text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}],"has_more":true,"reset":true,"#,
            r#""rev":1732700000456,"dedupe_window_ms":7200000}"#
        ),
    );
    // A server older than the window says nothing of it.
    check_server(
        ServerFrame::Welcome(Welcome {
            you: alice(),
            online: Vec::new(),
            messages: Vec::new(),
            has_more: false,
            reset: true,
            rev: None,
            dedupe_window_ms: None,
        }),
        concat!(
            r#"{"type":"welcome","you":{"user_id":"u1234567","name":"alice"},"#,
            r#""online":[],"messages":[],"has_more":false,"reset":true}"#
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
        ServerFrame::Updated {
            messages: vec![changed()],
        },
        concat!(
            r#"{"type":"updated","messages":[{"seq":7,"client_id":"c1234567","user_id":"u1234567","#,
            r#""name":"alice","text":"hello","ts":1732700000123,"rev":1732700000999,"#,
            r#""edited_ts":1732700000990,"reactions":[{"emoji":"👍","user_ids":["u7654321"]}],"#,
            r#""reply":{"seq":5,"user_id":"u7654321","name":"bob","text":"","deleted":true}}]}"#
        ),
    );
    check_server(
        ServerFrame::Applied {
            client_id: "c7654321".into(),
            seq: 1732700000123,
        },
        r#"{"type":"applied","client_id":"c7654321","seq":1732700000123}"#,
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
    // Frozen for good: every client from protocol 2 on must read it, whatever else changes.
    check_server(
        ServerFrame::UnsupportedProtocol {
            oldest: 2,
            newest: 3,
            message: "this page is out of date; reload it".into(),
        },
        r#"{"type":"unsupported_protocol","oldest":2,"newest":3,"message":"this page is out of date; reload it"}"#,
    );
}

/// The body of `GET /api/rooms/{room}/messages`, which the web client reads for unread counts.
#[test]
fn http_history_page() {
    let page = HistoryPage {
        messages: vec![message(7)],
        has_more: true,
    };
    let json = concat!(
        r#"{"messages":[{"seq":7,"client_id":"c1234567","user_id":"u1234567","name":"alice","#,
        r#""text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}],"has_more":true}"#
    );
    assert_eq!(serde_json::to_string(&page).ok().as_deref(), Some(json));
    assert_eq!(HistoryPage::decode(json), Ok(page));
    assert!(HistoryPage::decode(r#"{"messages":[]}"#).is_err());
    assert!(HistoryPage::decode(r#"{"error":"too many history requests"}"#).is_err());
}

#[test]
fn error_codes() {
    let golden = [
        (ErrorCode::BadRequest, "\"bad_request\""),
        (ErrorCode::NotJoined, "\"not_joined\""),
        (ErrorCode::InvalidName, "\"invalid_name\""),
        (ErrorCode::InvalidText, "\"invalid_text\""),
        (ErrorCode::RateLimited, "\"rate_limited\""),
        (ErrorCode::StoreUnavailable, "\"store_unavailable\""),
        (ErrorCode::StoreRefused, "\"store_refused\""),
        (ErrorCode::RoomFull, "\"room_full\""),
        (ErrorCode::NotAllowed, "\"not_allowed\""),
        (ErrorCode::NotFound, "\"not_found\""),
        (ErrorCode::BadReaction, "\"bad_reaction\""),
    ];
    for (code, json) in golden {
        assert_eq!(serde_json::to_string(&code).ok().as_deref(), Some(json));
        assert_eq!(format!("\"{}\"", code.as_str()), json);
    }
    // A code added to the wire (and so to this list) must reach the client's decoder too.
    assert_eq!(golden.map(|(code, _)| code), ErrorCode::ALL);
}

/// A message after an edit, with a reaction, answering a message that was deleted since.
fn changed() -> Message {
    Message {
        text: "hello".into(),
        rev: Some(1732700000999),
        edited_ts: Some(1732700000990),
        reactions: vec![Reaction {
            emoji: "👍".into(),
            user_ids: vec!["u7654321".into()],
        }],
        reply: Some(Quote {
            seq: 5,
            user_id: "u7654321".into(),
            name: "bob".into(),
            text: String::new(),
            deleted: true,
        }),
        ..message(7)
    }
}

#[test]
fn stored_message_json_is_the_message_object() {
    assert_eq!(
        message(3).to_json(),
        r#"{"seq":3,"client_id":"c1234567","user_id":"u1234567","name":"alice","text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123}"#
    );
    let deleted = Message {
        text: String::new(),
        deleted: true,
        rev: Some(9),
        ..message(3)
    };
    assert_eq!(
        deleted.to_json(),
        r#"{"seq":3,"client_id":"c1234567","user_id":"u1234567","name":"alice","text":"","ts":1732700000123,"rev":9,"deleted":true}"#
    );
}

/// A message nobody changed reads as it always did, and its revision is its `seq`.
#[test]
fn the_new_members_are_absent_until_used() {
    let json = r#"{"seq":3,"client_id":"c","user_id":"u","name":"a","text":"t","ts":1}"#;
    let read: Message = serde_json::from_str(json).unwrap_or_default();
    assert_eq!(read.rev(), 3);
    assert_eq!(read.to_json(), json);
    assert_eq!(changed().rev(), 1732700000999);
}

/// A client of protocol 2 meets the frames of 3: it ignores what it does not know. Its decoder
/// is this one minus the new frames and members, so an unknown type is an error it skips and
/// new members of a message are members it never reads.
#[test]
fn older_clients_skip_the_new_frames() {
    assert_eq!(
        ServerFrame::decode(r#"{"type":"reacted","seq":1}"#),
        Err(protocol::DecodeError::Shape("unknown type"))
    );
    let with_more = r#"{"type":"message","message":{"seq":7,"client_id":"c1234567","user_id":"u1234567","name":"alice","text":"hi <b>\"there\"</b>\n🙂","ts":1732700000123,"pinned":true,"thread":{"n":1}}}"#;
    assert_eq!(
        ServerFrame::decode(with_more),
        Ok(ServerFrame::Message {
            message: message(7)
        })
    );
}

#[test]
fn the_client_ignores_members_it_does_not_know_and_reads_any_spacing() {
    let json = concat!(
        "{ \"type\" : \"message\", \"future\": {\"x\": [1.5, -2e3, null]},\n",
        "  \"message\": {\"seq\": 4, \"client_id\": \"c1234567\", \"user_id\": \"u1234567\",",
        " \"name\": \"alice\", \"text\": \"hi <b>\\\"there\\\"</b>\\n\\ud83d\\ude42\",",
        " \"ts\": 1732700000123, \"edited\": false } }"
    );
    assert_eq!(
        ServerFrame::decode(json),
        Ok(ServerFrame::Message {
            message: message(4)
        })
    );
    // `null` and absent optional members both mean none, as with serde.
    assert_eq!(
        ServerFrame::decode(
            r#"{"type":"error","code":"rate_limited","message":"slow","client_id":null,"retry_after_ms":null}"#
        ),
        Ok(ServerFrame::error(ErrorCode::RateLimited, "slow"))
    );
}

#[test]
fn the_client_refuses_what_is_not_a_known_frame() {
    for bad in [
        "",
        "pong",
        "{}",
        "[]",
        r#"{"type":"shout"}"#,
        r#"{"type":5}"#,
        r#"{"type":"left"}"#,
        r#"{"type":"left","user_id":7}"#,
        r#"{"type":"typing","user_id":"u1234567","name":"a","active":"yes"}"#,
        r#"{"type":"messages","messages":[{"seq":1.5}]}"#,
        r#"{"type":"history","messages":[]}"#,
        r#"{"type":"error","code":"teapot","message":"x"}"#,
        r#"{"type":"error","code":"rate_limited","message":"x","retry_after_ms":-1}"#,
        r#"{"type":"joined","member":{"user_id":"u1234567"}}"#,
    ] {
        assert!(ServerFrame::decode(bad).is_err(), "{bad}");
        // serde agrees that none of these is a frame.
        assert!(serde_json::from_str::<ServerFrame>(bad).is_err(), "{bad}");
    }
}

mod both_codecs_agree {
    //! The hand-written client codec against serde on arbitrary frames: any text (control
    //! characters, quotes, astral characters), any integer.

    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[\\u{0}-\\u{7f}\"\\\\]{0,12}",
            "[a-z😀é\\u{2028}\\n\\t\"\\\\]{0,12}"
        ]
    }

    fn quote() -> impl Strategy<Value = Quote> {
        (any::<i64>(), text(), text(), text(), any::<bool>()).prop_map(
            |(seq, user_id, name, text, deleted)| Quote {
                seq,
                user_id,
                name,
                text,
                deleted,
            },
        )
    }

    fn message() -> impl Strategy<Value = Message> {
        let changes = (
            prop::option::of(any::<i64>()),
            prop::option::of(any::<i64>()),
            any::<bool>(),
            prop::collection::vec(
                (text(), prop::collection::vec(text(), 0..3))
                    .prop_map(|(emoji, user_ids)| Reaction { emoji, user_ids }),
                0..3,
            ),
            prop::option::of(quote()),
        );
        (
            (any::<i64>(), text(), text(), text(), text(), any::<i64>()),
            changes,
        )
            .prop_map(
                |(
                    (seq, client_id, user_id, name, text, ts),
                    (rev, edited_ts, deleted, reactions, reply),
                )| Message {
                    seq,
                    client_id,
                    user_id,
                    name,
                    text,
                    ts,
                    rev,
                    edited_ts,
                    deleted,
                    reactions,
                    reply,
                },
            )
    }

    fn member() -> impl Strategy<Value = Member> {
        (text(), text()).prop_map(|(user_id, name)| Member { user_id, name })
    }

    fn server_frame() -> impl Strategy<Value = ServerFrame> {
        prop_oneof![
            (
                member(),
                prop::collection::vec(member(), 0..3),
                prop::collection::vec(message(), 0..3),
                any::<bool>(),
                any::<bool>(),
                prop::option::of(any::<i64>()),
                prop::option::of(0..=i64::MAX as u64)
            )
                .prop_map(
                    |(you, online, messages, has_more, reset, rev, dedupe_window_ms)| {
                        ServerFrame::Welcome(Welcome {
                            you,
                            online,
                            messages,
                            has_more,
                            reset,
                            rev,
                            dedupe_window_ms,
                        })
                    }
                ),
            prop::collection::vec(message(), 0..3)
                .prop_map(|messages| ServerFrame::Updated { messages }),
            (text(), any::<i64>())
                .prop_map(|(client_id, seq)| ServerFrame::Applied { client_id, seq }),
            message().prop_map(|message| ServerFrame::Message { message }),
            prop::collection::vec(message(), 0..4)
                .prop_map(|messages| ServerFrame::Messages { messages }),
            (prop::collection::vec(message(), 0..3), any::<bool>()).prop_map(
                |(messages, has_more)| ServerFrame::History(HistoryPage { messages, has_more })
            ),
            (text(), text(), any::<bool>()).prop_map(|(user_id, name, active)| {
                ServerFrame::Typing {
                    user_id,
                    name,
                    active,
                }
            }),
            prop::collection::vec(
                (text(), text(), any::<bool>()).prop_map(|(user_id, name, active)| {
                    TypingNotice {
                        user_id,
                        name,
                        active,
                    }
                }),
                0..3
            )
            .prop_map(|notices| ServerFrame::TypingBatch { notices }),
            member().prop_map(|member| ServerFrame::Joined { member }),
            text().prop_map(|user_id| ServerFrame::Left { user_id }),
            (
                prop::sample::select(ErrorCode::ALL.to_vec()),
                text(),
                prop::option::of(text()),
                prop::option::of(any::<u32>().prop_map(u64::from))
            )
                .prop_map(|(code, message, client_id, retry_after_ms)| {
                    ServerFrame::Error(ErrorFrame {
                        code,
                        message,
                        client_id,
                        retry_after_ms,
                    })
                }),
            (any::<u32>(), any::<u32>(), text()).prop_map(|(oldest, newest, message)| {
                ServerFrame::UnsupportedProtocol {
                    oldest,
                    newest,
                    message,
                }
            }),
        ]
    }

    fn client_frame() -> impl Strategy<Value = ClientFrame> {
        prop_oneof![
            (any::<u32>(), text(), text(), prop::option::of(any::<i64>())).prop_map(
                |(protocol, name, secret, since)| ClientFrame::Hello {
                    protocol,
                    name,
                    secret: secret.into(),
                    since,
                }
            ),
            (text(), text(), prop::option::of(any::<i64>())).prop_map(
                |(client_id, text, reply_to)| ClientFrame::Send {
                    client_id,
                    text,
                    reply_to
                }
            ),
            (text(), any::<i64>(), text()).prop_map(|(client_id, seq, text)| ClientFrame::Edit {
                client_id,
                seq,
                text
            }),
            (text(), any::<i64>())
                .prop_map(|(client_id, seq)| ClientFrame::Delete { client_id, seq }),
            (text(), any::<i64>(), text(), any::<bool>()).prop_map(
                |(client_id, seq, emoji, on)| ClientFrame::React {
                    client_id,
                    seq,
                    emoji,
                    on
                }
            ),
            any::<bool>().prop_map(|active| ClientFrame::Typing { active }),
            (any::<i64>(), any::<u32>())
                .prop_map(|(before, limit)| ClientFrame::History { before, limit }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn the_client_decodes_what_the_worker_encodes(frame in server_frame()) {
            prop_assert_eq!(ServerFrame::decode(&frame.to_json()), Ok(frame.clone()));
            let pretty = serde_json::to_string_pretty(&frame).unwrap_or_default();
            prop_assert_eq!(ServerFrame::decode(&pretty), Ok(frame));
        }

        #[test]
        fn the_client_encodes_what_serde_encodes(frame in client_frame()) {
            let json = frame.to_json();
            prop_assert_eq!(Some(json.clone()), serde_json::to_string(&frame).ok());
            prop_assert_eq!(serde_json::from_str::<ClientFrame>(&json).ok(), Some(frame));
        }
    }
}
