//! The side of the chat: the rooms this browser has been in with their unread counts, the form
//! to join or create one, who you are (your face, your name and how to change it) and the
//! notifications toggle. A column on a desktop, in the drawer on a phone.

use super::{face, small_button};
use crate::dom::{self, El};
use crate::notify::{self, Permission};
use crate::transport::{Transport, get_text};
use crate::{now, storage};
use client::{ChatState, UNREAD_PAGE};
use leptos_dom::helpers::{set_interval_with_handle, window};
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::JsCast;
use web_sys::Event;

/// How often the other rooms' unread counts are asked for while the page is visible. Each
/// count is one history request, which costs the store one command, so this is slow; a count
/// is also asked for when the page comes back to the foreground.
const UNREAD_EVERY: Duration = Duration::from_secs(300);
/// No two rounds of counts closer than this, whatever asks.
const UNREAD_AT_MOST_EVERY_MS: i64 = 30_000;

pub(super) fn side(state: RwSignal<ChatState>, transport: Transport) -> El {
    El::with_class("aside", "side")
        .attr("aria-label", "Rooms and you")
        .push(rooms(state, transport))
        .shown_child(you(state, transport), move || {
            !state.with(ChatState::is_preview)
        })
}

/// The list of rooms with unread counts, and the form to join one.
fn rooms(state: RwSignal<ChatState>, transport: Transport) -> El {
    count_unread_now_and_then(transport);
    let list = El::with_class("ul", "rooms");
    {
        let list = list.0.clone();
        let mut shown: Option<Vec<(String, String)>> = None;
        dom::watch(move || {
            let now = state.with(|s| s.rooms.badges());
            if shown.as_ref() == Some(&now) {
                return;
            }
            let current = state.with_untracked(|s| s.room.clone());
            list.set_text_content(None);
            for (room, badge) in &now {
                let mut link = El::new("a").attr("href", &format!("/r/{room}"));
                if *room == current {
                    link = link.attr("aria-current", "page");
                }
                link = link.push(El::with_class("span", "room-name").text(&format!("#{room}")));
                if !badge.is_empty() {
                    // The link reads "#lobby 2 unread": a label on a plain span is not read
                    // out, and one on the link would not contain what it shows.
                    link = link
                        .push(El::with_class("span", "badge").text(badge))
                        .push(El::with_class("span", "visually-hidden").text(" unread"));
                }
                let _ = list.append_child(&El::new("li").push(link).into_node());
            }
            shown = Some(now);
        });
    }

    El::with_class("nav", "rooms-panel")
        .attr("aria-label", "Rooms")
        .push(El::new("h2").text("Rooms"))
        .push(list)
        .push(join_form())
}

/// "Join or create a room": a labelled field whose name is checked here, as the room checks it,
/// before the page goes there.
fn join_form() -> El {
    let problem = El::with_class("p", "problem").attr("role", "alert");
    let input = El::new("input")
        .attr("id", "join-room")
        .attr("placeholder", "room-name")
        .attr("autocomplete", "off")
        .attr("autocapitalize", "none")
        .attr("spellcheck", "false")
        .attr("maxlength", "64");
    let join = {
        let (input, problem) = (input.0.clone(), problem.0.clone());
        move |event: Event| {
            event.prevent_default();
            // Room names are ASCII (a-z, 0-9, _ and -); ASCII lowercasing spares the client the
            // Unicode case tables (12 KB of wasm).
            let typed = dom::value_of(&input).trim().to_ascii_lowercase();
            match protocol::validate_room(&typed) {
                Ok(room) => {
                    let _ = window().location().set_href(&format!("/r/{room}"));
                }
                Err(_) => problem.set_text_content(Some(super::ROOM_NAME_RULE)),
            }
        }
    };
    El::with_class("form", "join")
        .on("submit", join)
        .push(
            El::new("label")
                .attr("for", "join-room")
                .text("Join or create a room"),
        )
        .push(
            El::with_class("div", "row")
                .push(input)
                .push(small_button("Join").attr("type", "submit")),
        )
        .push(problem)
}

/// Asks for the newest page of every other room in the list and counts what is unread: once
/// joined, then every [`UNREAD_EVERY`] and when the page comes back to the
/// foreground ([`ChatState::rooms_to_count`] says which, if any).
fn count_unread_now_and_then(transport: Transport) {
    let last = Rc::new(Cell::new(None::<i64>));
    let round = move || {
        let now = now();
        if last
            .get()
            .is_some_and(|at| now - at < UNREAD_AT_MOST_EVERY_MS)
        {
            return;
        }
        let rooms = transport.state.with_untracked(ChatState::rooms_to_count);
        if !rooms.is_empty() {
            last.set(Some(now));
        }
        for room in rooms {
            count_unread(transport, room);
        }
    };
    let first = round.clone();
    let mut previous = None;
    dom::watch(move || {
        // A round once joined, and when the page comes back.
        let now = transport
            .state
            .with(|s| (s.is_live(), s.attention.is_hidden()));
        if previous != Some(now) {
            previous = Some(now);
            first();
        }
    });
    let _ = set_interval_with_handle(round, UNREAD_EVERY);
}

/// One room's newest page over HTTP, counted into the rooms. A failed request leaves the count
/// as it was: a badge is a hint, and the next round asks again.
fn count_unread(transport: Transport, room: String) {
    let url = format!("/api/rooms/{room}/messages?limit={UNREAD_PAGE}");
    get_text(
        &url,
        Box::new(move |text| {
            if let Ok(page) = protocol::HistoryPage::decode(&text) {
                transport.update(|s| s.newest_page_of(&room, &page));
            }
        }),
    );
}

/// Your face and name, "Change name" (a `<details>`, which opens and closes by itself), and the
/// notifications toggle.
fn you(state: RwSignal<ChatState>, transport: Transport) -> El {
    let problem = El::with_class("p", "problem").attr("role", "alert");
    let input = El::new("input")
        .attr("id", "new-name")
        .attr("autocomplete", "nickname")
        .attr("maxlength", "32");
    let field = input.0.clone();
    let rename = El::with_class("details", "rename");
    let save = {
        let (input, problem, rename) = (input.0.clone(), problem.0.clone(), rename.0.clone());
        move |event: Event| {
            event.prevent_default();
            match transport.set_name(&dom::value_of(&input)) {
                Ok(()) => {
                    let _ = rename.remove_attribute("open");
                }
                Err(e) => problem.set_text_content(Some(&e)),
            }
        }
    };
    let rename = rename
        .push(El::with_class("summary", "button small quiet").text("Change name"))
        .push(
            El::new("form")
                .on("submit", save)
                .push(El::new("label").attr("for", "new-name").text("Your name"))
                .push(
                    El::with_class("div", "row")
                        .push(input)
                        .push(small_button("Save").attr("type", "submit")),
                )
                .push(problem),
        );
    let me = El::with_class("div", "me");
    {
        let me = me.0.clone();
        let mut shown: Option<(String, String)> = None;
        dom::watch(move || {
            let now = state.with(|s| (s.me.user_id.clone(), s.me.name.clone()));
            if shown.as_ref() == Some(&now) {
                return;
            }
            me.set_text_content(None);
            let _ = me.append_child(&face(&now.0, &now.1).into_node());
            let _ = me.append_child(&El::with_class("span", "name").text(&now.1).into_node());
            // The form starts from the name as it is.
            if let Some(field) = field.dyn_ref::<web_sys::HtmlInputElement>() {
                field.set_value(&now.1);
            }
            shown = Some(now);
        });
    }
    El::with_class("section", "you")
        .attr("aria-label", "You")
        .push(me)
        .push(rename)
        .push(notify_toggle(state))
}

/// Turns desktop notifications on and off. The browser is asked for permission only here, on a
/// click; when it refuses, the button says so.
fn notify_toggle(state: RwSignal<ChatState>) -> El {
    // Only whether the browser refused matters to the view.
    let denied = dom::Flag::new(notify::permission() == Permission::Denied);
    let on = move || state.with(|s| s.attention.notify);
    let set = move |value: bool| {
        storage::set_notify(value);
        state.update(|s| s.attention.notify = value);
    };
    // The answer is read again on each click: the user may have changed it in the browser's
    // settings meanwhile.
    let toggle = move |_| {
        let now = notify::permission();
        denied.set(now == Permission::Denied);
        match now {
            Permission::Granted => set(!on()),
            Permission::Ask => notify::request(move |answer| {
                denied.set(answer == Permission::Denied);
                set(answer == Permission::Granted);
            }),
            Permission::Denied => set(false),
        }
    };
    El::with_class("button", "small notify")
        .attr("type", "button")
        .bind_attr("aria-pressed", move || {
            Some(if on() { "true" } else { "false" }.to_owned())
        })
        .bind_attr("title", move || {
            Some(
                if denied.get() {
                    "Notifications are blocked in this browser"
                } else if on() {
                    "Notifications are on while this tab is hidden; click to turn off"
                } else {
                    "Notify me of new messages while this tab is hidden"
                }
                .to_owned(),
            )
        })
        .bind_text(move || if on() { "Notify: on" } else { "Notify" }.to_owned())
        .on("click", toggle)
}
