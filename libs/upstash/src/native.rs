//! A [`Transport`] over hyper for native programs and tests (plain HTTP: the local REST front).

use crate::client::{HttpRequest, HttpResponse, Transport};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Sends requests with a pooled hyper client, each bounded by a timeout.
#[derive(Debug, Clone)]
pub struct NativeTransport {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl NativeTransport {
    /// A transport whose requests fail as unavailable after `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    async fn send_inner(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let mut builder = hyper::Request::post(&request.url);
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(request.body)))
            .map_err(|e| format!("bad request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reading the response failed: {e}"))?
            .to_bytes()
            .to_vec();
        Ok(HttpResponse { status, body })
    }
}

impl Transport for NativeTransport {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        match tokio::time::timeout(self.timeout, self.send_inner(request)).await {
            Ok(result) => result,
            Err(_) => Err(format!("no response within {:?}", self.timeout)),
        }
    }
}
