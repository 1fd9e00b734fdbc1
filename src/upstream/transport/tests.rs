//! The transport against real loopback servers: each failure lands in its class, and TLS
//! works with a private CA bundle and a client certificate (mutual TLS).

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

fn settings() -> TransportSettings {
    TransportSettings {
        connect_timeout: Duration::from_millis(500),
        read_timeout: Duration::from_millis(400),
        total_timeout: Duration::from_millis(800),
        pool_idle_timeout: Duration::from_secs(5),
        ca_bundle_pem: None,
        client_identity_pem: None,
    }
}

/// Reads one HTTP request (headers + Content-Length body) from `stream`.
async fn read_request<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        if n == 0 {
            return buf;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if buf.len() >= end + 4 + len {
                return buf;
            }
        }
    }
}

/// A one-shot server that answers with `reply` (or does something worse).
async fn serve_once(behaviour: &'static str) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/svc", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let request = read_request(&mut s).await;
        match behaviour {
            "close" => drop(s),
            "silent" => {
                // Hold the connection open without answering until the client gives up.
                let mut rest = Vec::new();
                let _ = s.read_to_end(&mut rest).await;
            }
            "half" => {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"infcode\"")
                    .await
                    .unwrap();
                drop(s);
            }
            reply => {
                let r = format!(
                    "HTTP/1.1 {reply}\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
                );
                s.write_all(r.as_bytes()).await.unwrap();
            }
        }
        request
    });
    (url, task)
}

#[tokio::test]
async fn a_refused_connection_is_unreachable_and_nothing_was_sent() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let t = Transport::new(&settings()).unwrap();
    let e = t
        .post_json(&format!("http://127.0.0.1:{port}/x"), &[], b"{}".to_vec())
        .await
        .unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable { .. }), "{e:?}");
    assert!(!e.outcome_unknown());
}

#[tokio::test]
async fn a_silent_server_is_a_timeout_with_an_unknown_outcome() {
    let (url, server) = serve_once("silent").await;
    let t = Transport::new(&settings()).unwrap();
    let e = t.post_json(&url, &[], b"{}".to_vec()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Timeout { .. }), "{e:?}");
    assert!(e.outcome_unknown());
    assert!(!server.await.unwrap().is_empty(), "the request was sent");
}

#[tokio::test]
async fn a_connection_lost_after_sending_leaves_the_outcome_unknown() {
    for behaviour in ["close", "half"] {
        let (url, server) = serve_once(behaviour).await;
        let t = Transport::new(&settings()).unwrap();
        let e = t.post_json(&url, &[], b"{}".to_vec()).await.unwrap_err();
        assert!(
            matches!(
                e,
                UpstreamError::OutcomeUnknown {
                    cause: UnknownCause::Interrupted(_)
                }
            ),
            "{behaviour}: {e:?}"
        );
        server.await.unwrap();
    }
}

#[tokio::test]
async fn headers_and_body_arrive_as_sent_and_statuses_are_passed_up() {
    let (url, server) = serve_once("502 Bad Gateway").await;
    let t = Transport::new(&settings()).unwrap();
    let answer = t
        .post_json(
            &url,
            &[("x-tif-paasid", "hosp-01".into())],
            br#"{"infno":"9001"}"#.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(answer.status, 502);
    assert_eq!(answer.body, b"{}");
    let request = String::from_utf8(server.await.unwrap()).unwrap();
    assert!(request.starts_with("POST /svc HTTP/1.1\r\n"), "{request}");
    assert!(request.to_lowercase().contains("x-tif-paasid: hosp-01"));
    assert!(
        request
            .to_lowercase()
            .contains("content-type: application/json")
    );
    assert!(request.ends_with(r#"{"infno":"9001"}"#));
}

struct Pki {
    ca_pem: String,
    server_cert: rustls::pki_types::CertificateDer<'static>,
    server_key: rustls::pki_types::PrivateKeyDer<'static>,
    client_cert_pem: String,
    client_key_pem: String,
    ca_der: rustls::pki_types::CertificateDer<'static>,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["terminal-01".to_owned()])
        .unwrap()
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        ca_der: ca.der().clone(),
        server_cert: server.der().clone(),
        server_key: rustls::pki_types::PrivateKeyDer::Pkcs8(server_key.serialize_der().into()),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

/// An HTTPS server that requires a client certificate from `pki`'s CA and answers 200 `{}`.
async fn tls_server(pki: &Pki) -> (String, tokio::task::JoinHandle<Result<Vec<u8>, String>>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca_der.clone()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server_cert.clone()], pki.server_key.clone_key())
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "https://localhost:{}/svc",
        listener.local_addr().unwrap().port()
    );
    let task = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(s).await.map_err(|e| e.to_string())?;
        let request = read_request(&mut tls).await;
        tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
            .await
            .unwrap();
        tls.shutdown().await.unwrap();
        Ok(request)
    });
    (url, task)
}

#[tokio::test]
async fn mutual_tls_with_a_private_ca_bundle() {
    let pki = pki();
    let (url, server) = tls_server(&pki).await;
    let mut s = settings();
    s.ca_bundle_pem = Some(pki.ca_pem.clone().into_bytes());
    s.client_identity_pem = Some((
        Secret::from_value(pki.client_cert_pem.clone()),
        Secret::from_value(pki.client_key_pem.clone()),
    ));
    let t = Transport::new(&s).unwrap();
    let answer = t.post_json(&url, &[], b"{}".to_vec()).await.unwrap();
    assert_eq!(answer.status, 200);
    assert!(server.await.unwrap().is_ok());
}

#[tokio::test]
async fn tls_failures_are_errors_and_an_untrusted_server_gets_nothing() {
    let pki = pki();
    // Without the CA bundle the server's certificate is not trusted.
    let (url, server) = tls_server(&pki).await;
    let t = Transport::new(&settings()).unwrap();
    let e = t.post_json(&url, &[], b"{}".to_vec()).await.unwrap_err();
    assert!(matches!(e, UpstreamError::Unreachable { .. }), "{e:?}");
    assert!(server.await.unwrap().is_err());
    // Trusted, but no client certificate: the server refuses the handshake. Under TLS 1.3 the
    // client learns that only after it has written the request, so the transport cannot prove
    // nothing happened and stays conservative (unknown); the server indeed saw no request.
    // The first request of a session is always 9001, so a missing certificate stops the
    // terminal before any money moves.
    let (url, server) = tls_server(&pki).await;
    let mut s = settings();
    s.ca_bundle_pem = Some(pki.ca_pem.clone().into_bytes());
    let t = Transport::new(&s).unwrap();
    let e = t.post_json(&url, &[], b"{}".to_vec()).await.unwrap_err();
    assert!(e.to_string().contains("CertificateRequired"), "{e:?}");
    assert!(
        server.await.unwrap().is_err(),
        "the handshake failed on the server"
    );
}

#[test]
fn bad_tls_material_is_refused_at_construction() {
    let mut s = settings();
    s.ca_bundle_pem = Some(b"not a certificate".to_vec());
    assert!(matches!(
        Transport::new(&s),
        Err(TransportSetupError::CaBundle { .. })
    ));
    let mut s = settings();
    s.client_identity_pem = Some((Secret::from_value("x"), Secret::from_value("y")));
    assert!(matches!(
        Transport::new(&s),
        Err(TransportSetupError::ClientIdentity(_))
    ));
}
