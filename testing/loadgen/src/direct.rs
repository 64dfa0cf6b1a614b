//! The Worker's own socket inside `wrangler dev`. wrangler puts a proxy Worker (in a second
//! workerd process, talking to its node process) in front of the user Worker; a run that
//! connects straight to the user Worker measures the runtime without that dev-only hop.

use anyhow::{Context, Result, bail};
use std::collections::HashSet;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The socket inodes a process holds open.
fn socket_inodes(pid: u32) -> HashSet<u64> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let target = std::fs::read_link(entry.path()).ok()?;
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// Listening TCP ports from `/proc/net/tcp` text whose socket inode is in `inodes`.
fn listening_ports(table: &str, inodes: &HashSet<u64>) -> Vec<u16> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address is fields[1] (`0100007F:1F90`), st is fields[3] (0A = LISTEN), inode
            // is fields[9].
            if fields.get(3) != Some(&"0A") {
                return None;
            }
            let inode: u64 = fields.get(9)?.parse().ok()?;
            if !inodes.contains(&inode) {
                return None;
            }
            let (_, port) = fields.get(1)?.split_once(':')?;
            u16::from_str_radix(port, 16).ok()
        })
        .collect()
}

/// Whether `port` answers `GET /api/health` (liveness, which asks the store nothing) as the
/// Worker does.
async fn is_the_worker(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream
            .write_all(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .await?;
        // workerd may keep the connection open despite `Connection: close`, so read until the
        // small JSON body is complete rather than to the end of the stream.
        let mut response = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await?;
            response.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&response);
            if n == 0
                || text
                    .split_once("\r\n\r\n")
                    .is_some_and(|(_, body)| body.ends_with('}'))
            {
                break;
            }
        }
        anyhow::Ok(String::from_utf8_lossy(&response).into_owned())
    };
    match tokio::time::timeout(Duration::from_secs(3), probe).await {
        Ok(Ok(response)) => {
            response.starts_with("HTTP/1.1 200") && response.contains("\"status\":\"ok\"")
        }
        _ => false,
    }
}

/// The port of the user Worker behind `wrangler dev`'s proxy on `public_port`.
pub async fn user_worker_port(public_port: u16) -> Result<u16> {
    let table = std::fs::read_to_string("/proc/net/tcp").context("reading /proc/net/tcp")?;
    for pid in crate::cpu::workerd_pids() {
        for port in listening_ports(&table, &socket_inodes(pid)) {
            if port != public_port && is_the_worker(port).await {
                return Ok(port);
            }
        }
    }
    bail!("no workerd socket other than the public port {public_port} answers /api/health")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listening_sockets_of_the_process_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0
   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0
   2: 0100007F:1F92 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0 20 4 30 10 -1
";
        let inodes: HashSet<u64> = [111, 333].into();
        assert_eq!(listening_ports(table, &inodes), vec![8080]);
    }
}
