//! [`ScanResult`]: what one code (scanned by a camera or scan box, or submitted by hand) turned
//! out to be, as the QR service answers the cashier program and as the intake hands it to
//! whoever waits for a credential.
//!
//! Pure data, defined here (below `qr`) because it travels on the intake's typed channel. The
//! API answer carries the code and a verified holder in clear (serde); `Debug` masks both (the
//! holder through the `pii` newtypes), and nothing here publishes or logs it.

use std::fmt;

use medsettle_base::pii::{CardNumber, IdNumber, PersonName};
use medsettle_nhsa::trace::{CodeShape, Symbology, TraceCode};
use serde::Serialize;

/// A scan read as a drug box's traceability code (药品追溯码, traceability.md), offered to the
/// counter's open sale. Not personal data: shown and logged as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceOffer {
    /// The code as the platform receives it (`drug_trac_codg`; group separators kept).
    pub code: TraceCode,
    pub shape: CodeShape,
    /// The symbology, when the source said (the camera's decoder, a scan box's AIM identifier).
    pub symbology: Option<Symbology>,
    /// Accepted, but worth the operator's look (`trace.unusual_prefix`): code and messages.
    pub warning: Option<serde_json::Value>,
}

/// The holder of a verified e-SSC, as the cashier program gets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EsscHolder {
    /// 社会保障号码.
    pub sn: IdNumber,
    pub name: PersonName,
    pub card_no: CardNumber,
    /// 参保地 region, 6 digits.
    pub region: String,
    /// The issuer key that signed the code.
    pub kid: String,
    /// When the code expires, unix seconds.
    pub exp: i64,
}

/// What a scan turned out to be, for the cashier program.
#[derive(Clone, Serialize)]
pub struct ScanResult {
    /// `e-ssc`, `e-voucher`, `trace` (a box's traceability code, or a box's other barcode
    /// refused) or `unknown`.
    pub kind: &'static str,
    /// Accepted by the local checks (an e-voucher still needs the platform).
    pub valid: bool,
    /// The code (a credential: only in the API answer, never in events or logs).
    pub code: String,
    /// For a verified e-SSC: the holder (clear in the API answer).
    pub identity: Option<EsscHolder>,
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
    /// Read as a traceability code: the code offered to the open sale (`kind` is `trace`, or
    /// `e-voucher` for twenty digits whose symbology nobody named: see `qr::classify::read`).
    pub trace: Option<TraceOffer>,
}

impl ScanResult {
    /// The holder masked (`sn`, `name`, `region`, `kid`), for events.
    pub fn masked_identity(&self) -> Option<serde_json::Value> {
        self.identity.as_ref().map(|id| {
            serde_json::json!({
                "sn": id.sn.masked(), "name": id.name.masked(),
                "region": id.region, "kid": id.kid,
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
            .field("identity", &self.identity)
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
            identity: Some(EsscHolder {
                sn: IdNumber::new("110105199003071239"),
                name: PersonName::new("测试张三"),
                card_no: CardNumber::new("M12345678"),
                region: "110105".into(),
                kid: "k1".into(),
                exp: 2,
            }),
            error: None,
            credential_id: Some("C1".into()),
            source: "manual".into(),
            decoder: None,
            decode_ms: None,
            at_ms: 1,
            trace: None,
        };
        let text = format!("{scan:?}");
        for secret in [
            "ESSC1.secret",
            "110105199003071239",
            "测试张三",
            "M12345678",
        ] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("110105********1239"), "{text}");
        // The API answer is clear.
        let json = serde_json::to_value(&scan).unwrap();
        assert_eq!(
            json["identity"],
            serde_json::json!({
                "sn": "110105199003071239", "name": "测试张三", "card_no": "M12345678",
                "region": "110105", "kid": "k1", "exp": 2,
            })
        );
        assert_eq!(json["code"], "ESSC1.secret.signature");
        assert_eq!(scan.masked_identity().unwrap()["sn"], "110105********1239");
    }
}
