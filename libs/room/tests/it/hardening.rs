//! Stories of a room under attack or bad luck: junk in Redis, a Redis outage with a backlog, an
//! eviction, a second writer, refusals by the store, floods of connections and frames.

use crate::harness::{ALICE, BOB, Harness, RedisMode, StoreMode, texts, unlimited};
use pretty_assertions::assert_eq;
use protocol::{ClientFrame, ErrorCode, Message, ServerFrame};
use room::{Batch, CLOSE_TRY_AGAIN_LATER, RoomConfig, identity};

const MALLORY: &str = "mallory-secret-0000000001";

#[test]
fn a_member_redis_cannot_read_at_the_top_of_a_room_wedges_nothing() {
    let mut h = Harness::with_config(unlimited());
    // A room that lived in Redis before the log existed, with a member that is not a message at
    // the top (a manual write, a schema change): the wedge the Redis-first design had.
    h.redis.mode = RedisMode::Up;
    let old = Message {
        seq: 1_000,
        client_id: "before-the-log".into(),
        user_id: identity::user_id(BOB),
        name: "bob".into(),
        text: "from before".into(),
        ts: 1_000,
        ..Default::default()
    };
    h.redis.messages.insert((old.seq, old.to_json()));
    h.redis.ids.insert((old.seq, "x:before-the-log".into()));
    h.redis.add_junk("{not a message");
    let (alice, welcome) = h.join("alice", ALICE, None);
    assert_eq!(
        texts(&welcome.messages),
        ["from before"],
        "the junk is skipped"
    );
    for i in 0..5 {
        h.send(alice, &format!("after-junk-{i}"), &format!("m{i}"));
    }
    assert_eq!(h.take_messages(alice).len(), 5, "every send answered");
    h.mirror_catches_up();
    assert_eq!(h.redis.writes, 1, "the five in one write, no loop");
    let parsed: Vec<Message> = h.redis.parsed().into_iter().map(|(_, m)| m).collect();
    assert_eq!(parsed, h.stored(), "Redis holds the log, junk aside");
    // Idle, nothing more happens.
    h.advance(60_000);
    h.wake();
    assert_eq!(h.redis.writes, 1);
}

#[test]
fn a_room_starts_its_log_from_redis_once_and_not_while_redis_is_down() {
    let mut h = Harness::with_config(unlimited());
    for seq in 1..=3 {
        let message = Message {
            seq,
            client_id: format!("legacy-{seq}"),
            user_id: identity::user_id(BOB),
            name: "bob".into(),
            text: format!("legacy {seq}"),
            ts: seq,
            ..Default::default()
        };
        h.redis.messages.insert((seq, message.to_json()));
        h.redis
            .ids
            .insert((seq, format!("{}:legacy-{seq}", message.user_id)));
    }
    h.redis.mode = RedisMode::Down;
    let conn = h.connect();
    h.hello(conn, "alice", ALICE, None);
    assert_eq!(h.error_codes(conn), [ErrorCode::StoreUnavailable]);
    assert!(h.closed.contains_key(&conn), "no welcome without history");
    assert_eq!(h.log.started, None, "not started from nothing");

    h.redis.mode = RedisMode::Up;
    let (alice, welcome) = h.join("alice", ALICE, None);
    assert_eq!(
        texts(&welcome.messages),
        ["legacy 1", "legacy 2", "legacy 3"]
    );
    assert_eq!(h.log.started, Some(true));
    // Bob's retry of a message from before the log is recognised, not stored again.
    let (bob, _) = h.join("bob", BOB, None);
    h.send(bob, "legacy-2", "legacy 2");
    assert_eq!(h.stored().len(), 3);
    assert_eq!(texts(&h.take_messages(bob)), ["legacy 2"]);
    h.send(alice, "new-0001", "after the upgrade");
    h.mirror_catches_up();
    assert_eq!(h.redis.parsed().len(), 4, "mirrored after what was there");
    assert_eq!(
        h.redis.writes, 1,
        "what came from Redis is not written back"
    );
}

#[test]
fn an_unmirrored_backlog_survives_an_eviction_and_is_mirrored_with_nobody_there() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    h.redis.mode = RedisMode::Down;
    for i in 0..30 {
        h.send(alice, &format!("evicted-{i:03}"), &format!("m{i}"));
    }
    assert_eq!(h.stored().len(), 30);
    h.restart();
    h.redis.mode = RedisMode::Up;
    // Only the alarm is left; it fires on a fresh instance with no socket.
    h.now += room::mirror::RETRY_MAX_MS;
    h.wake();
    let parsed: Vec<Message> = h.redis.parsed().into_iter().map(|(_, m)| m).collect();
    assert_eq!(parsed, h.stored());
}

#[test]
fn the_mirror_saves_its_mark_at_most_every_ten_seconds_and_a_successor_replays_harmlessly() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    h.send(alice, "mark-msg-0001", "first");
    h.mirror_catches_up();
    let first = h.stored()[0].seq;
    assert_eq!(h.log.mirrored, first, "the first pass saves the mark");
    for i in 2..=4 {
        h.send(alice, &format!("mark-msg-{i:04}"), "within ten seconds");
        h.mirror_catches_up();
    }
    assert_eq!(h.redis.parsed().len(), 4);
    assert_eq!(h.log.mirrored, first, "not saved again within ten seconds");
    assert_eq!(h.mirrored(), h.stored()[3].seq, "but known to the instance");
    let writes = h.redis.writes;

    // The instance goes away; its successor starts from the saved mark and writes the three
    // again, which the script skips: Redis is unchanged.
    h.restart();
    h.mirror_catches_up();
    assert_eq!(h.redis.writes, writes + 1);
    let parsed: Vec<Message> = h.redis.parsed().into_iter().map(|(_, m)| m).collect();
    assert_eq!(parsed, h.stored());
    assert_eq!(
        h.log.mirrored,
        h.stored()[3].seq,
        "saved by the successor's first pass"
    );
}

#[test]
fn past_the_backlog_cap_sends_are_refused_and_nothing_is_lost() {
    let mut h = Harness::with_config(unlimited());
    h.limits.backlog_max = 10;
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.redis.mode = RedisMode::Down;
    for i in 0..12 {
        h.send(alice, &format!("capped-{i:03}"), &format!("m{i}"));
    }
    assert_eq!(h.stored().len(), 10);
    let errors = h.take_errors(alice);
    assert_eq!(errors.len(), 2);
    assert!(
        errors
            .iter()
            .all(|e| e.code == ErrorCode::StoreUnavailable && e.retry_after_ms.is_some())
    );
    assert_eq!(h.take_messages(bob).len(), 10);

    h.redis.mode = RedisMode::Up;
    h.now += room::mirror::RETRY_MAX_MS;
    h.wake();
    for i in 0..12 {
        h.send(alice, &format!("capped-{i:03}"), &format!("m{i}"));
    }
    assert_eq!(h.stored().len(), 12, "the refused two, once each");
    assert_eq!(texts(&h.take_messages(bob)), ["m10", "m11"]);
    h.mirror_catches_up();
    assert_eq!(h.redis.parsed().len(), 12);
}

/// Another instance of the room (a split) commits `text` straight to the log, after `prev`.
fn commit_from_another_instance(h: &mut Harness, prev: i64, text: &str) {
    let other = Message {
        seq: prev.max(h.now) + 1,
        client_id: "other-inst-01".into(),
        user_id: identity::user_id(MALLORY),
        name: "mallory".into(),
        text: text.into(),
        ts: h.now,
        ..Default::default()
    };
    let batch = Batch {
        id: 99,
        room: "lobby".into(),
        prev,
        messages: vec![other],
        changes: Vec::new(),
        touched: Vec::new(),
        acts: Vec::new(),
        wait_ms: 0,
    };
    assert!(matches!(
        h.log.commit(&batch, &h.limits.clone(), 0),
        room::wal::Commit::Write { .. }
    ));
}

#[test]
fn a_second_instance_writing_the_same_room_never_interleaves() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.send(alice, "first-msg-001", "one");
    h.take(alice);
    h.take(bob);
    let prev = h.stored()[0].seq;
    commit_from_another_instance(&mut h, prev, "from the other instance");
    // This instance's next write is fenced, so it reloads, delivers what it missed, and writes
    // after it: one order, no gap, in Redis and on every screen.
    h.send(bob, "second-msg-01", "two");
    assert_eq!(h.fenced, 1);
    assert_eq!(
        texts(&h.stored()),
        ["one", "from the other instance", "two"]
    );
    assert_eq!(h.take_messages(alice), h.stored()[1..]);
    assert_eq!(h.take_messages(bob), h.stored()[1..]);
}

#[test]
fn a_second_instance_writing_an_empty_room_is_caught_up_too() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    commit_from_another_instance(&mut h, 0, "the room's first, from elsewhere");
    h.send(bob, "second-msg-01", "two");
    assert_eq!(h.fenced, 1);
    assert_eq!(
        texts(&h.stored()),
        ["the room's first, from elsewhere", "two"]
    );
    assert_eq!(h.take_messages(alice), h.stored());
    assert_eq!(h.take_messages(bob), h.stored());
}

#[test]
fn a_busy_rooms_successor_replays_a_bounded_backlog_and_keeps_taking_sends() {
    let mut h = Harness::with_config(unlimited());
    h.limits.backlog_max = 1_500;
    let (alice, _) = h.join("alice", ALICE, None);
    // 3000 messages mirrored within a second: the time rule alone would not save the mark.
    for i in 0..3_000 {
        h.send(alice, &format!("busy-msg-{i:05}"), "busy");
        if i % 100 == 99 {
            h.mirror_catches_up();
        }
    }
    h.mirror_catches_up();
    assert!(
        h.stored().len() - h.log.messages.range(..=h.log.mirrored).count()
            < room::mirror::MARK_EVERY_ROWS,
        "the saved mark is at most a thousand rows behind"
    );
    h.restart();
    let (alice, _) = h.join("alice", ALICE, None);
    h.send(alice, "after-restart", "still taken");
    assert!(h.take_errors(alice).is_empty(), "not refused by a replay");
    assert_eq!(h.stored().len(), 3_001);
}

#[test]
fn dedupe_is_per_user_so_nobody_can_suppress_anothers_message() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (mallory, _) = h.join("mallory", MALLORY, None);
    // Mallory sees Alice's client_ids in every message and reuses one first.
    h.send(mallory, "shared-id-001", "mallory's");
    h.send(alice, "shared-id-001", "alice's");
    assert_eq!(texts(&h.stored()), ["mallory's", "alice's"]);
    assert_eq!(texts(&h.take_messages(alice)), ["mallory's", "alice's"]);
}

#[test]
fn a_store_that_refuses_gets_a_distinct_code_a_fixed_message_and_no_retry_hint() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    h.store_mode = StoreMode::Refuses;
    h.send(alice, "refused-msg-1", "hello");
    let errors = h.take_errors(alice);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::StoreRefused);
    assert_eq!(errors[0].retry_after_ms, None);
    assert_eq!(errors[0].client_id.as_deref(), Some("refused-msg-1"));
    assert!(
        !errors[0].message.contains("WRONGPASS"),
        "the detail is for the log: {}",
        errors[0].message
    );

    // An outage is retryable, with a fixed text too.
    h.store_mode = StoreMode::Down;
    h.send(alice, "down-msg-0001", "hello");
    let errors = h.take_errors(alice);
    assert_eq!(errors[0].code, ErrorCode::StoreUnavailable);
    assert!(errors[0].retry_after_ms.is_some());
    assert!(!errors[0].message.contains("store down"));
}

#[test]
fn a_full_room_refuses_clearly_and_per_address_caps_hold() {
    let mut h = Harness::with_config(RoomConfig {
        max_connections: 3,
        max_connections_per_ip: 2,
        ..unlimited()
    });
    let a1 = h.connect_from(Some("198.51.100.7"));
    let a2 = h.connect_from(Some("198.51.100.7"));
    let a3 = h.connect_from(Some("198.51.100.7"));
    assert!(h.take(a1).is_empty() && h.take(a2).is_empty());
    let errors = h.take_errors(a3);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].code, ErrorCode::RoomFull);
    assert_eq!(errors[0].retry_after_ms, Some(10_000));
    assert_eq!(h.closed.get(&a3).map(|c| c.0), Some(CLOSE_TRY_AGAIN_LATER));
    assert!(
        !h.attachments.contains_key(&a3),
        "a refused socket holds no state"
    );

    let b1 = h.connect_from(Some("203.0.113.9"));
    assert!(h.take(b1).is_empty());
    let b2 = h.connect_from(Some("203.0.113.9"));
    assert_eq!(h.error_codes(b2), [ErrorCode::RoomFull], "the room is full");
    assert_eq!(h.room.connection_count(), 3);

    // A place frees up when someone leaves.
    h.close(a1);
    let b3 = h.connect_from(Some("203.0.113.9"));
    assert!(h.take(b3).is_empty());
}

#[test]
fn addresses_of_one_ipv6_64_share_the_per_address_cap() {
    let mut h = Harness::with_config(RoomConfig {
        max_connections_per_ip: 2,
        ..unlimited()
    });
    // A home line or a server gets a whole /64, so rotating through its addresses is one
    // address to the room, however the address is written.
    let a1 = h.connect_from(Some("2001:db8:1:2::1"));
    let a2 = h.connect_from(Some("2001:db8:1:2:ffff:ffff:ffff:fffe"));
    let a3 = h.connect_from(Some("2001:0DB8:0001:0002:0000:0000:0000:0003"));
    assert!(h.take(a1).is_empty() && h.take(a2).is_empty());
    assert_eq!(h.error_codes(a3), [ErrorCode::RoomFull], "the same /64");
    // The next /64 is someone else.
    let b1 = h.connect_from(Some("2001:db8:1:3::1"));
    assert!(h.take(b1).is_empty(), "another /64");

    // An IPv4 address is the same address when it arrives IPv4-mapped.
    let c1 = h.connect_from(Some("198.51.100.7"));
    let c2 = h.connect_from(Some("::ffff:198.51.100.7"));
    let c3 = h.connect_from(Some("198.51.100.7"));
    assert!(h.take(c1).is_empty() && h.take(c2).is_empty());
    assert_eq!(h.error_codes(c3), [ErrorCode::RoomFull], "IPv4-mapped");
    // IPv4 addresses are whole: the neighbour is someone else.
    let d1 = h.connect_from(Some("198.51.100.8"));
    assert!(h.take(d1).is_empty(), "another IPv4 address");
}

#[test]
fn connections_without_an_address_share_one_cap() {
    let mut h = Harness::with_config(RoomConfig {
        max_connections_per_ip: 2,
        ..unlimited()
    });
    // Without `CF-Connecting-IP` (or with one nobody can read) every connection counts as the
    // same address: a missing header must not switch the cap off.
    let n1 = h.connect_from(None);
    let n2 = h.connect_from(Some("not an address"));
    let n3 = h.connect_from(None);
    assert!(h.take(n1).is_empty() && h.take(n2).is_empty());
    assert_eq!(h.error_codes(n3), [ErrorCode::RoomFull]);
    let a1 = h.connect_from(Some("203.0.113.9"));
    assert!(h.take(a1).is_empty(), "a known address has its own cap");
}

#[test]
fn frames_held_while_the_tail_loads_are_bounded() {
    let mut h = Harness::with_config(RoomConfig {
        max_deferred: 2,
        ..unlimited()
    });
    h.hold_io = true;
    let conns: Vec<_> = (0..3).map(|_| h.connect()).collect();
    for (i, conn) in conns.iter().enumerate() {
        h.frame(
            *conn,
            &ClientFrame::Hello {
                protocol: protocol::PROTOCOL_VERSION,
                name: format!("user{i}"),
                secret: format!("secret-of-user-number-{i:04}").into(),
                since: None,
            },
        );
    }
    assert_eq!(h.error_codes(conns[2]), [ErrorCode::RateLimited]);
    assert_eq!(
        h.closed.get(&conns[2]).map(|c| c.0),
        Some(CLOSE_TRY_AGAIN_LATER)
    );
    h.release();
    for conn in &conns[..2] {
        assert!(
            h.take(*conn)
                .iter()
                .any(|f| matches!(f, ServerFrame::Welcome(_)))
        );
    }
}

#[test]
fn joins_cost_linear_presence_traffic() {
    let mut h = Harness::with_config(unlimited());
    let members = 300;
    for i in 0..members {
        h.join(&format!("m{i}"), &format!("member-secret-{i:010}"), None);
    }
    // Count the roster entries carried by every presence frame delivered to anyone.
    let mut entries = 0;
    for frames in h.inbox.values() {
        for frame in frames {
            entries += match frame {
                ServerFrame::Joined { .. } | ServerFrame::Left { .. } => 1,
                _ => 0,
            };
        }
    }
    // Each join tells everyone already there one entry: n(n-1)/2 entries in all, where whole
    // rosters would be n(n-1)(n+1)/6 (4.5 million for 300).
    assert_eq!(entries, members * (members - 1) / 2);
}

#[test]
fn a_busy_room_sends_typing_notices_in_one_frame_per_member_per_tick() {
    let mut h = Harness::with_config(RoomConfig {
        typing_batch_members: 3,
        ..unlimited()
    });
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    let (mallory, _) = h.join("mallory", MALLORY, None);
    for conn in [alice, bob, mallory] {
        h.take(conn);
    }
    let typing = |h: &mut Harness, conn, active| h.frame(conn, &ClientFrame::Typing { active });
    typing(&mut h, alice, true);
    typing(&mut h, bob, true);
    typing(&mut h, alice, false);
    assert!(
        h.take(mallory).is_empty(),
        "nothing goes out before the tick ends"
    );
    assert_eq!(h.wake_requests, [h.now + 500], "one wake-up per tick");

    h.advance(200);
    h.wake();
    assert!(h.take(mallory).is_empty(), "woken early: still gathering");
    h.advance(300);
    h.wake();
    let notice = |secret: &str, name: &str, active| protocol::TypingNotice {
        user_id: identity::user_id(secret),
        name: name.into(),
        active,
    };
    let mut notices = vec![notice(ALICE, "alice", false), notice(BOB, "bob", true)];
    notices.sort_by(|a, b| a.user_id.cmp(&b.user_id));
    for conn in [alice, bob, mallory] {
        assert_eq!(
            h.take(conn),
            vec![ServerFrame::TypingBatch {
                notices: notices.clone()
            }],
            "one frame, each user where they ended"
        );
    }
    // The next notice starts a new tick.
    typing(&mut h, bob, false);
    assert_eq!(h.wake_requests.len(), 3);
}
