//! When Redis ran each benchmark message's write, from Redis's `MONITOR` feed: its timestamps
//! are the machine's wall clock, the same one the load generator reads, so one message's
//! latency splits at the store into "send → stored" and "stored → delivered".

use anyhow::{Context, Result, bail};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// A running `MONITOR` connection that records `(unix seconds, bench send ms)` for every
/// benchmark message a `ZADD` stored.
#[derive(Debug)]
pub struct Monitor {
    stored: Arc<Mutex<Vec<(f64, f64)>>>,
    task: JoinHandle<()>,
}

/// The timestamp of a `MONITOR` line and the send times (`bench <ms>`) of the messages a
/// `ZADD` on it stored; `None` for any other command. The room's write script shows up twice:
/// as the `EVAL` (whose arguments carry the messages too) and as the `ZADD`s it runs, marked
/// `[0 lua]`; only the `ZADD` counts, when Redis really stored them.
pub fn parse_line(line: &str) -> Option<(f64, Vec<f64>)> {
    let (stamp, rest) = line.split_once(' ')?;
    let stamp: f64 = stamp.parse().ok()?;
    let (_, command) = rest.split_once("] ")?;
    if !command.starts_with("\"ZADD\"") && !command.starts_with("\"zadd\"") {
        return None;
    }
    let rest = command;
    let sent = rest
        .split("bench ")
        .skip(1)
        .filter_map(|after| {
            let number: String = after
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            number.parse().ok()
        })
        .collect();
    Some((stamp, sent))
}

impl Monitor {
    /// Opens a `MONITOR` connection to `redis_url` (`redis://host:port`).
    pub async fn start(redis_url: &str) -> Result<Self> {
        let address = redis_url
            .strip_prefix("redis://")
            .with_context(|| format!("{redis_url} is not a redis:// URL"))?
            .trim_end_matches('/');
        let stream = TcpStream::connect(address)
            .await
            .with_context(|| format!("connecting to Redis at {address} for MONITOR"))?;
        let (read, mut write) = stream.into_split();
        write.write_all(b"MONITOR\r\n").await?;
        let mut lines = BufReader::new(read).lines();
        match lines.next_line().await? {
            Some(line) if line == "+OK" => {}
            other => bail!("Redis refused MONITOR: {other:?}"),
        }
        let stored = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stored);
        let task = tokio::spawn(async move {
            // The write half must live as long as the feed, or Redis sees the client leave.
            let _write = write;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some((stamp, sent)) = line.strip_prefix('+').and_then(parse_line)
                    && let Ok(mut stored) = sink.lock()
                {
                    stored.extend(sent.into_iter().map(|ms| (stamp, ms)));
                }
            }
        });
        Ok(Self { stored, task })
    }

    /// Stops the feed and returns what it saw.
    pub fn finish(self) -> Vec<(f64, f64)> {
        self.task.abort();
        self.stored
            .lock()
            .map(|stored| stored.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_bench_message_a_zadd_stored() {
        let line = r#"1764230400.123456 [0 127.0.0.1:50000] "ZADD" "chat:r:messages" "1764230400100" "{\"seq\":1764230400100,\"text\":\"bench 12.5\"}" "1764230400101" "{\"seq\":1764230400101,\"text\":\"bench 13.25\"}""#;
        assert_eq!(
            parse_line(line),
            Some((1_764_230_400.123_456, vec![12.5, 13.25]))
        );
    }

    #[test]
    fn a_script_counts_by_its_zadd_not_its_eval() {
        let eval = r#"1.0 [0 127.0.0.1:1] "EVAL" "local keep = ... redis.call('ZADD', ...)" "2" "k" "ids" "10000" "0" "5" "u:c" "{\"text\":\"bench 7\"}""#;
        assert_eq!(parse_line(eval), None);
        let zadd = r#"1.1 [0 lua] "ZADD" "k" "5" "{\"text\":\"bench 7\"}""#;
        assert_eq!(parse_line(zadd), Some((1.1, vec![7.0])));
    }

    #[test]
    fn other_commands_and_garbage_are_skipped() {
        assert_eq!(parse_line(r#"1.5 [0 127.0.0.1:1] "EXEC""#), None);
        assert_eq!(parse_line("OK"), None);
        assert_eq!(
            parse_line(r#"2.0 [0 127.0.0.1:1] "ZADD" "k" "1" "{\"text\":\"hi\"}""#),
            Some((2.0, vec![]))
        );
    }
}
