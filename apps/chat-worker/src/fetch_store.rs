//! The room's store over Upstash's REST API, with `worker::Fetch` as the transport.

use protocol::{HistoryPage, Message};
use room::store::WriteOutcome;
use room::{Batch, StoreFailure, store};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
use upstash::{Client, HttpRequest, HttpResponse, Transport};
use worker::{Delay, Env, Fetch, Headers, Method, Request, RequestInit};

/// How long one request to the store may take before it counts as unavailable, unless the
/// Worker variable `STORE_TIMEOUT_MS` says otherwise (tests shorten it).
const STORE_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends Upstash requests with the Workers runtime's `fetch`, giving up after `timeout`.
#[derive(Debug, Clone, Copy)]
pub struct FetchTransport {
    timeout: Duration,
}

impl Transport for FetchTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        match race(send(request), Delay::from(self.timeout)).await {
            Some(result) => result,
            None => Err(format!("no response within {:?}", self.timeout)),
        }
    }
}

async fn send(request: HttpRequest) -> Result<HttpResponse, String> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers
            .set(name, value)
            .map_err(|e| format!("bad header {name}: {e}"))?;
    }
    let init = RequestInit {
        method: Method::Post,
        headers,
        body: Some(request.body.into()),
        ..Default::default()
    };
    let outgoing =
        Request::new_with_init(&request.url, &init).map_err(|e| format!("bad request: {e}"))?;
    let mut response = Fetch::Request(outgoing)
        .send()
        .await
        .map_err(|e| format!("fetch failed: {e}"))?;
    let status = response.status_code();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("reading the response failed: {e}"))?;
    Ok(HttpResponse { status, body })
}

/// Runs `work` until it finishes or `timeout` fires first (`None`).
async fn race<T>(work: impl Future<Output = T>, timeout: impl Future<Output = ()>) -> Option<T> {
    let mut work = pin!(work);
    let mut timeout = pin!(timeout);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(value) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(value));
        }
        if timeout.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}

/// The chat's view of Redis: a client when configured, or the reason it is not.
#[derive(Debug, Clone)]
pub struct Store {
    client: Result<Client<FetchTransport>, String>,
}

impl Store {
    /// Reads `UPSTASH_REDIS_REST_URL` (a variable) and `UPSTASH_REDIS_REST_TOKEN` (a secret;
    /// a variable is accepted too, for local `--var` use).
    pub fn from_env(env: &Env) -> Self {
        let url = env.var("UPSTASH_REDIS_REST_URL").map(|v| v.to_string());
        let token = env
            .secret("UPSTASH_REDIS_REST_TOKEN")
            .or_else(|_| env.var("UPSTASH_REDIS_REST_TOKEN"))
            .map(|v| v.to_string());
        let timeout = env
            .var("STORE_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.to_string().trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map_or(STORE_TIMEOUT, Duration::from_millis);
        let transport = FetchTransport { timeout };
        let client = match (url, token) {
            (Ok(url), Ok(token)) if !url.is_empty() && !token.is_empty() => {
                Ok(Client::new(&url, &token, transport))
            }
            (Err(_), _) | (Ok(_), Ok(_)) => {
                Err("UPSTASH_REDIS_REST_URL is not configured".to_owned())
            }
            (_, Err(_)) => Err("the UPSTASH_REDIS_REST_TOKEN secret is not configured".to_owned()),
        };
        Self { client }
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

    /// Stores a batch with the write script: deduped, fenced and trimmed atomically in Redis.
    pub async fn write(
        &self,
        batch: &Batch,
        history_limit: usize,
    ) -> Result<WriteOutcome, StoreFailure> {
        let reply = self
            .client()?
            .command(&store::write_command(batch, history_limit))
            .await
            .map_err(failure)?;
        store::parse_write_reply(reply, batch.messages.len())
            .map_err(|e| StoreFailure::Refused(e.to_string()))
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
