//! Start and shutdown; the persons directory is validated at start.

use medsettle_sandbox::{SandboxConfig, SandboxError};

use crate::support::*;

#[tokio::test]
async fn shutdown_stops_listening() {
    let c = Client::signed_in().await;
    let addr = c.sb.addr();
    assert!(c.sb.base_url().starts_with("http://127.0.0.1:"));
    assert_eq!(c.sb.persons().len(), 7);
    c.sb.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn a_missing_persons_directory_fails_start() {
    let err = medsettle_sandbox::start(SandboxConfig {
        persons_dir: "/nonexistent/persons".into(),
        ..SandboxConfig::default()
    })
    .await
    .err()
    .unwrap();
    assert!(matches!(err, SandboxError::PersonsDir { .. }), "{err}");
}
