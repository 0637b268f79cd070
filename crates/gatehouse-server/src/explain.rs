//! What a failure in the authentication log means and what to do about it, in the words of
//! the troubleshooting guide. Used by the admin API, the dashboard and `gatehouse logs`.

use gatehouse_store::AuditEvent;
use serde::Serialize;

use crate::clients::known;

/// The explanation of one failed event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Explanation {
    /// One sentence: what happened.
    pub summary: String,
    /// Steps that fix it, most likely first.
    pub fixes: Vec<String>,
}

fn data<'a>(e: &'a AuditEvent, key: &str) -> Option<&'a str> {
    e.data.get(key).and_then(|v| v.as_str())
}

fn cache_steps(e: &AuditEvent) -> Vec<String> {
    let likely = known::guess(data(e, "redirect_uri"), None);
    let mut steps = Vec::new();
    if let Some(k) = likely {
        steps.push(format!("{}: {}", k.name, k.clear_cache));
    }
    steps.extend(
        known::all()
            .iter()
            .filter(|k| likely.is_none_or(|l| l.id != k.id))
            .map(|k| format!("{}: {}", k.name, k.clear_cache)),
    );
    steps
}

/// Explains a failed event; `None` for successes.
pub fn explain(e: &AuditEvent) -> Option<Explanation> {
    if e.outcome == "success" {
        return None;
    }
    let detail = e.error_detail.clone().unwrap_or_default();
    let error = e.error.as_deref().unwrap_or_default();
    let (summary, fixes): (String, Vec<String>) = match (e.event.as_str(), error) {
        (_, "invalid_client") if detail.contains("metadata document") || detail.contains("fetch failed") || detail.contains("not allowed") => (
            format!("The client's metadata document could not be used: {detail}"),
            vec![
                "If the host is trusted, allow it: gatehouse env set <env> --cimd-trust allow-list --cimd-allow-domain <domain>.".into(),
                "If the document is invalid, the client's developers must fix it (client_id must equal its URL; no client secrets).".into(),
            ],
        ),
        (_, "invalid_client") => {
            let mut fixes = vec!["The client uses a registration this environment does not know (another server or environment, a deleted client, or a data reset). Make it register again by clearing its cached registration:".to_owned()];
            fixes.extend(cache_steps(e));
            (format!("Unknown or unusable client: {detail}"), fixes)
        }
        ("authorize", "invalid_request") if detail.contains("registered") => {
            let mut fixes = vec![
                "The redirect_uri sent must match a registered one exactly (only the port of a loopback URI may differ).".to_owned(),
                "If the MCP client changed its address or port, it must register again: clear its cached registration.".to_owned(),
            ];
            fixes.extend(cache_steps(e));
            (format!("redirect_uri mismatch: {detail}"), fixes)
        }
        (_, "invalid_target") => (
            format!("The resource parameter names no MCP server of this environment: {detail}"),
            vec![
                "Register the MCP server with exactly the URL clients use (gatehouse resource add --url …).".into(),
                "Check that the MCP server's protected resource metadata `resource` equals that URL.".into(),
            ],
        ),
        (_, "invalid_scope") => (
            format!("A scope was asked that the MCP server or client does not allow: {detail}"),
            vec!["Add the scope to the MCP server (or to the client's allowed scopes), or make the client ask for the scopes the server publishes.".into()],
        ),
        ("cors", _) => (
            format!("A browser was refused by CORS: {detail}"),
            vec![
                "Add the origin to the environment's allowed origins (dashboard: Callback URLs & CORS, or gatehouse env set <env> --allowed-origin <origin>). MCP Inspector's is http://localhost:6274; development environments allow every loopback origin without listing it.".into(),
            ],
        ),
        ("refresh", "invalid_grant") if detail.contains("reuse") => (
            "A refresh token was used twice; the whole authorization was revoked for safety.".into(),
            vec![
                "The user must connect again.".into(),
                "If this happens often, the client refreshes in parallel beyond the grace window: raise it with gatehouse env set <env> --refresh-grace 60.".into(),
            ],
        ),
        ("token", "invalid_grant") if detail.contains("code replay") || detail.contains("already used") => (
            "An authorization code was used twice; everything issued from it was revoked.".into(),
            vec!["The user must connect again. A client that retries the code exchange should not.".into()],
        ),
        ("token", "invalid_grant") if detail.contains("code_verifier") => (
            format!("PKCE check failed: {detail}"),
            vec!["The client sent a code_verifier that does not match its code_challenge; this is a client bug.".into()],
        ),
        (_, "invalid_grant") => (
            format!("The code or refresh token cannot be used: {detail}"),
            vec!["Expired, revoked or already used: the user must connect again.".into()],
        ),
        ("login", "rate_limited") | (_, "temporarily_unavailable") => (
            format!("Rate limited: {detail}"),
            vec!["Wait and retry. If legitimate traffic is limited, raise the limits in the [rate_limits] section of the configuration.".into()],
        ),
        ("login", _) => (format!("Sign-in failed: {detail}"), vec!["Check the email and password; reset the password in the dashboard if needed.".into()]),
        ("consent", "access_denied") => ("The user chose Deny on the consent page.".into(), vec!["Nothing to fix: ask the user to connect again if it was a mistake.".into()]),
        (_, "unauthorized_client") => (
            format!("The client is not registered for this grant: {detail}"),
            vec!["Register the client with the grant type it uses (e.g. refresh_token, client_credentials).".into()],
        ),
        ("register", _) => (
            format!("Registration refused: {detail}"),
            vec!["The client's registration request breaks a rule of this environment; the detail names it.".into()],
        ),
        ("gateway", "insufficient_scope") => (
            format!("The token lacks a scope the MCP request needs: {detail}"),
            vec!["The client should ask for the scope (MCP step-up); the user must consent to it.".into()],
        ),
        ("gateway", _) => (format!("The gateway refused the request: {detail}"), vec!["Check the token's audience, issuer and expiry against the MCP server's settings.".into()]),
        _ => (format!("{error}: {detail}"), vec![]),
    };
    Some(Explanation { summary, fixes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn failed(event: &str, error: &str, detail: &str, data: serde_json::Value) -> AuditEvent {
        AuditEvent {
            event: event.into(),
            outcome: "failure".into(),
            error: Some(error.into()),
            error_detail: Some(detail.into()),
            data,
            ..Default::default()
        }
    }

    #[test]
    fn explanations_table() {
        let cases = [
            (
                failed(
                    "authorize",
                    "invalid_request",
                    "redirect_uri does not match any redirect URI registered for this client (received \"x\"; registered: y)",
                    json!({"redirect_uri": "http://localhost:5555/oauth/callback"}),
                ),
                "redirect_uri mismatch",
                "mcp-remote",
            ),
            (
                failed(
                    "token",
                    "invalid_client",
                    "unknown client; register again",
                    json!({}),
                ),
                "Unknown",
                "~/.copilot/mcp-oauth-config",
            ),
            (
                failed(
                    "cors",
                    "origin_not_allowed",
                    "browser origin http://localhost:6274 is not allowed",
                    json!({}),
                ),
                "CORS",
                "http://localhost:6274",
            ),
            (
                failed(
                    "refresh",
                    "invalid_grant",
                    "refresh token reuse detected; grant gr_1 revoked",
                    json!({}),
                ),
                "used twice",
                "--refresh-grace",
            ),
            (
                failed(
                    "authorize",
                    "invalid_target",
                    "resource \"x\" is not an MCP server",
                    json!({}),
                ),
                "resource parameter",
                "resource add",
            ),
            (
                failed(
                    "consent",
                    "access_denied",
                    "the user denied the request",
                    json!({}),
                ),
                "Deny",
                "connect again",
            ),
        ];
        for (event, summary, fix) in cases {
            let x = explain(&event).unwrap();
            assert!(x.summary.contains(summary), "{}", x.summary);
            assert!(
                x.fixes.iter().any(|f| f.contains(fix)),
                "{summary}: {:?}",
                x.fixes
            );
        }
        assert!(
            explain(&AuditEvent {
                outcome: "success".into(),
                ..Default::default()
            })
            .is_none()
        );
    }

    #[test]
    fn the_likely_client_comes_first() {
        let e = failed(
            "authorize",
            "invalid_request",
            "redirect_uri ... registered",
            json!({"redirect_uri": "cursor://anysphere.cursor-mcp/oauth/x/callback"}),
        );
        let x = explain(&e).unwrap();
        assert!(x.fixes[2].starts_with("Cursor"), "{:?}", x.fixes);
    }
}
