//! Turning request JSON into Redis commands, and refusing the commands that cannot work over
//! stateless HTTP on a shared connection.

use serde_json::Value as Json;

/// One Redis command: its name and arguments as bytes, exactly as they will be sent.
pub type Command = Vec<Vec<u8>>;

/// Why a request's commands were refused before anything reached Redis.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CommandError {
    #[error("ERR the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("ERR a command must be a JSON array of strings, numbers or booleans")]
    NotAnArray,
    #[error("ERR the request body must be a JSON array of commands (each an array)")]
    NotABatch,
    #[error("ERR empty command")]
    Empty,
    #[error("ERR empty batch: send at least one command")]
    EmptyBatch,
    #[error(
        "ERR argument {index} of the command is {kind}: arguments must be strings, numbers or booleans"
    )]
    BadArgument { index: usize, kind: &'static str },
    #[error("ERR {0} is not supported over the REST API: {1}")]
    Unsupported(String, &'static str),
}

/// Parses a body holding one command, `["SET","k","v"]`.
pub fn parse_single(body: &[u8]) -> Result<Command, CommandError> {
    let json: Json =
        serde_json::from_slice(body).map_err(|e| CommandError::InvalidJson(e.to_string()))?;
    from_json(&json)
}

/// Parses a body holding several commands, `[["SET","k","v"],["GET","k"]]`.
pub fn parse_batch(body: &[u8]) -> Result<Vec<Command>, CommandError> {
    let json: Json =
        serde_json::from_slice(body).map_err(|e| CommandError::InvalidJson(e.to_string()))?;
    let Json::Array(items) = json else {
        return Err(CommandError::NotABatch);
    };
    if items.is_empty() {
        return Err(CommandError::EmptyBatch);
    }
    items
        .iter()
        .map(|item| match item {
            Json::Array(_) => from_json(item),
            _ => Err(CommandError::NotABatch),
        })
        .collect()
}

/// Builds a command from path segments (`/set/k/v`), already percent-decoded, and an optional
/// POST body appended as the last argument.
pub fn from_path(segments: Vec<Vec<u8>>, body: Option<Vec<u8>>) -> Result<Command, CommandError> {
    let mut command = segments;
    command.extend(body);
    check(command)
}

fn from_json(json: &Json) -> Result<Command, CommandError> {
    let Json::Array(items) = json else {
        return Err(CommandError::NotAnArray);
    };
    let command = items
        .iter()
        .enumerate()
        .map(|(index, item)| match item {
            Json::String(s) => Ok(s.as_bytes().to_vec()),
            // serde_json prints numbers as they were written (integers without a decimal point),
            // which is what Redis expects for scores, counts and offsets.
            Json::Number(n) => Ok(n.to_string().into_bytes()),
            Json::Bool(b) => Ok(b.to_string().into_bytes()),
            Json::Null => Err(CommandError::BadArgument {
                index,
                kind: "null",
            }),
            Json::Array(_) => Err(CommandError::BadArgument {
                index,
                kind: "an array",
            }),
            Json::Object(_) => Err(CommandError::BadArgument {
                index,
                kind: "an object",
            }),
        })
        .collect::<Result<Vec<_>, _>>()?;
    check(command)
}

/// Refuses commands that need a connection of their own or would change the state of the
/// connection every request shares.
fn check(command: Command) -> Result<Command, CommandError> {
    let Some(name) = command.first() else {
        return Err(CommandError::Empty);
    };
    let upper = String::from_utf8_lossy(name).to_ascii_uppercase();
    if upper.is_empty() {
        return Err(CommandError::Empty);
    }
    let reason = match upper.as_str() {
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BLMPOP" | "BZPOPMIN" | "BZPOPMAX"
        | "BZMPOP" | "WAIT" | "WAITAOF" => {
            Some("blocking commands would hold the shared connection")
        }
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE"
        | "SUNSUBSCRIBE" | "MONITOR" | "SYNC" | "PSYNC" => {
            Some("it needs a long-lived connection of its own")
        }
        "MULTI" | "EXEC" | "WATCH" | "UNWATCH" | "DISCARD" => {
            Some("send the commands to /multi-exec to run them atomically")
        }
        "SELECT" | "SWAPDB" | "QUIT" | "RESET" | "HELLO" | "AUTH" => {
            Some("it would change the connection that every request shares")
        }
        "CLIENT" => command.get(1).and_then(|sub| {
            let sub = String::from_utf8_lossy(sub).to_ascii_uppercase();
            matches!(
                sub.as_str(),
                "REPLY" | "TRACKING" | "CACHING" | "PAUSE" | "KILL" | "SETNAME"
            )
            .then_some("it would change the connection that every request shares")
        }),
        "XREAD" | "XREADGROUP" => command
            .iter()
            .skip(1)
            .any(|arg| arg.eq_ignore_ascii_case(b"BLOCK"))
            .then_some("blocking commands would hold the shared connection"),
        _ => None,
    };
    match reason {
        Some(reason) => Err(CommandError::Unsupported(upper, reason)),
        None => Ok(command),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(command: &Command) -> Vec<String> {
        command
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn arguments_may_be_strings_numbers_or_booleans() {
        let command = parse_single(br#"["ZADD","k",1.5,"m",true,-3]"#).unwrap();
        assert_eq!(strings(&command), ["ZADD", "k", "1.5", "m", "true", "-3"]);
    }

    #[test]
    fn other_json_is_refused_with_the_offending_argument() {
        let check = |body: &str, expected: CommandError| {
            assert_eq!(parse_single(body.as_bytes()), Err(expected), "{body}");
        };
        check(
            r#"["SET","k",null]"#,
            CommandError::BadArgument {
                index: 2,
                kind: "null",
            },
        );
        check(
            r#"["SET",{"a":1}]"#,
            CommandError::BadArgument {
                index: 1,
                kind: "an object",
            },
        );
        check(r#"{"cmd":"GET"}"#, CommandError::NotAnArray);
        check("[]", CommandError::Empty);
        check(r#"[""]"#, CommandError::Empty);
        assert!(matches!(
            parse_single(b"[\"GET\""),
            Err(CommandError::InvalidJson(_))
        ));
    }

    #[test]
    fn batches_are_arrays_of_commands() {
        assert_eq!(parse_batch(br#"[["PING"],["GET","k"]]"#).unwrap().len(), 2);
        assert_eq!(
            parse_batch(br#"["PING"]"#),
            Err(CommandError::NotABatch),
            "a flat array is one command, not a batch"
        );
        assert_eq!(parse_batch(b"[]"), Err(CommandError::EmptyBatch));
    }

    #[test]
    fn stateful_and_blocking_commands_are_refused() {
        for refused in [
            r#"["blpop","q",0]"#,
            r#"["SUBSCRIBE","c"]"#,
            r#"["psubscribe","c*"]"#,
            r#"["MONITOR"]"#,
            r#"["MULTI"]"#,
            r#"["exec"]"#,
            r#"["WATCH","k"]"#,
            r#"["DISCARD"]"#,
            r#"["SELECT",1]"#,
            r#"["QUIT"]"#,
            r#"["HELLO",3]"#,
            r#"["CLIENT","REPLY","OFF"]"#,
            r#"["XREAD","BLOCK",0,"STREAMS","s","$"]"#,
        ] {
            assert!(
                matches!(
                    parse_single(refused.as_bytes()),
                    Err(CommandError::Unsupported(..))
                ),
                "{refused} should be refused"
            );
        }
        for allowed in [
            r#"["CLIENT","LIST"]"#,
            r#"["XREAD","STREAMS","s","0"]"#,
            r#"["ZRANGE","k",0,-1]"#,
        ] {
            assert!(parse_single(allowed.as_bytes()).is_ok(), "{allowed}");
        }
    }

    #[test]
    fn path_commands_take_the_body_as_last_argument() {
        let command = from_path(
            vec![b"SET".to_vec(), b"k".to_vec()],
            Some(b"v a l".to_vec()),
        )
        .unwrap();
        assert_eq!(strings(&command), ["SET", "k", "v a l"]);
    }
}
