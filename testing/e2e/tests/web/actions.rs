//! Edits, deletions, reactions and replies as people make them in two browsers: live, after
//! one of them was away, a reply whose original is pages back, and the phone's long press.

use crate::fixtures::{action, check, find};
use anyhow::{Result, ensure};
use e2e::{Browser, ChatStack, Recorder, WorkerOptions, cdp};
use fantoccini::{Client, Locator, key::Key};
use protocol::ClientFrame;
use serde_json::json;

/// Runs the action `name` (`data-action`: pick, reply, edit, delete) of the delivered message
/// whose text is `text`, from the keyboard's side: the button is focused (which shows the
/// message's actions, as hovering does), then pressed with Enter.
async fn message_action(page: &Client, text: &str, name: &str) -> Result<()> {
    let focused = page
        .execute(
            "const row = Array.from(document.querySelectorAll('li.bubble:not(.pending)'))
               .find((li) => li.querySelector('.text')?.innerText === arguments[0]);
             const button = row && row.querySelector(`.actions [data-action='${arguments[1]}']`);
             if (!button) return false;
             button.focus();
             return document.activeElement === button;",
            vec![json!(text), json!(name)],
        )
        .await?;
    ensure!(focused == json!(true), "no {name} on {text:?}");
    let button = page.active_element().await?;
    button.send_keys(&Key::Enter.to_string()).await?;
    Ok(())
}

/// Deletions ask first; the answer is yes.
async fn confirm_yes(page: &Client) -> Result<()> {
    page.execute("window.confirm = () => true;", vec![]).await?;
    Ok(())
}

/// Saves an edit in place: the field replaced with `text`, then Enter.
async fn edit_to(page: &Client, text: &str) -> Result<()> {
    let field = page
        .wait()
        .for_element(Locator::Css("li.bubble .edit-field"))
        .await?;
    field.clear().await?;
    field.send_keys(text).await?;
    field.send_keys(&Key::Enter.to_string()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_deletions_reactions_and_replies_show_live_in_both_browsers() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("actions-live");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let bob = rec.add("bob", browser.session(1024, 768).await?);
    let result = async {
        action::join(&alice, &stack.base_url(), "alice").await?;
        action::join(&bob, &stack.base_url(), "bob").await?;
        action::say(&alice, "helo wrld").await?;
        check::messages_end_with(&bob, &["helo wrld"]).await?;

        // Only her own messages offer Edit and Delete.
        ensure!(message_action(&bob, "helo wrld", "edit").await.is_err());
        message_action(&alice, "helo wrld", "edit").await?;
        edit_to(&alice, "hello world").await?;
        for page in [&alice, &bob] {
            check::messages_end_with(page, &["hello world"]).await?;
            check::text_in(page, "li.bubble .edited", "edited").await?;
        }

        // Bob reacts from the picker; the chip counts it, his own is marked, both see it.
        message_action(&bob, "hello world", "pick").await?;
        action::click(&bob, ".picker [data-emoji='🎉']").await?;
        check::text_in(&alice, ".reactions .chip", "🎉 1").await?;
        check::text_in(&bob, ".reactions .chip.mine", "🎉 1").await?;
        ensure!(
            find::pending_texts(&bob).await?.is_empty(),
            "a reaction is shown on its message, never as a bubble of its own"
        );
        check::script_holds(
            &alice,
            "return document.querySelector('.reactions .chip').title === 'bob';",
        )
        .await?;
        // Alice adds hers by clicking the chip: two.
        action::click(&alice, ".reactions .chip").await?;
        check::text_in(&bob, ".reactions .chip", "🎉 2").await?;

        // Bob replies: the bar says to whom, the reply quotes the original.
        message_action(&bob, "hello world", "reply").await?;
        check::text_in(&bob, ".reply-bar", "Replying to alice: hello world").await?;
        action::say(&bob, "what?").await?;
        check::messages_end_with(&alice, &["hello world", "what?"]).await?;
        check::text_in(&alice, "li.bubble .quote", "alicehello world").await?;
        ensure!(
            find::all(&bob, ".reply-bar").await?.is_empty(),
            "the bar goes once sent"
        );
        check::accessible(&alice, "a room with an edit, reactions and a reply").await?;

        // Alice deletes hers: a tombstone for both, and the reply quotes it as deleted.
        confirm_yes(&alice).await?;
        message_action(&alice, "hello world", "delete").await?;
        for page in [&alice, &bob] {
            check::text_in(page, "li.bubble .text.deleted", "Message deleted").await?;
            check::text_in(page, "li.bubble .quote", "Message deleted").await?;
            ensure!(
                find::all(page, ".reactions").await?.is_empty(),
                "the reactions went with it"
            );
        }

        // ↑ in the empty composer edits her last message; Escape leaves it as it was.
        action::say(&alice, "typo mesage").await?;
        check::messages_end_with(&bob, &["typo mesage"]).await?;
        let composer = alice.find(Locator::Css(find::COMPOSER)).await?;
        composer.send_keys(&Key::Up.to_string()).await?;
        let field = alice
            .wait()
            .for_element(Locator::Css("li.bubble .edit-field"))
            .await?;
        // Bob reacts while she edits: her draft and her focus stay.
        field.send_keys(" (draft)").await?;
        message_action(&bob, "typo mesage", "pick").await?;
        action::click(&bob, ".picker [data-emoji='👍']").await?;
        check::text_in(&bob, ".reactions .chip.mine", "👍 1").await?;
        check::script_holds(
            &alice,
            "const field = document.querySelector('.edit-field');
             return field.value === 'typo mesage (draft)' && document.activeElement === field;",
        )
        .await?;
        field.send_keys(&Key::Escape.to_string()).await?;
        check::messages_end_with(&alice, &["typo mesage"]).await?;
        check::text_in(&alice, ".reactions .chip", "👍 1").await?;
        composer.send_keys(&Key::Up.to_string()).await?;
        edit_to(&alice, "typo message").await?;
        check::messages_end_with(&bob, &["typo message"]).await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// Installed before the page's own scripts: `window.__offline(true)` closes the page's sockets
/// and makes new ones fail, as a lost network would; `__offline(false)` lets them through again.
const NETWORK_SWITCH: &str = "
  (() => {
    const Real = window.WebSocket;
    const open = [];
    let offline = false;
    window.WebSocket = function (url, protocols) {
      const socket = new Real(offline ? 'ws://127.0.0.1:9/' : url, protocols);
      open.push(socket);
      return socket;
    };
    window.WebSocket.prototype = Real.prototype;
    Object.assign(window.WebSocket, { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 });
    window.__offline = (on) => { offline = on; if (on) open.forEach((s) => s.close()); };
  })();";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_away_while_the_other_acts_shows_the_current_state_when_back() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("actions-away");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let bob = rec.add("bob", browser.session(1024, 768).await?);
    let result = async {
        cdp(
            &bob,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": NETWORK_SWITCH}),
        )
        .await?;
        action::join(&alice, &stack.base_url(), "alice").await?;
        action::join(&bob, &stack.base_url(), "bob").await?;
        for text in ["one to edit", "one to delete", "one to react to"] {
            action::say(&alice, text).await?;
        }
        check::messages_end_with(&bob, &["one to edit", "one to delete", "one to react to"])
            .await?;

        bob.execute("window.__offline(true);", vec![]).await?;
        check::status_is(&bob, "reconnecting").await?;
        message_action(&alice, "one to edit", "edit").await?;
        edit_to(&alice, "edited while bob was away").await?;
        confirm_yes(&alice).await?;
        message_action(&alice, "one to delete", "delete").await?;
        message_action(&alice, "one to react to", "pick").await?;
        action::click(&alice, ".picker [data-emoji='👍']").await?;
        check::text_in(&alice, ".reactions .chip.mine", "👍 1").await?;
        // Bob still shows them as they were.
        check::messages_end_with(&bob, &["one to edit", "one to delete", "one to react to"])
            .await?;

        // Back, without a reload: the resume brings the current state of all three.
        bob.execute("window.__offline(false);", vec![]).await?;
        check::status_is(&bob, "live").await?;
        check::messages_end_with(
            &bob,
            &[
                "edited while bob was away",
                "Message deleted",
                "one to react to",
            ],
        )
        .await?;
        check::text_in(&bob, ".reactions .chip", "👍 1").await?;
        check::text_in(&bob, "li.bubble .edited", "edited").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_to_a_message_three_pages_back_scrolls_there() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let (mut writer, sent) = action::write_history(&stack, 160).await?;
    // The fifth of 160: more than three pages of 50 before the newest.
    writer
        .send(&ClientFrame::Send {
            client_id: "reply-to-five".into(),
            text: "about message 005".into(),
            reply_to: Some(sent[4].seq),
        })
        .await?;
    writer.messages(1).await?;

    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("actions-reply-far");
    let reader = rec.add("reader", browser.session(1024, 768).await?);
    let result = async {
        action::join(&reader, &stack.base_url(), "reader").await?;
        check::messages_end_with(&reader, &["about message 005"]).await?;
        check::text_in(&reader, "li.bubble .quote", "message 005").await?;
        ensure!(
            !find::message_texts(&reader)
                .await?
                .contains(&"message 005".to_owned()),
            "the original is not loaded yet"
        );
        action::click(&reader, "li.bubble .quote").await?;
        // Older pages load until the original is there; it is scrolled into view and marked.
        check::text_in(&reader, "li.bubble[data-found] .text", "message 005").await?;
        check::script_holds(
            &reader,
            "const row = document.querySelector('li.bubble[data-found]');
             const list = document.querySelector('.messages').getBoundingClientRect();
             const box = row.getBoundingClientRect();
             return box.top >= list.top && box.bottom <= list.bottom;",
        )
        .await?;
        let shown = find::message_texts(&reader).await?;
        let want: Vec<String> = (5..=160).map(|n| format!("message {n:03}")).collect();
        ensure!(
            shown.len() > want.len() && shown[shown.len() - 157..shown.len() - 1] == want[..],
            "pages loaded without a gap: {} shown",
            shown.len()
        );
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_a_long_press_opens_a_messages_actions() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("actions-phone");
    let phone = rec.add("phone", browser.phone(375, 740).await?);
    let result = async {
        action::join(&phone, &stack.base_url(), "pat").await?;
        action::say(&phone, "press and hold me").await?;
        check::messages_end_with(&phone, &["press and hold me"]).await?;
        // A touch rests on the message.
        phone
            .execute(
                "document.querySelector('li.bubble:not(.pending) .text')
                   .dispatchEvent(new Event('touchstart', { bubbles: true }));",
                vec![],
            )
            .await?;
        check::script_holds(
            &phone,
            "const row = document.querySelector('li.bubble[data-menu]');
             if (!row) return false;
             const labels = Array.from(row.querySelectorAll('.actions .label'))
               .filter((l) => l.getBoundingClientRect().width > 0).map((l) => l.textContent);
             return labels.join(',') === 'React,Reply,Edit,Delete';",
        )
        .await?;
        action::click(&phone, "li.bubble[data-menu] [data-action='reply']").await?;
        check::text_in(&phone, ".reply-bar", "Replying to pat: press and hold me").await?;
        ensure!(
            find::all(&phone, "li.bubble[data-menu]").await?.is_empty(),
            "the menu closes once used"
        );
        action::say(&phone, "answered").await?;
        check::text_in(&phone, "li.bubble .quote", "press and hold me").await?;
        // A reaction from the menu; pressed again, the menu says who reacted.
        let press = "const row = Array.from(document.querySelectorAll('li.bubble:not(.pending)'))
               .find((li) => li.querySelector('.text')?.innerText === 'press and hold me');
             row.dispatchEvent(new Event('touchstart', { bubbles: true }));";
        phone.execute(press, vec![]).await?;
        action::click(&phone, "li.bubble[data-menu] [data-action='pick']").await?;
        action::click(&phone, ".picker [data-emoji='👍']").await?;
        check::text_in(&phone, ".reactions .chip.mine", "👍 1").await?;
        phone.execute(press, vec![]).await?;
        check::script_holds(
            &phone,
            "const chip = document.querySelector('li.bubble[data-menu] .chip');
             return !!chip && getComputedStyle(chip, '::after').content.includes('pat');",
        )
        .await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}
