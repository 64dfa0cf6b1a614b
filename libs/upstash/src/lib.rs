//! A typed client for Upstash's Redis REST API, independent of the HTTP transport.
//!
//! Requests are built and responses parsed here as plain data ([`HttpRequest`],
//! [`HttpResponse`]); a [`Transport`] carries them. The `native` feature brings a transport over
//! hyper for programs and tests; the Worker implements [`Transport`] over `worker::Fetch`.
//!
//! Every request asks for `Upstash-Encoding: base64`, so values that are not valid UTF-8 (or that
//! would otherwise be mangled in JSON) arrive intact, and are decoded here.

mod client;
mod command;
mod value;

#[cfg(feature = "native")]
pub mod native;

pub use client::{Client, HttpRequest, HttpResponse, Transport};
pub use command::{Bound, Command, ZRangeByScore};
pub use value::Value;

/// Everything that can go wrong talking to the store, split by what the caller should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Redis received the command and refused it (`WRONGTYPE …`, `ERR syntax error`, an
    /// aborted transaction). Retrying the same command will fail the same way.
    #[error("redis refused the command: {0}")]
    Redis(String),
    /// The store could not be asked or did not answer: network failure, timeout, 5xx, or Redis
    /// down behind the REST front. Retrying later may succeed.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The REST front refused the token: a configuration error, not an outage.
    #[error("the store refused the token (check UPSTASH_REDIS_REST_TOKEN)")]
    Unauthorized,
    /// The answer did not have the shape Upstash's API promises, or not the type the command
    /// returns.
    #[error("unexpected reply from the store: {0}")]
    Protocol(String),
}

impl Error {
    /// Whether trying again later may succeed (the store was unreachable, not unwilling).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Unavailable(_))
    }
}

/// One entry of a pipeline or transaction: its value, or the error Redis gave for it alone.
pub type EntryResult = Result<Value, String>;
