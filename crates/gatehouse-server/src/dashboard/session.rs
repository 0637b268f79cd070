//! Who is signed in to the dashboard, the CSRF token of their forms, flash messages, and
//! how a failed request is answered.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_oauth::secret::{Secret, b64url, b64url_decode};
use gatehouse_store::AdminUserRecord;

use crate::admin::AdminError;
use crate::admin_api::{ADMIN_SESSION_COOKIE, ApiError};
use crate::http::cookie;
use crate::state::AppState;

/// How long a dashboard session lasts.
pub(crate) const SESSION_TTL: i64 = 12 * 3600;
/// The cookie carrying a flash message to the page after a redirect.
const FLASH_COOKIE: &str = "gh_admin_flash";
/// The cookie binding the sign-in and setup forms to the browser (login CSRF).
pub(crate) const PRE_COOKIE: &str = "gh_admin_pre";

/// A `Set-Cookie` value for the dashboard: `Path=/admin`, `HttpOnly`, `SameSite=Strict`,
/// `Secure` when the server's public URL is https.
pub(crate) fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.envs.public_url().scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Max-Age={max_age}; Path=/admin; HttpOnly; SameSite=Strict{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The CSRF token of a session's forms: an HMAC of the session cookie under the master key.
pub(crate) fn csrf_for(state: &AppState, purpose: &str, binding: &str) -> String {
    state
        .master
        .csrf_token(&format!("gatehouse admin {purpose}"), binding)
}

/// Constant-time check of a token from [`csrf_for`].
pub(crate) fn csrf_ok(state: &AppState, purpose: &str, binding: &str, presented: &str) -> bool {
    state
        .master
        .csrf_valid(&format!("gatehouse admin {purpose}"), binding, presented)
}

/// A signed-in administrator, and what every page needs to render for them.
pub(crate) struct Ctx {
    /// Shared state.
    pub(crate) state: AppState,
    /// The administrator.
    pub(crate) admin: AdminUserRecord,
    /// The CSRF token of this session's forms.
    pub(crate) csrf: String,
    /// A message left by the previous request (post/redirect/get).
    pub(crate) flash: Option<String>,
}

impl Ctx {
    /// The admin API's view of this caller (dashboard sessions may administer everything).
    pub(crate) fn api_admin(&self) -> crate::admin_api::Admin {
        crate::admin_api::Admin {
            id: self.admin.id.clone(),
            env_scope: None,
        }
    }

    /// A served environment, or `NotFound`.
    pub(crate) async fn env(
        &self,
        id: &str,
    ) -> Result<std::sync::Arc<crate::env::EnvHandle>, Fail> {
        Ok(crate::admin_api::env_for(&self.state, &self.api_admin(), id).await?)
    }

    /// Makes the running server see a change now.
    pub(crate) async fn reload(&self) -> Result<(), Fail> {
        Ok(crate::admin_api::reload(&self.state).await?)
    }

    /// The hidden CSRF field of a form.
    pub(crate) fn csrf_field(&self) -> String {
        format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            crate::pages::esc(&self.csrf)
        )
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = cookie(&parts.headers, ADMIN_SESSION_COOKIE) else {
            return Err(Redirect::to("/admin/login").into_response());
        };
        let now = state.now();
        let session = state
            .store
            .get_admin_session(&Secret::presented(&value).hash(), now)
            .await
            .map_err(|e| Fail::internal("admin session lookup", e).into_response())?;
        let admin = match session {
            Some(s) => state
                .store
                .get_admin_user(&s.admin_id)
                .await
                .map_err(|e| Fail::internal("admin lookup", e).into_response())?,
            None => None,
        };
        let Some(admin) = admin.filter(|a| !a.disabled) else {
            let mut resp = Redirect::to("/admin/login?expired=1").into_response();
            resp.headers_mut().append(
                header::SET_COOKIE,
                set_cookie(state, ADMIN_SESSION_COOKIE, "", 0),
            );
            return Err(resp);
        };
        Ok(Self {
            state: state.clone(),
            csrf: csrf_for(state, "session", &value),
            flash: read_flash(state, &parts.headers),
            admin,
        })
    }
}

/// A submitted form of a signed-in administrator whose CSRF token was checked.
pub(crate) struct Post {
    /// The administrator.
    pub(crate) ctx: Ctx,
    /// The fields.
    pub(crate) form: Form,
}

impl FromRequest<AppState> for Post {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, state).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let form = Form::parse(&bytes);
        let valid = aws_lc_rs::constant_time::verify_slices_are_equal(
            ctx.csrf.as_bytes(),
            form.get("csrf").as_bytes(),
        )
        .is_ok();
        if !valid {
            return Err(csrf_failure());
        }
        Ok(Self { ctx, form })
    }
}

/// The answer to a form whose CSRF token is missing or wrong.
pub(crate) fn csrf_failure() -> Response {
    Fail::Forbidden(
        "This form expired or was sent from another site. Go back, reload the page and try again."
            .into(),
    )
    .into_response()
}

/// Form fields in order (repeated names allowed).
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Parses an `application/x-www-form-urlencoded` body.
    pub(crate) fn parse(body: &[u8]) -> Self {
        Self(form_urlencoded::parse(body).into_owned().collect())
    }

    /// A form holding these values (to render a form from stored data).
    pub(crate) fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        Self(pairs)
    }

    /// The first value of a field, or `""`.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A trimmed value, `None` when empty.
    pub(crate) fn opt(&self, name: &str) -> Option<&str> {
        Some(self.get(name).trim()).filter(|v| !v.is_empty())
    }

    /// Every value of a repeated field.
    pub(crate) fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Whether a checkbox was checked.
    pub(crate) fn checked(&self, name: &str) -> bool {
        !self.get(name).is_empty()
    }

    /// The non-empty lines of a textarea.
    pub(crate) fn lines(&self, name: &str) -> Vec<String> {
        self.get(name)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A redirect after a change, carrying a flash message to the next page (post/redirect/get).
pub(crate) fn done(state: &AppState, to: &str, message: &str) -> Response {
    let tag = csrf_for(state, "flash", message);
    let value = format!("{}.{tag}", b64url(message.as_bytes()));
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, FLASH_COOKIE, &value, 60),
    );
    resp
}

fn read_flash(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let raw = cookie(headers, FLASH_COOKIE)?;
    let (text, tag) = raw.split_once('.')?;
    let message = String::from_utf8(b64url_decode(text)?).ok()?;
    csrf_ok(state, "flash", &message, tag).then_some(message)
}

/// Clears the flash cookie once its message was shown.
pub(crate) fn clear_flash(state: &AppState, resp: &mut Response) {
    resp.headers_mut()
        .append(header::SET_COOKIE, set_cookie(state, FLASH_COOKIE, "", 0));
}

/// Why a dashboard request failed, when it is not a validation error shown in its form.
#[derive(Debug)]
pub(crate) enum Fail {
    /// 404: the environment or the thing named does not exist.
    NotFound(String),
    /// 403: a bad CSRF token or setup link.
    Forbidden(String),
    /// 500: logged; the page says to look at the server log.
    Internal,
}

impl Fail {
    /// An unexpected failure: logged, answered 500.
    pub(crate) fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "dashboard: {context}");
        Self::Internal
    }
}

impl From<ApiError> for Fail {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(m) => Self::NotFound(m),
            ApiError::Forbidden(m) | ApiError::Unauthorized(m) => Self::Forbidden(m),
            // Already logged by `ApiError::internal`.
            ApiError::Internal(_) => Self::Internal,
            ApiError::Invalid(m) | ApiError::Conflict(m) => Self::internal("unexpected refusal", m),
        }
    }
}

impl From<AdminError> for Fail {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(m) => Self::NotFound(m),
            AdminError::Store(s) => Self::internal("storage", s),
            AdminError::Invalid(m) | AdminError::Conflict(m) => {
                Self::internal("unexpected refusal", m)
            }
        }
    }
}

impl From<gatehouse_store::StoreError> for Fail {
    fn from(e: gatehouse_store::StoreError) -> Self {
        Self::internal("storage", e)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "Not found", m),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The server could not do this; its log has the details.".to_owned(),
            ),
        };
        let body = format!(
            "<h1>{}</h1><p class=\"notice error\">{}</p><p><a href=\"/admin\">Back to the dashboard</a></p>",
            crate::pages::esc(title),
            crate::pages::esc(&message)
        );
        super::html::bare_page(status, title, &body)
    }
}

/// Result of a dashboard handler.
pub(crate) type PageResult = Result<Response, Fail>;
