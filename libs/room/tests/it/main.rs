//! The room core driven like quinn-proto's tests: a harness of fake clients, a fake store and a
//! fake clock, with tests that read as stories (join, send, advance time, check what each got).

mod actions;
mod hardening;
mod harness;
mod properties;
mod stories;
