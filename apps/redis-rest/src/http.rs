//! The HTTP surface: authentication, routing of Upstash's three request styles (JSON command,
//! pipeline, multi-exec) plus path-style commands, body limits, and status codes.

use crate::command::{self, Command, CommandError};
use crate::reply::{self, Encoding};
use crate::store::{Store, Unavailable};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use percent_encoding::percent_decode_str;
use serde_json::{Value as Json, json};
use std::sync::Arc;
use std::time::Duration;

/// What the server needs to know; the binary fills it from flags and environment variables.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where Redis listens, as a `redis://` URL.
    pub redis_url: String,
    /// The bearer token clients must present.
    pub token: String,
    /// Request bodies larger than this are refused with 413.
    pub max_body_bytes: usize,
    /// How long one request may wait for Redis before it is answered with 503.
    pub redis_timeout: Duration,
}

impl Config {
    /// Upstash's own request size limit on its free tier is 1 MiB; we default to the same.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// How long a request waits for Redis by default.
    pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_secs(10);

    /// A configuration for `redis_url` and `token` with the default limits.
    pub fn new(redis_url: &str, token: &str) -> Self {
        Self {
            redis_url: redis_url.to_owned(),
            token: token.to_owned(),
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            redis_timeout: Self::DEFAULT_REDIS_TIMEOUT,
        }
    }
}

#[derive(Debug)]
struct AppState {
    store: Store,
    token: String,
    max_body_bytes: usize,
}

/// The whole application as an axum router, for `serve` and for tests.
pub fn router(config: Config) -> anyhow::Result<Router> {
    let store = Store::new(&config.redis_url, config.redis_timeout)?;
    let state = Arc::new(AppState {
        store,
        token: config.token,
        max_body_bytes: config.max_body_bytes,
    });
    Ok(Router::new().fallback(handle).with_state(state))
}

/// Every request goes through here: one function makes the order of checks explicit
/// (CORS preflight, auth, method, size, parse, run).
async fn handle(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let asked = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned();
    let response = respond(&state, request).await;
    tracing::debug!(%method, %path, status = response.status().as_u16(), "request");
    with_cors(response, asked)
}

async fn respond(state: &AppState, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if parts.method == Method::OPTIONS {
        // Browsers send a preflight before Upstash-style requests; answering it lets the SDKs
        // run in a page during local development too.
        return StatusCode::NO_CONTENT.into_response();
    }
    if !authorized(&parts.headers, parts.uri.query(), &state.token) {
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let encoding = match parts.headers.get("upstash-encoding") {
        Some(v) if v.as_bytes().eq_ignore_ascii_case(b"base64") => Encoding::Base64,
        _ => Encoding::Plain,
    };
    let path = parts.uri.path();
    let route = match (&parts.method, path) {
        (&Method::POST, "/") => Route::Single,
        (&Method::POST, "/pipeline") => Route::Pipeline,
        (&Method::POST, "/multi-exec") => Route::MultiExec,
        (_, "/pipeline" | "/multi-exec") => return method_not_allowed("POST"),
        (&Method::GET | &Method::POST, _) => Route::Path,
        _ => return method_not_allowed("GET, POST"),
    };
    let body = match read_body(body, &parts.headers, state.max_body_bytes).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    match route {
        Route::Single => match command::parse_single(&body) {
            Ok(command) => single(state, command, encoding).await,
            Err(err) => bad_request(&err),
        },
        Route::Path => {
            let segments = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| percent_decode_str(s).collect::<Vec<u8>>())
                .collect::<Vec<_>>();
            let body = (!body.is_empty()).then(|| body.to_vec());
            match command::from_path(segments, body) {
                Ok(command) => single(state, command, encoding).await,
                Err(err) => bad_request(&err),
            }
        }
        Route::Pipeline => match command::parse_batch(&body) {
            Ok(commands) => pipeline(state, &commands, encoding).await,
            Err(err) => bad_request(&err),
        },
        Route::MultiExec => match command::parse_batch(&body) {
            Ok(commands) => multi_exec(state, commands, encoding).await,
            Err(err) => bad_request(&err),
        },
    }
}

enum Route {
    Single,
    Path,
    Pipeline,
    MultiExec,
}

async fn single(state: &AppState, command: Command, encoding: Encoding) -> Response {
    match state.store.run(&[command]).await {
        Ok(mut values) => match values.pop() {
            Some(redis::Value::ServerError(err)) => {
                error(StatusCode::BAD_REQUEST, &reply::error_text(&err))
            }
            Some(value) => json_response(StatusCode::OK, reply::entry(&value, encoding)),
            None => unavailable(&Unavailable::from("redis sent no reply")),
        },
        Err(err) => unavailable(&err),
    }
}

async fn pipeline(state: &AppState, commands: &[Command], encoding: Encoding) -> Response {
    match state.store.run(commands).await {
        Ok(values) => json_response(
            StatusCode::OK,
            Json::Array(values.iter().map(|v| reply::entry(v, encoding)).collect()),
        ),
        Err(err) => unavailable(&err),
    }
}

async fn multi_exec(state: &AppState, commands: Vec<Command>, encoding: Encoding) -> Response {
    let count = commands.len();
    let mut transaction = Vec::with_capacity(count + 2);
    transaction.push(vec![b"MULTI".to_vec()]);
    transaction.extend(commands);
    transaction.push(vec![b"EXEC".to_vec()]);
    let replies = match state.store.run(&transaction).await {
        Ok(replies) => replies,
        Err(err) => return unavailable(&err),
    };
    // Replies are: OK for MULTI, QUEUED (or an error) per command, then EXEC's array. A command
    // Redis refused at queue time makes EXEC fail with EXECABORT; the whole transaction is then
    // rejected, naming the first refusal as Upstash does.
    match replies.last() {
        Some(redis::Value::Array(results)) if results.len() == count => json_response(
            StatusCode::OK,
            Json::Array(results.iter().map(|v| reply::entry(v, encoding)).collect()),
        ),
        Some(redis::Value::ServerError(exec_err)) => {
            let queued = replies.get(1..replies.len() - 1).unwrap_or(&[]);
            let first_refusal = queued.iter().find_map(|v| match v {
                redis::Value::ServerError(err) => Some(reply::error_text(err)),
                _ => None,
            });
            let message = match first_refusal {
                Some(refusal) => format!("{}: {refusal}", reply::error_text(exec_err)),
                None => reply::error_text(exec_err),
            };
            error(StatusCode::BAD_REQUEST, &message)
        }
        other => unavailable(&Unavailable::from(format!(
            "unexpected EXEC reply: {other:?}"
        ))),
    }
}

/// Reads the whole body, refusing with 413 as soon as it is known to exceed the limit.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("ERR request body larger than {limit} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(err) => Err(error(
            StatusCode::BAD_REQUEST,
            &format!("ERR could not read the request body: {err}"),
        )),
    }
}

/// Accepts `Authorization: Bearer TOKEN` or `?_token=TOKEN`, comparing in constant time.
fn authorized(headers: &HeaderMap, query: Option<&str>, token: &str) -> bool {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|v| v.trim().to_owned());
    let from_query = query.and_then(|q| {
        q.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == "_token").then(|| percent_decode_str(value).decode_utf8_lossy().into_owned())
        })
    });
    from_header
        .into_iter()
        .chain(from_query)
        .any(|given| constant_time_eq(given.as_bytes(), token.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn json_response(status: StatusCode, body: Json) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    json_response(status, json!({ "error": message }))
}

fn bad_request(err: &CommandError) -> Response {
    error(StatusCode::BAD_REQUEST, &err.to_string())
}

fn unavailable(err: &Unavailable) -> Response {
    tracing::warn!(%err, "answering 503");
    error(StatusCode::SERVICE_UNAVAILABLE, &err.to_string())
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "ERR method not allowed");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Lets pages on any origin call the server, as Upstash does; the token still guards access.
/// A preflight gets back exactly the headers it asked for (`asked`): Upstash's SDK adds
/// `upstash-sync-token` and telemetry headers from its second request on, and a fixed list would
/// make every one of those fail in a browser.
fn with_cors(mut response: Response, asked: Option<HeaderValue>) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked.unwrap_or(HeaderValue::from_static(
            "authorization, content-type, upstash-encoding, upstash-sync-token",
        )),
    );
    headers.insert(
        header::VARY,
        HeaderValue::from_static("access-control-request-headers"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    response
}
