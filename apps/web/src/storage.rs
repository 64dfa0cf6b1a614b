//! What the browser remembers: the display name, the secret that is this browser's identity,
//! and each room's outbox.

use crate::NoSecureRandom;
use client::Outbox;

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
    Ok(secret)
}

/// The outbox of `room` as it was left, with messages past their confirmation window marked
/// failed.
pub fn outbox(room: &str) -> Outbox {
    get(&format!("edge-chat.outbox.{room}"))
        .map(|json| Outbox::from_json(&json, crate::now()))
        .unwrap_or_default()
}

pub fn save_outbox(room: &str, outbox: &Outbox) {
    let key = format!("edge-chat.outbox.{room}");
    if outbox.is_empty() {
        if let Some(storage) = local_storage() {
            let _ = storage.remove_item(&key);
        }
    } else {
        set(&key, &outbox.to_json());
    }
}
