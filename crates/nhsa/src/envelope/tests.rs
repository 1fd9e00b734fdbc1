//! Tests of [`classify`](super::classify) over the fixtures and the HTTP edge cases.

use super::*;

const SIGN_IN: &str = include_str!("../../../../fixtures/upstream/9001_response.json");
const PERSON: &str = include_str!("../../../../fixtures/upstream/1101_response.json");
const BUSINESS: &str = include_str!("../../../../fixtures/upstream/business_error.json");
const INFCODE_STRING: &str = include_str!("../../../../fixtures/upstream/infcode_string.json");
const MALFORMED: &str = include_str!("../../../../fixtures/upstream/malformed_envelope.json");

#[test]
fn success_envelopes_parse_with_extra_fields() {
    let r = classify(200, SIGN_IN.as_bytes()).unwrap();
    assert_eq!(r.infcode, 0);
    assert_eq!(
        r.inf_refmsgid.as_deref(),
        Some("110000202503090902031234567890")
    );
    assert_eq!(r.err_msg, None);
    assert_eq!(
        r.respond_time_utc().map(|t| t.to_rfc3339()),
        Some("2025-03-09T01:02:03.512+00:00".to_owned())
    );
    assert!(r.output.get("signinoutb").is_some());
    let r = classify(200, PERSON.as_bytes()).unwrap();
    assert_eq!(r.err_msg, None, "an empty err_msg reads as absent");
}

#[test]
fn infcode_as_string_and_missing_optional_fields() {
    let r = classify(200, INFCODE_STRING.as_bytes()).unwrap();
    assert_eq!(r.infcode, 0);
    assert_eq!(r.refmsg_time, None);
    let r = classify(200, br#"{"infcode":0}"#).unwrap();
    assert_eq!(r.output, Value::Null);
}

#[test]
fn business_error_is_shown_scrubbed() {
    let e = classify(200, BUSINESS.as_bytes()).unwrap_err();
    assert_eq!(
        e,
        UpstreamError::Business {
            infcode: -1,
            err_msg: "未查询到证件号码为110105********002X的参保人员信息".to_owned()
        }
    );
    assert!(!e.outcome_unknown());
    // Some gateways answer a business rejection with HTTP 400 and the envelope.
    assert!(matches!(
        classify(400, BUSINESS.as_bytes()),
        Err(UpstreamError::Business { .. })
    ));
}

#[test]
fn malformed_envelope_is_a_protocol_error() {
    let e = classify(200, MALFORMED.as_bytes()).unwrap_err();
    assert!(matches!(e, UpstreamError::Protocol { .. }), "{e:?}");
    assert!(e.outcome_unknown());
    for body in [
        &br#"[1,2]"#[..],
        br#"{"infcode":"ok"}"#,
        br#"{"infcode":1.5}"#,
        br#"{"infcode":2}"#,
    ] {
        assert!(matches!(
            classify(200, body),
            Err(UpstreamError::Protocol { .. })
        ));
    }
}

#[test]
fn transport_level_failures_leave_the_outcome_unknown() {
    for (status, body) in [
        (502, SIGN_IN.as_bytes()),
        (500, &b""[..]),
        (200, b"<html>proxy error</html>"),
        (200, &SIGN_IN.as_bytes()[..40]),
        (200, b""),
    ] {
        let e = classify(status, body).unwrap_err();
        assert!(
            matches!(e, UpstreamError::OutcomeUnknown { .. }),
            "{status}: {e:?}"
        );
        assert!(e.outcome_unknown() && e.is_retryable());
    }
}

#[test]
fn client_errors_without_envelope_are_gateway_refusals() {
    assert_eq!(
        classify(401, b"invalid signature").unwrap_err(),
        UpstreamError::Gateway { status: 401 }
    );
    assert_eq!(
        classify(404, br#"{"status":404}"#).unwrap_err(),
        UpstreamError::Gateway { status: 404 }
    );
    assert!(matches!(
        classify(302, SIGN_IN.as_bytes()),
        Err(UpstreamError::Protocol { .. })
    ));
}

#[test]
fn debug_output_hides_personal_data() {
    let r = classify(200, PERSON.as_bytes()).unwrap();
    let shown = format!("{r:?}");
    assert!(!shown.contains("11010519491231002X") && !shown.contains("张三"));
}
