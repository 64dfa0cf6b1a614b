//! What the integration tests share: the local stack (from the `stack` crate, re-exported) and
//! real Chromium for the browser tests.

mod browser;

pub use browser::{Browser, Recorder, cdp, console_log, eventually, screenshot};
pub use stack::{
    Chat, ChatStack, HoldProxy, Incoming, RestStack, WorkerOptions, WsText, node, node_modules,
    secret, user_id,
};
