//! Desktop notifications: asked for only after the user clicks, shown only while the tab is
//! hidden (the state decides which messages become alerts).

use client::Alert;
use wasm_bindgen::closure::Closure;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

/// What the browser allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Granted,
    /// Not asked yet: asking needs a user action.
    Ask,
    /// Refused, or notifications do not exist here.
    Denied,
}

/// The browser's current answer, without asking.
pub fn permission() -> Permission {
    if !supported() {
        return Permission::Denied;
    }
    match Notification::permission() {
        NotificationPermission::Granted => Permission::Granted,
        NotificationPermission::Default => Permission::Ask,
        _ => Permission::Denied,
    }
}

/// Whether this browser has the Notification API at all (some mobile browsers do not).
fn supported() -> bool {
    web_sys::window()
        .is_some_and(|w| js_sys::Reflect::has(&w, &"Notification".into()).unwrap_or(false))
}

/// Asks the browser for permission (call from a click handler) and reports the answer.
pub fn request(answer: impl FnOnce(Permission) + 'static) {
    if !supported() {
        return answer(Permission::Denied);
    }
    let Ok(promise) = Notification::request_permission() else {
        return answer(Permission::Denied);
    };
    let done = Closure::once(move |_value: wasm_bindgen::JsValue| answer(permission()));
    let _ = promise.then(&done);
    // The closure must outlive the promise; it runs once.
    done.forget();
}

/// Shows `alert` as a notification of `room` (one per room replaces the previous one).
pub fn show(room: &str, alert: &Alert) {
    if permission() != Permission::Granted {
        return;
    }
    let options = NotificationOptions::new();
    options.set_body(&alert.body);
    options.set_tag(&format!("edge-chat-{room}"));
    // A browser that refuses now (permission revoked meanwhile) just shows nothing.
    let _ = Notification::new_with_options(&alert.title, &options);
}
