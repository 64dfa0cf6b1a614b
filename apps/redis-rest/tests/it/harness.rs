//! The harness: a real Redis, the server on a free port, and a small HTTP client that returns
//! status and JSON.

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value as Json;
use std::net::SocketAddr;
use testkit::TestRedis;

pub const TOKEN: &str = "test-token-123";

/// redis-rest running in this process, in front of `redis`, until dropped.
pub struct Server {
    pub addr: SocketAddr,
    pub redis: TestRedis,
    client: Client<HttpConnector, Full<Bytes>>,
    _running: redis_rest::Running,
}

/// What a test sends: method, path (with query), extra headers, body.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    pub auth: bool,
}

impl Req {
    pub fn post(path: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            method: "POST",
            path: path.to_owned(),
            headers: Vec::new(),
            body: body.into(),
            auth: true,
        }
    }

    pub fn get(path: &str) -> Self {
        Self {
            method: "GET",
            ..Self::post(path, Vec::new())
        }
    }

    pub fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((name, value.to_owned()));
        self
    }

    pub fn without_auth(mut self) -> Self {
        self.auth = false;
        self
    }
}

impl Server {
    /// A server with the default configuration in front of the environment's Redis.
    pub async fn start() -> Result<Self> {
        Self::with(
            TestRedis::start()?,
            redis_rest::Config::DEFAULT_MAX_BODY_BYTES,
        )
        .await
    }

    /// A server in front of `redis`, refusing bodies over `max_body_bytes`.
    pub async fn with(redis: TestRedis, max_body_bytes: usize) -> Result<Self> {
        let running = redis_rest::spawn(redis_rest::Config {
            max_body_bytes,
            ..redis_rest::Config::new(redis.url(), TOKEN)
        })
        .await?;
        Ok(Self {
            addr: running.addr,
            redis,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _running: running,
        })
    }

    /// Sends `req` and returns the status and the body parsed as JSON.
    pub async fn send(&self, req: Req) -> Result<(u16, Json)> {
        let (status, body) = self.send_raw(req).await?;
        let json = serde_json::from_slice(&body)
            .with_context(|| format!("body is not JSON: {}", String::from_utf8_lossy(&body)))?;
        Ok((status, json))
    }

    /// Sends `req` and returns the status and the raw body.
    pub async fn send_raw(&self, req: Req) -> Result<(u16, Vec<u8>)> {
        let (status, _, body) = self.send_with_headers(req).await?;
        Ok((status, body))
    }

    /// Sends `req` and returns the status, the response headers and the raw body.
    pub async fn send_with_headers(&self, req: Req) -> Result<(u16, hyper::HeaderMap, Vec<u8>)> {
        let mut builder = hyper::Request::builder()
            .method(req.method)
            .uri(format!("http://{}{}", self.addr, req.path));
        if req.auth {
            builder = builder.header("authorization", format!("Bearer {TOKEN}"));
        }
        for (name, value) in &req.headers {
            builder = builder.header(*name, value);
        }
        let request = builder.body(Full::new(Bytes::from(req.body)))?;
        let response = self.client.request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes().to_vec();
        Ok((status, headers, body))
    }

    /// Posts one JSON command and returns status and JSON.
    pub async fn command(&self, command: Json) -> Result<(u16, Json)> {
        self.send(Req::post("/", command.to_string())).await
    }
}
