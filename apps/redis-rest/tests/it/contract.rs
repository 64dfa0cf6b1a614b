//! The Upstash REST contract, bullet by bullet: JSON commands, pipeline, multi-exec, path style,
//! argument types, auth, base64, methods, body size and refused commands.

use crate::harness::{Req, Server};
use anyhow::Result;
use pretty_assertions::assert_eq;
use serde_json::json;
use testkit::{TestRedis, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_command_returns_result_and_redis_errors_are_400() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("k");
    assert_eq!(
        server.command(json!(["SET", key, "v"])).await?,
        (200, json!({"result": "OK"}))
    );
    assert_eq!(
        server.command(json!(["GET", key])).await?,
        (200, json!({"result": "v"}))
    );
    assert_eq!(
        server.command(json!(["HSET", key, "f", "v"])).await?,
        (
            400,
            json!({"error": "WRONGTYPE Operation against a key holding the wrong kind of value"})
        )
    );
    let (status, body) = server.command(json!(["NOSUCHCOMMAND"])).await?;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("ERR unknown command"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_set_commands_as_the_chat_uses_them() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("z");
    assert_eq!(
        server
            .command(json!(["ZADD", key, 1, "a", 2, "b", 3, "c"]))
            .await?,
        (200, json!({"result": 3}))
    );
    assert_eq!(
        server
            .command(json!([
                "ZRANGE", key, "(3", "-inf", "BYSCORE", "REV", "LIMIT", 0, 1
            ]))
            .await?,
        (200, json!({"result": ["b"]}))
    );
    assert_eq!(
        server
            .command(json!(["ZRANGE", key, 0, -1, "WITHSCORES"]))
            .await?,
        (200, json!({"result": ["a", "1", "b", "2", "c", "3"]}))
    );
    assert_eq!(
        server
            .command(json!(["ZREMRANGEBYRANK", key, 0, -3]))
            .await?,
        (200, json!({"result": 1}))
    );
    assert_eq!(
        server.command(json!(["ZCARD", key])).await?,
        (200, json!({"result": 2}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_answers_each_command_in_order() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("p");
    let body = json!([
        ["SET", key, 1],
        ["INCR", key],
        ["HSET", key, "f"],
        ["GET", key]
    ]);
    assert_eq!(
        server
            .send(Req::post("/pipeline", body.to_string()))
            .await?,
        (
            200,
            json!([
                {"result": "OK"},
                {"result": 2},
                {"error": "ERR wrong number of arguments for 'hset' command"},
                {"result": "2"}
            ])
        )
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_exec_runs_atomically_with_per_entry_results() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("m");
    let body = json!([
        ["SET", key, 1],
        ["INCR", key],
        ["HSET", key, "f", "v"],
        ["GET", key]
    ]);
    assert_eq!(
        server
            .send(Req::post("/multi-exec", body.to_string()))
            .await?,
        (
            200,
            json!([
                {"result": "OK"},
                {"result": 2},
                {"error": "WRONGTYPE Operation against a key holding the wrong kind of value"},
                {"result": "2"}
            ])
        )
    );

    // Twenty transactions of three INCRs race with each other over one shared connection; each
    // must see three consecutive values, which only holds if no other command ran in between.
    let counter = unique("counter");
    let body = json!([["INCR", counter], ["INCR", counter], ["INCR", counter]]).to_string();
    let mut tasks = Vec::new();
    let server = std::sync::Arc::new(server);
    for _ in 0..20 {
        let server = server.clone();
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            server.send(Req::post("/multi-exec", body)).await
        }));
    }
    let mut firsts = Vec::new();
    for task in tasks {
        let (status, entries) = task.await??;
        assert_eq!(status, 200);
        let values: Vec<i64> = entries
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["result"].as_i64())
            .collect();
        assert_eq!(values.len(), 3, "{entries}");
        assert_eq!(values[1], values[0] + 1, "{entries}");
        assert_eq!(values[2], values[0] + 2, "{entries}");
        firsts.push(values[0]);
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..20).map(|i| i * 3 + 1).collect::<Vec<_>>());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_exec_rejected_as_a_whole_is_one_400() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("x");
    let body = json!([["SET", key, 1], ["NOPE", key]]);
    let (status, response) = server
        .send(Req::post("/multi-exec", body.to_string()))
        .await?;
    assert_eq!(status, 400);
    let message = response["error"].as_str().unwrap_or_default();
    assert!(message.starts_with("EXECABORT"), "{response}");
    assert!(message.contains("unknown command 'NOPE'"), "{response}");
    // Nothing of the rejected transaction ran.
    assert_eq!(
        server.command(json!(["EXISTS", key])).await?,
        (200, json!({"result": 0}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_style_commands_decode_segments_and_append_the_body() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("path/key");
    let encoded = key.replace('/', "%2F");
    assert_eq!(
        server
            .send(Req::get(&format!("/set/{encoded}/a%20b")))
            .await?,
        (200, json!({"result": "OK"}))
    );
    assert_eq!(
        server.send(Req::get(&format!("/GET/{encoded}"))).await?,
        (200, json!({"result": "a b"}))
    );
    assert_eq!(
        server
            .send(Req::post(&format!("/set/{encoded}"), "from the body"))
            .await?,
        (200, json!({"result": "OK"}))
    );
    assert_eq!(
        server.command(json!(["GET", key])).await?,
        (200, json!({"result": "from the body"}))
    );
    let (status, body) = server.send(Req::get("/")).await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("ERR empty command"))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_are_strings_numbers_or_booleans_only() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("args");
    assert_eq!(
        server.command(json!(["SET", key, 12.5])).await?,
        (200, json!({"result": "OK"}))
    );
    assert_eq!(
        server.command(json!(["GET", key])).await?,
        (200, json!({"result": "12.5"}))
    );
    assert_eq!(
        server.command(json!(["SET", key, true])).await?,
        (200, json!({"result": "OK"}))
    );
    for (body, expected) in [
        (
            json!(["SET", key, null]),
            "ERR argument 2 of the command is null: arguments must be strings, numbers or booleans",
        ),
        (
            json!(["SET", key, {"a": 1}]),
            "ERR argument 2 of the command is an object: arguments must be strings, numbers or booleans",
        ),
        (
            json!(["SET", [1], "v"]),
            "ERR argument 1 of the command is an array: arguments must be strings, numbers or booleans",
        ),
        (
            json!({"command": "GET"}),
            "ERR a command must be a JSON array of strings, numbers or booleans",
        ),
    ] {
        assert_eq!(
            server.command(body.clone()).await?,
            (400, json!({"error": expected})),
            "{body}"
        );
    }
    let (status, body) = server.send(Req::post("/", "[\"GET\",")).await?;
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("ERR the request body is not valid JSON")),
        "{body}"
    );
    let (status, body) = server.send(Req::post("/pipeline", "[\"GET\"]")).await?;
    assert_eq!(status, 400, "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_by_header_or_query_token() -> Result<()> {
    let server = Server::start().await?;
    let unauthorized = (401, json!({"error": "Unauthorized"}));
    let ping = || Req::post("/", r#"["PING"]"#);
    assert_eq!(server.send(ping().without_auth()).await?, unauthorized);
    assert_eq!(
        server
            .send(
                ping()
                    .without_auth()
                    .header("authorization", "Bearer wrong")
            )
            .await?,
        unauthorized
    );
    assert_eq!(
        server
            .send(
                ping()
                    .without_auth()
                    .header("authorization", "Basic dGVzdA==")
            )
            .await?,
        unauthorized
    );
    assert_eq!(
        server
            .send(Req::post("/?_token=nope", r#"["PING"]"#).without_auth())
            .await?,
        unauthorized
    );
    assert_eq!(
        server
            .send(
                Req::post(
                    &format!("/?_token={}", crate::harness::TOKEN),
                    r#"["PING"]"#
                )
                .without_auth()
            )
            .await?,
        (200, json!({"result": "PONG"}))
    );
    assert_eq!(
        server
            .send(Req::get(&format!("/ping?_token={}", crate::harness::TOKEN)).without_auth())
            .await?,
        (200, json!({"result": "PONG"}))
    );
    assert_eq!(server.send(ping()).await?, (200, json!({"result": "PONG"})));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_encoding_encodes_every_string_but_ok() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("b64");
    let b64 = |req: Req| req.header("upstash-encoding", "base64");
    let cmd = |c: serde_json::Value| b64(Req::post("/", c.to_string()));
    assert_eq!(
        server.send(cmd(json!(["SET", key, "héllo"]))).await?,
        (200, json!({"result": "OK"}))
    );
    assert_eq!(
        server.send(cmd(json!(["GET", key]))).await?,
        (200, json!({"result": "aMOpbGxv"}))
    );
    // A stored value that happens to read "OK" is data, not the status reply: it is encoded.
    let ok_key = unique("ok");
    server.command(json!(["SET", ok_key, "OK"])).await?;
    assert_eq!(
        server.send(cmd(json!(["GET", ok_key]))).await?,
        (200, json!({"result": "T0s="}))
    );
    assert_eq!(
        server.send(cmd(json!(["PING"]))).await?,
        (200, json!({"result": "UE9ORw=="}))
    );
    let zkey = unique("bz");
    let body = json!([
        ["ZADD", zkey, 1, "a"],
        ["ZRANGE", zkey, 0, -1, "WITHSCORES"],
        ["GET", unique("none")]
    ]);
    assert_eq!(
        server
            .send(b64(Req::post("/pipeline", body.to_string())))
            .await?,
        (
            200,
            json!([{"result": 1}, {"result": ["YQ==", "MQ=="]}, {"result": null}])
        )
    );
    assert_eq!(
        server
            .send(b64(Req::post(
                "/multi-exec",
                json!([["SET", key, "x"], ["GET", key]]).to_string()
            )))
            .await?,
        (200, json!([{"result": "OK"}, {"result": "eA=="}]))
    );
    // Errors stay readable.
    assert_eq!(
        server.send(cmd(json!(["HSET", key, "f", "v"]))).await?,
        (
            400,
            json!({"error": "WRONGTYPE Operation against a key holding the wrong kind of value"})
        )
    );
    Ok(())
}

// Upstash leaves only a command's own `OK` status readable under base64. Upstash's TypeScript
// SDK keeps a top-level "OK" verbatim but base64-decodes every string item of an array, so a
// status nested in an array must arrive encoded ("T0s="); sent verbatim it decodes to "8".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_encodes_a_status_nested_in_an_array() -> Result<()> {
    let server = Server::start().await?;
    let key = unique("nested");
    let b64 = |req: Req| req.header("upstash-encoding", "base64");
    let nested = "return {redis.call('SET',KEYS[1],'v')}";
    let deeper = "return {{redis.call('SET',KEYS[1],'v')}, redis.call('PING')}";
    assert_eq!(
        server
            .send(b64(Req::post(
                "/",
                json!(["EVAL", nested, 1, key]).to_string()
            )))
            .await?,
        (200, json!({"result": ["T0s="]}))
    );
    assert_eq!(
        server
            .send(b64(Req::post(
                "/",
                json!(["EVAL", deeper, 1, key]).to_string()
            )))
            .await?,
        (200, json!({"result": [["T0s="], "UE9ORw=="]}))
    );
    // In a pipeline and a transaction each command's own status stays verbatim, as at top level,
    // while a status inside a command's array is encoded.
    let body = json!([["SET", key, "v"], ["EVAL", nested, 1, key]]);
    assert_eq!(
        server
            .send(b64(Req::post("/pipeline", body.to_string())))
            .await?,
        (200, json!([{"result": "OK"}, {"result": ["T0s="]}]))
    );
    assert_eq!(
        server
            .send(b64(Req::post("/multi-exec", body.to_string())))
            .await?,
        (200, json!([{"result": "OK"}, {"result": ["T0s="]}]))
    );
    // Without base64 the status is plain text wherever it sits.
    assert_eq!(
        server.command(json!(["EVAL", nested, 1, key])).await?,
        (200, json!({"result": ["OK"]}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_are_405() -> Result<()> {
    let server = Server::start().await?;
    for req in [
        Req::post("/", r#"["PING"]"#).method("PUT"),
        Req::post("/get/k", "").method("DELETE"),
        Req::get("/").method("PATCH"),
        Req::get("/pipeline"),
        Req::get("/multi-exec"),
    ] {
        let label = format!("{} {}", req.method, req.path);
        let (status, _) = server.send(req).await?;
        assert_eq!(status, 405, "{label}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413() -> Result<()> {
    let server = Server::with(TestRedis::start()?, 1024).await?;
    let key = unique("big");
    let fits = json!(["SET", key, "x".repeat(900)]).to_string();
    assert_eq!(server.send(Req::post("/", fits)).await?.0, 200);
    let too_big = json!(["SET", key, "x".repeat(2000)]).to_string();
    assert_eq!(
        server.send(Req::post("/", too_big.clone())).await?,
        (
            413,
            json!({"error": "ERR request body larger than 1024 bytes"})
        )
    );
    assert_eq!(server.send(Req::post("/pipeline", too_big)).await?.0, 413);
    // Nothing of the refused request reached Redis.
    assert_eq!(
        server.command(json!(["STRLEN", key])).await?,
        (200, json!({"result": 900}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_that_need_a_connection_of_their_own_are_refused() -> Result<()> {
    let server = Server::start().await?;
    for (command, reason) in [
        (
            json!(["BLPOP", "q", 0]),
            "blocking commands would hold the shared connection",
        ),
        (
            json!(["brpop", "q", 1]),
            "blocking commands would hold the shared connection",
        ),
        (
            json!(["BZPOPMIN", "z", 0]),
            "blocking commands would hold the shared connection",
        ),
        (
            json!(["SUBSCRIBE", "c"]),
            "it needs a long-lived connection of its own",
        ),
        (
            json!(["PSUBSCRIBE", "c*"]),
            "it needs a long-lived connection of its own",
        ),
        (
            json!(["MONITOR"]),
            "it needs a long-lived connection of its own",
        ),
        (
            json!(["MULTI"]),
            "send the commands to /multi-exec to run them atomically",
        ),
        (
            json!(["EXEC"]),
            "send the commands to /multi-exec to run them atomically",
        ),
        (
            json!(["WATCH", "k"]),
            "send the commands to /multi-exec to run them atomically",
        ),
        (
            json!(["DISCARD"]),
            "send the commands to /multi-exec to run them atomically",
        ),
        (
            json!(["SELECT", 2]),
            "it would change the connection that every request shares",
        ),
        (
            json!(["QUIT"]),
            "it would change the connection that every request shares",
        ),
    ] {
        let name = command[0].as_str().unwrap_or_default().to_ascii_uppercase();
        let expected =
            json!({"error": format!("ERR {name} is not supported over the REST API: {reason}")});
        assert_eq!(
            server.command(command.clone()).await?,
            (400, expected.clone()),
            "{command}"
        );
        // The same refusal applies inside batches, before anything runs.
        let batch = json!([["PING"], command]).to_string();
        assert_eq!(
            server.send(Req::post("/pipeline", batch.clone())).await?,
            (400, expected.clone())
        );
        assert_eq!(
            server.send(Req::post("/multi-exec", batch)).await?,
            (400, expected)
        );
    }
    assert_eq!(
        server.send(Req::get("/subscribe/c")).await?.0,
        400,
        "path style is checked too"
    );
    // The shared connection still works and still uses database 0.
    assert_eq!(
        server.command(json!(["PING"])).await?,
        (200, json!({"result": "PONG"}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_input_makes_it_panic_and_odd_input_gets_a_clear_answer() -> Result<()> {
    let server = Server::start().await?;
    let bodies: [&[u8]; 10] = [
        b"",
        b"not json",
        b"\xff\xfe\x00",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        b"[1e999999]",
        b"[\"\\ud800\"]",
        b"{}",
        b"null",
        b"[[]]",
        b"[\"SET\",\"k\",18446744073709551616]",
    ];
    for body in bodies {
        for path in ["/", "/pipeline", "/multi-exec", "/set/k"] {
            let (status, response) = server.send_raw(Req::post(path, body.to_vec())).await?;
            let json: serde_json::Value = serde_json::from_slice(&response)?;
            assert!(
                status == 200 || (status == 400 && json["error"].is_string()),
                "{path} {:?} → {status} {json}",
                String::from_utf8_lossy(body)
            );
        }
    }
    // Path segments that are not UTF-8 are passed to Redis as bytes.
    assert_eq!(server.send(Req::get("/echo/%FF%00")).await?.0, 200);
    assert_eq!(
        server.command(json!(["PING"])).await?,
        (200, json!({"result": "PONG"}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients_are_served_together() -> Result<()> {
    let server = std::sync::Arc::new(Server::start().await?);
    let key = unique("conc");
    let mut tasks = Vec::new();
    for i in 0..100 {
        let server = server.clone();
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            server
                .command(json!(["ZADD", key, i, format!("m{i}")]))
                .await
        }));
    }
    for task in tasks {
        assert_eq!(task.await??, (200, json!({"result": 1})));
    }
    assert_eq!(
        server.command(json!(["ZCARD", key])).await?,
        (200, json!({"result": 100}))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_allow_the_headers_the_browser_asks_for() -> Result<()> {
    let server = Server::start().await?;
    // What Upstash's SDK sends from a page after its first request: the sync token and its
    // telemetry headers besides the usual ones.
    let asked = "authorization, content-type, upstash-encoding, upstash-sync-token, \
                 upstash-telemetry-platform, upstash-telemetry-runtime, upstash-telemetry-sdk";
    let (status, headers, _) = server
        .send_with_headers(
            Req::get("/")
                .method("OPTIONS")
                .without_auth()
                .header("origin", "http://localhost:5173")
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", asked),
        )
        .await?;
    assert_eq!(status, 204);
    let allowed = headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in asked.split(',').map(str::trim) {
        assert!(
            allowed.split(',').any(|a| a.trim() == name),
            "{name} not allowed: {allowed}"
        );
    }
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("*")
    );
    // Without a request for headers, the default list still covers the plain client.
    let (_, headers, _) = server
        .send_with_headers(Req::get("/").method("OPTIONS").without_auth())
        .await?;
    let allowed = headers
        .get("access-control-allow-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(allowed.contains("upstash-encoding"), "{allowed}");
    Ok(())
}
