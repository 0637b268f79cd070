//! Authorization server metadata (RFC 8414 §2) and OIDC Discovery 1.0 §3, as one document.
//!
//! Every field whose default would be harmful is written out (AS-05): `grant_types_supported`
//! defaults to `authorization_code` + `implicit`, `token_endpoint_auth_methods_supported` to
//! `client_secret_basic`, and OIDC's `request_uri_parameter_supported` to `true`.

use serde::Serialize;

/// The endpoints and options of one environment.
#[derive(Clone, Debug)]
pub struct MetadataInput<'a> {
    /// The issuer identifier, exactly.
    pub issuer: &'a str,
    /// Every scope a client may request: OIDC scopes plus each MCP server's scopes.
    pub scopes: Vec<String>,
    /// Whether dynamic client registration is offered.
    pub registration: bool,
    /// Resource URIs of the environment's MCP servers (RFC 9728 §4 `protected_resources`).
    pub protected_resources: Vec<String>,
    /// Whether URL client_ids (Client ID Metadata Documents) are accepted.
    pub client_id_metadata_documents: bool,
}

/// The metadata document.
#[derive(Clone, Debug, Serialize)]
pub struct AuthorizationServerMetadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    jwks_uri: String,
    userinfo_endpoint: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    scopes_supported: Vec<String>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 3],
    token_endpoint_auth_methods_supported: [&'static str; 4],
    token_endpoint_auth_signing_alg_values_supported: [&'static str; 2],
    revocation_endpoint_auth_methods_supported: [&'static str; 4],
    introspection_endpoint_auth_methods_supported: [&'static str; 3],
    code_challenge_methods_supported: [&'static str; 1],
    authorization_response_iss_parameter_supported: bool,
    subject_types_supported: [&'static str; 1],
    id_token_signing_alg_values_supported: [&'static str; 2],
    prompt_values_supported: [&'static str; 4],
    claims_supported: [&'static str; 12],
    claims_parameter_supported: bool,
    request_parameter_supported: bool,
    request_uri_parameter_supported: bool,
    /// draft-ietf-oauth-client-id-metadata-document §5: servers that accept URL client_ids
    /// MUST say so.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    client_id_metadata_document_supported: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    protected_resources: Vec<String>,
}

/// Paths of the endpoints under an issuer.
pub mod paths {
    /// Authorization endpoint.
    pub const AUTHORIZE: &str = "/authorize";
    /// Token endpoint.
    pub const TOKEN: &str = "/token";
    /// Dynamic client registration endpoint.
    pub const REGISTER: &str = "/register";
    /// JWKS.
    pub const JWKS: &str = "/jwks.json";
    /// OIDC userinfo.
    pub const USERINFO: &str = "/userinfo";
    /// RFC 7009 revocation.
    pub const REVOKE: &str = "/revoke";
    /// RFC 7662 introspection.
    pub const INTROSPECT: &str = "/introspect";
}

impl AuthorizationServerMetadata {
    /// Builds the document for one environment.
    pub fn new(input: &MetadataInput<'_>) -> Self {
        let at = |path: &str| format!("{}{path}", input.issuer);
        Self {
            issuer: input.issuer.to_owned(),
            authorization_endpoint: at(paths::AUTHORIZE),
            token_endpoint: at(paths::TOKEN),
            registration_endpoint: input.registration.then(|| at(paths::REGISTER)),
            jwks_uri: at(paths::JWKS),
            userinfo_endpoint: at(paths::USERINFO),
            revocation_endpoint: at(paths::REVOKE),
            introspection_endpoint: at(paths::INTROSPECT),
            scopes_supported: input.scopes.clone(),
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
            token_endpoint_auth_methods_supported: [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            token_endpoint_auth_signing_alg_values_supported: ["ES256", "RS256"],
            revocation_endpoint_auth_methods_supported: [
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            introspection_endpoint_auth_methods_supported: [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            code_challenge_methods_supported: ["S256"],
            authorization_response_iss_parameter_supported: true,
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256", "ES256"],
            prompt_values_supported: ["none", "login", "consent", "select_account"],
            claims_supported: [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "azp",
                "at_hash",
                "email",
                "email_verified",
                "name",
            ],
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
            client_id_metadata_document_supported: input.client_id_metadata_documents,
            protected_resources: input.protected_resources.clone(),
        }
    }
}
