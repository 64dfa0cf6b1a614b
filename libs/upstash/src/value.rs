//! Values in Upstash's JSON replies, decoded from base64.

use crate::Error;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value as Json;

/// A decoded Redis reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Redis's nil (a missing key, say).
    Nil,
    /// An integer reply (counts, ranks, booleans).
    Int(i64),
    /// A string reply as bytes; `OK` status replies are `Bytes(b"OK")`.
    Bytes(Vec<u8>),
    /// An array reply.
    Array(Vec<Value>),
}

impl Value {
    /// Decodes a `result` from a base64-encoded response. `"OK"` is the one string Upstash does
    /// not encode (it is not valid base64 either, so nothing else can be mistaken for it).
    pub(crate) fn from_base64_json(json: &Json) -> Result<Self, Error> {
        Ok(match json {
            Json::Null => Value::Nil,
            Json::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Bytes(n.to_string().into_bytes()),
            },
            Json::String(s) if s == "OK" => Value::Bytes(b"OK".to_vec()),
            Json::String(s) => Value::Bytes(
                STANDARD
                    .decode(s)
                    .map_err(|e| Error::Protocol(format!("bad base64 {s:?}: {e}")))?,
            ),
            Json::Bool(b) => Value::Int(i64::from(*b)),
            Json::Array(items) => Value::Array(
                items
                    .iter()
                    .map(Value::from_base64_json)
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(_) => return Err(Error::Protocol(format!("unexpected object {json}"))),
        })
    }

    /// The integer of an integer reply.
    pub fn into_int(self) -> Result<i64, Error> {
        match self {
            Value::Int(i) => Ok(i),
            other => Err(Error::Protocol(format!(
                "expected an integer, got {other:?}"
            ))),
        }
    }

    /// The items of an array reply, each a string.
    pub fn into_bytes_list(self) -> Result<Vec<Vec<u8>>, Error> {
        match self {
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Bytes(bytes) => Ok(bytes),
                    other => Err(Error::Protocol(format!("expected a string, got {other:?}"))),
                })
                .collect(),
            other => Err(Error::Protocol(format!("expected an array, got {other:?}"))),
        }
    }

    /// The text of a string reply that must be UTF-8.
    pub fn into_string(self) -> Result<String, Error> {
        match self {
            Value::Bytes(bytes) => String::from_utf8(bytes)
                .map_err(|e| Error::Protocol(format!("reply is not UTF-8: {e}"))),
            other => Err(Error::Protocol(format!("expected a string, got {other:?}"))),
        }
    }
}
