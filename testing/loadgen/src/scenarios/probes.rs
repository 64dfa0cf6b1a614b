//! Parts measured one at a time rather than under load: the latency of each component a message
//! passes, how many sockets the runtime holds and in how much memory, and the built sizes.

use super::fan_out::join_many;
use super::{Percentiles, Target, percentiles, round, workerd_rss_kib};
use anyhow::Result;
use serde::Serialize;
use stack::{Chat, Incoming};
use std::time::Instant;

/// Each component of a message's path, timed alone.
#[derive(Debug, Serialize)]
pub struct Components {
    pub websocket_ping_pong: Option<Percentiles>,
    /// Only the local stack's store can be written to directly, so a `--url` run has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub room_write_through_redis_rest: Option<Percentiles>,
}

/// Many idle sockets at once.
#[derive(Debug, Serialize)]
pub struct Connections {
    pub sockets: usize,
    pub rooms: usize,
    pub connect_all_s: f64,
    pub workerd_rss_mib: f64,
}

/// The built Worker and web client, raw and compressed. The fields are in the order the table
/// lists them.
#[derive(Debug, Serialize)]
pub struct Sizes {
    pub web_js: Size,
    pub web_wasm: Size,
    pub worker_js: Size,
    pub worker_wasm: Size,
}

impl Sizes {
    /// Each file by its JSON name, in the table's order.
    pub fn by_name(&self) -> [(&'static str, &Size); 4] {
        [
            ("web_js", &self.web_js),
            ("web_wasm", &self.web_wasm),
            ("worker_js", &self.worker_js),
            ("worker_wasm", &self.worker_wasm),
        ]
    }
}

/// One file's size.
#[derive(Debug, Serialize)]
pub struct Size {
    pub raw_bytes: u64,
    pub gzip9_bytes: u64,
}

/// Where a message's time goes, by component, each measured alone: a WebSocket round trip
/// that the runtime answers without running room code (`ping` → `pong`), and one room write
/// (the write script, as the room sends it, one message per batch) through redis-rest to Redis.
pub async fn components(target: &Target, samples: usize) -> Result<Components> {
    let (mut chat, _) =
        Chat::join(&target.ws_url("components"), "probe", "probe-0001", None).await?;
    let mut ws_rtt = Vec::with_capacity(samples);
    for _ in 0..samples {
        let start = Instant::now();
        chat.send_raw(stack::WsText::text(protocol::PING)).await?;
        loop {
            if let Incoming::Text(text) = chat.next().await?
                && text == protocol::PONG
            {
                break;
            }
        }
        ws_rtt.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let mut room_write_through_redis_rest = None;
    if let Some(stack) = &target.stack {
        let store = stack.store();
        let mut writes = Vec::with_capacity(samples);
        let room = testkit::unique("probe");
        for n in 0..samples {
            let seq = n as i64 + 1;
            let message = protocol::Message {
                seq,
                client_id: format!("probe-{n:08}"),
                user_id: "u-probe".into(),
                name: "probe".into(),
                text: "probe".into(),
                ts: seq,
                ..Default::default()
            };
            // What the room's mirror sends per batch.
            let rows = [room::mirror::MirrorRow::from(&message)];
            let command = room::mirror::mirror_command(&room, &rows, 10_000);
            let start = Instant::now();
            store.command(&command).await?;
            writes.push(start.elapsed().as_secs_f64() * 1000.0);
        }
        room_write_through_redis_rest = percentiles(writes);
    }
    Ok(Components {
        websocket_ping_pong: percentiles(ws_rtt),
        room_write_through_redis_rest,
    })
}

/// Opens `count` sockets across `rooms` rooms; time to connect them all, and the memory of the
/// local runtime's processes.
pub async fn connections(target: &Target, count: usize, rooms: usize) -> Result<Connections> {
    let start = Instant::now();
    let mut all = Vec::new();
    for r in 0..rooms {
        let room = format!("conn-{r}-{}", std::process::id());
        all.extend(join_many(target, &room, count / rooms, &format!("c{r}")).await?);
    }
    let elapsed = start.elapsed();
    Ok(Connections {
        sockets: all.len(),
        rooms,
        connect_all_s: round(elapsed.as_secs_f64()),
        workerd_rss_mib: round(workerd_rss_kib() as f64 / 1024.0),
    })
}

/// The sizes of the built Worker and web client; they must have been built.
pub fn sizes() -> Result<Sizes> {
    Ok(Sizes {
        worker_wasm: size("apps/chat-worker/build/index_bg.wasm")?,
        worker_js: size("apps/chat-worker/build/index.js")?,
        web_wasm: size("apps/web/dist/pkg/web_bg.wasm")?,
        web_js: size("apps/web/dist/pkg/web.js")?,
    })
}

fn size(path: &str) -> Result<Size> {
    // gzip9_size says "build it first" when the file is missing.
    let gzip9_bytes = testkit::gzip9_size(path)?;
    Ok(Size {
        raw_bytes: std::fs::metadata(path)?.len(),
        gzip9_bytes,
    })
}
