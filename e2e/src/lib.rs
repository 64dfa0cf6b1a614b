//! What the integration tests share: the stacks they start (Redis, redis-rest, the Worker under
//! Miniflare via `wrangler dev`), a protocol-speaking WebSocket client, and real Chromium.

mod browser;
mod chat;
mod proxy;
mod rest;
mod worker;

pub use browser::{Browser, Recorder, console_log, screenshot};
pub use chat::{Chat, Incoming, secret, user_id};
pub use proxy::HoldProxy;
pub use rest::{RestStack, node, node_modules};
pub use tokio_tungstenite::tungstenite::Message as WsText;
pub use worker::{ChatStack, WorkerOptions};
