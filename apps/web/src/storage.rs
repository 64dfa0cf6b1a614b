//! What the browser remembers: the display name, the secret that is this browser's identity,
//! each room's outbox, and the rooms visited with what was seen in each.

use crate::NoSecureRandom;
use client::{Outbox, Rooms};

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn get(key: &str) -> Option<String> {
    local_storage()?.get_item(key).ok().flatten()
}

fn set(key: &str, value: &str) {
    if let Some(storage) = local_storage() {
        // A full or disabled storage loses persistence, not the message in memory.
        let _ = storage.set_item(key, value);
    }
}

/// The display name chosen earlier, if any.
pub fn name() -> Option<String> {
    get("edge-chat.name").filter(|n| protocol::validate_name(n).is_ok())
}

pub fn set_name(name: &str) {
    set("edge-chat.name", name);
}

/// The `user_id` the room said this browser has, as of the last welcome. Public (every message
/// carries it), and a hint only: the next welcome says it again.
pub fn user_id() -> Option<String> {
    get("edge-chat.me")
}

pub fn set_user_id(user_id: &str) {
    set("edge-chat.me", user_id);
}

/// Whether the user turned desktop notifications on.
pub fn notify() -> bool {
    get("edge-chat.notify").as_deref() == Some("on")
}

pub fn set_notify(on: bool) {
    set("edge-chat.notify", if on { "on" } else { "off" });
}

const SECRET_KEY: &str = "edge-chat.secret";
/// Where versions before the secret kept a client-chosen user id. That id was public (every
/// message carries it), so it must never become the secret; it is only removed.
const OLD_USER_ID_KEY: &str = "edge-chat.user_id";

/// This browser's secret, made on first use and kept: the room derives the user's id from it,
/// so keeping it keeps the identity. If localStorage is unavailable the secret lasts as long as
/// the page, and the user is someone new on the next visit.
pub fn secret() -> Result<String, NoSecureRandom> {
    if let Some(storage) = local_storage() {
        let _ = storage.remove_item(OLD_USER_ID_KEY);
    }
    if let Some(secret) = get(SECRET_KEY).filter(|s| protocol::validate_secret(s).is_ok()) {
        return Ok(secret);
    }
    let secret = crate::new_secret()?;
    set(SECRET_KEY, &secret);
    // A new identity: the user_id the last welcome gave belongs to the old one.
    if let Some(storage) = local_storage() {
        let _ = storage.remove_item("edge-chat.me");
    }
    Ok(secret)
}

/// The keys of `room`'s outbox: its messages, and its actions, which tabs of versions before
/// actions never read ([`Outbox::to_json`]).
fn outbox_keys(room: &str) -> [String; 2] {
    [
        format!("edge-chat.outbox.{room}"),
        format!("edge-chat.actions.{room}"),
    ]
}

/// The two stored values of `room`'s outbox.
pub fn stored_outbox(room: &str) -> [Option<String>; 2] {
    outbox_keys(room).map(|key| get(&key))
}

/// The outbox of `room` as it was left, with messages past their confirmation window marked
/// failed.
pub fn outbox(room: &str) -> Outbox {
    let [messages, actions] = stored_outbox(room);
    Outbox::from_stored([messages.as_deref(), actions.as_deref()], crate::now())
}

/// Saves `outbox` as the one outbox of `room` that every tab shares: what other tabs stored is
/// merged in first ([`Outbox::merge_stored`]), so this erases only what this tab confirmed or
/// discarded. `false` when the browser refused to store it (storage full or disabled).
pub fn save_outbox(room: &str, outbox: &mut Outbox, now: i64) -> bool {
    let Some(storage) = local_storage() else {
        return false;
    };
    let [messages, actions] = stored_outbox(room);
    outbox.merge_stored([messages.as_deref(), actions.as_deref()], now);
    let [messages_key, actions_key] = outbox_keys(room);
    let mut saved = true;
    for (key, json) in [
        (messages_key, outbox.to_json()),
        (actions_key, outbox.actions_json()),
    ] {
        // An empty outbox leaves nothing behind.
        let written = if json.ends_with("[]}") {
            storage.remove_item(&key)
        } else {
            storage.set_item(&key, &json)
        };
        saved &= written.is_ok();
    }
    if saved {
        outbox.saved();
    }
    saved
}

const ROOMS_KEY: &str = "edge-chat.rooms";

/// The rooms this browser has been in, as every tab left them.
pub fn rooms() -> Rooms {
    get(ROOMS_KEY)
        .map(|json| Rooms::from_json(&json))
        .unwrap_or_default()
}

/// Saves `rooms` after taking in what other tabs stored ([`Rooms::merge_stored`]).
pub fn save_rooms(rooms: &mut Rooms) {
    rooms.merge_stored(get(ROOMS_KEY).as_deref());
    set(ROOMS_KEY, &rooms.to_json());
}

/// Whether a `storage` event (another tab wrote) concerns the list of rooms.
pub fn is_rooms(key: Option<&str>) -> bool {
    key == Some(ROOMS_KEY)
}

/// Whether a `storage` event (another tab wrote localStorage) concerns `room`'s outbox: one of
/// its two values, to merge with the other ([`stored_outbox`]).
pub fn is_outbox_of(room: &str, key: Option<&str>) -> bool {
    outbox_keys(room).iter().any(|k| key == Some(k.as_str()))
}

/// Reloads the page, unless it already reloaded for a server speaking protocol versions
/// `oldest..=newest` (kept in sessionStorage, which a reload keeps and each tab has its own of).
/// Reloading fetches the web client deployed with the server; if even that one is refused, a
/// second reload would be a loop, so the page stays and says it is out of date.
pub fn reload_once_for((oldest, newest): (u32, u32)) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let Some(session) = window.session_storage().ok().flatten() else {
        return;
    };
    let versions = format!("{oldest}-{newest}");
    if session.get_item(RELOADED_FOR_KEY).ok().flatten().as_deref() == Some(versions.as_str()) {
        return;
    }
    // Without the mark the next page could not tell it already reloaded: no reload then.
    if session.set_item(RELOADED_FOR_KEY, &versions).is_ok() {
        let _ = window.location().reload();
    }
}

/// Where [`reload_once_for`] keeps the versions it reloaded for.
const RELOADED_FOR_KEY: &str = "edge-chat.reloaded-for";
