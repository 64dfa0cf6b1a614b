//! The message list: messages keyed by `seq`, so merging pages, resumes and live messages can
//! never duplicate or reorder anything, and the rows the view renders (day separators, bubbles
//! grouped by author).

use protocol::Message;

/// Consecutive messages of one author closer than this are grouped under one name.
pub const GROUP_GAP_MS: i64 = 5 * 60 * 1000;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The messages the client holds, ascending by `seq`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessageList {
    /// Sorted by `seq`, no two alike. A sorted `Vec` rather than a `BTreeMap`: live messages
    /// arrive at the end, where inserting costs nothing, pages of older ones are merged in one
    /// sort, and the map's code was 8.6 KB of the web client's wasm.
    by_seq: Vec<Message>,
    /// Whether the room holds older messages than the oldest here.
    pub has_more: bool,
    /// Whether a request for older messages is under way.
    pub loading_older: bool,
    /// Bumped whenever the messages change, so a view can rebuild its rows only then (not on
    /// every tick or typing notice that changes something else in the state).
    revision: u64,
}

/// One row of the rendered list, borrowing its message from the list: a view that renders
/// thousands of rows per change does not copy them.
#[derive(Debug, Clone, PartialEq)]
pub enum Row<'a> {
    /// The start of a new day; `day` counts days since the epoch in the viewer's time zone.
    Day { day: i64, ts: i64 },
    Message {
        message: &'a Message,
        /// Sent by this client's user.
        own: bool,
        /// The first of a run by the same author (shows the name).
        first_in_group: bool,
    },
}

impl MessageList {
    /// Replaces everything (a `welcome` with `reset: true`).
    pub fn reset(&mut self, messages: Vec<Message>, has_more: bool) {
        self.by_seq = messages;
        self.settle();
        self.has_more = has_more;
        self.loading_older = false;
    }

    /// Changes whenever the messages do (see `revision`).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Adds messages; one already held replaces it if it is newer (a higher `rev`). Returns how
    /// many were new.
    pub fn merge(&mut self, messages: impl IntoIterator<Item = Message>) -> usize {
        let before = self.by_seq.len();
        for message in messages {
            match self.by_seq[..before].binary_search_by_key(&message.seq, |m| m.seq) {
                Ok(at) => {
                    self.replace(at, message);
                }
                // Appended now and put in place below, so a page of older messages costs one
                // sort rather than one shift of the whole list per message.
                Err(_) => self.by_seq.push(message),
            }
        }
        if self.by_seq.len() > before {
            self.settle();
        }
        self.by_seq.len() - before
    }

    /// The current state of messages that changed (an `updated` frame): each replaces the one
    /// held of its `seq` if it is newer. Messages not held are not added: they are older than
    /// what this list shows, and a page that brings them brings them as they are. Returns
    /// whether any changed.
    pub fn update(&mut self, messages: impl IntoIterator<Item = Message>) -> bool {
        let mut changed = false;
        for message in messages {
            if let Ok(at) = self.by_seq.binary_search_by_key(&message.seq, |m| m.seq) {
                changed |= self.replace(at, message);
            }
        }
        changed
    }

    /// Puts `message` at `at` (the index of the one of its `seq`) if it is newer.
    fn replace(&mut self, at: usize, message: Message) -> bool {
        let newer = self.by_seq[at].rev() < message.rev();
        if newer {
            self.by_seq[at] = message;
            self.revision += 1;
        }
        newer
    }

    /// The message `seq`, if held.
    pub fn get(&self, seq: i64) -> Option<&Message> {
        let at = self.by_seq.binary_search_by_key(&seq, |m| m.seq).ok()?;
        self.by_seq.get(at)
    }

    /// Puts the messages back in `seq` order, each once (a batch may carry one twice), after
    /// they were replaced or appended to; the rows must be rebuilt.
    fn settle(&mut self) {
        self.by_seq.sort_unstable_by_key(|m| m.seq);
        self.by_seq.dedup_by_key(|m| m.seq);
        self.revision += 1;
    }

    /// Adds one message; `false` if its `seq` was already held (which it replaces if newer).
    pub fn insert(&mut self, message: Message) -> bool {
        match self.by_seq.binary_search_by_key(&message.seq, |m| m.seq) {
            Ok(at) => {
                self.replace(at, message);
                false
            }
            Err(at) => {
                self.by_seq.insert(at, message);
                self.revision += 1;
                true
            }
        }
    }

    pub fn newest_seq(&self) -> Option<i64> {
        self.by_seq.last().map(|m| m.seq)
    }

    pub fn oldest_seq(&self) -> Option<i64> {
        self.by_seq.first().map(|m| m.seq)
    }

    pub fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_seq.is_empty()
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Message> {
        self.by_seq.iter()
    }

    /// The rows to render for `own_user_id`, with days split at local midnight
    /// (`tz_offset_ms` east of UTC).
    pub fn rows(&self, own_user_id: &str, tz_offset_ms: i64) -> Vec<Row<'_>> {
        let mut rows = Vec::with_capacity(self.by_seq.len() + 4);
        let mut previous: Option<&Message> = None;
        for message in &self.by_seq {
            let day = (message.ts + tz_offset_ms).div_euclid(DAY_MS);
            let new_day = previous.is_none_or(|p| (p.ts + tz_offset_ms).div_euclid(DAY_MS) != day);
            if new_day {
                rows.push(Row::Day {
                    day,
                    ts: message.ts,
                });
            }
            let first_in_group = new_day
                || previous.is_none_or(|p| {
                    // A new name starts a group too, so that it shows.
                    p.user_id != message.user_id
                        || p.name != message.name
                        || message.ts - p.ts > GROUP_GAP_MS
                });
            rows.push(Row::Message {
                message,
                own: message.user_id == own_user_id,
                first_in_group,
            });
            previous = Some(message);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn message(seq: i64, user: &str, ts: i64) -> Message {
        Message {
            seq,
            client_id: format!("c-{seq:06}"),
            user_id: user.into(),
            name: user.into(),
            text: format!("t{seq}"),
            ts,
            ..Message::default()
        }
    }

    #[test]
    fn a_newer_revision_replaces_an_older_one_and_never_the_reverse() {
        let mut list = MessageList::default();
        list.reset(vec![message(5, "a", 5), message(6, "a", 6)], true);
        let edited = Message {
            text: "edited".into(),
            rev: Some(9),
            ..message(5, "a", 5)
        };
        let revision = list.revision();
        assert!(list.update([edited.clone(), message(1, "a", 1)]));
        assert!(list.revision() > revision);
        assert_eq!(list.get(5), Some(&edited));
        assert_eq!(
            list.len(),
            2,
            "an update of a message not held adds nothing"
        );
        // An older copy (a page read before the edit) changes nothing.
        assert_eq!(list.merge([message(5, "a", 5)]), 0);
        assert!(!list.insert(message(5, "a", 5)));
        assert!(!list.update([message(5, "a", 5)]));
        assert_eq!(list.get(5), Some(&edited));
    }

    #[test]
    fn the_revision_changes_with_the_messages_only() {
        let mut list = MessageList::default();
        let start = list.revision();
        list.merge([message(1, "a", 1)]);
        let after_one = list.revision();
        assert!(after_one > start);
        assert!(!list.insert(message(1, "a", 1)));
        assert_eq!(
            list.revision(),
            after_one,
            "a message already held changes nothing"
        );
        list.loading_older = true;
        assert_eq!(list.revision(), after_one);
        list.reset(vec![], false);
        assert!(list.revision() > after_one);
    }

    #[test]
    fn merging_never_duplicates_or_reorders() {
        let mut list = MessageList::default();
        list.reset(vec![message(5, "a", 5), message(6, "a", 6)], true);
        assert_eq!(list.merge([message(6, "a", 6), message(7, "b", 7)]), 1);
        assert_eq!(list.merge([message(3, "b", 3), message(4, "b", 4)]), 2);
        let seqs: Vec<i64> = list.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [3, 4, 5, 6, 7]);
        assert_eq!((list.oldest_seq(), list.newest_seq()), (Some(3), Some(7)));
        list.reset(vec![message(10, "a", 10)], false);
        assert_eq!(list.len(), 1, "a reset replaces the list");
    }

    #[test]
    fn batches_out_of_order_or_with_repeats_end_sorted_and_once() {
        let mut list = MessageList::default();
        list.reset(
            vec![message(9, "a", 9), message(2, "a", 2), message(9, "a", 9)],
            true,
        );
        assert_eq!(list.len(), 2, "a welcome's repeats are held once");
        let revision = list.revision();
        // Older and newer at once, unordered, one of them twice and one already held.
        let added = list.merge([
            message(12, "b", 12),
            message(1, "b", 1),
            message(12, "b", 12),
            message(9, "a", 9),
            message(5, "b", 5),
        ]);
        assert_eq!(added, 3);
        let seqs: Vec<i64> = list.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, [1, 2, 5, 9, 12]);
        assert!(list.revision() > revision);
        let revision = list.revision();
        assert_eq!(list.merge([message(5, "b", 5), message(1, "b", 1)]), 0);
        assert_eq!(list.revision(), revision, "nothing new, nothing to rebuild");
        assert!(list.insert(message(3, "a", 3)));
        assert_eq!(list.iter().map(|m| m.seq).nth(2), Some(3));
    }

    #[test]
    fn rows_group_by_author_and_split_days() {
        let day = DAY_MS;
        let mut list = MessageList::default();
        list.merge([
            message(1, "alice", day - 1000),
            message(2, "alice", day + 1000),
            message(3, "alice", day + 2000),
            message(4, "bob", day + 3000),
            message(5, "bob", day + 3000 + GROUP_GAP_MS + 1),
            // Bob took a new name: his next message starts a group, which shows it.
            Message {
                name: "Robert".into(),
                ..message(6, "bob", day + 3000 + GROUP_GAP_MS + 2)
            },
        ]);
        let shape: Vec<String> = list
            .rows("bob", 0)
            .iter()
            .map(|r| match r {
                Row::Day { day, .. } => format!("day{day}"),
                Row::Message {
                    message,
                    own,
                    first_in_group,
                } => format!(
                    "{}{}{}",
                    message.seq,
                    if *own { "o" } else { "" },
                    if *first_in_group { "*" } else { "" }
                ),
            })
            .collect();
        assert_eq!(
            shape,
            ["day0", "1*", "day1", "2*", "3", "4o*", "5o*", "6o*"]
        );
        // Two hours east of UTC, message 1 already falls on day 1.
        let rows = list.rows("bob", 2 * 3600 * 1000);
        assert!(matches!(rows[0], Row::Day { day: 1, .. }));
    }
}
