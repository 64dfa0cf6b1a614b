//! The views. They read [`ChatState`] through signals and call [`Transport`] on user actions;
//! they hold no chat logic of their own.

use crate::format;
use crate::notify::{self, Permission};
use crate::storage;
use crate::transport::Transport;
use client::{ChatState, ConnectionStatus, OutboxEntry, OutboxState, Row, Secret};
use leptos::html;
use leptos::prelude::*;
use protocol::TEXT_MAX_CHARS;

/// Which room the address names: `/` is the lobby, `/r/{room}` any room.
pub fn room_from_path(path: &str) -> Result<String, String> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok("lobby".to_owned());
    }
    match path.strip_prefix("/r/") {
        Some(room) => protocol::validate_room(room)
            .map(str::to_owned)
            .map_err(|e| format!("“{room}” is not a valid room name: {}.", e.0)),
        None => Err(format!("There is nothing at {path}.")),
    }
}

#[component]
pub fn App() -> impl IntoView {
    let path = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_default();
    let name = RwSignal::new(storage::name());
    let room = match room_from_path(&path) {
        Ok(room) => room,
        Err(problem) => return view! { <BadRoom problem=problem/> }.into_any(),
    };
    let secret = match storage::secret() {
        Ok(secret) => secret,
        Err(problem) => return view! { <NoIdentity problem=problem.to_string()/> }.into_any(),
    };
    view! {
        <Show
            when=move || name.with(Option::is_some)
            fallback=move || view! { <NamePicker name=name/> }
        >
            {
                let room = room.clone();
                let secret = secret.clone();
                move || {
                    let name = name.get().unwrap_or_default();
                    view! { <ChatRoom room=room.clone() name=name secret=secret.clone()/> }
                }
            }
        </Show>
    }
    .into_any()
}

/// Shown instead of the chat when no secret could be made: joining without one is impossible,
/// and one from a weak generator could be guessed by others.
#[component]
pub fn NoIdentity(problem: String) -> impl IntoView {
    view! {
        <main class="centered">
            <div class="card" role="alert">
                <h1>"Cannot join"</h1>
                <p class="bad-room">{problem}</p>
                <p>"Try a current version of your browser."</p>
            </div>
        </main>
    }
}

#[component]
pub fn BadRoom(problem: String) -> impl IntoView {
    view! {
        <main class="centered">
            <div class="card" role="alert">
                <h1>"No such room"</h1>
                <p class="bad-room">{problem}</p>
                <p>"Room names use 1 to 64 of a–z, 0–9, _ and -."</p>
                <a class="button" href="/">"Go to the lobby"</a>
            </div>
        </main>
    }
}

#[component]
pub fn NamePicker(name: RwSignal<Option<String>>) -> impl IntoView {
    let draft = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match protocol::validate_name(&draft.get_untracked()) {
            Ok(valid) => {
                storage::set_name(valid);
                name.set(Some(valid.to_owned()));
            }
            Err(e) => problem.set(Some(e.0)),
        }
    };
    view! {
        <main class="centered">
            <form class="card" on:submit=submit>
                <h1>"edge-chat"</h1>
                <label for="name">"Your name"</label>
                <input
                    id="name"
                    name="name"
                    autocomplete="nickname"
                    maxlength="32"
                    required
                    prop:value=move || draft.get()
                    on:input=move |ev| {
                        draft.set(event_target_value(&ev));
                        problem.set(None);
                    }
                />
                <p class="problem" role="alert">{move || problem.get()}</p>
                <button type="submit">"Join"</button>
            </form>
        </main>
    }
}

#[component]
fn ChatRoom(room: String, name: String, secret: String) -> impl IntoView {
    let state = RwSignal::new(ChatState::new(
        &room,
        &name,
        Secret::new(secret),
        storage::outbox(&room),
    ));
    state.update(|s| {
        s.attention.notify = storage::notify() && notify::permission() == Permission::Granted
    });
    let transport = Transport::start(state);
    // The tab title carries the unread count while the tab is hidden.
    Effect::new(move |_| {
        let title = state.with(|s| s.attention.title(&s.room));
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(&title);
        }
    });
    let list = NodeRef::<html::Div>::new();
    let at_bottom = RwSignal::new(true);
    let unseen = RwSignal::new(0usize);
    // Where the view was before older messages were added above it.
    let anchor = StoredValue::new(None::<(i32, i32)>);

    let scroll_to_bottom = move || {
        if let Some(el) = list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        unseen.set(0);
    };

    // New messages at the bottom: follow them when at the bottom, else count them.
    let newest = Memo::new(move |_| state.with(|s| s.messages.newest_seq()));
    let outbox_len = Memo::new(move |_| state.with(|s| s.outbox.entries().len()));
    Effect::new(move |previous: Option<Option<i64>>| {
        let current = newest.get();
        // Read, not `track()`: a memo nobody has read has no sources yet, so tracking it alone
        // would never rerun this effect.
        outbox_len.get();
        if at_bottom.get_untracked() {
            request_animation_frame(scroll_to_bottom);
        } else if previous.is_some_and(|p| p != current) {
            unseen.update(|n| *n += 1);
        }
        current
    });
    // Older messages at the top: keep what the reader was looking at in place.
    let oldest = Memo::new(move |_| state.with(|s| s.messages.oldest_seq()));
    Effect::new(move |_| {
        // Read, not `track()` (see above): this is what makes the effect rerun when a page of
        // older messages arrives.
        oldest.get();
        if let Some((height, top)) = anchor.get_value() {
            anchor.set_value(None);
            request_animation_frame(move || {
                if let Some(el) = list.get_untracked() {
                    el.set_scroll_top(el.scroll_height() - height + top);
                }
            });
        }
    });

    let on_scroll = {
        move |_| {
            let Some(el) = list.get_untracked() else {
                return;
            };
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
                anchor.set_value(Some((el.scroll_height(), el.scroll_top())));
                transport.load_older();
            }
        }
    };

    // The rows are rebuilt only when the messages or who we are change: ticks, typing notices
    // and status changes touch the state every second and must not cost a pass over thousands
    // of messages. Own messages are known only once the welcome says who we are.
    let rows_source =
        Memo::new(move |_| state.with(|s| (s.messages.revision(), s.me.user_id.clone())));
    let rows = Memo::new(move |_| {
        rows_source.get();
        state.with_untracked(|s| {
            let offset = format::tz_offset_ms(s.messages.newest_seq().unwrap_or(0));
            s.rows(offset)
        })
    });

    view! {
        <div class="chat">
            <Header state=state transport=transport/>
            <div class="messages" node_ref=list on:scroll=on_scroll aria-label="Messages">
                <p class="history-edge" aria-live="polite">
                    {move || state.with(|s| {
                        if s.messages.loading_older {
                            "Loading older messages…"
                        } else if s.messages.has_more {
                            ""
                        } else if s.messages.is_empty() && s.is_live() {
                            "No messages yet. Say hello!"
                        } else if s.messages.is_empty() {
                            ""
                        } else {
                            "This is the beginning of the room."
                        }
                    })}
                </p>
                <ol class="message-list" aria-live="polite" aria-relevant="additions">
                    <For
                        each=move || rows.get()
                        key=|row| match row {
                            Row::Day { day, .. } => format!("day-{day}"),
                            Row::Message { message, first_in_group, .. } => {
                                format!("m-{}-{first_in_group}", message.seq)
                            }
                        }
                        children=move |row| view! { <MessageRow row=row clock=transport.clock/> }
                    />
                    <For
                        each=move || state.with(|s| s.outbox.entries().to_vec())
                        key=|entry| (entry.client_id.clone(), entry.state.clone(), entry.attempts)
                        children={
                            move |entry| view! { <PendingRow entry=entry transport=transport/> }
                        }
                    />
                </ol>
            </div>
            <Show when=move || { unseen.get() > 0 }>
                <button class="jump" on:click=move |_| scroll_to_bottom()>
                    {move || format!("↓ {} new", unseen.get())}
                </button>
            </Show>
            <p class="typing" aria-live="polite">
                {move || {
                    let now = transport.clock.get();
                    state.with(|s| s.typing.summary(now)).unwrap_or_default()
                }}
            </p>
            <Composer transport=transport/>
        </div>
    }
}

#[component]
fn Header(state: RwSignal<ChatState>, transport: Transport) -> impl IntoView {
    let status = move || state.with(|s| s.status.clone());
    let retry = transport;
    let status_text = move || {
        let now = transport.clock.get();
        match status() {
            ConnectionStatus::Connecting { .. } => "Connecting…".to_owned(),
            ConnectionStatus::Live => "Live".to_owned(),
            ConnectionStatus::Reconnecting { attempt, next_at } => {
                let seconds = ((next_at - now).max(0) + 999) / 1000;
                if state.with(ChatState::room_is_full) {
                    format!("The room is full (next try in {seconds} s)")
                } else {
                    format!("Reconnecting (attempt {attempt}, next try in {seconds} s)")
                }
            }
            ConnectionStatus::Offline => "Offline".to_owned(),
        }
    };
    let status_class = move || match status() {
        ConnectionStatus::Live => "status live",
        ConnectionStatus::Connecting { .. } => "status connecting",
        ConnectionStatus::Reconnecting { .. } => "status reconnecting",
        ConnectionStatus::Offline => "status offline",
    };
    let online = move || state.with(|s| s.online.clone());
    let room = state.with_untracked(|s| s.room.clone());
    let goto = RwSignal::new(String::new());
    let go = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        // Room names are ASCII (a-z, 0-9, _ and -); ASCII lowercasing spares the client the
        // Unicode case tables (12 KB of wasm), and anything else is refused by the room page.
        let target = goto.get_untracked().trim().to_ascii_lowercase();
        if let Some(window) = web_sys::window() {
            let _ = window.location().set_href(&format!("/r/{target}"));
        }
    };
    view! {
        <header class="bar">
            <div class="room">
                <h1>"#"{room}</h1>
                <details class="online">
                    <summary>{move || format!("{} online", online().len())}</summary>
                    <ul>
                        {move || online().into_iter().map(|m| view! { <li>{m.name}</li> }).collect_view()}
                    </ul>
                </details>
            </div>
            <div class="connection">
                <NotifyToggle state=state/>
                <span class=status_class role="status" aria-live="polite" data-status=move || {
                    match status() {
                        ConnectionStatus::Live => "live",
                        ConnectionStatus::Connecting { .. } => "connecting",
                        ConnectionStatus::Reconnecting { .. } => "reconnecting",
                        ConnectionStatus::Offline => "offline",
                    }
                }>{status_text}</span>
                // A full room's wait stands whoever asks, so the button would do nothing then.
                <Show when=move || {
                    matches!(status(), ConnectionStatus::Reconnecting { .. } | ConnectionStatus::Offline)
                        && !state.with(ChatState::room_is_full)
                }>
                    <button class="small" on:click=move |_| retry.retry_now()>"Retry now"</button>
                </Show>
            </div>
            <form class="goto" on:submit=go>
                <input
                    aria-label="Go to room"
                    placeholder="room"
                    pattern="[a-z0-9_-]{1,64}"
                    maxlength="64"
                    prop:value=move || goto.get()
                    on:input=move |ev| goto.set(event_target_value(&ev))
                />
                <button class="small" type="submit">"Go"</button>
            </form>
        </header>
    }
}

#[component]
pub fn MessageRow(row: Row, clock: RwSignal<i64>) -> impl IntoView {
    match row {
        Row::Day { ts, .. } => view! {
            <li class="day" role="separator">{move || format::day(ts, clock.get())}</li>
        }
        .into_any(),
        Row::Message {
            message,
            own,
            first_in_group,
        } => {
            let class = match (own, first_in_group) {
                (true, true) => "bubble own first",
                (true, false) => "bubble own",
                (false, true) => "bubble first",
                (false, false) => "bubble",
            };
            view! {
                <li class=class data-seq=message.seq>
                    // Whether the author is shown is fixed for a row (its key includes
                    // `first_in_group`), so it is decided once, not watched.
                    {(first_in_group && !own)
                        .then(|| view! { <span class="author">{message.name.clone()}</span> })}
                    <p class="text">{message.text.clone()}</p>
                    <time class="time">{format::time(message.ts)}</time>
                </li>
            }
            .into_any()
        }
    }
}

#[component]
fn PendingRow(entry: OutboxEntry, transport: Transport) -> impl IntoView {
    let reason = entry.reason().map(str::to_owned);
    // A message unconfirmed for too long may well have arrived, so "Not sent" would be wrong.
    let label = match entry.state {
        OutboxState::Failed { .. } if entry.reason() == Some(client::NOT_CONFIRMED_REASON) => {
            "Not confirmed"
        }
        OutboxState::Failed { .. } => "Not sent",
        _ => "Sending…",
    };
    let retry_id = entry.client_id.clone();
    let discard_id = entry.client_id.clone();
    let retry = transport;
    view! {
        <li class="bubble own first pending" data-client-id=entry.client_id.clone()>
            <p class="text">{entry.text.clone()}</p>
            <span class="pending-state">
                {label}
            </span>
            {reason.map(|r| view! { <span class="reason" role="alert">{r}</span> })}
            <span class="pending-actions">
                <button class="small" on:click=move |_| retry.retry(&retry_id)>"Retry"</button>
                <button class="small" on:click=move |_| transport.discard(&discard_id)>"Discard"</button>
            </span>
        </li>
    }
}

#[component]
fn Composer(transport: Transport) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let input = NodeRef::<html::Textarea>::new();
    let send = {
        move || {
            match transport.compose(&text.get_untracked()) {
                Ok(()) => {
                    text.set(String::new());
                    problem.set(None);
                }
                Err(e) => problem.set(Some(e)),
            }
            if let Some(el) = input.get_untracked() {
                let _ = el.focus();
            }
        }
    };
    let on_key = {
        move |ev: leptos::ev::KeyboardEvent| {
            if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                ev.prevent_default();
                send();
            }
        }
    };
    let count = move || text.with(|t| t.trim().chars().count());
    view! {
        <form class="composer" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            send();
        }>
            <textarea
                node_ref=input
                rows="1"
                placeholder="Message"
                aria-label="Message"
                enterkeyhint="send"
                prop:value=move || text.get()
                on:input=move |ev| {
                    text.set(event_target_value(&ev));
                    problem.set(None);
                    transport.keystroke();
                }
                on:keydown=on_key
            ></textarea>
            <Show when=move || { count() >= TEXT_MAX_CHARS - 200 }>
                <span class="counter" class:over=move || { count() > TEXT_MAX_CHARS } aria-live="polite">
                    {move || format!("{}/{TEXT_MAX_CHARS}", count())}
                </span>
            </Show>
            <button type="submit" aria-label="Send">"Send"</button>
            <p class="problem" role="alert">{move || problem.get()}</p>
        </form>
    }
}

/// Turns desktop notifications on and off. The browser is asked for permission only here, on a
/// click; when it refuses, the button says so.
#[component]
fn NotifyToggle(state: RwSignal<ChatState>) -> impl IntoView {
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
    view! {
        <button
            class="small notify"
            aria-pressed=move || if on() { "true" } else { "false" }
            title=move || match permission.get() {
                Permission::Denied => "Notifications are blocked in this browser",
                _ if on() => "Notifications are on while this tab is hidden; click to turn off",
                _ => "Notify me of new messages while this tab is hidden",
            }
            on:click=toggle
        >
            {move || if on() { "Notify: on" } else { "Notify" }}
        </button>
    }
}
