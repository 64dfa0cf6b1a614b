//! The rooms this browser has been in, newest visit first, with the newest message seen in each
//! and how many arrived since. Kept in localStorage, shared by every tab: each save merges what
//! other tabs stored, so no tab erases another's rooms or takes back what another has seen.

use protocol::HistoryPage;
use protocol::json::{Json, ObjectWriter};

/// How many rooms the list keeps; the least recently visited leaves first.
pub const MAX_ROOMS: usize = 20;

/// How many of a room's newest messages the client asks for to count what is unread: a count
/// that fills the page reads "50+".
pub const UNREAD_PAGE: u32 = 50;

/// One room of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomEntry {
    pub room: String,
    /// The newest `seq` shown in this room while the page was visible; 0 if none yet.
    pub seen: i64,
    /// When it was last opened (ms since the epoch), in any tab: the list's order.
    pub visited: i64,
    /// Messages from others after `seen`, from the newest page asked for; `None` until asked.
    pub unread: Option<Unread>,
}

/// How many messages of a room are unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    Exactly(u32),
    /// The page asked for held only unread messages and there are more.
    AtLeast(u32),
}

impl Unread {
    /// The badge: "3", "50+"; empty when nothing is unread.
    pub fn label(self) -> String {
        match self {
            Self::Exactly(0) => String::new(),
            Self::Exactly(n) => n.to_string(),
            Self::AtLeast(n) => format!("{n}+"),
        }
    }
}

/// The list of rooms. Seqs are the room's send times (milliseconds), not a counter, so unread
/// messages are counted from a page of the newest ones, not by subtraction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rooms {
    entries: Vec<RoomEntry>,
}

impl Rooms {
    pub fn entries(&self) -> &[RoomEntry] {
        &self.entries
    }

    /// Each room with its badge ("3", "50+", or empty), in the list's order.
    pub fn badges(&self) -> Vec<(String, String)> {
        self.entries
            .iter()
            .map(|e| {
                (
                    e.room.clone(),
                    e.unread.map(Unread::label).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// Whether a room other than `here` has unread messages (the phone's menu button shows a
    /// dot then).
    pub fn unread_elsewhere(&self, here: &str) -> bool {
        self.entries
            .iter()
            .any(|e| e.room != here && e.unread.is_some_and(|u| u != Unread::Exactly(0)))
    }

    /// `room` was opened at `now`: it goes first, and the oldest visit beyond [`MAX_ROOMS`]
    /// leaves.
    pub fn visit(&mut self, room: &str, now: i64) {
        let mut entry = match self.entries.iter().position(|e| e.room == room) {
            Some(at) => self.entries.remove(at),
            None => RoomEntry {
                room: room.to_owned(),
                seen: 0,
                visited: now,
                unread: None,
            },
        };
        entry.visited = entry.visited.max(now);
        self.entries.insert(0, entry);
        self.entries.truncate(MAX_ROOMS);
    }

    /// The person saw `room` up to `seq`. Returns whether that is news (worth saving).
    pub fn saw(&mut self, room: &str, seq: i64) -> bool {
        match self.entries.iter_mut().find(|e| e.room == room) {
            Some(entry) if entry.seen < seq => {
                entry.seen = seq;
                entry.unread = Some(Unread::Exactly(0));
                true
            }
            _ => false,
        }
    }

    /// The newest page of `room` arrived: counts what others wrote after what was seen there.
    pub fn newest_page(&mut self, room: &str, page: &HistoryPage, own_user_id: &str) {
        let Some(entry) = self.entries.iter_mut().find(|e| e.room == room) else {
            return;
        };
        let newer = page.messages.iter().filter(|m| m.seq > entry.seen);
        let count = newer.clone().filter(|m| m.user_id != own_user_id).count();
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        // The whole page is newer and there is more: more may be unread than it shows.
        let all_newer = newer.count() == page.messages.len();
        entry.unread = Some(if all_newer && page.has_more && count > 0 {
            Unread::AtLeast(count)
        } else {
            Unread::Exactly(count)
        });
    }

    /// The list as stored: `{"rooms":[{"room":"lobby","seen":1733000000000,"visited":…},…]}`.
    /// Unread counts are asked for again on each page, not stored.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        ObjectWriter::new(&mut out)
            .array("rooms", &self.entries, |entry, out| {
                ObjectWriter::new(out)
                    .str("room", &entry.room)
                    .int("seen", entry.seen)
                    .int("visited", entry.visited)
                    .end();
            })
            .end();
        out
    }

    /// The list read back; entries that do not read (or name an invalid room) are skipped, and
    /// a text that is not a list at all is an empty one.
    pub fn from_json(json: &str) -> Self {
        let Ok(json) = Json::parse(json) else {
            return Self::default();
        };
        let entries = json
            .get("rooms")
            .and_then(Json::as_array)
            .unwrap_or_default()
            .iter()
            .filter_map(|entry| {
                Some(RoomEntry {
                    room: entry.str_member("room")?,
                    seen: entry.int_member("seen")?,
                    visited: entry.int_member("visited").unwrap_or(0),
                    unread: None,
                })
            })
            .filter(|entry| protocol::validate_room(&entry.room).is_ok())
            .take(MAX_ROOMS)
            .collect();
        Self { entries }
    }

    /// Brings in what another tab stored (`stored`): the rooms of both lists, each with the
    /// newest `seen` and visit of the two, newest visit first, the [`MAX_ROOMS`] most recent
    /// kept. So no tab drops a room another tab has just opened.
    pub fn merge_stored(&mut self, stored: Option<&str>) {
        for other in Self::from_json(stored.unwrap_or_default()).entries {
            if let Some(entry) = self.entries.iter_mut().find(|e| e.room == other.room) {
                if other.seen > entry.seen {
                    entry.seen = other.seen;
                    // Seen in another tab: what this tab counted is out of date.
                    entry.unread = None;
                }
                entry.visited = entry.visited.max(other.visited);
            } else {
                self.entries.push(other);
            }
        }
        // Newest visit first; equal ones (lists saved before visits had a time) keep their
        // order. An insertion sort: a sort would cost the web client kilobytes for 20 rooms.
        for i in 1..self.entries.len() {
            let mut j = i;
            while j > 0 && self.entries[j - 1].visited < self.entries[j].visited {
                self.entries.swap(j - 1, j);
                j -= 1;
            }
        }
        self.entries.truncate(MAX_ROOMS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Message;

    fn page(seqs: &[(i64, &str)], has_more: bool) -> HistoryPage {
        HistoryPage {
            messages: seqs
                .iter()
                .map(|(seq, user)| Message {
                    seq: *seq,
                    client_id: format!("client-{seq:04}"),
                    user_id: (*user).into(),
                    name: (*user).into(),
                    text: "hi".into(),
                    ts: *seq,
                    ..Default::default()
                })
                .collect(),
            has_more,
        }
    }

    fn names(rooms: &Rooms) -> Vec<&str> {
        rooms.entries().iter().map(|e| e.room.as_str()).collect()
    }

    #[test]
    fn visits_put_the_room_first_and_the_list_is_bounded() {
        let mut rooms = Rooms::default();
        for n in 0..MAX_ROOMS + 3 {
            rooms.visit(&format!("room-{n}"), n as i64);
        }
        assert_eq!(rooms.entries().len(), MAX_ROOMS);
        assert_eq!(rooms.entries()[0].room, format!("room-{}", MAX_ROOMS + 2));
        assert!(!names(&rooms).contains(&"room-2"), "the oldest visits left");
        rooms.visit("room-10", 100);
        assert_eq!(rooms.entries()[0].room, "room-10");
        assert_eq!(
            rooms.entries().len(),
            MAX_ROOMS,
            "a revisit is not a new entry"
        );
    }

    #[test]
    fn unread_counts_what_others_wrote_after_what_was_seen() {
        let mut rooms = Rooms::default();
        rooms.visit("design", 1);
        assert!(rooms.saw("design", 1_000));
        assert!(!rooms.saw("design", 900), "seen never goes back");
        // Two from others and one own after 1000; 1000 and before were seen.
        rooms.newest_page(
            "design",
            &page(
                &[
                    (900, "bob"),
                    (1_000, "bob"),
                    (1_100, "bob"),
                    (1_200, "me"),
                    (1_300, "ann"),
                ],
                true,
            ),
            "me",
        );
        assert_eq!(rooms.entries()[0].unread, Some(Unread::Exactly(2)));
        assert_eq!(Unread::Exactly(2).label(), "2");
        assert_eq!(Unread::Exactly(0).label(), "");
        // A page of nothing but unread, with more before it: at least that many.
        rooms.newest_page(
            "design",
            &page(&[(2_000, "bob"), (2_100, "bob")], true),
            "me",
        );
        assert_eq!(rooms.entries()[0].unread, Some(Unread::AtLeast(2)));
        assert_eq!(Unread::AtLeast(50).label(), "50+");
        // The same page at the room's beginning is exact.
        rooms.newest_page(
            "design",
            &page(&[(2_000, "bob"), (2_100, "bob")], false),
            "me",
        );
        assert_eq!(rooms.entries()[0].unread, Some(Unread::Exactly(2)));
        assert!(rooms.unread_elsewhere("lobby"));
        assert!(!rooms.unread_elsewhere("design"), "not the room one is in");
        // Seeing it clears the count.
        assert!(rooms.saw("design", 2_100));
        assert_eq!(rooms.entries()[0].unread, Some(Unread::Exactly(0)));
        assert!(!rooms.unread_elsewhere("lobby"));
    }

    #[test]
    fn the_stored_list_reads_back_and_skips_what_it_cannot_read() {
        let mut rooms = Rooms::default();
        rooms.visit("lobby", 1);
        rooms.visit("design", 2);
        rooms.saw("design", 42);
        let json = rooms.to_json();
        assert_eq!(
            json,
            r#"{"rooms":[{"room":"design","seen":42,"visited":2},{"room":"lobby","seen":0,"visited":1}]}"#
        );
        let back = Rooms::from_json(&json);
        assert_eq!(names(&back), ["design", "lobby"]);
        assert_eq!(back.entries()[0].seen, 42);
        assert_eq!(back.entries()[0].unread, None, "counts are asked for again");

        let odd = r#"{"rooms":[{"room":"Not A Room","seen":1},{"room":"ok","seen":"x"},{"room":"fine","seen":3}]}"#;
        assert_eq!(names(&Rooms::from_json(odd)), ["fine"]);
        assert_eq!(Rooms::from_json("not json"), Rooms::default());
    }

    #[test]
    fn another_tabs_rooms_join_and_the_newest_seen_wins() {
        let mut here = Rooms::default();
        here.visit("lobby", 1);
        here.saw("lobby", 10);
        here.visit("design", 3);
        let mut there = Rooms::default();
        there.visit("lobby", 2);
        there.saw("lobby", 20);
        there.visit("ops", 4);
        here.merge_stored(Some(&there.to_json()));
        assert_eq!(
            names(&here),
            ["ops", "design", "lobby"],
            "newest visit first"
        );
        assert_eq!(here.entries()[2].seen, 20);
        assert_eq!(here.entries()[2].visited, 2);
        here.merge_stored(None);
        assert_eq!(
            names(&here),
            ["ops", "design", "lobby"],
            "nothing stored erases nothing"
        );

        // A full list keeps the most recent rooms of both tabs, not this tab's oldest.
        let mut full = Rooms::default();
        for n in 0..MAX_ROOMS {
            full.visit(&format!("old-{n}"), n as i64);
        }
        let mut other = Rooms::default();
        other.visit("fresh", 1_000);
        full.merge_stored(Some(&other.to_json()));
        assert_eq!(full.entries().len(), MAX_ROOMS);
        assert_eq!(full.entries()[0].room, "fresh");
        assert!(!names(&full).contains(&"old-0"), "the oldest visit left");
    }
}
