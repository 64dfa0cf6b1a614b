//! The local stack that the integration tests and the benchmark both start: Redis, redis-rest
//! (in process), and the Worker with its Durable Objects under Miniflare (`wrangler dev`), each on
//! a free port and stopped on Drop; a proxy that can hold a store write on the wire; and a
//! WebSocket client of the current protocol. No browser here: the load generator does not build one.

mod chat;
mod proxy;
mod rest;
mod worker;

pub use chat::{Chat, Incoming, secret, user_id};
pub use proxy::HoldProxy;
pub use rest::{RestStack, node, node_modules};
pub use tokio_tungstenite::tungstenite::Message as WsText;
pub use worker::{ChatStack, WorkerOptions};
