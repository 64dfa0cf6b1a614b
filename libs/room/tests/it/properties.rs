//! A property test of exactly-once: random runs of sends, replies, edits, deletions and
//! reactions, floods, retries in any order, writers who abandon, a log whose storage fails, Redis
//! outages of any length (and writes it applied but never answered), junk in Redis, evictions
//! with an unmirrored backlog, and hibernation. After every run: each acknowledged message is
//! committed once, delivered once to every connection, and mirrored once to Redis at its `seq`;
//! every action is answered; every client's list is the log's, text, deletion, reactions and
//! quotes included, and so is Redis, with the reactions in their hash.

use crate::harness::{Harness, RedisMode, StoreMode, unlimited};
use proptest::prelude::*;
use protocol::{ClientFrame, ErrorCode, Message, ServerFrame};
use room::{ConnId, RoomConfig, identity};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    /// Client `who` writes a new message.
    Send(usize),
    /// Client `who` writes `n` new messages at once.
    Flood(usize, usize),
    /// Client `who` resends its `n`-th message (modulo how many it has), acknowledged or not.
    Retry(usize, usize),
    /// Client `who` replies to the `n`-th message it holds (modulo how many).
    Reply(usize, usize),
    /// Client `who` acts on the `n`-th message it holds (modulo how many): an edit, a deletion,
    /// or a reaction put on or taken off.
    Act(usize, usize, Action),
    /// Client `who` sends its `n`-th action again, confirmed or not.
    RetryAction(usize, usize),
    /// Client `who` closes its tab for good: it never retries what it has not seen confirmed.
    Abandon(usize),
    /// The log's storage starts behaving so.
    Store(StoreMode),
    /// Redis starts behaving so.
    Redis(RedisMode),
    /// Someone `ZADD`s a member that is not a message at the top of the room in Redis.
    Junk,
    /// The object's awaits wait from now on / all complete.
    Hold,
    Release,
    /// The Durable Object is evicted (connections drop) / hibernates (connections stay).
    Restart,
    Hibernate,
    /// Time passes to the next alarm, which fires.
    Alarm,
    Advance(i64),
}

/// What an `Act` step does.
#[derive(Debug, Clone, Copy)]
enum Action {
    Edit,
    Delete,
    React(usize, bool),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Edit),
        1 => Just(Action::Delete),
        3 => (0..3usize, any::<bool>()).prop_map(|(e, on)| Action::React(e, on)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..3usize).prop_map(Step::Send),
        2 => (0..3usize, 0..60usize).prop_map(|(w, n)| Step::Reply(w, n)),
        5 => (0..3usize, 0..60usize, action()).prop_map(|(w, n, a)| Step::Act(w, n, a)),
        2 => (0..3usize, 0..8usize).prop_map(|(w, n)| Step::RetryAction(w, n)),
        1 => (0..3usize, 2..15usize).prop_map(|(w, n)| Step::Flood(w, n)),
        4 => (0..3usize, 0..8usize).prop_map(|(w, n)| Step::Retry(w, n)),
        1 => (0..3usize).prop_map(Step::Abandon),
        1 => prop_oneof![Just(StoreMode::Up), Just(StoreMode::Down)].prop_map(Step::Store),
        3 => prop_oneof![
            Just(RedisMode::Up),
            Just(RedisMode::Down),
            Just(RedisMode::AppliesButTimesOut),
        ]
        .prop_map(Step::Redis),
        1 => Just(Step::Junk),
        1 => Just(Step::Hold),
        2 => Just(Step::Release),
        1 => Just(Step::Restart),
        1 => Just(Step::Hibernate),
        2 => Just(Step::Alarm),
        2 => (0..2_000i64).prop_map(Step::Advance),
    ]
}

/// A client as the web client behaves: a list keyed by `seq`, its own sends and actions with
/// their acknowledgements, and a resume from the highest revision it saw when it reconnects.
#[derive(Debug, Default)]
struct Client {
    secret: String,
    conn: Option<ConnId>,
    list: BTreeMap<i64, Message>,
    /// The room's revision this client has everything up to.
    cursor: i64,
    /// Its sends: `client_id`, text, and the message replied to.
    sent: Vec<(String, String, Option<i64>)>,
    /// Its actions, as the frames it sends and resends.
    actions: Vec<ClientFrame>,
    /// `client_id`s of sends confirmed (their message came back) or actions confirmed
    /// (`applied`).
    acked: HashSet<String>,
    /// `client_id`s of sends and actions refused for good (`not_found`, `not_allowed`,
    /// `bad_reaction`): settled, and never applied.
    refused: HashSet<String>,
    /// Gone for good: never reconnects, never retries.
    abandoned: bool,
    /// The `seq`s of other people's messages this connection received, and how many came twice.
    on_this_connection: HashSet<i64>,
    repeats: Vec<i64>,
}

impl Client {
    fn take_frames(&mut self, h: &mut Harness) {
        let Some(conn) = self.conn else { return };
        let user_id = identity::user_id(&self.secret);
        for frame in h.take(conn) {
            match frame {
                ServerFrame::Welcome(welcome) => {
                    if welcome.reset {
                        self.list.clear();
                    }
                    self.cursor = self.cursor.max(welcome.rev.unwrap_or(0));
                    // As the web client does: newer than the newest held is added, an older
                    // message that changed replaces the one held and is not added otherwise.
                    let newest = self.list.keys().next_back().copied().unwrap_or(i64::MIN);
                    for message in welcome.messages {
                        if message.seq > newest {
                            self.receive(&user_id, message);
                        } else {
                            self.cursor = self.cursor.max(message.rev());
                            if let Some(held) = self.list.get_mut(&message.seq) {
                                *held = message;
                            }
                        }
                    }
                }
                ServerFrame::Updated { messages } => {
                    for message in messages {
                        self.cursor = self.cursor.max(message.rev());
                        if let Some(held) = self.list.get_mut(&message.seq) {
                            *held = message;
                        }
                    }
                }
                ServerFrame::Applied { client_id, .. } => {
                    self.acked.insert(client_id);
                }
                ServerFrame::Error(error) => {
                    let settled = matches!(
                        error.code,
                        ErrorCode::NotFound | ErrorCode::NotAllowed | ErrorCode::BadReaction
                    );
                    if let Some(client_id) = error.client_id.filter(|_| settled) {
                        self.refused.insert(client_id);
                    }
                }
                other => {
                    for message in other.stored_messages() {
                        self.receive(&user_id, message.clone());
                    }
                }
            }
        }
        if h.closed.contains_key(&conn) {
            self.conn = None;
        }
    }

    fn receive(&mut self, user_id: &str, message: Message) {
        self.cursor = self.cursor.max(message.rev());
        if message.user_id == user_id {
            // Its own messages come again as answers to its retries; that is the protocol.
            self.acked.insert(message.client_id.clone());
        } else if !self.on_this_connection.insert(message.seq) {
            self.repeats.push(message.seq);
        }
        self.list.insert(message.seq, message);
    }

    fn join(&mut self, h: &mut Harness, name: &str) {
        let conn = h.connect();
        self.conn = Some(conn);
        self.on_this_connection.clear();
        let since = (self.cursor > 0).then_some(self.cursor);
        h.frame(
            conn,
            &ClientFrame::Hello {
                protocol: protocol::PROTOCOL_VERSION,
                name: name.into(),
                secret: self.secret.clone().into(),
                since,
            },
        );
        self.take_frames(h);
    }

    fn send(&mut self, h: &mut Harness, index: usize) {
        let Some(conn) = self.conn else { return };
        let Some((client_id, text, reply_to)) = self.sent.get(index).cloned() else {
            return;
        };
        match reply_to {
            Some(to) => h.reply(conn, &client_id, &text, to),
            None => h.send(conn, &client_id, &text),
        }
    }

    fn write(&mut self, h: &mut Harness, who: usize, reply_to: Option<i64>) {
        if self.abandoned {
            return;
        }
        let n = self.sent.len();
        self.sent.push((
            format!("{who}-message-{n:04}"),
            format!("{who}:{n}"),
            reply_to,
        ));
        self.send(h, n);
    }

    /// The `n`-th message it holds (modulo how many), if any.
    fn pick(&self, n: usize) -> Option<i64> {
        let len = self.list.len();
        (len > 0).then(|| self.list.keys().nth(n % len).copied())?
    }

    fn act(&mut self, h: &mut Harness, who: usize, n: usize, action: Action) {
        let Some(seq) = self.pick(n).filter(|_| !self.abandoned) else {
            return;
        };
        let k = self.actions.len();
        let client_id = format!("{who}-action-{k:04}");
        self.actions.push(match action {
            Action::Edit => ClientFrame::Edit {
                client_id,
                seq,
                text: format!("{who}:edit {k}"),
            },
            Action::Delete => ClientFrame::Delete { client_id, seq },
            Action::React(emoji, on) => ClientFrame::React {
                client_id,
                seq,
                emoji: ["👍", "🎉", "🔥"][emoji].into(),
                on,
            },
        });
        self.resend_action(h, k);
    }

    fn resend_action(&mut self, h: &mut Harness, index: usize) {
        if let (Some(conn), Some(frame)) = (self.conn, self.actions.get(index)) {
            h.frame(conn, frame);
        }
    }

    /// Whether a send or action is answered for good.
    fn answered(&self, client_id: &str) -> bool {
        self.acked.contains(client_id) || self.refused.contains(client_id)
    }

    /// Whether everything it sent is answered for good.
    fn settled(&self) -> bool {
        self.abandoned
            || (self.sent.iter().all(|(id, _, _)| self.answered(id))
                && self
                    .actions
                    .iter()
                    .filter_map(ClientFrame::client_id)
                    .all(|id| self.answered(id)))
    }
}

/// A message of someone who used the room before the log existed: it is in Redis only.
fn legacy(seq: i64) -> Message {
    Message {
        seq,
        client_id: format!("legacy-{seq:04}"),
        user_id: identity::user_id("property-secret-of-the-old-days"),
        name: "dana".into(),
        text: format!("legacy {seq}"),
        ts: seq,
        ..Default::default()
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut h = Harness::with_config(RoomConfig {
        max_batch: 3,
        ..unlimited()
    });
    // A backlog cap a flood reaches while Redis is away.
    h.limits.backlog_max = 12;
    for seq in 1..=2 {
        let message = legacy(seq);
        h.redis.messages.insert((seq, message.to_json()));
        h.redis.ids.insert((
            seq,
            room::store::dedupe_id(&message.user_id, &message.client_id),
        ));
    }
    let names = ["alice", "bob", "carol"];
    let mut clients: Vec<Client> = (0..3)
        .map(|i| Client {
            secret: format!("property-secret-of-user-{i}"),
            ..Client::default()
        })
        .collect();
    for (client, name) in clients.iter_mut().zip(names) {
        client.join(&mut h, name);
    }
    for step in steps {
        match step {
            Step::Send(who) => clients[who].write(&mut h, who, None),
            Step::Flood(who, n) => {
                for _ in 0..n {
                    clients[who].write(&mut h, who, None);
                }
            }
            Step::Reply(who, n) => {
                let to = clients[who].pick(n);
                if to.is_some() {
                    clients[who].write(&mut h, who, to);
                }
            }
            Step::Act(who, n, action) => clients[who].act(&mut h, who, n, action),
            Step::RetryAction(who, n) => {
                let client = &mut clients[who];
                if !client.actions.is_empty() {
                    let index = n % client.actions.len();
                    client.resend_action(&mut h, index);
                }
            }
            Step::Retry(who, n) => {
                let client = &mut clients[who];
                if !client.sent.is_empty() {
                    let index = n % client.sent.len();
                    client.send(&mut h, index);
                }
            }
            Step::Abandon(who) => {
                let client = &mut clients[who];
                client.abandoned = true;
                if let Some(conn) = client.conn.take() {
                    h.close(conn);
                }
            }
            Step::Store(mode) => h.store_mode = mode,
            Step::Redis(mode) => h.redis.mode = mode,
            Step::Junk => h.redis.add_junk("{\"not\": \"a message\""),
            Step::Hold => h.hold_io = true,
            Step::Release => h.release(),
            // The runtime hibernates an object only when it is idle; with an await under way
            // the only way to lose its memory is eviction, which drops the sockets too.
            Step::Hibernate if h.held.is_empty() => h.hibernate_and_wake(),
            Step::Restart | Step::Hibernate => {
                h.restart();
                for client in &mut clients {
                    client.conn = None;
                }
            }
            Step::Alarm => {
                let next = h
                    .wake_requests
                    .iter()
                    .chain(&h.mirror_wakes)
                    .copied()
                    .filter(|at| *at > h.now)
                    .min();
                if let Some(at) = next {
                    h.now = at;
                }
                h.wake();
            }
            Step::Advance(ms) => h.advance(ms),
        }
        for client in &mut clients {
            client.take_frames(&mut h);
        }
        // A client whose socket was closed comes back, as the web client does.
        for (client, name) in clients.iter_mut().zip(names) {
            if client.conn.is_none() && !client.abandoned {
                client.join(&mut h, name);
            }
        }
    }

    // The weather clears: storage and Redis answer, the alarm fires, and every client still
    // here retries what it has not seen acknowledged, as its outbox does.
    h.store_mode = StoreMode::Up;
    h.redis.mode = RedisMode::Up;
    h.release();
    // Each round the mirror catches up, so the backlog cap lets at least its worth through: a
    // run's floods need a few rounds, as a real outbox retries over time.
    for _ in 0..200 {
        if clients.iter().all(Client::settled) {
            break;
        }
        h.advance(room::mirror::RETRY_MAX_MS);
        h.wake();
        for (client, name) in clients.iter_mut().zip(names) {
            if client.abandoned {
                continue;
            }
            client.take_frames(&mut h);
            if client.conn.is_none() {
                client.join(&mut h, name);
            }
            let unacked: Vec<usize> = (0..client.sent.len())
                .filter(|i| !client.answered(&client.sent[*i].0))
                .collect();
            for index in unacked {
                client.send(&mut h, index);
            }
            let unacked: Vec<usize> = (0..client.actions.len())
                .filter(|i| {
                    !client.actions[*i]
                        .client_id()
                        .is_some_and(|id| client.answered(id))
                })
                .collect();
            for index in unacked {
                client.resend_action(&mut h, index);
            }
            client.take_frames(&mut h);
        }
    }
    for client in &mut clients {
        client.take_frames(&mut h);
    }
    // The mirror's next alarm, however far its backoff had got.
    h.advance(room::mirror::RETRY_MAX_MS);
    h.wake();

    prop_assert_eq!(h.fenced, 0, "one instance is never fenced");
    let stored = h.stored();
    let mut count: HashMap<(&str, &str), usize> = HashMap::new();
    for message in &stored {
        *count
            .entry((&message.user_id, &message.client_id))
            .or_default() += 1;
    }
    for ((user, client_id), n) in &count {
        prop_assert_eq!(*n, 1, "{}:{} committed {} times", user, client_id, n);
    }
    for client in &clients {
        let user_id = identity::user_id(&client.secret);
        prop_assert!(
            client.repeats.is_empty(),
            "delivered twice on one connection: {:?}",
            client.repeats
        );
        for (client_id, _, _) in &client.sent {
            let committed = count.get(&(user_id.as_str(), client_id.as_str()));
            if client.refused.contains(client_id) {
                prop_assert_eq!(committed, None, "{} refused but committed", client_id);
            } else if client.acked.contains(client_id) {
                prop_assert_eq!(
                    committed,
                    Some(&1),
                    "{} acknowledged but not committed once",
                    client_id
                );
            } else {
                prop_assert!(client.abandoned, "{} never acknowledged", client_id);
            }
        }
        prop_assert!(client.settled(), "every action answered");
        if client.abandoned {
            continue;
        }
        // A client holds the log from where its list starts (a reset welcome brings the newest
        // page only), without a gap.
        let first = client.list.keys().next().copied().unwrap_or(i64::MAX);
        let list: Vec<&Message> = client.list.values().collect();
        let want: Vec<&Message> = stored.iter().filter(|m| m.seq >= first).collect();
        prop_assert_eq!(list, want, "a client's list is the log's, no gap");
        prop_assert!(
            client.list.len() >= stored.len().min(protocol::WELCOME_MESSAGES),
            "a client holds at least a welcome's worth"
        );
    }
    // Redis is the log's mirror: every committed message once, at its `seq`, in order; its
    // ids the same; the junk left where it was, never in the way.
    let mirrored = h.redis.parsed();
    prop_assert!(mirrored.iter().all(|(score, m)| *score == m.seq));
    let mirrored: Vec<Message> = mirrored.into_iter().map(|(_, m)| m).collect();
    prop_assert_eq!(&mirrored, &stored, "Redis holds the log");
    let ids: Vec<(i64, String)> = h.redis.ids.iter().cloned().collect();
    let want: Vec<(i64, String)> = stored
        .iter()
        .map(|m| (m.seq, room::store::dedupe_id(&m.user_id, &m.client_id)))
        .collect();
    prop_assert_eq!(ids, want);
    let reactions: BTreeMap<i64, String> = stored
        .iter()
        .filter(|m| !m.reactions.is_empty())
        .map(|m| {
            (
                m.seq,
                serde_json::to_string(&m.reactions).unwrap_or_default(),
            )
        })
        .collect();
    prop_assert_eq!(&h.redis.reactions, &reactions, "the reactions hash");
    for message in &stored {
        if let Some(quote) = &message.reply {
            let original = stored.iter().find(|m| m.seq == quote.seq);
            let want = original.map(room::actions::quote);
            prop_assert_eq!(Some(quote), want.as_ref(), "a quote follows its original");
        }
    }
    prop_assert_eq!(
        h.mirrored(),
        stored.iter().map(Message::rev).max().unwrap_or(0)
    );
    prop_assert!(
        h.log.mirrored <= h.mirrored(),
        "the saved mark never runs ahead"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_acknowledged_message_is_committed_delivered_and_mirrored_exactly_once(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        run(steps)?;
    }
}
