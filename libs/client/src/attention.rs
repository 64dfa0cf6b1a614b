//! Getting the user's attention while the tab is hidden: the unread count for the tab title and
//! the desktop notifications to show. Decided here; the web client only sets the title and
//! shows what [`Attention::take_alerts`] hands it.

use protocol::Message;

/// How much of a message a notification shows.
const ALERT_BODY_CHARS: usize = 140;

/// A desktop notification to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub title: String,
    pub body: String,
}

/// Whether the tab is hidden, what arrived meanwhile, and whether the user asked to be notified.
#[derive(Debug, Clone, Default)]
pub struct Attention {
    hidden: bool,
    unread: u32,
    /// The user turned desktop notifications on (after the browser allowed them).
    pub notify: bool,
    alerts: Vec<Alert>,
}

impl Attention {
    /// The tab was hidden or shown. Showing it means everything was seen.
    pub fn set_hidden(&mut self, hidden: bool) {
        self.hidden = hidden;
        if !hidden {
            self.unread = 0;
            self.alerts.clear();
        }
    }

    /// Whether the tab is hidden: what arrives is not seen yet.
    pub fn is_hidden(&self) -> bool {
        self.hidden
    }

    /// Messages that arrived while the tab was hidden, own messages aside.
    pub fn unread(&self) -> u32 {
        self.unread
    }

    /// A new message reached the list. Someone else's message in a hidden tab counts as unread
    /// and, when the user asked for it, becomes a notification.
    pub fn arrived(&mut self, message: &Message, own_user_id: &str, room: &str) {
        if !self.hidden || message.user_id == own_user_id {
            return;
        }
        self.unread = self.unread.saturating_add(1);
        if self.notify {
            let mut body: String = message.text.chars().take(ALERT_BODY_CHARS).collect();
            if message.text.chars().count() > ALERT_BODY_CHARS {
                body.push('…');
            }
            self.alerts.push(Alert {
                title: format!("{} in #{room}", message.name),
                body,
            });
        }
    }

    /// The notifications to show now, each once.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// The tab title: the room, with the unread count in front while there is one.
    pub fn title(&self, room: &str) -> String {
        match self.unread {
            0 => format!("#{room} · edge-chat"),
            n => format!("({n}) #{room} · edge-chat"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(user: &str, text: &str) -> Message {
        Message {
            seq: 1,
            client_id: "c-0000001".into(),
            user_id: user.into(),
            name: format!("{user}-name"),
            text: text.into(),
            ts: 1,
            ..Default::default()
        }
    }

    #[test]
    fn counts_only_others_messages_while_hidden_and_resets_when_shown() {
        let mut attention = Attention::default();
        attention.arrived(&message("bob", "seen live"), "me", "lobby");
        assert_eq!(attention.title("lobby"), "#lobby · edge-chat");
        attention.set_hidden(true);
        attention.arrived(&message("bob", "one"), "me", "lobby");
        attention.arrived(&message("me", "my own, from another tab"), "me", "lobby");
        attention.arrived(&message("carol", "two"), "me", "lobby");
        assert_eq!(attention.unread(), 2);
        assert_eq!(attention.title("lobby"), "(2) #lobby · edge-chat");
        assert!(attention.take_alerts().is_empty(), "not asked for");
        attention.set_hidden(false);
        assert_eq!(attention.title("lobby"), "#lobby · edge-chat");
    }

    #[test]
    fn notifications_only_when_asked_for_each_once_and_short() {
        let mut attention = Attention {
            notify: true,
            ..Attention::default()
        };
        attention.arrived(&message("bob", "visible tab"), "me", "lobby");
        assert!(attention.take_alerts().is_empty());
        attention.set_hidden(true);
        attention.arrived(&message("bob", &"x".repeat(200)), "me", "lobby");
        let alerts = attention.take_alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].title, "bob-name in #lobby");
        assert_eq!(alerts[0].body.chars().count(), ALERT_BODY_CHARS + 1);
        assert!(attention.take_alerts().is_empty(), "each once");
    }
}
