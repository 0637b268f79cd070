//! The tasks around one stdio server process: the stdin writer, the stdout reader (which
//! hands every line to the router), the stderr logger and the supervisor that ends the
//! session when the process exits.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, watch};

use super::session::Session;

/// Longest line read from a server's stdout (large tool results, images).
const MAX_LINE: usize = 32 << 20;

/// Waits until the flag is set (or its sender is gone).
pub(super) async fn set(flag: &mut watch::Receiver<bool>) {
    let _ = flag.wait_for(|c| *c).await;
}

pub(super) async fn write_lines(
    mut stdin: ChildStdin,
    mut rx: mpsc::Receiver<Bytes>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            line = rx.recv() => {
                let Some(line) = line else { break };
                let ok = stdin.write_all(&line).await.is_ok()
                    && stdin.write_all(b"\n").await.is_ok()
                    && stdin.flush().await.is_ok();
                if !ok {
                    break;
                }
            }
            () = set(&mut closing) => break,
        }
    }
    // Dropping stdin closes it: the stdio transport's request to exit.
}

pub(super) async fn read_lines(session: Weak<Session>, stdout: ChildStdout) {
    let mut reader = BufReader::with_capacity(64 << 10, stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line(&mut reader, &mut buf, MAX_LINE).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reading a stdio MCP server's stdout failed");
                break;
            }
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let Some(s) = session.upgrade() else { return };
        s.route(Bytes::copy_from_slice(line)).await;
    }
    if let Some(s) = session.upgrade() {
        s.closing.send_replace(true);
    }
}

/// Reads up to and including `\n` (or to EOF) into `buf`, failing beyond `max` bytes.
async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    loop {
        let available = r.fill_buf().await?;
        if available.is_empty() {
            return Ok(buf.len());
        }
        if let Some(i) = available.iter().position(|&b| b == b'\n') {
            buf.extend_from_slice(&available[..=i]);
            r.consume(i + 1);
            return Ok(buf.len());
        }
        let n = available.len();
        buf.extend_from_slice(available);
        r.consume(n);
        if buf.len() > max {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("a line longer than {max} bytes"),
            ));
        }
    }
}

pub(super) async fn log_stderr(stderr: tokio::process::ChildStderr, seq: u64) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "gatehouse_gateway::stdio::stderr", session = seq, "{line}");
    }
}

pub(super) async fn supervise(
    session: Arc<Session>,
    mut child: Child,
    mut closing: watch::Receiver<bool>,
    exited: watch::Sender<bool>,
    grace: Duration,
) {
    let status = tokio::select! {
        s = child.wait() => s,
        () = set(&mut closing) => match tokio::time::timeout(grace, child.wait()).await {
            Ok(s) => s,
            Err(_) => {
                let _ = child.start_kill();
                child.wait().await
            }
        },
    };
    let reason = match status {
        Ok(s) => format!("the MCP server process exited ({s})"),
        Err(e) => format!("waiting for the MCP server process failed: {e}"),
    };
    session.end(reason);
    exited.send_replace(true);
}
