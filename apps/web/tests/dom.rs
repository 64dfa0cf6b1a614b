//! DOM behaviour in headless Chromium (wasm-bindgen-test): text is rendered as text, bad
//! rooms and names get clear messages, the outbox survives in localStorage.

#![cfg(target_arch = "wasm32")]
// Browser test code: a missing document or element is a failed test, and `expect` says which.
#![allow(clippy::expect_used)]

use leptos::prelude::*;
use protocol::Message;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web::components::{BadRoom, MessageRow, NamePicker, room_from_path};

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
    let row = client::Row::Message {
        message: Message {
            seq: 1,
            client_id: "client-0001".into(),
            user_id: "user-00001".into(),
            name: "<b>mallory</b>".into(),
            text: text.into(),
            ts: 0,
        },
        own: false,
        first_in_group: true,
    };
    let clock = RwSignal::new(0);
    let _handle = leptos::mount::mount_to(parent.clone(), move || {
        view! { <MessageRow row=row.clone() clock=clock/> }
    });
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
    let problem = room_from_path("/r/Not A Room").expect_err("refused");
    assert!(problem.contains("not a valid room name"), "{problem}");
    assert_eq!(room_from_path("/"), Ok("lobby".to_owned()));
    assert_eq!(room_from_path("/r/team-7/"), Ok("team-7".to_owned()));
    let parent = container();
    let _handle = leptos::mount::mount_to(parent.clone(), move || {
        view! { <BadRoom problem=problem.clone()/> }
    });
    let text = parent.text_content().unwrap_or_default();
    assert!(
        text.contains("No such room") && text.contains("not a valid room name"),
        "{text}"
    );
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
    let name = RwSignal::new(None::<String>);
    let _handle =
        leptos::mount::mount_to(parent.clone(), move || view! { <NamePicker name=name/> });
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
    assert_eq!(name.get_untracked(), None);
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
    assert_eq!(name.get_untracked().as_deref(), Some("zoë"));
    assert_eq!(web::storage::name().as_deref(), Some("zoë"));
}

#[wasm_bindgen_test]
fn the_outbox_survives_in_local_storage() {
    let mut outbox = client::Outbox::default();
    outbox.add("kept-msg-001".into(), "typed while offline".into(), 1);
    web::storage::save_outbox("dom-test", &outbox);
    let restored = web::storage::outbox("dom-test");
    assert_eq!(restored.entries().len(), 1);
    assert_eq!(restored.entries()[0].text, "typed while offline");
    web::storage::save_outbox("dom-test", &client::Outbox::default());
    assert!(web::storage::outbox("dom-test").is_empty());
}
