//! The web client in real headless Chromium against the real stack, as a person uses it.
//! Helpers are split like Leptos's own e2e fixtures: `find` (locating things), `action` (doing
//! things), `check` (waiting until something holds).

mod actions;
mod fixtures;
mod scenarios;
