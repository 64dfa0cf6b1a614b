//! The thin layer between the browser and [`ChatState`]: one WebSocket at a time, reconnect
//! timers, a one-second tick (retries, heartbeat, typing expiry), and the browser's `online`,
//! `offline` and `visibilitychange` events. Every decision is the state's; this only carries
//! frames and schedules calls.

use crate::{notify, now, storage};
use client::ChatState;
use leptos_dom::helpers::{
    TimeoutHandle, set_interval_with_handle, set_timeout_with_handle, window_event_listener_untyped,
};
use reactive_graph::owner::{LocalStorage, StoredValue};
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use std::cell::RefCell;
use std::time::Duration;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, MessageEvent, StorageEvent, WebSocket};

/// Handlers of one socket, dropped (and so detached) when the socket is replaced.
struct SocketHandlers {
    _open: Closure<dyn FnMut()>,
    _message: Closure<dyn FnMut(MessageEvent)>,
    _close: Closure<dyn FnMut(CloseEvent)>,
}

struct Inner {
    url: String,
    socket: Option<WebSocket>,
    handlers: Option<SocketHandlers>,
    /// Bumped per socket, so events of a replaced socket are ignored.
    generation: u64,
    reconnect: Option<TimeoutHandle>,
}

/// The connection of one room: a `Copy` handle (the socket itself lives in the reactive
/// arena, on this thread), so views can capture it freely.
#[derive(Clone, Copy)]
pub struct Transport {
    pub state: RwSignal<ChatState>,
    /// The time, refreshed every second, for countdowns and expiring typing notices.
    pub clock: RwSignal<i64>,
    inner: StoredValue<RefCell<Inner>, LocalStorage>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport").finish_non_exhaustive()
    }
}

/// Whether the page is visible (not a background tab or a minimized window).
fn page_shown() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible)
}

/// `ws://` or `wss://` URL of `room` on the page's own host.
pub fn socket_url(room: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let host = location
        .as_ref()
        .and_then(|l| l.host().ok())
        .unwrap_or_default();
    let scheme = match location.and_then(|l| l.protocol().ok()).as_deref() {
        Some("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{host}{}", protocol::ws_path(room))
}

impl Transport {
    /// Starts connecting `state`'s room and keeps the connection up until the page goes away.
    pub fn start(state: RwSignal<ChatState>) -> Self {
        let room = state.with_untracked(|s| s.room.clone());
        let transport = Self {
            state,
            clock: RwSignal::new(now()),
            inner: StoredValue::new_local(RefCell::new(Inner {
                url: socket_url(&room),
                socket: None,
                handlers: None,
                generation: 0,
                reconnect: None,
            })),
        };
        transport.connect();

        let ticker = transport;
        let _ = set_interval_with_handle(move || ticker.tick(), Duration::from_secs(1));

        let online = transport;
        let _ = window_event_listener_untyped("online", move |_| online.retry_now());
        let offline = transport;
        let _ = window_event_listener_untyped("offline", move |_| {
            offline.state.update(ChatState::offline);
        });
        // Leaving the page closes the socket with a close frame, so the room tells the others
        // at once instead of when the connection times out.
        // Another tab of this browser saved the room's outbox: take in what it wrote there and
        // let go of what it confirmed or discarded (not saved again here: only changes are).
        let shared = transport;
        let _ = window_event_listener_untyped("storage", move |event| {
            let Some(event) = event.dyn_ref::<StorageEvent>() else {
                return;
            };
            let room = shared.state.with_untracked(|s| s.room.clone());
            let stored = event.new_value();
            if storage::is_outbox_of(&room, event.key().as_deref()) {
                let [messages, actions] = storage::stored_outbox(&room);
                shared.state.update(|s| {
                    s.outbox
                        .merge_stored([messages.as_deref(), actions.as_deref()], now());
                });
            } else if storage::is_rooms(event.key().as_deref()) {
                // Another tab visited a room or saw one.
                shared
                    .state
                    .update(|s| s.rooms.merge_stored(stored.as_deref()));
            }
        });
        let leaving = transport;
        let _ = window_event_listener_untyped("pagehide", move |_| {
            leaving.save_rooms();
            leaving.drop_socket();
        });
        let visible = transport;
        visible.update(|s| s.set_hidden(!page_shown()));
        let on_visible = Closure::<dyn FnMut()>::new(move || {
            let shown = page_shown();
            visible.update(|s| s.set_hidden(!shown));
            if !shown {
                // A hidden tab may be discarded without a `pagehide`.
                visible.save_rooms();
            }
            if shown && !visible.state.with_untracked(ChatState::is_live) {
                visible.retry_now();
            }
        });
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            let _ = document.add_event_listener_with_callback(
                "visibilitychange",
                on_visible.as_ref().unchecked_ref(),
            );
        }
        // The listener lives as long as the page.
        on_visible.forget();
        transport
    }

    /// Runs `f` on the connection's inner state (`None` once the page is torn down).
    fn with_inner<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> Option<R> {
        self.inner.try_with_value(|cell| f(&mut cell.borrow_mut()))
    }

    /// Opens a socket unless one is open or opening, or this is a preview (no name yet).
    pub fn connect(&self) {
        if self.state.with_untracked(ChatState::is_preview) {
            return;
        }
        let opening = self.with_inner(|inner| {
            if let Some(socket) = &inner.socket
                && matches!(
                    socket.ready_state(),
                    WebSocket::CONNECTING | WebSocket::OPEN
                )
            {
                return None;
            }
            if let Some(timer) = inner.reconnect.take() {
                timer.clear();
            }
            inner.generation += 1;
            Some((inner.url.clone(), inner.generation))
        });
        let Some(Some((url, generation))) = opening else {
            return;
        };
        self.state.update(ChatState::connecting);
        let Ok(socket) = WebSocket::new(&url) else {
            self.socket_closed();
            return;
        };

        let this = *self;
        let open = Closure::<dyn FnMut()>::new(move || {
            if this.is_current(generation) {
                let frames = this.update(|s| s.opened(now())).unwrap_or_default();
                this.send_all(&frames);
            }
        });
        let this = *self;
        let message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if !this.is_current(generation) {
                return;
            }
            if let Some(text) = event.data().as_string() {
                let (frames, alerts) = this
                    .update(|s| (s.received(&text, now()), s.attention.take_alerts()))
                    .unwrap_or_default();
                this.send_all(&frames);
                if let Some(versions) = this.state.with_untracked(ChatState::outdated) {
                    // The server was deployed with a protocol this page does not speak: the
                    // page reloads to get the client that does, once per server version, so a
                    // mismatch that a reload cannot fix shows the banner instead of a loop.
                    storage::reload_once_for(versions);
                }
                let room = this.state.with_untracked(|s| s.room.clone());
                for alert in alerts {
                    notify::show(&room, &alert);
                }
            }
        });
        let this = *self;
        let close = Closure::<dyn FnMut(CloseEvent)>::new(move |_event: CloseEvent| {
            if this.is_current(generation) {
                this.socket_closed();
            }
        });
        socket.set_onopen(Some(open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(close.as_ref().unchecked_ref()));
        self.with_inner(|inner| {
            inner.socket = Some(socket);
            inner.handlers = Some(SocketHandlers {
                _open: open,
                _message: message,
                _close: close,
            });
        });
    }

    /// Drops the current socket now and reconnects at once (the "retry now" button, the
    /// browser coming back online or to the foreground), unless a full room asked us to stay
    /// away longer: then the reconnect waits for the end of that.
    pub fn retry_now(&self) {
        if self.state.with_untracked(ChatState::is_preview) {
            // Nothing to reconnect: the connection starts with the join.
            return;
        }
        self.drop_socket();
        let wait = self.update(|s| s.retry_now(now())).unwrap_or(0);
        if wait == 0 {
            self.connect();
        } else {
            self.schedule_connect(wait);
        }
    }

    /// The person picked a name: on a first visit to join, later to change it. It is kept for
    /// the next visit, and the connection starts (or starts over), so that the room's hello
    /// carries it. `Err` says why the name is refused.
    pub fn set_name(&self, name: &str) -> Result<(), String> {
        let first_visit = self.state.with_untracked(ChatState::is_preview);
        self.state
            .try_update(|s| s.join(name))
            .unwrap_or_else(|| Err("the chat is closed".to_owned()))?;
        storage::set_name(&self.state.with_untracked(|s| s.me.name.clone()));
        if first_visit {
            self.connect();
        } else {
            self.retry_now();
        }
        Ok(())
    }

    /// The user sends a message, answering the one the reply bar names. `Err` says why the
    /// text is refused.
    pub fn compose(&self, text: &str) -> Result<(), String> {
        let client_id = crate::new_id();
        let frames = self
            .update(|s| {
                let sent = s.compose(text, s.replying_to, client_id, now());
                if sent.is_ok() {
                    s.replying_to = None;
                }
                sent
            })
            .unwrap_or_else(|| Err("the chat is closed".to_owned()))?;
        self.send_all(&frames);
        Ok(())
    }

    /// The user saves an edit of their message `seq`; a text the room would refuse is said in
    /// the composer instead.
    pub fn edit(&self, seq: i64, text: String) {
        self.act(Box::new(move |s, client_id, now| {
            match s.edit(seq, &text, client_id, now) {
                Ok(frames) => {
                    s.editing = None;
                    frames
                }
                Err(why) => {
                    s.refusal = Some(why);
                    Vec::new()
                }
            }
        }));
    }

    pub fn delete(&self, seq: i64) {
        self.act(Box::new(move |s, client_id, now| {
            s.delete(seq, client_id, now)
        }));
    }

    /// Puts `emoji` on message `seq`, or takes it off.
    pub fn react(&self, seq: i64, emoji: String) {
        self.act(Box::new(move |s, client_id, now| {
            s.react(seq, &emoji, client_id, now)
        }));
    }

    /// One of the person's actions on a message, with a new `client_id`, and the frames it
    /// asks to send. Boxed, so the state's update is compiled once for all of them.
    fn act(&self, action: Box<Action>) {
        let client_id = crate::new_id();
        let frames = self
            .update(move |s| action(s, client_id, now()))
            .unwrap_or_default();
        self.send_all(&frames);
    }

    /// A change of what the view shows ([`client::ViewChange`]).
    pub fn view(&self, change: client::ViewChange) {
        self.state.update(|s| s.view(change));
    }

    pub fn keystroke(&self) {
        if let Some(frame) = self.update(|s| s.keystroke(now())).flatten() {
            self.send_all(&[frame]);
        }
    }

    pub fn load_older(&self) {
        if let Some(frame) = self.update(ChatState::load_older).flatten() {
            self.send_all(&[frame]);
        }
    }

    pub fn retry(&self, client_id: &str) {
        let frames = self
            .update(|s| s.retry(client_id, now()))
            .unwrap_or_default();
        self.send_all(&frames);
    }

    pub fn discard(&self, client_id: &str) {
        self.update(|s| s.outbox.discard(client_id));
    }

    fn tick(&self) {
        let now = now();
        self.clock.set(now);
        let (frames, dead) = self.update(|s| s.tick(now)).unwrap_or_default();
        self.send_all(&frames);
        self.save_rooms();
        if dead {
            // A half-open connection: give up on it and start over.
            self.drop_socket();
            self.socket_closed();
        }
    }

    fn socket_closed(&self) {
        if self.state.with_untracked(ChatState::outdated).is_some() {
            // The server would answer a new connection the same way.
            return;
        }
        let delay = self
            .update(|s| s.closed(now(), js_sys::Math::random()))
            .unwrap_or(1_000);
        let offline = web_sys::window().is_some_and(|w| !w.navigator().on_line());
        if offline {
            self.state.update(ChatState::offline);
            return;
        }
        self.schedule_connect(delay);
    }

    /// Connects after `delay` milliseconds, replacing any reconnect already scheduled.
    fn schedule_connect(&self, delay: u64) {
        let this = *self;
        let timer =
            set_timeout_with_handle(move || this.connect(), Duration::from_millis(delay)).ok();
        self.with_inner(|inner| {
            if let Some(previous) = std::mem::replace(&mut inner.reconnect, timer) {
                previous.clear();
            }
        });
    }

    fn drop_socket(&self) {
        self.with_inner(|inner| {
            inner.generation += 1;
            if let Some(socket) = inner.socket.take() {
                socket.set_onopen(None);
                socket.set_onmessage(None);
                socket.set_onclose(None);
                let _ = socket.close_with_code_and_reason(4000, "reconnecting");
            }
            inner.handlers = None;
        });
    }

    fn is_current(&self, generation: u64) -> bool {
        self.with_inner(|inner| inner.generation == generation)
            .unwrap_or(false)
    }

    /// Saves what this page has seen of its room (`rooms_unsaved`), so unread counts survive a
    /// reload: at most once a tick, since a busy room marks it seen on every message.
    fn save_rooms(&self) {
        if self.state.with_untracked(|s| s.rooms_unsaved) {
            self.state.update(|s| {
                storage::save_rooms(&mut s.rooms);
                s.rooms_unsaved = false;
            });
        }
    }

    /// Changes the state and, when the outbox changed, saves it, so nothing typed is lost to a
    /// reload. Saving only on change matters beyond the cost: every save merges with what other
    /// tabs stored. `None` only once the page's reactive owner is gone.
    pub fn update<T>(&self, change: impl FnOnce(&mut ChatState) -> T) -> Option<T> {
        self.state.try_update(|s| {
            let before = s.outbox.entries().to_vec();
            let result = change(s);
            if s.outbox.entries() != before.as_slice() {
                let saved = storage::save_outbox(&s.room, &mut s.outbox, now());
                s.outbox_unsaved = !saved;
            }
            result
        })
    }

    fn send_all(&self, frames: &[String]) {
        if frames.is_empty() {
            return;
        }
        self.with_inner(|inner| {
            if let Some(socket) = &inner.socket {
                for frame in frames {
                    let _ = socket.send_with_str(frame);
                }
            }
        });
    }
}

/// `GET url` on the page's own origin; `on_text` gets the body of a 200 answer. Anything else
/// (an error status, no network) calls nothing: callers show what they had. `XMLHttpRequest`
/// with a callback rather than `fetch`, whose promise would cost the client its futures.
pub fn get_text(url: &str, on_text: Box<dyn FnOnce(String)>) {
    let Ok(request) = web_sys::XmlHttpRequest::new() else {
        return;
    };
    if request.open("GET", url).is_err() {
        return;
    }
    let answered = request.clone();
    let on_load = Closure::once_into_js(move || {
        if answered.status().ok() == Some(200)
            && let Ok(Some(text)) = answered.response_text()
        {
            on_text(text);
        }
    });
    request.set_onload(Some(on_load.unchecked_ref()));
    let _ = request.send();
}

/// One of the person's actions on a message: given the state, a new `client_id` and the time,
/// it changes the state and returns the frames to send.
type Action = dyn FnOnce(&mut ChatState, String, i64) -> Vec<String>;
