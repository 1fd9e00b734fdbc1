//! [`ScanResult`]: what one code (scanned by a camera or scan box, or submitted by hand) turned
//! out to be, as the QR service answers the cashier program and as the intake hands it to
//! whoever waits for a credential.
//!
//! Pure data, defined here (below `qr`) because it travels on the intake's typed channel. It
//! carries the code and a verified identity in clear for the API answer; `Debug` masks both,
//! and nothing here publishes or logs it.

use std::fmt;

use medsettle_base::pii::{mask_id, mask_name};
use serde::Serialize;

/// What a scan turned out to be, for the cashier program.
#[derive(Clone, Serialize)]
pub struct ScanResult {
    /// `e-ssc`, `e-voucher` or `unknown`.
    pub kind: &'static str,
    /// Accepted by the local checks (an e-voucher still needs the platform).
    pub valid: bool,
    /// The code (a credential: only in the API answer, never in events or logs).
    pub code: String,
    /// For a verified e-SSC: the holder, in clear.
    pub identity: Option<serde_json::Value>,
    /// For a refusal: stable code and messages.
    pub error: Option<serde_json::Value>,
    /// For a valid credential: the id `POST /v1/sales` takes (held for 10 minutes).
    pub credential_id: Option<String>,
    /// Where it came from (`camera`, `serial:/dev/ttyACM0`, `manual` for a submitted code).
    pub source: String,
    /// Decoder and decode time (camera sources).
    pub decoder: Option<String>,
    pub decode_ms: Option<f64>,
    /// When it was processed, unix milliseconds.
    pub at_ms: i64,
}

impl ScanResult {
    /// The holder masked (`sn`, `name`, `region`, `kid`), for events.
    pub fn masked_identity(&self) -> Option<serde_json::Value> {
        self.identity.as_ref().map(|id| {
            let s = |k: &str| id[k].as_str().unwrap_or_default().to_owned();
            serde_json::json!({
                "sn": mask_id(&s("sn")),
                "name": mask_name(&s("name")),
                "region": id["region"], "kid": id["kid"],
            })
        })
    }
}

impl fmt::Debug for ScanResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanResult")
            .field("kind", &self.kind)
            .field("valid", &self.valid)
            .field("code", &format_args!("<{} chars>", self.code.len()))
            .field("identity", &self.masked_identity())
            .field("error", &self.error)
            .field("credential_id", &self.credential_id)
            .field("source", &self.source)
            .field("at_ms", &self.at_ms)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_masks_the_code_and_the_holder() {
        let scan = ScanResult {
            kind: "e-ssc",
            valid: true,
            code: "ESSC1.secret.signature".into(),
            identity: Some(serde_json::json!({
                "sn": "110105199003071239", "name": "测试张三", "region": "110105", "kid": "k1",
            })),
            error: None,
            credential_id: Some("C1".into()),
            source: "manual".into(),
            decoder: None,
            decode_ms: None,
            at_ms: 1,
        };
        let text = format!("{scan:?}");
        for secret in ["ESSC1.secret", "110105199003071239", "测试张三"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("110105********1239"), "{text}");
        // The API answer is clear.
        let json = serde_json::to_string(&scan).unwrap();
        assert!(json.contains("110105199003071239") && json.contains("ESSC1.secret"));
    }
}
