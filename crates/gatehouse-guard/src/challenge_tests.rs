use super::*;

const RM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

#[test]
fn challenge_header_table() {
    let cases: Vec<(BearerChallenge<'_>, &str)> = vec![
        (
            BearerChallenge {
                resource_metadata: RM,
                scope: Some("todo:read"),
                ..Default::default()
            },
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="todo:read""#,
        ),
        (
            BearerChallenge {
                resource_metadata: RM,
                ..Default::default()
            },
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        ),
        (
            BearerChallenge {
                resource_metadata: RM,
                scope: Some(""),
                ..Default::default()
            },
            r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
        ),
        (
            BearerChallenge {
                error: Some("insufficient_scope"),
                scope: Some("todo:read todo:write"),
                resource_metadata: RM,
                error_description: Some("needs todo:write"),
            },
            r#"Bearer error="insufficient_scope", scope="todo:read todo:write", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", error_description="needs todo:write""#,
        ),
        (
            BearerChallenge {
                error: Some("invalid_token"),
                resource_metadata: "https://x/\"evil\\",
                error_description: Some("tool \"a\\b\" caf\u{e9}\r\nX-Injected: 1"),
                ..Default::default()
            },
            r#"Bearer error="invalid_token", resource_metadata="https://x/\"evil\\", error_description="tool ?a?b? caf???X-Injected: 1""#,
        ),
    ];
    for (challenge, expected) in cases {
        assert_eq!(challenge.render(), expected);
        assert!(HeaderValue::from_str(expected).is_ok());
    }
}

#[test]
fn quoting_escapes_quotes_and_backslashes_and_drops_controls() {
    assert_eq!(quoted(r#"a"b\c"#), r#""a\"b\\c""#);
    assert_eq!(quoted("a\nb"), "\"a b\"");
    assert_eq!(description_chars("ok !#[]~"), "ok !#[]~");
    assert_eq!(description_chars("\"\\\u{7f}é"), "????");
}

fn respond(r: &Rejection) -> (StatusCode, Option<String>, serde_json::Value) {
    let resp = r.respond(RM, Some("todo:read"));
    let www = resp
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    (
        resp.status(),
        www,
        serde_json::from_str(resp.body()).unwrap(),
    )
}

#[test]
fn every_rejection_has_one_status_and_the_right_challenge() {
    let needed = ScopeSet::parse("todo:read todo:write").unwrap();
    let cases: Vec<(Rejection, u16, Option<String>)> = vec![
        (
            Rejection::MissingToken,
            401,
            Some(format!(
                r#"Bearer resource_metadata="{RM}", scope="todo:read""#
            )),
        ),
        (
            Rejection::InvalidToken(InvalidToken::Expired(1)),
            401,
            Some(format!(
                r#"Bearer error="invalid_token", scope="todo:read", resource_metadata="{RM}", error_description="the access token has expired""#
            )),
        ),
        (
            Rejection::InsufficientScope {
                needed,
                tool: Some("add_todo".into()),
            },
            403,
            Some(format!(
                r#"Bearer error="insufficient_scope", scope="todo:read todo:write", resource_metadata="{RM}", error_description="calling tool add_todo requires the scopes: todo:read todo:write""#
            )),
        ),
        (
            Rejection::MalformedAuthorization("the bearer token is empty"),
            400,
            Some(format!(
                r#"Bearer error="invalid_request", resource_metadata="{RM}", error_description="the bearer token is empty""#
            )),
        ),
        (
            Rejection::OriginNotAllowed("https://evil".into()),
            403,
            None,
        ),
        (Rejection::BodyTooLarge(10), 413, None),
        (Rejection::MalformedBody("eof".into()), 400, None),
        (Rejection::Unavailable("jwks down".into()), 503, None),
    ];
    for (rejection, status, www) in cases {
        let (s, h, body) = respond(&rejection);
        assert_eq!(s.as_u16(), status, "{rejection:?}");
        assert_eq!(h, www, "{rejection:?}");
        assert_eq!(
            body["error"],
            rejection.error_code().unwrap_or("unauthorized")
        );
        assert_eq!(body["error_description"], rejection.description());
        assert!(
            !body.to_string().contains("jwks down"),
            "log detail never reaches the client"
        );
    }
}
