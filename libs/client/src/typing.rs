//! Who else is typing, each expiring by itself if no update arrives.

/// How long a "typing" notice lasts without a refresh.
pub const TYPING_TTL_MS: i64 = 6_000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Typing {
    /// (user_id, name, expires at), one entry per user. A handful of entries at most, so a
    /// `Vec` searched in order, without a map's code in the web client.
    typists: Vec<(String, String, i64)>,
}

impl Typing {
    pub fn update(&mut self, user_id: &str, name: &str, active: bool, now: i64) {
        if !active {
            return self.stop(user_id);
        }
        let expires = now + TYPING_TTL_MS;
        match self.typists.iter_mut().find(|(id, _, _)| id == user_id) {
            Some(entry) => {
                entry.1 = name.to_owned();
                entry.2 = expires;
            }
            None => self
                .typists
                .push((user_id.to_owned(), name.to_owned(), expires)),
        }
    }

    /// Someone's message arrived or they left: they are no longer typing.
    pub fn stop(&mut self, user_id: &str) {
        self.typists.retain(|(id, _, _)| id != user_id);
    }

    /// Keeps only the users in `online`.
    pub fn retain_online<'a>(&mut self, online: impl IntoIterator<Item = &'a str>) {
        let online: Vec<&str> = online.into_iter().collect();
        self.typists
            .retain(|(id, _, _)| online.contains(&id.as_str()));
    }

    /// The names typing at `now`, sorted. Each goes in at its place: there are a handful, and
    /// a sort would add a whole sorting routine to the web client for them.
    pub fn names(&self, now: i64) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, name, expires) in &self.typists {
            if *expires > now {
                let at = names.partition_point(|n| n < name);
                names.insert(at, name.clone());
            }
        }
        names
    }

    /// "alice is typing…", "alice and bob are typing…", "3 people are typing…".
    pub fn summary(&self, now: i64) -> Option<String> {
        let names = self.names(now);
        match names.as_slice() {
            [] => None,
            [one] => Some(format!("{one} is typing…")),
            [a, b] => Some(format!("{a} and {b} are typing…")),
            many => Some(format!("{} people are typing…", many.len())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_and_expiry() {
        let mut typing = Typing::default();
        assert_eq!(typing.summary(0), None);
        typing.update("u1", "alice", true, 0);
        assert_eq!(typing.summary(1).as_deref(), Some("alice is typing…"));
        typing.update("u2", "bob", true, 1000);
        assert_eq!(
            typing.summary(1001).as_deref(),
            Some("alice and bob are typing…")
        );
        typing.update("u3", "carol", true, 1000);
        assert_eq!(
            typing.summary(1001).as_deref(),
            Some("3 people are typing…")
        );
        assert_eq!(
            typing.summary(6500).as_deref(),
            Some("bob and carol are typing…"),
            "alice expired"
        );
        typing.update("u2", "bob", false, 6600);
        typing.stop("u3");
        assert_eq!(typing.summary(6601), None);
    }
}
