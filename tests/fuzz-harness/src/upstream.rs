//! Target `upstream`: an HTTP answer from the insurance platform — the envelope
//! (`upstream::classify`) under a success, a client-error and a server-error status, every typed
//! `output` the client reads (sign-in, person, settlement and cancellation, registration, fee
//! upload, reconciliation), and the e-voucher service's `ec.query` answer (`classify_ec`).
//! The fixtures in `fixtures/upstream/` seed it.
//!
//! Invariants beyond "no panic": a 5xx is always an unknown outcome and a 4xx never a success;
//! an accepted envelope has `infcode` 0; a settlement that balances has a negation that balances
//! and is accepted as its cancellation; an accepted e-voucher identity has a 40-character token
//! and a 6-digit region.

use medsettle::upstream::error::UpstreamError;
use medsettle::upstream::tx::evoucher::classify_ec;
use medsettle::upstream::tx::outpatient::{FeeUploadOutput, RegistrationOutput};
use medsettle::upstream::tx::person::PersonInfo;
use medsettle::upstream::tx::reverse::ReconcileOutput;
use medsettle::upstream::tx::settle::{AdvisoryChecks, Sent, Settlement};
use medsettle::upstream::tx::sign::SignInOutput;
use medsettle::upstream::{Response, classify};
use serde_json::Value;

/// Runs the target on one input.
pub fn check(data: &[u8]) {
    check_envelope(data);
    check_ec(data);
    // The body read as the `output` of an accepted envelope, so the typed decoders see
    // arbitrary JSON even when the fuzzer has not rebuilt an envelope around it.
    if let Ok(output) = serde_json::from_slice::<Value>(data) {
        check_outputs(&Response {
            infcode: 0,
            inf_refmsgid: None,
            refmsg_time: None,
            respond_time: None,
            err_msg: None,
            output,
        });
    }
}

fn check_envelope(data: &[u8]) {
    let server = classify(503, data);
    assert!(
        matches!(&server, Err(e) if e.outcome_unknown()),
        "a 5xx must be an unknown outcome: {server:?}"
    );
    if let Ok(r) = classify(400, data) {
        panic!("a 4xx answer accepted: {r:?}");
    }
    match classify(200, data) {
        Ok(response) => {
            assert_eq!(response.infcode, 0);
            let _ = response.respond_time_utc();
            check_outputs(&response);
        }
        Err(UpstreamError::Business { infcode, .. }) => assert_eq!(infcode, -1),
        Err(e) => {
            let _ = (e.is_retryable(), e.to_string());
        }
    }
}

fn check_outputs(r: &Response) {
    if let Ok(s) = r.output_as::<SignInOutput>() {
        let _ = (s.sign_no(), s.sign_time());
    }
    let _ = r.output_as::<PersonInfo>();
    if let Ok(reg) = r.output_as::<RegistrationOutput>() {
        assert_eq!(reg.mdtrt_id().is_ok(), reg.data.mdtrt_id.is_some());
    }
    let _ = r.output_as::<FeeUploadOutput>();
    if let Ok(rec) = r.output_as::<ReconcileOutput>() {
        let _ = rec.stmtinfo.balanced();
    }
    if let Ok(s) = r.output_as::<Settlement>() {
        check_settlement(&s);
    }
}

fn check_settlement(s: &Settlement) {
    // A settlement is final exactly when it carries a setl_id; nothing else is checked, and
    // the advisory checks and the refunded cash never panic.
    assert_eq!(s.check().is_ok(), s.setl_id().is_some());
    let sent = Sent {
        medfee_sumamt: s.setlinfo.medfee_sumamt,
        psn_no: Some("P1"),
    };
    let _ = s.advisories(&sent, &AdvisoryChecks::default());
    if let Some(cash) = s.cash_refunded() {
        assert!(cash.0 >= 0, "refunded cash is a magnitude");
    }
    assert!(s.answer.is_null() || s.answer.is_object());
}

fn check_ec(data: &[u8]) {
    match classify_ec(200, data) {
        Ok(id) => {
            assert_eq!(id.ec_token.0.len(), 40);
            assert!(id.insu_org.len() == 6 && id.insu_org.bytes().all(|b| b.is_ascii_digit()));
            let shown = format!("{:?}", id.ec_token);
            assert!(!shown.contains(&id.ec_token.0), "the token shows in Debug");
            let _ = medsettle::qr::evoucher::EcIdentity::from(id);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    assert!(classify_ec(400, data).is_err());
}
