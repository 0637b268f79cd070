//! The consent page: names the MCP server, the client (name, id and the host the browser
//! returns to) and each scope with its description. Consent is remembered per user, client
//! and MCP server, and asked again when new scopes are requested.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use gatehouse_oauth::ErrorCode;
use gatehouse_oauth::OAuthError;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::redirect::{self, VerifiedRedirect};
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_store::ConsentRecord;

use super::{
    Loaded, complete, emit_failure, error_redirect, forbidden_page, load_pending, redirect,
    server_error_page,
};
use crate::audit::Ev;
use crate::env::EnvHandle;
use crate::http::Env;
use crate::pages::{self, ConsentView};
use crate::respond::internal;
use crate::state::AppState;

/// `GET /consent?request=…`
pub async fn page(
    State(s): State<AppState>,
    Env(mut env): Env,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q = Params::parse(q.unwrap_or_default().as_bytes());
    let loaded = match load_pending(&s, &mut env, &headers, q.get("request")).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    let Some(user_id) = loaded.pending.user_id.clone() else {
        return redirect(
            &format!("{}?request={}", env.url("/login"), loaded.handle),
            false,
        );
    };
    let user = match s.store.get_user(env.id(), &user_id).await {
        Ok(Some(u)) => u,
        Ok(None) => {
            return redirect(
                &format!("{}?request={}", env.url("/login"), loaded.handle),
                false,
            );
        }
        Err(e) => return server_error_page(&internal("user lookup", e)),
    };
    render(&s, &env, &loaded, &user.email)
}

fn render(s: &AppState, env: &EnvHandle, l: &Loaded, email: &str) -> Response {
    let Some(resource) = env.resource_by_id(&l.pending.resource_id) else {
        return server_error_page(&internal(
            "consent",
            "the MCP server of this request was deleted",
        ));
    };
    let scopes = l
        .pending
        .scope
        .split(' ')
        .filter(|x| !x.is_empty())
        .map(|x| (x.to_owned(), resource.describe_scope(x)))
        .collect();
    let host = url::Url::parse(&l.pending.redirect_uri)
        .ok()
        .map(|u| match u.host_str() {
            Some(h) => h.to_owned(),
            None => format!("{}:", u.scheme()),
        })
        .unwrap_or_default();
    let localhost_only = l
        .client
        .record
        .metadata
        .redirect_uris
        .iter()
        .all(|u| matches!(redirect::classify(u), Ok(redirect::RedirectKind::Loopback)));
    pages::consent(&ConsentView {
        action: &env.url("/consent"),
        request: &l.handle,
        csrf: &s.master.csrf_token(&l.handle, &l.browser),
        client_name: l.client.name(),
        client_id: l.client.id(),
        // A metadata document's host is who vouches for the client (draft §6.4).
        client_host: gatehouse_oauth::cimd::is_url_client_id(l.client.id())
            .then(|| {
                url::Url::parse(l.client.id())
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
            })
            .flatten(),
        verified: l.client.verified.map(|k| k.name.as_str()),
        redirect_host: &host,
        localhost_only,
        resource_name: &resource.record.name,
        resource_uri: &resource.record.uri,
        scopes,
        user_email: email,
    })
}

/// `POST /consent` with `decision=allow` or `decision=deny`.
pub async fn submit(
    State(s): State<AppState>,
    Env(mut env): Env,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = Params::parse(&body);
    let loaded = match load_pending(&s, &mut env, &headers, form.get("request")).await {
        Ok(l) => l,
        Err(resp) => return resp,
    };
    if !s.master.csrf_valid(
        &loaded.handle,
        &loaded.browser,
        form.get("csrf").unwrap_or_default(),
    ) {
        return forbidden_page();
    }
    let (Some(user_id), Some(auth_time)) =
        (loaded.pending.user_id.clone(), loaded.pending.auth_time)
    else {
        return redirect(
            &format!("{}?request={}", env.url("/login"), loaded.handle),
            true,
        );
    };
    let allow = match form.get("decision") {
        Some("allow") => true,
        Some("deny") => false,
        _ => return forbidden_page(),
    };
    // Exactly one submission completes the request.
    let now = s.now();
    let p = match s
        .store
        .take_pending(env.id(), &loaded.pending.hash, now)
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return super::request_gone_page(),
        Err(e) => return server_error_page(&internal("taking pending authorization", e)),
    };
    let to = VerifiedRedirect::from_stored(p.redirect_uri.clone());
    if !allow {
        let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        emit_failure(&s, &env, &loaded.pending, "consent", &e).await;
        return error_redirect(
            &env,
            &loaded.client.record,
            &to,
            p.state.as_deref(),
            &e,
            true,
            true,
        );
    }
    if let Err(e) = remember(
        &s,
        &env,
        loaded.client.consent_key(),
        &user_id,
        &p.resource_id,
        &p.scope,
        now,
    )
    .await
    {
        return server_error_page(&e);
    }
    let resource = env
        .resource_by_id(&p.resource_id)
        .map(|r| r.record.uri.clone());
    s.audit
        .emit(
            Ev::new(env.id(), &p.correlation_id, "consent", s.now_ms())
                .client(Some(&p.client_id))
                .resource(resource.as_deref())
                .user(Some(&user_id))
                .data("scope", p.scope.clone())
                .build(),
        )
        .await;
    complete(&s, &env, &p, &loaded.client, &user_id, auth_time, true)
        .await
        .unwrap_or_else(|e| server_error_page(&e))
}

async fn remember(
    s: &AppState,
    env: &EnvHandle,
    client_id: &str,
    user_id: &str,
    resource_id: &str,
    scope: &str,
    now: i64,
) -> Result<(), OAuthError> {
    let existing = s
        .store
        .get_consent(env.id(), user_id, client_id, resource_id)
        .await
        .map_err(|e| internal("consent lookup", e))?;
    let granted = ScopeSet::from_tokens(scope.split(' ').filter(|x| !x.is_empty()));
    let merged = match &existing {
        Some(c) => {
            ScopeSet::from_tokens(c.scope.split(' ').filter(|x| !x.is_empty())).union(&granted)
        }
        None => granted,
    };
    let record = ConsentRecord {
        env_id: env.id().to_owned(),
        user_id: user_id.to_owned(),
        client_id: client_id.to_owned(),
        resource_id: resource_id.to_owned(),
        scope: merged.to_string(),
        granted_at: existing.as_ref().map_or(now, |c| c.granted_at),
        updated_at: now,
    };
    s.store
        .upsert_consent(&record)
        .await
        .map_err(|e| internal("storing consent", e))
}
