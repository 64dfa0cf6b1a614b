//! The chat backend end to end: real Redis, redis-rest, and the Worker with its Durable Objects
//! under Miniflare (`wrangler dev` with the repository's wrangler.toml), driven over real
//! WebSockets and HTTP.

use anyhow::{Context, Result};
use e2e::WsText as WsMessage;
use e2e::{Chat, ChatStack, Incoming, WorkerOptions, user_id};
use pretty_assertions::assert_eq;
use protocol::{ClientFrame, ErrorCode, ErrorFrame, Member, Message, ServerFrame};
use serde_json::json;
use std::time::Duration;

fn error_of(frame: &ServerFrame) -> Option<ErrorFrame> {
    match frame {
        ServerFrame::Error(e) => Some(e.clone()),
        _ => None,
    }
}

fn texts(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.text.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_with_presence_and_typing() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("lobby");
    let (mut alice, welcome) = Chat::join(&url, "alice", "alice-0001", None).await?;
    assert!(welcome.reset && welcome.messages.is_empty());
    let (mut bob, welcome) = Chat::join(&url, "bob", "bob-00001", None).await?;
    let both = vec![
        Member {
            user_id: user_id("alice-0001"),
            name: "alice".into(),
        },
        Member {
            user_id: user_id("bob-00001"),
            name: "bob".into(),
        },
    ];
    assert_eq!(welcome.online, both);
    let joined = alice
        .next_where(|f| match f {
            ServerFrame::Joined { member } => Some(member.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(joined, both[1]);

    bob.send(&ClientFrame::Typing { active: true }).await?;
    let typing = alice
        .next_where(|f| match f {
            ServerFrame::Typing {
                user_id, active, ..
            } => Some((user_id.clone(), *active)),
            _ => None,
        })
        .await?;
    assert_eq!(typing, (user_id("bob-00001"), true));

    alice.say("alice-msg-001", "hi bob").await?;
    let to_bob = bob.messages(1).await?;
    let to_alice = alice.messages(1).await?;
    assert_eq!(
        to_bob, to_alice,
        "the sender gets the same message as its acknowledgement"
    );
    bob.say("bob-msg-0001", "hi alice").await?;
    assert_eq!(texts(&alice.messages(1).await?), ["hi alice"]);
    assert_eq!(texts(&bob.messages(1).await?), ["hi alice"]);

    // The heartbeat is answered by the runtime.
    alice.send_raw(WsMessage::text("ping")).await?;
    assert_eq!(alice.next().await?, Incoming::Text("pong".into()));

    bob.close().await?;
    let left = alice
        .next_where(|f| match f {
            ServerFrame::Left { user_id } => Some(user_id.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(left, user_id("bob-00001"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_see_one_order_equal_to_redis() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let url = stack.ws_url("order");
    let mut clients = Vec::new();
    for i in 0..5 {
        let (chat, _) =
            Chat::join(&url, &format!("user{i}"), &format!("user-000{i}"), None).await?;
        clients.push(chat);
    }
    let mut tasks = Vec::new();
    for (i, mut chat) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..50 {
                chat.say(&format!("c{i}-msg-{n:03}"), &format!("{i}:{n}"))
                    .await?;
            }
            let received = chat.messages(250).await?;
            anyhow::Ok(received)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.push(task.await??);
    }
    until_stored(&stack, "order", 250).await?;
    let stored = stack.stored("order").await?;
    assert_eq!(stored.len(), 250);
    for received in &all {
        assert_eq!(received, &stored, "every client saw exactly Redis's order");
    }
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
    // Each sender's own messages kept their order.
    for i in 0..5 {
        let mine: Vec<String> = stored
            .iter()
            .filter(|m| m.text.starts_with(&format!("{i}:")))
            .map(|m| m.text.clone())
            .collect();
        assert_eq!(
            mine,
            (0..50).map(|n| format!("{i}:{n}")).collect::<Vec<_>>()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_pages_over_websocket_and_http_without_gaps() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let url = stack.ws_url("history");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    for n in 0..500 {
        alice
            .say(&format!("hist-msg-{n:04}"), &format!("m{n}"))
            .await?;
    }
    alice.messages(500).await?;
    until_stored(&stack, "history", 500).await?;
    let stored = stack.stored("history").await?;
    assert_eq!(stored.len(), 500);

    let (mut bob, welcome) = Chat::join(&url, "bob", "bob-00001", None).await?;
    assert!(welcome.reset && welcome.has_more);
    assert_eq!(welcome.messages, stored[450..]);
    let mut collected = welcome.messages;
    loop {
        let before = collected[0].seq;
        bob.send(&ClientFrame::History { before, limit: 100 })
            .await?;
        let page = bob
            .next_where(|f| match f {
                ServerFrame::History(page) => Some(page.clone()),
                _ => None,
            })
            .await?;
        let mut next = page.messages;
        next.extend(collected);
        collected = next;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(collected, stored, "websocket pages");

    let mut collected: Vec<Message> = Vec::new();
    let mut path = "/api/rooms/history/messages?limit=77".to_owned();
    loop {
        let (status, body) = stack.get(&path).await?;
        assert_eq!(status, 200, "{body}");
        let messages: Vec<Message> = serde_json::from_value(body["messages"].clone())?;
        let mut next = messages;
        next.extend(collected);
        collected = next;
        if body["has_more"] != json!(true) {
            break;
        }
        path = format!(
            "/api/rooms/history/messages?limit=77&before={}",
            collected[0].seq
        );
    }
    assert_eq!(collected, stored, "HTTP pages");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_since_gets_exactly_the_missed_messages() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let url = stack.ws_url("resume");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    alice.say("resume-msg-00", "before").await?;
    let bob_has = bob.messages(1).await?;
    bob.close().await?;
    for n in 1..=7 {
        alice
            .say(&format!("resume-msg-{n:02}"), &format!("missed {n}"))
            .await?;
    }
    alice.messages(8).await?;
    let (_, welcome) = Chat::join(&url, "bob", "bob-00001", Some(bob_has[0].seq)).await?;
    assert!(!welcome.reset);
    let stored = stack
        .until_stored(
            "resume",
            welcome.messages.len() + 1,
            Duration::from_secs(10),
        )
        .await?;
    assert_eq!(welcome.messages, stored[1..]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_idempotent_and_messages_survive_a_worker_restart() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("restart");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    alice.say("idem-msg-0001", "exactly once").await?;
    let first = alice.messages(1).await?;
    alice.say("idem-msg-0001", "exactly once").await?;
    assert_eq!(
        alice.messages(1).await?,
        first,
        "a retry is answered with the stored message"
    );

    stack.restart_worker().await?;
    assert!(
        matches!(alice.next().await?, Incoming::Closed(_)),
        "the old socket died with the Worker"
    );
    let (mut alice, welcome) = Chat::join(&url, "alice", "alice-0001", None).await?;
    assert_eq!(
        welcome.messages, first,
        "history read back from the room's log after the restart"
    );
    alice.say("idem-msg-0001", "exactly once").await?;
    assert_eq!(
        alice.messages(1).await?,
        first,
        "still a duplicate after the restart"
    );
    alice.say("idem-msg-0002", "new").await?;
    assert_eq!(texts(&alice.messages(1).await?), ["new"]);
    until_stored(&stack, "restart", 2).await?;
    assert_eq!(
        stack.stored_texts("restart").await?,
        ["exactly once", "new"]
    );
    Ok(())
}

/// Redis goes away: the chat carries on from the room's log, up to `MIRROR_BACKLOG_MAX`
/// unmirrored messages; past that, sends get `store_unavailable` and nothing is lost. When Redis
/// is back, the mirror catches up, in order, each message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_loses_and_duplicates_nothing() -> Result<()> {
    let mut stack =
        ChatStack::start(WorkerOptions::default().var("MIRROR_BACKLOG_MAX", "2")).await?;
    let url = stack.ws_url("outage");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    alice.say("outage-msg-01", "before").await?;
    alice.messages(1).await?;
    bob.messages(1).await?;
    until_stored(&stack, "outage", 1).await?;

    stack.redis().stop()?;
    assert_eq!(stack.get("/api/health/store").await?.0, 503);
    for (id, text) in [("outage-msg-02", "during 1"), ("outage-msg-03", "during 2")] {
        alice.say(id, text).await?;
        assert_eq!(
            texts(&bob.messages(1).await?),
            [text],
            "delivered from the log"
        );
        assert_eq!(texts(&alice.messages(1).await?), [text]);
    }
    // The room says how far behind Redis is, once its mirror has tried (a pass starts at most
    // every 200 ms).
    let (status, health) = e2e::eventually(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let (status, health) = stack.get("/api/rooms/outage/health").await?;
            Ok(if status == 503 {
                Ok((status, health))
            } else {
                Err(format!("{status} {health}"))
            })
        },
    )
    .await?;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["backlog"], json!(2), "{health}");
    assert!(
        health["lag_ms"].as_i64().is_some_and(|ms| ms >= 0),
        "{health}"
    );
    assert!(
        health["failures"].as_i64().is_some_and(|n| n >= 1),
        "{health}"
    );
    assert!(health["committed_seq"].as_i64() > health["mirrored_seq"].as_i64());
    // Two messages wait for Redis: the next send is refused until the mirror catches up.
    alice.say("outage-msg-04", "after the cap").await?;
    let error = alice.next_where(error_of).await?;
    assert_eq!(error.code, ErrorCode::StoreUnavailable);
    assert_eq!(error.client_id.as_deref(), Some("outage-msg-04"));
    assert!(error.retry_after_ms.is_some_and(|ms| ms > 0));
    bob.expect_no_message(Duration::from_millis(500)).await?;

    stack.redis().resume()?;
    until_stored(&stack, "outage", 3).await?;
    // The client retries with the same client_id, possibly twice.
    alice.say("outage-msg-04", "after the cap").await?;
    alice.say("outage-msg-04", "after the cap").await?;
    let bob_got = bob.messages(1).await?;
    assert_eq!(texts(&bob_got), ["after the cap"]);
    let alice_got = alice.messages(2).await?;
    assert!(alice_got.iter().all(|m| m == &bob_got[0]));
    bob.expect_no_message(Duration::from_millis(500)).await?;
    until_stored(&stack, "outage", 4).await?;
    assert_eq!(
        stack.stored_texts("outage").await?,
        ["before", "during 1", "during 2", "after the cap"]
    );
    // The pass that caught up may still be finishing: the room's answer settles within moments.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (status, health) = loop {
        let (status, health) = stack.get("/api/rooms/outage/health").await?;
        if status == 200 || tokio::time::Instant::now() > deadline {
            break (status, health);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        (&health["backlog"], &health["lag_ms"], &health["failures"]),
        (&json!(0), &json!(0), &json!(0)),
        "{health}"
    );
    assert_eq!(health["committed_seq"], health["mirrored_seq"]);
    assert_eq!(stack.stored_ids("outage").await?.len(), 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_are_rate_limited_and_recover() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("limits");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    for n in 0..11 {
        alice
            .say(&format!("burst-msg-{n:02}"), &format!("b{n}"))
            .await?;
    }
    let mut stored_ok = 0;
    let limited = loop {
        match alice.next().await? {
            Incoming::Frame(frame) if !frame.stored_messages().is_empty() => {
                stored_ok += frame.stored_messages().len()
            }
            Incoming::Frame(ServerFrame::Error(e)) => break e,
            other => anyhow::bail!("unexpected {other:?}"),
        }
    };
    assert_eq!(limited.code, ErrorCode::RateLimited);
    assert_eq!(limited.client_id.as_deref(), Some("burst-msg-10"));
    let wait = limited.retry_after_ms.context("retry_after_ms")?;
    alice.messages(10 - stored_ok).await?;
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    alice.say("burst-msg-10", "b10").await?;
    assert_eq!(texts(&alice.messages(1).await?), ["b10"]);
    until_stored(&stack, "limits", 11).await?;
    assert_eq!(stack.stored("limits").await?.len(), 11);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_has_a_defined_outcome() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("bad-input");

    // HTTP-level refusals, before any upgrade.
    assert_eq!(stack.get("/api/rooms/Bad%20Room/ws").await?.0, 400);
    assert_eq!(
        stack
            .get(&format!("/api/rooms/{}/messages", "r".repeat(65)))
            .await?
            .0,
        400
    );
    assert_eq!(stack.get("/api/rooms/lobby/ws").await?.0, 426);
    assert_eq!(
        stack.get("/api/rooms/lobby/messages?limit=1000").await?.0,
        400
    );
    assert_eq!(stack.get("/api/nothing-here").await?.0, 404);
    let refused = Chat::connect(&stack.ws_url("Bad"), None).await;
    assert!(refused.is_err_and(|e| format!("{e:#}").contains("400")));
    let refused = Chat::connect(&url, Some("https://evil.example")).await;
    assert!(refused.is_err_and(|e| format!("{e:#}").contains("403")));
    Chat::connect(&url, Some(&stack.base_url()))
        .await?
        .close()
        .await?;

    // Frames before hello.
    let mut fresh = Chat::connect(&url, None).await?;
    for (input, code) in [
        ("{not json", ErrorCode::BadRequest),
        (r#"{"type":"shout"}"#, ErrorCode::BadRequest),
        (
            r#"{"type":"send","client_id":"abcdefgh","text":"hi"}"#,
            ErrorCode::NotJoined,
        ),
        (
            r#"{"type":"hello","name":"  ","secret":"abcdefghabcdefghabcdefgh"}"#,
            ErrorCode::InvalidName,
        ),
        (
            r#"{"type":"hello","name":"a\u0007","secret":"abcdefghabcdefghabcdefgh"}"#,
            ErrorCode::InvalidName,
        ),
        (
            r#"{"type":"hello","name":"alice","secret":"bad secret with spaces"}"#,
            ErrorCode::BadRequest,
        ),
    ] {
        fresh.send_raw(WsMessage::text(input)).await?;
        assert_eq!(fresh.next_where(error_of).await?.code, code, "{input}");
    }

    // Frames after hello.
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let long = format!(
        r#"{{"type":"send","client_id":"abcdefgh","text":"{}"}}"#,
        "x".repeat(2001)
    );
    for (input, code) in [
        (
            r#"{"type":"send","client_id":"abcdefgh","text":"   "}"#,
            ErrorCode::InvalidText,
        ),
        (long.as_str(), ErrorCode::InvalidText),
        (
            r#"{"type":"send","client_id":"abcdefgh","text":"a\u0000b"}"#,
            ErrorCode::InvalidText,
        ),
        (
            r#"{"type":"send","client_id":"short","text":"hi"}"#,
            ErrorCode::BadRequest,
        ),
        (
            r#"{"type":"history","before":1,"limit":0}"#,
            ErrorCode::BadRequest,
        ),
        (
            r#"{"type":"hello","name":"alice","secret":"alice-000100000000000000"}"#,
            ErrorCode::BadRequest,
        ),
    ] {
        alice.send_raw(WsMessage::text(input)).await?;
        assert_eq!(alice.next_where(error_of).await?.code, code, "{input}");
    }
    alice.send_raw(WsMessage::binary(vec![1u8, 2, 3])).await?;
    assert_eq!(
        alice.next_where(error_of).await?.code,
        ErrorCode::BadRequest
    );
    alice.say("still-works-1", "still works").await?;
    assert_eq!(texts(&alice.messages(1).await?), ["still works"]);

    // An oversize frame closes the connection with 1009.
    alice
        .send_raw(WsMessage::text(" ".repeat(protocol::FRAME_MAX_BYTES + 1)))
        .await?;
    let closed = loop {
        match alice.next().await? {
            Incoming::Closed(code) => break code,
            _ => continue,
        }
    };
    assert_eq!(closed, Some(protocol::CLOSE_TOO_BIG));
    until_stored(&stack, "bad-input", 1).await?;
    assert_eq!(stack.stored_texts("bad-input").await?, ["still works"]);
    Ok(())
}

/// Waits until Redis holds `count` messages in `room`.
async fn until_stored(stack: &ChatStack, room: &str, count: usize) -> Result<()> {
    stack
        .until_stored(room, count, Duration::from_secs(10))
        .await
        .map(drop)
}

/// A mirror write held past the Worker's store timeout lands late, after the mirror has
/// written the same batch again: delivery never waited for it, and Redis holds each message
/// once, in `seq` order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_held_past_the_store_timeout_is_neither_lost_nor_doubled() -> Result<()> {
    let stack = ChatStack::start(
        WorkerOptions::unlimited()
            .var("STORE_TIMEOUT_MS", "400")
            .with_proxy(),
    )
    .await?;
    let proxy = stack.proxy.as_ref().context("proxy")?;
    let url = stack.ws_url("late");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;

    proxy.hold_next_write(Duration::from_millis(1500));
    alice.say("late-msg-0001", "held then landed").await?;
    assert_eq!(texts(&alice.messages(1).await?), ["held then landed"]);
    assert_eq!(texts(&bob.messages(1).await?), ["held then landed"]);
    bob.say("bob-meanwhile-1", "bob meanwhile").await?;
    assert_eq!(texts(&bob.messages(1).await?), ["bob meanwhile"]);
    assert_eq!(texts(&alice.messages(1).await?), ["bob meanwhile"]);
    until_stored(&stack, "late", 2).await?;
    // Past the held write's landing: still each once.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let stored = stack.stored("late").await?;
    assert_eq!(texts(&stored), ["held then landed", "bob meanwhile"]);
    assert!(stored.windows(2).all(|w| w[0].seq < w[1].seq));
    let ids = stack.stored_ids("late").await?;
    assert_eq!(ids.len(), 2, "one dedupe id per stored message: {ids:?}");
    bob.expect_no_message(Duration::from_millis(300)).await?;
    Ok(())
}

/// The mirror script against Redis through redis-rest: a replayed batch (a timeout that Redis
/// applied, a restarted room) changes nothing, a changed message replaces the member at its
/// `seq` and its reactions the hash's field, a member nobody can read changes nothing, and the
/// sets and the hash are trimmed together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mirror_script_replaces_by_seq_and_ignores_junk_in_redis() -> Result<()> {
    let rest = e2e::RestStack::start(testkit::TestRedis::local()?).await?;
    let store = rest.store();
    let message = |seq: i64, client_id: &str| Message {
        seq,
        client_id: client_id.into(),
        user_id: "u-one".into(),
        name: "n".into(),
        text: format!("#{seq}"),
        ts: seq,
        ..Default::default()
    };
    let mirror = |messages: Vec<Message>| {
        let rows: Vec<room::mirror::MirrorRow> = messages.iter().map(Into::into).collect();
        let command = room::mirror::mirror_command("mirror", &rows, 4);
        let store = &store;
        async move {
            let reply = store.command(&command).await?;
            room::mirror::parse_mirror_reply(&reply).context("the script's reply")
        }
    };
    let card = |key: String| {
        let store = &store;
        async move {
            anyhow::Ok(
                store
                    .command(&upstash::Command::new("ZCARD").arg(key))
                    .await?
                    .into_int()?,
            )
        }
    };
    let reactions = || {
        let store = &store;
        async move {
            let reply = store
                .command(
                    &upstash::Command::new("HGETALL").arg(room::store::reactions_key("mirror")),
                )
                .await?
                .into_bytes_list()?;
            anyhow::Ok(
                reply
                    .iter()
                    .map(|part| String::from_utf8_lossy(part).into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        }
    };
    let tail = || {
        let store = &store;
        async move {
            let newest_first = store
                .zrange_by_score(&room::store::key("mirror"), &room::store::tail_query(10))
                .await?;
            anyhow::Ok(room::store::parse_newest_first(newest_first))
        }
    };
    assert_eq!(
        mirror(vec![message(10, "c10"), message(11, "c11")]).await?,
        2
    );
    mirror(vec![message(10, "c10"), message(11, "c11")]).await?;
    assert_eq!(
        card(room::store::key("mirror")).await?,
        2,
        "a replay adds nothing"
    );
    // An edit and a reaction: the member at 10 is replaced, the reaction goes to the hash.
    let changed = Message {
        text: "edited".into(),
        rev: Some(12),
        reactions: vec![protocol::Reaction {
            emoji: "👍".into(),
            user_ids: vec!["u-two".into()],
        }],
        ..message(10, "c10")
    };
    mirror(vec![changed.clone()]).await?;
    assert_eq!(tail().await?, [changed.clone(), message(11, "c11")]);
    assert!(
        reactions().await?.contains("u-two"),
        "{}",
        reactions().await?
    );
    // The reaction taken off: the field goes.
    let plain = Message {
        reactions: Vec::new(),
        rev: Some(13),
        ..changed
    };
    mirror(vec![plain.clone()]).await?;
    assert!(
        !reactions().await?.contains("u-two"),
        "{}",
        reactions().await?
    );
    let reacted = Message {
        rev: Some(14),
        reactions: vec![protocol::Reaction {
            emoji: "🎉".into(),
            user_ids: vec!["u-two".into()],
        }],
        ..plain
    };
    mirror(vec![reacted]).await?;
    assert!(reactions().await?.contains("🎉"), "{}", reactions().await?);
    // Junk at the top of the room, as a manual write or a schema change leaves it.
    store
        .command(
            &upstash::Command::new("ZADD")
                .arg(room::store::key("mirror"))
                .arg(99_999_999_999_999_i64)
                .arg("not json"),
        )
        .await?;
    mirror(vec![
        message(11, "c11"),
        message(12, "c12"),
        message(13, "c13"),
    ])
    .await?;
    // Trimmed to the newest 4, the junk among them; the ids to 4 as well, and the reactions of
    // what was trimmed (10) go with it.
    assert_eq!(card(room::store::key("mirror")).await?, 4);
    assert_eq!(card(room::store::ids_key("mirror")).await?, 4);
    assert!(!reactions().await?.contains("🎉"), "{}", reactions().await?);
    let seqs: Vec<i64> = tail().await?.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, [11, 12, 13], "readers skip what they cannot read");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_room_refuses_clearly_and_http_history_is_rate_limited() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default().var("MAX_CONNECTIONS", "2")).await?;
    let url = stack.ws_url("full");
    let (_alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (_bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    let mut third = Chat::connect(&url, None).await?;
    let error = third.next_where(error_of).await?;
    assert_eq!(error.code, ErrorCode::RoomFull);
    assert!(error.retry_after_ms.is_some());
    loop {
        match third.next().await? {
            Incoming::Closed(code) => {
                assert_eq!(code, Some(room::CLOSE_TRY_AGAIN_LATER));
                break;
            }
            _ => continue,
        }
    }

    // A loop over the history endpoint is held back at the edge before it costs the store.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(stack.get("/api/rooms/full/messages?limit=5").await?.0);
    }
    assert_eq!(statuses[0], 200);
    assert!(statuses.contains(&429), "{statuses:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_history_limit_stops_the_chat_with_a_clear_error() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default().var("HISTORY_LIMIT", "0.5")).await?;
    let (status, body) = stack.get("/api/health").await?;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        json!("the chat is misconfigured: HISTORY_LIMIT must be an integer ≥ 1, got \"0.5\"")
    );
    assert!(
        Chat::join(&stack.ws_url("any"), "a", "alice-0001", None)
            .await
            .is_err()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_room_batches_typing_notices_by_alarm() -> Result<()> {
    // Two members count as busy here, so the batching path (a Durable Object alarm) runs.
    let stack = ChatStack::start(WorkerOptions::default().var("TYPING_BATCH_MEMBERS", "2")).await?;
    let url = stack.ws_url("busy-typing");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    bob.send(&ClientFrame::Typing { active: true }).await?;
    let notices = alice
        .next_where(|f| match f {
            ServerFrame::TypingBatch { notices } => Some(notices.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(
        notices,
        vec![protocol::TypingNotice {
            user_id: user_id("bob-00001"),
            name: "bob".into(),
            active: true,
        }]
    );
    Ok(())
}

/// A tab left open across a deploy: its hello names a protocol version the new Worker does not
/// speak (or none, as the hello before identities were derived did). The Worker answers with
/// the frame every client since protocol 2 understands, and closes; protocol 1 (a hello without
/// a version, the pages open before this frame existed) is still served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_clients_hello_gets_the_defined_answer() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("lobby");
    let secret = e2e::secret("old-tab-1");
    for hello in [
        r#"{"type":"hello","name":"old","user_id":"u1234567"}"#.to_owned(),
        format!(r#"{{"type":"hello","protocol":99,"name":"new","secret":"{secret}"}}"#),
    ] {
        let mut old = Chat::connect(&url, None).await?;
        old.send_raw(WsMessage::text(hello.clone())).await?;
        let frame = old.next().await?;
        let Incoming::Frame(ServerFrame::UnsupportedProtocol {
            oldest,
            newest,
            message,
        }) = frame
        else {
            anyhow::bail!("{hello} was answered {frame:?}");
        };
        assert_eq!(
            (oldest, newest),
            (protocol::OLDEST_PROTOCOL, protocol::PROTOCOL_VERSION)
        );
        assert!(message.contains("reload"), "{message}");
        let closed = old.next().await?;
        assert!(
            matches!(closed, Incoming::Closed(Some(code)) if code == protocol::CLOSE_UNSUPPORTED_PROTOCOL),
            "{closed:?}"
        );
    }
    let mut v1 = Chat::connect(&url, None).await?;
    v1.send_raw(WsMessage::text(format!(
        r#"{{"type":"hello","name":"v1","secret":"{secret}"}}"#
    )))
    .await?;
    let welcome = v1
        .next_where(|f| match f {
            ServerFrame::Welcome(w) => Some(w.clone()),
            _ => None,
        })
        .await?;
    assert_eq!(welcome.you.name, "v1");
    Ok(())
}

/// Opens a socket to `url` as a client at `ip`, or without `CF-Connecting-IP` when `None`.
async fn open_from(url: &str, ip: Option<&str>) -> Result<Chat> {
    match ip {
        Some(ip) => Chat::connect_from(url, ip).await,
        None => Chat::connect(url, None).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_limits_key_ipv6_by_its_64_and_headerless_clients_share_one_key() -> Result<()>
{
    let stack = ChatStack::start(
        WorkerOptions::default()
            .var("MAX_CONNECTIONS_PER_IP", "2")
            .var("HTTP_HISTORY_BURST", "2")
            .var("HTTP_HISTORY_PER_SECOND", "0.001"),
    )
    .await?;
    let url = stack.ws_url("addresses");
    let welcomed = |ip: Option<&'static str>, label: &'static str| {
        let url = url.clone();
        async move {
            let chat = open_from(&url, ip).await?;
            let (chat, _) = chat.hello(label, label, None).await?;
            anyhow::Ok(chat)
        }
    };
    let turned_away = |ip: Option<&'static str>| {
        let url = url.clone();
        async move {
            let mut chat = open_from(&url, ip).await?;
            let error = chat
                .next_where(error_of)
                .await
                .with_context(|| format!("a third connection from {ip:?} was not turned away"))?;
            anyhow::Ok(error.code)
        }
    };

    // The room: two addresses of one /64 take the two places an address has, so a third one is
    // turned away; the next /64 is someone else. Miniflare passes the header through, so this
    // is the Worker reading it.
    let _a1 = welcomed(Some("2001:db8:aa:1::1"), "a1").await?;
    let _a2 = welcomed(Some("2001:db8:aa:1:ffff:ffff:ffff:fffe"), "a2").await?;
    assert_eq!(
        turned_away(Some("2001:db8:aa:1::3")).await?,
        ErrorCode::RoomFull
    );
    let _b1 = welcomed(Some("2001:db8:aa:2::1"), "b1").await?;
    // Connections without the header are one address too, not an unlimited one. Miniflare, like
    // Cloudflare, fills the header in from the client's socket (127.0.0.1 here, as the edge check
    // below shows), so a header missing at the Worker itself is left to the room's and
    // `address_key`'s own tests.
    let _n1 = welcomed(None, "n1").await?;
    let _n2 = welcomed(None, "n2").await?;
    assert_eq!(turned_away(None).await?, ErrorCode::RoomFull);

    // The edge: the history endpoint allows each address a burst of two pages, counted by the
    // same keys.
    let path = "/api/rooms/addresses/messages?limit=1";
    let mut statuses = Vec::new();
    for ip in [
        Some("2001:db8:aa:1::1"),
        Some("2001:db8:aa:1::2"),
        Some("2001:db8:aa:1:8000::9"),
        Some("2001:db8:aa:2::1"),
        Some("198.51.100.7"),
        Some("::ffff:198.51.100.7"),
        Some("198.51.100.7"),
        None,
        None,
        None,
        Some("127.0.0.1"),
    ] {
        statuses.push((ip, stack.get_from(path, ip).await?.0));
    }
    assert_eq!(
        statuses,
        [
            (Some("2001:db8:aa:1::1"), 200),
            (Some("2001:db8:aa:1::2"), 200),
            (Some("2001:db8:aa:1:8000::9"), 429),
            (Some("2001:db8:aa:2::1"), 200),
            (Some("198.51.100.7"), 200),
            (Some("::ffff:198.51.100.7"), 200),
            (Some("198.51.100.7"), 429),
            (None, 200),
            (None, 200),
            (None, 429),
            (Some("127.0.0.1"), 429),
        ]
    );
    Ok(())
}

/// Milliseconds since the epoch, the clock the web client reads.
fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// 100 messages written offline, then the connection comes back: the web client's own state
/// (`client::ChatState`, ticked every second as the page does) sends them at the room's pace,
/// and every one is stored once; none runs out of attempts on `rate_limited`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_of_100_offline_messages_is_stored_once_each() -> Result<()> {
    use client::{ChatState, Outbox, OutboxState, Secret};
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut state = ChatState::new(
        "backlog",
        "alice",
        Secret::new(e2e::secret("backlog-1")),
        Outbox::default(),
    );
    for i in 0..100 {
        let sent = state
            .compose(
                &format!("offline #{i}"),
                None,
                format!("backlog-{i:04}"),
                epoch_ms(),
            )
            .map_err(anyhow::Error::msg)?;
        assert!(sent.is_empty(), "nothing goes out while disconnected");
    }
    let mut chat = Chat::connect(&stack.ws_url("backlog"), None).await?;
    let mut outgoing = state.opened(epoch_ms());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    let mut next_tick = tokio::time::Instant::now() + Duration::from_secs(1);
    while !state.outbox.is_empty() {
        for frame in outgoing.drain(..) {
            chat.send_raw(WsMessage::text(frame)).await?;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{} messages left after 90 s",
            state.outbox.entries().len()
        );
        let failed: Vec<_> = state
            .outbox
            .entries()
            .iter()
            .filter(|e| matches!(e.state, OutboxState::Failed { .. }))
            .collect();
        anyhow::ensure!(failed.is_empty(), "failed: {failed:?}");
        let wait = next_tick.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(wait, chat.next()).await {
            Ok(Ok(Incoming::Frame(frame))) => {
                outgoing = state.received(&frame.to_json(), epoch_ms());
            }
            Ok(Ok(Incoming::Text(text))) => outgoing = state.received(&text, epoch_ms()),
            Ok(Ok(Incoming::Closed(code))) => anyhow::bail!("the room closed ({code:?})"),
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                next_tick += Duration::from_secs(1);
                let (frames, dead) = state.tick(epoch_ms());
                anyhow::ensure!(!dead, "the heartbeat declared the socket dead");
                outgoing = frames;
            }
        }
    }
    // Once each; the order may differ where a refused send was overtaken.
    until_stored(&stack, "backlog", 100).await?;
    let mut stored = stack.stored_texts("backlog").await?;
    stored.sort();
    let mut expected: Vec<String> = (0..100).map(|i| format!("offline #{i}")).collect();
    expected.sort();
    assert_eq!(stored, expected);
    Ok(())
}

/// How many PING commands Redis has run, from `INFO commandstats`.
fn redis_pings(stack: &ChatStack) -> Result<u64> {
    let info = stack.rest.redis.raw_command(&["INFO", "commandstats"])?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_ping:"))
        .and_then(|stats| stats.split(',').find_map(|kv| kv.strip_prefix("calls=")))
        .map(|calls| calls.trim().parse())
        .transpose()
        .context("cmdstat_ping calls")?
        .unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_loop_costs_the_store_at_most_one_ping() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let before = redis_pings(&stack)?;

    // Liveness is answered by the Worker alone: a loop of it never reaches Redis.
    for _ in 0..30 {
        assert_eq!(
            stack.get("/api/health").await?,
            (200, json!({"status": "ok"}))
        );
    }
    assert_eq!(redis_pings(&stack)?, before, "liveness asked the store");

    // The store's health asks Redis once, then answers from the isolate's cache, and a loop
    // from one address is held back at the edge.
    let mut statuses = Vec::new();
    for _ in 0..40 {
        let (status, body) = stack.get("/api/health/store").await?;
        if status == 200 {
            assert_eq!(body, json!({"status": "ok"}));
        }
        statuses.push(status);
    }
    assert_eq!(statuses[0], 200);
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses.contains(&429), "not rate-limited: {statuses:?}");
    assert_eq!(
        redis_pings(&stack)? - before,
        1,
        "40 store health checks cost more than one PING"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_store_timeout_stops_the_chat_with_a_clear_error() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default().var("STORE_TIMEOUT_MS", "0")).await?;
    let (status, body) = stack.get("/api/health").await?;
    assert_eq!(status, 500);
    assert_eq!(
        body["error"],
        json!("the chat is misconfigured: STORE_TIMEOUT_MS must be an integer ≥ 1, got \"0\"")
    );
    Ok(())
}

/// How many `EVAL`s Redis has run (`INFO commandstats`).
async fn evals(stack: &ChatStack) -> Result<i64> {
    let info = stack
        .store()
        .command(&upstash::Command::new("INFO").arg("commandstats"))
        .await?
        .into_string()?;
    Ok(info
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_eval:calls="))
        .and_then(|rest| rest.split(',').next())
        .and_then(|calls| calls.parse().ok())
        .unwrap_or(0))
}

/// The readable messages Redis holds for `room`, ascending (junk skipped, as every reader does).
async fn readable(stack: &ChatStack, room: &str) -> Result<Vec<Message>> {
    let newest_first = stack
        .store()
        .zrange_by_score(&room::store::key(room), &room::store::tail_query(10_000))
        .await?;
    Ok(room::store::parse_newest_first(newest_first))
}

/// A room that lived in Redis before the log existed, with a member nobody can read at its top
/// (a manual write, a schema change): its log starts from Redis's tail, the junk is skipped and
/// never trusted for ordering, sends are answered, and the mirror does not spin on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_from_redis_with_junk_on_top_upgrades_and_never_wedges() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    // More than one INSERT's worth (25 rows), as most rooms that lived in Redis hold.
    let old: Vec<Message> = (1..=40)
        .map(|n| Message {
            seq: 1_700_000_000_000 + n,
            client_id: format!("old-msg-{n:04}"),
            user_id: "u-old".into(),
            name: "old".into(),
            text: format!("from before the log {n}"),
            ts: 1_700_000_000_000 + n,
            ..Default::default()
        })
        .collect();
    let mut zadd = upstash::Command::new("ZADD").arg(room::store::key("upgraded"));
    for message in &old {
        zadd = zadd.arg(message.seq).arg(message.to_json());
    }
    zadd = zadd
        .arg(9_000_000_000_000_i64)
        .arg("{\"not\": \"a message\"");
    stack.store().command(&zadd).await?;

    let url = stack.ws_url("upgraded");
    let (mut alice, welcome) = Chat::join(&url, "alice", "alice-0001", None).await?;
    assert_eq!(
        welcome.messages, old,
        "the log started from Redis, junk skipped"
    );
    let before = evals(&stack).await?;
    alice.say("new-msg-0001", "after the upgrade").await?;
    let got = alice.messages(1).await?;
    assert_eq!(texts(&got), ["after the upgrade"]);
    assert!(got[0].seq > old[39].seq && got[0].seq < 9_000_000_000_000);
    // Mirrored below the junk, which stays where it was.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let texts_now = texts(&readable(&stack, "upgraded").await?);
        if texts_now.len() == 41 {
            assert_eq!(texts_now[40], "after the upgrade");
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "never mirrored: {texts_now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Quiet for a while: the mirror does not loop (today's wedge ran 160 EVALs a second).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = evals(&stack).await? - before;
    assert!(spent <= 3, "{spent} EVALs for one message");
    Ok(())
}

/// Messages committed while Redis is away, then the Worker restarts with them unmirrored and
/// nobody connects: the alarm finishes the mirror once Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_with_an_unmirrored_backlog_mirrors_it_with_nobody_there() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("backlog-restart");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    stack.redis().stop()?;
    for n in 0..3 {
        alice
            .say(&format!("backlog-msg-{n:03}"), &format!("unmirrored {n}"))
            .await?;
    }
    assert_eq!(alice.messages(3).await?.len(), 3, "delivered from the log");
    stack.stop_worker();
    stack.redis().resume()?;
    stack.start_worker().await?;
    stack
        .until_stored("backlog-restart", 3, Duration::from_secs(90))
        .await?;
    assert_eq!(
        stack.stored_texts("backlog-restart").await?,
        ["unmirrored 0", "unmirrored 1", "unmirrored 2"]
    );
    Ok(())
}

/// Redis away for a minute while ten people talk: nobody notices, and afterwards Redis holds
/// every message once, in the order everyone saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minute_without_redis_is_invisible_to_ten_people() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let url = stack.ws_url("long-outage");
    let mut clients = Vec::new();
    for i in 0..10 {
        let (chat, _) =
            Chat::join(&url, &format!("u{i}"), &format!("outage-user-{i}"), None).await?;
        clients.push(chat);
    }
    stack.redis().stop()?;
    let rounds = 30;
    let mut tasks = Vec::new();
    for (i, mut chat) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for n in 0..rounds {
                chat.say(&format!("o{i}-msg-{n:03}"), &format!("{i}:{n}"))
                    .await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            chat.messages(10 * rounds).await
        }));
    }
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await??);
    }
    stack.redis().resume()?;
    for received in &seen {
        assert_eq!(
            received, &seen[0],
            "everyone saw the same messages in the same order"
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while stack.stored("long-outage").await?.len() < 10 * rounds {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "Redis never caught up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(stack.stored("long-outage").await?, seen[0]);
    assert_eq!(stack.stored_ids("long-outage").await?.len(), 10 * rounds);
    Ok(())
}

/// A burst faster than the room commits: the sends that wait form batches of up to 50, more
/// rows than one SQLite statement may carry, and every message is delivered and stored once,
/// in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_commits_in_large_batches_and_loses_nothing() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let url = stack.ws_url("burst");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    for n in 0..300 {
        alice
            .say(&format!("burst-msg-{n:04}"), &format!("b{n}"))
            .await?;
    }
    let expected: Vec<String> = (0..300).map(|n| format!("b{n}")).collect();
    assert_eq!(texts(&bob.messages(300).await?), expected);
    assert_eq!(texts(&alice.messages(300).await?), expected);
    until_stored(&stack, "burst", 300).await?;
    assert_eq!(stack.stored_texts("burst").await?, expected);
    Ok(())
}

/// The `updated` frame's messages, next on `chat`.
async fn next_updated(chat: &mut Chat) -> Result<Vec<Message>> {
    chat.next_where(|f| match f {
        ServerFrame::Updated { messages } => Some(messages.clone()),
        _ => None,
    })
    .await
}

/// The next `applied` confirmation's `client_id`, or the next error's code, on `chat`.
async fn next_answer(chat: &mut Chat) -> Result<std::result::Result<String, ErrorCode>> {
    chat.next_where(|f| match f {
        ServerFrame::Applied { client_id, .. } => Some(Ok(client_id.clone())),
        ServerFrame::Error(e) => Some(Err(e.code)),
        _ => None,
    })
    .await
}

/// Edits, deletions, reactions and replies through the real Worker: everyone sees them live,
/// the room checks who may, Redis holds each message once as it is now with the reactions in
/// their hash, and a client that was away (across a restart of the Worker, too) resumes from
/// its revision to the current state without a reset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_are_edited_deleted_reacted_to_and_replied_to_everywhere() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let url = stack.ws_url("actions");
    let (mut alice, _) = Chat::join(&url, "alice", "alice-0001", None).await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    alice.say("first-msg-0001", "helo wrld").await?;
    let original = alice.messages(1).await?.remove(0);
    bob.messages(1).await?;

    let edit = |client_id: &str, seq, text: &str| ClientFrame::Edit {
        client_id: client_id.into(),
        seq,
        text: text.into(),
    };
    bob.send(&edit("bob-edit-00001", original.seq, "mine"))
        .await?;
    assert_eq!(next_answer(&mut bob).await?, Err(ErrorCode::NotAllowed));
    alice
        .send(&edit("ali-edit-00001", original.seq, "hello world"))
        .await?;
    let edited = next_updated(&mut bob).await?;
    assert_eq!(texts(&edited), ["hello world"]);
    assert!(edited[0].edited_ts.is_some());
    assert_eq!(next_answer(&mut alice).await?, Ok("ali-edit-00001".into()));

    bob.send(&ClientFrame::React {
        client_id: "bob-react-0001".into(),
        seq: original.seq,
        emoji: "👍".into(),
        on: true,
    })
    .await?;
    let reacted = next_updated(&mut alice).await?;
    assert_eq!(reacted[0].reactions[0].user_ids, [user_id("bob-00001")]);
    assert_eq!(next_answer(&mut bob).await?, Ok("bob-react-0001".into()));

    bob.send(&ClientFrame::Send {
        client_id: "bob-reply-0001".into(),
        text: "what?".into(),
        reply_to: Some(original.seq),
    })
    .await?;
    let reply = alice.messages(1).await?.remove(0);
    let quote = reply.reply.clone().context("the reply quotes")?;
    assert_eq!(
        (quote.seq, quote.text.as_str()),
        (original.seq, "hello world")
    );
    bob.messages(1).await?;

    // A third person is here, then away while the message is deleted and the reply edited.
    let (carol, welcome) = Chat::join(&url, "carol", "carol-0001", None).await?;
    let cursor = welcome
        .rev
        .context("a protocol-3 welcome has the revision")?;
    carol.close().await?;
    alice
        .send(&ClientFrame::Delete {
            client_id: "ali-delete-001".into(),
            seq: original.seq,
        })
        .await?;
    let deleted = next_updated(&mut bob).await?;
    assert_eq!(deleted.len(), 2, "the original and the reply's quote");
    assert!(deleted[0].deleted && deleted[0].text.is_empty() && deleted[0].reactions.is_empty());
    assert_eq!(deleted[1].reply.as_ref().map(|q| q.deleted), Some(true));
    assert_eq!(next_updated(&mut alice).await?, deleted);
    bob.send(&edit("bob-edit-00002", reply.seq, "what was that?"))
        .await?;
    let current = next_updated(&mut alice).await?.remove(0);
    assert_eq!(current.text, "what was that?");

    let (carol, welcome) = Chat::join(&url, "carol", "carol-0001", Some(cursor)).await?;
    assert!(!welcome.reset);
    assert_eq!(welcome.messages, [deleted[0].clone(), current.clone()]);
    let cursor = welcome.rev.context("the revision")?;
    carol.close().await?;

    // Redis holds each message once, as it is now, and no reactions (the one went with the
    // deletion).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let held = readable(&stack, "actions").await?;
        if held == [deleted[0].clone(), current.clone()] {
            break;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "Redis never caught up: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let raw = stack
        .store()
        .command(
            &upstash::Command::new("ZRANGE")
                .arg(room::store::key("actions"))
                .arg(0)
                .arg(-1),
        )
        .await?
        .into_bytes_list()?;
    assert!(
        raw.iter()
            .all(|m| !String::from_utf8_lossy(m).contains("helo")),
        "the deleted text is gone from Redis"
    );
    let hash_len = |stack: &ChatStack| {
        let store = stack.store();
        async move {
            anyhow::Ok(
                store
                    .command(
                        &upstash::Command::new("HLEN").arg(room::store::reactions_key("actions")),
                    )
                    .await?
                    .into_int()?,
            )
        }
    };
    assert_eq!(hash_len(&stack).await?, 0);

    // The Worker restarts: the log keeps the revisions, so a resume from the cursor brings
    // nothing again, and a reaction after it reaches the hash.
    stack.restart_worker().await?;
    let (mut carol, welcome) = Chat::join(&url, "carol", "carol-0001", Some(cursor)).await?;
    assert_eq!((welcome.reset, welcome.messages.len()), (false, 0));
    carol
        .send(&ClientFrame::React {
            client_id: "car-react-0001".into(),
            seq: reply.seq,
            emoji: "🎉".into(),
            on: true,
        })
        .await?;
    assert_eq!(next_answer(&mut carol).await?, Ok("car-react-0001".into()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while hash_len(&stack).await? != 1 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the reaction never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Bob edits his reply once more; the Worker restarts; his earlier edit, retried (its
    // confirmation lost), is confirmed and not applied again: the log remembers it.
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    bob.send(&edit("bob-edit-00003", reply.seq, "third version"))
        .await?;
    assert_eq!(next_answer(&mut bob).await?, Ok("bob-edit-00003".into()));
    stack.restart_worker().await?;
    let (mut bob, _) = Chat::join(&url, "bob", "bob-00001", None).await?;
    bob.send(&edit("bob-edit-00002", reply.seq, "what was that?"))
        .await?;
    assert_eq!(next_answer(&mut bob).await?, Ok("bob-edit-00002".into()));
    let (_, welcome) = Chat::join(&url, "dave", "dave-00001", None).await?;
    let shown = welcome.messages.iter().find(|m| m.seq == reply.seq);
    assert_eq!(shown.map(|m| m.text.as_str()), Some("third version"));
    Ok(())
}
