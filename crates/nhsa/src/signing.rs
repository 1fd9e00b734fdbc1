//! Request signatures (`signtype`) and the `cainfo` field: this project's convention, shared
//! by the client and the sandbox insurer so the two cannot disagree.
//!
//! upstream.md names `SM2`/`SM3`/`MOCK` and says `cainfo` is 数字签名信息, a signature over the
//! input per `signtype`; password material goes there only under a configured provincial
//! practice ("Patient consent"), never by default. It leaves the exact form to deployments.
//! Here the signed message is `infno|msgid|inf_time|canonical(input)` where
//! [`canonical_json`] writes the input with object keys sorted and no whitespace, so a server
//! that re-serialises the parsed body computes the same bytes. `cainfo` is `&`-joined
//! `key=value` pairs: `sig` (SM3: lowercase hex digest; SM2: base64 of the 64-byte `r‖s`
//! signature with the default distinguishing ID) and `pwd` (password material of a configured
//! consent practice; none is implemented, so the client never sends it). `MOCK` sends no
//! `sig`, so its `cainfo` is empty. No I/O here.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use sm2::dsa::signature::{Signer as _, Verifier as _};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};
use sm3::{Digest as _, Sm3};

/// `signtype` of the request envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum SignType {
    /// SM3 digest of the request.
    Sm3,
    /// SM2 signature of the request.
    Sm2,
    /// Test environments only: no signature. (It does not skip the patient's PIN on the
    /// terminal: that is `settle.skip_pin_consent`.)
    Mock,
}

/// SM2 distinguishing ID (GB/T 32918 default).
const DIST_ID: &str = "1234567812345678";

/// `value` as canonical JSON: object keys in byte order, no insignificant whitespace,
/// strings escaped as serde_json escapes them, numbers as parsed.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The bytes a request signature covers.
pub fn signed_message(infno: &str, msgid: &str, inf_time: &str, input: &Value) -> String {
    format!("{infno}|{msgid}|{inf_time}|{}", canonical_json(input))
}

/// Lowercase hex SM3 digest.
pub fn sm3_hex(bytes: &[u8]) -> String {
    let digest = Sm3::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The parts of `cainfo`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cainfo {
    pub sig: Option<String>,
    pub pwd: Option<String>,
}

impl Cainfo {
    /// Reads `cainfo`; unknown keys are ignored (a gateway may add its own).
    pub fn parse(text: &str) -> Cainfo {
        let mut out = Cainfo::default();
        for pair in text.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sig", v)) => out.sig = Some(v.to_owned()),
                Some(("pwd", v)) => out.pwd = Some(v.to_owned()),
                _ => {}
            }
        }
        out
    }

    /// The wire form (empty when there is nothing to send).
    pub fn render(&self) -> String {
        let mut parts = Vec::new();
        if let Some(s) = &self.sig {
            parts.push(format!("sig={s}"));
        }
        if let Some(p) = &self.pwd {
            parts.push(format!("pwd={p}"));
        }
        parts.join("&")
    }
}

/// A bad signing key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SM2 key: {0}")]
pub struct KeyError(&'static str);

/// Signs requests as configured.
pub enum RequestSigner {
    Mock,
    Sm3,
    Sm2(Box<SigningKey>),
}

impl std::fmt::Debug for RequestSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.signtype())
    }
}

impl RequestSigner {
    /// The signer for a configured `signtype`; SM2 needs the secret key (64 hex digits).
    pub fn new(signtype: SignType, sm2_secret_hex: Option<&str>) -> Result<Self, KeyError> {
        Ok(match signtype {
            SignType::Mock => RequestSigner::Mock,
            SignType::Sm3 => RequestSigner::Sm3,
            SignType::Sm2 => {
                let hex_key = sm2_secret_hex.ok_or(KeyError("signtype SM2 needs sign_key"))?;
                let bytes = hex::decode(hex_key.trim()).map_err(|_| KeyError("not hex"))?;
                if bytes.len() != 32 {
                    return Err(KeyError("not 32 bytes"));
                }
                let key = SigningKey::from_slice(DIST_ID, &bytes)
                    .map_err(|_| KeyError("out of range for SM2"))?;
                RequestSigner::Sm2(Box::new(key))
            }
        })
    }

    /// The envelope's `signtype`.
    pub fn signtype(&self) -> &'static str {
        match self {
            RequestSigner::Mock => "MOCK",
            RequestSigner::Sm3 => "SM3",
            RequestSigner::Sm2(_) => "SM2",
        }
    }

    /// The `sig` value for `message`, `None` under MOCK.
    pub fn sign(&self, message: &str) -> Option<String> {
        match self {
            RequestSigner::Mock => None,
            RequestSigner::Sm3 => Some(sm3_hex(message.as_bytes())),
            RequestSigner::Sm2(key) => {
                let sig: Signature = key.sign(message.as_bytes());
                Some(STANDARD.encode(sig.to_bytes()))
            }
        }
    }

    /// The public key (uncompressed SEC1, hex) for a server to verify SM2 signatures with.
    pub fn public_key_hex(&self) -> Option<String> {
        use sm2::elliptic_curve::sec1::ToSec1Point as _;
        match self {
            RequestSigner::Sm2(key) => Some(hex::encode(
                key.verifying_key()
                    .as_affine()
                    .to_sec1_point(false)
                    .as_bytes(),
            )),
            _ => None,
        }
    }
}

/// Server side: whether `sig` is a valid signature of `message` under `signtype`. `MOCK`
/// accepts anything; SM2 needs the terminal's public key (uncompressed SEC1, hex).
pub fn verify(
    signtype: &str,
    message: &str,
    sig: Option<&str>,
    sm2_public_hex: Option<&str>,
) -> bool {
    match signtype {
        "MOCK" => true,
        "SM3" => sig.is_some_and(|s| s == sm3_hex(message.as_bytes())),
        "SM2" => {
            let (Some(sig), Some(public)) = (sig, sm2_public_hex) else {
                return false;
            };
            let Ok(public) = hex::decode(public) else {
                return false;
            };
            let Ok(key) = VerifyingKey::from_sec1_bytes(DIST_ID, &public) else {
                return false;
            };
            let Ok(raw) = STANDARD.decode(sig) else {
                return false;
            };
            let Ok(sig) = Signature::from_slice(&raw) else {
                return false;
            };
            key.verify(message.as_bytes(), &sig).is_ok()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [ {"z": "中", "y": null} ], "c": "x\"y"}});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":"x\"y","d":[{"y":null,"z":"中"}]},"b":1}"#
        );
        // A re-parsed body gives the same bytes whatever order it arrived in.
        let reparsed: Value =
            serde_json::from_str(r#"{ "b":1, "a":{"c":"x\"y","d":[{"z":"中","y":null}]} }"#)
                .unwrap();
        assert_eq!(canonical_json(&reparsed), canonical_json(&v));
    }

    #[test]
    fn sm3_matches_the_standard_test_vector() {
        // GB/T 32905-2016 example 1: "abc".
        assert_eq!(
            sm3_hex(b"abc"),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
    }

    #[test]
    fn cainfo_round_trips_and_ignores_unknown_keys() {
        let c = Cainfo {
            sig: Some("abc".into()),
            pwd: Some("def".into()),
        };
        assert_eq!(c.render(), "sig=abc&pwd=def");
        assert_eq!(Cainfo::parse("x=1&sig=abc&&pwd=def"), c);
        assert_eq!(Cainfo::default().render(), "");
        assert_eq!(Cainfo::parse(""), Cainfo::default());
    }

    #[test]
    fn each_signtype_verifies_its_own_and_refuses_a_change() {
        let msg = signed_message(
            "2102",
            "H11010500001202611231000000001",
            "2026-11-23 10:00:00",
            &json!({"data": {"psn_no": "P1"}}),
        );
        let other = msg.replace("P1", "P2");
        let secret = medsettle_essc::generate_secret_hex();
        for (t, key) in [
            (SignType::Sm3, None),
            (SignType::Sm2, Some(secret.as_str())),
        ] {
            let signer = RequestSigner::new(t, key).unwrap();
            let public = signer.public_key_hex();
            let sig = signer.sign(&msg).unwrap();
            assert!(verify(
                signer.signtype(),
                &msg,
                Some(&sig),
                public.as_deref()
            ));
            assert!(!verify(
                signer.signtype(),
                &other,
                Some(&sig),
                public.as_deref()
            ));
            assert!(!verify(signer.signtype(), &msg, None, public.as_deref()));
        }
        let mock = RequestSigner::new(SignType::Mock, None).unwrap();
        assert_eq!(mock.sign(&msg), None);
        assert!(verify("MOCK", &msg, None, None));
        assert!(!verify("RSA", &msg, Some("x"), None));
        assert!(RequestSigner::new(SignType::Sm2, None).is_err());
        assert!(RequestSigner::new(SignType::Sm2, Some("zz")).is_err());
    }
}
