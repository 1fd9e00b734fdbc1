//! [`SandboxConfig`]: what a sandbox listens on, whom it insures and how it misbehaves at
//! start. Plain data with defaults; nothing here opens files or sockets.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::fault::FaultRule;
use crate::shapes::AnswerShapes;

/// The default protocol path of upstream.md.
pub const DEFAULT_PATH: &str = "/fsi/api/rsfComIfsService/callService";
/// The default e-voucher (`ec.query`) path.
pub const DEFAULT_EC_PATH: &str = "/localcfc/api/hsecfc/localQrCodeQuery";

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Listening address; port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Directory of person files (`*.json`, see `fixtures/persons/README.md`).
    pub persons_dir: PathBuf,
    /// When set, every request's `fixmedins_code` must equal it.
    pub fixmedins_code: Option<String>,
    /// Protocol endpoint path.
    pub path: String,
    /// E-voucher endpoint path.
    pub ec_path: String,
    /// The terminal's SM2 public key (uncompressed SEC1 hex) for `signtype=SM2` requests.
    pub sm2_public_hex: Option<String>,
    /// Lifetime of an `ecToken` returned by `ec.query`.
    pub ec_token_ttl_secs: u64,
    /// Lifetime of an issued e-voucher QR code (`ecQrCode`).
    pub ec_code_ttl_secs: u64,
    /// Lifetime of a minted e-SSC code (qr.md: at most 300 s).
    pub essc_ttl_secs: u64,
    /// The e-SSC issuer's secret key (64 hex); a fresh key when `None`.
    pub essc_issuer_secret_hex: Option<String>,
    /// Key id written into minted e-SSC codes.
    pub essc_kid: String,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
    /// Act as a gateway checking the `x-tif-*` headers: `(paasid, paas token)`. A request with
    /// missing or wrong headers gets HTTP 401 with a plain-text body, as a gateway answers.
    pub tif: Option<(String, String)>,
    /// The public answer shapes written (hospital share, co-payment, cancellation names).
    pub shapes: AnswerShapes,
    /// The 2101/2102 input node names required, `(header, lines)`; `None` accepts either of
    /// `druginfo`+`drugdetail` (the contract's default) and `data`+`feedetail`.
    pub pharmacy_nodes: Option<(String, String)>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            persons_dir: default_persons_dir(),
            fixmedins_code: None,
            path: DEFAULT_PATH.to_owned(),
            ec_path: DEFAULT_EC_PATH.to_owned(),
            sm2_public_hex: None,
            ec_token_ttl_secs: 300,
            ec_code_ttl_secs: 120,
            essc_ttl_secs: 60,
            essc_issuer_secret_hex: None,
            essc_kid: "sandbox-1".to_owned(),
            faults: Vec::new(),
            tif: None,
            shapes: AnswerShapes::default(),
            pharmacy_nodes: None,
        }
    }
}

/// `fixtures/persons` of this repository (found from the crate's manifest directory, so tests
/// and `cargo run` work from any working directory).
pub fn default_persons_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/persons")
}
