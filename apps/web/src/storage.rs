//! What the browser remembers: the display name, the user id, and each room's outbox.

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

/// This browser's user id, made on first use and kept.
pub fn user_id() -> String {
    if let Some(id) = get("edge-chat.user_id").filter(|id| protocol::validate_user_id(id).is_ok()) {
        return id;
    }
    let id = crate::new_id();
    set("edge-chat.user_id", &id);
    id
}

/// The outbox of `room` as it was left.
pub fn outbox(room: &str) -> Outbox {
    get(&format!("edge-chat.outbox.{room}"))
        .map(|json| Outbox::from_json(&json))
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
