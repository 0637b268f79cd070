//! The dashboard: server-rendered pages under `/admin` (placeholder; see the admin API).

use axum::Router;

use crate::state::AppState;

/// The dashboard routes, merged into the top-level router.
pub fn router() -> Router<AppState> {
    Router::new()
}
