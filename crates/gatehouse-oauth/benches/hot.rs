//! Criterion: the protocol core's functions on the token and authorization hot paths, so a
//! regression shows in CI output (run briefly, no thresholds):
//! `cargo bench -p gatehouse-oauth --bench hot -- --quick`.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_oauth::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims};
use gatehouse_oauth::jose::{self, Algorithm, SigningKey, VerifyingKey};
use gatehouse_oauth::params::Params;
use gatehouse_oauth::pkce::{self, CodeChallenge};
use gatehouse_oauth::redirect;
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_oauth::secret::SecretHash;

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::from_pkcs8("k1", alg, &SigningKey::generate_pkcs8(alg).unwrap()).unwrap()
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://auth.example.com".into(),
        sub: "usr_K8KFrj2cnRiOdb9fYsvPcw".into(),
        aud: "https://mcp.example.com/mcp".into(),
        client_id: "ghc_l3js6CfybmxLiQVVR3Rq4g".into(),
        scope: "mcp:tools todo:read".into(),
        iat: 1_800_000_000,
        exp: 1_800_003_600,
        jti: "Qm9vb0JlbmNobWFya0p0aQ".into(),
        auth_time: Some(1_800_000_000),
        sid: Some("gr_yt4julfAquBVskETxmiZfw".into()),
    }
}

fn bench(c: &mut Criterion) {
    let es = key(Algorithm::ES256);
    let rs = key(Algorithm::RS256);
    let claims = claims();
    let token = es.sign_jwt(ACCESS_TOKEN_TYP, &claims).unwrap();
    let keys = vec![VerifyingKey::from_jwk(&es.public_jwk()).unwrap()];

    let mut g = c.benchmark_group("jose");
    g.bench_function("sign_es256_access_token", |b| {
        b.iter(|| es.sign_jwt(ACCESS_TOKEN_TYP, black_box(&claims)).unwrap())
    });
    g.bench_function("verify_es256_access_token", |b| {
        b.iter(|| {
            jose::verify::<AccessTokenClaims>(black_box(&token), &keys, ACCESS_TOKEN_TYP).unwrap()
        })
    });
    g.bench_function("sign_rs256_id_token", |b| {
        b.iter(|| rs.sign_jwt("JWT", black_box(&claims)).unwrap())
    });
    g.finish();

    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = CodeChallenge::from_stored(pkce::s256(verifier));
    let mut g = c.benchmark_group("oauth");
    g.bench_function("pkce_s256_verify", |b| {
        b.iter(|| assert!(challenge.verify(black_box(verifier))))
    });
    let body = b"grant_type=authorization_code&code=ghc_code_Wk1Y3J6b2xlbW9uZGF5bmlnaHRxdWVzdGlvbg\
&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcb&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\
&client_id=ghd_eyJyIjpbImh0dHA6Ly8xMjcuMC4wLjE6OTk5OS9jYiJdfQ&resource=http%3A%2F%2F127.0.0.1%3A7200%2Fmcp";
    g.bench_function("token_request_parse", |b| {
        b.iter(|| {
            let p = Params::parse(black_box(body));
            p.check_well_formed().unwrap();
            black_box(p.get("code_verifier"));
        })
    });
    let stored = SecretHash::of("ghs_me6KR2LFDd5jootvPmo-pOrHx8r7ckIwVwg8SQLc41s");
    g.bench_function("client_secret_check", |b| {
        b.iter(|| {
            assert!(stored.matches(black_box("ghs_me6KR2LFDd5jootvPmo-pOrHx8r7ckIwVwg8SQLc41s")))
        })
    });
    let registered = vec![
        "http://127.0.0.1:9999/cb".to_owned(),
        "https://app.example.com/callback".to_owned(),
    ];
    g.bench_function("redirect_verify_loopback", |b| {
        b.iter(|| redirect::verify(black_box("http://127.0.0.1:51234/cb"), &registered).unwrap())
    });
    let granted = ScopeSet::from_tokens(["mcp:tools", "todo:read", "todo:write", "offline_access"]);
    g.bench_function("scope_parse_and_subset", |b| {
        b.iter(|| {
            ScopeSet::parse(black_box("todo:read mcp:tools"))
                .unwrap()
                .is_subset_of(&granted)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
