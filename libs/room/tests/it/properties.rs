//! A property test of exactly-once: random runs of sends, retries in any order, a store that
//! fails, times out after applying or answers late, restarts and hibernation, after which every
//! acknowledged message is stored exactly once and every client's list equals the store's.

use crate::harness::{Harness, StoreMode, unlimited};
use proptest::prelude::*;
use protocol::{ClientFrame, Message, ServerFrame};
use room::{ConnId, RoomConfig, identity};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One step of a run.
#[derive(Debug, Clone)]
enum Step {
    /// Client `who` writes a new message.
    Send(usize),
    /// Client `who` resends its `n`-th message (modulo how many it has), acknowledged or not.
    Retry(usize, usize),
    /// The store starts behaving so.
    Store(StoreMode),
    /// Store operations wait from now on / are all carried out.
    Hold,
    Release,
    /// The oldest held write gets no answer in time (it stays on the wire).
    TimeOut,
    /// A write the room gave up on reaches Redis now.
    LandLate,
    /// The Durable Object is evicted (connections drop) / hibernates (connections stay).
    Restart,
    Hibernate,
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..3usize).prop_map(Step::Send),
        4 => (0..3usize, 0..8usize).prop_map(|(w, n)| Step::Retry(w, n)),
        2 => prop_oneof![
            Just(StoreMode::Up),
            Just(StoreMode::Down),
            Just(StoreMode::AppliesButTimesOut),
        ]
        .prop_map(Step::Store),
        1 => Just(Step::Hold),
        2 => Just(Step::Release),
        2 => Just(Step::TimeOut),
        2 => Just(Step::LandLate),
        1 => Just(Step::Restart),
        1 => Just(Step::Hibernate),
        2 => (0..2_000i64).prop_map(Step::Advance),
    ]
}

/// A client as the web client behaves: a list keyed by `seq`, its own sends with their
/// acknowledgements, and a resume from its newest message when it reconnects.
#[derive(Debug, Default)]
struct Client {
    secret: String,
    conn: Option<ConnId>,
    list: BTreeMap<i64, Message>,
    sent: Vec<(String, String)>,
    acked: HashSet<String>,
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
                    for message in welcome.messages {
                        self.receive(&user_id, message);
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
        if message.user_id == user_id {
            self.acked.insert(message.client_id.clone());
        }
        self.list.insert(message.seq, message);
    }

    fn join(&mut self, h: &mut Harness, name: &str) {
        let conn = h.connect();
        self.conn = Some(conn);
        let since = self.list.keys().next_back().copied();
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
        let Some((client_id, text)) = self.sent.get(index).cloned() else {
            return;
        };
        h.send(conn, &client_id, &text);
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let mut h = Harness::with_config(RoomConfig {
        max_batch: 3,
        ..unlimited()
    });
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
            Step::Send(who) => {
                let client = &mut clients[who];
                let n = client.sent.len();
                client
                    .sent
                    .push((format!("{who}-message-{n:04}"), format!("{who}:{n}")));
                client.send(&mut h, n);
            }
            Step::Retry(who, n) => {
                let client = &mut clients[who];
                if !client.sent.is_empty() {
                    let index = n % client.sent.len();
                    client.send(&mut h, index);
                }
            }
            Step::Store(mode) => h.store_mode = mode,
            Step::Hold => h.hold_io = true,
            Step::Release => h.release(),
            Step::TimeOut => {
                h.time_out_held_write();
            }
            Step::LandLate => {
                h.land_late();
            }
            // The runtime hibernates an object only when it is idle; with a request on the wire
            // the only way to lose its memory is eviction, which drops the sockets too.
            Step::Hibernate if h.held.is_empty() => h.hibernate_and_wake(),
            Step::Restart | Step::Hibernate => {
                h.restart();
                for client in &mut clients {
                    client.conn = None;
                }
            }
            Step::Advance(ms) => h.advance(ms),
        }
        for client in &mut clients {
            client.take_frames(&mut h);
        }
        // A client whose socket was closed comes back, as the web client does.
        for (client, name) in clients.iter_mut().zip(names) {
            if client.conn.is_none() {
                client.join(&mut h, name);
            }
        }
    }

    // The weather clears: late writes land or are fenced, the store answers, and every client
    // retries what it has not seen acknowledged, as its outbox does.
    while h.land_late().is_some() {}
    h.store_mode = StoreMode::Up;
    h.release();
    for _ in 0..4 {
        h.advance(1_000);
        for (client, name) in clients.iter_mut().zip(names) {
            client.take_frames(&mut h);
            if client.conn.is_none() {
                client.join(&mut h, name);
            }
            let unacked: Vec<usize> = (0..client.sent.len())
                .filter(|i| !client.acked.contains(&client.sent[*i].0))
                .collect();
            for index in unacked {
                client.send(&mut h, index);
            }
            client.take_frames(&mut h);
        }
    }
    for client in &mut clients {
        client.take_frames(&mut h);
    }

    let stored = h.stored();
    let mut count: HashMap<(&str, &str), usize> = HashMap::new();
    for message in &stored {
        *count
            .entry((&message.user_id, &message.client_id))
            .or_default() += 1;
    }
    for ((user, client_id), n) in &count {
        prop_assert_eq!(*n, 1, "{}:{} stored {} times", user, client_id, n);
    }
    for client in &clients {
        let user_id = identity::user_id(&client.secret);
        for (client_id, _) in &client.sent {
            prop_assert!(
                client.acked.contains(client_id),
                "{} never acknowledged",
                client_id
            );
            prop_assert_eq!(
                count.get(&(user_id.as_str(), client_id.as_str())),
                Some(&1),
                "{} acknowledged but not stored once",
                client_id
            );
        }
        let list: Vec<&Message> = client.list.values().collect();
        let want: Vec<&Message> = stored.iter().collect();
        prop_assert_eq!(list, want, "a client's list is the store's, no gap");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_acknowledged_message_is_stored_exactly_once_and_seen_by_all(
        steps in proptest::collection::vec(step(), 1..40)
    ) {
        run(steps)?;
    }
}
