//! The client against the real thing: `redis-rest` in front of a real Redis.

use anyhow::Result;
use pretty_assertions::assert_eq;
use std::time::Duration;
use testkit::{TestRedis, unique};
use upstash::native::NativeTransport;
use upstash::{Bound, Client, Command, Error, Value, ZRangeByScore};

const TOKEN: &str = "upstash-test-token";

/// Redis, redis-rest in this process, and a client for them.
struct Stack {
    redis: TestRedis,
    url: String,
    _running: redis_rest::Running,
}

impl Stack {
    async fn start(redis: TestRedis) -> Result<Self> {
        let running = redis_rest::spawn(redis_rest::Config::new(redis.url(), TOKEN)).await?;
        Ok(Self {
            redis,
            url: running.url(),
            _running: running,
        })
    }

    fn client(&self) -> Client<NativeTransport> {
        self.client_with_token(TOKEN)
    }

    fn client_with_token(&self, token: &str) -> Client<NativeTransport> {
        Client::new(
            &self.url,
            token,
            NativeTransport::new(Duration::from_secs(5)),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_and_plain_commands_round_trip_any_text() -> Result<()> {
    let stack = Stack::start(TestRedis::start()?).await?;
    let client = stack.client();
    client.ping().await?;
    let key = unique("text");
    // Quotes, newlines, non-ASCII and a NUL survive the JSON + base64 round trip.
    let text = "say \"hi\"\n\tto 世界 🌍 \u{0}";
    assert_eq!(
        client
            .command(&Command::new("SET").arg(&key).arg(text))
            .await?,
        Value::Bytes(b"OK".to_vec())
    );
    assert_eq!(
        client
            .command(&Command::new("GET").arg(&key))
            .await?
            .into_string()?,
        text
    );
    assert_eq!(
        client
            .command(&Command::new("GET").arg(unique("missing")))
            .await?,
        Value::Nil
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sorted_set_commands_the_chat_needs() -> Result<()> {
    let stack = Stack::start(TestRedis::start()?).await?;
    let client = stack.client();
    let key = unique("chat:room:messages");
    let members: Vec<String> = (1..=10).map(|i| format!("{{\"seq\":{i}}}")).collect();
    let added = client
        .zadd(
            &key,
            members
                .iter()
                .enumerate()
                .map(|(i, m)| (i as i64 + 1, m.as_str())),
        )
        .await?;
    assert_eq!(added, 10);
    assert_eq!(client.zcard(&key).await?, 10);

    let as_text = |items: Vec<Vec<u8>>| -> Vec<String> {
        items
            .into_iter()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect()
    };
    // The newest three before seq 8, newest first.
    let page = client
        .zrange_by_score(
            &key,
            &ZRangeByScore {
                min: Bound::NegInf,
                max: Bound::Exclusive(8),
                rev: true,
                limit: Some((0, 3)),
            },
        )
        .await?;
    assert_eq!(
        as_text(page),
        [members[6].clone(), members[5].clone(), members[4].clone()]
    );
    // Everything after seq 8, oldest first.
    let tail = client
        .zrange_by_score(
            &key,
            &ZRangeByScore {
                min: Bound::Exclusive(8),
                max: Bound::PosInf,
                rev: false,
                limit: None,
            },
        )
        .await?;
    assert_eq!(as_text(tail), [members[8].clone(), members[9].clone()]);
    // Inclusive bounds and an offset.
    let window = client
        .zrange_by_score(
            &key,
            &ZRangeByScore {
                min: Bound::Inclusive(2),
                max: Bound::Inclusive(5),
                rev: false,
                limit: Some((1, 2)),
            },
        )
        .await?;
    assert_eq!(as_text(window), [members[2].clone(), members[3].clone()]);

    // Keep the newest four.
    assert_eq!(client.zremrangebyrank(&key, 0, -5).await?, 6);
    assert_eq!(client.zcard(&key).await?, 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_and_multi_exec_return_entry_results() -> Result<()> {
    let stack = Stack::start(TestRedis::start()?).await?;
    let client = stack.client();
    let key = unique("batch");
    let results = client
        .pipeline(&[
            Command::new("SET").arg(&key).arg("1"),
            Command::new("INCR").arg(&key),
            Command::new("LPUSH").arg(&key).arg("x"),
        ])
        .await?;
    assert_eq!(results[0], Ok(Value::Bytes(b"OK".to_vec())));
    assert_eq!(results[1], Ok(Value::Int(2)));
    assert!(
        results[2]
            .as_ref()
            .is_err_and(|e| e.starts_with("WRONGTYPE"))
    );

    // The chat's write: add a batch and trim to the newest N in one transaction.
    let zkey = unique("chat:trim:messages");
    client.zadd(&zkey, [(1, "a"), (2, "b"), (3, "c")]).await?;
    let results = client
        .multi_exec(&[
            Command::zadd(&zkey, [(4, "d"), (5, "e")]),
            Command::zremrangebyrank(&zkey, 0, -4),
        ])
        .await?;
    assert_eq!(results, vec![Ok(Value::Int(2)), Ok(Value::Int(2))]);
    let all = client
        .zrange_by_score(
            &zkey,
            &ZRangeByScore {
                min: Bound::NegInf,
                max: Bound::PosInf,
                rev: false,
                limit: None,
            },
        )
        .await?;
    assert_eq!(all, vec![b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]);

    // A transaction Redis rejects as a whole is one Redis error, and nothing of it ran.
    let rejected = client
        .multi_exec(&[Command::zadd(&zkey, [(9, "z")]), Command::new("NOSUCH")])
        .await;
    assert!(
        matches!(&rejected, Err(Error::Redis(e)) if e.starts_with("EXECABORT")),
        "{rejected:?}"
    );
    assert_eq!(client.zcard(&zkey).await?, 3);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_separate_redis_refusals_from_outages() -> Result<()> {
    let mut stack = Stack::start(TestRedis::local()?).await?;
    let client = stack.client();
    let key = unique("err");
    client
        .command(&Command::new("SET").arg(&key).arg("v"))
        .await?;

    let refused = client.zcard(&key).await;
    assert!(
        matches!(&refused, Err(Error::Redis(e)) if e.starts_with("WRONGTYPE")),
        "{refused:?}"
    );
    assert!(!refused.as_ref().is_err_and(Error::is_transient));

    assert_eq!(
        stack.client_with_token("wrong").ping().await,
        Err(Error::Unauthorized)
    );

    stack.redis.stop()?;
    let down = client.ping().await;
    assert!(down.as_ref().is_err_and(Error::is_transient), "{down:?}");
    let down = client.multi_exec(&[Command::ping()]).await;
    assert!(down.as_ref().is_err_and(Error::is_transient), "{down:?}");
    stack.redis.resume()?;
    client.ping().await?;

    // Nothing listening at all is an outage too.
    let port = testkit::free_port()?;
    let nowhere = Client::new(
        &format!("http://127.0.0.1:{port}"),
        TOKEN,
        NativeTransport::new(Duration::from_secs(2)),
    );
    let down = nowhere.ping().await;
    assert!(matches!(down, Err(Error::Unavailable(_))), "{down:?}");
    Ok(())
}
