//! Routing one message from a stdio server (see [`super::session`]): a response to the
//! exchange waiting for its id; `notifications/progress` to the exchange whose request
//! carried that `progressToken`; any other message to the oldest exchange still waiting,
//! else to the `GET` stream, else into the backlog.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use super::session::{BACKLOG, Routed, Session, State, key};

#[derive(Deserialize)]
pub(super) struct Peek {
    #[serde(default)]
    pub(super) id: Option<Value>,
    #[serde(default)]
    pub(super) method: Option<String>,
    #[serde(default)]
    pub(super) params: Option<Value>,
}

impl Session {
    /// Routes one message from the server (see the module docs).
    pub(super) async fn route(&self, line: Bytes) {
        let Ok(peek) = serde_json::from_slice::<Peek>(&line) else {
            tracing::warn!(
                session = self.seq,
                "stdio MCP server wrote a line that is not a JSON-RPC message; ignored"
            );
            return;
        };
        let target = {
            let mut st = self.state();
            target_of(&mut st, &peek)
        };
        match target {
            Target::Exchange(tx, response) => {
                let _ = tx.send(Routed { line, response }).await;
            }
            Target::Stream => self.to_stream(line).await,
            Target::Drop => {
                tracing::debug!(
                    session = self.seq,
                    "response to a request nobody waits for any more; dropped"
                );
            }
        }
    }

    async fn to_stream(&self, line: Bytes) {
        let tx = self.state().stream.clone();
        let line = match tx {
            Some(tx) => match tx
                .send(Routed {
                    line,
                    response: false,
                })
                .await
            {
                Ok(()) => return,
                Err(e) => e.0.line,
            },
            None => line,
        };
        let mut st = self.state();
        st.stream = None;
        if st.backlog.len() == BACKLOG {
            st.backlog.pop_front();
        }
        st.backlog.push_back(line);
    }
}

enum Target {
    Exchange(mpsc::Sender<Routed>, bool),
    Stream,
    Drop,
}

fn target_of(st: &mut State, peek: &Peek) -> Target {
    match (&peek.method, &peek.id) {
        (None, Some(id)) => {
            let id = key(id);
            let Some(p) = st.pending.remove(&id) else {
                return Target::Drop;
            };
            st.progress.retain(|_, req| *req != id);
            Target::Exchange(p.tx, true)
        }
        (None, None) => Target::Drop,
        (Some(method), _) => {
            let by_token = (method == "notifications/progress")
                .then(|| peek.params.as_ref()?.get("progressToken"))
                .flatten()
                .and_then(|t| st.progress.get(&key(t)))
                .and_then(|req| st.pending.get(req));
            let oldest = || st.pending.values().min_by_key(|p| p.order);
            match by_token.or_else(oldest) {
                Some(p) => Target::Exchange(p.tx.clone(), false),
                None => Target::Stream,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::session::Pending;

    fn peek(v: serde_json::Value) -> Peek {
        serde_json::from_value(v).unwrap()
    }

    fn kind(t: &Target) -> &'static str {
        match t {
            Target::Exchange(_, true) => "response",
            Target::Exchange(_, false) => "exchange",
            Target::Stream => "stream",
            Target::Drop => "drop",
        }
    }

    #[test]
    fn server_messages_go_to_the_request_they_are_about() {
        let mut st = State::default();
        let (a, mut rx_a) = mpsc::channel(8);
        let (b, mut rx_b) = mpsc::channel(8);
        st.pending.insert("1".into(), Pending { tx: a, order: 0 });
        st.pending
            .insert("\"b\"".into(), Pending { tx: b, order: 1 });
        st.progress.insert("\"tok-b\"".into(), "\"b\"".into());
        let send = |st: &mut State, v| {
            let t = target_of(st, &peek(v));
            if let Target::Exchange(tx, _) = &t {
                let line = Bytes::new();
                tx.try_send(Routed {
                    line,
                    response: false,
                })
                .unwrap();
            }
            kind(&t)
        };
        use serde_json::json;
        let progress_b =
            json!({"method": "notifications/progress", "params": {"progressToken": "tok-b"}});
        assert_eq!(send(&mut st, progress_b), "exchange");
        assert!(
            rx_b.try_recv().is_ok() && rx_a.try_recv().is_err(),
            "by progress token"
        );
        let log = json!({"method": "notifications/message", "params": {}});
        assert_eq!(send(&mut st, log.clone()), "exchange");
        assert!(
            rx_a.try_recv().is_ok(),
            "other messages go to the oldest exchange"
        );
        assert_eq!(send(&mut st, json!({"id": 1, "result": {}})), "response");
        assert!(!st.pending.contains_key("1"));
        assert_eq!(
            send(&mut st, json!({"id": 1, "result": {}})),
            "drop",
            "late response"
        );
        assert_eq!(send(&mut st, json!({"id": "b", "result": {}})), "response");
        assert!(
            st.progress.is_empty(),
            "progress tokens go with their request"
        );
        assert_eq!(send(&mut st, log), "stream", "nobody waits: the GET stream");
    }
}
