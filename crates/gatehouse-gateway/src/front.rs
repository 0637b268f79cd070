//! The guard's public face, used as it is: the metadata documents, CORS preflights and the
//! `Origin` check are the guard's own ([`Guard::public_document`], [`Guard::check_origin`],
//! [`Guard::preflight`], [`Guard::cors_headers`]), so the gateway re-implements none of them.

use gatehouse_guard::{Guard, Rejection};
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Response};

use crate::body::GatewayBody;
use crate::error::GatewayError;

/// CORS headers to add to a response for a browser origin the guard allows.
#[derive(Clone, Debug)]
pub(crate) struct Cors(HeaderValue);

impl Cors {
    /// Adds the headers to `headers` (replacing the upstream's own CORS answer, if any).
    pub(crate) fn apply(&self, guard: &Guard, headers: &mut HeaderMap) {
        guard.cors_headers(&self.0, headers);
    }
}

/// The requests that need no token, answered in front of everything else.
#[derive(Clone, Debug)]
pub(crate) struct Front {
    guard: Guard,
}

impl Front {
    pub(crate) fn new(guard: &Guard) -> Self {
        Self {
            guard: guard.clone(),
        }
    }

    /// Answers the requests that need no token: the metadata documents, anything else under
    /// `/.well-known/` (404, after the `Origin` check), and CORS preflights.
    ///
    /// The 404s here carry no CORS headers on purpose. MCP Inspector 1.0.3 probes
    /// `/.well-known/oauth-authorization-server` at the MCP server's origin (a 2025-03-26
    /// fallback). With that 404 readable, 2 of 8 interop connects failed: the page redeemed
    /// its code with a PKCE verifier that did not match (its stored verifier belonged to
    /// another attempt), then replayed it. Unreadable, 0 of 6 did, as in every run before;
    /// the cost is a CORS line in the page's console.
    pub(crate) async fn public(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Option<Response<GatewayBody>> {
        let well_known = uri.path().starts_with("/.well-known/");
        if method != Method::OPTIONS && !well_known {
            return None;
        }
        if let Some(doc) = self.guard.public_document(method, uri).await {
            return Some(doc.map(GatewayBody::full));
        }
        if let Err(r) = self.guard.check_origin(headers) {
            return Some(self.guard.respond(&r).map(GatewayBody::full));
        }
        if method == Method::OPTIONS {
            return Some(self.guard.preflight(headers).map(GatewayBody::full));
        }
        Some(GatewayError::NoRoute(uri.path().to_owned()).respond())
    }

    /// The `Origin` check of a request: `Ok(None)` without `Origin` (not a browser),
    /// `Ok(Some(cors))` for an allowed origin, the guard's refusal otherwise.
    pub(crate) fn origin(&self, headers: &HeaderMap) -> Result<Option<Cors>, Rejection> {
        Ok(self.guard.check_origin(headers)?.cloned().map(Cors))
    }
}
