//! Stories of a room under attack or bad luck: late writes, a second writer, hibernation between
//! a failed write and its retry, refusals by the store, floods of connections and frames.

use crate::harness::{ALICE, BOB, Harness, StoreMode, apply_write, texts, unlimited};
use pretty_assertions::assert_eq;
use protocol::{ClientFrame, ErrorCode, Message, ServerFrame};
use room::store::WriteOutcome;
use room::{Batch, CLOSE_TRY_AGAIN_LATER, RoomConfig, identity};

const MALLORY: &str = "mallory-secret-0000000001";

#[test]
fn a_write_that_lands_after_the_room_moved_on_is_fenced_and_the_retry_is_stored_once() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.hold_io = true;
    h.send(alice, "late-msg-0001", "held on the wire");
    assert!(h.time_out_held_write());
    assert_eq!(h.error_codes(alice), [ErrorCode::StoreUnavailable]);
    h.hold_io = false;

    // Bob writes meanwhile (the room reloads first), then Alice's old request finally lands.
    h.advance(10);
    h.send(bob, "after-msg-001", "bob meanwhile");
    assert!(matches!(h.land_late(), Some(WriteOutcome::Fenced { .. })));
    assert_eq!(
        texts(&h.stored()),
        ["bob meanwhile"],
        "it did not slip under"
    );

    h.advance(10);
    h.send(alice, "late-msg-0001", "held on the wire");
    assert_eq!(texts(&h.stored()), ["bob meanwhile", "held on the wire"]);
    assert_eq!(h.take_messages(bob), h.stored());
    assert_eq!(h.take_messages(alice), h.stored());
}

#[test]
fn a_write_that_lands_before_the_next_one_is_found_and_delivered_to_everyone() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.hold_io = true;
    h.send(alice, "late-msg-0002", "landed late");
    assert!(h.time_out_held_write());
    h.take(alice);
    // The request lands while nobody writes…
    assert!(matches!(h.land_late(), Some(WriteOutcome::Applied(_))));
    h.hold_io = false;
    // …so Bob's next write finds the store moved on, reloads, and everyone gets both in order.
    h.advance(10);
    h.send(bob, "next-msg-0002", "bob next");
    assert_eq!(texts(&h.stored()), ["landed late", "bob next"]);
    assert_eq!(h.take_messages(bob), h.stored());
    assert_eq!(h.take_messages(alice), h.stored());
    // Alice's retry is answered with what Redis holds, not stored again.
    h.send(alice, "late-msg-0002", "landed late");
    assert_eq!(h.stored().len(), 2);
    assert_eq!(h.take_messages(alice), h.stored()[..1]);
}

#[test]
fn a_second_instance_writing_the_same_room_never_interleaves() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.send(alice, "first-msg-001", "one");
    h.take(alice);
    h.take(bob);
    // Another instance of the room (a split) stores a message this one has never seen.
    let other = Message {
        seq: h.stored()[0].seq + 1,
        client_id: "other-inst-01".into(),
        user_id: identity::user_id(MALLORY),
        name: "mallory".into(),
        text: "from the other instance".into(),
        ts: h.now,
    };
    let batch = Batch {
        id: 99,
        room: "lobby".into(),
        prev: h.stored()[0].seq,
        messages: vec![other.clone()],
    };
    let history_limit = h.room.config().history_limit;
    assert!(matches!(
        apply_write(&mut h.store, &mut h.store_ids, &batch, history_limit),
        WriteOutcome::Applied(_)
    ));
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
fn a_stored_message_nobody_saw_is_delivered_to_everyone_after_hibernation() {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.store_mode = StoreMode::AppliesButTimesOut;
    h.send(alice, "hib-msg-0001", "stored, but alice was told no");
    assert_eq!(h.error_codes(alice), [ErrorCode::StoreUnavailable]);
    assert_eq!(
        h.durable_mark,
        Some(0),
        "kept durably: everything above seq 0 may be undelivered"
    );
    h.store_mode = StoreMode::Up;

    // The room hibernates before anyone writes again: its memory (and the old in-memory flag)
    // is gone; the mark in Durable Object storage is not.
    h.hibernate_and_wake();
    h.send(alice, "hib-msg-0001", "stored, but alice was told no");
    assert_eq!(h.stored().len(), 1, "not stored twice");
    assert_eq!(
        h.take_messages(bob),
        h.stored(),
        "bob gets it although the room that failed is gone"
    );
    assert_eq!(h.take_messages(alice), h.stored(), "once, not twice");
    assert_eq!(h.durable_mark, None, "cleared once delivered");
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
