//! DOM behaviour in headless Chromium (wasm-bindgen-test): text is rendered as text, bad
//! rooms and names get clear messages, the outbox survives in localStorage, the secret comes
//! from the browser's crypto and is kept.

#![cfg(target_arch = "wasm32")]
// Browser test code: a missing document or element is a failed test, and `expect` says which.
#![allow(clippy::expect_used)]

use protocol::Message;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web::components::{bad_room, message_row, room_from_path};

wasm_bindgen_test_configure!(run_in_browser);

fn container() -> web_sys::HtmlElement {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let div = document.create_element("div").expect("a div");
    document
        .body()
        .expect("a body")
        .append_child(&div)
        .expect("appended");
    div.unchecked_into()
}

/// A message by `name` saying `text`, rendered in a container of its own.
fn rendered(name: &str, text: &str) -> web_sys::HtmlElement {
    let parent = container();
    let message = Message {
        seq: 1,
        client_id: "client-0001".into(),
        user_id: "user-00001".into(),
        name: name.into(),
        text: text.into(),
        ts: 0,
        ..Default::default()
    };
    let row = client::Row::Message {
        message: &message,
        own: false,
        first_in_group: true,
    };
    let state = client::ChatState::new("room", "me", "secret".into(), Default::default());
    parent
        .append_child(&message_row(&state, &row, 0))
        .expect("appended");
    parent
}

#[wasm_bindgen_test]
fn message_text_is_text_never_html() {
    let text = "<script>alert(1)</script><img src=x onerror=alert(2)> https://example.com";
    let parent = rendered("<b>mallory</b>", text);
    assert!(parent.query_selector("img").expect("query").is_none());
    assert!(parent.query_selector("script").expect("query").is_none());
    assert!(parent.query_selector("b").expect("query").is_none());
    let shown = parent
        .query_selector(".text")
        .expect("query")
        .and_then(|e| e.text_content())
        .unwrap_or_default();
    assert_eq!(shown, text);
    let author = parent
        .query_selector(".author")
        .expect("query")
        .and_then(|e| e.text_content())
        .unwrap_or_default();
    assert_eq!(author, "<b>mallory</b>");
}

/// Every construct of the little formatting holds text only: marks around HTML, HTML in code,
/// a link whose address tries to close its attribute, and schemes that must not link.
#[wasm_bindgen_test]
fn formatted_text_is_text_never_html() {
    let text = "**<img src=x onerror=alert(1)>** *<b>em</b>* `<script>alert(2)</script>` \
                ```\n<iframe src=javascript:alert(3)>\n``` \
                https://e.com/\"><svg/onload=alert(4)> javascript:alert(5) data:text/html,<p>x";
    let parent = rendered("mallory", text);
    for tag in ["img", "b", "script", "iframe", "svg", "p"] {
        assert!(
            parent.query_selector(tag).expect("query").is_none(),
            "no <{tag}> from a message"
        );
    }
    let text_of = |css: &str| {
        parent
            .query_selector(css)
            .expect("query")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    };
    assert_eq!(text_of(".text strong"), "<img src=x onerror=alert(1)>");
    assert_eq!(text_of(".text em"), "<b>em</b>");
    assert_eq!(text_of(".text > code"), "<script>alert(2)</script>");
    assert_eq!(text_of(".text pre"), "<iframe src=javascript:alert(3)>");
    let links = parent.get_elements_by_tag_name("a");
    assert_eq!(links.length(), 1, "only the https address links");
    let link = links.item(0).expect("a link");
    assert_eq!(
        link.get_attribute("href").as_deref(),
        Some("https://e.com/\"><svg/onload=alert(4)>")
    );
    assert_eq!(
        link.get_attribute("rel").as_deref(),
        Some("noopener noreferrer")
    );
    assert_eq!(link.get_attribute("target").as_deref(), Some("_blank"));
    assert!(text_of(".text").ends_with(" javascript:alert(5) data:text/html,<p>x"));
}

/// A quote, a reaction's names and an edited text are text too; a deleted message shows its
/// tombstone and nothing of what it said; a pending edit shows before the room confirms it.
#[wasm_bindgen_test]
fn quotes_reactions_edits_and_tombstones_render_as_text() {
    let hostile = "<img src=x onerror=alert(1)>";
    let mut state = client::ChatState::new("room", "me", "secret".into(), Default::default());
    state.me.user_id = "user-00001".into();
    let message = Message {
        seq: 7,
        client_id: "client-0007".into(),
        user_id: "user-00002".into(),
        name: hostile.into(),
        text: "edited text".into(),
        ts: 0,
        edited_ts: Some(0),
        rev: Some(9),
        reactions: vec![protocol::Reaction {
            emoji: "👍".into(),
            user_ids: vec!["user-00002".into(), "user-00001".into()],
        }],
        reply: Some(protocol::Quote {
            seq: 3,
            user_id: "user-00003".into(),
            name: hostile.into(),
            text: hostile.into(),
            deleted: false,
        }),
        ..Default::default()
    };
    let render = |state: &client::ChatState, message: &Message| {
        let parent = container();
        let row = client::Row::Message {
            message,
            own: false,
            first_in_group: true,
        };
        parent
            .append_child(&message_row(state, &row, 0))
            .expect("appended");
        parent
    };
    let text_of = |parent: &web_sys::HtmlElement, css: &str| {
        parent
            .query_selector(css)
            .expect("query")
            .and_then(|e| e.text_content())
            .unwrap_or_default()
    };
    state.messages.reset(vec![message.clone()], false);
    let parent = render(&state, &message);
    assert!(parent.query_selector("img").expect("query").is_none());
    assert_eq!(text_of(&parent, ".quote-author"), hostile);
    assert_eq!(text_of(&parent, ".quote"), format!("{hostile}{hostile}"));
    assert_eq!(text_of(&parent, ".edited"), "edited");
    let chip = parent
        .query_selector(".reactions .chip")
        .expect("query")
        .expect("a chip");
    assert_eq!(chip.text_content().as_deref(), Some("👍 2"));
    assert_eq!(chip.get_attribute("class").as_deref(), Some("chip mine"));
    assert_eq!(
        chip.get_attribute("title").as_deref(),
        Some(format!("{hostile}, me").as_str()),
        "who reacted, by name"
    );
    // Someone else's message: React and Reply, no Edit or Delete.
    let offers = |action: &str| {
        parent
            .query_selector(&format!(".actions [data-action='{action}']"))
            .expect("query")
            .is_some()
    };
    assert!(offers("pick") && offers("reply"));
    assert!(!offers("edit") && !offers("delete"));

    let gone = Message {
        deleted: true,
        text: String::new(),
        reactions: Vec::new(),
        reply: None,
        ..message.clone()
    };
    let parent = render(&state, &gone);
    assert_eq!(text_of(&parent, ".text"), "Message deleted");
    assert!(parent.query_selector(".actions").expect("query").is_none());

    // An edit of one's own message, not confirmed yet, shows as done.
    let own = Message {
        user_id: "user-00001".into(),
        ..message
    };
    state.messages.reset(vec![own.clone()], false);
    let _ = state.edit(7, "fixed", "edit-0001".into(), 1);
    let parent = render(&state, &own);
    assert_eq!(text_of(&parent, ".text"), "fixed");
}

#[wasm_bindgen_test]
fn a_bad_room_shows_a_clear_message() {
    let problem = room_from_path("/r/Not%20a%20Room!").expect_err("refused");
    assert!(problem.contains("not a valid room name"), "{problem}");
    assert!(problem.contains("“Not a Room!”"), "decoded: {problem}");
    assert_eq!(
        room_from_path("/r/%E2%9C%93").expect_err("refused"),
        "“✓” is not a valid room name."
    );
    assert_eq!(
        room_from_path("/r/%zz%E2").expect_err("refused"),
        "“%zz%E2” is not a valid room name.",
        "not decodable: shown as it is"
    );
    assert_eq!(room_from_path("/"), Ok("lobby".to_owned()));
    assert_eq!(room_from_path("/r/team-7/"), Ok("team-7".to_owned()));
    let parent = container();
    parent.append_child(&bad_room(&problem)).expect("appended");
    let text = parent.text_content().unwrap_or_default();
    assert!(
        text.contains("No such room") && text.contains("not a valid room name"),
        "{text}"
    );
    assert_eq!(
        text.matches("a–z").count(),
        1,
        "the rule is stated once: {text}"
    );
    assert!(!text.contains("lowercase letters"), "{text}");
    assert!(
        parent
            .query_selector("a[href='/']")
            .expect("query")
            .is_some()
    );
}

#[wasm_bindgen_test]
fn the_outbox_survives_in_local_storage_and_no_tab_erases_another_tabs() {
    let mut outbox = client::Outbox::default();
    outbox.add("kept-msg-001".into(), "typed while offline".into(), 1);
    assert!(web::storage::save_outbox("dom-test", &mut outbox, 1));
    let restored = web::storage::outbox("dom-test");
    assert_eq!(restored.entries().len(), 1);
    assert_eq!(restored.entries()[0].text, "typed while offline");
    // Another tab with nothing of its own saves: it takes the message in instead of erasing it.
    let mut other_tab = client::Outbox::default();
    assert!(web::storage::save_outbox("dom-test", &mut other_tab, 2));
    assert_eq!(other_tab.entries().len(), 1);
    assert_eq!(web::storage::outbox("dom-test").entries().len(), 1);
    // Confirmed in the first tab: gone from storage.
    assert!(outbox.confirm("kept-msg-001"));
    assert!(web::storage::save_outbox("dom-test", &mut outbox, 3));
    assert!(web::storage::outbox("dom-test").is_empty());
}

fn local_storage() -> web_sys::Storage {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("localStorage")
}

#[wasm_bindgen_test]
fn the_outbox_loaded_after_the_confirm_window_shows_the_message_failed() {
    // Sent once in 1970 and never confirmed: the room may have stored it long ago.
    local_storage()
        .set_item(
            "edge-chat.outbox.dom-test-old",
            r#"{"entries":[{"client_id":"ancient-msg-1","text":"hello?","created_ts":0,
                "state":{"state":"sent"},"attempts":1,"first_sent_at":0}]}"#,
        )
        .expect("stored");
    let restored = web::storage::outbox("dom-test-old");
    assert_eq!(
        restored.entries()[0].state,
        client::OutboxState::Failed {
            reason: client::NOT_CONFIRMED_REASON.to_owned()
        }
    );
    local_storage()
        .remove_item("edge-chat.outbox.dom-test-old")
        .expect("removed");
}

#[wasm_bindgen_test]
fn the_secret_is_made_once_kept_and_replaces_the_old_user_id() {
    let storage = local_storage();
    storage.remove_item("edge-chat.secret").expect("removed");
    storage
        .set_item("edge-chat.user_id", "old-public-id-01")
        .expect("stored");
    let secret = web::storage::secret().expect("the browser has crypto");
    assert_eq!(secret.len(), 32);
    assert!(protocol::validate_secret(&secret).is_ok(), "{secret}");
    assert_eq!(
        storage.get_item("edge-chat.secret").expect("read"),
        Some(secret.clone())
    );
    assert_eq!(
        storage.get_item("edge-chat.user_id").expect("read"),
        None,
        "the public id of older versions is gone, never reused"
    );
    assert_eq!(web::storage::secret(), Ok(secret.clone()), "kept");
    // A damaged value is replaced, not sent.
    storage
        .set_item("edge-chat.secret", "too short")
        .expect("stored");
    let fresh = web::storage::secret().expect("the browser has crypto");
    assert!(protocol::validate_secret(&fresh).is_ok(), "{fresh}");
    assert_ne!(fresh, secret);
}

#[wasm_bindgen_test]
fn secrets_and_ids_come_from_crypto_not_math_random() {
    // With `Math.random` stuck at 0, anything made from it would be all 'A's, every time.
    let math = js_sys::Reflect::get(&js_sys::global(), &"Math".into()).expect("Math");
    let original = js_sys::Reflect::get(&math, &"random".into()).expect("Math.random");
    let stuck = js_sys::Function::new_no_args("return 0;");
    js_sys::Reflect::set(&math, &"random".into(), &stuck).expect("replaced");
    let secrets = [web::new_secret(), web::new_secret()];
    let ids = [web::new_id(), web::new_id()];
    let bytes = web::random_bytes(64);
    js_sys::Reflect::set(&math, &"random".into(), &original).expect("restored");

    let [a, b] = secrets.map(|s| s.expect("the browser has crypto"));
    assert_ne!(a, b);
    assert_ne!(a, "A".repeat(32));
    assert_ne!(ids[0], ids[1]);
    assert_eq!(ids[0].len(), 21);
    let bytes = bytes.expect("the browser has crypto");
    assert_eq!(bytes.len(), 64);
    assert!(bytes.iter().any(|b| *b != 0));
}

#[wasm_bindgen_test]
fn what_was_typed_in_the_skeleton_moves_into_the_apps_composer_with_the_focus() {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let parent = container();
    parent.set_inner_html(
        "<div id=\"skeleton\"><form class=\"composer\"><textarea></textarea></form></div>",
    );
    let early: web_sys::HtmlTextAreaElement = document
        .query_selector("#skeleton .composer textarea")
        .expect("query")
        .expect("the skeleton's composer")
        .dyn_into()
        .expect("a textarea");
    early.set_value("typed while loading");
    early.focus().expect("focused");
    let draft = web::take_early_draft(&document).expect("a draft");
    assert_eq!(
        draft,
        web::EarlyDraft {
            target: ".composer textarea",
            text: "typed while loading".into(),
            focused: true
        }
    );

    // The app takes the skeleton's place; its composer hears the text as typed input.
    parent.set_inner_html(
        "<form class=\"composer\"><textarea oninput=\"this.dataset.heard = this.value\"></textarea></form>",
    );
    web::carry_early_draft(&document, &draft);
    let area: web_sys::HtmlTextAreaElement = document
        .query_selector(".composer textarea")
        .expect("query")
        .expect("the app's composer")
        .dyn_into()
        .expect("a textarea");
    assert_eq!(area.value(), "typed while loading");
    assert_eq!(
        area.get_attribute("data-heard").as_deref(),
        Some("typed while loading")
    );
    let active = document.active_element().expect("something has the focus");
    assert!(
        active == *AsRef::<web_sys::Element>::as_ref(&area),
        "the focus moved"
    );
}

#[wasm_bindgen_test]
fn on_a_first_visit_the_name_typed_in_the_skeleton_moves_into_the_join_prompt() {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("a document");
    let parent = container();
    parent.set_inner_html(
        "<div id=\"skeleton\" class=\"newcomer\">\
           <form class=\"composer\"><textarea></textarea></form>\
           <form class=\"composer join-prompt\"><input></form></div>",
    );
    let early: web_sys::HtmlInputElement = document
        .query_selector("#skeleton .join-prompt input")
        .expect("query")
        .expect("the skeleton's name field")
        .dyn_into()
        .expect("an input");
    early.set_value("zoë");
    let draft = web::take_early_draft(&document).expect("a draft");
    assert_eq!(
        draft,
        web::EarlyDraft {
            target: ".join-prompt input",
            text: "zoë".into(),
            focused: false
        }
    );
    parent.set_inner_html("<form class=\"composer join-prompt\"><input></form>");
    web::carry_early_draft(&document, &draft);
    let field: web_sys::HtmlInputElement = document
        .query_selector(".join-prompt input")
        .expect("query")
        .expect("the app's name field")
        .dyn_into()
        .expect("an input");
    assert_eq!(field.value(), "zoë");
}

/// What shows at first is in the page as soon as it is built, not a microtask later: the app is
/// whole when it mounts (the skeleton's draft finds the composer).
#[wasm_bindgen_test]
fn what_shows_at_first_is_in_the_page_at_once() {
    use web::dom::El;
    // Effects run on the browser's microtask queue, as in the app.
    let _ = any_spawner::Executor::init_wasm_bindgen();
    let parent = El::new("div")
        .shown_child(El::new("p").text("shown"), || true)
        .shown_child(El::new("p").text("hidden"), || false);
    assert_eq!(parent.0.text_content().as_deref(), Some("shown"));
}
