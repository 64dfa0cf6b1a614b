//! The client: requests as data, a [`Transport`] to carry them, and the parsing of Upstash's
//! replies into values and typed errors.

use crate::command::{Command, ZRangeByScore};
use crate::value::Value;
use crate::{EntryResult, Error};
use serde_json::Value as Json;
use std::future::Future;

/// An HTTP request to the REST API: always a JSON `POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The full URL, such as `https://…upstash.io/pipeline`.
    pub url: String,
    /// Header names (lower case) and values, `Authorization` included.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body.
    pub body: String,
}

/// What came back: the status code and the raw body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Carries one request to the store and brings back its response.
///
/// An `Err` means no HTTP response arrived at all (connection refused, timeout, DNS); it becomes
/// [`Error::Unavailable`]. The futures need not be `Send`, since the Worker's fetch is not.
pub trait Transport {
    fn send(&self, request: HttpRequest) -> impl Future<Output = Result<HttpResponse, String>>;
}

/// A client for one Upstash database.
#[derive(Debug, Clone)]
pub struct Client<T> {
    base_url: String,
    token: String,
    transport: T,
}

impl<T: Transport> Client<T> {
    /// A client for the database at `base_url` (`UPSTASH_REDIS_REST_URL`) with `token`
    /// (`UPSTASH_REDIS_REST_TOKEN`).
    pub fn new(base_url: &str, token: &str, transport: T) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            transport,
        }
    }

    /// Runs one command.
    pub async fn command(&self, command: &Command) -> Result<Value, Error> {
        let response = self.send("", json_body(command)?).await?;
        parse_single(&response)
    }

    /// Runs commands in one round trip, not atomically: each entry succeeds or fails alone.
    pub async fn pipeline(&self, commands: &[Command]) -> Result<Vec<EntryResult>, Error> {
        let response = self.send("/pipeline", json_body(commands)?).await?;
        parse_batch(&response, commands.len())
    }

    /// Runs commands atomically (MULTI/EXEC). A transaction Redis rejects as a whole is
    /// [`Error::Redis`]; otherwise each entry has its own result, as in a pipeline.
    pub async fn multi_exec(&self, commands: &[Command]) -> Result<Vec<EntryResult>, Error> {
        let response = self.send("/multi-exec", json_body(commands)?).await?;
        parse_batch(&response, commands.len())
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<(), Error> {
        match self.command(&Command::ping()).await? {
            Value::Bytes(pong) if pong == b"PONG" => Ok(()),
            other => Err(Error::Protocol(format!("PING answered {other:?}"))),
        }
    }

    /// `ZADD`: returns how many members were new.
    pub async fn zadd<'a>(
        &self,
        key: &str,
        entries: impl IntoIterator<Item = (i64, &'a str)>,
    ) -> Result<i64, Error> {
        self.command(&Command::zadd(key, entries)).await?.into_int()
    }

    /// `ZRANGE … BYSCORE`: the members in the range, in the query's order.
    pub async fn zrange_by_score(
        &self,
        key: &str,
        query: &ZRangeByScore,
    ) -> Result<Vec<Vec<u8>>, Error> {
        self.command(&Command::zrange_by_score(key, query))
            .await?
            .into_bytes_list()
    }

    /// `ZREMRANGEBYRANK`: returns how many members were removed.
    pub async fn zremrangebyrank(&self, key: &str, start: i64, stop: i64) -> Result<i64, Error> {
        self.command(&Command::zremrangebyrank(key, start, stop))
            .await?
            .into_int()
    }

    /// `ZCARD`: the number of members.
    pub async fn zcard(&self, key: &str) -> Result<i64, Error> {
        self.command(&Command::zcard(key)).await?.into_int()
    }

    /// The request for `path` with `body`, as the transport will send it.
    pub fn request(&self, path: &str, body: String) -> HttpRequest {
        HttpRequest {
            url: format!(
                "{}{}",
                self.base_url,
                if path.is_empty() { "/" } else { path }
            ),
            headers: vec![
                ("authorization", format!("Bearer {}", self.token)),
                ("content-type", "application/json".to_owned()),
                ("upstash-encoding", "base64".to_owned()),
            ],
            body,
        }
    }

    async fn send(&self, path: &str, body: String) -> Result<HttpResponse, Error> {
        self.transport
            .send(self.request(path, body))
            .await
            .map_err(Error::Unavailable)
    }
}

fn json_body<S: serde::Serialize + ?Sized>(value: &S) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|e| Error::Protocol(format!("cannot encode: {e}")))
}

/// Parses the reply to a single command.
pub(crate) fn parse_single(response: &HttpResponse) -> Result<Value, Error> {
    let json = checked_json(response)?;
    entry(&json)?.map_err(Error::Redis)
}

/// Parses the reply to a pipeline or transaction of `expected` commands.
pub(crate) fn parse_batch(
    response: &HttpResponse,
    expected: usize,
) -> Result<Vec<EntryResult>, Error> {
    let json = checked_json(response)?;
    let Json::Array(entries) = json else {
        return Err(Error::Protocol(format!("expected an array, got {json}")));
    };
    if entries.len() != expected {
        return Err(Error::Protocol(format!(
            "{} results for {expected} commands",
            entries.len()
        )));
    }
    entries.iter().map(entry).collect()
}

/// One `{"result": …}` or `{"error": …}` object.
fn entry(json: &Json) -> Result<EntryResult, Error> {
    if let Some(error) = json.get("error") {
        return Ok(Err(error.as_str().unwrap_or_default().to_owned()));
    }
    match json.get("result") {
        Some(result) => Ok(Ok(Value::from_base64_json(result)?)),
        None => Err(Error::Protocol(format!("no result or error in {json}"))),
    }
}

/// Maps the status code to an error, or returns the body of a 200 as JSON.
fn checked_json(response: &HttpResponse) -> Result<Json, Error> {
    let body = || {
        String::from_utf8_lossy(&response.body)
            .chars()
            .take(300)
            .collect::<String>()
    };
    let parsed = serde_json::from_slice::<Json>(&response.body);
    let error_text = || match &parsed {
        Ok(json) => json
            .get("error")
            .and_then(Json::as_str)
            .map_or_else(body, str::to_owned),
        Err(_) => body(),
    };
    match response.status {
        200 => parsed.map_err(|e| Error::Protocol(format!("body is not JSON ({e}): {}", body()))),
        400 => Err(Error::Redis(error_text())),
        401 | 403 => Err(Error::Unauthorized),
        // Rate limits and server-side failures pass; the caller may retry later.
        429 | 500..=599 => Err(Error::Unavailable(format!(
            "HTTP {}: {}",
            response.status,
            error_text()
        ))),
        status => Err(Error::Protocol(format!("HTTP {status}: {}", error_text()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn single_results_are_base64_decoded() {
        let check = |body: &str, expected: Value| {
            assert_eq!(parse_single(&response(200, body)), Ok(expected), "{body}");
        };
        check(r#"{"result":"OK"}"#, Value::Bytes(b"OK".to_vec()));
        check(
            r#"{"result":"aMOpbGxv"}"#,
            Value::Bytes("héllo".as_bytes().to_vec()),
        );
        check(r#"{"result":3}"#, Value::Int(3));
        check(r#"{"result":null}"#, Value::Nil);
        check(
            r#"{"result":["YQ==",null,2]}"#,
            Value::Array(vec![Value::Bytes(b"a".to_vec()), Value::Nil, Value::Int(2)]),
        );
    }

    #[test]
    fn statuses_map_to_typed_errors() {
        let check = |status: u16, body: &str, expected: Error| {
            assert_eq!(
                parse_single(&response(status, body)),
                Err(expected),
                "{status} {body}"
            );
        };
        check(
            400,
            r#"{"error":"WRONGTYPE x"}"#,
            Error::Redis("WRONGTYPE x".into()),
        );
        check(401, r#"{"error":"Unauthorized"}"#, Error::Unauthorized);
        check(
            503,
            r#"{"error":"redis is unavailable"}"#,
            Error::Unavailable("HTTP 503: redis is unavailable".into()),
        );
        check(
            502,
            "<html>bad gateway</html>",
            Error::Unavailable("HTTP 502: <html>bad gateway</html>".into()),
        );
        check(
            413,
            r#"{"error":"too big"}"#,
            Error::Protocol("HTTP 413: too big".into()),
        );
        assert!(matches!(
            parse_single(&response(200, r#"{"result":"not base64!"}"#)),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            parse_single(&response(200, "{}")),
            Err(Error::Protocol(_))
        ));
    }

    #[test]
    fn batches_keep_per_entry_errors_and_check_the_count() {
        let body = r#"[{"result":"OK"},{"error":"ERR nope"},{"result":1}]"#;
        assert_eq!(
            parse_batch(&response(200, body), 3),
            Ok(vec![
                Ok(Value::Bytes(b"OK".to_vec())),
                Err("ERR nope".to_owned()),
                Ok(Value::Int(1)),
            ])
        );
        assert!(matches!(
            parse_batch(&response(200, body), 2),
            Err(Error::Protocol(_))
        ));
        assert_eq!(
            parse_batch(&response(400, r#"{"error":"EXECABORT x"}"#), 2),
            Err(Error::Redis("EXECABORT x".into()))
        );
    }
}
