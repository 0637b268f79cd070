//! An in-test upstream MCP server the test controls: it records what reaches it and, per
//! the `x-test-mode` request header, answers JSON (`echo`), an event stream whose second
//! event waits for the test (`stream`), or nothing until the test releases it (`silent`).

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use gatehouse_gateway::EventStream;
use tokio::sync::{Notify, mpsc};

/// What reached the upstream.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub headers: HeaderMap,
}

pub struct Upstream {
    pub url: String,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    release: Notify,
}

impl Upstream {
    pub async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/mcp", listener.local_addr().unwrap());
        let shared = Arc::new(Shared::default());
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, shared }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Lets a held answer (`stream`'s second event, `silent`'s response) go.
    pub fn release(&self) {
        self.shared.release.notify_one();
    }
}

async fn handle(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, _body) = req.into_parts();
    s.seen.lock().unwrap().push(Seen {
        path: parts.uri.path().to_owned(),
        headers: parts.headers.clone(),
    });
    let mode = parts
        .headers
        .get("x-test-mode")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("echo")
        .to_owned();
    match mode.as_str() {
        "stream" => {
            let (tx, rx) = mpsc::channel::<Bytes>(4);
            tx.send(Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}"#))
                .await
                .unwrap();
            tokio::spawn(async move {
                s.release.notified().await;
                let _ = tx
                    .send(Bytes::from_static(
                        br#"{"jsonrpc":"2.0","id":1,"result":{"done":true}}"#,
                    ))
                    .await;
            });
            let mut r = Response::new(Body::new(EventStream::new(None, rx, None)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            r
        }
        "silent" => {
            s.release.notified().await;
            Response::new(Body::from("too late"))
        }
        _ => {
            let mut r = Response::new(Body::from(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
            *r.status_mut() = StatusCode::OK;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
    }
}
