//! [`Guard`]: the configured resource server — verifier, metadata, origins, challenges —
//! shared (cheaply cloned) by every request.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode, Uri};

use crate::challenge::Rejection;
use crate::config::GuardConfig;
use crate::cors::{self, OriginPolicy};
use crate::discovery::Discovery;
use crate::layer::GuardLayer;
use crate::mcp::RpcMessage;
use crate::prm::{ProtectedResource, WELL_KNOWN_AS};
use crate::token::VerifiedToken;
use crate::verify::{IntrospectionVerifier, JwtVerifier, TokenVerifier};

/// A configured guard. Clone it freely; clones share caches.
#[derive(Clone)]
pub struct Guard {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: GuardConfig,
    verifier: Arc<dyn TokenVerifier>,
    resource: ProtectedResource,
    pub(crate) origins: OriginPolicy,
    /// The `scope` of 401 challenges: the required scopes plus `scopes_supported`.
    challenge_scope: Option<String>,
    as_metadata: Option<Arc<Discovery>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard verifying tokens as configured: by introspection if
    /// [`crate::GuardConfigBuilder::introspection`] was set, else as JWTs against the JWKS.
    pub fn new(config: GuardConfig) -> Self {
        let discovery = config.discoveries();
        let verifier: Arc<dyn TokenVerifier> = match &config.introspection {
            Some(i) => Arc::new(IntrospectionVerifier::new(&config, i)),
            None => Arc::new(JwtVerifier::with_discovery(&config, &discovery)),
        };
        Self::build(config, verifier, discovery)
    }

    /// A guard with another verifier (scopes, CORS, metadata and challenges as configured).
    pub fn with_verifier(config: GuardConfig, verifier: Arc<dyn TokenVerifier>) -> Self {
        let discovery = config.discoveries();
        Self::build(config, verifier, discovery)
    }

    fn build(
        config: GuardConfig,
        verifier: Arc<dyn TokenVerifier>,
        discovery: Vec<Arc<Discovery>>,
    ) -> Self {
        let scope = config
            .policy
            .required()
            .union(&gatehouse_oauth::scope::ScopeSet::from_tokens(
                &config.scopes_supported,
            ));
        Self {
            inner: Arc::new(Inner {
                resource: ProtectedResource::new(&config),
                origins: OriginPolicy::new(&config),
                challenge_scope: (!scope.is_empty()).then(|| scope.to_string()),
                as_metadata: config
                    .serve_as_metadata
                    .then(|| discovery.into_iter().next())
                    .flatten(),
                verifier,
                config,
            }),
        }
    }

    /// The tower layer. With axum: `router.layer(guard.layer())`.
    pub fn layer(&self) -> GuardLayer {
        GuardLayer::new(self.clone())
    }

    /// The configuration.
    pub fn config(&self) -> &GuardConfig {
        &self.inner.config
    }

    /// The path-form Protected Resource Metadata URL named in every challenge.
    pub fn resource_metadata_url(&self) -> &str {
        &self.inner.resource.url
    }

    /// The Protected Resource Metadata document (JSON).
    pub fn resource_metadata(&self) -> &[u8] {
        &self.inner.resource.document
    }

    /// Reads and verifies the bearer token of a request (for frameworks without tower).
    /// The token is shared with the verifier's cache: a repeated token costs no copy.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<VerifiedToken>, Rejection> {
        let token = crate::bearer::bearer_token(headers)?;
        self.inner
            .verifier
            .verify(token)
            .await
            .map_err(Rejection::from)
    }

    /// The browser `Origin` check every request gets before anything else (MCP transports:
    /// servers must validate `Origin`, against DNS rebinding). `Ok(None)`: no `Origin`, not
    /// a browser. `Ok(Some(origin))`: an allowed origin; its responses get
    /// [`Guard::cors_headers`]. `Err`: [`Rejection::OriginNotAllowed`] (403).
    pub fn check_origin<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Option<&'h HeaderValue>, Rejection> {
        match headers.get(header::ORIGIN) {
            None => Ok(None),
            Some(o) if self.inner.origins.allows(o) => Ok(Some(o)),
            Some(o) => Err(Rejection::OriginNotAllowed(
                String::from_utf8_lossy(o.as_bytes()).into_owned(),
            )),
        }
    }

    /// Adds the CORS headers of a response to an allowed `origin` (from
    /// [`Guard::check_origin`]), refusals included so a browser client can read
    /// `WWW-Authenticate`: `Access-Control-Allow-Origin` and `-Expose-Headers` (replacing any
    /// the MCP server set) and `Vary: Origin`.
    pub fn cors_headers(&self, origin: &HeaderValue, response: &mut HeaderMap) {
        cors::allow(response, origin);
    }

    /// The answer to a CORS preflight (`OPTIONS`) that passed [`Guard::check_origin`],
    /// without a token (RS-27): 204 with the allowed methods, the MCP request headers (and
    /// any `Mcp-Param-*` the browser asks for) and a max age, plus [`Guard::cors_headers`].
    pub fn preflight(&self, request: &HeaderMap) -> Response<Bytes> {
        let mut resp = Response::new(Bytes::new());
        *resp.status_mut() = StatusCode::NO_CONTENT;
        cors::preflight(resp.headers_mut(), request);
        if let Some(origin) = request.get(header::ORIGIN) {
            cors::allow(resp.headers_mut(), origin);
        }
        resp
    }

    /// Checks that `token` has every scope the request made of `messages` needs (pass an
    /// empty slice for a request that is not JSON-RPC).
    pub fn authorize(
        &self,
        token: &VerifiedToken,
        messages: &[RpcMessage],
    ) -> Result<(), Rejection> {
        let policy = &self.inner.config.policy;
        policy.check(&token.scopes, messages).map_err(|needed| {
            let tool = messages
                .iter()
                .filter_map(RpcMessage::tool)
                .find(|t| !policy.may_call(&token.scopes, t))
                .map(str::to_owned);
            Rejection::InsufficientScope { needed, tool }
        })
    }

    /// The response for a refusal: status, `WWW-Authenticate`, JSON body.
    pub fn respond(&self, rejection: &Rejection) -> Response<String> {
        match rejection {
            Rejection::Unavailable(detail) => {
                tracing::warn!(%detail, "access token could not be checked");
            }
            r => tracing::debug!(status = %r.status(), reason = %r, "request refused"),
        }
        rejection.respond(
            &self.inner.resource.url,
            self.inner.challenge_scope.as_deref(),
        )
    }

    /// The metadata documents, served without authentication and with CORS `*`: the PRM at
    /// its path and root forms, and (if configured) the AS metadata mirror. `None` for any
    /// other path. Answer these before [`Guard::check_origin`]: they are public.
    pub async fn public_document(&self, method: &Method, uri: &Uri) -> Option<Response<Bytes>> {
        let document = if self.inner.resource.serves(uri.path(), uri.query()) {
            Ok(self.inner.resource.document.clone())
        } else if uri.path() == WELL_KNOWN_AS {
            let discovery = self.inner.as_metadata.as_ref()?;
            if method == Method::GET || method == Method::HEAD {
                discovery.get().await.map(|m| m.raw.clone())
            } else {
                Ok(Bytes::new())
            }
        } else {
            return None;
        };
        let mut resp = match (method, document) {
            (&Method::OPTIONS, _) => {
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                cors::preflight(resp.headers_mut(), &HeaderMap::new());
                resp
            }
            (&Method::GET | &Method::HEAD, Ok(doc)) => {
                let mut resp = Response::new(doc);
                let h = resp.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                h.insert(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                );
                resp
            }
            (&Method::GET | &Method::HEAD, Err(e)) => self
                .respond(&Rejection::Unavailable(e.to_string()))
                .map(Bytes::from),
            _ => {
                let mut resp = Response::new(Bytes::new());
                *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                resp.headers_mut().insert(
                    header::ALLOW,
                    HeaderValue::from_static("GET, HEAD, OPTIONS"),
                );
                resp
            }
        };
        cors::allow_any(resp.headers_mut());
        Some(resp)
    }
}
