//! The edge-chat Worker: routes `/api/*` requests, checks them at the edge (configuration, room
//! name, upgrade, Origin, per-address rates), answers health from the isolate, the store's
//! health (cached) and history directly from Redis, and hands each room's WebSockets to its
//! [`ChatRoom`] Durable Object.

mod chat_room;
mod fetch_store;
mod log;

pub use chat_room::ChatRoom;

use fetch_store::Store;
use protocol::http::{Route, address_key, messages_query, origin_allowed, route};
use room::{HEALTH_CACHE_MS, HealthCache, HealthCheck, KeyedLimiter, RateLimit, StoreFailure};
use serde_json::json;
use std::cell::RefCell;
use worker::{Context, Env, Request, Response, Result, event};

/// Addresses each limiter remembers; past that, the least recently seen is forgotten.
const LIMITER_KEYS: usize = 10_000;

thread_local! {
    // One isolate runs one request at a time on one thread, so these need no locking. They are
    // per isolate: a determined client spread over many colos gets more, but a loop from one
    // place is held back, and rooms cap connections per address on their own. Made on first use
    // with the configured rates.
    static SOCKETS: RefCell<Option<KeyedLimiter>> = const { RefCell::new(None) };
    static HISTORY: RefCell<Option<KeyedLimiter>> = const { RefCell::new(None) };
    // The store's last answer to a health check: each check is a billed Upstash command, so a
    // loop of them costs at most one per isolate per HEALTH_CACHE_MS.
    static STORE_HEALTH: RefCell<HealthCache> = RefCell::new(HealthCache::new(HEALTH_CACHE_MS));
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    let route = route(url.path());
    if route == Route::Other {
        return not_api(req, &env).await;
    }
    let config = match chat_room::config_from_env(&env) {
        Ok(config) => config,
        Err(err) => {
            worker::console_error!("refusing to run: {err}");
            return json_error(500, &format!("the chat is misconfigured: {err}"));
        }
    };
    match route {
        Route::Health => health(&Store::new(&config)),
        Route::StoreHealth => {
            // Shares the history pages' bucket: both are HTTP requests that may cost a command.
            let limit = (&HISTORY, config.room.http_history_rate);
            if let Some(refusal) = limited(limit, &req, "store requests")? {
                return Ok(refusal);
            }
            store_health(&Store::new(&config)).await
        }
        Route::RoomSocket(room) => {
            let limit = (&SOCKETS, config.room.socket_rate);
            if let Some(refusal) = limited(limit, &req, "new connections")? {
                return Ok(refusal);
            }
            room_socket(req, &env, room, &config.allowed_origins).await
        }
        Route::RoomMessages(room) => {
            let limit = (&HISTORY, config.room.http_history_rate);
            if let Some(refusal) = limited(limit, &req, "history requests")? {
                return Ok(refusal);
            }
            room_messages(&Store::new(&config), room, url.query()).await
        }
        Route::RoomHealth(room) => {
            // Wakes the room's Durable Object: limited like the history pages.
            let limit = (&HISTORY, config.room.http_history_rate);
            if let Some(refusal) = limited(limit, &req, "room health checks")? {
                return Ok(refusal);
            }
            let stub = env.durable_object("ROOM")?.id_from_name(room)?.get_stub()?;
            stub.fetch_with_request(req).await
        }
        Route::BadRoom(invalid) => json_error(400, &invalid.0),
        Route::ApiNotFound => json_error(404, "no such API endpoint"),
        Route::Other => not_api(req, &env).await,
    }
}

/// The isolate's limiter of one kind and the rate it is made with.
type Limit = (
    &'static std::thread::LocalKey<RefCell<Option<KeyedLimiter>>>,
    RateLimit,
);

/// A 429 when the request's address is over the limiter's rate.
fn limited((limiter, rate): Limit, req: &Request, what: &str) -> Result<Option<Response>> {
    // IPv6 counts by its /64 and a request without the header shares one key with every other
    // such request (`address_key` says why), the same keys the rooms cap connections by.
    let key = address_key(req.headers().get("CF-Connecting-IP")?.as_deref());
    let taken = limiter.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| KeyedLimiter::new(rate, LIMITER_KEYS))
            .take(&key, chat_room::now())
    });
    match taken {
        Ok(()) => Ok(None),
        Err(retry_after_ms) => {
            let seconds = retry_after_ms.div_ceil(1000).max(1);
            let response = json_error(429, &format!("too many {what}; retry in {seconds} s"))?;
            response
                .headers()
                .set("Retry-After", &seconds.to_string())?;
            Ok(Some(response))
        }
    }
}

/// Liveness: 200 when the Worker runs with a valid configuration (the variables were checked
/// before routing; here, that the store's URL and token are set). It asks the store nothing, so
/// it costs no quota however often anyone calls it.
fn health(store: &Store) -> Result<Response> {
    match store.configured() {
        Ok(()) => Response::from_json(&json!({"status": "ok"})),
        Err(reason) => {
            worker::console_error!("refusing to run: {reason}");
            json_error(500, &format!("the chat is misconfigured: {reason}"))
        }
    }
}

/// The store's health: 200 when Redis answers a PING through the REST API, 503 otherwise (the
/// detail goes to the log). The answer is reused for [`HEALTH_CACHE_MS`] per isolate.
async fn store_health(store: &Store) -> Result<Response> {
    let check = STORE_HEALTH.with(|cache| cache.borrow_mut().check(chat_room::now()));
    let result = match check {
        HealthCheck::Cached(result) => result,
        HealthCheck::Ask => {
            // No borrow of the cache across the await: other requests read it meanwhile.
            let result = store.ping().await;
            if let Err(err) = &result {
                worker::console_warn!("store health: {err}");
            }
            STORE_HEALTH.with(|cache| cache.borrow_mut().record(chat_room::now(), result.clone()));
            result
        }
    };
    match result {
        Ok(()) => Response::from_json(&json!({"status": "ok"})),
        Err(err) => Ok(Response::from_json(
            &json!({"status": "unavailable", "error": public(&err)}),
        )?
        .with_status(503)),
    }
}

/// What a client is told about a store failure: a fixed text per kind, never the detail.
fn public(failure: &StoreFailure) -> &'static str {
    match failure {
        StoreFailure::Unavailable(_) => "the message store is unavailable; retry shortly",
        StoreFailure::Refused(_) => "the message store refused the request",
    }
}

async fn room_socket(req: Request, env: &Env, room: &str, allowed: &str) -> Result<Response> {
    let upgrade = req.headers().get("Upgrade")?;
    if !upgrade.is_some_and(|u| u.eq_ignore_ascii_case("websocket")) {
        return json_error(
            426,
            "this endpoint speaks WebSocket: send Upgrade: websocket",
        );
    }
    let host = req
        .url()?
        .host_str()
        .map(|h| match req.url().ok().and_then(|u| u.port()) {
            Some(port) => format!("{h}:{port}"),
            None => h.to_owned(),
        });
    let host = req.headers().get("Host")?.or(host).unwrap_or_default();
    let origin = req.headers().get("Origin")?;
    if !origin_allowed(origin.as_deref(), &host, allowed) {
        return json_error(403, "this origin may not open chat connections");
    }
    let stub = env.durable_object("ROOM")?.id_from_name(room)?.get_stub()?;
    stub.fetch_with_request(req).await
}

async fn room_messages(store: &Store, room: &str, query: Option<&str>) -> Result<Response> {
    let query = match messages_query(query) {
        Ok(query) => query,
        Err(invalid) => return json_error(400, &invalid.0),
    };
    match store.history(room, query.before, query.limit).await {
        Ok(page) => Response::from_json(&page),
        Err(err) => {
            worker::console_warn!("room {room}: history over HTTP failed: {err}");
            json_error(503, public(&err))
        }
    }
}

/// Everything outside `/api/` is the web client's static files, served by the assets binding
/// when one is configured.
async fn not_api(req: Request, env: &Env) -> Result<Response> {
    match env.assets("ASSETS") {
        Ok(assets) => assets.fetch_request(req).await,
        Err(_) => json_error(404, "not found"),
    }
}

fn json_error(status: u16, message: &str) -> Result<Response> {
    Ok(Response::from_json(&json!({"error": message}))?.with_status(status))
}
