//! Recovery: a room's clients through a Worker restart, resuming from the last message they
//! had, counted for messages lost or delivered twice.

use super::round;
use anyhow::Result;
use protocol::Message;
use serde::Serialize;
use stack::{Chat, ChatStack};
use std::collections::BTreeMap;
use std::time::Instant;

/// What the restart cost the room's clients.
#[derive(Debug, Serialize)]
pub struct Recovery {
    pub clients: usize,
    pub worker_restart_s: f64,
    pub all_back_and_caught_up_s: f64,
    pub messages_stored: usize,
    pub lost: usize,
    pub duplicated: usize,
}

/// `clients` clients in a room, the Worker restarted: time until every client is back and
/// caught up, and how many messages any of them lost or got twice.
pub async fn recovery(stack: &mut ChatStack, clients: usize) -> Result<Recovery> {
    let room = format!("recovery-{}", std::process::id());
    let url = stack.ws_url(&room);
    let mut chats = Vec::new();
    for i in 0..clients {
        let user = format!("rc-user-{i:05}");
        chats.push((user.clone(), Chat::join(&url, &user, &user, None).await?.0));
    }
    // Ten messages everyone has before the restart.
    let (mut writer, _) = Chat::join(&url, "writer", "rc-writer-1", None).await?;
    for n in 0..10 {
        writer
            .say(&format!("rc-before-{n:04}"), &format!("before {n}"))
            .await?;
    }
    let mut held: Vec<(String, Vec<Message>)> = Vec::new();
    for (user, mut chat) in chats {
        let messages = chat.messages(10).await?;
        held.push((user, messages));
    }
    drop(writer);
    let start = Instant::now();
    stack.restart_worker().await?;
    let restarted = start.elapsed();
    // Ten more while the clients are still away; they must get them by resuming.
    let (mut writer, _) = Chat::join(&url, "writer", "rc-writer-1", None).await?;
    for n in 0..10 {
        writer
            .say(&format!("rc-after-{n:04}"), &format!("after {n}"))
            .await?;
    }
    writer.messages(10).await?;
    let mut tasks = Vec::new();
    for (user, messages) in held {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let since = messages.last().map(|m| m.seq);
            let (_, welcome) = Chat::join(&url, &user, &user, since).await?;
            let mut all = messages;
            all.extend(welcome.messages);
            anyhow::Ok((all, Instant::now()))
        }));
    }
    let mut lost = 0;
    let mut duplicated = 0;
    let mut last_back = start;
    // Redis mirrors the room's log a moment behind: wait until it has all twenty.
    let stored = stack
        .until_stored(&room, 20, std::time::Duration::from_secs(30))
        .await?;
    for task in tasks {
        let (all, back) = task.await??;
        last_back = last_back.max(back);
        let mut seen = BTreeMap::new();
        for message in &all {
            *seen.entry(message.seq).or_insert(0) += 1;
        }
        duplicated += seen.values().filter(|n| **n > 1).count();
        lost += stored.iter().filter(|m| !seen.contains_key(&m.seq)).count();
    }
    Ok(Recovery {
        clients,
        worker_restart_s: round(restarted.as_secs_f64()),
        all_back_and_caught_up_s: round((last_back - start).as_secs_f64()),
        messages_stored: stored.len(),
        lost,
        duplicated,
    })
}
