//! The `openidconnect` crate as a relying party: OIDC discovery (issuer check, JWKS),
//! OIDC dynamic registration of a native public client, the code flow with PKCE, nonce and
//! an RFC 8707 `resource`, and ID-token verification (signature, iss, aud, exp, nonce,
//! at_hash).

use openidconnect::core::{
    CoreApplicationType, CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod,
    CoreClientRegistrationRequest, CoreGrantType, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientName, CsrfToken, IssuerUrl, LocalizedClaim,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, ResponseTypes, Scope,
    TokenResponse,
};

use crate::browser::{self, EMAIL};
use crate::harness::{TestApp, query_of, verify_access_token};
use crate::oidc_http;

const REDIRECT: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

/// OIDC Dynamic Client Registration 1.0 of a native app with a loopback redirect, public
/// (`token_endpoint_auth_method` `none`), for the code and refresh grants.
async fn register_native_client(
    provider: &CoreProviderMetadata,
    reqwest: &reqwest::Client,
) -> ClientId {
    let http = |r| oidc_http::send(reqwest.clone(), r);
    let endpoint = provider
        .registration_endpoint()
        .expect("registration_endpoint");
    let mut name = LocalizedClaim::new();
    name.insert(None, ClientName::new("openidconnect-rs interop".into()));
    let registered = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(REDIRECT.into()).expect("redirect")],
        EmptyAdditionalClientMetadata::default(),
    )
    .set_application_type(Some(CoreApplicationType::Native))
    .set_client_name(Some(name))
    .set_token_endpoint_auth_method(Some(CoreClientAuthMethod::None))
    .set_grant_types(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
    ]))
    .set_response_types(Some(vec![ResponseTypes::new(vec![CoreResponseType::Code])]))
    .register_async(endpoint, &http)
    .await
    .expect("dynamic registration");
    assert!(registered.client_secret().is_none(), "a public client");
    registered.client_id().clone()
}

#[tokio::test]
async fn openidconnect_discovers_registers_and_verifies_id_token() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let user_id = app.add_user("dev", EMAIL).await;
    let reqwest = oidc_http::client();
    let http = |r| oidc_http::send(reqwest.clone(), r);

    // Discovery checks that `issuer` equals the URL it was asked for and fetches jwks_uri.
    let issuer = IssuerUrl::new(app.base.clone()).expect("issuer");
    let provider = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("OIDC discovery");
    assert_eq!(provider.issuer().as_str(), app.base);
    assert!(!provider.jwks().keys().is_empty(), "JWKS has keys");

    let client_id = register_native_client(&provider, &reqwest).await;

    let client = CoreClient::from_provider_metadata(provider, client_id.clone(), None)
        .set_redirect_uri(RedirectUrl::new(REDIRECT.into()).expect("redirect"));
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (authorize_url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .add_extra_param("resource", MCP)
        .url();
    let asked = query_of(authorize_url.as_str());
    assert_eq!(asked["scope"], "openid email");
    assert_eq!(asked["code_challenge_method"], "S256");

    let callback = browser::sign_in_and_allow(&app, authorize_url.as_str(), REDIRECT).await;
    let params = query_of(&callback);
    assert_eq!(params["state"], *state.secret());
    assert_eq!(params["iss"], app.base, "RFC 9207 iss");

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .add_extra_param("resource", MCP)
        .request_async(&http)
        .await
        .expect("code exchange");

    // OIDC Core §3.1.3.7: signature (via the JWKS), iss, aud, exp, iat, nonce.
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("a valid ID token");
    assert_eq!(
        id_token.signing_alg().expect("alg"),
        &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "RS256 unless the client registered another alg"
    );
    assert_eq!(claims.subject().as_str(), user_id);
    assert_eq!(claims.email().map(|e| e.as_str()), Some(EMAIL));
    let audiences: Vec<&str> = claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(audiences, [client_id.as_str()]);
    // OIDC Core §3.1.3.8: at_hash binds the access token to the ID token.
    let at_hash = claims.access_token_hash().expect("at_hash");
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().expect("alg"),
        id_token.signing_key(&id_verifier).expect("key"),
    )
    .expect("hash");
    assert_eq!(*at_hash, expected);

    // The access token is an RFC 9068 JWT for the MCP server named by `resource`.
    let access = verify_access_token(&app, "dev", tokens.access_token().secret()).await;
    assert_eq!(access.aud, MCP);
    assert_eq!(access.sub, user_id);
    assert_eq!(access.client_id, client_id.as_str());

    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .expect("userinfo endpoint")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some(EMAIL));
}
