//! An `AsyncHttpClient` for `oauth2` 5 / `openidconnect` 4 on top of `reqwest`, since the
//! crate is built without its own reqwest feature. Both crates implement the trait for any
//! `Fn(HttpRequest) -> impl Future<Output = Result<HttpResponse, E>>`, so a test writes
//! `let http = move |r| oidc_http::send(client.clone(), r);` and passes `&http`.

use openidconnect::{HttpRequest, HttpResponse};

/// A client that never follows redirects, as the `openidconnect` docs require (SSRF).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// Sends one request and buffers the whole response body.
pub async fn send(
    client: reqwest::Client,
    request: HttpRequest,
) -> Result<HttpResponse, reqwest::Error> {
    let response = client.execute(reqwest::Request::try_from(request)?).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await?.to_vec();
    let mut out = HttpResponse::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}
