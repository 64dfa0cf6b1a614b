//! The views. They read [`ChatState`] through its signal and call [`Transport`] on user actions;
//! they hold no chat logic of their own. Elements are built with [`crate::dom`]; what changes is
//! bound to the state, and each binding writes the DOM only when its own value changes.
//!
//! One module per part of the page: [`first_visit`] (the prompt to join a previewed room and
//! the pages shown instead of a room), [`header`] (the room's bar: menu, name, connection), [`side`] (rooms with unread
//! counts, joining one, you, notifications), [`people`] (who is online), [`rows`] (the message
//! list) and [`composer`]. On a desktop the side and the people are columns beside the
//! messages; on a phone they are a drawer the header's menu button opens.

mod composer;
mod first_visit;
mod header;
mod people;
mod rows;
mod side;

pub use first_visit::{bad_room, no_identity};
pub use rows::message_row;

use crate::dom::{self, El};
use crate::notify::{self, Permission};
use crate::storage;
use crate::transport::{self, Transport};
use client::{ChatState, Secret};
use leptos_dom::helpers::{document, request_animation_frame, window};
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::Element;

/// Which room the address names: `/` is the lobby, `/r/{room}` any room. The refusal quotes
/// the address as the person typed it (decoded: "Not a room!", not "Not%20a%20room!"); the rule
/// for names is the bad-room page's hint, stated once.
pub fn room_from_path(path: &str) -> Result<String, String> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok("lobby".to_owned());
    }
    match path.strip_prefix("/r/") {
        Some(room) => protocol::validate_room(room)
            .map(str::to_owned)
            .map_err(|_| format!("“{}” is not a valid room name.", percent_decoded(room))),
        None => Err(format!("There is nothing at {}.", percent_decoded(path))),
    }
}

/// `text` with its `%XX` escapes decoded by the browser (which costs the client no decoder of
/// its own); as it is when they are not valid UTF-8.
fn percent_decoded(text: &str) -> String {
    js_sys::decode_uri_component(text)
        .ok()
        .and_then(|decoded| decoded.as_string())
        .unwrap_or_else(|| text.to_owned())
}

/// The page: the room the address names. Without a name yet (a first visit) it is a preview:
/// the room's recent messages, read-only, with a prompt to join in the composer's place.
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
    chat_room(&room, &storage::name().unwrap_or_default(), secret)
}

fn chat_room(room: &str, name: &str, secret: String) -> Element {
    let state = RwSignal::new(ChatState::new(
        room,
        name,
        Secret::new(secret),
        storage::outbox(room),
    ));
    state.update(|s| {
        s.attention.notify = storage::notify() && notify::permission() == Permission::Granted;
        s.remember_me(&storage::user_id().unwrap_or_default());
        // This room heads the list of rooms visited.
        s.rooms = storage::rooms();
        s.rooms.visit(room, crate::now());
        storage::save_rooms(&mut s.rooms);
    });
    let transport = Transport::start(state);
    show_early_page(state);
    // Who the room says we are is kept, so that the next visit's early page knows our own
    // messages before the welcome.
    let mut known = String::new();
    dom::watch(move || {
        let me = state.with(|s| s.me.user_id.clone());
        if !me.is_empty() && me != known {
            storage::set_user_id(&me);
            known = me;
        }
    });
    // The tab title carries the unread count while the tab is hidden.
    let mut title = String::new();
    dom::watch(move || {
        let now = state.with(|s| s.attention.title(&s.room));
        if now != title {
            document().set_title(&now);
            title = now;
        }
    });

    let list = El::with_class("div", "messages").attr("aria-label", "Messages");
    let at_bottom = dom::Flag::new(true);
    // An `i64` like the transport's clock: a signal of another type would compile the
    // reactive machinery once more (about 0.5 KB gzip each).
    let unseen = RwSignal::new(0i64);
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
    dom::watch(move || {
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
    });
    // Older messages at the top: keep what the reader was looking at in place.
    let mut oldest = None;
    {
        let (list, anchor) = (list.0.clone(), anchor.clone());
        dom::watch(move || {
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
        });
    }

    let on_scroll = {
        let (el, anchor) = (list.0.clone(), anchor.clone());
        move |_| {
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
        }
    };

    let history_edge = El::with_class("p", "history-edge")
        .attr("aria-live", "polite")
        .bind_text(move || {
            state.with(|s| {
                if s.messages.loading_older {
                    "Loading older messages…"
                } else if s.messages.has_more && s.is_preview() {
                    "Join to read older messages."
                } else if s.messages.has_more {
                    ""
                } else if s.messages.is_empty() && (s.is_live() || s.is_preview()) {
                    "No messages yet. Say hello!"
                } else if s.messages.is_empty() {
                    ""
                } else {
                    "This is the beginning of the room."
                }
                .to_owned()
            })
        });

    let rows = rows::message_list(state, transport);
    let jump = {
        let jump_to = scroll_to_bottom.clone();
        El::with_class("button", "jump")
            .on("click", move |_| jump_to())
            .bind_text(move || format!("↓ {} new", unseen.get()))
    };
    let typing = El::with_class("p", "typing")
        .attr("aria-live", "polite")
        .bind_text(move || {
            let now = transport.clock.get();
            state.with(|s| s.typing.summary(now)).unwrap_or_default()
        });

    // The drawer (a phone's menu): the side and the people. On a desktop it is no box at all
    // (`display: contents`), so both are columns of the chat's grid.
    let menu_open = dom::Flag::new(false);
    let drawer = El::with_class("div", "drawer")
        .attr("id", "drawer")
        .push(
            El::with_class("button", "small quiet close")
                .attr("type", "button")
                .text("Close")
                .on("click", move |_| menu_open.set(false)),
        )
        .push(side::side(state, transport))
        .push(people::people(state))
        .on("keydown", move |event: web_sys::Event| {
            let escape = event
                .dyn_ref::<web_sys::KeyboardEvent>()
                .is_some_and(|key| key.key() == "Escape");
            if escape {
                menu_open.set(false);
            }
        });
    let backdrop = El::with_class("div", "backdrop").on("click", move |_| menu_open.set(false));
    // The keyboard follows the drawer: into it when it opens, back to the menu button when it
    // closes (after the frame that shows or hides it).
    let mut was_open = false;
    dom::watch(move || {
        let open = menu_open.get();
        if open != was_open {
            was_open = open;
            let target = if open {
                ".drawer .close"
            } else {
                "button.menu"
            };
            request_animation_frame(move || dom::focus(target));
        }
    });

    El::new("div")
        .bind_attr("class", move || {
            Some(
                if menu_open.get() {
                    "chat menu-open"
                } else {
                    "chat"
                }
                .to_owned(),
            )
        })
        .push(header::header(state, transport, menu_open))
        .push(drawer)
        .shown_child(backdrop, move || menu_open.get())
        .push(list.on("scroll", on_scroll).push(history_edge).child(&rows))
        .shown_child(jump, move || unseen.get() > 0)
        .push(typing)
        .shown_child(composer::composer(transport), move || {
            !state.with(ChatState::is_preview)
        })
        .shown_child(first_visit::join_prompt(transport), move || {
            state.with(ChatState::is_preview)
        })
        .0
}

/// The room's newest page, which index.html started fetching before any WebAssembly loaded
/// (`window.edgeChatEarlyPage`, a promise of the body or `null`), shown as soon as both are
/// there: the first messages need not wait for the socket. Without that promise (a page not
/// served from index.html) a first visit fetches the page itself, for its preview.
fn show_early_page(state: RwSignal<ChatState>) {
    let show = move |text: String| {
        if let Ok(page) = protocol::HistoryPage::decode(&text) {
            state.update(|s| s.early_page(page));
        }
    };
    let early = js_sys::Reflect::get(&window(), &"edgeChatEarlyPage".into())
        .ok()
        .and_then(|value| value.dyn_into::<js_sys::Promise>().ok());
    match early {
        Some(promise) => {
            let then = Closure::once(move |body: wasm_bindgen::JsValue| {
                if let Some(text) = body.as_string() {
                    show(text);
                }
            });
            let _ = promise.then(&then);
            // The promise settles once; the closure stays for it.
            then.forget();
        }
        None if state.with_untracked(ChatState::is_preview) => {
            let room = state.with_untracked(|s| s.room.clone());
            transport::get_text(&early_page_url(&room), Box::new(show));
        }
        None => {}
    }
}

/// What index.html fetches early: the newest page, as many messages as a welcome brings.
fn early_page_url(room: &str) -> String {
    format!("/api/rooms/{room}/messages")
}

/// The rule for room names, as the bad-room page and the form to join a room say it.
const ROOM_NAME_RULE: &str = "Room names use 1 to 64 of a–z, 0–9, _ and -.";

/// A small button, as the header and the pending rows use.
fn small_button(label: &str) -> El {
    El::with_class("button", "small").text(label)
}

/// A person's avatar: initials on a colour from their `user_id` ([`client::Face`]); their name
/// and the start of their id on hover. Decorative for screen readers, which read the name next
/// to it.
fn face(user_id: &str, name: &str) -> El {
    let face = client::Face::of(user_id, name);
    El::with_class("span", "avatar")
        .attr("aria-hidden", "true")
        .attr("style", &format!("--hue:{}", face.hue))
        .attr("title", &format!("{name} · {}", face.tag))
        .text(&face.initials)
}
