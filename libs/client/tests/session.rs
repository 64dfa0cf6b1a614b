//! The client's life in stories: connect, join, send while offline, lose the connection, retry
//! through a store outage, resume without duplicates, find the room full, give up on a message
//! the room never confirmed.

use client::{
    CONFIRM_WINDOW_MS, ChatState, ConnectionStatus, NOT_CONFIRMED_REASON, OutboxState, Row,
    STORE_REFUSED_REASON, Secret,
};
use pretty_assertions::assert_eq;
use protocol::{
    ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Member, Message, ServerFrame, Welcome,
};

/// This browser's secret, as storage keeps it.
const SECRET: &str = "s3cret-of-alice-0123456789abcdef";

/// Who the room says alice is: the `user_id` it derives from [`SECRET`].
fn me() -> Member {
    Member {
        user_id: "alice-0001".into(),
        name: "alice".into(),
    }
}

fn member(user_id: &str, name: &str) -> Member {
    Member {
        user_id: user_id.into(),
        name: name.into(),
    }
}

/// A fresh client for alice in the lobby, with an empty outbox.
fn alice() -> ChatState {
    ChatState::new("lobby", "alice", Secret::new(SECRET), Default::default())
}

fn error(code: ErrorCode, client_id: Option<&str>, retry_after_ms: Option<u64>) -> String {
    ServerFrame::Error(ErrorFrame {
        code,
        message: format!("{code:?}"),
        client_id: client_id.map(str::to_owned),
        retry_after_ms,
    })
    .to_json()
}

fn message(seq: i64, client_id: &str, user: &str) -> Message {
    Message {
        seq,
        client_id: client_id.into(),
        user_id: user.into(),
        name: user.into(),
        text: format!("text {seq}"),
        ts: seq,
        ..Default::default()
    }
}

fn welcome(messages: Vec<Message>, reset: bool) -> String {
    ServerFrame::Welcome(Welcome {
        you: me(),
        online: vec![me()],
        messages,
        has_more: true,
        reset,
        rev: None,
        dedupe_window_ms: None,
    })
    .to_json()
}

fn parse(frames: &[String]) -> Vec<ClientFrame> {
    frames
        .iter()
        .filter_map(|f| ClientFrame::parse(f).ok())
        .collect()
}

fn sent_ids(frames: &[String]) -> Vec<String> {
    parse(frames)
        .iter()
        .filter_map(|f| f.client_id().map(str::to_owned))
        .collect()
}

#[test]
fn hello_carries_the_secret_and_asks_for_what_was_missed() {
    let mut chat = alice();
    let hello = chat.opened(0);
    assert_eq!(
        parse(&hello),
        [ClientFrame::Hello {
            protocol: protocol::PROTOCOL_VERSION,
            name: "alice".into(),
            secret: SECRET.into(),
            since: None
        }]
    );
    assert!(
        !hello[0].contains("user_id"),
        "the room derives the user_id: {hello:?}"
    );
    chat.received(&welcome(vec![message(5, "c-000005", "bob")], true), 1);
    assert_eq!(chat.status, ConnectionStatus::Live);
    chat.closed(2, 0.5);
    assert!(matches!(
        parse(&chat.opened(3))[0],
        ClientFrame::Hello { since: Some(5), .. }
    ));
}

#[test]
fn messages_written_offline_are_sent_once_live_and_confirmed_by_the_echo() {
    let mut chat = alice();
    assert_eq!(
        chat.compose("  written offline ", None, "offline-1".into(), 0),
        Ok(vec![])
    );
    assert_eq!(chat.outbox.entries()[0].text, "written offline");
    assert_eq!(
        chat.compose("   ", None, "offline-2".into(), 0).map(|_| ()),
        Err("the message is empty".into())
    );
    chat.opened(10);
    let frames = chat.received(&welcome(vec![], true), 11);
    assert_eq!(sent_ids(&frames), ["offline-1"]);
    chat.received(
        &ServerFrame::Message {
            message: message(20, "offline-1", "alice-0001"),
        }
        .to_json(),
        12,
    );
    assert!(chat.outbox.is_empty());
    assert_eq!(chat.messages.len(), 1);
}

#[test]
fn a_messages_frame_is_merged_and_confirms_like_that_many_message_frames() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 1);
    chat.compose("mine", None, "batched-1".into(), 2)
        .unwrap_or_default();
    chat.received(
        &ServerFrame::Messages {
            messages: vec![
                message(20, "c-000020", "bob"),
                message(21, "batched-1", "alice-0001"),
            ],
        }
        .to_json(),
        3,
    );
    assert!(
        chat.outbox.is_empty(),
        "the batch confirmed the own message"
    );
    let seqs: Vec<i64> = chat.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [20, 21]);
    // A repeat of the same messages changes nothing.
    chat.received(
        &ServerFrame::Messages {
            messages: vec![message(21, "batched-1", "alice-0001")],
        }
        .to_json(),
        4,
    );
    assert_eq!(chat.messages.len(), 2);
}

#[test]
fn a_hidden_tab_counts_new_messages_once_and_alerts_when_asked() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 1);
    chat.attention.notify = true;
    chat.attention.set_hidden(true);
    let bob_says = ServerFrame::Messages {
        messages: vec![
            message(30, "c-000030", "bob"),
            message(31, "c-000031", "bob"),
        ],
    }
    .to_json();
    chat.received(&bob_says, 2);
    // The same messages again (a resend, a resume) are not new.
    chat.received(&bob_says, 3);
    assert_eq!(chat.attention.unread(), 2);
    assert_eq!(chat.attention.title(&chat.room), "(2) #lobby · edge-chat");
    assert_eq!(chat.attention.take_alerts().len(), 2);
    chat.attention.set_hidden(false);
    assert_eq!(chat.attention.unread(), 0);
}

#[test]
fn a_typing_batch_shows_each_typist_but_never_the_own_user() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 1);
    let me = chat.me.user_id.clone();
    let notice = |user_id: &str, name: &str| protocol::TypingNotice {
        user_id: user_id.into(),
        name: name.into(),
        active: true,
    };
    chat.received(
        &ServerFrame::TypingBatch {
            notices: vec![
                notice("bob-0001", "bob"),
                notice(&me, "alice"),
                notice("carol-01", "carol"),
            ],
        }
        .to_json(),
        2,
    );
    assert_eq!(chat.typing.names(3), ["bob", "carol"]);
}

#[test]
fn a_dropped_connection_resends_with_the_same_client_id_and_resume_dedupes() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![message(1, "c-000001", "bob")], true), 0);
    let frames = chat
        .compose("hello", None, "hello-msg-1".into(), 1)
        .unwrap_or_default();
    assert_eq!(sent_ids(&frames), ["hello-msg-1"]);

    let delay = chat.closed(2, 0.5);
    assert!(matches!(
        chat.status,
        ConnectionStatus::Reconnecting { attempt: 1, .. }
    ));
    assert!(delay <= 250);
    assert_eq!(chat.outbox.entries()[0].state, OutboxState::Queued);

    chat.opened(500);
    // The room stored the message before the drop: the resume carries it, which confirms it,
    // and the message it already had is not duplicated.
    let frames = chat.received(
        &welcome(
            vec![
                message(1, "c-000001", "bob"),
                message(2, "hello-msg-1", "alice-0001"),
            ],
            false,
        ),
        501,
    );
    assert!(
        sent_ids(&frames).is_empty(),
        "confirmed by the resume, not sent again"
    );
    assert!(chat.outbox.is_empty());
    let seqs: Vec<i64> = chat.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [1, 2]);
}

#[test]
fn store_outage_keeps_the_message_pending_with_a_reason_then_retries() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    chat.compose("during outage", None, "outage-msg-1".into(), 100)
        .ok();
    chat.received(
        &ServerFrame::Error(ErrorFrame {
            code: ErrorCode::StoreUnavailable,
            message: "the message store is unavailable".into(),
            client_id: Some("outage-msg-1".into()),
            retry_after_ms: Some(2000),
        })
        .to_json(),
        200,
    );
    let entry = &chat.outbox.entries()[0];
    assert_eq!(entry.reason(), Some(client::STORE_UNAVAILABLE_REASON));
    assert!(chat.store_down, "the header says so too");
    assert!(sent_ids(&chat.tick(2199).0).is_empty());
    assert_eq!(sent_ids(&chat.tick(2200).0), ["outage-msg-1"]);
    // A reconnect proves nothing about the store; a stored message does.
    chat.closed(2300, 0.5);
    chat.opened(3000);
    chat.received(&welcome(vec![], false), 3000);
    assert!(chat.store_down);
    chat.received(
        &ServerFrame::Message {
            message: message(1, "bob-msg-01", "bob"),
        }
        .to_json(),
        3100,
    );
    assert!(!chat.store_down);
}

#[test]
fn heartbeat_finds_a_half_open_connection() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    let (frames, dead) = chat.tick(20_000);
    assert_eq!((frames, dead), (vec!["ping".to_owned()], false));
    assert_eq!(chat.tick(29_999).1, false);
    assert_eq!(chat.tick(30_000).1, true, "no pong within 10 s");
    chat.received("pong", 30_001);
    assert_eq!(chat.tick(30_002).1, false);
}

#[test]
fn typing_is_throttled_and_stops_by_itself() {
    let mut chat = alice();
    assert_eq!(chat.keystroke(0), None, "not while disconnected");
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    assert!(chat.keystroke(10).is_some());
    assert_eq!(chat.keystroke(1000), None);
    assert!(chat.keystroke(3010).is_some());
    let (frames, _) = chat.tick(7010);
    assert_eq!(parse(&frames), [ClientFrame::Typing { active: false }]);
    // Others' typing shows and is cleared by their message.
    chat.received(
        &ServerFrame::Typing {
            user_id: "bob-00001".into(),
            name: "bob".into(),
            active: true,
        }
        .to_json(),
        8000,
    );
    assert_eq!(chat.typing.summary(8001).as_deref(), Some("bob is typing…"));
    chat.received(
        &ServerFrame::Message {
            message: message(9, "c-000009", "bob-00001"),
        }
        .to_json(),
        8002,
    );
    assert_eq!(chat.typing.summary(8003), None);
}

#[test]
fn older_pages_load_one_at_a_time() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![message(100, "c-000100", "bob")], true), 0);
    let request = chat.load_older();
    assert_eq!(
        request.as_deref().map(ClientFrame::parse),
        Some(Ok(ClientFrame::History {
            before: 100,
            limit: 50
        }))
    );
    assert_eq!(chat.load_older(), None, "one request at a time");
    chat.received(
        &ServerFrame::History(HistoryPage {
            messages: vec![message(50, "c-000050", "bob")],
            has_more: false,
        })
        .to_json(),
        1,
    );
    assert_eq!(chat.messages.len(), 2);
    assert_eq!(chat.load_older(), None, "nothing older exists");
}

#[test]
fn own_messages_are_recognised_by_the_user_id_the_welcome_gives() {
    let mut chat = alice();
    assert_eq!(chat.me.user_id, "", "unknown until the room says");
    chat.opened(0);
    chat.received(
        &welcome(
            vec![
                message(1, "c-000001", "bob-00001"),
                message(2, "c-000002", "alice-0001"),
            ],
            true,
        ),
        1,
    );
    assert_eq!(chat.me, me());
    let own: Vec<(i64, bool)> = chat
        .rows(0)
        .into_iter()
        .filter_map(|row| match row {
            Row::Message { message, own, .. } => Some((message.seq, own)),
            Row::Day { .. } => None,
        })
        .collect();
    assert_eq!(own, [(1, false), (2, true)]);
    // Someone else's typing shows; our own (from another tab) does not.
    for user_id in ["alice-0001", "bob-00001"] {
        chat.received(
            &ServerFrame::Typing {
                user_id: user_id.into(),
                name: user_id.into(),
                active: true,
            }
            .to_json(),
            2,
        );
    }
    assert_eq!(
        chat.typing.summary(3).as_deref(),
        Some("bob-00001 is typing…")
    );
}

#[test]
fn presence_follows_the_roster_then_joined_and_left() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    assert_eq!(chat.online, [me()]);

    let joined = |m: Member| ServerFrame::Joined { member: m }.to_json();
    chat.received(&joined(member("bob-00001", "bob")), 1);
    chat.received(&joined(member("carol-001", "carol")), 2);
    assert_eq!(
        chat.online,
        [
            me(),
            member("bob-00001", "bob"),
            member("carol-001", "carol")
        ]
    );
    // A name change is a `joined` of someone already here: replaced, not added.
    chat.received(&joined(member("bob-00001", "robert")), 3);
    assert_eq!(
        chat.online,
        [
            me(),
            member("bob-00001", "robert"),
            member("carol-001", "carol")
        ]
    );

    // Leaving clears the online entry and a typing notice that would otherwise linger.
    chat.received(
        &ServerFrame::Typing {
            user_id: "bob-00001".into(),
            name: "robert".into(),
            active: true,
        }
        .to_json(),
        4,
    );
    assert_eq!(chat.typing.summary(5).as_deref(), Some("robert is typing…"));
    chat.received(
        &ServerFrame::Left {
            user_id: "bob-00001".into(),
        }
        .to_json(),
        6,
    );
    assert_eq!(chat.online, [me(), member("carol-001", "carol")]);
    assert_eq!(chat.typing.summary(7), None);
    // A `left` for someone not listed changes nothing.
    chat.received(
        &ServerFrame::Left {
            user_id: "nobody-01".into(),
        }
        .to_json(),
        8,
    );
    assert_eq!(chat.online.len(), 2);
}

#[test]
fn a_full_room_is_shown_and_retried_no_sooner_than_it_asked() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&error(ErrorCode::RoomFull, None, Some(30_000)), 1);
    assert!(chat.room_is_full());
    // The room closes the socket; even with no jitter the wait is the room's.
    let delay = chat.closed(2, 0.0);
    assert_eq!(delay, 30_000);
    assert_eq!(
        chat.status,
        ConnectionStatus::Reconnecting {
            attempt: 1,
            next_at: 30_002
        }
    );
    assert!(chat.room_is_full(), "the status keeps saying why");
    // Coming back to the tab, or online, does not cut the wait short.
    assert_eq!(chat.retry_now(10_002), 20_000);
    assert!(matches!(
        chat.status,
        ConnectionStatus::Reconnecting {
            next_at: 30_002,
            ..
        }
    ));

    // Still full on the next try: the room's wait plus the growing, jittered backoff.
    chat.connecting();
    chat.opened(30_002);
    chat.received(&error(ErrorCode::RoomFull, None, Some(30_000)), 30_003);
    let delay = chat.closed(30_004, 0.999_999);
    assert_eq!(delay, 30_000 + 499);

    // Room for us at last: the welcome clears the notice, and later drops reconnect at once.
    chat.opened(61_000);
    chat.received(&welcome(vec![], true), 61_001);
    assert!(!chat.room_is_full());
    assert_eq!(chat.status, ConnectionStatus::Live);
    let delay = chat.closed(62_000, 0.0);
    assert_eq!(delay, 0);
    assert_eq!(chat.retry_now(62_001), 0);
    assert_eq!(chat.status, ConnectionStatus::Connecting { attempt: 0 });
}

#[test]
fn a_full_room_without_a_wait_still_keeps_the_client_away_a_while() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&error(ErrorCode::RoomFull, None, None), 1);
    assert_eq!(chat.closed(2, 0.0), client::ROOM_FULL_DEFAULT_WAIT_MS);
}

#[test]
fn a_store_refusal_fails_the_message_at_once_and_is_not_retried() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    let frames = chat
        .compose("cannot be stored", None, "refused-msg-1".into(), 10)
        .unwrap_or_default();
    assert_eq!(sent_ids(&frames), ["refused-msg-1"]);
    chat.received(
        &error(ErrorCode::StoreRefused, Some("refused-msg-1"), None),
        20,
    );
    let entry = &chat.outbox.entries()[0];
    assert_eq!(
        entry.state,
        OutboxState::Failed {
            reason: STORE_REFUSED_REASON.into()
        }
    );
    assert!(
        sent_ids(&chat.tick(60_000).0).is_empty(),
        "no automatic retry"
    );
    // Not on a new connection either: only the user's retry sends it again.
    chat.closed(60_001, 0.0);
    chat.opened(60_002);
    assert!(sent_ids(&chat.received(&welcome(vec![], true), 60_003)).is_empty());
    assert_eq!(
        sent_ids(&chat.retry("refused-msg-1", 60_004)),
        ["refused-msg-1"]
    );
}

#[test]
fn a_history_page_the_store_refuses_can_be_asked_for_again() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![message(100, "c-000100", "bob")], true), 0);
    assert!(chat.load_older().is_some());
    chat.received(&error(ErrorCode::StoreRefused, None, None), 1);
    assert!(!chat.messages.loading_older);
    assert!(chat.load_older().is_some());
}

#[test]
fn a_message_unconfirmed_for_an_hour_waits_for_the_user() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    let frames = chat
        .compose("did this arrive?", None, "unsure-msg-1".into(), 1_000)
        .unwrap_or_default();
    assert_eq!(sent_ids(&frames), ["unsure-msg-1"]);
    // The connection drops before the echo, and stays down.
    chat.closed(2_000, 0.0);
    let entry = &chat.outbox.entries()[0];
    assert_eq!(entry.state, OutboxState::Queued);

    // The tick fails it once the window has passed, while still disconnected, so the page
    // shows Retry/Discard instead of "Sending…" forever.
    chat.tick(1_000 + CONFIRM_WINDOW_MS - 1);
    assert_eq!(chat.outbox.entries()[0].state, OutboxState::Queued);
    chat.tick(1_000 + CONFIRM_WINDOW_MS);
    assert_eq!(
        chat.outbox.entries()[0].state,
        OutboxState::Failed {
            reason: NOT_CONFIRMED_REASON.into()
        }
    );

    // Back online: the room may have stored it long ago, so it is not resent by itself.
    let later = 2 * CONFIRM_WINDOW_MS;
    chat.opened(later);
    assert!(sent_ids(&chat.received(&welcome(vec![], true), later)).is_empty());
    assert!(sent_ids(&chat.tick(later + 1).0).is_empty());
    // The user decides to send it anyway.
    assert_eq!(
        sent_ids(&chat.retry("unsure-msg-1", later + 2)),
        ["unsure-msg-1"]
    );
}

#[test]
fn a_message_never_sent_goes_out_however_long_it_waited() {
    let mut chat = alice();
    chat.compose("written on a plane", None, "plane-msg-1".into(), 0)
        .ok();
    let landed = 12 * CONFIRM_WINDOW_MS;
    chat.tick(landed);
    chat.opened(landed);
    assert_eq!(
        sent_ids(&chat.received(&welcome(vec![], true), landed)),
        ["plane-msg-1"]
    );
}

/// The Worker was deployed with a protocol this client does not speak: the client stops
/// reconnecting (the answer would be the same) and says it is out of date; what it had
/// unsent stays in the outbox for the reloaded page.
#[test]
fn a_server_that_does_not_speak_our_version_stops_the_reconnects() {
    let mut chat = alice();
    chat.compose("kept for the new page", None, "c-keep-01".into(), 0)
        .unwrap_or_default();
    chat.opened(1);
    let refusal = ServerFrame::UnsupportedProtocol {
        oldest: 3,
        newest: 4,
        message: "reload".into(),
    };
    assert!(chat.received(&refusal.to_json(), 2).is_empty());
    assert_eq!(chat.outdated(), Some((3, 4)));
    chat.closed(3, 0.5);
    assert_eq!(
        chat.status,
        ConnectionStatus::Outdated {
            oldest: 3,
            newest: 4
        }
    );
    assert_eq!(chat.outbox.entries().len(), 1);
    assert!(!chat.is_live());
}

/// The room tells its dedupe window in `welcome`: a message unconfirmed for half of it is no
/// longer resent by itself, even when that is sooner than the client's own hour.
#[test]
fn the_rooms_dedupe_window_bounds_automatic_resends() {
    let mut chat = alice();
    chat.opened(0);
    let short = ServerFrame::Welcome(Welcome {
        you: me(),
        online: vec![me()],
        messages: Vec::new(),
        has_more: false,
        reset: true,
        rev: None,
        dedupe_window_ms: Some(20 * 60 * 1000),
    });
    chat.received(&short.to_json(), 1);
    assert_eq!(chat.outbox.confirm_window_ms(), 10 * 60 * 1000);
    let sent = chat
        .compose("not confirmed", None, "c-window-1".into(), 2)
        .unwrap_or_default();
    assert_eq!(sent_ids(&sent), ["c-window-1"]);
    chat.closed(3, 0.5);
    chat.opened(4);
    chat.received(&short.to_json(), 5);
    chat.tick(2 + 10 * 60 * 1000);
    assert!(
        matches!(chat.outbox.entries()[0].state, OutboxState::Failed { .. }),
        "{:?}",
        chat.outbox.entries()
    );
    // A window longer than the client's own hour changes nothing.
    let mut relaxed = alice();
    relaxed.outbox.set_dedupe_window(10 * 60 * 60 * 1000);
    assert_eq!(relaxed.outbox.confirm_window_ms(), CONFIRM_WINDOW_MS);
}

#[test]
fn a_new_name_is_checked_and_said_in_the_next_hello() {
    let mut chat = alice();
    assert!(chat.rename("   ").is_err(), "a blank name is refused");
    assert!(chat.rename(&"x".repeat(33)).is_err(), "too long");
    chat.rename("  Alice B.  ").ok();
    assert_eq!(chat.me.name, "Alice B.");
    let hello = parse(&chat.opened(0));
    assert!(
        matches!(&hello[..], [ClientFrame::Hello { name, .. }] if name == "Alice B."),
        "{hello:?}"
    );
}

#[test]
fn what_a_visible_page_shows_is_seen_and_other_rooms_are_counted() {
    let mut chat = alice();
    chat.rooms.visit("design", 1);
    chat.rooms.visit("lobby", 2);
    assert!(
        chat.rooms_to_count().is_empty(),
        "not before the room says who we are"
    );
    chat.opened(0);
    chat.received(&welcome(vec![message(5, "m5-aaaaaa", "bob-0001")], true), 0);
    let seen = |chat: &ChatState, room: &str| {
        chat.rooms
            .entries()
            .iter()
            .find(|e| e.room == room)
            .map(|e| e.seen)
    };
    assert_eq!(seen(&chat, "lobby"), Some(5));
    assert!(
        chat.rooms_unsaved,
        "the transport saves it at its next tick"
    );
    assert_eq!(chat.rooms_to_count(), ["design"]);

    // While the page is hidden, what arrives is not seen, and no counts are asked for.
    chat.set_hidden(true);
    let live = |seq| {
        ServerFrame::Message {
            message: message(seq, &format!("m{seq}-aaaaaa"), "bob-0001"),
        }
        .to_json()
    };
    chat.received(&live(6), 1);
    assert_eq!(seen(&chat, "lobby"), Some(5));
    assert!(chat.rooms_to_count().is_empty());
    chat.set_hidden(false);
    assert_eq!(seen(&chat, "lobby"), Some(6));

    // Another room's newest page counts others' messages only.
    let page = protocol::HistoryPage {
        messages: vec![
            message(7, "m7-aaaaaa", "bob-0001"),
            message(8, "m8-aaaaaa", &chat.me.user_id.clone()),
        ],
        has_more: false,
    };
    chat.newest_page_of("design", &page);
    assert_eq!(
        chat.rooms.entries()[1].unread,
        Some(client::Unread::Exactly(1))
    );
}

#[test]
fn a_first_visit_previews_the_room_then_joins_and_resumes_after_what_it_showed() {
    let mut chat = ChatState::new("lobby", "", Secret::new(SECRET), Default::default());
    assert_eq!(chat.status, ConnectionStatus::Preview);
    assert!(!chat.is_live());
    // Nothing reconnects a preview: the browser coming online or back to the foreground.
    chat.offline();
    assert_eq!(chat.retry_now(0), u64::MAX);
    assert_eq!(chat.status, ConnectionStatus::Preview);
    chat.early_page(HistoryPage {
        messages: vec![
            message(5, "m5-aaaaaa", "bob-0001"),
            message(6, "m6-aaaaaa", "bob-0001"),
        ],
        has_more: true,
    });
    assert_eq!(chat.messages.len(), 2);
    assert!(chat.load_older().is_none(), "older pages wait for the join");

    assert!(chat.join("  ").is_err(), "a blank name is refused");
    assert_eq!(chat.status, ConnectionStatus::Preview);
    chat.join("zoë").ok();
    assert_eq!(chat.status, ConnectionStatus::Connecting { attempt: 0 });
    let hello = parse(&chat.opened(10));
    assert!(
        matches!(&hello[..], [ClientFrame::Hello { name, since: Some(6), .. }] if name == "zoë"),
        "{hello:?}"
    );
    // A preview page that arrives after the join changes nothing.
    chat.early_page(HistoryPage {
        messages: vec![],
        has_more: false,
    });
    assert_eq!(chat.messages.len(), 2);
}

#[test]
fn an_early_page_shows_before_the_welcome_which_resumes_after_it() {
    let mut chat = alice();
    chat.remember_me("alice-0001");
    chat.early_page(HistoryPage {
        messages: vec![
            message(5, "m5-aaaaaa", "bob-0001"),
            message(6, "m6-aaaaaa", "alice-0001"),
        ],
        has_more: true,
    });
    // Own messages are known as own before the room says who we are.
    let own: Vec<bool> = chat
        .rows(0)
        .iter()
        .filter_map(|row| match row {
            Row::Message { own, .. } => Some(*own),
            Row::Day { .. } => None,
        })
        .collect();
    assert_eq!(own, [false, true]);
    let hello = parse(&chat.opened(10));
    assert!(
        matches!(&hello[..], [ClientFrame::Hello { since: Some(6), .. }]),
        "{hello:?}"
    );
    chat.received(
        &welcome(vec![message(7, "m7-aaaaaa", "bob-0001")], false),
        20,
    );
    assert_eq!(chat.messages.len(), 3);
    // A page that comes after the welcome changes nothing.
    chat.early_page(HistoryPage {
        messages: vec![],
        has_more: false,
    });
    assert_eq!(chat.messages.len(), 3);
}

#[test]
fn only_our_own_message_confirms_a_send_as_the_room_keys_them() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    chat.compose("mine", None, "same-id-01".into(), 1).ok();
    // Someone else's message that happens to carry the same client_id.
    chat.received(
        &ServerFrame::Message {
            message: message(5, "same-id-01", "bob-0001"),
        }
        .to_json(),
        2,
    );
    assert_eq!(chat.outbox.entries().len(), 1, "still ours to confirm");
    // Nor does a resume that brings it.
    chat.closed(3, 0.5);
    chat.opened(4);
    chat.received(
        &welcome(vec![message(5, "same-id-01", "bob-0001")], false),
        4,
    );
    assert_eq!(chat.outbox.entries().len(), 1);
    chat.received(
        &ServerFrame::Message {
            message: message(6, "same-id-01", "alice-0001"),
        }
        .to_json(),
        5,
    );
    assert!(chat.outbox.is_empty());
}

#[test]
fn a_socket_dropped_on_purpose_resends_what_was_sent_on_it() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    let sent = chat.compose("in flight", None, "flight-0001".into(), 1);
    assert_eq!(
        sent.as_deref().map(sent_ids).ok(),
        Some(vec!["flight-0001".to_owned()])
    );
    // A rename (or "Retry now") drops the live socket and connects again at once.
    assert_eq!(chat.retry_now(2), 0);
    assert!(!chat.is_live());
    assert!(
        chat.compose("while reconnecting", None, "wait-00001".into(), 3)
            .is_ok_and(|f| f.is_empty())
    );
    chat.opened(4);
    let frames = chat.received(&welcome(vec![], false), 5);
    assert_eq!(sent_ids(&frames), ["flight-0001", "wait-00001"]);
}

#[test]
fn a_failed_history_page_does_not_say_the_store_is_down() {
    let mut chat = alice();
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    chat.received(&error(ErrorCode::StoreUnavailable, None, Some(1000)), 1);
    assert!(!chat.store_down);
    chat.compose("x", None, "store-0001".into(), 2).ok();
    chat.received(
        &error(ErrorCode::StoreUnavailable, Some("store-0001"), Some(1000)),
        3,
    );
    assert!(chat.store_down);
}

/// Alice joined a room where bob said something (seq 5) and she did (seq 6).
fn alice_with_two_messages() -> ChatState {
    let mut chat = alice();
    chat.opened(0);
    chat.received(
        &welcome(
            vec![
                message(5, "c-000005", "bob"),
                message(6, "c-000006", "alice-0001"),
            ],
            true,
        ),
        1,
    );
    chat
}

#[test]
fn an_edit_shows_at_once_is_retried_and_leaves_the_outbox_when_applied() {
    let mut chat = alice_with_two_messages();
    let sent = chat.edit(6, " fixed ", "edit-0001".into(), 2);
    assert_eq!(
        parse(&sent.unwrap_or_default()),
        [ClientFrame::Edit {
            client_id: "edit-0001".into(),
            seq: 6,
            text: "fixed".into()
        }]
    );
    let held = chat.messages.get(6).cloned().unwrap_or_default();
    assert_eq!(
        chat.shown(&held).text,
        "fixed",
        "shown before the room confirms"
    );
    assert_eq!(held.text, "text 6", "the list holds what the room said");
    // The connection drops; the edit goes again with the same client_id.
    chat.closed(3, 0.5);
    chat.opened(4);
    let again = chat.received(&welcome(Vec::new(), false), 5);
    assert_eq!(sent_ids(&again), ["edit-0001"]);
    let edited = Message {
        text: "fixed".into(),
        rev: Some(9),
        edited_ts: Some(4),
        ..message(6, "c-000006", "alice-0001")
    };
    chat.received(
        &ServerFrame::Updated {
            messages: vec![edited.clone()],
        }
        .to_json(),
        6,
    );
    chat.received(
        &ServerFrame::Applied {
            client_id: "edit-0001".into(),
            seq: 6,
        }
        .to_json(),
        6,
    );
    assert!(chat.outbox.is_empty());
    assert_eq!(chat.messages.get(6), Some(&edited));
    assert!(
        chat.edit(6, "   ", "edit-0002".into(), 7).is_err(),
        "checked as sends are"
    );
    // The next resume starts after the edit's revision.
    chat.closed(8, 0.5);
    assert!(matches!(
        parse(&chat.opened(9))[0],
        ClientFrame::Hello { since: Some(9), .. }
    ));
}

#[test]
fn reactions_toggle_and_a_refused_action_is_dropped_with_a_notice() {
    let mut chat = alice_with_two_messages();
    let on = chat.react(5, "👍", "react-0001".into(), 2);
    assert!(matches!(
        &parse(&on)[..],
        [ClientFrame::React { on: true, .. }]
    ));
    assert!(chat.reacted(5, "👍"), "pending, shown as done");
    let off = chat.react(5, "👍", "react-0002".into(), 3);
    assert!(matches!(
        &parse(&off)[..],
        [ClientFrame::React { on: false, .. }]
    ));
    assert!(!chat.reacted(5, "👍"));
    // Bob's message cannot be deleted by alice; the room says so and the message is back.
    chat.delete(5, "delete-0001".into(), 4);
    let held = chat.messages.get(5).cloned().unwrap_or_default();
    assert!(chat.shown(&held).deleted);
    chat.received(&error(ErrorCode::NotAllowed, Some("delete-0001"), None), 5);
    assert!(!chat.shown(&held).deleted);
    assert_eq!(chat.refusal.as_deref(), Some("NotAllowed"));
    assert_eq!(chat.outbox.entries().len(), 2, "the reactions still wait");
    // ↑ edits the newest own message that is not deleted.
    assert_eq!(chat.last_own().map(|m| m.seq), Some(6));
    chat.delete(6, "delete-0002".into(), 6);
    assert_eq!(chat.last_own(), None);
}

#[test]
fn a_reply_names_the_message_it_answers() {
    let mut chat = alice_with_two_messages();
    let sent = chat.compose("yes", Some(5), "reply-0001".into(), 2);
    assert_eq!(
        parse(&sent.unwrap_or_default()),
        [ClientFrame::Send {
            client_id: "reply-0001".into(),
            text: "yes".into(),
            reply_to: Some(5)
        }]
    );
}

/// A resume brings messages that changed while away; one older than the list (a reaction far
/// back) is not added, or the list would skip what lies between and never load it.
#[test]
fn a_resume_replaces_what_is_held_and_adds_only_what_is_newer() {
    let mut chat = alice_with_two_messages();
    chat.closed(2, 0.5);
    chat.opened(3);
    let far_back = Message {
        rev: Some(20),
        reactions: vec![protocol::Reaction {
            emoji: "👍".into(),
            user_ids: vec!["bob".into()],
        }],
        ..message(2, "c-000002", "bob")
    };
    let edited = Message {
        text: "edited".into(),
        rev: Some(21),
        ..message(5, "c-000005", "bob")
    };
    chat.received(
        &welcome(
            vec![far_back, edited.clone(), message(22, "c-000022", "bob")],
            false,
        ),
        4,
    );
    let seqs: Vec<i64> = chat.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [5, 6, 22]);
    assert_eq!(chat.messages.get(5), Some(&edited));
    assert_eq!(
        chat.messages.oldest_seq(),
        Some(5),
        "older pages load below 5"
    );
}

#[test]
fn an_action_that_fails_for_good_leaves_with_the_reason() {
    let mut chat = alice_with_two_messages();
    chat.delete(6, "delete-0001".into(), 2);
    chat.received(
        &error(ErrorCode::StoreRefused, Some("delete-0001"), None),
        3,
    );
    assert!(chat.outbox.is_empty());
    assert_eq!(chat.refusal.as_deref(), Some(STORE_REFUSED_REASON));
    let held = chat.messages.get(6).cloned().unwrap_or_default();
    assert!(!chat.shown(&held).deleted);
}
