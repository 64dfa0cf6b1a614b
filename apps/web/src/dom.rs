//! A small DOM builder on web-sys, with bindings that Leptos's reactive graph keeps up to date.
//!
//! The views build elements with [`El`] and bind the parts that change ([`text`], [`attr`],
//! [`shown`]) to closures that read signals. Every binding goes through one effect type,
//! [`watch`], with the closure boxed: typed view trees (Leptos's `view!`) compile each element
//! and each reactive closure into code of its own, and for this client that was 64 KB of the
//! 117 KB it shipped (docs/BENCHMARKS.md, "The web client's size").

use leptos_dom::helpers::document;
use reactive_graph::effect::Effect;
use reactive_graph::prelude::*;
use reactive_graph::signal::RwSignal;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue, UnwrapThrowExt};
use web_sys::{Element, Event, Node};

/// An element under construction. Every method returns it, so a view reads top to bottom.
#[derive(Debug, Clone)]
pub struct El(pub Element);

impl El {
    /// A new `<tag>`. Tag names are static strings in this crate, which the browser accepts.
    pub fn new(tag: &str) -> Self {
        Self(document().create_element(tag).unwrap_throw())
    }

    /// `<tag class="class">`.
    pub fn with_class(tag: &str, class: &str) -> Self {
        Self::new(tag).attr("class", class)
    }

    pub fn attr(self, name: &str, value: &str) -> Self {
        let _ = self.0.set_attribute(name, value);
        self
    }

    /// Appends `text` as a text node: never parsed as HTML.
    pub fn text(self, text: &str) -> Self {
        let _ = self.0.append_with_str_1(text);
        self
    }

    pub fn child(self, child: &Node) -> Self {
        let _ = self.0.append_child(child);
        self
    }

    /// Appends a child element built in place.
    pub fn push(self, child: El) -> Self {
        self.child(&child.0)
    }

    /// Calls `handler` on each `event`. The handler is never detached, so this is for elements
    /// that live as long as the page; rows, which come and go, share one delegated listener on
    /// their list instead. (The name picker's two handlers outlive its form, once per visit.)
    ///
    /// This and the other generic helpers only box their closure and call one shared function,
    /// so each call site costs a few bytes of wasm, not a copy of the listener code.
    pub fn on(self, event: &str, handler: impl FnMut(Event) + 'static) -> Self {
        self.on_boxed(event, Box::new(handler))
    }

    fn on_boxed(self, event: &str, handler: Box<dyn FnMut(Event)>) -> Self {
        let closure = Closure::wrap(handler);
        let _ = self
            .0
            .add_event_listener_with_callback(event, closure.as_ref().unchecked_ref());
        closure.forget();
        self
    }

    /// Binds the element's text to `value` (see [`text`]).
    pub fn bind_text(self, value: impl Fn() -> String + 'static) -> Self {
        text(&self.0, Box::new(value));
        self
    }

    /// Binds one attribute to `value` (see [`attr`]).
    pub fn bind_attr(
        self,
        name: &'static str,
        value: impl Fn() -> Option<String> + 'static,
    ) -> Self {
        attr(&self.0, name, Box::new(value));
        self
    }

    /// Appends `child`, present only while `when` is true (see [`shown`]).
    pub fn shown_child(self, child: El, when: impl Fn() -> bool + 'static) -> Self {
        shown(&self.0, child.0, Box::new(when));
        self
    }

    pub fn into_node(self) -> Node {
        self.0.into()
    }
}

/// Runs `effect` once soon and again whenever a signal it read changes. The one effect type
/// every binding shares, so the reactive machinery is compiled once.
pub fn watch(effect: impl FnMut() + 'static) {
    watch_boxed(Box::new(effect));
}

fn watch_boxed(mut effect: Box<dyn FnMut()>) {
    Effect::new(move |_: Option<()>| effect());
}

/// Keeps the text of `element` equal to `value()`, writing the DOM only when it changes.
pub fn text(element: &Element, value: Box<dyn Fn() -> String>) {
    let element = element.clone();
    let mut shown: Option<String> = None;
    watch_boxed(Box::new(move || {
        let now = value();
        if shown.as_ref() != Some(&now) {
            element.set_text_content(Some(&now));
            shown = Some(now);
        }
    }));
}

/// Keeps attribute `name` of `element` equal to `value()`; `None` removes it.
pub fn attr(element: &Element, name: &'static str, value: Box<dyn Fn() -> Option<String>>) {
    let element = element.clone();
    let mut shown: Option<Option<String>> = None;
    watch_boxed(Box::new(move || {
        let now = value();
        if shown.as_ref() != Some(&now) {
            let _ = match &now {
                Some(v) => element.set_attribute(name, v),
                None => element.remove_attribute(name),
            };
            shown = Some(now);
        }
    }));
}

/// Puts `child` at the current end of `parent` while `when()` is true and takes it out of the
/// document while it is false (not merely hidden, so that it is not found or read out). A
/// comment marks its place. What shows at first is put in at once, not when the effect first
/// runs (a microtask later): the page is whole when it mounts, so nothing moves, and the
/// skeleton's draft finds the composer to go into.
pub fn shown(parent: &Element, child: Element, when: Box<dyn Fn() -> bool>) {
    let marker: Node = document().create_comment("").into();
    let mut present = when();
    if present {
        let _ = parent.append_child(&child);
    }
    let _ = parent.append_child(&marker);
    watch_boxed(Box::new(move || {
        let now = when();
        if now != present {
            if now {
                if let Some(parent) = marker.parent_node() {
                    let _ = parent.insert_before(&child, Some(&marker));
                }
            } else {
                child.remove();
            }
            present = now;
        }
    }));
}

/// Focuses the first element `selector` finds in the document, if any.
pub fn focus(selector: &str) {
    let found = document().query_selector(selector).ok().flatten();
    if let Some(element) = found.and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok()) {
        let _ = element.focus();
    }
}

/// The value of the `<input>` or `<textarea>` an event came from.
pub fn event_value(event: &Event) -> String {
    event
        .target()
        .map(|target| value_of(&target))
        .unwrap_or_default()
}

/// The value of an `<input>` or `<textarea>`; empty for anything else.
pub fn value_of(element: &JsValue) -> String {
    if let Some(input) = element.dyn_ref::<web_sys::HtmlInputElement>() {
        input.value()
    } else if let Some(area) = element.dyn_ref::<web_sys::HtmlTextAreaElement>() {
        area.value()
    } else {
        String::new()
    }
}

/// A reactive on/off. It is an `i64` signal underneath because each signal type compiles the
/// reactive graph's machinery again (about 0.5 KB gzip), and the transport's clock has compiled
/// it for `i64` already.
#[derive(Debug, Clone, Copy)]
pub struct Flag(RwSignal<i64>);

impl Flag {
    pub fn new(on: bool) -> Self {
        Self(RwSignal::new(i64::from(on)))
    }

    /// Whether it is on; an effect that asks runs again when it changes.
    pub fn get(self) -> bool {
        self.0.get() != 0
    }

    /// Whether it is on, without making the asking effect depend on it.
    pub fn get_untracked(self) -> bool {
        self.0.get_untracked() != 0
    }

    pub fn set(self, on: bool) {
        self.0.set(i64::from(on));
    }

    pub fn toggle(self) {
        self.set(!self.get_untracked());
    }
}
