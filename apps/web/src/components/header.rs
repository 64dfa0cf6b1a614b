//! The room's bar: its name, who is online, the connection's state with Retry or Reload, the
//! notifications toggle, and the room switcher.

use super::small_button;
use crate::dom::{self, El};
use crate::notify::{self, Permission};
use crate::storage;
use crate::transport::Transport;
use client::{ChatState, ConnectionStatus};
use leptos_dom::helpers::window;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use web_sys::Event;

pub(super) fn header(state: RwSignal<ChatState>, transport: Transport) -> El {
    let status_name = move || {
        state.with(|s| match s.status {
            // Connected, but the room cannot store messages: sends wait.
            ConnectionStatus::Live if s.store_down => "degraded",
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
            ConnectionStatus::Live if s.store_down => {
                "Connected; messages can't be stored right now".to_owned()
            }
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
        .bind_attr("class", move || Some(format!("status {}", status_name())))
        .bind_attr("data-status", move || Some(status_name().to_owned()))
        .bind_text(status_text);
    // A full room's wait stands whoever asks, so the button would do nothing then.
    let retry = small_button("Retry now").on("click", move |_| transport.retry_now());
    let reload = small_button("Reload").on("click", move |_| {
        let _ = window().location().reload();
    });
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
    let go = {
        let input = goto.0.clone();
        move |event: Event| {
            event.prevent_default();
            // Room names are ASCII (a-z, 0-9, _ and -); ASCII lowercasing spares the client the
            // Unicode case tables (12 KB of wasm), and anything else is refused by the room page.
            let target = dom::value_of(&input).trim().to_ascii_lowercase();
            let _ = window().location().set_href(&format!("/r/{target}"));
        }
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
                .shown_child(retry, can_retry)
                .shown_child(reload, outdated),
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
        dom::watch(move || {
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
        });
    }
    El::with_class("details", "online")
        .push(
            El::new("summary")
                .bind_text(move || format!("{} online", state.with(|s| s.online.len()))),
        )
        .push(names)
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
        .bind_attr("aria-pressed", move || {
            Some(if on() { "true" } else { "false" }.to_owned())
        })
        .bind_attr("title", move || {
            Some(
                match permission.get() {
                    Permission::Denied => "Notifications are blocked in this browser",
                    _ if on() => "Notifications are on while this tab is hidden; click to turn off",
                    _ => "Notify me of new messages while this tab is hidden",
                }
                .to_owned(),
            )
        })
        .bind_text(move || if on() { "Notify: on" } else { "Notify" }.to_owned())
        .on("click", toggle)
}
