//! Stories of a room: each test joins people, sends, fails the store, restarts, and checks what
//! everyone saw and what the store holds.

use crate::harness::{ALICE, BOB, CAROL, Harness, RedisMode, StoreMode, T0, texts, unlimited};
use pretty_assertions::assert_eq;
use protocol::{ClientFrame, ErrorCode, HistoryPage, Member, ServerFrame};
use room::RoomConfig;

/// The public user id of the holder of `secret`.
fn uid(secret: &str) -> String {
    room::identity::user_id(secret)
}

fn member(name: &str, secret: &str) -> Member {
    Member {
        user_id: uid(secret),
        name: name.into(),
    }
}

fn seqs(messages: &[protocol::Message]) -> Vec<i64> {
    messages.iter().map(|m| m.seq).collect()
}

#[test]
fn joining_welcomes_and_tells_the_others() {
    let mut h = Harness::new();
    let (alice, welcome) = h.join("alice", ALICE, None);
    assert_eq!(welcome.you, member("alice", ALICE));
    assert_eq!(welcome.online, vec![member("alice", ALICE)]);
    assert!(welcome.messages.is_empty() && welcome.reset && !welcome.has_more);

    let (bob, welcome) = h.join("  bob ", BOB, None);
    assert_eq!(welcome.you, member("bob", BOB), "the name is trimmed");
    let both = vec![member("alice", ALICE), member("bob", BOB)];
    assert_eq!(welcome.online, both);
    assert_eq!(
        h.take(alice),
        vec![ServerFrame::Joined {
            member: member("bob", BOB)
        }],
        "a join costs one small frame per member, not the roster"
    );

    // A second tab of Bob's changes nothing for Alice.
    let (bob2, _) = h.join("bob", BOB, None);
    assert!(h.take(alice).is_empty());
    h.close(bob2);
    assert!(
        h.take(alice).is_empty(),
        "bob is still online in his first tab"
    );
    h.close(bob);
    assert_eq!(h.take(alice), vec![ServerFrame::Left { user_id: uid(BOB) }]);
}

#[test]
fn a_message_is_stored_then_delivered_to_everyone_sender_included() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.send(alice, "msg-00000001", "  hello <b>bob</b>  ");
    let stored = h.stored();
    assert_eq!(stored.len(), 1);
    let message = &stored[0];
    assert_eq!(
        (message.seq, message.text.as_str(), message.name.as_str()),
        (T0, "hello <b>bob</b>", "alice")
    );
    assert_eq!(message.client_id, "msg-00000001");
    assert_eq!(h.take_messages(alice), stored);
    assert_eq!(h.take_messages(bob), stored);
}

#[test]
fn equal_timestamps_still_give_one_strict_order() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    // The clock does not move (Workers' Date.now() only advances after I/O).
    for i in 0..5 {
        h.send(alice, &format!("alice-msg-{i}"), &format!("a{i}"));
        h.send(bob, &format!("bobby-msg-{i}"), &format!("b{i}"));
    }
    let stored = h.stored();
    assert_eq!(seqs(&stored), (0..10).map(|i| T0 + i).collect::<Vec<_>>());
    assert_eq!(h.take_messages(alice), stored);
    assert_eq!(h.take_messages(bob), stored);
    // Time moving on (even backwards) never breaks the order.
    h.advance(5);
    h.send(alice, "alice-msg-late", "late");
    h.advance(-100);
    h.send(alice, "alice-msg-skew", "skew");
    let seqs = seqs(&h.stored());
    assert_eq!(seqs[10..], [T0 + 10, T0 + 11]);
}

#[test]
fn sends_during_a_write_are_grouped_into_the_next_one() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.hold_io = true;
    h.send(alice, "first-msg-1", "one");
    assert_eq!(h.held.len(), 1, "the first send starts a write at once");
    for i in 0..6 {
        h.send(bob, &format!("queued-msg-{i}"), &format!("q{i}"));
    }
    assert_eq!(h.held.len(), 1, "at most one write in flight");
    assert!(
        h.take_messages(bob).is_empty(),
        "nothing is delivered before it is stored"
    );

    h.release();
    assert_eq!(h.writes, 2, "the six queued sends went into one write");
    // Each socket gets one frame per write: `message` for the first, `messages` for the six.
    let frames = h.inbox.get(&alice).cloned().unwrap_or_default();
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert!(matches!(&frames[1], ServerFrame::Messages { messages } if messages.len() == 6));
    let received = h.take_messages(alice);
    assert_eq!(
        texts(&received),
        ["one", "q0", "q1", "q2", "q3", "q4", "q5"]
    );
    assert_eq!(received, h.stored());
    assert_eq!(h.take_messages(bob), received);
}

#[test]
fn a_busy_room_gathers_longer_before_it_commits_and_a_quiet_one_not_at_all() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    h.hold_io = true;
    h.send(alice, "lone-msg-0001", "alone");
    assert_eq!(h.held_waits(), [0], "a lone message waits for nothing");
    for i in 0..3 {
        h.send(alice, &format!("three-msg-{i}"), "three");
    }
    h.release_one();
    assert_eq!(h.held_waits(), [2], "three gathered: wait 2 ms for more");
    for i in 0..20 {
        h.send(alice, &format!("twenty-msg-{i:02}"), "twenty");
    }
    h.release_one();
    assert_eq!(h.held_waits(), [5], "busier: the whole window, no more");
    h.release();
    assert_eq!(h.stored().len(), 24);
}

#[test]
fn batches_are_bounded_in_size() {
    let mut h = Harness::with_config(RoomConfig {
        max_batch: 3,
        ..unlimited()
    });
    let (alice, _) = h.join("alice", ALICE, None);
    h.hold_io = true;
    for i in 0..8 {
        h.send(alice, &format!("bounded-msg-{i}"), &format!("m{i}"));
    }
    h.release();
    // 1 (alone) + 3 + 3 + 1.
    assert_eq!(h.writes, 4);
    assert_eq!(h.stored().len(), 8);
    assert_eq!(
        texts(&h.take_messages(alice)),
        ["m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7"]
    );
}

#[test]
fn a_retry_of_a_stored_message_is_answered_to_the_sender_only() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.send(alice, "retry-msg-1", "once");
    let first = h.take_messages(alice);
    h.take(bob);
    h.advance(1000);
    h.send(alice, "retry-msg-1", "once");
    assert_eq!(
        h.take_messages(alice),
        first,
        "the stored message, same seq"
    );
    assert!(h.take(bob).is_empty());
    assert_eq!(h.stored().len(), 1);
    assert_eq!(h.writes, 1);
}

#[test]
fn a_retry_while_the_first_attempt_is_in_flight_is_not_stored_twice() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    // The same message retried from a new connection (a reconnect) while the write is in flight.
    h.hold_io = true;
    h.send(alice, "inflight-msg", "hi");
    let (alice2, _) = h.join("alice", ALICE, None);
    h.send(alice2, "inflight-msg", "hi");
    h.release();
    assert_eq!(h.stored().len(), 1);
    assert_eq!(texts(&h.take_messages(alice2)), ["hi"]);
}

#[test]
fn duplicates_are_recognised_after_a_restart_and_after_hibernation() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    h.send(alice, "before-restart", "one");
    let stored = h.stored();

    h.restart();
    let (alice, welcome) = h.join("alice", ALICE, Some(stored[0].seq));
    assert!(!welcome.reset && welcome.messages.is_empty());
    h.send(alice, "before-restart", "one");
    assert_eq!(h.take_messages(alice), stored);
    assert_eq!(h.stored(), stored);

    // Hibernation: the socket and its attachment survive, memory does not.
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.hibernate_and_wake();
    h.send(alice, "before-restart", "one");
    assert_eq!(
        h.take_messages(alice),
        stored,
        "answered from the reloaded tail"
    );
    // The woken room cannot vouch that everyone saw it, so Bob may get it again: the same
    // message, which his list merges by seq.
    assert!(h.take_messages(bob).iter().all(|m| *m == stored[0]));
    h.send(bob, "after-hibernation", "two");
    assert_eq!(h.stored().len(), 2);
    assert_eq!(
        texts(&h.take_messages(alice)),
        ["two"],
        "restored connections still get broadcasts"
    );
    assert!(h.writes == 2);
}

#[test]
fn a_failed_write_loses_nothing_and_the_retry_succeeds_once() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.store_mode = StoreMode::Down;
    h.hold_io = true;
    h.send(alice, "outage-msg-1", "during outage");
    h.send(bob, "outage-msg-2", "queued behind");
    h.release();
    let errors = h.take_errors(alice);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::StoreUnavailable);
    assert_eq!(errors[0].client_id.as_deref(), Some("outage-msg-1"));
    assert_eq!(errors[0].retry_after_ms, Some(1000));
    let errors = h.take_errors(bob);
    assert_eq!(
        (errors[0].code, errors[0].client_id.as_deref()),
        (ErrorCode::StoreUnavailable, Some("outage-msg-2"))
    );
    assert!(h.take_messages(alice).is_empty() && h.take_messages(bob).is_empty());
    assert!(h.stored().is_empty());

    // Still down: the retry fails again, with a longer retry_after (doubling per failure).
    h.send(alice, "outage-msg-1", "during outage");
    let errors = h.take_errors(alice);
    assert!(errors[0].retry_after_ms > Some(1000), "{errors:?}");

    h.store_mode = StoreMode::Up;
    h.send(alice, "outage-msg-1", "during outage");
    h.send(bob, "outage-msg-2", "queued behind");
    h.send(alice, "outage-msg-1", "during outage");
    assert_eq!(texts(&h.stored()), ["during outage", "queued behind"]);
    let seen_by_bob = h.take_messages(bob);
    assert_eq!(seen_by_bob, h.stored());
    assert_eq!(
        h.take_messages(alice).len(),
        3,
        "two broadcasts and one answer to the retry"
    );
}

#[test]
fn a_redis_outage_is_invisible_and_the_mirror_catches_up_in_order() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.redis.mode = RedisMode::Down;
    for i in 0..120 {
        h.send(alice, &format!("outage-{i:04}"), &format!("m{i}"));
        h.advance(10);
    }
    // Everyone has every message at once: the chat does not wait for Redis.
    assert_eq!(h.take_messages(bob).len(), 120);
    assert!(h.take_errors(alice).is_empty());
    assert!(h.redis.messages.is_empty());
    let retry_at = *h
        .mirror_wakes
        .last()
        .expect("the mirror asked for its alarm");
    assert!(retry_at <= h.now + room::mirror::RETRY_MAX_MS);

    // Redis returns; the alarm mirrors the backlog in batches, in seq order, once.
    h.redis.mode = RedisMode::Up;
    h.now = h.now.max(retry_at);
    h.wake();
    let mirrored: Vec<_> = h.redis.parsed().into_iter().map(|(_, m)| m).collect();
    assert_eq!(mirrored, h.stored());
    assert_eq!(h.redis.writes, 3, "120 messages in batches of 50");
    assert_eq!(h.mirrored(), h.stored()[119].seq);
}

#[test]
fn a_mirror_write_that_timed_out_after_redis_applied_it_is_not_written_twice() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    h.redis.mode = RedisMode::AppliesButTimesOut;
    h.send(alice, "timeout-1", "applied but unanswered");
    h.mirror_catches_up();
    assert_eq!(h.redis.parsed().len(), 1);
    assert_eq!(h.mirrored(), 0, "the log does not know Redis has it");
    h.redis.mode = RedisMode::Up;
    h.now += room::mirror::RETRY_FIRST_MS;
    h.wake();
    assert_eq!(h.redis.parsed().len(), 1, "the replayed batch was a no-op");
    assert_eq!(h.redis.ids.len(), 1);
    assert_eq!(h.mirrored(), h.stored()[0].seq);
    assert_eq!(texts(&h.take_messages(alice)), ["applied but unanswered"]);
}

#[test]
fn history_on_welcome_and_pages_from_memory_and_from_the_store() {
    let mut h = Harness::with_config(RoomConfig {
        tail_capacity: 120,
        ..unlimited()
    });
    let (alice, _) = h.join("alice", ALICE, None);
    for i in 0..500 {
        h.send(alice, &format!("history-{i:04}"), &format!("m{i}"));
    }
    let all = h.stored();
    assert_eq!(all.len(), 500);

    let (bob, welcome) = h.join("bob", BOB, None);
    assert!(welcome.reset && welcome.has_more);
    assert_eq!(welcome.messages, all[450..]);

    // Page back to the beginning, 37 at a time: no gap, no duplicate.
    let mut collected = welcome.messages.clone();
    let mut pages = 0;
    loop {
        let before = collected[0].seq;
        // Someone scrolling: a page every half second stays within the history rate.
        h.advance(500);
        h.frame(bob, &ClientFrame::History { before, limit: 37 });
        pages += 1;
        let page = h
            .take(bob)
            .into_iter()
            .find_map(|f| match f {
                ServerFrame::History(page) => Some(page),
                _ => None,
            })
            .unwrap_or_else(|| HistoryPage {
                messages: vec![],
                has_more: false,
            });
        if page.messages.is_empty() {
            break;
        }
        let mut next = page.messages.clone();
        next.extend(collected);
        collected = next;
        if !page.has_more {
            break;
        }
    }
    assert_eq!(collected, all);
    // 450 older messages in pages of 37. The tail of 120 holds 70 older than the welcome: it
    // serves the first page whole; the second would be partial, so it and the rest come from
    // the store.
    assert_eq!(pages, 13);
    assert_eq!(h.history_loads, 12);
}

#[test]
fn a_loop_of_history_requests_is_rate_limited_per_connection() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    let ask = |h: &mut Harness, conn| {
        h.frame(
            conn,
            &ClientFrame::History {
                before: T0,
                limit: 10,
            },
        );
    };
    for _ in 0..10 {
        ask(&mut h, alice);
    }
    assert_eq!(h.error_codes(alice), []);
    ask(&mut h, alice);
    let errors = h.take_errors(alice);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::RateLimited);
    assert_eq!(errors[0].retry_after_ms, Some(500));
    // Bob's bucket is his own; Alice's refills at two pages a second.
    ask(&mut h, bob);
    assert_eq!(h.error_codes(bob), []);
    h.advance(500);
    ask(&mut h, alice);
    assert_eq!(h.error_codes(alice), []);
}

#[test]
fn history_limits_are_checked() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    for limit in [0, 101] {
        h.frame(alice, &ClientFrame::History { before: T0, limit });
        assert_eq!(
            h.error_codes(alice),
            [ErrorCode::BadRequest],
            "limit {limit}"
        );
    }
}

#[test]
fn resume_sends_exactly_the_missed_messages() {
    let mut h = Harness::with_config(RoomConfig {
        tail_capacity: 100,
        resume_max: 30,
        ..unlimited()
    });
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.send(alice, "resume-0000", "before");
    let bob_has = h.take_messages(bob);
    h.close(bob);
    for i in 1..=5 {
        h.send(alice, &format!("resume-{i:04}"), &format!("missed {i}"));
    }
    let (_, welcome) = h.join("bob", BOB, Some(bob_has[0].seq));
    assert!(!welcome.reset);
    assert_eq!(welcome.messages, h.stored()[1..]);

    // A gap larger than resume_max resets to the newest page.
    for i in 6..=40 {
        h.send(alice, &format!("resume-{i:04}"), "more");
    }
    let (_, welcome) = h.join("bob", BOB, Some(bob_has[0].seq));
    assert!(welcome.reset);
    assert_eq!(
        welcome.messages,
        h.stored(),
        "all 41 fit in the newest page of 50"
    );

    // A `since` the room never reached (its store was wiped, say) resets too.
    let (_, welcome) = h.join("bob", BOB, Some(T0 + 1_000_000));
    assert!(welcome.reset);

    // A `since` older than the tail, in a room with more than the tail holds, resets.
    for i in 41..=150 {
        h.send(alice, &format!("resume-{i:04}"), "lots");
    }
    let (_, welcome) = h.join("bob", BOB, Some(bob_has[0].seq));
    assert!(welcome.reset && welcome.has_more);
}

#[test]
fn sends_are_rate_limited_and_recover() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    for i in 0..10 {
        h.send(alice, &format!("burst-msg-{i}"), "x");
    }
    assert_eq!(h.take_messages(alice).len(), 10);
    h.send(alice, "burst-msg-10", "x");
    let errors = h.take_errors(alice);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::RateLimited);
    assert_eq!(errors[0].client_id.as_deref(), Some("burst-msg-10"));
    let wait = errors[0].retry_after_ms.unwrap_or(0);
    assert_eq!(wait, 200, "5 per second");
    h.advance(wait as i64);
    h.send(alice, "burst-msg-10", "x");
    assert_eq!(h.take_messages(alice).len(), 1);
    assert_eq!(h.stored().len(), 11);
}

#[test]
fn rate_limits_survive_hibernation() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    for i in 0..10 {
        h.send(alice, &format!("hib-burst-{i}"), "x");
    }
    h.hibernate_and_wake();
    h.send(alice, "hib-burst-10", "x");
    assert_eq!(h.error_codes(alice), [ErrorCode::RateLimited]);
}

#[test]
fn typing_goes_to_the_others_and_is_rate_limited() {
    let mut h = Harness::new();
    let (alice, _) = h.join("alice", ALICE, None);
    let (alice_tab2, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.take(alice_tab2);
    h.frame(alice, &ClientFrame::Typing { active: true });
    assert_eq!(
        h.take(bob),
        vec![ServerFrame::Typing {
            user_id: uid(ALICE),
            name: "alice".into(),
            active: true
        }]
    );
    assert!(h.take(alice).is_empty() && h.take(alice_tab2).is_empty());
    for _ in 0..4 {
        h.frame(alice, &ClientFrame::Typing { active: false });
    }
    h.frame(alice, &ClientFrame::Typing { active: true });
    assert_eq!(h.error_codes(alice), [ErrorCode::RateLimited]);
    assert_eq!(h.take(bob).len(), 4);
}

#[test]
fn bad_input_gets_a_defined_answer_and_the_connection_stays() {
    let mut h = Harness::new();
    let fresh = h.connect();
    let check_fresh = |h: &mut Harness, input: &str, code: ErrorCode| {
        h.text(fresh, input);
        assert_eq!(h.error_codes(fresh), [code], "{input}");
    };
    check_fresh(&mut h, "{not json", ErrorCode::BadRequest);
    check_fresh(&mut h, r#"{"type":"shout"}"#, ErrorCode::BadRequest);
    check_fresh(
        &mut h,
        r#"{"type":"send","client_id":"abcdefgh","text":"hi"}"#,
        ErrorCode::NotJoined,
    );
    check_fresh(
        &mut h,
        r#"{"type":"typing","active":true}"#,
        ErrorCode::NotJoined,
    );
    check_fresh(
        &mut h,
        r#"{"type":"hello","name":"   ","secret":"abcdefghabcdefghabcdefgh"}"#,
        ErrorCode::InvalidName,
    );
    check_fresh(
        &mut h,
        &format!(
            r#"{{"type":"hello","name":"{}","secret":"abcdefghabcdefghabcdefgh"}}"#,
            "n".repeat(33)
        ),
        ErrorCode::InvalidName,
    );
    check_fresh(
        &mut h,
        r#"{"type":"hello","name":"a\u0007","secret":"abcdefghabcdefghabcdefgh"}"#,
        ErrorCode::InvalidName,
    );
    check_fresh(
        &mut h,
        r#"{"type":"hello","name":"alice","secret":"short-secret"}"#,
        ErrorCode::BadRequest,
    );
    check_fresh(
        &mut h,
        r#"{"type":"hello","name":"alice","secret":"has spaces! has spaces! has"}"#,
        ErrorCode::BadRequest,
    );

    let (alice, _) = h.join("alice", ALICE, None);
    let check = |h: &mut Harness, input: &str, code: ErrorCode| {
        h.text(alice, input);
        let errors = h.take_errors(alice);
        assert_eq!(
            errors.iter().map(|e| e.code).collect::<Vec<_>>(),
            [code],
            "{input}"
        );
        errors
    };
    check(
        &mut h,
        r#"{"type":"hello","name":"alice","secret":"alice-secret-000000000001"}"#,
        ErrorCode::BadRequest,
    );
    let e = check(
        &mut h,
        r#"{"type":"send","client_id":"abcdefgh","text":"   "}"#,
        ErrorCode::InvalidText,
    );
    assert_eq!(e[0].client_id.as_deref(), Some("abcdefgh"));
    check(
        &mut h,
        &format!(
            r#"{{"type":"send","client_id":"abcdefgh","text":"{}"}}"#,
            "x".repeat(2001)
        ),
        ErrorCode::InvalidText,
    );
    check(
        &mut h,
        r#"{"type":"send","client_id":"abcdefgh","text":"a\u0000b"}"#,
        ErrorCode::InvalidText,
    );
    check(
        &mut h,
        r#"{"type":"send","client_id":"bad id!","text":"hi"}"#,
        ErrorCode::BadRequest,
    );
    check(
        &mut h,
        r#"{"type":"send","client_id":"abcdefgh"}"#,
        ErrorCode::BadRequest,
    );
    h.room.handle_binary(alice);
    h.drive();
    assert_eq!(h.error_codes(alice), [ErrorCode::BadRequest]);
    assert!(h.stored().is_empty());

    // The heartbeat is answered even when it reaches the room.
    h.text(alice, "ping");
    assert_eq!(h.texts.get(&alice).cloned().unwrap_or_default(), ["pong"]);

    // Still a working connection.
    h.send(alice, "after-bad-input", "fine");
    assert_eq!(texts(&h.take_messages(alice)), ["fine"]);

    // An oversize frame closes the connection with 1009.
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.text(bob, &" ".repeat(protocol::FRAME_MAX_BYTES + 1));
    assert_eq!(h.closed.get(&bob).map(|c| c.0), Some(1009));
    assert_eq!(h.take(alice), vec![ServerFrame::Left { user_id: uid(BOB) }]);
}

#[test]
fn the_store_down_at_wake_fails_hello_and_sends_clearly() {
    let mut h = Harness::new();
    h.store_mode = StoreMode::Down;
    let conn = h.connect();
    h.hello(conn, "alice", ALICE, None);
    assert_eq!(h.error_codes(conn), [ErrorCode::StoreUnavailable]);
    assert_eq!(h.closed.get(&conn).map(|c| c.0), Some(1011));

    h.store_mode = StoreMode::Up;
    let (alice, welcome) = h.join("alice", ALICE, None);
    assert!(welcome.reset);
    h.send(alice, "after-wake-1", "ok");
    assert_eq!(h.stored().len(), 1);
}

#[test]
fn redis_keeps_at_most_history_limit_messages() {
    let mut h = Harness::with_config(RoomConfig {
        history_limit: 20,
        tail_capacity: 50,
        ..unlimited()
    });
    let (alice, _) = h.join("alice", ALICE, None);
    for i in 0..30 {
        h.send(alice, &format!("trim-msg-{i:03}"), &format!("m{i}"));
    }
    h.mirror_catches_up();
    let mirrored: Vec<_> = h.redis.parsed().into_iter().map(|(_, m)| m).collect();
    assert_eq!(mirrored, h.stored()[10..], "the newest 20, in order");
    assert_eq!(h.redis.ids.len(), 20);
    let (_, welcome) = h.join("bob", BOB, None);
    assert_eq!(
        welcome.messages.len(),
        20,
        "the tail is clamped to what the store keeps"
    );
}

/// A page left open across a deploy speaks a protocol version the room no longer does (or one
/// that does not exist yet, after a rollback): it is told which versions the room speaks and
/// closed, so it reloads instead of retrying a hello that can never work. Version 1 (no
/// `protocol` member) is still served.
#[test]
fn a_hello_in_a_version_the_room_does_not_speak_is_told_to_reload() {
    let mut h = Harness::new();
    let unsupported = ServerFrame::UnsupportedProtocol {
        oldest: protocol::OLDEST_PROTOCOL,
        newest: protocol::PROTOCOL_VERSION,
        message: "this page is out of date: reload it to keep chatting".into(),
    };
    for hello in [
        // Before identities were derived: a chosen user id, no secret.
        r#"{"type":"hello","name":"alice","user_id":"u1234567"}"#.to_owned(),
        // A version from the future, readable or not.
        format!(r#"{{"type":"hello","protocol":4,"name":"alice","secret":"{ALICE}"}}"#),
        format!(r#"{{"type":"hello","protocol":4,"name":"alice","secret":"{ALICE}","x":1}}"#),
        format!(r#"{{"type":"hello","protocol":0,"name":"alice","secret":"{ALICE}"}}"#),
    ] {
        let conn = h.connect();
        h.text(conn, &hello);
        assert_eq!(h.take(conn), std::slice::from_ref(&unsupported), "{hello}");
        assert_eq!(
            h.closed.get(&conn).map(|c| c.0),
            Some(protocol::CLOSE_UNSUPPORTED_PROTOCOL),
            "{hello}"
        );
    }
    assert_eq!(h.room.connection_count(), 0);

    // A malformed hello of a version the room speaks is a bad frame, not an old client.
    let conn = h.connect();
    h.text(conn, r#"{"type":"hello","protocol":2,"name":"alice"}"#);
    assert_eq!(h.error_codes(conn), [ErrorCode::BadRequest]);
    assert_eq!(h.closed.get(&conn), None);

    // Versions 1 and 2 and the current one are served.
    for hello in [
        format!(r#"{{"type":"hello","name":"bob","secret":"{BOB}"}}"#),
        format!(r#"{{"type":"hello","protocol":2,"name":"carol","secret":"{CAROL}"}}"#),
        format!(
            r#"{{"type":"hello","protocol":{},"name":"alice","secret":"{ALICE}"}}"#,
            protocol::PROTOCOL_VERSION
        ),
    ] {
        let conn = h.connect();
        h.text(conn, &hello);
        assert!(
            matches!(h.take(conn).first(), Some(ServerFrame::Welcome(_))),
            "{hello}"
        );
    }
}

/// The secret is the user's identity: the room's own `Debug` (hellos held while the tail
/// loads included) never prints it.
#[test]
fn the_rooms_debug_output_never_shows_a_secret() {
    let mut h = Harness::new();
    h.hold_io = true;
    let conn = h.connect();
    h.text(
        conn,
        &format!(r#"{{"type":"hello","protocol":2,"name":"alice","secret":"{ALICE}"}}"#),
    );
    let printed = format!("{:?}", h.room);
    assert!(printed.contains("alice"), "the hello is held: {printed}");
    assert!(!printed.contains(ALICE), "{printed}");
}
