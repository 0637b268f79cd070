//! The dashboard: server-rendered pages under `/admin` for administrators (not end users).
//!
//! Every change goes through the same operations as the CLI and the admin API
//! (`crate::admin`, and the JSON views of `crate::admin_api`), so the three behave the same.
//! The pages work without JavaScript and under a strict Content Security Policy (one
//! stylesheet and one small script, both served from `/admin/assets/`; no inline script or
//! style). Sign-in is separate from end users: administrators, the `gh_admin` session cookie
//! (`HttpOnly`, `SameSite=Strict`, `Path=/admin`, `Secure` over https), a CSRF token bound
//! to the session in every form, and post/redirect/get with a flash message after each change.
//! The first administrator is created through a setup link ([`setup_link`]) that is valid
//! only while there is none.

mod api_keys;
mod assets;
mod auth;
mod clients;
mod consents;
mod environment;
mod forms;
mod html;
mod logs;
mod servers;
mod session;
mod settings;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::AppState;

pub use self::auth::setup_link;

/// The dashboard routes, merged into the top-level router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(environment::home))
        .route("/admin/", get(environment::home))
        .route("/admin/login", get(auth::login_page).post(auth::login))
        .route("/admin/logout", post(auth::logout))
        .route("/admin/setup", get(auth::setup_page).post(auth::setup))
        .route("/admin/switch", get(environment::switch))
        .route("/admin/assets/{file}", get(assets::serve))
        .route("/admin/environments/new", get(environment::new_page))
        .route("/admin/environments", post(environment::create))
        .route(
            "/admin/api-keys",
            get(api_keys::page).post(api_keys::create),
        )
        .route("/admin/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/admin/env/{env}", get(environment::overview))
        .route("/admin/env/{env}/keys", get(environment::keys))
        .route("/admin/env/{env}/keys/rotate", post(environment::rotate))
        .route(
            "/admin/env/{env}/settings",
            get(settings::settings_page).post(settings::save_settings),
        )
        .route(
            "/admin/env/{env}/urls",
            get(settings::urls_page).post(settings::save_urls),
        )
        .route(
            "/admin/env/{env}/servers",
            get(servers::list).post(servers::create),
        )
        .route("/admin/env/{env}/servers/new", get(servers::new_page))
        .route(
            "/admin/env/{env}/servers/{id}",
            get(servers::show).post(servers::update),
        )
        .route(
            "/admin/env/{env}/servers/{id}/delete",
            post(servers::delete),
        )
        .route(
            "/admin/env/{env}/clients",
            get(clients::list).post(clients::create),
        )
        .route("/admin/env/{env}/clients/{client_id}", get(clients::show))
        .route(
            "/admin/env/{env}/clients/{client_id}/{action}",
            post(clients::act),
        )
        .route("/admin/env/{env}/consents/revoke", post(consents::revoke))
        .route(
            "/admin/env/{env}/users",
            get(users::list).post(users::create),
        )
        .route("/admin/env/{env}/users/{id}", get(users::show))
        .route("/admin/env/{env}/users/{id}/{action}", post(users::act))
        .route("/admin/env/{env}/logs", get(logs::list))
        .route(
            "/admin/env/{env}/logs/trace/{correlation_id}",
            get(logs::trace),
        )
        .route("/admin/env/{env}/logs/retention", post(logs::retention))
        .layer(DefaultBodyLimit::max(crate::MAX_BODY))
}
