//! `just screenshots`: starts the local stack, fills a room with a conversation, and saves
//! desktop and phone screenshots of it under `target/e2e-artifacts/`, for
//! people to look at.

use anyhow::Result;
use e2e::{Browser, Chat, ChatStack, WorkerOptions, screenshot};
use fantoccini::{Client, Locator};
use std::time::Duration;

const CONVERSATION: &[(&str, &str, &str)] = &[
    ("ada", "ada-000001", "Morning! Did the deploy go out?"),
    (
        "grace",
        "grace-00001",
        "Yes, about ten minutes ago. Durable Objects are happy.",
    ),
    ("ada", "ada-000001", "Nice. Any errors in the tail?"),
    (
        "ada",
        "ada-000001",
        "I saw a spike of 503s from the store around 09:12.",
    ),
    (
        "linus",
        "linus-00001",
        "That was Redis failing over. The outbox retried everything; nothing was lost.",
    ),
    (
        "grace",
        "grace-00001",
        "Confirmed: every client_id was stored exactly once.",
    ),
    (
        "ada",
        "ada-000001",
        "Great. Long links wrap too: https://example.com/a/very/long/path/that/keeps/going/and/going?with=query&and=more",
    ),
];

async fn join(page: &Client, url: &str, name: &str) -> Result<()> {
    page.goto(url).await?;
    page.wait()
        .for_element(Locator::Css("#name"))
        .await?
        .send_keys(name)
        .await?;
    page.find(Locator::Css("form.join-prompt button"))
        .await?
        .click()
        .await?;
    page.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath("//*[@data-status='live']"))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let url = stack.ws_url("lobby");
    let mut writers = Vec::new();
    for (name, user_id, text) in CONVERSATION {
        let (mut chat, _) = Chat::join(&url, name, user_id, None).await?;
        chat.say(&testkit::unique("shot"), text).await?;
        chat.messages(1).await?;
        writers.push(chat);
    }
    let mut browser = Browser::start()?;
    for (label, phone) in [("desktop", false), ("phone", true)] {
        let page = if phone {
            browser.phone(375, 740).await?
        } else {
            browser.session(1280, 800).await?
        };
        join(&page, &stack.base_url(), "ada").await?;
        page.find(Locator::Css(".composer textarea"))
            .await?
            .send_keys("Typing a reply…")
            .await?;
        let path = screenshot(&page, &format!("screenshot-{label}")).await?;
        println!("saved {}", path.display());
        page.close().await?;
    }
    Ok(())
}
