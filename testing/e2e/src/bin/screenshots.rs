//! `just screenshots`: starts the local stack, fills two rooms with a conversation, and saves
//! what people see into `docs/screenshots/`: the room on a desktop and a phone, in light and
//! dark; the phone's drawer; a first visit. The pictures the README and issue notes point to.

use anyhow::{Context, Result};
use e2e::{Browser, Chat, ChatStack, WorkerOptions, cdp, eventually};
use fantoccini::{Client, Locator};
use serde_json::json;
use std::time::Duration;

/// Who says what in `#lobby`: name, the label of their secret (so their face), text. Two people
/// are called Dana, with different faces.
const CONVERSATION: &[(&str, &str, &str)] = &[
    ("dana", "dana-one", "Morning! Did the deploy go out?"),
    (
        "grace",
        "grace",
        "Yes, about ten minutes ago. Durable Objects are **happy**.",
    ),
    ("dana", "dana-one", "Nice. Any errors in the tail?"),
    (
        "dana",
        "dana-two",
        "A spike of 503s from the store around 09:12, see https://status.example.com/incidents/42.",
    ),
    (
        "linus",
        "linus",
        "That was Redis failing over. The room's log kept everything; the mirror caught up *in order*.",
    ),
    (
        "grace",
        "grace",
        "To check it yourself:\n```\njust test\njust bench\n```",
    ),
    ("linus", "linus", "And `just deploy` when you are happy."),
];

/// Messages in `#ops` after the reader last saw it: its unread count in the room list.
const OPS: &[&str] = &["pager is quiet", "rotating the API token at noon"];

#[tokio::main]
async fn main() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let dir = testkit::workspace_root().join("docs/screenshots");
    std::fs::create_dir_all(&dir)?;
    say_all(&stack, "lobby", CONVERSATION).await?;
    let base = stack.base_url();
    let mut browser = Browser::start()?;

    // A first visit on a phone: the room read-only, the prompt to join.
    let page = browser.phone(375, 740).await?;
    page.goto(&base).await?;
    wait_for(&page, "//*[@data-status='preview']").await?;
    wait_for(&page, "//li[contains(@class,'bubble')]").await?;
    save(&page, &dir, "first-visit-phone").await?;
    page.close().await?;

    for (label, phone) in [("desktop", false), ("phone", true)] {
        let page = if phone {
            browser.phone(375, 740).await?
        } else {
            browser.session(1280, 800).await?
        };
        // Ada has been in #ops before: what was said there since counts as unread.
        join(&page, &format!("{base}/r/ops"), "ada").await?;
        page.goto(&base).await?;
        wait_for(&page, "//*[@data-status='live']").await?;
        let ops: Vec<(&str, &str, &str)> = OPS.iter().map(|t| ("grace", "grace", *t)).collect();
        say_all(&stack, "ops", &ops).await?;
        page.refresh().await?;
        wait_for(&page, "//*[@data-status='live']").await?;
        wait_for(&page, "//a[@href='/r/ops']/span[@class='badge']").await?;
        page.find(Locator::Css(".composer textarea"))
            .await?
            .send_keys("Typing a reply…")
            .await?;
        for scheme in ["light", "dark"] {
            set_scheme(&page, scheme).await?;
            save(&page, &dir, &format!("room-{label}-{scheme}")).await?;
        }
        if phone {
            page.find(Locator::Css("button.menu"))
                .await?
                .click()
                .await?;
            wait_for(&page, "//*[contains(@class,'menu-open')]").await?;
            for scheme in ["light", "dark"] {
                set_scheme(&page, scheme).await?;
                save(&page, &dir, &format!("drawer-phone-{scheme}")).await?;
            }
        }
        page.close().await?;
    }
    Ok(())
}

/// Each line said in `room` by its own connection, and stored (in Redis too, which the pages'
/// early fetch and unread counts read) before the next.
async fn say_all(stack: &ChatStack, room: &str, lines: &[(&str, &str, &str)]) -> Result<()> {
    for (name, label, text) in lines {
        let (mut chat, _) = Chat::join(&stack.ws_url(room), name, label, None).await?;
        chat.say(&testkit::unique("shot"), text).await?;
        chat.messages(1).await?;
        chat.close().await?;
    }
    stack
        .until_stored(room, lines.len(), Duration::from_secs(20))
        .await
        .with_context(|| format!("{room} stored in Redis"))?;
    Ok(())
}

/// Opens `url` and joins from the first visit's prompt.
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
    wait_for(page, "//*[@data-status='live']").await
}

async fn wait_for(page: &Client, xpath: &str) -> Result<()> {
    page.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(xpath))
        .await
        .with_context(|| format!("waiting for {xpath}"))?;
    Ok(())
}

async fn set_scheme(page: &Client, scheme: &str) -> Result<()> {
    cdp(
        page,
        "Emulation.setEmulatedMedia",
        json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
    )
    .await
}

/// Saves the page as `dir/NAME.png`, once what is on it has settled (fonts, the last frame).
async fn save(page: &Client, dir: &std::path::Path, name: &str) -> Result<()> {
    eventually(
        Duration::from_secs(5),
        Duration::from_millis(100),
        || async {
            let ready = page
                .execute(
                    "return document.fonts.status === 'loaded' \
                   && !document.querySelector('#skeleton');",
                    vec![],
                )
                .await?;
            Ok(if ready == json!(true) {
                Ok(())
            } else {
                Err("the page has not settled".to_owned())
            })
        },
    )
    .await?;
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, page.screenshot().await?)?;
    println!("saved {}", path.display());
    Ok(())
}
