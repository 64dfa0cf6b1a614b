//! Each scenario is what a person does, start to finish. Every scenario registers its pages
//! with a `Recorder`, which saves screenshots and console logs when it fails.

use crate::fixtures::{action, check, find};
use anyhow::Result;
use anyhow::ensure;
use e2e::{Browser, Chat, ChatStack, Recorder, WorkerOptions, screenshot};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_see_presence_and_typing_and_keep_who_they_are() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("two-people");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let bob = rec.add("bob", browser.session(1024, 768).await?);
    let result = async {
        action::join(&alice, &stack.base_url(), "alice").await?;
        action::join(&bob, &stack.base_url(), "bob").await?;
        check::text_in(&alice, ".people h2", "2 online").await?;
        check::text_in(&bob, ".people h2", "2 online").await?;

        action::type_only(&bob, "hi alice ").await?;
        check::text_in(&alice, ".typing", "bob is typing…").await?;

        action::say(&alice, "hello bob").await?;
        check::messages_end_with(&bob, &["hello bob"]).await?;
        action::say(&bob, "<b>bold?</b>").await?;
        check::messages_end_with(&alice, &["hello bob", "hi alice <b>bold?</b>"]).await?;
        check::messages_end_with(&bob, &["hello bob", "hi alice <b>bold?</b>"]).await?;
        check::accessible(&alice, "the room").await?;
        // New messages and typing are announced by screen readers.
        check::script_holds(
            &alice,
            "return document.querySelector('.message-list').getAttribute('aria-live') === 'polite' \
               && document.querySelector('.typing').getAttribute('aria-live') === 'polite';",
        )
        .await?;
        // Own messages sit on the own side.
        let own = find::all(&alice, "li.bubble.own .text").await?;
        ensure!(own.len() == 1, "one own bubble, got {}", own.len());
        ensure!(own[0].text().await? == "hello bob");

        // The secret kept in localStorage keeps alice the same person across a reload: once the
        // welcome says who she is, her message is on her side again.
        alice.refresh().await?;
        check::status_is(&alice, "live").await?;
        check::text_in(&alice, "li.bubble.own:not(.pending) .text", "hello bob").await?;
        let own = find::all(&alice, "li.bubble.own:not(.pending) .text").await?;
        ensure!(
            own.len() == 1,
            "one own bubble after a reload, got {}",
            own.len()
        );
        check::text_in(&alice, ".people h2", "2 online").await?;

        // Someone else called alice joins: the two alices have faces of different colours.
        let (other_alice, _) =
            Chat::join(&stack.ws_url("lobby"), "alice", "other-alice", None).await?;
        check::text_in(&bob, ".people h2", "3 online").await?;
        let hues = bob
            .execute(
                "return Array.from(document.querySelectorAll('.people li'))
                   .filter((li) => li.querySelector('.name').textContent === 'alice')
                   .map((li) => li.querySelector('.avatar').style.getPropertyValue('--hue'));",
                vec![],
            )
            .await?;
        let hues: Vec<String> = serde_json::from_value(hues)?;
        ensure!(
            hues.len() == 2 && hues[0] != hues[1],
            "two alices, two colours: {hues:?}"
        );
        other_alice.close().await?;
        check::text_in(&bob, ".people h2", "2 online").await?;

        // Alice takes a new name: bob sees it in who is online and on her next message.
        action::rename(&alice, "Alicia").await?;
        check::text_in(&alice, ".you .name", "Alicia").await?;
        check::status_is(&alice, "live").await?;
        check::text_in(&bob, ".people .name", "Alicia").await?;
        let names = find::texts(&bob, ".people .name").await?;
        ensure!(
            names.len() == 2 && !names.contains(&"alice".to_owned()),
            "{names:?}"
        );
        action::say(&alice, "new name").await?;
        check::messages_end_with(&bob, &["new name"]).await?;
        check::texts_are(&bob, "li.bubble.first .author", &["alice", "Alicia"]).await?;

        // Bob goes to another room: his last connection to the lobby closes and alice sees him
        // leave.
        bob.goto(&format!("{}/r/elsewhere", stack.base_url()))
            .await?;
        check::status_is(&bob, "live").await?;
        check::text_in(&alice, ".people h2", "1 online").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrolling_up_loads_older_pages_without_gaps() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::unlimited()).await?;
    let (mut writer, _) = action::write_history(&stack, 120).await?;
    let all: Vec<String> = (1..=120).map(|n| format!("message {n:03}")).collect();

    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("history");
    let reader = rec.add("reader", browser.session(1024, 768).await?);
    let result = async {
        action::join(&reader, &stack.base_url(), "reader").await?;
        check::messages_end_with(&reader, &["message 120"]).await?;
        let shown = find::message_texts(&reader).await?;
        ensure!(shown == all[70..], "the newest page, got {shown:?}");

        // Scroll up until the room's beginning shows; each page keeps the view in place.
        for _ in 0..10 {
            let first_before = find::message_texts(&reader).await?.first().cloned();
            action::scroll_to_top(&reader).await?;
            check::history_grew_or_ended(&reader, first_before.as_deref()).await?;
            if check::at_beginning(&reader).await? {
                break;
            }
            // The message that was at the top is still in view after the page was added above.
            check::scrolled_away_from_top(&reader).await?;
        }
        ensure!(
            check::at_beginning(&reader).await?,
            "the beginning never showed"
        );
        let shown = find::message_texts(&reader).await?;
        ensure!(shown == all, "no gap, no duplicate: {shown:?}");

        // Scrolled up, a new message shows "↓ 1 new" over the list; a long draft that makes the
        // composer grow does not cover it.
        writer.say("history-121", "message 121").await?;
        check::text_in(&reader, ".jump", "1 new").await?;
        action::type_only(&reader, &"a long draft that wraps ".repeat(40)).await?;
        check::clear_of_composer(&reader, ".jump").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnection_delivers_messages_typed_during_the_outage_once() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("reconnection");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let bob = rec.add("bob", browser.session(1024, 768).await?);
    let result = async {
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
        // Someone else writes the moment the Worker is back, while the browsers may still be
        // waiting out their backoff: they get it by resuming from their newest `seq`.
        let (mut carol, _) = Chat::join(
            &stack.ws_url("lobby"),
            "carol",
            "carol-secret-00000000001",
            None,
        )
        .await?;
        carol.say("carol-gap-msg-1", "sent in the gap").await?;
        carol.messages(1).await?;
        check::status_is(&alice, "live").await?;
        check::status_is(&bob, "live").await?;
        check::pending_are(&alice, &[]).await?;
        let stored: Vec<String> = stack
            .until_stored("lobby", 4, check::WAIT)
            .await?
            .into_iter()
            .map(|m| m.text)
            .collect();
        ensure!(stored.len() == 4, "each message stored once: {stored:?}");
        let stored: Vec<&str> = stored.iter().map(String::as_str).collect();
        check::messages_end_with(&bob, &stored).await?;
        check::messages_end_with(&alice, &stored).await?;
        for page in [&alice, &bob] {
            let shown = find::message_texts(page).await?;
            ensure!(
                shown == stored,
                "no duplicate, Redis order: {shown:?} vs {stored:?}"
            );
        }
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// Redis away: messages still arrive (the room's log has them) until the backlog waiting for
/// Redis is full; then they stay pending with the reason and a countdown, offering Retry and
/// Discard, and the header says that messages cannot be stored, until Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_keeps_the_message_pending_with_a_reason_until_sent_or_discarded()
-> Result<()> {
    let mut stack =
        ChatStack::start(WorkerOptions::default().var("MIRROR_BACKLOG_MAX", "1")).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("store-outage");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let result = async {
        action::join(&alice, &stack.base_url(), "alice").await?;
        stack.redis().stop()?;
        action::say(&alice, "delivered while redis is down").await?;
        check::messages_end_with(&alice, &["delivered while redis is down"]).await?;
        action::say(&alice, "sent while redis is down").await?;
        action::say(&alice, "discarded while redis is down").await?;
        check::text_in(
            &alice,
            "li.pending .reason",
            "the server can't store messages right now; retrying in ",
        )
        .await?;
        check::status_is(&alice, "degraded").await?;
        action::click_on_pending(&alice, "discarded while redis is down", "Discard").await?;
        check::pending_are(&alice, &["sent while redis is down"]).await?;
        stack.redis().resume()?;
        let both = ["delivered while redis is down", "sent while redis is down"];
        check::messages_end_with(&alice, &both).await?;
        check::pending_are(&alice, &[]).await?;
        check::status_is(&alice, "live").await?;
        check::stored_are(&stack, "lobby", &both).await
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_outbox_survives_a_reload() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("offline-outbox");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let result = async {
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
        ensure!(
            kept.as_str()
                .is_some_and(|s| s.contains("kept across a reload")),
            "localStorage holds {kept}"
        );
        stack.start_worker().await?;
        alice.refresh().await?;
        let text = "written offline, kept across a reload";
        check::only_message_stored_once(&alice, &stack, "lobby", text).await
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_is_shown_as_text_formatting_included_and_bad_rooms_are_explained()
-> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("hostile-text");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let result = async {
        action::join(&alice, &stack.base_url(), "alice").await?;
        let hostile = "<script>alert(1)</script> <img src=x onerror=\"document.title='pwned'\">";
        action::say(&alice, hostile).await?;
        check::messages_end_with(&alice, &[hostile]).await?;
        ensure!(
            find::all(&alice, ".messages img, .messages script")
                .await?
                .is_empty(),
            "markup in a message became elements"
        );
        ensure!(
            alice.title().await? != "pwned",
            "the page ran injected script"
        );

        // The little formatting: links, code and emphasis, each holding text only.
        let formatted = "**<img src=x onerror=\"document.title='pwned'\">** `<script>x</script>` \
                         see https://example.com/a_(b)?c=1. or javascript:alert(1)";
        action::say(&alice, formatted).await?;
        let last = ".message-list li.bubble:last-of-type .text";
        check::text_in(&alice, &format!("{last} strong"), "<img src=x").await?;
        let shown = alice
            .execute(
                "const text = document.querySelector(arguments[0]); \
                 const links = [...text.querySelectorAll('a')]; \
                 return [links.map((a) => [a.getAttribute('href'), a.target, a.rel]), \
                         text.querySelector('code').textContent, \
                         text.querySelectorAll('img, script').length];",
                vec![serde_json::json!(last)],
            )
            .await?;
        ensure!(
            shown
                == serde_json::json!([
                    [[
                        "https://example.com/a_(b)?c=1",
                        "_blank",
                        "noopener noreferrer"
                    ]],
                    "<script>x</script>",
                    0
                ]),
            "formatted message: {shown}"
        );
        ensure!(
            alice.title().await? != "pwned",
            "the page ran injected script"
        );

        alice
            .goto(&format!("{}/r/Not a Room!", stack.base_url()))
            .await?;
        // As typed, not as the address encodes it ("Not%20a%20Room!").
        check::text_in(
            &alice,
            ".bad-room",
            "“Not a Room!” is not a valid room name",
        )
        .await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// The rooms visited are listed with what arrived in each since it was last read, counted again
/// after a reload; a room is joined or created from the list by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rooms_list_counts_unread_across_reloads_and_joins_rooms_by_name() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("rooms");
    let alice = rec.add("alice", browser.session(1280, 800).await?);
    let result = async {
        let (mut writer, _) = Chat::join(&stack.ws_url("lobby"), "writer", "writer", None).await?;
        let mut say = async |text: &str| -> Result<()> {
            writer.say(&testkit::unique("away"), text).await?;
            writer.messages(1).await?;
            Ok(())
        };
        say("before alice left").await?;
        action::join(&alice, &stack.base_url(), "alice").await?;
        check::messages_end_with(&alice, &["before alice left"]).await?;

        // A bad name is explained where it was typed; a good one is lowercased and opened.
        action::fill_and_enter(&alice, "#join-room", "Not a room!").await?;
        check::text_in(&alice, ".join .problem", "Room names use 1 to 64").await?;
        action::fill_and_enter(&alice, "#join-room", "Design").await?;
        check::text_in(&alice, ".bar h1", "#design").await?;
        check::status_is(&alice, "live").await?;
        check::texts_are(&alice, ".rooms .room-name", &["#design", "#lobby"]).await?;
        check::texts_are(&alice, ".rooms [aria-current='page']", &["#design"]).await?;

        // Two messages in the lobby while alice is away: its badge says 2, after a reload too.
        say("one while away").await?;
        say("two while away").await?;
        let lobby = ["before alice left", "one while away", "two while away"];
        check::stored_are(&stack, "lobby", &lobby).await?;
        let badge = ".rooms a[href='/r/lobby'] .badge";
        for _ in 0..2 {
            alice.refresh().await?;
            check::status_is(&alice, "live").await?;
            check::texts_are(&alice, badge, &["2"]).await?;
        }

        // Reading the lobby clears its count; one more while away counts one.
        action::click(&alice, ".rooms a[href='/r/lobby']").await?;
        check::text_in(&alice, ".bar h1", "#lobby").await?;
        check::messages_end_with(&alice, &lobby).await?;
        check::texts_are(&alice, ".rooms .room-name", &["#lobby", "#design"]).await?;
        action::click(&alice, ".rooms a[href='/r/design']").await?;
        check::text_in(&alice, ".bar h1", "#design").await?;
        check::status_is(&alice, "live").await?;
        say("three while away").await?;
        check::stored_are(
            &stack,
            "lobby",
            &[&lobby[..], &["three while away"]].concat(),
        )
        .await?;
        alice.refresh().await?;
        check::status_is(&alice, "live").await?;
        check::texts_are(&alice, badge, &["1"]).await?;
        check::script_holds(
            &alice,
            "return document.querySelector('button.menu').hasAttribute('data-unread');",
        )
        .await?;
        screenshot(&alice, "rooms").await?;
        check::accessible(&alice, "the room list").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_composer_and_last_message_fit_without_sideways_scrolling() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("phone-layout");
    let phone = rec.add("phone", browser.phone(375, 667).await?);
    let result = async {
        action::join(&phone, &stack.base_url(), "pat").await?;
        let long_word = "supercalifragilisticexpialidocious".repeat(4);
        let text = format!("a very long word: {long_word}");
        action::say(&phone, &text).await?;
        check::messages_end_with(&phone, &[&text]).await?;
        let layout = phone
            .execute(
                r#"
                const composer = document.querySelector('.composer').getBoundingClientRect();
                const bubbles = document.querySelectorAll('li.bubble');
                const last = bubbles[bubbles.length - 1].getBoundingClientRect();
                const bar = document.querySelector('.bar').getBoundingClientRect();
                const shown = (css) => getComputedStyle(document.querySelector(css)).display !== 'none';
                return {
                    width: window.innerWidth,
                    sideways: document.documentElement.scrollWidth > window.innerWidth,
                    composerVisible: composer.bottom <= window.innerHeight && composer.top >= 0,
                    noBandUnderComposer: window.innerHeight - composer.bottom < 1,
                    lastVisible: last.bottom <= composer.top + 1 && last.right <= window.innerWidth,
                    oneRowHeader: bar.height < 60,
                    drawerClosed: !shown('.drawer'),
                };
                "#,
                vec![],
            )
            .await?;
        let expected = serde_json::json!({
            "width": 375,
            "sideways": false,
            "composerVisible": true,
            "noBandUnderComposer": true,
            "lastVisible": true,
            "oneRowHeader": true,
            "drawerClosed": true,
        });
        ensure!(layout == expected, "layout {layout}");
        screenshot(&phone, "phone-layout").await?;

        // The menu opens the drawer with the rooms, you and who is online; Escape closes it.
        action::click(&phone, "button.menu").await?;
        check::texts_are(&phone, ".drawer .rooms .room-name", &["#lobby"]).await?;
        check::text_in(&phone, ".drawer .people h2", "1 online").await?;
        check::text_in(&phone, ".drawer .you .name", "pat").await?;
        check::script_holds(
            &phone,
            "return document.querySelector('button.menu').getAttribute('aria-expanded') === 'true' \
               && document.querySelector('.drawer').getBoundingClientRect().width > 250 \
               && document.activeElement === document.querySelector('.drawer .close');",
        )
        .await?;
        screenshot(&phone, "phone-drawer").await?;
        check::accessible(&phone, "the phone's drawer").await?;
        action::click(&phone, "#join-room").await?;
        phone
            .active_element()
            .await?
            .send_keys(&fantoccini::key::Key::Escape.to_string())
            .await?;
        check::script_holds(
            &phone,
            "return getComputedStyle(document.querySelector('.drawer')).display === 'none' \
               && document.activeElement === document.querySelector('button.menu');",
        )
        .await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_tab_shows_unread_in_its_title_and_notifies_when_asked() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("attention");
    let reader = rec.add("reader", browser.session(1024, 768).await?);
    let result = async {
        action::join(&reader, &stack.base_url(), "reader").await?;
        check::status_is(&reader, "live").await?;
        check::title_is(&reader, "#lobby · edge-chat").await?;
        action::stub_notifications(&reader).await?;
        reader
            .find(fantoccini::Locator::Css("button.notify"))
            .await?
            .click()
            .await?;
        check::text_in(&reader, "button.notify", "Notify: on").await?;

        action::set_tab_hidden(&reader, true).await?;
        let (mut writer, _) = Chat::join(
            &stack.ws_url("lobby"),
            "writer",
            "writer-secret-0000000002",
            None,
        )
        .await?;
        writer.say("attention-01", "are you there?").await?;
        writer.say("attention-02", "hello?").await?;
        check::title_is(&reader, "(2) #lobby · edge-chat").await?;
        let shown = check::notifications(&reader, 2).await?;
        ensure!(
            shown[0] == ("writer in #lobby".to_owned(), "are you there?".to_owned()),
            "{shown:?}"
        );

        // Coming back to the tab means it was all seen.
        action::set_tab_hidden(&reader, false).await?;
        check::title_is(&reader, "#lobby · edge-chat").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_paint_is_the_chats_skeleton_until_the_app_takes_its_place() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("skeleton");
    let page = rec.add("page", browser.session(390, 844).await?);
    let result = async {
        page.goto(&format!("{}/r/design", stack.base_url())).await?;
        // Once the app runs, the skeleton is gone and the app's own view is there: a first
        // visit's prompt to join.
        check::text_in(&page, ".join-prompt label", "Join #design as").await?;
        let left = page
            .execute("return document.getElementById('skeleton') === null;", vec![])
            .await?;
        ensure!(left == serde_json::json!(true), "the skeleton stayed");
        // The wasm is fetched once, by the preload in the page's head, in parallel with the
        // JavaScript that instantiates it, not after it.
        let wasm = page
            .execute(
                "return performance.getEntriesByType('resource') \
                   .filter((e) => e.name.endsWith('/pkg/web_bg.wasm')) \
                   .map((e) => e.initiatorType);",
                vec![],
            )
            .await?;
        ensure!(
            wasm == serde_json::json!(["link"]),
            "the wasm was not fetched once by the preload: {wasm}"
        );

        // The page as it is before any WebAssembly runs: the served HTML without its module.
        skeleton_only(&page).await?;
        check::text_in(&page, "#skeleton .bar h1", "#design").await?;
        let shown = page
            .execute(
                "const r = (s) => document.querySelector(s).getBoundingClientRect(); \
                 return [r('#skeleton .bar').height > 0, r('#skeleton .composer').bottom <= innerHeight, \
                         document.querySelectorAll('#skeleton .bubble.ghost').length, \
                         document.querySelector('#skeleton .composer button').disabled];",
                vec![],
            )
            .await?;
        ensure!(
            shown == serde_json::json!([true, true, 5, true]),
            "header, composer in view, placeholder bubbles, a Send that waits: {shown}"
        );
        screenshot(&page, "skeleton-first-paint").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// What a person types into the skeleton before the WebAssembly runs is in the app's field when
/// it mounts, with the focus: the name on a first visit, the message after (defect 1 of issue
/// 20). The client's files are blocked while the page loads, so it stays the skeleton; then the
/// module is started by hand (under another URL: a blocked module fails for good under its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_typed_before_the_app_runs_is_kept_with_the_focus() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("early-typing");
    let page = rec.add("page", browser.phone(390, 844).await?);
    let result = async {
        let url = format!("{}/r/design", stack.base_url());
        e2e::cdp(&page, "Network.enable", serde_json::json!({})).await?;
        for (round, field, text, app_field) in [
            (1, "#skeleton .join-prompt input", "zoë", ".join-prompt input"),
            (2, "#skeleton .composer textarea", "typed early", ".composer textarea"),
        ] {
            let blocked = serde_json::json!({"urls": ["*/pkg/web.js", "*/pkg/web_bg.wasm"]});
            e2e::cdp(&page, "Network.setBlockedURLs", blocked).await?;
            page.goto(&url).await?;
            let early = page
                .wait()
                .for_element(fantoccini::Locator::Css(field))
                .await?;
            early.click().await?;
            early.send_keys(text).await?;
            e2e::cdp(
                &page,
                "Network.setBlockedURLs",
                serde_json::json!({"urls": []}),
            )
            .await?;
            page.execute_async(
                &format!(
                    "const done = arguments[arguments.length - 1]; \
                     import('/pkg/web.js?round={round}') \
                       .then((m) => m.default({{ module_or_path: '/pkg/web_bg.wasm?round={round}' }})) \
                       .then(() => done(true), (e) => done(String(e)));"
                ),
                vec![],
            )
            .await?;
            check::script_holds(
                &page,
                &format!(
                    "const f = document.querySelector('{app_field}'); \
                     return !document.querySelector('#skeleton') && !!f && f.value === '{text}' \
                       && document.activeElement === f;"
                ),
            )
            .await?;
            if round == 1 {
                // Joined with that name: the next load is a returning visitor's.
                page.active_element()
                    .await?
                    .send_keys(&fantoccini::key::Key::Enter.to_string())
                    .await?;
                check::status_is(&page, "live").await?;
            }
        }
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// The page as served, with its module left out: the skeleton, as a person sees it while the
/// WebAssembly downloads.
async fn skeleton_only(page: &fantoccini::Client) -> Result<()> {
    page.execute_async(
        "const done = arguments[arguments.length - 1]; \
         fetch(location.href).then((r) => r.text()).then((html) => { \
           document.open(); \
           document.write(html.replace(/<script type=\"module\">[\\s\\S]*?<\\/script>/, '')); \
           document.close(); \
           done(true); \
         });",
        vec![],
    )
    .await?;
    Ok(())
}

/// Two tabs of one room, both offline: a message written in one tab that is then closed is
/// sent by the other when the Worker is back, and stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_from_a_closed_tab_is_sent_by_the_other_once() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("two-tabs");
    let page = rec.add("tabs", browser.session(1024, 768).await?);
    let text = "written in the tab that closes";
    let result = async {
        action::join(&page, &stack.base_url(), "alice").await?;
        let tab_a = page.window().await?;
        let tab_b = page.new_window(true).await?.handle;
        page.switch_to_window(tab_b.clone()).await?;
        page.goto(&stack.base_url()).await?;
        check::status_is(&page, "live").await?;

        stack.stop_worker();
        check::status_is(&page, "reconnecting").await?;
        page.switch_to_window(tab_a).await?;
        check::status_is(&page, "reconnecting").await?;
        action::say(&page, text).await?;
        check::pending_are(&page, &[text]).await?;
        page.close_window().await?;

        page.switch_to_window(tab_b).await?;
        check::pending_are(&page, &[text]).await?;
        stack.start_worker().await?;
        check::only_message_stored_once(&page, &stack, "lobby", text).await
    }
    .await;
    rec.finish(result).await
}

/// A browser whose storage is full cannot keep the outbox across a reload: the person is told,
/// and the message is still sent from memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_storage_is_shown_not_swallowed() -> Result<()> {
    let mut stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("full-storage");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let text = "typed with a full storage";
    let result = async {
        action::join(&alice, &stack.base_url(), "alice").await?;
        stack.stop_worker();
        check::status_is(&alice, "reconnecting").await?;
        // Fill the origin's quota with ever smaller items until not even one character fits.
        alice
            .execute(
                "let i = 0; for (let size = 1 << 20; size >= 1; size >>= 2) { \
                   const chunk = 'x'.repeat(size); \
                   try { for (;;) { localStorage.setItem('filler-' + i++, chunk); } } \
                   catch (e) {} }",
                vec![],
            )
            .await?;
        action::say(&alice, text).await?;
        check::pending_are(&alice, &[text]).await?;
        check::text_in(&alice, ".storage-warning", "will not survive a reload").await?;
        stack.start_worker().await?;
        check::messages_end_with(&alice, &[text]).await?;
        check::pending_are(&alice, &[]).await?;
        ensure!(
            find::texts(&alice, ".storage-warning").await?.is_empty(),
            "the warning stays after the outbox emptied"
        );
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// A page left open across a deploy that changed the protocol: the Worker answers its hello
/// with `unsupported_protocol`, and the page reloads itself to get the matching client, once.
/// The hello is made to name a version the Worker does not speak by a script installed before
/// the page's own; since the reloaded page is refused too, it stays and says it is out of date
/// instead of reloading again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_the_worker_no_longer_speaks_to_reloads_itself_once() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("outdated-page");
    let alice = rec.add("alice", browser.session(1024, 768).await?);
    let result = async {
        action::join(&alice, &stack.base_url(), "alice").await?;
        e2e::cdp(
            &alice,
            "Page.addScriptToEvaluateOnNewDocument",
            serde_json::json!({"source": r#"
                sessionStorage.setItem('test.loads',
                    String(Number(sessionStorage.getItem('test.loads') || 0) + 1));
                const send = WebSocket.prototype.send;
                WebSocket.prototype.send = function (data) {
                    if (typeof data === 'string' && data.startsWith('{"type":"hello"')) {
                        data = data.replace(/"protocol":\d+/, '"protocol":99');
                    }
                    return send.call(this, data);
                };
            "#}),
        )
        .await?;
        alice.refresh().await?;
        check::status_is(&alice, "outdated").await?;
        check::text_in(&alice, ".status", "out of date").await?;
        let loads = alice
            .execute("return sessionStorage.getItem('test.loads')", vec![])
            .await?;
        ensure!(
            loads.as_str() == Some("2"),
            "loads: {loads} (one refresh, one reload of its own)"
        );
        let buttons = find::texts(&alice, "button").await?;
        ensure!(
            buttons.iter().any(|b| b == "Reload"),
            "a Reload button is offered: {buttons:?}"
        );
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// A first visit shows the room as it is, read-only, with the prompt to join focused in the
/// composer's place; joining keeps what was shown and asks only for what came after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_visit_shows_the_room_read_only_and_joins_from_the_prompt() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("first-visit");
    let page = rec.add("page", browser.phone(375, 667).await?);
    let result = async {
        let (mut host, _) = Chat::join(&stack.ws_url("design"), "host", "host", None).await?;
        for text in ["welcome to design", "say hi when you join"] {
            host.say(&testkit::unique("host"), text).await?;
            host.messages(1).await?;
        }
        let shown = ["welcome to design", "say hi when you join"];
        check::stored_are(&stack, "design", &shown).await?;

        page.goto(&format!("{}/r/design", stack.base_url())).await?;
        check::status_is(&page, "preview").await?;
        check::messages_end_with(&page, &shown).await?;
        check::text_in(&page, ".join-prompt label", "Join #design as").await?;
        check::script_holds(
            &page,
            "return document.activeElement && document.activeElement.id === 'name' \
               && !document.querySelector('.composer textarea');",
        )
        .await?;
        check::text_in(&page, ".people h2", "0 online").await?;
        screenshot(&page, "first-visit").await?;
        check::accessible(&page, "the first visit").await?;

        // A blank name is explained where it was typed; a good one joins.
        action::fill_and_enter(&page, "#name", "   ").await?;
        check::text_in(&page, ".join-prompt .problem", "the name is empty").await?;
        action::fill_and_enter(&page, "#name", "zoë").await?;
        check::status_is(&page, "live").await?;
        check::script_holds(
            &page,
            "return document.activeElement === document.querySelector('.composer textarea');",
        )
        .await?;
        check::text_in(&page, ".people h2", "2 online").await?;
        ensure!(
            find::message_texts(&page).await? == shown,
            "the preview's messages, once each"
        );
        action::say(&page, "hi, I am zoë").await?;
        let heard = host.messages(1).await?;
        ensure!(heard[0].text == "hi, I am zoë" && heard[0].name == "zoë");
        // The name is kept: the next visit goes straight in.
        page.refresh().await?;
        check::status_is(&page, "live").await?;
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// The skeleton index.html paints is where the app will be: no part of its header or footer
/// moves more than 2 px when the app takes its place, on a phone and a desktop, on a first visit
/// (the prompt to join) and after (the composer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_skeletons_header_and_footer_stay_in_place_when_the_app_mounts() -> Result<()> {
    let stack = ChatStack::start(WorkerOptions::default()).await?;
    let mut browser = Browser::start()?;
    let mut rec = Recorder::new("skeleton-shift");
    let phone = rec.add("phone", browser.phone(390, 844).await?);
    let desktop = rec.add("desktop", browser.session(1280, 800).await?);
    let result = async {
        let url = format!("{}/r/design", stack.base_url());
        for page in [&phone, &desktop] {
            page.goto(&url).await?;
            check::status_is(page, "preview").await?;
            compare_with_skeleton(page, "first visit").await?;
            action::join(page, &url, "zoë").await?;
            page.refresh().await?;
            check::status_is(page, "live").await?;
            compare_with_skeleton(page, "returning").await?;
        }
        Ok(())
    }
    .await;
    rec.finish(result).await
}

/// Where the header's and the footer's parts are on the page now, then in the skeleton of the
/// same address; fails when one moved more than 2 px. The status is right-aligned and its text
/// differs ("Loading…", "Live"), so only its right edge and top count.
async fn compare_with_skeleton(page: &fantoccini::Client, visit: &str) -> Result<()> {
    const MEASURE: &str = r#"
        const parts = ['.bar', '.bar .menu', '.bar h1', '.bar .status',
                       '.join-prompt', '.join-prompt label', '.join-prompt input', '.join-prompt button',
                       '.composer:not(.join-prompt)', '.composer textarea', '.composer:not(.join-prompt) button'];
        const out = {};
        for (const css of parts) {
            const shown = [...document.querySelectorAll(css)].find((e) => e.getClientRects().length > 0);
            if (!shown) { out[css] = null; continue; }
            const r = shown.getBoundingClientRect();
            out[css] = css === '.bar .status' ? [r.right, r.top] : [r.left, r.top, r.right, r.bottom];
        }
        return out;"#;
    let app = page.execute(MEASURE, vec![]).await?;
    skeleton_only(page).await?;
    let skeleton = page.execute(MEASURE, vec![]).await?;
    let (Some(app), Some(skeleton)) = (app.as_object(), skeleton.as_object()) else {
        anyhow::bail!("no measures: {app} {skeleton}");
    };
    for (part, at) in app {
        let before = skeleton.get(part).cloned().unwrap_or_default();
        let moved = match (before.as_array(), at.as_array()) {
            (None, None) => false,
            (Some(before), Some(at)) => before.iter().zip(at).any(|(b, a)| {
                (b.as_f64().unwrap_or(f64::NAN) - a.as_f64().unwrap_or(0.0)).abs() > 2.0
            }),
            _ => true,
        };
        ensure!(
            !moved,
            "{visit}: {part} moved from {before} in the skeleton to {at} in the app"
        );
    }
    ensure!(
        app.values().filter(|at| at.is_array()).count() >= 6,
        "{visit}: too little was measured: {app:?}"
    );
    Ok(())
}
