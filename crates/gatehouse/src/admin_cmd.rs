//! The admin subcommands. They open the server's database directly (SQLite in WAL mode
//! allows it while the server runs; the server notices changes within a second).

use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use gatehouse_server::admin::{self, NewClient, NewResource};
use gatehouse_server::clock::{Clock, SystemClock};
use gatehouse_server::crypto::MasterKey;
use gatehouse_server::env::resolve_issuer;
use gatehouse_store::{AuditQuery, Profile, RegistrationMode, Store};
use serde_json::{Value, json};

use crate::cli::{
    AdminCommand, AdminKeyCmd, AdminUserCmd, ClientCmd, Common, EnvCmd, KeysCmd, LogsArgs,
    ProfileArg, RegistrationArg, RegistrationTokenCmd, ResourceCmd, UserCmd,
};

struct Ctx {
    store: Arc<dyn Store>,
    master: MasterKey,
    json: bool,
    now: i64,
}

impl Ctx {
    async fn open(common: &Common) -> anyhow::Result<Self> {
        let dir = common
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("gatehouse-data"));
        let opened = crate::store_open::open_store(
            &dir,
            common.database_url.as_deref(),
            crate::store_open::ADMIN_POOL_SIZE,
        )
        .await?;
        Ok(Self {
            store: opened.store,
            master: opened.master,
            json: common.json,
            now: SystemClock.now(),
        })
    }

    /// Prints `value` as JSON, or `text` for people.
    fn out(&self, value: Value, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        } else {
            println!("{}", text());
        }
    }

    async fn issuer_of(&self, stored: &str) -> String {
        match self
            .store
            .get_meta("public_url")
            .await
            .ok()
            .flatten()
            .and_then(|u| url::Url::parse(&u).ok())
        {
            Some(public) => resolve_issuer(stored, &public),
            None if stored.starts_with("http") => stored.to_owned(),
            None => format!("<public URL>{stored}"),
        }
    }
}

pub(crate) async fn run(cmd: AdminCommand) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Env(c) => env_cmd(c).await,
        AdminCommand::Resource(c) => resource_cmd(c).await,
        AdminCommand::User(c) => user_cmd(c).await,
        AdminCommand::Client(c) => client_cmd(c).await,
        AdminCommand::Keys(c) => keys_cmd(c).await,
        AdminCommand::RegistrationToken(c) => registration_token_cmd(c).await,
        AdminCommand::Logs(a) => logs_cmd(a).await,
        AdminCommand::AdminKey(c) => admin_key_cmd(c).await,
        AdminCommand::AdminUser(c) => admin_user_cmd(c).await,
    }
}

async fn ensure_bootstrapped(cx: &Ctx) -> anyhow::Result<()> {
    admin::bootstrap(&*cx.store, &cx.master, cx.now).await?;
    Ok(())
}

async fn env_cmd(cmd: EnvCmd) -> anyhow::Result<()> {
    match cmd {
        EnvCmd::Add {
            name,
            issuer,
            profile,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            ensure_bootstrapped(&cx).await?;
            let profile = match profile {
                Some(ProfileArg::Development) => Profile::Development,
                Some(ProfileArg::Production) | None => Profile::Production,
            };
            let env = admin::create_environment(
                &*cx.store,
                &cx.master,
                &name,
                issuer.as_deref(),
                profile,
                cx.now,
            )
            .await?;
            let issuer = cx.issuer_of(&env.issuer).await;
            cx.out(
                json!({"id": env.id, "issuer": issuer, "profile": env.profile.as_str()}),
                || {
                    format!(
                        "created environment {} ({}), issuer {issuer}",
                        env.id,
                        env.profile.as_str()
                    )
                },
            );
        }
        EnvCmd::List { common } => {
            let cx = Ctx::open(&common).await?;
            ensure_bootstrapped(&cx).await?;
            let mut rows = Vec::new();
            for e in cx.store.list_environments().await? {
                rows.push(json!({"id": e.id, "issuer": cx.issuer_of(&e.issuer).await, "profile": e.profile.as_str()}));
            }
            let text = rows
                .iter()
                .map(|r| {
                    format!(
                        "{:<12} {:<12} {}",
                        r["id"].as_str().unwrap_or(""),
                        r["profile"].as_str().unwrap_or(""),
                        r["issuer"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            cx.out(Value::Array(rows), || text);
        }
        EnvCmd::Show { name, common } => {
            let cx = Ctx::open(&common).await?;
            let e = admin::get_environment(&*cx.store, &name).await?;
            let v = json!({"id": e.id, "issuer": cx.issuer_of(&e.issuer).await, "profile": e.profile.as_str(), "settings": e.settings});
            let text = serde_json::to_string_pretty(&v).unwrap_or_default();
            cx.out(v, || text);
        }
        EnvCmd::Set {
            name,
            registration,
            allowed_origins,
            remove_origins,
            allowed_callback_urls,
            remove_callback_urls,
            log_retention_days,
            refresh_grace,
            code_ttl,
            cimd,
            max_unused_registrations,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            let mut e = admin::get_environment(&*cx.store, &name).await?;
            if let Some(r) = registration {
                e.settings.registration = match r {
                    RegistrationArg::Open => RegistrationMode::Open,
                    RegistrationArg::Token => RegistrationMode::Token,
                    RegistrationArg::Off => RegistrationMode::Off,
                };
            }
            for o in allowed_origins {
                let o = admin::check_origin(&o, e.profile)?;
                if !e.settings.allowed_origins.contains(&o) {
                    e.settings.allowed_origins.push(o);
                }
            }
            for o in remove_origins {
                let o = o.trim().trim_end_matches('/').to_owned();
                e.settings.allowed_origins.retain(|x| *x != o);
            }
            for c in allowed_callback_urls {
                let c = gatehouse_oauth::redirect::check_callback_pattern(
                    &c,
                    admin::policy_of(e.profile),
                )
                .map_err(|m| anyhow!(m))?;
                if !e.settings.allowed_callback_urls.contains(&c) {
                    e.settings.allowed_callback_urls.push(c);
                }
            }
            for c in remove_callback_urls {
                let c = c.trim().to_owned();
                e.settings.allowed_callback_urls.retain(|x| *x != c);
            }
            if let Some(d) = log_retention_days {
                e.settings.log_retention_days = d;
            }
            if let Some(g) = refresh_grace {
                e.settings.refresh_grace = g;
            }
            if let Some(t) = code_ttl {
                e.settings.code_ttl = t;
            }
            if let Some(n) = max_unused_registrations {
                e.settings.max_unused_dynamic_clients = n;
            }
            apply_cimd(&mut e.settings.cimd, cimd);
            admin::update_environment(&*cx.store, &e).await?;
            let v = json!({"id": e.id, "settings": e.settings});
            cx.out(v, || format!("updated environment {}", e.id));
        }
    }
    Ok(())
}

fn apply_cimd(c: &mut gatehouse_store::CimdSettings, a: crate::cli::CimdArgs) {
    use crate::cli::CimdTrustArg;
    if let Some(on) = a.cimd {
        c.enabled = on == "on";
    }
    if let Some(t) = a.cimd_trust {
        c.trust = match t {
            CimdTrustArg::AnyHttps => gatehouse_store::CimdTrust::AnyHttps,
            CimdTrustArg::AllowList => gatehouse_store::CimdTrust::AllowList,
            CimdTrustArg::KnownClients => gatehouse_store::CimdTrust::KnownClients,
        };
    }
    for d in a.cimd_allow_domains {
        if !c.allowed_domains.contains(&d) {
            c.allowed_domains.push(d);
        }
    }
    for h in a.cimd_fetch_allow_hosts {
        if !c.fetch_allow_hosts.contains(&h) {
            c.fetch_allow_hosts.push(h);
        }
    }
    if let Some(f) = a.cimd_ca_file {
        c.fetch_ca_file = Some(f);
    }
}

async fn resource_cmd(cmd: ResourceCmd) -> anyhow::Result<()> {
    match cmd {
        ResourceCmd::Add {
            env,
            name,
            url,
            scopes,
            descriptions,
            token_ttl,
            no_refresh_without_offline_access,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            ensure_bootstrapped(&cx).await?;
            let scopes = admin::scope_defs(&scopes, &descriptions, &name)?;
            let r = admin::add_resource(
                &*cx.store,
                &env,
                NewResource {
                    name,
                    url,
                    scopes,
                    access_token_ttl: token_ttl,
                    refresh_without_offline_access: Some(!no_refresh_without_offline_access),
                },
                cx.now,
            )
            .await?;
            cx.out(resource_json(&r), || {
                format!("registered MCP server {} ({}) at {}", r.name, r.id, r.uri)
            });
        }
        ResourceCmd::List { env, common } => {
            let cx = Ctx::open(&common).await?;
            admin::get_environment(&*cx.store, &env).await?;
            let list = cx.store.list_resources(&env).await?;
            let text = list
                .iter()
                .map(|r| {
                    format!(
                        "{:<26} {:<20} {}  [{}]",
                        r.id,
                        r.name,
                        r.uri,
                        r.scopes
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(" ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            cx.out(
                Value::Array(list.iter().map(resource_json).collect()),
                || text,
            );
        }
    }
    Ok(())
}

fn resource_json(r: &gatehouse_store::ResourceRecord) -> Value {
    json!({
        "id": r.id, "name": r.name, "url": r.uri, "scopes": r.scopes,
        "access_token_ttl": r.access_token_ttl, "refresh_without_offline_access": r.refresh_without_offline_access,
    })
}

async fn user_cmd(cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Add {
            env,
            email,
            name,
            password_stdin: _,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            ensure_bootstrapped(&cx).await?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let u = admin::add_user(&*cx.store, &env, &email, password, name.as_deref(), cx.now)
                .await?;
            cx.out(
                json!({"id": u.id, "email": u.email, "name": u.name}),
                || format!("created user {} ({})", u.email, u.id),
            );
        }
        UserCmd::List { env, common } => {
            let cx = Ctx::open(&common).await?;
            let list = cx.store.list_users(&env).await?;
            let text = list
                .iter()
                .map(|u| {
                    format!(
                        "{:<26} {}{}",
                        u.id,
                        u.email,
                        if u.disabled { " (disabled)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            cx.out(Value::Array(list.iter().map(|u| json!({"id": u.id, "email": u.email, "name": u.name, "disabled": u.disabled})).collect()), || text);
        }
    }
    Ok(())
}

async fn client_cmd(cmd: ClientCmd) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Add {
            env,
            name,
            grants,
            scopes,
            redirect_uris,
            public,
            jwks_file,
            jwks_uri,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            ensure_bootstrapped(&cx).await?;
            let jwks = match jwks_file {
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    Some(
                        serde_json::from_str(&text)
                            .with_context(|| format!("{} is not a JSON JWK Set", path.display()))?,
                    )
                }
                None => None,
            };
            let created = admin::add_client(
                &*cx.store,
                &env,
                NewClient {
                    name,
                    grants,
                    scopes,
                    redirect_uris,
                    public,
                    jwks,
                    jwks_uri,
                },
                cx.now,
            )
            .await?;
            let c = &created.client;
            let secret = created.secret.as_ref().map(|s| s.expose().to_owned());
            let v =
                json!({"client_id": c.client_id, "client_secret": secret, "metadata": c.metadata});
            cx.out(v, || {
                let mut t = format!(
                    "created client {}\n  client_id:     {}",
                    c.metadata.client_name.as_deref().unwrap_or(""),
                    c.client_id
                );
                if let Some(s) = &secret {
                    t.push_str(&format!(
                        "\n  client_secret: {s}\n  (the secret is shown only now; store it safely)"
                    ));
                }
                t
            });
        }
        ClientCmd::RotateSecret {
            env,
            client_id,
            keep_old_for,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            let secret =
                admin::rotate_client_secret(&*cx.store, &env, &client_id, keep_old_for, cx.now)
                    .await?;
            let s = secret.expose().to_owned();
            cx.out(json!({"client_id": client_id, "client_secret": s, "old_secrets_expire_at": cx.now + keep_old_for}), || {
                format!("new client_secret: {s}\n(shown only now; the previous secrets stop working in {keep_old_for} s)")
            });
        }
        ClientCmd::Disable {
            env,
            client_id,
            common,
        } => set_disabled(&env, &client_id, &common, true).await?,
        ClientCmd::Enable {
            env,
            client_id,
            common,
        } => set_disabled(&env, &client_id, &common, false).await?,
        ClientCmd::List { env, common } => {
            let cx = Ctx::open(&common).await?;
            let list = cx.store.list_clients(&env).await?;
            let text = list
                .iter()
                .map(|c| {
                    format!(
                        "{:<34} {:<8} {:>5}x {:<24} {}{}",
                        c.client_id,
                        c.kind.as_str(),
                        c.registrations,
                        c.metadata.client_name.as_deref().unwrap_or("-"),
                        c.metadata.grant_types.join(","),
                        if c.disabled { " (disabled)" } else { "" }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let rows = list
                .iter()
                .map(|c| json!({"client_id": c.client_id, "kind": c.kind.as_str(), "registrations": c.registrations, "disabled": c.disabled, "last_used_at": c.last_used_at, "metadata": c.metadata}))
                .collect();
            cx.out(Value::Array(rows), || text);
        }
    }
    Ok(())
}

async fn set_disabled(
    env: &str,
    client_id: &str,
    common: &Common,
    disabled: bool,
) -> anyhow::Result<()> {
    let cx = Ctx::open(common).await?;
    let row = admin::set_client_disabled(&*cx.store, &cx.master, env, client_id, disabled, cx.now)
        .await?;
    let word = if disabled { "disabled" } else { "enabled" };
    cx.out(json!({"client": row, "disabled": disabled}), || {
        if row == client_id {
            format!("{word} client {row}")
        } else {
            format!("{word} client {row} (every registration identical to {client_id})")
        }
    });
    Ok(())
}

async fn keys_cmd(cmd: KeysCmd) -> anyhow::Result<()> {
    match cmd {
        KeysCmd::Rotate {
            env,
            activate_after,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            let r =
                admin::rotate_keys(&*cx.store, &cx.master, &env, activate_after, cx.now).await?;
            let text = format!(
                "published {} new key(s) ({}); they sign from {} (in {activate_after} s); retired: {}",
                r.new_kids.len(),
                r.new_kids.join(", "),
                r.activates_at,
                r.retired
                    .iter()
                    .map(|(k, t)| format!("{k} (removed at {t})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            cx.out(serde_json::to_value(&r).unwrap_or_default(), || text);
        }
        KeysCmd::List { env, common } => {
            let cx = Ctx::open(&common).await?;
            let keys = cx.store.list_keys(&env, cx.now).await?;
            let rows: Vec<Value> = keys
                .iter()
                .map(|k| json!({"kid": k.kid, "alg": k.alg, "created_at": k.created_at, "activates_at": k.activates_at, "retired_at": k.retired_at, "removed_at": k.removed_at,
                    "signing": k.activates_at <= cx.now && k.retired_at.is_none_or(|r| r > cx.now)}))
                .collect();
            let text = rows
                .iter()
                .map(|r| {
                    format!(
                        "{:<40} {} signing={}",
                        r["kid"].as_str().unwrap_or(""),
                        r["alg"].as_str().unwrap_or(""),
                        r["signing"]
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            cx.out(Value::Array(rows), || text);
        }
    }
    Ok(())
}

async fn registration_token_cmd(cmd: RegistrationTokenCmd) -> anyhow::Result<()> {
    match cmd {
        RegistrationTokenCmd::Create {
            env,
            description,
            ttl,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            let token =
                admin::add_initial_access_token(&*cx.store, &env, &description, ttl, cx.now)
                    .await?;
            let t = token.expose().to_owned();
            cx.out(json!({"initial_access_token": t}), || {
                format!("initial access token (shown only now): {t}")
            });
        }
    }
    Ok(())
}

async fn logs_cmd(a: LogsArgs) -> anyhow::Result<()> {
    let cx = Ctx::open(&a.common).await?;
    admin::get_environment(&*cx.store, &a.env)
        .await
        .map_err(|e| anyhow!("{e}"))?;
    let events = cx
        .store
        .list_events(&AuditQuery {
            env_id: a.env.clone(),
            correlation_id: a.correlation_id,
            client_id: a.client,
            outcome: a.outcome,
            event: a.event,
            after_id: None,
            limit: Some(a.limit),
            ..Default::default()
        })
        .await?;
    let text = events
        .iter()
        .map(|e| {
            format!(
                "{} {:<9} {:<8} {:<10} client={} {}{}",
                e.at_ms,
                e.event,
                e.outcome,
                e.correlation_id,
                e.client_id.as_deref().unwrap_or("-"),
                e.error
                    .as_deref()
                    .map(|x| format!("error={x} "))
                    .unwrap_or_default(),
                e.error_detail.as_deref().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    cx.out(serde_json::to_value(&events).unwrap_or_default(), || text);
    Ok(())
}

async fn admin_key_cmd(cmd: AdminKeyCmd) -> anyhow::Result<()> {
    match cmd {
        AdminKeyCmd::Create { name, env, common } => {
            let cx = Ctx::open(&common).await?;
            if let Some(e) = &env {
                admin::get_environment(&*cx.store, e).await?;
            }
            let (k, key) =
                admin::create_admin_key(&*cx.store, &name, env.as_deref(), cx.now).await?;
            let v =
                json!({"id": k.id, "name": k.name, "environment": k.env_id, "key": key.expose()});
            cx.out(v, || {
                let scope = k.env_id.as_deref().map_or_else(|| "every environment".to_owned(), |e| format!("environment {e} only"));
                format!(
                    "admin API key {} ({scope})\nkey: {}\nIt is shown only now; send it as Authorization: Bearer <key>.",
                    k.id,
                    key.expose()
                )
            });
        }
        AdminKeyCmd::List { common } => {
            let cx = Ctx::open(&common).await?;
            let keys = cx.store.list_admin_keys().await?;
            let rows: Vec<Value> = keys
                .iter()
                .map(|k| {
                    json!({"id": k.id, "name": k.name, "environment": k.env_id, "created_at": k.created_at,
                           "last_used_at": k.last_used_at, "revoked_at": k.revoked_at})
                })
                .collect();
            cx.out(Value::Array(rows), || {
                keys.iter()
                    .map(|k| {
                        format!(
                            "{}  {:<24} {:<12} {}",
                            k.id,
                            k.name,
                            k.env_id.as_deref().unwrap_or("(all)"),
                            if k.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        AdminKeyCmd::Revoke { id, common } => {
            let cx = Ctx::open(&common).await?;
            if !cx.store.revoke_admin_key(&id, cx.now).await? {
                return Err(anyhow!("no admin key {id}"));
            }
            cx.out(json!({"id": id, "revoked": true}), || {
                format!("revoked admin key {id}")
            });
        }
    }
    Ok(())
}

async fn admin_user_cmd(cmd: AdminUserCmd) -> anyhow::Result<()> {
    match cmd {
        AdminUserCmd::Add {
            email,
            password_stdin: _,
            common,
        } => {
            let cx = Ctx::open(&common).await?;
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']);
            let a = admin::create_admin_user(&*cx.store, &email, password, cx.now).await?;
            cx.out(json!({"id": a.id, "email": a.email}), || {
                format!("administrator {} ({}) can sign in at /admin", a.email, a.id)
            });
        }
        AdminUserCmd::List { common } => {
            let cx = Ctx::open(&common).await?;
            let admins = cx.store.list_admin_users().await?;
            let rows: Vec<Value> = admins
                .iter()
                .map(|a| json!({"id": a.id, "email": a.email, "disabled": a.disabled, "created_at": a.created_at}))
                .collect();
            cx.out(Value::Array(rows), || {
                admins
                    .iter()
                    .map(|a| {
                        format!(
                            "{}  {}{}",
                            a.id,
                            a.email,
                            if a.disabled { "  (disabled)" } else { "" }
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
