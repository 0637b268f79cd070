//! Consents, shown on the pages of users and of clients, and revoking them (which also
//! revokes the grants and refresh tokens issued under them).

use std::collections::HashMap;

use axum::extract::Path;
use gatehouse_store::ConsentRecord;

use super::html::{self, button_form, code, path_seg, short_code, table};
use super::session::{Ctx, Fail, PageResult, Post, done};
use crate::admin;
use crate::env::EnvHandle;
use crate::pages::esc;

fn base(env: &EnvHandle) -> String {
    format!("/admin/env/{}", path_seg(env.id()))
}

/// Names of users and clients, to show consents readably.
pub(crate) struct Names {
    users: HashMap<String, String>,
    clients: HashMap<String, String>,
}

impl Names {
    /// Loads the users and clients of an environment.
    pub(crate) async fn load(ctx: &Ctx, env: &EnvHandle) -> Result<Self, Fail> {
        let users = ctx
            .state
            .store
            .list_users(env.id())
            .await?
            .into_iter()
            .map(|u| (u.id, u.email))
            .collect();
        let clients = ctx
            .state
            .store
            .list_clients(env.id())
            .await?
            .into_iter()
            .map(|c| (c.client_id, c.metadata.client_name.unwrap_or_default()))
            .collect();
        Ok(Self { users, clients })
    }
}

/// The row id (the client page) of a consent's client: a registration's logical client.
pub(crate) fn consent_row(ctx: &Ctx, env: &EnvHandle, client_id: &str) -> String {
    admin::row_id(&ctx.state.master, env.id(), client_id).unwrap_or_else(|_| client_id.to_owned())
}

/// The consents table with a revoke button per row; `back` is the page to return to.
pub(crate) fn consents_table(
    ctx: &Ctx,
    env: &EnvHandle,
    names: &Names,
    consents: &[ConsentRecord],
    back: &str,
) -> String {
    let rows: Vec<Vec<String>> = consents
        .iter()
        .map(|c| {
            let row = consent_row(ctx, env, &c.client_id);
            let client = names.clients.get(&row).map_or_else(|| c.client_id.clone(), Clone::clone);
            let user = names.users.get(&c.user_id).map_or_else(|| c.user_id.clone(), Clone::clone);
            let server = env.resource_by_id(&c.resource_id).map_or_else(|| c.resource_id.clone(), |r| r.record.name.clone());
            let label = format!("Revoke<span class=\"visually-hidden\"> the consent of {} for {} on {}</span>", esc(&user), esc(&client), esc(&server));
            let revoke = button_form(
                ctx,
                &format!("{}/consents/revoke", base(env)),
                &label,
                "small danger",
                Some("Revoke this consent? The client's refresh tokens stop working and the user must consent again."),
                &[("user_id", &c.user_id), ("client_id", &c.client_id), ("resource_id", &c.resource_id), ("back", back)],
            );
            vec![
                format!("<a href=\"{}/users/{}\">{}</a>", base(env), path_seg(&c.user_id), esc(&user)),
                format!("<a href=\"{}/clients/{}\">{}</a><br>{}", base(env), path_seg(&row), esc(&client), short_code(&c.client_id)),
                esc(&server),
                c.scope.split(' ').filter(|s| !s.is_empty()).map(code).collect::<Vec<_>>().join(" "),
                html::time(c.granted_at),
                html::time(c.updated_at),
                revoke,
            ]
        })
        .collect();
    table(
        "Consents",
        &[
            "User",
            "Client",
            "MCP server",
            "Scopes",
            "Granted",
            "Updated",
            "Action",
        ],
        &rows,
    )
}

/// `POST /admin/env/{env}/consents/revoke`: forgets the consent and revokes the grants under
/// it with their refresh tokens (one atomic store operation).
pub(crate) async fn revoke(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let existed = ctx
        .state
        .store
        .revoke_consent(
            env.id(),
            form.get("user_id"),
            form.get("client_id"),
            form.get("resource_id"),
            ctx.state.now(),
        )
        .await?;
    let prefix = format!("{}/", base(&env));
    let back = Some(form.get("back"))
        .filter(|b| b.starts_with(&prefix) && !b.contains("//"))
        .map_or_else(|| format!("{}/users", base(&env)), str::to_owned);
    let msg = if existed {
        "Consent revoked; the refresh tokens issued under it no longer work."
    } else {
        "There was no such consent (already revoked?)."
    };
    Ok(done(&ctx.state, &back, msg))
}
