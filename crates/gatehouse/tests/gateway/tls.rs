//! The gateway's own TLS listener (Claude connects only to 443): a throwaway CA, a
//! certificate for localhost, HTTP/1.1 and HTTP/2 (ALPN) clients trusting the CA.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use reqwest::StatusCode;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use crate::harness::TestApp;
use crate::support::{SCOPES, free_port, spawn_listening, strings};
use crate::upstream::Upstream;

/// Writes `cert.pem` and `key.pem` for localhost and 127.0.0.1 into `dir`, signed by a new
/// CA; returns the CA certificate (DER).
fn certificate(dir: &Path) -> CertificateDer<'static> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "gateway test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    issuer.der().clone()
}

#[tokio::test]
async fn tls_listener_serves_metadata_and_challenges_over_http1_and_http2() {
    let app = TestApp::spawn().await;
    let upstream = Upstream::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let ca = certificate(dir.path());
    let port = free_port();
    let resource = format!("https://localhost:{port}/mcp");
    app.add_resource("dev", &resource, SCOPES).await;
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let args = strings(&[
        "proxy",
        "--issuer",
        &app.issuer("dev"),
        "--resource",
        &resource,
        "--upstream",
        &upstream.url,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let (proc, url) = spawn_listening(&args, &[]).await;
    assert_eq!(url, format!("https://127.0.0.1:{port}"));

    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&ca).unwrap())
        .build()
        .unwrap();
    let r = https.post(&resource).body("{}").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let prm = format!("https://localhost:{port}/.well-known/oauth-protected-resource/mcp");
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(&prm)
    );

    let mut roots = RootCertStore::empty();
    roots.add(ca).unwrap();
    let mut config = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut h2, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = http::Request::get(&prm)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(
        (resp.status(), resp.version()),
        (StatusCode::OK, http::Version::HTTP_2)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(doc["resource"], resource.as_str());
    proc.terminate().await;
}
