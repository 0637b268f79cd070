//! [`Gateway`]: one request, top to bottom.
//!
//! 1. **Route**: metadata documents and CORS preflights are answered by the guard's own layer
//!    without a token; anything outside the resource's path is 404.
//! 2. **Origin**: a browser `Origin` the guard does not allow gets 403.
//! 3. **Token**: `Authorization: Bearer` only, verified by the guard (cached).
//! 4. **Scopes**: the JSON-RPC POST body is read (bounded) when tool scopes, reporting or a
//!    stdio upstream need it, and judged: `tools/call` without the tool's scopes gets the
//!    guard's single 403 `insufficient_scope` challenge.
//! 5. **Strip and identify**: `Authorization`, hop-by-hop, forwarding and inbound
//!    `X-Gatehouse-*` headers go; the verified identity comes in as `X-Gatehouse-*`.
//! 6. **Proxy**: to the HTTP upstream (streamed both ways) or the stdio session; `tools/list`
//!    results are filtered to the tools the token may call.
//! 7. **Map errors**: the guard's refusals by [`Guard::respond`], the gateway's failures by
//!    [`GatewayError::respond`] (502, 504, 404…) — nothing else decides a status.
//! 8. **Report**: one [`GatewayEvent`] per authorized or refused request.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use gatehouse_guard::mcp::{RpcMessage, ToolPolicy, parse_body, tools_list_ids};
use gatehouse_guard::{Guard, Rejection, VerifiedToken, close_connection, drain_body as drain};
use http::{Method, Request, Response, Version};
use http_body::Body;
use http_body_util::BodyExt;

use crate::body::{BoxError, GatewayBody};
use crate::config::{ConfigError, GatewayConfig, GatewayOptions, Upstream};
use crate::error::GatewayError;
use crate::events::EventSink;
use crate::filter::{MayCall, ToolsListFilter};
use crate::front::Front;
use crate::headers::{ClientAddr, upstream_request_headers};
use crate::http_upstream::{HttpUpstream, LocalUpstream, UpstreamBody};
use crate::report::Trail;
use crate::stdio::{StdioRequest, StdioUpstream};

/// Facts about the connection a request came on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// The guard in front of one MCP server. Clone it freely; clones share everything.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) guard: Guard,
    front: Front,
    /// The resource's path without a trailing `/`: the MCP endpoint and what is below it.
    endpoint: String,
    backend: Backend,
    pub(crate) sink: Arc<dyn EventSink>,
    pub(crate) options: GatewayOptions,
    policy: Arc<ToolPolicy>,
    pub(crate) label: String,
}

enum Backend {
    Http(Box<HttpUpstream>),
    Stdio(StdioUpstream),
}

/// Why a request was not served.
pub(crate) enum Failure {
    Refused(Rejection),
    Failed(GatewayError),
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("resource", &self.resource())
            .field("upstream", &self.inner.label)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway reporting to `sink`. Stdio upstreams start their session supervisor on the
    /// current Tokio runtime.
    pub fn new(config: GatewayConfig, sink: Arc<dyn EventSink>) -> Result<Self, ConfigError> {
        config.validate()?;
        let guard = Guard::new(config.guard);
        let endpoint = url::Url::parse(guard.config().resource())
            .map(|u| u.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        let label = config.upstream.label();
        let backend = match config.upstream {
            Upstream::Http(url) => Backend::Http(Box::new(
                HttpUpstream::new(&url, &config.options)
                    .map_err(|p| ConfigError { problems: vec![p] })?,
            )),
            Upstream::Stdio(command) => {
                Backend::Stdio(StdioUpstream::new(command, &config.options))
            }
        };
        Ok(Self {
            inner: Arc::new(Inner {
                front: Front::new(&guard),
                policy: Arc::new(guard.config().policy().clone()),
                guard,
                endpoint,
                backend,
                sink,
                options: config.options,
                label,
            }),
        })
    }

    /// The guard (configuration, metadata URL).
    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// The protected resource, exactly as configured.
    pub fn resource(&self) -> &str {
        self.inner.guard.config().resource()
    }

    /// The upstream, as logs name it.
    pub fn upstream(&self) -> &str {
        &self.inner.label
    }

    /// How long a connection's task polls for its next event before the worker may sleep.
    pub(crate) fn busy_poll(&self) -> std::time::Duration {
        self.inner.options.busy_poll
    }

    /// Ends every stdio session (their processes exit) and delivers pending events.
    pub async fn shutdown(&self) {
        if let Backend::Stdio(s) = &self.inner.backend {
            s.shutdown().await;
        }
        self.inner.sink.flush().await;
    }

    /// Serves one request.
    pub async fn handle<B>(&self, req: Request<B>, conn: Connection) -> Response<GatewayBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let inner = &*self.inner;
        let (parts, body) = req.into_parts();
        let version = parts.version;
        // 1. Route.
        if let Some(resp) = inner
            .front
            .public(&parts.method, &parts.uri, &parts.headers)
            .await
        {
            return after_unread(resp, body, version).await;
        }
        let Some(rest) = self.rest_of(parts.uri.path()) else {
            tracing::debug!(path = parts.uri.path(), method = %parts.method, "no route");
            let mut resp = GatewayError::NoRoute(parts.uri.path().to_owned()).respond();
            // Readable by an allowed browser origin, like the 404s under /.well-known/.
            if let Ok(Some(cors)) = inner.front.origin(&parts.headers) {
                cors.apply(&inner.guard, resp.headers_mut());
            }
            return after_unread(resp, body, version).await;
        };
        let rest = rest.to_owned();
        let client = ClientAddr::of(
            &parts.headers,
            conn.peer,
            conn.tls,
            inner.options.behind_proxy,
        );
        let mut trail = Trail::new(inner, &client);
        // Whether the request body was left unread (or half read): see `drain_body`.
        let mut unread = false;
        // 2. Origin.
        let (result, cors) = match inner.front.origin(&parts.headers) {
            Err(r) => {
                unread = !drain(body).await;
                (Err(Failure::Refused(r)), None)
            }
            Ok(cors) => (
                self.admitted(parts, body, &rest, &client, &mut trail, &mut unread)
                    .await,
                cors,
            ),
        };
        // 7. Map errors.
        let (mut resp, failure) = match result {
            Ok(resp) => (resp, None),
            Err(Failure::Refused(r)) => (
                inner.guard.respond(&r).map(GatewayBody::full),
                Some(Failure::Refused(r)),
            ),
            Err(Failure::Failed(e)) => {
                match &e {
                    GatewayError::Internal(d) => tracing::error!(detail = %d, "gateway failure"),
                    GatewayError::UpstreamUnavailable { .. }
                    | GatewayError::UpstreamTimeout { .. } => {
                        tracing::warn!(error = %e, "upstream failure");
                    }
                    _ => tracing::debug!(error = %e, "request not served"),
                }
                (e.respond(), Some(Failure::Failed(e)))
            }
        };
        if let Some(cors) = cors {
            cors.apply(&inner.guard, resp.headers_mut());
        }
        if unread {
            close_connection(version, resp.headers_mut());
        }
        // 8. Report.
        trail.finish(resp.status(), failure.as_ref());
        resp
    }

    /// The path below the MCP endpoint (`""` for the endpoint itself), or `None`.
    fn rest_of<'p>(&self, path: &'p str) -> Option<&'p str> {
        let rest = path.strip_prefix(self.inner.endpoint.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// Steps 3 to 6.
    async fn admitted<B>(
        &self,
        mut parts: http::request::Parts,
        body: B,
        rest: &str,
        client: &ClientAddr,
        trail: &mut Trail<'_>,
        unread: &mut bool,
    ) -> Result<Response<GatewayBody>, Failure>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let inner = &*self.inner;
        // 3. Token.
        let token = match inner.guard.authenticate(&parts.headers).await {
            Ok(token) => token,
            Err(r) => {
                *unread = !drain(body).await;
                return Err(Failure::Refused(r));
            }
        };
        trail.token(&token);
        // 4. Scopes. `body` is the client's stream (`Ok`) or the bytes read (`Err`).
        let read = parts.method == Method::POST
            && (inner.policy.needs_body()
                || inner.sink.enabled()
                || matches!(inner.backend, Backend::Stdio(_)));
        let (body, messages) = if read {
            let bytes =
                gatehouse_guard::read_body(&parts.headers, body, inner.options.max_body_bytes)
                    .await
                    .map_err(|r| {
                        // Too large or broken off: the rest was not read.
                        *unread = true;
                        Failure::Refused(r)
                    })?;
            let messages = parse_body(&bytes)
                .map_err(|e| Failure::Refused(Rejection::MalformedBody(e.to_string())))?;
            (Err(bytes), messages)
        } else {
            (Ok(body), Vec::new())
        };
        trail.messages(&messages);
        inner
            .guard
            .authorize(&token, &messages)
            .map_err(Failure::Refused)?;
        // 5, 6.
        match &inner.backend {
            Backend::Stdio(stdio) => {
                let resp = stdio
                    .handle(StdioRequest {
                        method: &parts.method,
                        headers: &parts.headers,
                        body: body.err().unwrap_or_default(),
                        messages: &messages,
                        token: &token,
                    })
                    .await
                    .map_err(Failure::Failed)?;
                self.pass_back(resp, &messages, &token)
                    .await
                    .map_err(Failure::Failed)
            }
            Backend::Http(http) => {
                upstream_request_headers(&mut parts.headers, &token, client)
                    .map_err(Failure::Failed)?;
                parts.version = Version::HTTP_11;
                // The inbound connection's own upstream connections, if `serve` set them up.
                let local = parts.extensions.remove::<LocalUpstream>();
                let body: UpstreamBody = match body {
                    Err(read) => http_body_util::Full::new(read)
                        .map_err(|never| match never {})
                        .boxed_unsync(),
                    Ok(stream) => stream.map_err(Into::into).boxed_unsync(),
                };
                let resp = http
                    .send(Request::from_parts(parts, body), rest, local.as_ref())
                    .await
                    .map_err(Failure::Failed)?;
                self.pass_back(resp, &messages, &token)
                    .await
                    .map_err(Failure::Failed)
            }
        }
    }

    /// The upstream's response, its `tools/list` results filtered when some tool needs
    /// scopes of its own.
    async fn pass_back<R>(
        &self,
        resp: Response<R>,
        messages: &[RpcMessage],
        token: &Arc<VerifiedToken>,
    ) -> Result<Response<GatewayBody>, GatewayError>
    where
        R: Body<Data = Bytes> + Send + 'static,
        R::Error: Into<BoxError>,
    {
        let ids = if self.inner.policy.needs_body() {
            tools_list_ids(messages)
        } else {
            Vec::new()
        };
        if ids.is_empty() {
            return Ok(resp.map(GatewayBody::new));
        }
        let filter = ToolsListFilter {
            ids,
            may_call: MayCall::new(self.inner.policy.clone(), token.clone()),
            max_json_bytes: self.inner.options.max_tools_list_bytes,
        };
        filter.apply(resp, &self.inner.label).await
    }
}

/// Answers with `resp` after draining a body nothing read (see [`gatehouse_guard::drain_body`]).
async fn after_unread<B>(
    mut resp: Response<GatewayBody>,
    body: B,
    version: Version,
) -> Response<GatewayBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if !drain(body).await {
        close_connection(version, resp.headers_mut());
    }
    resp
}
