//! `tools/list` responses trimmed to the tools the token may call (RS-24): a JSON response
//! is read whole (bounded) and rewritten; an event stream is filtered event by event as it
//! passes ([`SseToolsListFilter`]), so nothing else in it is delayed.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use gatehouse_guard::VerifiedToken;
use gatehouse_guard::mcp::{SseToolsListFilter, ToolPolicy, filter_tools_list_json};
use http::header::{self, HeaderValue};
use http::{HeaderMap, Response};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::Value;

use crate::body::{BoxError, GatewayBody};
use crate::error::GatewayError;

/// Which tools a token may call.
#[derive(Clone)]
pub(crate) struct MayCall {
    policy: Arc<ToolPolicy>,
    token: Arc<VerifiedToken>,
}

impl MayCall {
    pub(crate) fn new(policy: Arc<ToolPolicy>, token: Arc<VerifiedToken>) -> Self {
        Self { policy, token }
    }

    fn check(&self, tool: &str) -> bool {
        self.policy.may_call(&self.token.scopes, tool)
    }
}

/// What a response to `tools/list` requests with these ids needs.
pub(crate) struct ToolsListFilter {
    pub(crate) ids: Vec<Value>,
    pub(crate) may_call: MayCall,
    pub(crate) max_json_bytes: usize,
}

fn is_media(headers: &HeaderMap, media: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case(media))
}

impl ToolsListFilter {
    /// The response with its `tools/list` results filtered.
    pub(crate) async fn apply<B>(
        self,
        resp: Response<B>,
        upstream: &str,
    ) -> Result<Response<GatewayBody>, GatewayError>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (mut parts, body) = resp.into_parts();
        if is_media(&parts.headers, "text/event-stream") {
            let body = SseFiltered {
                inner: body,
                filter: Some(SseToolsListFilter::new(self.ids)),
                may_call: self.may_call,
            };
            return Ok(Response::from_parts(parts, GatewayBody::new(body)));
        }
        if !is_media(&parts.headers, "application/json") {
            return Ok(Response::from_parts(parts, GatewayBody::new(body)));
        }
        let bytes = match Limited::new(body, self.max_json_bytes).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                let detail = if e.downcast_ref::<LengthLimitError>().is_some() {
                    format!(
                        "tools/list response larger than {} bytes",
                        self.max_json_bytes
                    )
                } else {
                    format!("reading the tools/list response failed: {e}")
                };
                return Err(GatewayError::UpstreamUnavailable {
                    upstream: upstream.to_owned(),
                    detail,
                });
            }
        };
        let may_call = self.may_call;
        let filtered = filter_tools_list_json(&bytes, &self.ids, &|t| may_call.check(t));
        let out = filtered.map(Bytes::from).unwrap_or(bytes);
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(out.len()));
        Ok(Response::from_parts(parts, GatewayBody::full(out)))
    }
}

pin_project_lite::pin_project! {
    /// An upstream event stream with its `tools/list` events filtered.
    struct SseFiltered<B> {
        #[pin]
        inner: B,
        filter: Option<SseToolsListFilter>,
        may_call: MayCall,
    }
}

impl<B> Body for SseFiltered<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            let Some(filter) = this.filter.as_mut() else {
                return Poll::Ready(None);
            };
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers: dropped like every hop-by-hop concern
                    };
                    if filter.is_passthrough() {
                        // Every tools/list is answered: the rest goes as it comes.
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    let may_call = &*this.may_call;
                    let out = filter.push(&data, &|t| may_call.check(t));
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                    }
                }
                Poll::Ready(None) => {
                    let rest = this.filter.take().map(SseToolsListFilter::finish);
                    return Poll::Ready(
                        rest.filter(|r| !r.is_empty())
                            .map(|r| Ok(Frame::data(Bytes::from(r)))),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_guard::{ScopeHierarchy, ScopeSet};

    const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"list_todos"},{"name":"add_todo"}]}}"#;

    fn filter() -> ToolsListFilter {
        let policy = ToolPolicy::new()
            .tool("list_todos", &ScopeSet::parse("todo:read").unwrap())
            .tool("add_todo", &ScopeSet::parse("todo:write").unwrap())
            .hierarchy(ScopeHierarchy::new());
        let token = VerifiedToken {
            subject: "u".into(),
            client_id: "c".into(),
            scopes: ScopeSet::parse("todo:read").unwrap(),
            audience: vec![],
            issuer: "i".into(),
            expires_at: 0,
            issued_at: None,
            auth_time: None,
            token_id: None,
            session_id: None,
        };
        ToolsListFilter {
            ids: vec![serde_json::json!(2)],
            may_call: MayCall::new(Arc::new(policy), Arc::new(token)),
            max_json_bytes: 1 << 20,
        }
    }

    fn response(content_type: &str, body: String) -> Response<http_body_util::Full<Bytes>> {
        let mut r = Response::new(http_body_util::Full::new(Bytes::from(body)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        r
    }

    async fn text(r: Response<GatewayBody>) -> String {
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn json_and_sse_tools_lists_lose_the_tools_the_token_cannot_call() {
        let json = filter()
            .apply(response("application/json", LIST.into()), "u")
            .await
            .unwrap();
        assert_eq!(json.headers()[header::CONTENT_LENGTH], text_len(LIST));
        assert!(!text(json).await.contains("add_todo"));
        let sse = filter()
            .apply(
                response(
                    "text/event-stream; charset=utf-8",
                    format!("event: message\ndata: {LIST}\n\n"),
                ),
                "u",
            )
            .await
            .unwrap();
        let out = text(sse).await;
        assert!(
            out.contains("list_todos") && !out.contains("add_todo"),
            "{out}"
        );
    }

    fn text_len(list: &str) -> String {
        list.replace(r#",{"name":"add_todo"}"#, "")
            .len()
            .to_string()
    }
}
