//! The composer: the message field (Enter sends), the character count near the limit, why a
//! send was refused, and the warning when unsent messages cannot be saved.

use crate::dom::{self, El};
use crate::transport::Transport;
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
            if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                event.prevent_default();
                send();
            }
        }
    };
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
