//! The composer: the message field (Enter sends, ↑ in an empty field edits one's last message),
//! the "replying to …" bar, the character count near the limit, why a send or an action was
//! refused, and the warning when unsent messages cannot be saved.

use crate::dom::{self, El};
use crate::transport::Transport;
use client::ViewChange;
use protocol::TEXT_MAX_CHARS;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::{Event, HtmlTextAreaElement};

pub(super) fn composer(transport: Transport) -> El {
    // Only the draft's length is kept, as an `i64` like the transport's clock: a signal of
    // another type would compile the reactive machinery once more (about 0.5 KB gzip).
    let length = RwSignal::new(0i64);
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
                    length.set(0);
                    problem.set_text_content(None);
                }
                Err(e) => problem.set_text_content(Some(&e)),
            }
            let _ = area.focus();
        })
    };
    let on_input = {
        let problem = problem.0.clone();
        move |event: Event| {
            let count = dom::event_value(&event).trim().chars().count();
            length.set(i64::try_from(count).unwrap_or(i64::MAX));
            problem.set_text_content(None);
            transport.keystroke();
        }
    };
    let on_key = {
        let send = send.clone();
        move |event: Event| {
            let Some(key) = event.dyn_ref::<web_sys::KeyboardEvent>() else {
                return;
            };
            let empty = dom::event_value(&event).is_empty();
            match key.key().as_str() {
                "Enter" if !key.shift_key() && !key.is_composing() => {
                    event.prevent_default();
                    send();
                }
                "ArrowUp" if empty => {
                    let last = transport
                        .state
                        .with_untracked(|s| s.last_own().map(|m| m.seq));
                    if let Some(seq) = last {
                        event.prevent_default();
                        transport.view(ViewChange::Edit(Some(seq)));
                        super::rows::edit_soon();
                    }
                }
                "Escape" => transport.view(ViewChange::ReplyTo(None)),
                _ => {}
            }
        }
    };
    let state = transport.state;
    // The reply bar: whom and what the next message answers, and a way out.
    let replying = move || {
        state.with(|s| {
            let seq = s.replying_to?;
            let message = s.messages.get(seq)?;
            let mut bar = String::from("Replying to ");
            bar.push_str(&message.name);
            bar.push_str(": ");
            bar.push_str(message.text.lines().next().unwrap_or_default());
            Some(bar)
        })
    };
    let reply_bar = El::with_class("p", "reply-bar")
        .push(El::with_class("span", "reply-to").bind_text(move || replying().unwrap_or_default()))
        .push(
            El::with_class("button", "small quiet")
                .attr("type", "button")
                .attr("aria-label", "Cancel the reply")
                .text("✕")
                .on("click", move |_| {
                    transport.view(ViewChange::ReplyTo(None));
                    dom::focus(".composer textarea");
                }),
        );
    let count = move || usize::try_from(length.get()).unwrap_or(0);
    let counter = El::new("span")
        .attr("aria-live", "polite")
        .bind_attr("class", move || {
            Some(
                if count() > TEXT_MAX_CHARS {
                    "counter over"
                } else {
                    "counter"
                }
                .to_owned(),
            )
        })
        .bind_text(move || format!("{}/{TEXT_MAX_CHARS}", count()));
    El::with_class("form", "composer")
        .on("submit", move |event: Event| {
            event.prevent_default();
            send();
        })
        .shown_child(reply_bar, move || replying().is_some())
        .push(area.on("input", on_input).on("keydown", on_key))
        .shown_child(counter, move || count() >= TEXT_MAX_CHARS - 200)
        .push(
            El::new("button")
                .attr("type", "submit")
                .attr("aria-label", "Send")
                .text("Send"),
        )
        .push(problem)
        .shown_child(
            El::with_class("p", "problem refusal")
                .attr("role", "alert")
                .bind_text(move || state.with(|s| s.refusal.clone()).unwrap_or_default()),
            move || state.with(|s| s.refusal.is_some()),
        )
        .shown_child(
            El::with_class("p", "storage-warning")
                .attr("role", "alert")
                .text("This browser's storage is full: unsent messages will not survive a reload."),
            move || {
                transport
                    .state
                    .with(|s| s.outbox_unsaved && !s.outbox.is_empty())
            },
        )
}
