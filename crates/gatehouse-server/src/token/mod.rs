//! The token endpoint (RFC 6749 §3.2), written as numbered steps. The pipeline owns every
//! check shared by the grants (request shape, client authentication, the client's grant
//! permission, rate limits, issuing, response headers) so a grant cannot skip one; each
//! grant (one file under `grants/`) decides only what is unique to it.

pub mod client_auth;
pub mod grants;
pub mod issue;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use gatehouse_oauth::client::GrantType;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::{ErrorCode, OAuthError};

use self::client_auth::{Presented, authenticate};
use self::grants::Decision;
use crate::admin::client_has_grant;
use crate::audit::Ev;
use crate::crypto;
use crate::env::EnvHandle;
use crate::http::{ClientIp, Env};
use crate::respond::{JsonError, json_no_store};
use crate::state::AppState;

/// What the audit event of one token request says.
#[derive(Default)]
pub struct Trace {
    /// The grant type.
    pub grant_type: Option<String>,
    /// The client id.
    pub client_id: Option<String>,
    /// The resource.
    pub resource: Option<String>,
    /// The user.
    pub user_id: Option<String>,
    /// The grant's correlation id.
    pub correlation_id: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// Extra facts.
    pub data: Vec<(&'static str, String)>,
}

/// `POST /token`.
pub async fn handle(
    State(s): State<AppState>,
    Env(env): Env,
    ClientIp(ip): ClientIp,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut trace = Trace::default();
    let result = run(
        &s,
        &env,
        ip.as_deref(),
        uri.query(),
        &headers,
        &body,
        &mut trace,
    )
    .await;
    let event = match trace.grant_type.as_deref() {
        Some("refresh_token") => "refresh",
        _ => "token",
    };
    let correlation = trace
        .correlation_id
        .clone()
        .unwrap_or_else(|| crypto::new_correlation_id("tk_"));
    let mut ev = Ev::new(env.id(), &correlation, event, s.now_ms())
        .client(trace.client_id.as_deref())
        .resource(trace.resource.as_deref())
        .user(trace.user_id.as_deref())
        .ip(ip)
        .data("grant_type", trace.grant_type.clone().unwrap_or_default());
    if let Some(scope) = &trace.scope {
        ev = ev.data("scope", scope.clone());
    }
    for (k, v) in &trace.data {
        ev = ev.data(k, v.clone());
    }
    match result {
        Ok(resp) => {
            s.metrics
                .token_issued(trace.grant_type.as_deref().unwrap_or_default());
            s.audit.emit(ev.build()).await;
            resp
        }
        Err(e) => {
            s.audit.emit(ev.failed(&e.error).build()).await;
            axum::response::IntoResponse::into_response(e)
        }
    }
}

/// Whether a `Content-Type` says form. A list is accepted if form is in it: MCP Inspector 1.0
/// sends `application/json, application/x-www-form-urlencoded` with a form body when it
/// refreshes, and refusing it would log its users out for a header quirk.
fn is_form(content_type: &str) -> bool {
    content_type.split(',').any(|media| {
        media
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

async fn run(
    s: &AppState,
    env: &Arc<EnvHandle>,
    ip: Option<&str>,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    trace: &mut Trace,
) -> Result<Response, JsonError> {
    // 1. Parameters come in a form body only (RFC 6749 §3.2; never credentials in a URI).
    if query.is_some_and(|q| !q.is_empty()) {
        return Err(OAuthError::invalid_request(
            "send token request parameters in the request body, not the URL",
        )
        .into());
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_form(form_type) {
        return Err(OAuthError::invalid_request(
            "the token request must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let params = Params::parse(body);
    params.check_well_formed()?;
    // 2. The grant type.
    let raw_grant = params.required("grant_type")?;
    trace.grant_type = Some(raw_grant.to_owned());
    let grant = GrantType::parse(raw_grant).ok_or_else(|| {
        OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("grant_type {raw_grant:?} is not supported"),
        )
    })?;
    // 3. Rate limit by address before doing any work.
    let now_ms = s.now_ms();
    s.limiter
        .check(
            &format!("token-ip:{}", ip.unwrap_or("-")),
            s.limits.token_per_ip,
            now_ms,
        )
        .map_err(|retry| JsonError::rate_limited(retry, "token"))?;
    // 4. Authenticate the client (public clients identify themselves with client_id).
    let presented = Presented::read(headers, &params)?.ok_or_else(|| {
        JsonError::from(OAuthError::invalid_client(
            "client authentication is required: send client_id (public clients) or client credentials",
        ))
    })?;
    trace.client_id = Some(presented.client_id.clone());
    s.limiter
        .check(
            &format!("token-client:{}:{}", env.id(), presented.client_id),
            s.limits.token_per_client,
            now_ms,
        )
        .map_err(|retry| JsonError::rate_limited(retry, "token"))?;
    let authed = authenticate(s, env, &presented, true).await?;
    trace
        .data
        .push(("client_auth", authed.method.as_str().to_owned()));
    // 5. The client must be registered for this grant type. A client registered for
    //    authorization_code may also refresh: it holds a refresh token only if it was given
    //    one (it asked for offline_access).
    let permitted = client_has_grant(&authed.client.record, grant)
        || (grant == GrantType::RefreshToken
            && client_has_grant(&authed.client.record, GrantType::AuthorizationCode));
    if !permitted {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!(
                "this client is not registered for the {} grant",
                grant.as_str()
            ),
        )
        .into());
    }
    // 6. The grant decides (on the environment as the store has it, if the request names an
    //    MCP server this node has not loaded yet).
    let env = &s.envs.knowing_resources(env, &params, s.now()).await;
    let cx = grants::GrantCx {
        s,
        env,
        client: &authed.client.record,
        params: &params,
        now: s.now(),
    };
    let decision: Decision = match grant {
        GrantType::AuthorizationCode => grants::authorization_code::exchange(&cx, trace).await,
        GrantType::RefreshToken => grants::refresh_token::exchange(&cx, trace).await,
        GrantType::ClientCredentials => grants::client_credentials::exchange(&cx, trace).await,
    }?;
    trace.resource = Some(decision.resource.record.uri.clone());
    trace.scope = Some(decision.scope.to_string());
    // 7. Issue the tokens and answer with no-store.
    let issued = issue::issue(&cx, decision, trace).await?;
    // Last use is recorded at most once a minute per client: a write per token request
    // would serialise the endpoint on the database's single writer.
    crate::clients::record_use(s, env, &authed.client, cx.now).await;
    Ok(json_no_store(StatusCode::OK, &issued))
}

#[cfg(test)]
mod tests {
    use super::is_form;

    #[test]
    fn form_content_types() {
        for ok in [
            "application/x-www-form-urlencoded",
            "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            "application/json, application/x-www-form-urlencoded",
        ] {
            assert!(is_form(ok), "{ok}");
        }
        for bad in [
            "",
            "application/json",
            "application/x-www-form-urlencoded-not",
            "text/plain; note=application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            assert!(!is_form(bad), "{bad}");
        }
    }
}
