//! The edge-chat web client. `client` holds the state and decides what to send; this crate only
//! wires it to the browser: `transport` (WebSocket, timers, online/visibility events),
//! `storage` (localStorage), `components` (the views, built with `dom` on Leptos's reactive
//! graph), `format` (times and days).

pub mod components;
pub mod dom;
pub mod format;
pub mod notify;
pub mod storage;
pub mod transport;

/// Mounts the app on `<body>`.
pub fn start() {
    // Effects run as tasks on the browser's microtask queue.
    let _ = any_spawner::Executor::init_wasm_bindgen();
    // Every signal and effect of the page belongs to this owner, which lives as long as the page.
    let owner = reactive_graph::owner::Owner::new();
    owner.set();
    std::mem::forget(owner);
    let document = leptos_dom::helpers::document();
    // index.html shows a skeleton of the chat until now, whose composer already takes typing:
    // what was typed there, and the focus, move into the app's composer.
    let draft = take_early_draft(&document);
    if let Some(skeleton) = document.get_element_by_id("skeleton") {
        skeleton.remove();
    }
    if let Some(body) = document.body() {
        let _ = body.append_child(&components::app());
    }
    if let Some(draft) = draft {
        carry_early_draft(&document, &draft);
    }
}

/// What was typed into the skeleton's footer before the app ran (its composer, or on a first
/// visit its name field), whether it had the focus, and where it goes in the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlyDraft {
    /// The app's field that takes it.
    pub target: &'static str,
    pub text: String,
    pub focused: bool,
}

/// Each field of the skeleton that takes typing, and the app's field it goes to. The skeleton
/// shows one of them, as the app will: the prompt to join on a first visit (`newcomer`).
const EARLY_FIELDS: [(&str, &str); 2] = [
    (
        "#skeleton.newcomer .join-prompt input",
        ".join-prompt input",
    ),
    (
        "#skeleton:not(.newcomer) .composer textarea",
        ".composer textarea",
    ),
];

/// Reads the skeleton's field that shows, if the page has one.
pub fn take_early_draft(document: &web_sys::Document) -> Option<EarlyDraft> {
    EARLY_FIELDS.iter().find_map(|(skeleton, target)| {
        let field = document.query_selector(skeleton).ok().flatten()?;
        let focused = document
            .active_element()
            .is_some_and(|active| active == field);
        Some(EarlyDraft {
            target,
            text: dom::value_of(&field),
            focused,
        })
    })
}

/// Puts `draft` into the app's field, as if it had been typed there (an `input` event, which
/// the field's view listens to), and gives it the focus if the skeleton's had it. Nothing
/// happens if the app shows another field (a stored name that turned out invalid).
pub fn carry_early_draft(document: &web_sys::Document, draft: &EarlyDraft) {
    use wasm_bindgen::JsCast;
    let Some(field) = document.query_selector(draft.target).ok().flatten() else {
        return;
    };
    if !draft.text.is_empty() {
        if let Some(input) = field.dyn_ref::<web_sys::HtmlInputElement>() {
            input.set_value(&draft.text);
        } else if let Some(area) = field.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            area.set_value(&draft.text);
        }
        if let Ok(input) = web_sys::Event::new("input") {
            let _ = field.dispatch_event(&input);
        }
    }
    if draft.focused
        && let Some(field) = field.dyn_ref::<web_sys::HtmlElement>()
    {
        let _ = field.focus();
    }
}

/// Milliseconds since the epoch, from the browser's clock.
pub fn now() -> i64 {
    js_sys::Date::now() as i64
}

/// The browser has no `crypto.getRandomValues` (or it refused), so no secret can be made.
/// Every browser that runs WebAssembly has it, in secure and insecure contexts alike, so this
/// is a refusal to continue rather than something to work around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoSecureRandom;

impl std::fmt::Display for NoSecureRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("this browser cannot make random numbers fit for a secret")
    }
}

/// `len` random bytes from the browser's cryptographic generator (`crypto.getRandomValues`,
/// at most 65 536 bytes per call).
pub fn random_bytes(len: usize) -> Result<Vec<u8>, NoSecureRandom> {
    let crypto = web_sys::window()
        .and_then(|w| w.crypto().ok())
        .ok_or(NoSecureRandom)?;
    let mut bytes = vec![0; len];
    crypto
        .get_random_values_with_u8_array(&mut bytes)
        .map_err(|_| NoSecureRandom)?;
    Ok(bytes)
}

/// A fresh `client_id`: 21 characters of `A-Za-z0-9_-` (126 random bits). It only has to be
/// unique, not unguessable, so should the browser's crypto fail, `Math.random` will do rather
/// than losing the message.
pub fn new_id() -> String {
    const LEN: usize = 21;
    let bytes = random_bytes(LEN).unwrap_or_else(|NoSecureRandom| {
        (0..LEN)
            .map(|_| (js_sys::Math::random() * 256.0) as u8)
            .collect()
    });
    client::make_id(&bytes)
}

/// A fresh secret: 32 characters of `A-Za-z0-9_-` (192 random bits; 256 is a multiple of 64,
/// so every character is uniform). Whoever guesses it speaks as this user, so there is no
/// fallback to a weaker generator.
pub fn new_secret() -> Result<String, NoSecureRandom> {
    Ok(client::make_id(&random_bytes(32)?))
}
