//! The first visit and the pages shown instead of a room: the name picker, a bad room, no
//! identity.

use crate::dom::{self, El};
use crate::storage;
use web_sys::{Element, Event};

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
pub fn name_picker(chosen: impl Fn(String) -> Option<Element> + 'static) -> Element {
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
    let main = El::with_class("main", "centered");
    let submit = {
        let (problem, input, main) = (problem.0.clone(), input.0.clone(), main.0.clone());
        move |event: Event| {
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
        }
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
