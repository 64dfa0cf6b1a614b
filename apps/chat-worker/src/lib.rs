//! The edge-chat Worker: routes `/api/*` requests, checks them at the edge (room name, upgrade,
//! Origin), answers health and history directly from Redis, and hands each room's WebSockets to
//! its [`ChatRoom`] Durable Object.

mod chat_room;
mod fetch_store;

pub use chat_room::ChatRoom;

use fetch_store::Store;
use protocol::http::{Route, messages_query, origin_allowed, route};
use serde_json::json;
use worker::{Context, Env, Request, Response, Result, event};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let url = req.url()?;
    match route(url.path()) {
        Route::Health => health(&env).await,
        Route::RoomSocket(room) => room_socket(req, &env, room).await,
        Route::RoomMessages(room) => room_messages(&env, room, url.query()).await,
        Route::BadRoom(invalid) => json_error(400, &invalid.0),
        Route::ApiNotFound => json_error(404, "no such API endpoint"),
        Route::Other => not_api(req, &env).await,
    }
}

/// 200 when Redis answers through the REST API, 503 otherwise.
async fn health(env: &Env) -> Result<Response> {
    match Store::from_env(env).ping().await {
        Ok(()) => Response::from_json(&json!({"status": "ok"})),
        Err(err) => Ok(Response::from_json(
            &json!({"status": "unavailable", "error": err.to_string()}),
        )?
        .with_status(503)),
    }
}

async fn room_socket(req: Request, env: &Env, room: &str) -> Result<Response> {
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
    let allowed = env
        .var("ALLOWED_ORIGINS")
        .map(|v| v.to_string())
        .unwrap_or_default();
    let origin = req.headers().get("Origin")?;
    if !origin_allowed(origin.as_deref(), &host, &allowed) {
        return json_error(403, "this origin may not open chat connections");
    }
    let stub = env.durable_object("ROOM")?.id_from_name(room)?.get_stub()?;
    stub.fetch_with_request(req).await
}

async fn room_messages(env: &Env, room: &str, query: Option<&str>) -> Result<Response> {
    let query = match messages_query(query) {
        Ok(query) => query,
        Err(invalid) => return json_error(400, &invalid.0),
    };
    match Store::from_env(env)
        .history(room, query.before, query.limit)
        .await
    {
        Ok(page) => Response::from_json(&page),
        Err(err) => json_error(503, &err.to_string()),
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
