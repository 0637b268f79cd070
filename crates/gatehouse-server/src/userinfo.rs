//! OIDC UserInfo (OIDC Core §5.3): bearer access token with the `openid` scope; errors are
//! RFC 6750 challenges.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::access;
use crate::http::Env;
use crate::respond::{internal, json_no_store, no_store};
use crate::state::AppState;

fn challenge(status: StatusCode, error: &str, description: &str) -> Response {
    let mut resp = (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    let value = format!(
        "Bearer realm=\"gatehouse\", error=\"{error}\", error_description=\"{description}\""
    );
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    no_store(resp.headers_mut());
    resp
}

/// `GET` or `POST /userinfo`.
pub async fn handle(State(s): State<AppState>, Env(env): Env, headers: HeaderMap) -> Response {
    let token = crate::http::bearer_token(&headers);
    let Some(token) = token else {
        let mut resp = StatusCode::UNAUTHORIZED.into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"gatehouse\""),
        );
        return resp;
    };
    let claims = match access::check(&s, &env, &token).await {
        Ok(Ok(c)) => c,
        Ok(Err(_)) => {
            return challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the access token is invalid, expired or revoked",
            );
        }
        Err(e) => return crate::respond::JsonError::from(e).into_response(),
    };
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    if !scopes.contains(&"openid") || claims.sid.is_none() {
        return challenge(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "userinfo requires a user access token with the openid scope",
        );
    }
    let user = match s.store.get_user(env.id(), &claims.sub).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => {
            return challenge(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the user no longer exists",
            );
        }
        Err(e) => {
            return crate::respond::JsonError::from(internal("user lookup", e)).into_response();
        }
    };
    let mut body = json!({ "sub": user.id });
    if scopes.contains(&"email") {
        body["email"] = json!(user.email);
        body["email_verified"] = json!(false);
    }
    if scopes.contains(&"profile") {
        body["name"] = json!(user.name);
    }
    json_no_store(StatusCode::OK, &body)
}
