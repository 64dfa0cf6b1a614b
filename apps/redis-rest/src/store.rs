//! The one multiplexed Redis connection every request shares, made again on demand after Redis
//! went away, so the server outlives Redis outages without a restart.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::{AsyncConnectionConfig, Pipeline, Value};
use std::time::Duration;
use tokio::sync::Mutex;

/// Redis could not be asked: it is down, unreachable or too slow. Answered with 503.
#[derive(Debug, thiserror::Error)]
#[error("redis is unavailable: {0}")]
pub struct Unavailable(String);

/// A lazily made, shared connection to Redis.
///
/// A `MultiplexedConnection` pipelines concurrent requests over one socket, so a slow reply
/// holds up only the requests queued behind it inside Redis, never the HTTP server; cloning it is
/// cheap and the mutex below guards only the moment of (re)connecting.
#[derive(Debug)]
pub struct Store {
    client: redis::Client,
    config: AsyncConnectionConfig,
    connection: Mutex<Slot>,
}

/// The current connection, with a generation number so that a request which saw an old
/// connection fail does not throw away a newer one another request has made since.
#[derive(Debug, Default)]
struct Slot {
    generation: u64,
    connection: Option<MultiplexedConnection>,
}

impl Store {
    /// Prepares a store for `redis_url`; nothing connects until the first request.
    pub fn new(redis_url: &str, response_timeout: Duration) -> Result<Self, redis::RedisError> {
        Ok(Self {
            client: redis::Client::open(redis_url)?,
            config: AsyncConnectionConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(response_timeout)),
            connection: Mutex::new(Slot::default()),
        })
    }

    /// Sends `commands` as one pipeline and returns one reply per command, Redis errors included
    /// as `Value::ServerError` in their place.
    ///
    /// The commands are written contiguously on the shared connection, so `MULTI … EXEC` sent
    /// this way runs as one transaction even while other requests use the same connection.
    pub async fn run(&self, commands: &[Vec<Vec<u8>>]) -> Result<Vec<Value>, Unavailable> {
        let mut pipeline = Pipeline::with_capacity(commands.len());
        for command in commands {
            let mut cmd = redis::Cmd::new();
            for arg in command {
                cmd.arg(arg.as_slice());
            }
            pipeline.add_command(cmd);
        }
        let (generation, mut connection) = self.connection().await?;
        match connection
            .req_packed_commands(&pipeline, 0, commands.len())
            .await
        {
            Ok(values) => Ok(values),
            Err(err) => {
                if !err.is_timeout() {
                    // The socket is gone (or in a state we cannot trust): the next request
                    // connects afresh. A timeout keeps it, since the reply will still arrive and
                    // be matched to the abandoned request.
                    self.forget(generation).await;
                }
                Err(Unavailable(err.to_string()))
            }
        }
    }

    async fn connection(&self) -> Result<(u64, MultiplexedConnection), Unavailable> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.connection.as_ref() {
            return Ok((slot.generation, connection.clone()));
        }
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(|err| Unavailable(err.to_string()))?;
        slot.generation += 1;
        slot.connection = Some(connection.clone());
        tracing::info!(generation = slot.generation, "connected to redis");
        Ok((slot.generation, connection))
    }

    /// Drops the shared connection of `generation`, unless another request already replaced it.
    async fn forget(&self, generation: u64) {
        let mut slot = self.connection.lock().await;
        if slot.generation == generation && slot.connection.take().is_some() {
            tracing::warn!(
                generation,
                "lost the redis connection; the next request reconnects"
            );
        }
    }
}

impl From<&str> for Unavailable {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

impl From<String> for Unavailable {
    fn from(message: String) -> Self {
        Self(message)
    }
}
