//! Rendering Redis replies as Upstash's JSON: `{"result": …}` or `{"error": …}`, with strings
//! optionally base64-encoded (`Upstash-Encoding: base64`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use redis::{ServerError, Value};
use serde_json::{Value as Json, json};

/// How strings in results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Plain JSON strings (invalid UTF-8 is replaced, as Upstash does without base64).
    Plain,
    /// Every string base64-encoded, except a command's own status reply `OK`, which Upstash
    /// sends verbatim. An `OK` nested in an array is encoded like any other string: Upstash's
    /// TypeScript SDK base64-decodes every string item of an array, so a verbatim `OK` there
    /// would read as `8`.
    Base64,
}

/// One command's outcome as an entry of a response: `{"result": …}` or `{"error": …}`.
pub fn entry(value: &Value, encoding: Encoding) -> Json {
    match value {
        Value::ServerError(err) => json!({ "error": error_text(err) }),
        // Upstash's SDKs keep a top-level "OK" as it is and decode every other top-level string,
        // so the command's own status is the one string left unencoded.
        Value::Okay => json!({ "result": "OK" }),
        other => json!({ "result": result(other, encoding) }),
    }
}

/// The text Redis sent for an error, such as `WRONGTYPE Operation against a key…`.
pub fn error_text(err: &ServerError) -> String {
    match err.details() {
        Some(details) => format!("{} {details}", err.code()),
        None => err.code().to_owned(),
    }
}

fn result(value: &Value, encoding: Encoding) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Int(n) => json!(n),
        // Only nested statuses get here (`entry` answers a top-level one); they are strings like
        // any other.
        Value::Okay => string(b"OK", encoding),
        Value::BulkString(bytes) => string(bytes, encoding),
        Value::SimpleString(s) => string(s.as_bytes(), encoding),
        Value::VerbatimString { text, .. } => string(text.as_bytes(), encoding),
        Value::Array(items) | Value::Set(items) => {
            Json::Array(items.iter().map(|v| result(v, encoding)).collect())
        }
        // Upstash speaks RESP2, where maps arrive as flat key/value arrays; keep that shape.
        Value::Map(pairs) => Json::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [result(k, encoding), result(v, encoding)])
                .collect(),
        ),
        Value::Attribute { data, .. } => result(data, encoding),
        Value::Double(d) => string(d.to_string().as_bytes(), encoding),
        Value::Boolean(b) => json!(i64::from(*b)),
        Value::BigNumber(digits) => string(digits, encoding),
        Value::Push { data, .. } => Json::Array(data.iter().map(|v| result(v, encoding)).collect()),
        // An error nested inside a result (an EXEC entry inside a script's reply, say).
        Value::ServerError(err) => Json::String(error_text(err)),
        // `Value` is non-exhaustive; a reply kind added by a future redis crate is shown rather
        // than dropped.
        other => Json::String(format!("{other:?}")),
    }
}

fn string(bytes: &[u8], encoding: Encoding) -> Json {
    match encoding {
        Encoding::Plain => Json::String(String::from_utf8_lossy(bytes).into_owned()),
        Encoding::Base64 => Json::String(STANDARD.encode(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_base64_results() {
        let value = Value::Array(vec![
            Value::BulkString(b"hello".to_vec()),
            Value::Int(3),
            Value::Nil,
            Value::Okay,
            Value::SimpleString("PONG".to_owned()),
        ]);
        assert_eq!(
            entry(&value, Encoding::Plain),
            json!({"result": ["hello", 3, null, "OK", "PONG"]})
        );
        assert_eq!(
            entry(&value, Encoding::Base64),
            json!({"result": ["aGVsbG8=", 3, null, "T0s=", "UE9ORw=="]})
        );
    }

    #[test]
    fn a_top_level_status_ok_is_never_encoded() {
        assert_eq!(
            entry(&Value::Okay, Encoding::Base64),
            json!({"result": "OK"})
        );
    }

    #[test]
    fn a_nested_status_ok_is_encoded_at_any_depth() {
        let value = Value::Array(vec![Value::Okay, Value::Array(vec![Value::Okay])]);
        assert_eq!(
            entry(&value, Encoding::Base64),
            json!({"result": ["T0s=", ["T0s="]]})
        );
        assert_eq!(
            entry(&value, Encoding::Plain),
            json!({"result": ["OK", ["OK"]]})
        );
    }
}
