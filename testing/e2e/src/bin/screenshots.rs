//! `just screenshots`: starts the local stack, fills two rooms with a conversation (with
//! reactions, a reply, an edit and a deletion), and saves what people see into
//! `docs/screenshots/`: the room on a desktop and a phone, in light and dark; the phone's drawer;
//! a first visit; and on both, a message's actions (hover and picker on a desktop, the long
//! press's menu on a phone), replying and editing in place. The pictures the README and issue
//! notes point to.

use anyhow::{Context, Result};
use e2e::{Browser, Chat, ChatStack, WorkerOptions, cdp, eventually};
use fantoccini::{Client, Locator, key::Key};
use protocol::{ClientFrame, ServerFrame};
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
    change_lobby(&stack).await?;
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
        set_scheme(&page, "light").await?;
        show_actions(&page, phone).await?;
        save(&page, &dir, &format!("actions-{label}")).await?;
        // Replying to Linus, then editing one's own message in place.
        page.execute("document.activeElement.blur();", vec![])
            .await?;
        page.execute(
            "document.querySelectorAll('[data-menu]').forEach((r) => r.removeAttribute('data-menu'));
             document.querySelectorAll('.picker').forEach((p) => p.remove());
             const rows = document.querySelectorAll('li.bubble:not(.own) [data-action=reply]');
             rows[rows.length - 1].click();",
            vec![],
        )
        .await?;
        wait_for(&page, "//*[contains(@class,'reply-bar')]").await?;
        save(&page, &dir, &format!("reply-{label}")).await?;
        let composer = page.find(Locator::Css(".composer textarea")).await?;
        composer.clear().await?;
        composer.send_keys(&Key::Escape.to_string()).await?;
        composer.send_keys("Thanks, all green here").await?;
        composer.send_keys(&Key::Enter.to_string()).await?;
        wait_for(
            &page,
            "//li[contains(@class,'own') and not(contains(@class,'pending'))]",
        )
        .await?;
        composer.send_keys(&Key::Up.to_string()).await?;
        wait_for(&page, "//textarea[contains(@class,'edit-field')]").await?;
        page.find(Locator::Css(".edit-field"))
            .await?
            .send_keys(" on my side too")
            .await?;
        page.execute(
            "document.querySelector('.edit-field').scrollIntoView({ block: 'center' });",
            vec![],
        )
        .await?;
        save(&page, &dir, &format!("edit-{label}")).await?;
        if phone {
            page.find(Locator::Css(".edit-field"))
                .await?
                .send_keys(&Key::Escape.to_string())
                .await?;
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

/// What people did to the conversation, over the protocol: reactions on Linus's last word, a
/// reply to the second Dana, Dana's typo fixed, and a message taken back; so the room's
/// pictures show chips, a quote, "edited" and a tombstone.
async fn change_lobby(stack: &ChatStack) -> Result<()> {
    let stored = stack.stored("lobby").await?;
    let seq_of = |start: &str| {
        stored
            .iter()
            .find(|m| m.text.starts_with(start))
            .map(|m| m.seq)
            .with_context(|| format!("no message starts with {start:?}"))
    };
    let (cheered, spike, typo) = (
        seq_of("And `just deploy`")?,
        seq_of("A spike of 503s")?,
        seq_of("Nice. Any errors")?,
    );
    let url = stack.ws_url("lobby");
    let frames = [
        ("dana", "dana-one", react(cheered, "🎉")),
        ("grace", "grace", react(cheered, "🎉")),
        ("grace", "grace", react(cheered, "👍")),
        (
            "dana",
            "dana-one",
            ClientFrame::Edit {
                client_id: testkit::unique("shot"),
                seq: typo,
                text: "Nice! Any errors in the tail?".into(),
            },
        ),
        (
            "linus",
            "linus",
            ClientFrame::Send {
                client_id: testkit::unique("shot"),
                text: "Failover, nothing lost.".into(),
                reply_to: Some(spike),
            },
        ),
        (
            "grace",
            "grace",
            ClientFrame::Send {
                client_id: testkit::unique("shot"),
                text: "wrong room, sorry".into(),
                reply_to: None,
            },
        ),
    ];
    for (name, label, frame) in frames {
        let (mut chat, _) = Chat::join(&url, name, label, None).await?;
        chat.send(&frame).await?;
        chat.next_where(|f| match f {
            ServerFrame::Applied { .. } | ServerFrame::Message { .. } => Some(()),
            _ => None,
        })
        .await?;
        chat.close().await?;
    }
    let oops = stack
        .until_stored("lobby", stored.len() + 2, Duration::from_secs(20))
        .await?
        .last()
        .map(|m| m.seq)
        .context("the message to take back")?;
    let (mut grace, _) = Chat::join(&url, "grace", "grace", None).await?;
    grace
        .send(&ClientFrame::Delete {
            client_id: testkit::unique("shot"),
            seq: oops,
        })
        .await?;
    grace
        .next_where(|f| matches!(f, ServerFrame::Applied { .. }).then_some(()))
        .await?;
    grace.close().await?;
    // Redis, which the pages' first fetch reads, has all of it.
    eventually(
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let deleted = stack.stored("lobby").await?.iter().any(|m| m.deleted);
            Ok(if deleted {
                Ok(())
            } else {
                Err("Redis has not the deletion yet".to_owned())
            })
        },
    )
    .await
}

fn react(seq: i64, emoji: &str) -> ClientFrame {
    ClientFrame::React {
        client_id: testkit::unique("shot"),
        seq,
        emoji: emoji.into(),
        on: true,
    }
}

/// A message's actions: on a desktop as the pointer or keyboard brings them up, with the emoji
/// picker open; on a phone the menu a long press opens.
async fn show_actions(page: &Client, phone: bool) -> Result<()> {
    let script = if phone {
        "const rows = Array.from(document.querySelectorAll('li.bubble:not(.own)'))
           .filter((row) => row.querySelector('.actions'));
         const row = rows[rows.length - 1];
         row.scrollIntoView({ block: 'center' });
         row.dispatchEvent(new Event('touchstart', { bubbles: true }));"
    } else {
        "const rows = document.querySelectorAll('li.bubble:not(.own) [data-action=pick]');
         const pick = rows[rows.length - 2];
         pick.focus();
         pick.click();"
    };
    page.execute(script, vec![]).await?;
    let shown = if phone {
        "//li[@data-menu]"
    } else {
        "//div[contains(@class,'picker')]"
    };
    wait_for(page, shown).await?;
    // The menu grew the row: all of it in view.
    page.execute(
        "document.querySelector('li[data-menu], .picker').scrollIntoView({ block: 'center' });",
        vec![],
    )
    .await?;
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
