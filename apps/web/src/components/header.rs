//! The room's bar, one row on any screen: the menu button (on a phone: the drawer with the
//! rooms, you and who is online), the room's name, and the connection's state with Retry or
//! Reload.

use super::small_button;
use crate::dom::{self, El};
use crate::transport::Transport;
use client::{ChatState, ConnectionStatus};
use leptos_dom::helpers::window;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;

pub(super) fn header(state: RwSignal<ChatState>, transport: Transport, menu_open: dom::Flag) -> El {
    let status_name = move || {
        state.with(|s| match s.status {
            // Connected, but the room cannot store messages: sends wait.
            ConnectionStatus::Live if s.store_down => "degraded",
            ConnectionStatus::Live => "live",
            ConnectionStatus::Preview => "preview",
            ConnectionStatus::Connecting { .. } => "connecting",
            ConnectionStatus::Reconnecting { .. } => "reconnecting",
            ConnectionStatus::Offline => "offline",
            ConnectionStatus::Outdated { .. } => "outdated",
        })
    };
    let status_text = move || {
        let now = transport.clock.get();
        state.with(|s| match s.status {
            ConnectionStatus::Preview => "Not joined".to_owned(),
            ConnectionStatus::Connecting { .. } => "Connecting…".to_owned(),
            ConnectionStatus::Live if s.store_down => {
                "Connected; messages can't be stored right now".to_owned()
            }
            ConnectionStatus::Live => "Live".to_owned(),
            ConnectionStatus::Reconnecting { attempt, next_at } => {
                let seconds = client::seconds_until(next_at, now);
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

    let room = state.with_untracked(|s| format!("#{}", s.room));
    let unread_elsewhere = move || state.with(|s| s.rooms.unread_elsewhere(&s.room));
    let menu = El::with_class("button", "menu")
        .attr("type", "button")
        .attr("aria-controls", "drawer")
        .bind_attr("aria-expanded", move || Some(menu_open.get().to_string()))
        // A dot on the button while another room has unread messages, which its label says.
        .bind_attr("data-unread", move || unread_elsewhere().then(String::new))
        .bind_attr("aria-label", move || {
            Some(
                if unread_elsewhere() {
                    "Rooms and people (unread in other rooms)"
                } else {
                    "Rooms and people"
                }
                .to_owned(),
            )
        })
        .text("☰")
        .on("click", move |_| menu_open.toggle());

    El::with_class("header", "bar")
        .push(menu)
        .push(El::new("h1").text(&room))
        .push(
            El::with_class("div", "connection")
                .push(status)
                .shown_child(retry, can_retry)
                .shown_child(reload, outdated),
        )
}
