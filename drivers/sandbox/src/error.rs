//! Errors at the sandbox's own boundary: starting it (persons, keys, socket) and the library
//! helpers tests call. Protocol rejections are not errors here: they are `infcode -1` answers.

use std::path::PathBuf;

/// Why the sandbox could not start or a helper could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("persons directory {dir}: {source}")]
    PersonsDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("person file {file}: {reason}")]
    Person { file: PathBuf, reason: String },
    #[error("no person file in {0}")]
    NoPersons(PathBuf),
    #[error("e-SSC issuer key: {0}")]
    IssuerKey(String),
    #[error("SM2 public key: {0}")]
    Sm2Key(String),
    #[error("binding {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("no person with certno {0}")]
    UnknownPerson(String),
    #[error("fault file {file}: {reason}")]
    FaultFile { file: PathBuf, reason: String },
}
