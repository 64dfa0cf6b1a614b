//! The message list: stored messages kept by key (only changed rows are touched), day
//! separators, and the outbox's pending rows with Retry and Discard. Each message shows its
//! quote, reactions and whether it was edited, and offers its actions (react, reply, and on
//! one's own edit and delete): on hover or keyboard focus on a desktop, by a long press on a
//! phone. An edit happens in place.

use super::{face, small_button};
use crate::dom::{self, El};
use crate::format;
use crate::transport::Transport;
use client::markup::{self, Span};
use client::{ChatState, PendingView, Row, ViewChange};
use leptos_dom::helpers::{document, request_animation_frame, window};
use protocol::Message;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{Element, Event, Node};

/// What identifies a rendered row: a row whose key is unchanged is left as it is. A message's
/// key holds what changes it: its revision, the person's actions on it still pending, and
/// whether it is being edited. While it is, only that counts: a reaction arriving meanwhile
/// must not rebuild the row and lose the draft; it shows when the edit ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowKey {
    Day(i64),
    Message {
        seq: i64,
        own: bool,
        first: bool,
        rev: i64,
        pending: usize,
        editing: bool,
    },
}

impl RowKey {
    fn of(state: &ChatState, row: &Row<'_>) -> Self {
        match row {
            Row::Day { day, .. } => Self::Day(*day),
            Row::Message {
                message,
                own,
                first_in_group,
            } => {
                let editing = state.editing == Some(message.seq);
                Self::Message {
                    seq: message.seq,
                    own: *own,
                    first: *first_in_group,
                    rev: if editing { 0 } else { message.rev() },
                    pending: if editing {
                        0
                    } else {
                        state.pending_on(message.seq).count()
                    },
                    editing,
                }
            }
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
    fn update(
        &mut self,
        list: &Element,
        end: &Node,
        state: &ChatState,
        rows: &[Row<'_>],
        now: i64,
    ) {
        let keys: Vec<RowKey> = rows.iter().map(|row| RowKey::of(state, row)).collect();
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
            let node = kept.unwrap_or_else(|| message_row(state, row, now));
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

    /// The row of message `seq`, if it is shown.
    fn node_of(&self, seq: i64) -> Option<Element> {
        let at = self.keys.iter().position(|key| match key {
            RowKey::Message { seq: shown, .. } => *shown == seq,
            RowKey::Day(_) => false,
        })?;
        self.nodes.get(at).cloned()
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

/// The emoji a message's picker offers at a click (any of [`protocol::REACTION_EMOJI`] is
/// accepted).
const QUICK_EMOJI: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "🔥"];

/// How long a touch must rest on a message to open its menu.
const LONG_PRESS_MS: i32 = 450;

/// The element an event came from, as an element.
fn target_of(event: &Event) -> Option<Element> {
    event.target().and_then(|t| t.dyn_into::<Element>().ok())
}

/// The nearest ancestor of `element` (itself included) that `selector` matches.
fn closest(element: &Element, selector: &str) -> Option<Element> {
    element.closest(selector).ok().flatten()
}

/// A `seq` as an attribute holds it: digits only. Read by hand, since `str::parse` would bring
/// its general machinery into the client (about 600 bytes of wasm).
fn seq_of(text: &str) -> Option<i64> {
    text.bytes().try_fold(0i64, |n, b| {
        let digit = i64::from(b.checked_sub(b'0').filter(|d| *d < 10)?);
        n.checked_mul(10)?.checked_add(digit)
    })
}

/// `data-seq` of the row `element` is in.
fn row_seq(element: &Element) -> Option<i64> {
    seq_of(&closest(element, "li[data-seq]")?.get_attribute("data-seq")?)
}

/// The long-press menu and the emoji picker open now: at most one of each, so each is held
/// rather than looked for.
#[derive(Default)]
struct Open {
    menu: Option<Element>,
    picker: Option<Element>,
    /// The row a touch rests on, whose menu opens if it stays.
    pressed: Option<Element>,
}

impl Open {
    /// Closes both, but what is in the row `keep`.
    fn close(&mut self, keep: Option<&Element>) {
        let kept = |element: &Element| {
            keep.is_some_and(|keep| closest(element, "li").as_ref() == Some(keep))
        };
        if let Some(menu) = self.menu.take_if(|m| !kept(m)) {
            let _ = menu.remove_attribute("data-menu");
        }
        if let Some(picker) = self.picker.take_if(|p| !kept(p)) {
            picker.remove();
        }
    }

    /// Opens or closes the emoji picker of the message `row`.
    fn toggle_picker(&mut self, row: &Element) {
        let was_here = self
            .picker
            .as_ref()
            .is_some_and(|p| closest(p, "li").as_ref() == Some(row));
        if let Some(open) = self.picker.take() {
            open.remove();
        }
        if was_here {
            return;
        }
        let mut picker = El::with_class("div", "picker")
            .attr("role", "group")
            .attr("aria-label", "Reactions");
        for emoji in QUICK_EMOJI {
            picker = picker.push(
                El::new("button")
                    .attr("type", "button")
                    .attr("data-action", "react")
                    .attr("data-emoji", emoji)
                    .text(emoji),
            );
        }
        let _ = row.append_child(&picker.0);
        if let Some(first) = picker.0.first_element_child()
            && let Ok(first) = first.dyn_into::<web_sys::HtmlElement>()
        {
            let _ = first.focus();
        }
        self.picker = Some(picker.0);
    }
}

/// What a click on one of a row's buttons does.
fn act(transport: Transport, open: &RefCell<Open>, button: &Element) {
    let action = button.get_attribute("data-action").unwrap_or_default();
    let seq = row_seq(button).unwrap_or_default();
    let client_id = closest(button, "[data-client-id]")
        .and_then(|row| row.get_attribute("data-client-id"))
        .unwrap_or_default();
    match action.as_str() {
        "retry" => transport.retry(&client_id),
        "discard" => transport.discard(&client_id),
        "pick" => {
            if let Some(row) = closest(button, "li") {
                open.borrow_mut().toggle_picker(&row);
            }
            return;
        }
        "react" => {
            let emoji = button.get_attribute("data-emoji").unwrap_or_default();
            transport.react(seq, emoji);
        }
        "reply" => {
            transport.view(ViewChange::ReplyTo(Some(seq)));
            dom::focus(".composer textarea");
        }
        "edit" => {
            transport.view(ViewChange::Edit(Some(seq)));
            edit_soon();
        }
        "delete" => {
            let sure = window()
                .confirm_with_message("Delete this message for everyone?")
                .unwrap_or(false);
            if sure {
                transport.delete(seq);
            }
        }
        "quote" => {
            let original = button.get_attribute("data-quote").and_then(|q| seq_of(&q));
            transport.view(ViewChange::Seek(original));
        }
        _ => {}
    }
    open.borrow_mut().close(None);
}

/// Puts the keyboard in the field of the edit just started, at the end of its text, once the
/// frame shows it.
pub(super) fn edit_soon() {
    request_animation_frame(|| {
        let field = document().query_selector(".edit-field").ok().flatten();
        if let Some(area) = field.and_then(|f| f.dyn_into::<web_sys::HtmlTextAreaElement>().ok()) {
            let _ = area.focus();
            // The browser clamps a selection to the text's end.
            let _ = area.set_selection_range(u32::MAX, u32::MAX);
        }
    });
}

/// Enter saves the edit in place, Escape leaves it; the composer has the focus again after.
fn edit_key(transport: Transport, event: &Event) {
    let (Some(key), Some(field)) = (
        event.dyn_ref::<web_sys::KeyboardEvent>(),
        target_of(event).filter(|t| t.class_list().contains("edit-field")),
    ) else {
        return;
    };
    let seq = row_seq(&field).unwrap_or_default();
    match key.key().as_str() {
        "Enter" if !key.shift_key() && !key.is_composing() => {
            event.prevent_default();
            transport.edit(seq, dom::value_of(&field));
        }
        "Escape" => transport.view(ViewChange::Edit(None)),
        _ => return,
    }
    dom::focus(".composer textarea");
}

/// `<ol class="message-list">`: the stored messages, then the ones still in the outbox.
pub(super) fn message_list(state: RwSignal<ChatState>, transport: Transport) -> Node {
    let list = El::with_class("ol", "message-list")
        .attr("aria-live", "polite")
        .attr("aria-relevant", "additions");
    let open = Rc::new(RefCell::new(Open::default()));
    // The rows' buttons: one listener for all of them, as rows come and go. A click elsewhere
    // closes an open menu or picker.
    let on_click = {
        let open = open.clone();
        move |event: Event| {
            let Some(target) = target_of(&event) else {
                return;
            };
            match closest(&target, "button[data-action]") {
                Some(button) => act(transport, &open, &button),
                None => open.borrow_mut().close(closest(&target, "li").as_ref()),
            }
        }
    };
    // A long press on a message (a touch resting there: touch events come from touch only)
    // opens its actions as a menu.
    let timer = Rc::new(std::cell::Cell::new(0));
    // One callback for every press, made once: it opens the menu of the row pressed last.
    let menu: wasm_bindgen::JsValue = {
        let open = open.clone();
        Closure::<dyn FnMut()>::new(move || {
            let mut open = open.borrow_mut();
            if let Some(row) = open.pressed.take() {
                open.close(None);
                let _ = row.set_attribute("data-menu", "");
                open.menu = Some(row);
            }
        })
        .into_js_value()
    };
    let press = {
        let timer = timer.clone();
        move |event: Event| {
            window().clear_timeout_with_handle(timer.get());
            let row = target_of(&event).and_then(|t| closest(&t, "li[data-seq]"));
            let pressing = row.is_some();
            open.borrow_mut().pressed = row;
            if pressing {
                let id = window()
                    .set_timeout_with_callback_and_timeout_and_arguments_0(
                        menu.unchecked_ref(),
                        LONG_PRESS_MS,
                    )
                    .unwrap_or(0);
                timer.set(id);
            }
        }
    };
    let release = move |_: Event| window().clear_timeout_with_handle(timer.replace(0));
    let list = list
        .on("click", on_click)
        .on("keydown", move |event: Event| edit_key(transport, &event))
        .on("touchstart", press)
        .on("touchend", release.clone())
        .on("touchmove", release.clone())
        .on("touchcancel", release)
        .0;

    // Stored rows go before this marker, pending rows after it.
    let end: Node = document().create_comment("pending").into();
    let _ = list.append_child(&end);

    let shown = Rc::new(RefCell::new(ShownRows::default()));
    // The rows are rebuilt only when the messages or who we are change: ticks, typing notices
    // and status changes touch the state every second and must not cost a pass over thousands
    // of messages. Own messages are known only once the welcome says who we are.
    let mut seen: Option<RowsView> = None;
    {
        let (list, end, shown) = (list.clone(), end.clone(), shown.clone());
        dom::watch(move || {
            let changed = state.with(|s| seen.as_ref() != Some(&view_of(s)));
            if !changed {
                return;
            }
            let now = transport.clock.get_untracked();
            state.with_untracked(|s| {
                seen = Some(view_of(s));
                let offset = format::tz_offset_ms(s.messages.newest_seq().unwrap_or(0));
                shown
                    .borrow_mut()
                    .update(&list, &end, s, &s.rows(offset), now);
            });
        });
    }
    seek(state, transport, shown.clone());
    dom::watch(move || {
        let now = transport.clock.get();
        shown.borrow().relabel_days(now);
    });

    // The outbox is a handful of entries. Each keeps its row while it is in the outbox and only
    // the state line, the reason and whether the buttons show change in place, so a click on
    // Retry or Discard never lands on a button that was replaced between press and release.
    // The clock is read too: a countdown runs, and the buttons appear after a long wait.
    let mut pending: Vec<(String, PendingView)> = Vec::new();
    let mut rows: Vec<(String, Element)> = Vec::new();
    {
        let list = list.clone();
        dom::watch(move || {
            let now = transport.clock.get();
            // Messages only: an action shows on the message it acts on.
            let current: Vec<(String, PendingView)> = state.with(|s| {
                s.outbox
                    .entries()
                    .iter()
                    .filter(|entry| entry.act.target().is_none())
                    .map(|entry| (entry.client_id.clone(), entry.view(now)))
                    .collect()
            });
            if current == pending {
                return;
            }
            pending = current;
            rows.retain(|(id, row)| {
                let kept = pending.iter().any(|(client_id, _)| client_id == id);
                if !kept {
                    row.remove();
                }
                kept
            });
            for (client_id, view) in &pending {
                match rows.iter().find(|(id, _)| id == client_id) {
                    Some((_, row)) => show_pending_state(row, view),
                    None => {
                        let text = state.with_untracked(|s| {
                            s.outbox
                                .entries()
                                .iter()
                                .find(|entry| entry.client_id == *client_id)
                                .map(|entry| entry.text.clone())
                        });
                        let row = pending_row(client_id, &text.unwrap_or_default(), view);
                        let _ = list.append_child(&row);
                        rows.push((client_id.clone(), row));
                    }
                }
            }
        });
    }
    list.into()
}

/// What the rows are rebuilt for: the messages, who we are, the actions pending (how many, and
/// when the newest was made: one comes or goes with any change of them) and the message being
/// edited. Ticks, typing notices and status changes touch the state every second and cost no
/// pass over the messages.
type RowsView = (u64, String, usize, i64, Option<i64>);

fn view_of(s: &ChatState) -> RowsView {
    let mut pending = s
        .outbox
        .entries()
        .iter()
        .filter(|e| e.act.target().is_some());
    let count = pending.clone().count();
    let newest = pending.next_back().map_or(0, |e| e.created_ts);
    (
        s.messages.revision(),
        s.me.user_id.clone(),
        count,
        newest,
        s.editing,
    )
}

/// Scrolls to the message a clicked quote names, loading older pages until the list holds it
/// (or holds all there is), then marks it for a moment.
fn seek(state: RwSignal<ChatState>, transport: Transport, shown: Rc<RefCell<ShownRows>>) {
    dom::watch(move || {
        let wanted = state.with(|s| (s.seeking, s.messages.revision(), s.messages.loading_older));
        let (Some(seq), _, loading) = wanted else {
            return;
        };
        let shown = shown.clone();
        // After this frame's rows are in the document.
        request_animation_frame(move || {
            let found = shown.borrow().node_of(seq);
            if let Some(row) = found {
                row.scroll_into_view();
                let _ = row.remove_attribute("data-found");
                let _ = row.set_attribute("data-found", "");
                transport.view(ViewChange::Seek(None));
            } else if !loading {
                let more = state.with_untracked(|s| s.messages.has_more && s.is_live());
                if more {
                    transport.load_older();
                } else {
                    transport.view(ViewChange::Seek(None));
                }
            }
        });
    });
}

/// A button of a message's actions: its icon, and its name for screen readers and the phone's
/// menu.
fn action_button(action: &str, icon: &str, name: &str) -> El {
    El::new("button")
        .attr("type", "button")
        .attr("data-action", action)
        .attr("title", name)
        .attr("aria-label", name)
        .push(
            El::with_class("span", "icon")
                .attr("aria-hidden", "true")
                .text(icon),
        )
        .push(
            El::with_class("span", "label")
                .attr("aria-hidden", "true")
                .text(name),
        )
}

/// One stored message, or a day separator.
pub fn message_row(state: &ChatState, row: &Row<'_>, now: i64) -> Element {
    match row {
        Row::Day { ts, .. } => {
            // A list item like the messages (a list holds items only); its text says the day.
            El::with_class("li", "day").text(&format::day(*ts, now)).0
        }
        Row::Message {
            message,
            own,
            first_in_group,
        } => {
            // As the person will see it once the room confirms what they did to it.
            let message = &state.shown(message);
            let class = match (own, first_in_group) {
                (true, true) => "bubble own first",
                (true, false) => "bubble own",
                (false, true) => "bubble first",
                (false, false) => "bubble",
            };
            let time = format::time(message.ts);
            let mut li = El::with_class("li", class).attr("data-seq", &decimal(message.seq));
            // A group (one person's messages close together) shows its face, its name and its
            // time once, at the top; each later message tells its time on hover.
            if *first_in_group {
                let mut meta = El::with_class("div", "meta");
                if !own {
                    li = li.push(face(&message.user_id, &message.name));
                    meta = meta.push(El::with_class("span", "author").text(&message.name));
                }
                li = li.push(meta.push(El::with_class("time", "time").text(&time)));
            } else {
                li = li.attr("title", &time);
            }
            if let Some(quote) = &message.reply {
                li = li.push(
                    El::with_class("button", "quote")
                        .attr("type", "button")
                        .attr("data-action", "quote")
                        .attr("data-quote", &decimal(quote.seq))
                        .push(El::with_class("span", "quote-author").text(&quote.name))
                        .text(if quote.deleted {
                            "Message deleted"
                        } else {
                            &quote.text
                        }),
                );
            }
            if message.deleted {
                return li
                    .push(El::with_class("p", "text deleted").text("Message deleted"))
                    .0;
            }
            if state.editing == Some(message.seq) {
                li = li
                    .push(
                        El::with_class("textarea", "edit-field")
                            .attr("aria-label", "Edit message")
                            .text(&message.text),
                    )
                    .push(El::with_class("span", "hint").text("Enter to save · Esc to cancel"));
            } else {
                li = li.push(rich_text(&message.text));
            }
            if let Some(at) = message.edited_ts {
                li = li.push(
                    El::with_class("span", "edited")
                        .attr("title", &format::time(at))
                        .text("edited"),
                );
            }
            if !message.reactions.is_empty() {
                li = li.push(reactions(state, message));
            }
            let mut actions = El::with_class("div", "actions")
                .attr("role", "toolbar")
                .attr("aria-label", "Message actions")
                .push(action_button("pick", "☺", "React"))
                .push(action_button("reply", "↩", "Reply"));
            if *own {
                actions = actions
                    .push(action_button("edit", "✎", "Edit"))
                    .push(action_button("delete", "⌫", "Delete"));
            }
            li.push(actions).0
        }
    }
}

/// `n` in decimal, without the formatting machinery.
fn decimal(n: i64) -> String {
    let mut out = String::new();
    protocol::json::write_int(&mut out, n);
    out
}

/// A chip per emoji on `message`: the emoji and how many put it there, pressed when one of them
/// is this person; who they are on hover (and for screen readers). A click toggles it.
fn reactions(state: &ChatState, message: &Message) -> El {
    let mut chips = El::with_class("div", "reactions");
    for reaction in &message.reactions {
        let mine = reaction.user_ids.contains(&state.me.user_id);
        let names: Vec<&str> = reaction
            .user_ids
            .iter()
            .map(|id| state.name_of(id).unwrap_or("someone"))
            .collect();
        let names = names.join(", ");
        let count = reaction.user_ids.len();
        chips = chips.push(
            El::with_class("button", if mine { "chip mine" } else { "chip" })
                .attr("type", "button")
                .attr("data-action", "react")
                .attr("data-emoji", &reaction.emoji)
                .attr("aria-pressed", if mine { "true" } else { "false" })
                // Named by what it shows ("👍 2"); who reacted is its description.
                .attr("title", &names)
                .text(&reaction.emoji)
                .text(" ")
                .text(&decimal(i64::try_from(count).unwrap_or(i64::MAX))),
        );
    }
    chips
}

/// `<div class="text">` with a message's text and its little formatting
/// ([`client::markup`]): every piece is set as text, and a link's address as an attribute, so
/// nothing in a message is ever parsed as HTML. Links open in a new tab and tell it nothing of
/// this page.
fn rich_text(text: &str) -> El {
    let mut shown = El::with_class("div", "text");
    for span in markup::spans(text) {
        // One path for every element, so that each construct costs the client a name only.
        let (tag, text) = match span {
            Span::Text(text) => ("", text),
            Span::Link(url) => ("a", url),
            Span::Code(code) => ("code", code),
            Span::Block(code) => ("pre", code),
            Span::Strong(text) => ("strong", text),
            Span::Em(text) => ("em", text),
        };
        if tag.is_empty() {
            shown = shown.text(text);
            continue;
        }
        let mut element = El::new(tag).text(text);
        if tag == "a" {
            element = element
                .attr("href", text)
                .attr("rel", "noopener noreferrer")
                .attr("target", "_blank");
        }
        shown = shown.push(element);
    }
    shown
}

/// A message in the outbox, with Retry and Discard (handled by the list) when `view` offers them.
fn pending_row(client_id: &str, text: &str, view: &PendingView) -> Element {
    let row = El::with_class("li", "bubble own first pending")
        .attr("data-client-id", client_id)
        .push(rich_text(text))
        .push(El::with_class("span", "pending-state"))
        .push(
            El::with_class("span", "pending-actions")
                .push(small_button("Retry").attr("data-action", "retry"))
                .push(small_button("Discard").attr("data-action", "discard")),
        )
        .0;
    show_pending_state(&row, view);
    row
}

/// Writes the entry's state ("Sending…", "Not sent yet", "Not sent", "Not confirmed"), the
/// reason with its countdown, and whether Retry and Discard show, touching only what differs.
/// The buttons are hidden, not removed, so they are the same elements when they come back.
fn show_pending_state(row: &Element, view: &PendingView) {
    let find = |css: &str| row.query_selector(css).ok().flatten();
    if let Some(line) = find(".pending-state")
        && line.text_content().as_deref() != Some(view.label)
    {
        line.set_text_content(Some(view.label));
    }
    match (view.detail.as_deref(), find(".reason")) {
        (Some(reason), Some(shown)) => {
            if shown.text_content().as_deref() != Some(reason) {
                shown.set_text_content(Some(reason));
            }
        }
        (Some(reason), None) => {
            let shown = El::with_class("span", "reason").text(reason).0;
            let actions = find(".pending-actions").map(Node::from);
            let _ = row.insert_before(&shown, actions.as_ref());
        }
        (None, Some(shown)) => shown.remove(),
        (None, None) => {}
    }
    if let Some(actions) = find(".pending-actions")
        && actions.has_attribute("hidden") == view.actions
    {
        let _ = if view.actions {
            actions.remove_attribute("hidden")
        } else {
            actions.set_attribute("hidden", "")
        };
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests {
    use super::*;
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
            ..Message::default()
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
            let mut state = ChatState::new("room", "me", "secret".into(), Default::default());
            state.me.user_id = "me".into();
            state.messages.reset(messages.to_vec(), false);
            self.shown
                .update(&self.list, &self.end, &state, &state.rows(0), DAY);
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
    fn a_pending_row_changes_in_place_and_offers_its_buttons_only_after_a_failure() {
        let mut outbox = client::Outbox::default();
        outbox.add("pending-0001".into(), "hello".into(), 0);
        outbox.due(0);
        let view = |outbox: &client::Outbox, now| outbox.entries()[0].view(now);
        let row = pending_row("pending-0001", "hello", &view(&outbox, 0));
        let text = |css: &str| {
            row.query_selector(css)
                .ok()
                .flatten()
                .and_then(|e| e.text_content())
        };
        let buttons = row.query_selector(".pending-actions").ok().flatten();
        let offered = || buttons.as_ref().is_some_and(|b| !b.has_attribute("hidden"));
        assert_eq!(text(".pending-state").as_deref(), Some("Sending…"));
        assert_eq!(text(".reason"), None);
        assert!(!offered(), "no Retry or Discard on a message just sent");

        outbox.refused(
            "pending-0001",
            protocol::ErrorCode::StoreUnavailable,
            "the message store is unavailable",
            Some(4_000),
            100,
        );
        show_pending_state(&row, &view(&outbox, 100));
        assert_eq!(text(".pending-state").as_deref(), Some("Not sent yet"));
        assert_eq!(
            text(".reason").as_deref(),
            Some("the server can't store messages right now; retrying in 4 s")
        );
        assert!(offered());
        show_pending_state(&row, &view(&outbox, 2_100));
        assert_eq!(
            text(".reason").as_deref(),
            Some("the server can't store messages right now; retrying in 2 s")
        );
        // The reason sits between the state line and the buttons.
        let order: Vec<String> = (0..row.children().length())
            .filter_map(|i| row.children().item(i))
            .map(|e| e.class_name())
            .collect();
        assert_eq!(
            order,
            ["text", "pending-state", "reason", "pending-actions"]
        );

        outbox.refused(
            "pending-0001",
            protocol::ErrorCode::InvalidText,
            "refused",
            None,
            3_000,
        );
        show_pending_state(&row, &view(&outbox, 3_000));
        assert_eq!(text(".pending-state").as_deref(), Some("Not sent"));
        assert_eq!(text(".reason").as_deref(), Some("refused"));

        outbox.retry("pending-0001");
        outbox.due(9_100);
        show_pending_state(&row, &view(&outbox, 9_100));
        assert_eq!(text(".pending-state").as_deref(), Some("Sending…"));
        assert_eq!(text(".reason"), None);
        assert!(!offered(), "a fresh retry is a fresh send");
        show_pending_state(
            &row,
            &view(&outbox, 9_100 + client::PENDING_ACTIONS_AFTER_MS),
        );
        assert!(offered(), "offered again after a long wait");
        assert!(row.query_selector(".pending-actions").ok().flatten() == buttons);
    }
}
