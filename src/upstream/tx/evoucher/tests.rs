//! Tests of `ec.query`: the request shape, every class of [`classify_ec`], masking in `Debug`
//! and the fit with the QR layer's decoder contract.

use super::*;
use serde_json::Value;

const OK: &[u8] = include_bytes!("../../../../fixtures/upstream/ec_query_ok.json");
const FAIL: &[u8] = include_bytes!("../../../../fixtures/upstream/ec_query_fail.json");
const MALFORMED: &[u8] = include_bytes!("../../../../fixtures/upstream/ec_query_malformed.json");
const TOKEN: &str = "110000ec1f0a4e8c9b7d6a5f4e3d2c1b0a998877";

fn protocol_detail(r: Result<EcIdentity, UpstreamError>) -> String {
    match r {
        Err(UpstreamError::Protocol { detail }) => detail,
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

fn with_data(data: &str) -> Vec<u8> {
    format!(r#"{{"code":0,"message":"成功","data":{data}}}"#).into_bytes()
}

#[test]
fn request_serialises_exactly_as_the_fixture() {
    let code = EVoucherCode::parse("1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B1C2D3E4F").unwrap();
    let client = EcClient {
        org_id: "P11010500123".into(),
        operator_id: "KIOSK-0001".into(),
        operator_name: "自助终端1号".into(),
        office_id: "YF01".into(),
        office_name: "药房".into(),
        device_type: SELF_SERVICE.into(),
    };
    let request = EcQueryRequest::new(&code, BusinessType::PharmacyPurchase, &client);
    let expected: Value = serde_json::from_str(include_str!(
        "../../../../fixtures/upstream/ec_query_request.json"
    ))
    .unwrap();
    assert_eq!(serde_json::to_value(&request).unwrap(), expected);
    let shown = format!("{request:?}");
    assert!(
        !shown.contains(code.as_str()) && shown.contains("02121"),
        "{shown}"
    );
    for (b, wire) in [
        (BusinessType::Registration, "01101"),
        (BusinessType::Settlement, "01301"),
        (BusinessType::Dispensing, "01302"),
    ] {
        let r = EcQueryRequest::new(&code, b, &client);
        assert_eq!(
            serde_json::to_value(&r).unwrap()["data"]["businessType"],
            wire
        );
    }
}

#[test]
fn a_valid_answer_is_an_identity() {
    let id = classify_ec(200, OK).unwrap();
    assert_eq!(id.id_no.expose(), "11010519491231002X");
    assert_eq!(id.user_name.expose(), "张三");
    assert_eq!(id.ec_token.0, TOKEN);
    assert_eq!(id.insu_org, "110105");
    assert_eq!(id.birthday, "1949-12-31");
    assert_eq!(id.gender, "1");
    // Lenient: numbers as text, missing optional fields empty, code as a string.
    let body =
        format!(r#"{{"code":"0","data":{{"ecToken":"{TOKEN}","insuOrg":110105,"idType":1}}}}"#);
    let id = classify_ec(200, body.as_bytes()).unwrap();
    assert_eq!((id.insu_org.as_str(), id.id_type.as_str()), ("110105", "1"));
    assert_eq!(id.id_no.expose(), "");
    assert_eq!(id.nationality, "");
}

#[test]
fn debug_masks_personal_data_and_the_token() {
    let id = classify_ec(200, OK).unwrap();
    let shown = format!("{id:?}");
    for secret in ["11010519491231002X", "张三", TOKEN, &TOKEN[..20]] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("110105********002X") && shown.contains("张*"),
        "{shown}"
    );
    let qr: QrEcIdentity = id.into();
    let shown = format!("{qr:?}");
    assert!(
        !shown.contains("11010519491231002X") && !shown.contains(TOKEN),
        "{shown}"
    );
}

#[test]
fn a_refusal_is_a_business_error_with_the_message() {
    let e = classify_ec(200, FAIL).unwrap_err();
    assert_eq!(
        e,
        UpstreamError::Business {
            infcode: 1001,
            err_msg: "电子凭证二维码已过期，请刷新后重试".into()
        }
    );
    assert!(!e.outcome_unknown());
    // Also under a 4xx, and the message is scrubbed of ID numbers.
    let body = r#"{"code":-1,"message":"11010519491231002X 未参保"}"#;
    let e = classify_ec(400, body.as_bytes()).unwrap_err();
    assert!(
        matches!(&e, UpstreamError::Business { infcode: -1, err_msg } if !err_msg.contains("19491231"))
    );
    let EcError::Rejected { code, message } = EcError::from(classify_ec(200, FAIL).unwrap_err())
    else {
        panic!("a refusal maps to Rejected")
    };
    assert_eq!(
        (code, message.as_str()),
        (1001, "电子凭证二维码已过期，请刷新后重试")
    );
}

#[test]
fn server_errors_and_garbage_leave_the_outcome_unknown() {
    let e = classify_ec(502, OK).unwrap_err();
    assert_eq!(
        e,
        UpstreamError::OutcomeUnknown {
            cause: UnknownCause::ServerError(502)
        }
    );
    assert!(EcError::from(e).is_retryable());
    let e = classify_ec(200, b"<html>gateway</html>").unwrap_err();
    assert!(matches!(
        e,
        UpstreamError::OutcomeUnknown {
            cause: UnknownCause::Unparsable(_)
        }
    ));
    assert!(matches!(EcError::from(e), EcError::BadAnswer(_)));
    assert_eq!(
        classify_ec(404, b"not found"),
        Err(UpstreamError::Gateway { status: 404 })
    );
}

#[test]
fn missing_or_malformed_fields_are_protocol_errors() {
    let detail = protocol_detail(classify_ec(200, MALFORMED));
    assert!(
        detail.contains("ecToken") && detail.contains("20 characters"),
        "{detail}"
    );
    assert!(
        !detail.contains("110000ec1f"),
        "the token never appears: {detail}"
    );
    let detail = protocol_detail(classify_ec(200, &with_data(r#"{"insuOrg":"110105"}"#)));
    assert!(detail.contains("ecToken"), "{detail}");
    let long = format!(r#"{{"ecToken":"{TOKEN}X","insuOrg":"110105"}}"#);
    assert!(protocol_detail(classify_ec(200, &with_data(&long))).contains("41 characters"));
    for org in [r#""""#, r#""11010""#, r#""11010A""#, "null"] {
        let body = with_data(&format!(r#"{{"ecToken":"{TOKEN}","insuOrg":{org}}}"#));
        assert!(
            protocol_detail(classify_ec(200, &body)).contains("insuOrg"),
            "{org}"
        );
    }
    assert!(protocol_detail(classify_ec(200, &with_data("null"))).contains("data"));
    assert!(protocol_detail(classify_ec(200, br#"{"message":"?"}"#)).contains("code"));
    assert!(protocol_detail(classify_ec(200, br#"{"code":"x"}"#)).contains("code"));
    assert!(protocol_detail(classify_ec(200, br#""hello""#)).starts_with("ec.query"));
    let e = classify_ec(200, MALFORMED).unwrap_err();
    assert!(matches!(EcError::from(e), EcError::BadAnswer(_)));
    // A success code under a 4xx is not trusted either.
    let e = classify_ec(401, OK).unwrap_err();
    assert!(matches!(e, UpstreamError::Protocol { .. }), "{e:?}");
}

#[test]
fn the_identity_carries_what_a_decoder_returns() {
    let id = classify_ec(200, OK).unwrap();
    let qr: QrEcIdentity = id.clone().into();
    assert_eq!(qr.id_no, id.id_no);
    assert_eq!(qr.user_name, id.user_name);
    assert_eq!(qr.ec_token, id.ec_token);
    assert_eq!(qr.insu_org, "110105");
    assert_eq!(qr.ec_index_no, "8F1E2D3C4B5A69788796A5B4C3D2E1F0");
    assert_eq!(qr.id_type, "01");
    assert!(matches!(
        EcError::from(UpstreamError::Timeout { after_ms: 5_000 }),
        EcError::Timeout
    ));
}
