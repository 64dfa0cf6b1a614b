//! The first visit and the pages shown instead of a room: the prompt to join a room previewed
//! read-only, a bad room, no identity.

use crate::dom::{self, El};
use crate::transport::Transport;
use leptos_dom::helpers::request_animation_frame;
use reactive_graph::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Element, Event, HtmlElement};

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
        super::ROOM_NAME_RULE,
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

/// A first visit's footer, in the composer's place: "Join #room as [name] [Join]", focused,
/// while the room's recent messages show above it. A valid name is stored and the chat
/// connects; the composer then takes this form's place, with the focus.
pub(super) fn join_prompt(transport: Transport) -> El {
    let problem = El::with_class("p", "problem").attr("role", "alert");
    let input = El::new("input")
        .attr("id", "name")
        .attr("name", "name")
        .attr("autocomplete", "nickname")
        .attr("maxlength", "32")
        .attr("required", "")
        .on("input", {
            let problem = problem.0.clone();
            move |_| problem.set_text_content(None)
        });
    let field = input.0.clone();
    let submit = {
        let (problem, input) = (problem.0.clone(), input.0.clone());
        move |event: Event| {
            event.prevent_default();
            match transport.set_name(&dom::value_of(&input)) {
                Ok(()) => request_animation_frame(|| dom::focus(".composer textarea")),
                Err(e) => problem.set_text_content(Some(&e)),
            }
        }
    };
    // The page is in the document by the next frame.
    request_animation_frame(move || {
        if let Some(field) = field.dyn_ref::<HtmlElement>() {
            let _ = field.focus();
        }
    });
    let room = transport
        .state
        .with_untracked(|s| format!("Join #{} as", s.room));
    El::with_class("form", "composer join-prompt")
        .on("submit", submit)
        .push(El::new("label").attr("for", "name").text(&room))
        .push(input)
        .push(El::new("button").attr("type", "submit").text("Join"))
        .push(problem)
}
