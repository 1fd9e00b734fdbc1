//! Target `qr_scan`: scanned bytes as a QR service receives them — classified
//! (`qr::classify`), and an e-SSC verified (`qr::essc::Verifier`) against the published test
//! key of `fixtures/qr/essc/cases.json` at that file's clock, and against a ring holding another
//! key under the same key id.
//!
//! Invariants beyond "no panic": an accepted scan is the trimmed input (an e-SSC keeps its
//! prefix, an e-voucher is 16-512 printable characters); a refused one points inside the
//! input; nothing verifies under the wrong key; a code verifies at most once (the replay guard).

use medsettle::qr::classify::{ClassifyError, Scanned, classify};
use medsettle::qr::essc::{EsscError, KeyRing, MemoryReplayGuard, Verifier};

/// The published TEST key of `fixtures/qr/essc/cases.json` (never configured on a terminal).
pub const TEST_KID: &str = "test-2026";
/// Its public key (SEC1, uncompressed).
pub const TEST_PUBLIC_HEX: &str = "048f8e23dd666c1f07ead90e50e4ab56b0febde001a6ff98c5c67e9987b92f2ed8a975fc5a030cb000c7c9367b0ee38d608198e9ef6f4b1f61f550ef49a80a7088";
/// Its secret key (for minting in `essc_mint`).
pub const TEST_SECRET_HEX: &str =
    "fedc2d4333384592ea5c921e42c2736e57a1ca07fdff3ef7efe905a9824a6aad";
/// Another key, registered under the same key id in the "wrong key" ring (gmssl.json's).
pub const OTHER_PUBLIC_HEX: &str = "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13";
/// The clock of the fixture cases (unix seconds).
pub const NOW: i64 = 1_767_225_660;

/// A verifier that trusts `public_hex` as [`TEST_KID`].
pub fn verifier(public_hex: &str) -> Verifier {
    let ring = KeyRing::from_hex([(TEST_KID, public_hex)]).expect("a valid test key");
    Verifier::new(ring).with_skew(30)
}

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    let trimmed = data.trim_ascii();
    match classify(data) {
        Ok(Scanned::Essc(text)) => {
            assert_eq!(text.as_bytes(), trimmed);
            assert!(text.starts_with("ESSC1."));
            verify_both_ways(&text);
        }
        Ok(Scanned::EVoucher(code)) => {
            assert_eq!(code.as_str().as_bytes(), trimmed);
            assert!((16..=512).contains(&code.as_str().len()));
        }
        Err(ClassifyError::Empty) => assert!(trimmed.is_empty()),
        Err(ClassifyError::NotPrintable { offset }) => {
            let b = trimmed[offset];
            assert!(!(0x20..=0x7e).contains(&b));
        }
        Err(_) => {}
    }
    // The verifier also meets text that never went through classify (hand-submitted codes).
    if let Ok(text) = std::str::from_utf8(data) {
        if text.starts_with("ESSC1.") {
            verify_both_ways(text);
        }
    }
}

fn verify_both_ways(text: &str) {
    let guard = MemoryReplayGuard::new(16);
    let right = verifier(TEST_PUBLIC_HEX).verify(text, NOW, &guard);
    if right.is_ok() {
        assert_eq!(
            verifier(TEST_PUBLIC_HEX).verify(text, NOW, &guard),
            Err(EsscError::Replayed),
            "a code verified twice"
        );
    }
    let wrong = verifier(OTHER_PUBLIC_HEX).verify(text, NOW, &MemoryReplayGuard::new(16));
    assert!(wrong.is_err(), "verified under the wrong key");
    if right.is_ok() {
        assert_eq!(wrong, Err(EsscError::Signature));
    }
}
