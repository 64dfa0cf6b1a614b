//! Stories of edits, deletions, reactions and replies: who may do what, what everyone sees, what
//! the log and Redis hold, and what retries, failed and fenced commits and resumes do.

use crate::harness::{ALICE, BOB, CAROL, Harness, StoreMode, View, texts, unlimited};
use pretty_assertions::assert_eq;
use protocol::{ErrorCode, Message, Quote, Reaction, ServerFrame};
use room::RoomConfig;

fn uid(secret: &str) -> String {
    room::identity::user_id(secret)
}

/// The `applied` confirmations among `frames`, as (`client_id`, `seq`).
fn applied(frames: &[ServerFrame]) -> Vec<(String, i64)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Applied { client_id, seq } => Some((client_id.clone(), *seq)),
            _ => None,
        })
        .collect()
}

/// The messages of the `updated` frames among `frames`.
fn updated(frames: &[ServerFrame]) -> Vec<Message> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Updated { messages } => Some(messages.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn errors(frames: &[ServerFrame]) -> Vec<(ErrorCode, Option<String>)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Error(e) => Some((e.code, e.client_id.clone())),
            _ => None,
        })
        .collect()
}

/// Alice and Bob in a room where Alice said "helo wrld": the harness, their connections, and
/// the message's `seq`.
fn alice_said_something() -> (Harness, u64, u64, i64) {
    let mut h = Harness::with_config(unlimited());
    let (alice, _) = h.join("alice", ALICE, None);
    let (bob, _) = h.join("bob", BOB, None);
    h.send(alice, "first-msg-001", "helo wrld");
    let seq = h.stored()[0].seq;
    h.take(alice);
    h.take(bob);
    (h, alice, bob, seq)
}

#[test]
fn an_edit_replaces_the_text_for_everyone_and_only_the_author_may() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.advance(1_000);
    h.edit(bob, "bob-edit-0001", seq, "mine now");
    assert_eq!(
        errors(&h.take(bob)),
        [(ErrorCode::NotAllowed, Some("bob-edit-0001".into()))]
    );
    assert_eq!(h.take(alice), []);

    h.edit(alice, "ali-edit-0001", seq, "hello world");
    let seen_by_alice = h.take(alice);
    let seen_by_bob = h.take(bob);
    let edited = updated(&seen_by_bob);
    assert_eq!(edited.len(), 1);
    assert_eq!(edited[0].text, "hello world");
    assert_eq!(edited[0].edited_ts, Some(h.now));
    assert!(edited[0].rev() > seq, "the edit took a new revision");
    assert_eq!(updated(&seen_by_alice), edited);
    assert_eq!(applied(&seen_by_alice), [("ali-edit-0001".into(), seq)]);
    assert_eq!(applied(&seen_by_bob), []);
    assert_eq!(h.stored_message(seq), Some(edited[0].clone()));

    // The text limits of sends hold for edits.
    h.edit(alice, "ali-edit-0002", seq, "   ");
    assert_eq!(
        errors(&h.take(alice)),
        [(ErrorCode::InvalidText, Some("ali-edit-0002".into()))]
    );
    // Redis gets the edited message in place of the first, once.
    h.mirror_catches_up();
    let in_redis = h.redis.parsed();
    assert_eq!(in_redis.len(), 1);
    assert_eq!(in_redis[0], (seq, edited[0].clone()));
}

#[test]
fn a_deletion_leaves_a_tombstone_everywhere() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.react(bob, "bob-react-001", seq, "👍", true);
    h.delete(bob, "bob-delete-01", seq);
    let bob_frames = h.take(bob);
    assert_eq!(
        errors(&bob_frames),
        [(ErrorCode::NotAllowed, Some("bob-delete-01".into()))]
    );
    h.take(alice);
    h.delete(alice, "ali-delete-01", seq);
    let gone = updated(&h.take(bob));
    assert_eq!(gone.len(), 1);
    assert!(gone[0].deleted);
    assert_eq!(gone[0].text, "");
    assert_eq!(gone[0].reactions, []);
    assert_eq!(
        (gone[0].seq, gone[0].user_id.as_str(), gone[0].name.as_str()),
        (seq, uid(ALICE).as_str(), "alice")
    );
    assert_eq!(applied(&h.take(alice)), [("ali-delete-01".into(), seq)]);
    // Nothing more can be done to it.
    h.edit(alice, "ali-edit-0001", seq, "back");
    h.react(bob, "bob-react-002", seq, "🎉", true);
    h.reply(bob, "bob-reply-001", "what was that?", seq);
    assert_eq!(
        errors(&h.take(alice)),
        [(ErrorCode::NotFound, Some("ali-edit-0001".into()))]
    );
    assert_eq!(
        errors(&h.take(bob)),
        [
            (ErrorCode::NotFound, Some("bob-react-002".into())),
            (ErrorCode::NotFound, Some("bob-reply-001".into()))
        ]
    );
    // The text is gone from the log and from Redis, and so are the reactions.
    h.mirror_catches_up();
    let json = h
        .redis
        .messages
        .iter()
        .map(|(_, m)| m.clone())
        .collect::<Vec<_>>();
    assert_eq!(json.len(), 1);
    assert!(!json[0].contains("helo"), "{}", json[0]);
    assert_eq!(h.stored_message(seq).map(|m| m.text), Some(String::new()));
    assert!(h.redis.reactions.is_empty());
}

#[test]
fn reactions_are_counted_per_person_and_mirrored_to_a_hash() {
    let (mut h, alice, bob, seq) = alice_said_something();
    let (carol, _) = h.join("carol", CAROL, None);
    h.react(bob, "bob-react-001", seq, "👍", true);
    h.react(carol, "car-react-001", seq, "👍", true);
    h.react(carol, "car-react-002", seq, "🎉", true);
    h.react(alice, "ali-react-001", seq, "🍕", true);
    assert_eq!(
        errors(&h.take(alice)),
        [(ErrorCode::BadReaction, Some("ali-react-001".into()))]
    );
    let expected = vec![
        Reaction {
            emoji: "👍".into(),
            user_ids: vec![uid(BOB), uid(CAROL)],
        },
        Reaction {
            emoji: "🎉".into(),
            user_ids: vec![uid(CAROL)],
        },
    ];
    let stored = h.stored_message(seq).map(|m| m.reactions);
    assert_eq!(stored.as_ref(), Some(&expected));
    h.mirror_catches_up();
    assert_eq!(
        h.redis.reactions.get(&seq),
        Some(&serde_json::to_string(&expected).unwrap_or_default())
    );
    // Taking one off; taking off the last removes the hash's field.
    h.react(carol, "car-react-003", seq, "🎉", false);
    h.react(carol, "car-react-004", seq, "👍", false);
    h.react(bob, "bob-react-002", seq, "👍", false);
    assert_eq!(applied(&h.take(bob)).len(), 2);
    assert_eq!(h.stored_message(seq).map(|m| m.reactions), Some(vec![]));
    h.mirror_catches_up();
    assert_eq!(h.redis.reactions.get(&seq), None);
}

#[test]
fn a_reply_quotes_the_original_as_it_is_now() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.reply(bob, "bob-reply-001", "what?", seq);
    let reply = h.take_messages(alice);
    assert_eq!(reply.len(), 1);
    let quote = |text: &str, deleted| Quote {
        seq,
        user_id: uid(ALICE),
        name: "alice".into(),
        text: text.into(),
        deleted,
    };
    assert_eq!(reply[0].reply, Some(quote("helo wrld", false)));
    h.take(bob);

    // The original's edit rewrites the quote in the same commit, for everyone.
    h.edit(alice, "ali-edit-0001", seq, "hello world\nsecond line");
    let changed = updated(&h.take(bob));
    assert_eq!(changed.len(), 2, "the original and the reply: {changed:?}");
    assert_eq!(changed[0].seq, seq);
    assert_eq!(changed[1].seq, reply[0].seq);
    assert_eq!(changed[1].reply, Some(quote("hello world…", false)));
    assert!(changed[0].rev() < changed[1].rev());
    h.delete(alice, "ali-delete-01", seq);
    let changed = updated(&h.take(bob));
    assert_eq!(changed[1].reply, Some(quote("", true)));
    assert_eq!(changed[1].text, "what?", "the reply itself stays");
    assert_eq!(
        h.stored_message(reply[0].seq).and_then(|m| m.reply),
        Some(quote("", true))
    );
    // A reply to no message is refused.
    h.reply(bob, "bob-reply-002", "to what?", 12345);
    assert_eq!(
        errors(&h.take(bob)),
        [(ErrorCode::NotFound, Some("bob-reply-002".into()))]
    );
}

#[test]
fn a_retried_action_is_confirmed_and_applied_once() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.react(bob, "bob-react-001", seq, "👍", true);
    h.react(bob, "bob-react-002", seq, "👍", false);
    // The first one again (its confirmation was lost): confirmed, not applied again.
    h.react(bob, "bob-react-001", seq, "👍", true);
    let frames = h.take(bob);
    assert_eq!(
        applied(&frames),
        [
            ("bob-react-001".into(), seq),
            ("bob-react-002".into(), seq),
            ("bob-react-001".into(), seq)
        ]
    );
    assert_eq!(updated(&frames).len(), 2);
    assert_eq!(h.stored_message(seq).map(|m| m.reactions), Some(vec![]));
    // Retried on another connection while the first is in flight: applied once, confirmed to
    // both.
    let (bob2, _) = h.join("bob", BOB, None);
    h.take(alice);
    h.hold_io = true;
    h.edit(alice, "ali-edit-0001", seq, "hello");
    let (alice2, _) = h.join("alice", ALICE, None);
    h.edit(alice2, "ali-edit-0001", seq, "hello");
    h.release();
    assert_eq!(applied(&h.take(alice)), [("ali-edit-0001".into(), seq)]);
    assert_eq!(applied(&h.take(alice2)), [("ali-edit-0001".into(), seq)]);
    assert_eq!(updated(&h.take(bob2)).len(), 1);
    // After a restart the room remembers it still (the log keeps it with the message).
    let rev = h.stored_message(seq).map(|m| m.rev());
    h.restart();
    let (alice, _) = h.join("alice", ALICE, None);
    h.edit(alice, "ali-edit-0001", seq, "hello");
    let frames = h.take(alice);
    assert_eq!(applied(&frames), [("ali-edit-0001".into(), seq)]);
    assert_eq!(updated(&frames), []);
    assert_eq!(h.stored_message(seq).map(|m| m.rev()), rev);
}

/// Alice's edit was applied but its confirmation lost with a restart; meanwhile her other
/// device edited the message again. The retry, after the restart, is confirmed and not applied
/// again: it must not take the message back.
#[test]
fn a_retry_after_a_restart_never_undoes_a_later_change() {
    let (mut h, alice, _, seq) = alice_said_something();
    h.edit(alice, "ali-edit-0001", seq, "first fix");
    h.react(alice, "ali-react-001", seq, "👍", true);
    let (phone, _) = h.join("alice", ALICE, None);
    h.edit(phone, "ali-edit-0002", seq, "second fix, from her phone");
    h.react(phone, "ali-react-002", seq, "👍", false);
    h.restart();
    let (alice, _) = h.join("alice", ALICE, None);
    h.edit(alice, "ali-edit-0001", seq, "first fix");
    h.react(alice, "ali-react-001", seq, "👍", true);
    let frames = h.take(alice);
    assert_eq!(
        applied(&frames),
        [("ali-edit-0001".into(), seq), ("ali-react-001".into(), seq)]
    );
    assert_eq!(updated(&frames), []);
    let stored = h.stored_message(seq).unwrap_or_default();
    assert_eq!(stored.text, "second fix, from her phone");
    assert_eq!(stored.reactions, []);
}

/// An action that changed nothing (the message already was so) is remembered too.
#[test]
fn an_action_that_changed_nothing_is_remembered_across_a_restart() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.react(bob, "bob-react-001", seq, "👍", true);
    h.react(alice, "ali-react-001", seq, "👍", false);
    h.react(bob, "bob-react-002", seq, "👍", false);
    h.react(bob, "bob-react-003", seq, "👍", true);
    h.restart();
    let (bob, _) = h.join("bob", BOB, None);
    // The second retry (taking it off) must not undo the third.
    h.react(bob, "bob-react-002", seq, "👍", false);
    assert_eq!(applied(&h.take(bob)), [("bob-react-002".into(), seq)]);
    let stored = h.stored_message(seq).unwrap_or_default();
    assert_eq!(stored.reactions.len(), 1);
}

#[test]
fn a_failed_commit_changes_nothing_and_the_retry_applies() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.store_mode = StoreMode::Down;
    h.edit(alice, "ali-edit-0001", seq, "hello");
    let frames = h.take(alice);
    assert_eq!(
        errors(&frames),
        [(ErrorCode::StoreUnavailable, Some("ali-edit-0001".into()))]
    );
    assert_eq!(h.take(bob), []);
    assert_eq!(
        h.stored_message(seq).map(|m| m.text),
        Some("helo wrld".into())
    );
    h.store_mode = StoreMode::Up;
    h.edit(alice, "ali-edit-0001", seq, "hello");
    assert_eq!(applied(&h.take(alice)), [("ali-edit-0001".into(), seq)]);
    assert_eq!(texts(&updated(&h.take(bob))), ["hello"]);
}

#[test]
fn a_fenced_action_is_applied_after_what_the_other_instance_committed() {
    let (mut h, alice, bob, seq) = alice_said_something();
    // Another instance edits the message straight in the log.
    let mut other = h.stored_message(seq).unwrap_or_default();
    other.text = "edited elsewhere".into();
    other.rev = Some(other.seq + 10);
    let batch = room::Batch {
        id: 99,
        room: "lobby".into(),
        prev: seq,
        messages: Vec::new(),
        changes: vec![other.clone()],
        touched: Vec::new(),
        acts: Vec::new(),
        wait_ms: 0,
    };
    let limits = h.limits;
    assert!(matches!(
        h.log.commit(&batch, &limits, 0),
        room::wal::Commit::Write { .. }
    ));
    h.react(bob, "bob-react-001", seq, "🔥", true);
    assert_eq!(h.fenced, 1);
    let stored = h.stored_message(seq).unwrap_or_default();
    assert_eq!(stored.text, "edited elsewhere");
    assert_eq!(stored.reactions.len(), 1);
    // Both see the other instance's edit, then the reaction on it.
    for conn in [alice, bob] {
        let frames = h.take(conn);
        let changes = updated(&frames);
        assert_eq!(changes.len(), 2, "{frames:?}");
        assert_eq!(changes[0], other);
        assert_eq!(changes[1], stored);
    }
}

#[test]
fn a_resume_carries_the_current_state_of_what_changed_while_away() {
    let (mut h, alice, bob, seq) = alice_said_something();
    h.send(alice, "second-msg-01", "second");
    h.send(alice, "third-msg-001", "third");
    let mut view = View::default();
    let (carol, welcome) = h.join("carol", CAROL, None);
    view.apply(&[ServerFrame::Welcome(welcome)]);
    h.react(bob, "bob-react-001", seq, "👍", true);
    view.apply(&h.take(carol));
    h.close(carol);

    let second = h.stored()[1].seq;
    let third = h.stored()[2].seq;
    h.advance(1_000);
    h.edit(alice, "ali-edit-0001", seq, "hello world");
    h.delete(alice, "ali-delete-01", second);
    h.react(bob, "bob-react-002", third, "🎉", true);
    h.send(bob, "bob-msg-00001", "new one");
    let (carol, welcome) = h.join("carol", CAROL, Some(view.cursor));
    assert!(!welcome.reset);
    assert_eq!(welcome.messages.len(), 4, "three changed, one new");
    view.apply(&[ServerFrame::Welcome(welcome)]);
    assert_eq!(view.list(), h.stored());
    // Nothing changed since: a resume carries nothing.
    h.close(carol);
    let (_, welcome) = h.join("carol", CAROL, Some(view.cursor));
    assert_eq!((welcome.reset, welcome.messages.len()), (false, 0));

    // A protocol-2 client resumes after the `seq` it names, with new messages only.
    let conn = h.connect();
    let since = h.stored()[2].seq;
    h.text(
        conn,
        &format!(
            r#"{{"type":"hello","protocol":2,"name":"carol","secret":"{CAROL}","since":{since}}}"#
        ),
    );
    let frames = h.take(conn);
    let Some(ServerFrame::Welcome(welcome)) = frames.first() else {
        panic!("no welcome: {frames:?}");
    };
    assert_eq!(texts(&welcome.messages), ["new one"]);
    assert_eq!(welcome.rev, None);
}

/// A room whose tail holds 10 and whose resumes serve 4, so the newest 6 can change: Alice and
/// the `seq`s of the `count` messages she said there.
fn small_room(count: usize) -> (Harness, u64, Vec<i64>) {
    let mut h = Harness::with_config(small_config());
    let (alice, _) = h.join("alice", ALICE, None);
    for n in 0..count {
        h.send(alice, &format!("message-{n:04}"), &format!("m{n}"));
    }
    h.take(alice);
    let seqs = h.stored().iter().map(|m| m.seq).collect();
    (h, alice, seqs)
}

fn small_config() -> RoomConfig {
    RoomConfig {
        tail_capacity: 10,
        resume_max: 4,
        ..unlimited()
    }
}

#[test]
fn only_the_newest_messages_can_change_so_resumes_stay_complete() {
    let (mut h, alice, seqs) = small_room(8);
    // The window of change is the newest tail_capacity - resume_max = 6.
    h.edit(alice, "edit-old-0001", seqs[1], "too old");
    h.edit(alice, "edit-new-0001", seqs[2], "still in the window");
    let frames = h.take(alice);
    assert_eq!(
        errors(&frames),
        [(ErrorCode::NotFound, Some("edit-old-0001".into()))]
    );
    assert_eq!(applied(&frames), [("edit-new-0001".into(), seqs[2])]);
    // A reply may quote anything the tail holds.
    h.reply(alice, "reply-old-001", "re", seqs[0]);
    assert_eq!(
        h.take_messages(alice)[0].reply.as_ref().map(|q| q.seq),
        Some(seqs[0])
    );

    // A client away since before the edit, with more missed than a resume serves, is reset.
    let mut view = View::default();
    let (bob, welcome) = h.join("bob", BOB, None);
    view.apply(&[ServerFrame::Welcome(welcome)]);
    h.close(bob);
    h.edit(
        alice,
        "edit-new-0002",
        seqs[7],
        "changed while bob was away",
    );
    for n in 0..5 {
        h.send(alice, &format!("more-msg-{n:04}"), &format!("more {n}"));
    }
    let (_, welcome) = h.join("bob", BOB, Some(view.cursor));
    assert!(welcome.reset, "five missed, resume_max is four");
    view.apply(&[ServerFrame::Welcome(welcome)]);
    let stored = h.stored();
    let shown = view.list();
    assert_eq!(shown, stored[stored.len() - shown.len()..]);
}

#[test]
fn the_window_of_change_counts_the_new_messages_of_the_same_batch() {
    let (mut h, alice, seqs) = small_room(10);
    // One commit in flight; three sends and an edit wait, and form the next batch together.
    h.hold_io = true;
    h.send(alice, "message-0010", "m10");
    for n in 11..14 {
        h.send(alice, &format!("message-{n:04}"), &format!("m{n}"));
    }
    h.edit(alice, "edit-0000005", seqs[5], "too far back by then");
    h.release();
    let frames = h.take(alice);
    // With the batch's three, m5 is seven back from the newest, past the window of six.
    assert_eq!(
        errors(&frames),
        [(ErrorCode::NotFound, Some("edit-0000005".into()))]
    );
}

#[test]
fn a_shorter_tail_after_a_restart_still_commits_after_the_logs_highest_revision() {
    let (mut h, alice, seqs) = small_room(8);
    h.advance(10);
    h.edit(alice, "edit-0000003", seqs[3], "the log's newest revision");
    // The room comes back with a tail of three (HISTORY_LIMIT lowered): the edited message is
    // not in it, and its revision is the log's highest.
    h.restart();
    h.room = room::RoomCore::new(RoomConfig {
        tail_capacity: 3,
        resume_max: 1,
        ..small_config()
    });
    let (alice, _) = h.join("alice", ALICE, None);
    h.send(alice, "message-0008", "after the restart");
    assert_eq!(h.fenced, 0, "never fenced against its own log");
    assert_eq!(texts(&h.take_messages(alice)), ["after the restart"]);
    assert_eq!(h.stored().len(), 9);
}
