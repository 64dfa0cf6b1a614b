//! The client's life in stories: connect, join, send while offline, lose the connection, retry
//! through a store outage, resume without duplicates.

use client::{ChatState, ConnectionStatus, OutboxState};
use pretty_assertions::assert_eq;
use protocol::{
    ClientFrame, ErrorCode, ErrorFrame, HistoryPage, Member, Message, ServerFrame, Welcome,
};

fn me() -> Member {
    Member {
        user_id: "alice-0001".into(),
        name: "alice".into(),
    }
}

fn message(seq: i64, client_id: &str, user: &str) -> Message {
    Message {
        seq,
        client_id: client_id.into(),
        user_id: user.into(),
        name: user.into(),
        text: format!("text {seq}"),
        ts: seq,
    }
}

fn welcome(messages: Vec<Message>, reset: bool) -> String {
    ServerFrame::Welcome(Welcome {
        you: me(),
        online: vec![me()],
        messages,
        has_more: true,
        reset,
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
        .into_iter()
        .filter_map(|f| match f {
            ClientFrame::Send { client_id, .. } => Some(client_id),
            _ => None,
        })
        .collect()
}

#[test]
fn hello_asks_for_what_was_missed() {
    let mut chat = ChatState::new("lobby", me(), Default::default());
    assert_eq!(
        parse(&chat.opened(0)),
        [ClientFrame::Hello {
            name: "alice".into(),
            user_id: "alice-0001".into(),
            since: None
        }]
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
    let mut chat = ChatState::new("lobby", me(), Default::default());
    assert_eq!(
        chat.compose("  written offline ", "offline-1".into(), 0),
        Ok(vec![])
    );
    assert_eq!(chat.outbox.entries()[0].text, "written offline");
    assert_eq!(
        chat.compose("   ", "offline-2".into(), 0).map(|_| ()),
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
fn a_dropped_connection_resends_with_the_same_client_id_and_resume_dedupes() {
    let mut chat = ChatState::new("lobby", me(), Default::default());
    chat.opened(0);
    chat.received(&welcome(vec![message(1, "c-000001", "bob")], true), 0);
    let frames = chat
        .compose("hello", "hello-msg-1".into(), 1)
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
    let mut chat = ChatState::new("lobby", me(), Default::default());
    chat.opened(0);
    chat.received(&welcome(vec![], true), 0);
    chat.compose("during outage", "outage-msg-1".into(), 100)
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
    assert_eq!(entry.reason(), Some("the message store is unavailable"));
    assert!(sent_ids(&chat.tick(2199).0).is_empty());
    assert_eq!(sent_ids(&chat.tick(2200).0), ["outage-msg-1"]);
}

#[test]
fn heartbeat_finds_a_half_open_connection() {
    let mut chat = ChatState::new("lobby", me(), Default::default());
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
    let mut chat = ChatState::new("lobby", me(), Default::default());
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
    let mut chat = ChatState::new("lobby", me(), Default::default());
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
