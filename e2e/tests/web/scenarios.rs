//! Each scenario is what a person does, start to finish.

use crate::fixtures::{action, check, find};
use anyhow::Result;
use e2e::{Browser, ChatStack, WorkerOptions};
use pretty_assertions::assert_eq;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_see_presence_and_typing() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let alice = browser.session(1024, 768).await?;
    let bob = browser.session(1024, 768).await?;
    action::join(&alice, &stack.base_url(), "alice").await?;
    action::join(&bob, &stack.base_url(), "bob").await?;
    check::text_in(&alice, ".online summary", "2 online").await?;

    action::type_only(&bob, "hi alice ").await?;
    check::text_in(&alice, ".typing", "bob is typing…").await?;

    action::say(&alice, "hello bob").await?;
    check::messages_end_with(&bob, &["hello bob"]).await?;
    action::say(&bob, "<b>bold?</b>").await?;
    check::messages_end_with(&alice, &["hello bob", "hi alice <b>bold?</b>"]).await?;
    check::messages_end_with(&bob, &["hello bob", "hi alice <b>bold?</b>"]).await?;
    // Own messages sit on the own side.
    let own = find::all(&alice, "li.bubble.own .text").await?;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].text().await?, "hello bob");

    action::screenshot(&alice, "two-people-alice").await?;
    action::screenshot(&bob, "two-people-bob").await?;
    alice.close().await?;
    bob.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnection_delivers_messages_typed_during_the_outage_once() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let alice = browser.session(1024, 768).await?;
    let bob = browser.session(1024, 768).await?;
    action::join(&alice, &stack.base_url(), "alice").await?;
    action::join(&bob, &stack.base_url(), "bob").await?;
    action::say(&alice, "before the outage").await?;
    check::messages_end_with(&bob, &["before the outage"]).await?;

    stack.stop_worker();
    check::status_is(&alice, "reconnecting").await?;
    check::status_is(&bob, "reconnecting").await?;
    action::say(&alice, "typed during the outage 1").await?;
    action::say(&alice, "typed during the outage 2").await?;
    check::pending_are(
        &alice,
        &["typed during the outage 1", "typed during the outage 2"],
    )
    .await?;

    stack.start_worker().await?;
    check::status_is(&alice, "live").await?;
    check::status_is(&bob, "live").await?;
    let expected = [
        "before the outage",
        "typed during the outage 1",
        "typed during the outage 2",
    ];
    check::messages_end_with(&bob, &expected).await?;
    check::messages_end_with(&alice, &expected).await?;
    check::pending_are(&alice, &[]).await?;
    assert_eq!(find::message_texts(&bob).await?, expected);
    let stored: Vec<String> = stack
        .stored("lobby")
        .await?
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(stored, expected, "each message stored exactly once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_keeps_the_message_pending_with_a_reason() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let alice = browser.session(1024, 768).await?;
    action::join(&alice, &stack.base_url(), "alice").await?;
    stack.redis().stop()?;
    action::say(&alice, "sent while redis is down").await?;
    check::text_in(&alice, "li.pending .reason", "unavailable").await?;
    stack.redis().resume()?;
    check::messages_end_with(&alice, &["sent while redis is down"]).await?;
    check::pending_are(&alice, &[]).await?;
    let stored: Vec<String> = stack
        .stored("lobby")
        .await?
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(stored, ["sent while redis is down"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_outbox_survives_a_reload() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let alice = browser.session(1024, 768).await?;
    action::join(&alice, &stack.base_url(), "alice").await?;
    stack.stop_worker();
    check::status_is(&alice, "reconnecting").await?;
    action::say(&alice, "written offline, kept across a reload").await?;
    check::pending_are(&alice, &["written offline, kept across a reload"]).await?;
    // The page cannot load while the Worker is down; the outbox must be in localStorage.
    let kept = alice
        .execute(
            "return localStorage.getItem('edge-chat.outbox.lobby')",
            vec![],
        )
        .await?;
    assert!(
        kept.as_str()
            .is_some_and(|s| s.contains("kept across a reload")),
        "{kept}"
    );
    stack.start_worker().await?;
    alice.refresh().await?;
    check::messages_end_with(&alice, &["written offline, kept across a reload"]).await?;
    check::pending_are(&alice, &[]).await?;
    let stored: Vec<String> = stack
        .stored("lobby")
        .await?
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(stored, ["written offline, kept across a reload"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_shown_as_text_and_bad_rooms_are_explained() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let alice = browser.session(1024, 768).await?;
    action::join(&alice, &stack.base_url(), "alice").await?;
    let hostile = "<script>alert(1)</script> <img src=x onerror=\"document.title='pwned'\">";
    action::say(&alice, hostile).await?;
    check::messages_end_with(&alice, &[hostile]).await?;
    assert!(
        find::all(&alice, ".messages img, .messages script")
            .await?
            .is_empty()
    );
    assert_ne!(alice.title().await?, "pwned");

    alice
        .goto(&format!("{}/r/Not_A-Room!", stack.base_url()))
        .await?;
    check::text_in(&alice, ".bad-room", "not a valid room name").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_composer_and_last_message_fit_without_sideways_scrolling() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let phone = browser.phone(375, 667).await?;
    action::join(&phone, &stack.base_url(), "pat").await?;
    let long_word = "supercalifragilisticexpialidocious".repeat(4);
    action::say(&phone, &format!("a very long word: {long_word}")).await?;
    check::messages_end_with(&phone, &[&format!("a very long word: {long_word}")]).await?;
    let layout = phone
        .execute(
            r#"
            const composer = document.querySelector('.composer').getBoundingClientRect();
            const bubbles = document.querySelectorAll('li.bubble');
            const last = bubbles[bubbles.length - 1].getBoundingClientRect();
            return {
                width: window.innerWidth,
                sideways: document.documentElement.scrollWidth > window.innerWidth,
                composerVisible: composer.bottom <= window.innerHeight && composer.top >= 0,
                lastVisible: last.bottom <= composer.top + 1 && last.right <= window.innerWidth,
            };
            "#,
            vec![],
        )
        .await?;
    assert_eq!(
        layout,
        serde_json::json!({
            "width": 375,
            "sideways": false,
            "composerVisible": true,
            "lastVisible": true
        })
    );
    action::screenshot(&phone, "phone-layout").await?;
    Ok(())
}
