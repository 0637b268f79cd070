//! The axum extractor for the verified token.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::token::VerifiedToken;

/// The [`VerifiedToken`] of a request that passed the guard:
/// `async fn handler(Authenticated(token): Authenticated) { … }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated(pub VerifiedToken);

/// The handler runs without the guard in front of it: a wiring mistake, answered 500.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardNotInstalled;

impl IntoResponse for GuardNotInstalled {
    fn into_response(self) -> Response {
        tracing::error!("Authenticated extractor used on a route the guard does not cover");
        let body = axum::Json(serde_json::json!({
            "error": "server_error",
            "error_description": "the server is misconfigured",
        }));
        (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = GuardNotInstalled;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, GuardNotInstalled> {
        parts
            .extensions
            .get::<VerifiedToken>()
            .cloned()
            .map(Authenticated)
            .ok_or(GuardNotInstalled)
    }
}
