//! Admin API keys: create (shown once), list, revoke; and where the API is described.

use axum::extract::Path;

use super::html::{
    self, Field, Section, View, badge, button_form, code, copy_block, errors, path_seg, render,
    select, table,
};
use super::session::{Ctx, Fail, Form, PageResult, Post, done};
use crate::admin::{self, AdminError};
use crate::pages::esc;

/// `GET /admin/api-keys`.
pub(crate) async fn page(ctx: Ctx) -> PageResult {
    page_html(&ctx, &Form::default(), None).await
}

async fn page_html(ctx: &Ctx, f: &Form, error: Option<&str>) -> PageResult {
    let keys = ctx.state.store.list_admin_keys().await?;
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            let action = if k.revoked_at.is_some() {
                String::new()
            } else {
                let label = format!(
                    "Revoke<span class=\"visually-hidden\"> key {}</span>",
                    esc(&k.name)
                );
                button_form(
                    ctx,
                    &format!("/admin/api-keys/{}/revoke", path_seg(&k.id)),
                    &label,
                    "small danger",
                    Some("Revoke this API key? Programs using it are refused at once."),
                    &[],
                )
            };
            vec![
                esc(&k.name),
                code(&k.id),
                k.env_id
                    .as_deref()
                    .map_or_else(|| "all environments".to_owned(), code),
                html::time(k.created_at),
                html::time_or(k.last_used_at, "never"),
                if k.revoked_at.is_some() {
                    badge("revoked", "fail")
                } else {
                    badge("active", "ok")
                },
                action,
            ]
        })
        .collect();
    let snapshot = ctx.state.envs.snapshot();
    let mut envs = vec![("", "All environments (server-wide)")];
    envs.extend(snapshot.envs.iter().map(|e| (e.id(), e.id())));
    let body = format!(
        "<p>Programs call the admin API at <code>/admin/api/v1</code> with <code>Authorization: Bearer gha_…</code>. \
         Everything this dashboard does, the API does; it is described by its <a href=\"/admin/api/v1/openapi.json\">OpenAPI document</a>.</p>{table}\
         <section class=\"card\" aria-labelledby=\"h-new\"><h2 id=\"h-new\">Create an API key</h2>{top}\
         <form method=\"post\" action=\"/admin/api-keys\">{csrf}{name}{env}<button type=\"submit\">Create API key</button></form></section>",
        table = table(
            "Admin API keys",
            &[
                "Name",
                "Id",
                "May administer",
                "Created",
                "Last used",
                "Status",
                "Action"
            ],
            &rows
        ),
        top = errors(&error.map(|e| vec![e.to_owned()]).unwrap_or_default()),
        csrf = ctx.csrf_field(),
        name = Field::text("name", "Name", f.get("name"))
            .hint("What it is for, e.g. “deploy pipeline”.")
            .error(error)
            .attrs("required autocomplete=\"off\"")
            .html(),
        env = select(
            "environment",
            "Environment",
            &envs,
            f.get("environment"),
            "A key limited to one environment cannot touch the others or server-wide settings."
        ),
    );
    Ok(render(
        ctx,
        View::new("Admin API keys", None, Section::ApiKeys, body).invalid_if(error.is_some()),
    ))
}

/// `POST /admin/api-keys`: the key is on the answer, once.
pub(crate) async fn create(Post { ctx, form }: Post) -> PageResult {
    let name = form.get("name").trim();
    if name.is_empty() {
        return page_html(&ctx, &form, Some("The key needs a name.")).await;
    }
    let s = &ctx.state;
    let (record, key) =
        match admin::create_admin_key(&*s.store, name, form.opt("environment"), s.now()).await {
            Ok(k) => k,
            Err(AdminError::Invalid(m) | AdminError::Conflict(m) | AdminError::NotFound(m)) => {
                return page_html(&ctx, &form, Some(&m)).await;
            }
            Err(e) => return Err(e.into()),
        };
    let body = format!(
        "<div class=\"notice warn\" role=\"alert\">Copy the key now: it is shown only once and cannot be shown again.</div>{}\
         <p>Key id {} ({}).</p><p><a href=\"/admin/api-keys\">Back to the API keys</a></p>",
        copy_block(2, "admin-api-key", "Admin API key", key.expose()),
        code(&record.id),
        record.env_id.as_deref().map_or_else(
            || "all environments".to_owned(),
            |e| format!("environment {}", esc(e))
        ),
    );
    Ok(render(
        &ctx,
        View::new(
            format!("API key {} created", record.name),
            None,
            Section::ApiKeys,
            body,
        ),
    ))
}

/// `POST /admin/api-keys/{id}/revoke`.
pub(crate) async fn revoke(Path(id): Path<String>, Post { ctx, .. }: Post) -> PageResult {
    if !ctx
        .state
        .store
        .revoke_admin_key(&id, ctx.state.now())
        .await?
    {
        return Err(Fail::NotFound(format!("no admin API key {id}")));
    }
    Ok(done(&ctx.state, "/admin/api-keys", "API key revoked."))
}
