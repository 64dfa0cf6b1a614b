//! The views. They read [`ChatState`] through its signal and call [`Transport`] on user actions;
//! they hold no chat logic of their own. Elements are built with [`crate::dom`]; what changes is
//! bound to the state, and each binding writes the DOM only when its own value changes.

use crate::dom::{self, El};
use crate::format;
use crate::notify::{self, Permission};
use crate::storage;
use crate::transport::Transport;
use client::{ChatState, ConnectionStatus, OutboxEntry, OutboxState, Row, Secret};
use leptos_dom::helpers::{document, request_animation_frame, window};
use protocol::TEXT_MAX_CHARS;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlTextAreaElement, Node};

/// Which room the address names: `/` is the lobby, `/r/{room}` any room.
pub fn room_from_path(path: &str) -> Result<String, String> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok("lobby".to_owned());
    }
    match path.strip_prefix("/r/") {
        Some(room) => protocol::validate_room(room)
            .map(str::to_owned)
            .map_err(|e| format!("“{room}” is not a valid room name: {}.", e.0)),
        None => Err(format!("There is nothing at {path}.")),
    }
}

/// The page: the room the address names, after the name picker when no name is known yet.
pub fn app() -> Element {
    let path = window().location().pathname().unwrap_or_default();
    let room = match room_from_path(&path) {
        Ok(room) => room,
        Err(problem) => return bad_room(&problem),
    };
    let secret = match storage::secret() {
        Ok(secret) => secret,
        Err(problem) => return no_identity(&problem.to_string()),
    };
    match storage::name() {
        Some(name) => chat_room(&room, &name, secret),
        None => name_picker(Box::new(move |name| {
            Some(chat_room(&room, &name, secret.clone()))
        })),
    }
}

/// Shown instead of the chat when no secret could be made: joining without one is impossible,
/// and one from a weak generator could be guessed by others.
pub fn no_identity(problem: &str) -> Element {
    card(
        "Cannot join",
        problem,
        "Try a current version of your browser.",
        None,
    )
}

pub fn bad_room(problem: &str) -> Element {
    card(
        "No such room",
        problem,
        "Room names use 1 to 64 of a–z, 0–9, _ and -.",
        Some(
            El::with_class("a", "button")
                .attr("href", "/")
                .text("Go to the lobby"),
        ),
    )
}

/// `<main class="centered">` around a card with a title, the problem, a hint and maybe a link.
fn card(title: &str, problem: &str, hint: &str, link: Option<El>) -> Element {
    let mut card = El::with_class("div", "card")
        .attr("role", "alert")
        .push(El::new("h1").text(title))
        .push(El::with_class("p", "bad-room").text(problem))
        .push(El::new("p").text(hint));
    if let Some(link) = link {
        card = card.push(link);
    }
    El::with_class("main", "centered").push(card).0
}

/// Asks for a display name. `chosen` gets a valid one (already stored); what it returns takes
/// the picker's place in the page.
pub fn name_picker(chosen: Box<dyn Fn(String) -> Option<Element>>) -> Element {
    let problem = El::with_class("p", "problem").attr("role", "alert");
    let input = El::new("input")
        .attr("id", "name")
        .attr("name", "name")
        .attr("autocomplete", "nickname")
        .attr("maxlength", "32")
        .attr("required", "")
        .on("input", {
            let problem = problem.0.clone();
            Box::new(move |_| problem.set_text_content(None))
        });
    let main = El::with_class("main", "centered");
    let submit: Box<dyn FnMut(Event)> = {
        let (problem, input, main) = (problem.0.clone(), input.0.clone(), main.0.clone());
        Box::new(move |event: Event| {
            event.prevent_default();
            match protocol::validate_name(&dom::value_of(&input)) {
                Ok(valid) => {
                    storage::set_name(valid);
                    if let Some(next) = chosen(valid.to_owned()) {
                        let _ = main.replace_with_with_node_1(&next);
                    }
                }
                Err(e) => problem.set_text_content(Some(&e.0)),
            }
        })
    };
    main.push(
        El::with_class("form", "card")
            .on("submit", submit)
            .push(El::new("h1").text("edge-chat"))
            .push(El::new("label").attr("for", "name").text("Your name"))
            .push(input)
            .push(problem)
            .push(El::new("button").attr("type", "submit").text("Join")),
    )
    .0
}

fn chat_room(room: &str, name: &str, secret: String) -> Element {
    let state = RwSignal::new(ChatState::new(
        room,
        name,
        Secret::new(secret),
        storage::outbox(room),
    ));
    state.update(|s| {
        s.attention.notify = storage::notify() && notify::permission() == Permission::Granted
    });
    let transport = Transport::start(state);
    // The tab title carries the unread count while the tab is hidden.
    let mut title = String::new();
    dom::watch(Box::new(move || {
        let now = state.with(|s| s.attention.title(&s.room));
        if now != title {
            document().set_title(&now);
            title = now;
        }
    }));

    let list = El::with_class("div", "messages").attr("aria-label", "Messages");
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(0usize);
    // Where the view was before older messages were added above it.
    let anchor = Rc::new(Cell::new(None::<(i32, i32)>));

    let scroll_to_bottom = {
        let list = list.0.clone();
        Rc::new(move || {
            list.set_scroll_top(list.scroll_height());
            unseen.set(0);
        })
    };

    // New messages at the bottom: follow them when at the bottom, else count them.
    let mut previous: Option<(Option<i64>, usize)> = None;
    let follow = scroll_to_bottom.clone();
    dom::watch(Box::new(move || {
        let current = state.with(|s| (s.messages.newest_seq(), s.outbox.entries().len()));
        if previous == Some(current) {
            return;
        }
        if at_bottom.get_untracked() {
            let follow = follow.clone();
            request_animation_frame(move || follow());
        } else if previous.is_some_and(|(newest, _)| newest != current.0) {
            unseen.update(|n| *n += 1);
        }
        previous = Some(current);
    }));
    // Older messages at the top: keep what the reader was looking at in place.
    let mut oldest = None;
    {
        let (list, anchor) = (list.0.clone(), anchor.clone());
        dom::watch(Box::new(move || {
            let current = state.with(|s| s.messages.oldest_seq());
            if current == oldest {
                return;
            }
            oldest = current;
            if let Some((height, top)) = anchor.take() {
                let list = list.clone();
                request_animation_frame(move || {
                    list.set_scroll_top(list.scroll_height() - height + top);
                });
            }
        }));
    }

    let on_scroll: Box<dyn FnMut(Event)> = {
        let (el, anchor) = (list.0.clone(), anchor.clone());
        Box::new(move |_| {
            let bottom = el.scroll_height() - el.scroll_top() - el.client_height() < 40;
            at_bottom.set(bottom);
            if bottom {
                unseen.set(0);
            }
            let wants_older = state.with_untracked(|s| {
                s.messages.has_more && !s.messages.loading_older && s.is_live()
            });
            if el.scroll_top() < 80 && wants_older {
                // At exactly 0 browsers do not anchor the view when content is added above;
                // one pixel down they do, and the effect above restores it where they do not.
                if el.scroll_top() == 0 {
                    el.set_scroll_top(1);
                }
                anchor.set(Some((el.scroll_height(), el.scroll_top())));
                transport.load_older();
            }
        })
    };

    let history_edge = El::with_class("p", "history-edge")
        .attr("aria-live", "polite")
        .bind_text(Box::new(move || {
            state.with(|s| {
                if s.messages.loading_older {
                    "Loading older messages…"
                } else if s.messages.has_more {
                    ""
                } else if s.messages.is_empty() && s.is_live() {
                    "No messages yet. Say hello!"
                } else if s.messages.is_empty() {
                    ""
                } else {
                    "This is the beginning of the room."
                }
                .to_owned()
            })
        }));

    let rows = message_list(state, transport);
    let jump = {
        let jump_to = scroll_to_bottom.clone();
        El::with_class("button", "jump")
            .on("click", Box::new(move |_| jump_to()))
            .bind_text(Box::new(move || format!("↓ {} new", unseen.get())))
    };
    let typing = El::with_class("p", "typing")
        .attr("aria-live", "polite")
        .bind_text(Box::new(move || {
            let now = transport.clock.get();
            state.with(|s| s.typing.summary(now)).unwrap_or_default()
        }));

    El::with_class("div", "chat")
        .push(header(state, transport))
        .push(list.on("scroll", on_scroll).push(history_edge).child(&rows))
        .shown_child(jump, Box::new(move || unseen.get() > 0))
        .push(typing)
        .push(composer(transport))
        .0
}

/// What identifies a rendered row: a row whose key is unchanged is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowKey {
    Day(i64),
    Message { seq: i64, own: bool, first: bool },
}

impl RowKey {
    fn of(row: &Row<'_>) -> Self {
        match row {
            Row::Day { day, .. } => Self::Day(*day),
            Row::Message {
                message,
                own,
                first_in_group,
            } => Self::Message {
                seq: message.seq,
                own: *own,
                first: *first_in_group,
            },
        }
    }
}

/// The message rows in the document, in order, with their keys.
#[derive(Debug, Default)]
struct ShownRows {
    keys: Vec<RowKey>,
    nodes: Vec<Element>,
    /// The day separators and the time each stands for, for relabelling at midnight.
    days: Vec<(Element, i64)>,
}

impl ShownRows {
    /// Makes the rows in `list` (before `end`) match `rows`. Live messages arrive at the end and
    /// older pages at the start, so the unchanged prefix and suffix are skipped by key, in Rust,
    /// and only the rows between them are touched: a message in a list of thousands costs a
    /// pass over the keys and one DOM insertion.
    fn update(&mut self, list: &Element, end: &Node, rows: &[Row<'_>], now: i64) {
        let keys: Vec<RowKey> = rows.iter().map(RowKey::of).collect();
        let prefix = self
            .keys
            .iter()
            .zip(&keys)
            .take_while(|(a, b)| a == b)
            .count();
        let room = self.keys.len().min(keys.len()) - prefix;
        let suffix = self
            .keys
            .iter()
            .rev()
            .zip(keys.iter().rev())
            .take(room)
            .take_while(|(a, b)| a == b)
            .count();
        let old_middle = prefix..self.keys.len() - suffix;
        let new_middle = prefix..keys.len() - suffix;
        let before: Node = match self.nodes.get(old_middle.end) {
            Some(node) => node.clone().into(),
            None => end.clone(),
        };
        // Rows of the old middle that are still wanted are moved, not rebuilt. Both lists are in
        // message order, so days and messages are each sorted already: found by binary search.
        let mut reusable: Vec<Option<Element>> = self.nodes[old_middle.clone()]
            .iter()
            .cloned()
            .map(Some)
            .collect();
        let old_keys = &self.keys[old_middle.clone()];
        let (mut days, mut seqs) = (Vec::new(), Vec::new());
        for (i, key) in old_keys.iter().enumerate() {
            match key {
                RowKey::Day(day) => days.push((*day, i)),
                RowKey::Message { seq, .. } => seqs.push((*seq, i)),
            }
        }
        let mut middle = Vec::with_capacity(new_middle.len());
        for (key, row) in keys[new_middle.clone()].iter().zip(&rows[new_middle]) {
            let (list_of, at) = match key {
                RowKey::Day(day) => (&days, *day),
                RowKey::Message { seq, .. } => (&seqs, *seq),
            };
            let kept = list_of
                .binary_search_by_key(&at, |(k, _)| *k)
                .ok()
                .map(|found| list_of[found].1)
                .filter(|i| old_keys[*i] == *key)
                .and_then(|i| reusable[i].take());
            let node = kept.unwrap_or_else(|| message_row(row, now));
            let _ = list.insert_before(&node, Some(&before));
            middle.push(node);
        }
        for node in reusable.into_iter().flatten() {
            node.remove();
        }
        self.nodes.splice(old_middle, middle);
        self.keys = keys;
        self.days = rows
            .iter()
            .zip(&self.nodes)
            .filter_map(|(row, node)| match row {
                Row::Day { ts, .. } => Some((node.clone(), *ts)),
                Row::Message { .. } => None,
            })
            .collect();
    }

    /// "Today" becomes "Yesterday" at midnight.
    fn relabel_days(&self, now: i64) {
        for (node, ts) in &self.days {
            let label = format::day(*ts, now);
            if node.text_content().as_deref() != Some(label.as_str()) {
                node.set_text_content(Some(&label));
            }
        }
    }
}

/// `<ol class="message-list">`: the stored messages, then the ones still in the outbox.
fn message_list(state: RwSignal<ChatState>, transport: Transport) -> Node {
    let list = El::with_class("ol", "message-list")
        .attr("aria-live", "polite")
        .attr("aria-relevant", "additions");
    // The pending rows' buttons: one listener for all of them, as rows come and go.
    let on_click: Box<dyn FnMut(Event)> = Box::new(move |event: Event| {
        let button = event
            .target()
            .and_then(|t| t.dyn_into::<Element>().ok())
            .and_then(|t| t.closest("button[data-action]").ok().flatten());
        let Some(button) = button else {
            return;
        };
        let id = button
            .closest("[data-client-id]")
            .ok()
            .flatten()
            .and_then(|row| row.get_attribute("data-client-id"));
        match (button.get_attribute("data-action").as_deref(), id) {
            (Some("retry"), Some(id)) => transport.retry(&id),
            (Some("discard"), Some(id)) => transport.discard(&id),
            _ => {}
        }
    });
    let list = list.on("click", on_click).0;
    // Stored rows go before this marker, pending rows after it.
    let end: Node = document().create_comment("pending").into();
    let _ = list.append_child(&end);

    let shown = Rc::new(RefCell::new(ShownRows::default()));
    // The rows are rebuilt only when the messages or who we are change: ticks, typing notices
    // and status changes touch the state every second and must not cost a pass over thousands
    // of messages. Own messages are known only once the welcome says who we are.
    let mut seen: Option<(u64, String)> = None;
    {
        let (list, end, shown) = (list.clone(), end.clone(), shown.clone());
        dom::watch(Box::new(move || {
            let changed = state.with(|s| {
                seen.as_ref()
                    .is_none_or(|(rev, me)| *rev != s.messages.revision() || *me != s.me.user_id)
            });
            if !changed {
                return;
            }
            let now = transport.clock.get_untracked();
            state.with_untracked(|s| {
                seen = Some((s.messages.revision(), s.me.user_id.clone()));
                let offset = format::tz_offset_ms(s.messages.newest_seq().unwrap_or(0));
                shown.borrow_mut().update(&list, &end, &s.rows(offset), now);
            });
        }));
    }
    dom::watch(Box::new(move || {
        let now = transport.clock.get();
        shown.borrow().relabel_days(now);
    }));

    // The outbox is a handful of entries. Each keeps its row while it is in the outbox and only
    // the state line and the reason change in place, so a click on Retry or Discard never lands
    // on a button that was replaced between press and release.
    let mut pending: Vec<OutboxEntry> = Vec::new();
    let mut rows: Vec<(String, Element)> = Vec::new();
    {
        let list = list.clone();
        dom::watch(Box::new(move || {
            let changed = state.with(|s| s.outbox.entries() != pending.as_slice());
            if !changed {
                return;
            }
            pending = state.with_untracked(|s| s.outbox.entries().to_vec());
            rows.retain(|(id, row)| {
                let kept = pending.iter().any(|entry| entry.client_id == *id);
                if !kept {
                    row.remove();
                }
                kept
            });
            for entry in &pending {
                match rows.iter().find(|(id, _)| *id == entry.client_id) {
                    Some((_, row)) => show_pending_state(row, entry),
                    None => {
                        let row = pending_row(entry);
                        let _ = list.append_child(&row);
                        rows.push((entry.client_id.clone(), row));
                    }
                }
            }
        }));
    }
    list.into()
}

/// One stored message, or a day separator.
pub fn message_row(row: &Row<'_>, now: i64) -> Element {
    match row {
        Row::Day { ts, .. } => {
            El::with_class("li", "day")
                .attr("role", "separator")
                .text(&format::day(*ts, now))
                .0
        }
        Row::Message {
            message,
            own,
            first_in_group,
        } => {
            let class = match (own, first_in_group) {
                (true, true) => "bubble own first",
                (true, false) => "bubble own",
                (false, true) => "bubble first",
                (false, false) => "bubble",
            };
            let mut li = El::with_class("li", class).attr("data-seq", &message.seq.to_string());
            if *first_in_group && !own {
                li = li.push(El::with_class("span", "author").text(&message.name));
            }
            li.push(El::with_class("p", "text").text(&message.text))
                .push(El::with_class("time", "time").text(&format::time(message.ts)))
                .0
        }
    }
}

/// A message in the outbox, with Retry and Discard (handled by the list).
fn pending_row(entry: &OutboxEntry) -> Element {
    let row = El::with_class("li", "bubble own first pending")
        .attr("data-client-id", &entry.client_id)
        .push(El::with_class("p", "text").text(&entry.text))
        .push(El::with_class("span", "pending-state"))
        .push(
            El::with_class("span", "pending-actions")
                .push(small_button("Retry").attr("data-action", "retry"))
                .push(small_button("Discard").attr("data-action", "discard")),
        )
        .0;
    show_pending_state(&row, entry);
    row
}

/// Writes the entry's state ("Sending…", "Not sent", "Not confirmed") and the reason it
/// failed, if any, into its row, touching only what differs.
fn show_pending_state(row: &Element, entry: &OutboxEntry) {
    // A message unconfirmed for too long may well have arrived, so "Not sent" would be wrong.
    let label = match entry.state {
        OutboxState::Failed { .. } if entry.reason() == Some(client::NOT_CONFIRMED_REASON) => {
            "Not confirmed"
        }
        OutboxState::Failed { .. } => "Not sent",
        _ => "Sending…",
    };
    let find = |css: &str| row.query_selector(css).ok().flatten();
    if let Some(line) = find(".pending-state")
        && line.text_content().as_deref() != Some(label)
    {
        line.set_text_content(Some(label));
    }
    match (entry.reason(), find(".reason")) {
        (Some(reason), Some(shown)) => {
            if shown.text_content().as_deref() != Some(reason) {
                shown.set_text_content(Some(reason));
            }
        }
        (Some(reason), None) => {
            let shown = El::with_class("span", "reason")
                .attr("role", "alert")
                .text(reason)
                .0;
            let actions = find(".pending-actions").map(Node::from);
            let _ = row.insert_before(&shown, actions.as_ref());
        }
        (None, Some(shown)) => shown.remove(),
        (None, None) => {}
    }
}

fn small_button(label: &str) -> El {
    El::with_class("button", "small").text(label)
}

fn header(state: RwSignal<ChatState>, transport: Transport) -> El {
    let status_name = move || {
        state.with(|s| match s.status {
            ConnectionStatus::Live => "live",
            ConnectionStatus::Connecting { .. } => "connecting",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
            ConnectionStatus::Offline => "offline",
            ConnectionStatus::Outdated { .. } => "outdated",
        })
    };
    let status_text = move || {
        let now = transport.clock.get();
        state.with(|s| match s.status {
            ConnectionStatus::Connecting { .. } => "Connecting…".to_owned(),
            ConnectionStatus::Live => "Live".to_owned(),
            ConnectionStatus::Reconnecting { attempt, next_at } => {
                let seconds = ((next_at - now).max(0) + 999) / 1000;
                if s.room_is_full() {
                    format!("The room is full (next try in {seconds} s)")
                } else {
                    format!("Reconnecting (attempt {attempt}, next try in {seconds} s)")
                }
            }
            ConnectionStatus::Offline => "Offline".to_owned(),
            ConnectionStatus::Outdated { .. } => {
                "This page is out of date: reload it to keep chatting".to_owned()
            }
        })
    };
    let status = El::new("span")
        .attr("role", "status")
        .attr("aria-live", "polite")
        .bind_attr(
            "class",
            Box::new(move || Some(format!("status {}", status_name()))),
        )
        .bind_attr(
            "data-status",
            Box::new(move || Some(status_name().to_owned())),
        )
        .bind_text(Box::new(status_text));
    // A full room's wait stands whoever asks, so the button would do nothing then.
    let retry = small_button("Retry now").on("click", Box::new(move |_| transport.retry_now()));
    let reload = small_button("Reload").on(
        "click",
        Box::new(move |_| {
            let _ = window().location().reload();
        }),
    );
    let outdated = move || state.with(|s| s.outdated().is_some());
    let can_retry = move || {
        state.with(|s| {
            matches!(
                s.status,
                ConnectionStatus::Reconnecting { .. } | ConnectionStatus::Offline
            ) && !s.room_is_full()
        })
    };

    let goto = El::new("input")
        .attr("aria-label", "Go to room")
        .attr("placeholder", "room")
        .attr("pattern", "[a-z0-9_-]{1,64}")
        .attr("maxlength", "64");
    let go: Box<dyn FnMut(Event)> = {
        let input = goto.0.clone();
        Box::new(move |event: Event| {
            event.prevent_default();
            // Room names are ASCII (a-z, 0-9, _ and -); ASCII lowercasing spares the client the
            // Unicode case tables (12 KB of wasm), and anything else is refused by the room page.
            let target = dom::value_of(&input).trim().to_ascii_lowercase();
            let _ = window().location().set_href(&format!("/r/{target}"));
        })
    };
    let room = state.with_untracked(|s| format!("#{}", s.room));

    El::with_class("header", "bar")
        .push(
            El::with_class("div", "room")
                .push(El::new("h1").text(&room))
                .push(roster(state)),
        )
        .push(
            El::with_class("div", "connection")
                .push(notify_toggle(state))
                .push(status)
                .shown_child(retry, Box::new(can_retry))
                .shown_child(reload, Box::new(outdated)),
        )
        .push(
            El::with_class("form", "goto")
                .on("submit", go)
                .push(goto)
                .push(small_button("Go").attr("type", "submit")),
        )
}

/// "3 online", opening to the list of names.
fn roster(state: RwSignal<ChatState>) -> El {
    let names = El::new("ul");
    let mut shown: Option<Vec<String>> = None;
    {
        let names = names.0.clone();
        dom::watch(Box::new(move || {
            let changed = state.with(|s| {
                shown
                    .as_ref()
                    .is_none_or(|old| !old.iter().eq(s.online.iter().map(|m| &m.name)))
            });
            if !changed {
                return;
            }
            let now: Vec<String> =
                state.with_untracked(|s| s.online.iter().map(|m| m.name.clone()).collect());
            names.set_text_content(None);
            for name in &now {
                let _ = names.append_child(&El::new("li").text(name).into_node());
            }
            shown = Some(now);
        }));
    }
    El::with_class("details", "online")
        .push(El::new("summary").bind_text(Box::new(move || {
            format!("{} online", state.with(|s| s.online.len()))
        })))
        .push(names)
}

fn composer(transport: Transport) -> El {
    let text = RwSignal::new(String::new());
    let problem = El::with_class("p", "problem").attr("role", "alert");
    let area = El::new("textarea")
        .attr("rows", "1")
        .attr("placeholder", "Message")
        .attr("aria-label", "Message")
        .attr("enterkeyhint", "send");
    let send = {
        let (area, problem) = (area.0.clone(), problem.0.clone());
        Rc::new(move || {
            let Some(area) = area.dyn_ref::<HtmlTextAreaElement>() else {
                return;
            };
            match transport.compose(&area.value()) {
                Ok(()) => {
                    area.set_value("");
                    text.set(String::new());
                    problem.set_text_content(None);
                }
                Err(e) => problem.set_text_content(Some(&e)),
            }
            let _ = area.focus();
        })
    };
    let on_input: Box<dyn FnMut(Event)> = {
        let problem = problem.0.clone();
        Box::new(move |event: Event| {
            text.set(dom::event_value(&event));
            problem.set_text_content(None);
            transport.keystroke();
        })
    };
    let on_key: Box<dyn FnMut(Event)> = {
        let send = send.clone();
        Box::new(move |event: Event| {
            let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                return;
            };
            if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                event.prevent_default();
                send();
            }
        })
    };
    let count = move || text.with(|t| t.trim().chars().count());
    let counter = El::new("span")
        .attr("aria-live", "polite")
        .bind_attr(
            "class",
            Box::new(move || {
                Some(
                    if count() > TEXT_MAX_CHARS {
                        "counter over"
                    } else {
                        "counter"
                    }
                    .to_owned(),
                )
            }),
        )
        .bind_text(Box::new(move || format!("{}/{TEXT_MAX_CHARS}", count())));
    El::with_class("form", "composer")
        .on(
            "submit",
            Box::new(move |event: Event| {
                event.prevent_default();
                send();
            }),
        )
        .push(area.on("input", on_input).on("keydown", on_key))
        .shown_child(counter, Box::new(move || count() >= TEXT_MAX_CHARS - 200))
        .push(
            El::new("button")
                .attr("type", "submit")
                .attr("aria-label", "Send")
                .text("Send"),
        )
        .push(problem)
        .shown_child(
            El::with_class("p", "storage-warning")
                .attr("role", "alert")
                .text("This browser's storage is full: unsent messages will not survive a reload."),
            Box::new(move || {
                transport
                    .state
                    .with(|s| s.outbox_unsaved && !s.outbox.is_empty())
            }),
        )
}

/// Turns desktop notifications on and off. The browser is asked for permission only here, on a
/// click; when it refuses, the button says so.
fn notify_toggle(state: RwSignal<ChatState>) -> El {
    let permission = RwSignal::new(notify::permission());
    let on = move || state.with(|s| s.attention.notify);
    let set = move |value: bool| {
        storage::set_notify(value);
        state.update(|s| s.attention.notify = value);
    };
    // The answer is read again on each click: the user may have changed it in the browser's
    // settings meanwhile.
    let toggle = move |_| {
        let now = notify::permission();
        permission.set(now);
        match now {
            Permission::Granted => set(!on()),
            Permission::Ask => notify::request(move |answer| {
                permission.set(answer);
                set(answer == Permission::Granted);
            }),
            Permission::Denied => set(false),
        }
    };
    El::with_class("button", "small notify")
        .bind_attr(
            "aria-pressed",
            Box::new(move || Some(if on() { "true" } else { "false" }.to_owned())),
        )
        .bind_attr(
            "title",
            Box::new(move || {
                Some(
                    match permission.get() {
                        Permission::Denied => "Notifications are blocked in this browser",
                        _ if on() => {
                            "Notifications are on while this tab is hidden; click to turn off"
                        }
                        _ => "Notify me of new messages while this tab is hidden",
                    }
                    .to_owned(),
                )
            }),
        )
        .bind_text(Box::new(move || {
            if on() { "Notify: on" } else { "Notify" }.to_owned()
        }))
        .on("click", Box::new(toggle))
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
    use client::MessageList;
    use protocol::Message;
    use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

    wasm_bindgen_test_configure!(run_in_browser);

    const DAY: i64 = 86_400_000;

    fn message(seq: i64, user: &str, ts: i64) -> Message {
        Message {
            seq,
            client_id: format!("client-{seq:05}"),
            user_id: user.into(),
            name: user.into(),
            text: format!("text {seq}"),
            ts,
        }
    }

    struct Fixture {
        list: Element,
        end: Node,
        shown: ShownRows,
    }

    impl Fixture {
        fn new() -> Self {
            let list = El::new("ol").0;
            let end: Node = document().create_comment("end").into();
            let _ = list.append_child(&end);
            Self {
                list,
                end,
                shown: ShownRows::default(),
            }
        }

        fn render(&mut self, messages: &[Message]) {
            let mut all = MessageList::default();
            all.reset(messages.to_vec(), false);
            self.shown
                .update(&self.list, &self.end, &all.rows("me", 0), DAY);
        }

        /// `data-seq` of each message row, and "day" for each separator, in document order.
        fn order(&self) -> Vec<String> {
            let children = self.list.children();
            (0..children.length())
                .filter_map(|i| children.item(i))
                .map(|row| {
                    row.get_attribute("data-seq")
                        .unwrap_or_else(|| "day".into())
                })
                .collect()
        }

        fn row(&self, seq: i64) -> Option<Element> {
            self.list
                .query_selector(&format!("[data-seq='{seq}']"))
                .ok()
                .flatten()
        }
    }

    #[wasm_bindgen_test]
    fn rows_are_kept_by_key_and_only_changed_ones_are_touched() {
        let mut view = Fixture::new();
        let mut messages = vec![
            message(10, "alice", DAY + 1_000),
            message(11, "alice", DAY + 2_000),
            message(12, "me", DAY + 3_000),
        ];
        view.render(&messages);
        assert_eq!(view.order(), ["day", "10", "11", "12"]);
        let (ten, eleven, twelve) = (view.row(10), view.row(11), view.row(12));

        // A live message at the end: one row more, the others are the same nodes.
        messages.push(message(13, "bob", DAY + 4_000));
        view.render(&messages);
        assert_eq!(view.order(), ["day", "10", "11", "12", "13"]);
        assert!(view.row(11) == eleven && view.row(12) == twelve);

        // A page of older messages, the last one by alice: her row 10 is no longer the first
        // of its group, so it is rebuilt without her name; 11 and 12 are untouched.
        messages.splice(
            0..0,
            [message(8, "bob", 1_000), message(9, "alice", DAY + 500)],
        );
        view.render(&messages);
        assert_eq!(
            view.order(),
            ["day", "8", "day", "9", "10", "11", "12", "13"]
        );
        assert!(view.row(10) != ten, "row 10 was rebuilt");
        let ten = view.row(10);
        assert!(
            ten.as_ref()
                .is_some_and(|r| r.query_selector(".author").ok().flatten().is_none())
        );
        assert!(view.row(11) == eleven && view.row(12) == twelve);
        // Separators are labelled, and the end marker stays last.
        assert_eq!(view.shown.days.len(), 2);
        assert!(
            view.list
                .last_child()
                .is_some_and(|last| last.is_same_node(Some(&view.end)))
        );

        // A reset to fewer messages removes the rest; 10 leads its group again.
        view.render(&messages[2..]);
        assert_eq!(view.order(), ["day", "10", "11", "12", "13"]);
        assert!(
            view.row(10)
                .is_some_and(|r| r.query_selector(".author").ok().flatten().is_some())
        );
        assert!(view.row(11) == eleven);
        assert_eq!(view.shown.days.len(), 1);
    }

    #[wasm_bindgen_test]
    fn a_pending_row_changes_in_place_and_keeps_its_buttons() {
        let mut entry = OutboxEntry {
            client_id: "pending-0001".into(),
            text: "hello".into(),
            created_ts: 0,
            state: OutboxState::Sent,
            attempts: 1,
            first_sent_at: Some(0),
        };
        let row = pending_row(&entry);
        let text = |css: &str| {
            row.query_selector(css)
                .ok()
                .flatten()
                .and_then(|e| e.text_content())
        };
        let buttons = row.query_selector(".pending-actions").ok().flatten();
        assert_eq!(text(".pending-state").as_deref(), Some("Sending…"));
        assert_eq!(text(".reason"), None);

        entry.state = OutboxState::Waiting {
            retry_at: 5_000,
            reason: "the store is down".into(),
        };
        show_pending_state(&row, &entry);
        assert_eq!(text(".pending-state").as_deref(), Some("Sending…"));
        assert_eq!(text(".reason").as_deref(), Some("the store is down"));
        // The reason sits between the state line and the buttons.
        let order: Vec<String> = (0..row.children().length())
            .filter_map(|i| row.children().item(i))
            .map(|e| e.class_name())
            .collect();
        assert_eq!(
            order,
            ["text", "pending-state", "reason", "pending-actions"]
        );

        entry.state = OutboxState::Failed {
            reason: "refused".into(),
        };
        show_pending_state(&row, &entry);
        assert_eq!(text(".pending-state").as_deref(), Some("Not sent"));
        assert_eq!(text(".reason").as_deref(), Some("refused"));

        entry.state = OutboxState::Sent;
        show_pending_state(&row, &entry);
        assert_eq!(text(".pending-state").as_deref(), Some("Sending…"));
        assert_eq!(text(".reason"), None);
        assert!(row.query_selector(".pending-actions").ok().flatten() == buttons);
    }
}
