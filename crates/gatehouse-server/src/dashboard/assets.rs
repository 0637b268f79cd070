//! The dashboard's stylesheet and script, compiled in and served under names that carry a
//! hash of their content, so they can be cached for a year.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const CSS: &str = include_str!("assets/app.css");
const JS: &str = include_str!("assets/app.js");

struct Asset {
    name: String,
    body: &'static str,
    content_type: &'static str,
}

fn hashed(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Asset {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.as_bytes());
    let hex: String = digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Asset {
        name: format!("{stem}-{hex}.{ext}"),
        body,
        content_type,
    }
}

fn assets() -> &'static [Asset; 2] {
    static ASSETS: OnceLock<[Asset; 2]> = OnceLock::new();
    ASSETS.get_or_init(|| {
        [
            hashed("app", "css", CSS, "text/css; charset=utf-8"),
            hashed("app", "js", JS, "text/javascript; charset=utf-8"),
        ]
    })
}

/// The URL of the stylesheet.
pub(crate) fn css_url() -> String {
    format!("/admin/assets/{}", assets()[0].name)
}

/// The URL of the script.
pub(crate) fn js_url() -> String {
    format!("/admin/assets/{}", assets()[1].name)
}

/// `GET /admin/assets/{file}`.
pub(crate) async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = assets().iter().find(|a| a.name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let mut resp = asset.body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}
