//! The room's store over Upstash's REST API, with `worker::Fetch` as the transport.

use protocol::{HistoryPage, Message};
use room::{Config, StoreFailure, store};
use std::time::Duration;
use upstash::{Client, HttpRequest, HttpResponse, Transport};
use worker::js_sys;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys;

/// Sends Upstash requests with the Workers runtime's `fetch`, giving up after `timeout`.
///
/// It calls the runtime directly rather than through workers-rs's `Fetch`: that one reads every
/// response body as a stream (a reader, a `read` per chunk, `releaseLock`, microtasks) and races
/// a JS timer closure, and in a quiet room, where each message is one write, those calls across
/// the wasm boundary were the largest part of the isolate's time per message
/// (docs/BENCHMARKS.md). Here the timeout is the runtime's own `AbortSignal.timeout`, which
/// also covers reading the body, and the body comes back whole with `arrayBuffer()`.
#[derive(Debug, Clone, Copy)]
pub struct FetchTransport {
    timeout: Duration,
}

impl Transport for FetchTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let timeout_ms = u32::try_from(self.timeout.as_millis()).unwrap_or(u32::MAX);
        send(request, timeout_ms).await.map_err(|err| {
            if err.name == "TimeoutError" {
                format!("no response within {timeout_ms} ms")
            } else {
                err.to_string()
            }
        })
    }
}

/// A failed step of a fetch, with the name of the JS error when there was one (`TimeoutError`
/// when the signal fired).
#[derive(Debug)]
struct FetchError {
    step: &'static str,
    name: String,
    message: String,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}: {}", self.step, self.name, self.message)
    }
}

/// Wraps a JS exception from `step`.
fn js_error(step: &'static str) -> impl Fn(JsValue) -> FetchError {
    move |value| match value.dyn_ref::<js_sys::Error>() {
        Some(err) => FetchError {
            step,
            name: err.name().into(),
            message: err.message().into(),
        },
        None => FetchError {
            step,
            name: String::new(),
            message: format!("{value:?}"),
        },
    }
}

async fn send(request: HttpRequest, timeout_ms: u32) -> Result<HttpResponse, FetchError> {
    let headers = web_sys::Headers::new().map_err(js_error("making headers"))?;
    for (name, value) in &request.headers {
        headers
            .set(name, value)
            .map_err(js_error("setting a header"))?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(&request.body));
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(timeout_ms)));
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: web_sys::Response =
        JsFuture::from(scope.fetch_with_str_and_init(&request.url, &init))
            .await
            .map_err(js_error("fetch"))?
            .unchecked_into();
    let status = response.status();
    let body = response
        .array_buffer()
        .map_err(js_error("reading the response"))?;
    let body = JsFuture::from(body)
        .await
        .map_err(js_error("reading the response"))?;
    Ok(HttpResponse {
        status,
        body: js_sys::Uint8Array::new(&body).to_vec(),
    })
}

/// The chat's view of Redis: a client when configured, or the reason it is not.
#[derive(Debug, Clone)]
pub struct Store {
    client: Result<Client<FetchTransport>, String>,
}

impl Store {
    /// A client for the store `config` names, with its request timeout (`STORE_TIMEOUT_MS`),
    /// or the reason there is none (the URL or the token is missing).
    pub fn new(config: &Config) -> Self {
        let transport = FetchTransport {
            timeout: Duration::from_millis(config.room.store_timeout_ms),
        };
        let client = match &config.store {
            Ok(access) => Ok(Client::new(&access.url, &access.token, transport)),
            Err(missing) => Err((*missing).to_owned()),
        };
        Self { client }
    }

    /// Whether the URL and token are set, or which one is missing; asks the store nothing.
    pub fn configured(&self) -> Result<(), &str> {
        self.client.as_ref().map(|_| ()).map_err(String::as_str)
    }

    fn client(&self) -> Result<&Client<FetchTransport>, StoreFailure> {
        // Not configured is an operator's matter: retrying will not help.
        self.client
            .as_ref()
            .map_err(|reason| StoreFailure::Refused(reason.clone()))
    }

    pub async fn ping(&self) -> Result<(), StoreFailure> {
        self.client()?.ping().await.map_err(failure)
    }

    /// Mirrors committed `rows` (ascending) of `room` to Redis; idempotent (see
    /// `room::mirror::MIRROR_SCRIPT`). Returns how many Redis did not have yet.
    pub async fn mirror(
        &self,
        room: &str,
        rows: &[room::mirror::MirrorRow],
        history_limit: usize,
    ) -> Result<i64, StoreFailure> {
        let reply = self
            .client()?
            .command(&room::mirror::mirror_command(room, rows, history_limit))
            .await
            .map_err(failure)?;
        room::mirror::parse_mirror_reply(&reply).ok_or_else(|| {
            StoreFailure::Refused(format!("unexpected reply to the mirror script: {reply:?}"))
        })
    }

    /// The newest `count` messages, ascending.
    pub async fn tail(&self, room: &str, count: usize) -> Result<Vec<Message>, StoreFailure> {
        let members = self
            .client()?
            .zrange_by_score(&store::key(room), &store::tail_query(count))
            .await
            .map_err(failure)?;
        Ok(store::parse_newest_first(members))
    }

    /// Up to `limit` messages before `before`, ascending, and whether older ones exist.
    pub async fn history(
        &self,
        room: &str,
        before: i64,
        limit: u32,
    ) -> Result<HistoryPage, StoreFailure> {
        let members = self
            .client()?
            .zrange_by_score(&store::key(room), &store::history_query(before, limit))
            .await
            .map_err(failure)?;
        Ok(store::history_page(members, limit))
    }
}

/// Splits store errors by what the room should do: retry later, or tell clients it will not work.
fn failure(err: upstash::Error) -> StoreFailure {
    if err.is_transient() {
        StoreFailure::Unavailable(err.to_string())
    } else {
        StoreFailure::Refused(err.to_string())
    }
}
