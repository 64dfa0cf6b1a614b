//! The edge-chat web client. `client` holds the state and decides what to send; this crate only
//! wires it to the browser: `transport` (WebSocket, timers, online/visibility events),
//! `storage` (localStorage), `components` (Leptos views), `format` (times and days).

pub mod components;
pub mod format;
pub mod storage;
pub mod transport;

/// Mounts the app on `<body>`.
pub fn start() {
    leptos::mount::mount_to_body(components::App);
}

/// Milliseconds since the epoch, from the browser's clock.
pub fn now() -> i64 {
    js_sys::Date::now() as i64
}

/// Random bytes for ids (not secrets: `Math.random` is enough to make collisions unlikely).
pub fn random_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| (js_sys::Math::random() * 256.0) as u8)
        .collect()
}

/// A fresh `client_id` or `user_id`: 21 characters of `A-Za-z0-9_-` (126 random bits).
pub fn new_id() -> String {
    client::make_id(&random_bytes(21))
}
