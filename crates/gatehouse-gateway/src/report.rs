//! The trail of one request: what the gateway learnt while serving it, turned into one
//! [`GatewayEvent`] at the end. Nothing is collected when the sink wants no events.

use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse_guard::VerifiedToken;
use gatehouse_guard::mcp::RpcMessage;
use http::StatusCode;

use crate::events::{GatewayEvent, Outcome};
use crate::gateway::{Failure, Inner};
use crate::headers::ClientAddr;

/// The event being built, if events are wanted.
pub(crate) struct Trail<'a> {
    inner: &'a Inner,
    event: Option<GatewayEvent>,
}

impl<'a> Trail<'a> {
    pub(crate) fn new(inner: &'a Inner, client: &ClientAddr) -> Self {
        let event = inner.sink.enabled().then(|| GatewayEvent {
            at_ms: now_ms(),
            resource: inner.guard.config().resource().to_owned(),
            outcome: Outcome::Success,
            status: 0,
            error: None,
            detail: None,
            method: None,
            tool: None,
            client_id: None,
            sub: None,
            sid: None,
            jti: None,
            ip: Some(client.ip.to_string()),
        });
        Self { inner, event }
    }

    /// The verified token's identity.
    pub(crate) fn token(&mut self, token: &VerifiedToken) {
        if let Some(e) = &mut self.event {
            e.client_id = Some(token.client_id.clone());
            e.sub = Some(token.subject.clone());
            e.sid.clone_from(&token.session_id);
            e.jti.clone_from(&token.token_id);
        }
    }

    /// The JSON-RPC method (the first request's, else the first message's) and tool.
    pub(crate) fn messages(&mut self, messages: &[RpcMessage]) {
        if let Some(e) = &mut self.event {
            let first = messages
                .iter()
                .find(|m| m.method.is_some() && m.id.is_some())
                .or_else(|| messages.first());
            e.method = first.and_then(|m| m.method.clone());
            e.tool = messages
                .iter()
                .find_map(RpcMessage::tool)
                .map(str::to_owned);
        }
    }

    /// Reports the request: a refusal with the guard's error code and log detail, a gateway
    /// failure with its own, an upstream status of 400 or more as `upstream_status`.
    pub(crate) fn finish(self, status: StatusCode, failure: Option<&Failure>) {
        let Some(mut e) = self.event else {
            return;
        };
        e.status = status.as_u16();
        let (error, detail) = match failure {
            Some(Failure::Refused(r)) => (
                r.error_code().unwrap_or("missing_token").to_owned(),
                r.to_string(),
            ),
            Some(Failure::Failed(g)) => (g.error_code().to_owned(), g.to_string()),
            None if status.as_u16() >= 400 => (
                "upstream_status".to_owned(),
                format!("the MCP server answered {status}"),
            ),
            None => return self.inner.sink.report(e),
        };
        e.outcome = Outcome::Failure;
        e.error = Some(error);
        e.detail = Some(detail);
        self.inner.sink.report(e);
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
