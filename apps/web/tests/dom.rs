//! DOM behaviour in headless Chromium (wasm-bindgen-test): text is rendered as text, bad
//! rooms and names get clear messages, the outbox survives in localStorage, the secret comes
//! from the browser's crypto and is kept.

#![cfg(target_arch = "wasm32")]
// Browser test code: a missing document or element is a failed test, and `expect` says which.
#![allow(clippy::expect_used)]

use protocol::Message;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web::components::{bad_room, message_row, name_picker, room_from_path};

wasm_bindgen_test_configure!(run_in_browser);

/// Lets the reactive system apply pending updates to the DOM (its effects run as tasks).
async fn settle() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 10);
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

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

#[wasm_bindgen_test]
fn message_text_is_text_never_html() {
    let parent = container();
    let text = "<script>alert(1)</script><img src=x onerror=alert(2)> https://example.com";
    let message = Message {
        seq: 1,
        client_id: "client-0001".into(),
        user_id: "user-00001".into(),
        name: "<b>mallory</b>".into(),
        text: text.into(),
        ts: 0,
    };
    let row = client::Row::Message {
        message: &message,
        own: false,
        first_in_group: true,
    };
    parent
        .append_child(&message_row(&row, 0))
        .expect("appended");
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
async fn the_name_picker_refuses_a_blank_name() {
    let parent = container();
    let name = Rc::new(RefCell::new(None::<String>));
    let chosen = name.clone();
    parent
        .append_child(&name_picker(Box::new(move |valid| {
            *chosen.borrow_mut() = Some(valid);
            None
        })))
        .expect("appended");
    let form: web_sys::HtmlFormElement = parent
        .query_selector("form")
        .expect("query")
        .expect("a form")
        .unchecked_into();
    let input: web_sys::HtmlInputElement = parent
        .query_selector("input")
        .expect("query")
        .expect("an input")
        .unchecked_into();
    // Spaces pass the browser's `required` check; our validation trims and refuses them.
    input.set_value("   ");
    input
        .dispatch_event(&web_sys::Event::new("input").expect("event"))
        .expect("dispatched");
    form.request_submit().expect("submitted");
    settle().await;
    assert_eq!(*name.borrow(), None);
    let problem = parent
        .query_selector(".problem")
        .expect("query")
        .and_then(|e| e.text_content())
        .unwrap_or_default();
    assert_eq!(problem, "the name is empty");

    input.set_value("  zoë ");
    input
        .dispatch_event(&web_sys::Event::new("input").expect("event"))
        .expect("dispatched");
    form.request_submit().expect("submitted");
    settle().await;
    assert_eq!(name.borrow().as_deref(), Some("zoë"));
    assert_eq!(web::storage::name().as_deref(), Some("zoë"));
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
