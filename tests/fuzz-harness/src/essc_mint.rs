//! Target `essc_mint`: arbitrary claims, signed with the published test key
//! (`qr::essc::Issuer::mint_raw`), then verified — so the fuzzer reaches the checks behind the
//! signature (lifetime, clock, GB 11643, region, nonce, fields, replay), which a scanned code
//! with a wrong signature never does.
//!
//! The input is the claims JSON; an input that is itself an `ESSC1.` code (the seeds from
//! `fixtures/qr/essc/`) contributes its decoded payload instead.
//!
//! Invariants: a freshly signed code never fails on its signature or its shape (when within the
//! length limit); it verifies only under the right key; the same payload with one bit changed
//! and the old signature never verifies; an accepted code carries exactly the signed claims.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use medsettle::qr::essc::{Claims, EsscError, Issuer, MAX_CODE_LEN, MemoryReplayGuard};

use crate::qr_scan::{NOW, OTHER_PUBLIC_HEX, TEST_KID, TEST_PUBLIC_HEX, TEST_SECRET_HEX, verifier};

fn payload(data: &[u8]) -> Vec<u8> {
    let Some(rest) = data.strip_prefix(b"ESSC1.") else {
        return data.to_vec();
    };
    let part = rest.split(|&b| b == b'.').next().unwrap_or_default();
    B64.decode(part).unwrap_or_else(|_| data.to_vec())
}

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let json = payload(data);
    let issuer = Issuer::from_secret_hex(TEST_KID, TEST_SECRET_HEX).expect("the test key");
    let code = issuer.mint_raw(&json);
    let right = verifier(TEST_PUBLIC_HEX).verify(&code, NOW, &MemoryReplayGuard::new(16));
    let claims: Option<Claims> = serde_json::from_slice(&json).ok();
    match &right {
        Err(EsscError::Format) => {
            assert!(
                json.is_empty() || code.len() > MAX_CODE_LEN,
                "a minted code is well-formed"
            )
        }
        Err(EsscError::Base64(_)) => panic!("a minted code is valid base64url"),
        Err(EsscError::Signature) => panic!("a freshly signed code failed its signature"),
        Err(EsscError::UnknownKid(_)) => {
            assert!(claims.is_some_and(|c| c.kid != TEST_KID));
        }
        Err(EsscError::Json(_)) => assert!(claims.is_none()),
        Err(_) => assert!(claims.is_some()),
        Ok(id) => {
            let c = claims.expect("accepted claims parse");
            assert_eq!(
                (id.kid.as_str(), id.iat, id.exp),
                (c.kid.as_str(), c.iat, c.exp)
            );
            assert_eq!(id.region, c.ad);
            assert!(id.exp >= id.iat);
        }
    }
    let wrong = verifier(OTHER_PUBLIC_HEX).verify(&code, NOW, &MemoryReplayGuard::new(16));
    assert!(wrong.is_err(), "verified under the wrong key");
    if right.is_ok() {
        assert_eq!(wrong, Err(EsscError::Signature));
        // One bit of the payload changed, the signature kept: refused.
        let mut tampered = json.clone();
        let i = data.len() % tampered.len().max(1);
        if let Some(b) = tampered.get_mut(i) {
            *b ^= 1 << (data.len() % 8);
            let signature = code.rsplit('.').next().expect("a signature part");
            let forged = format!("ESSC1.{}.{signature}", B64.encode(&tampered));
            let again = verifier(TEST_PUBLIC_HEX).verify(&forged, NOW, &MemoryReplayGuard::new(16));
            assert!(again.is_err(), "a changed payload verified");
        }
    }
}
