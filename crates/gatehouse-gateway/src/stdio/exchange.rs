//! Answering one POST of a stdio session (MCP › Streamable HTTP › Sending Messages to the
//! Server): the body's messages are written to the server, one per line; a body of only
//! notifications and responses is answered 202; otherwise the answer is the response as
//! `application/json`, or an event stream when the server sends anything else about the
//! request(s) first, or when the body holds several requests.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::session::{Registration, Routed, Session, key};
use crate::error::GatewayError;

/// What a POST gets.
pub(crate) enum Answer {
    /// Only notifications or responses were sent: 202.
    Accepted,
    /// The single response, as `application/json`.
    Json(Bytes),
    /// An event stream: the first message, then the rest until every response was sent.
    Stream {
        first: Routed,
        rest: mpsc::Receiver<Routed>,
        registration: Registration,
    },
}

/// The body's messages as lines, and what they ask.
pub(crate) struct Outgoing {
    lines: Vec<Bytes>,
    /// Request ids (as JSON text).
    ids: Vec<String>,
    /// (progress token, request id), both as JSON text.
    progress: Vec<(String, String)>,
}

impl Outgoing {
    /// Re-encodes each message compactly on one line (the stdio transport forbids embedded
    /// newlines; a batch becomes one line per message).
    pub(crate) fn parse(body: &[u8]) -> Result<Self, GatewayError> {
        let v: Value = serde_json::from_slice(body)
            .map_err(|_| GatewayError::BadRequest("the body is not JSON"))?;
        let messages = match v {
            Value::Array(items) => items,
            single => vec![single],
        };
        let mut out = Self {
            lines: Vec::with_capacity(messages.len()),
            ids: Vec::new(),
            progress: Vec::new(),
        };
        for m in &messages {
            if let (Some(_), Some(id)) = (m.get("method"), m.get("id")) {
                let id = key(id);
                if let Some(t) = m.pointer("/params/_meta/progressToken") {
                    out.progress.push((key(t), id.clone()));
                }
                out.ids.push(id);
            }
            let line = serde_json::to_vec(m).map_err(|e| GatewayError::Internal(e.to_string()))?;
            out.lines.push(Bytes::from(line));
        }
        Ok(out)
    }
}

/// Sends `out` to the session and waits (at most `first_byte`) for the first message
/// about it. On a timeout the server is told the requests are cancelled.
pub(crate) async fn answer(
    session: &Arc<Session>,
    out: Outgoing,
    first_byte: Duration,
    upstream: &str,
) -> Result<Answer, GatewayError> {
    if out.ids.is_empty() {
        session.send(out.lines).await?;
        session.touch();
        return Ok(Answer::Accepted);
    }
    let single = out.ids.len() == 1;
    let ids = out.ids.clone();
    let (registration, mut rx) = session.register(out.ids, out.progress)?;
    session.send(out.lines).await?;
    let first = match tokio::time::timeout(first_byte, rx.recv()).await {
        Ok(Some(first)) => first,
        Ok(None) => {
            return Err(GatewayError::UpstreamUnavailable {
                upstream: upstream.to_owned(),
                detail: session
                    .ended()
                    .unwrap_or_else(|| "the MCP server process ended".into()),
            });
        }
        Err(_) => {
            drop(registration);
            let _ = session
                .send(ids.iter().map(|id| cancelled(id)).collect())
                .await;
            return Err(GatewayError::UpstreamTimeout {
                upstream: upstream.to_owned(),
                detail: format!("no answer within {} s", first_byte.as_secs_f64()),
            });
        }
    };
    if single && first.response {
        return Ok(Answer::Json(first.line));
    }
    Ok(Answer::Stream {
        first,
        rest: rx,
        registration,
    })
}

/// `notifications/cancelled` for a request the gateway gave up on (MCP › Cancellation).
fn cancelled(id: &str) -> Bytes {
    let id: Value = serde_json::from_str(id).unwrap_or(Value::Null);
    let n = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": { "requestId": id, "reason": "the gateway timed out waiting for an answer" },
    });
    Bytes::from(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outgoing_lines_are_compact_and_requests_are_known_by_id() {
        let body = br#"[
            {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"countdown","_meta":{"progressToken":"p1"}}},
            {"jsonrpc":"2.0","method":"notifications/initialized"},
            {"jsonrpc":"2.0","id":"a","result":{}}
        ]"#;
        let o = Outgoing::parse(body).unwrap();
        assert_eq!(o.lines.len(), 3);
        assert!(o.lines.iter().all(|l| !l.contains(&b'\n')));
        assert_eq!(o.ids, ["1"]);
        assert_eq!(o.progress, [("\"p1\"".to_owned(), "1".to_owned())]);
        assert!(Outgoing::parse(b"nope").is_err());
    }

    #[test]
    fn cancellation_names_the_request() {
        let c: Value = serde_json::from_slice(&cancelled("\"abc\"")).unwrap();
        assert_eq!(c["params"]["requestId"], "abc");
    }
}
