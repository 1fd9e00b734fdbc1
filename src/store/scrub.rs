//! One-time scrubs of data an older medsettle left at rest, run at open after the migrations
//! and recorded in `meta` so each runs once per database.
//!
//! `scrub.pin_proofs`: before the consent seal (`settle/consent.rs`), a sale document could
//! hold `consent: {kind: "pin", proof: SM3(cert_no:PIN)}` (unsalted, brute-forceable into the
//! PIN) and an audited request's `cainfo` could carry it as `pwd=…`. Every such document loses
//! its consent record: a final sale needs none (the new code drops it once final), and for an
//! open one no seal can be made here — the seal is `settle`'s keyed hash of a fact (card-verified
//! or only entered) the old document does not record — so it is left as the new code leaves a
//! sale without a consent record: nothing after the confirmation reads it (the forwarder, the
//! settler and recovery settle a `confirmed`/`queued`/`reversed` sale on the consent its history
//! already records). Every `pwd=` part is removed from the `cainfo` of the stored requests.
//! Sealed columns are opened and sealed again through the key set, never edited in SQL.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::Value;

use super::StoreError;
use super::crypt::{KeySet, label};
use super::sealed::raw;

/// The `meta` key that records the PIN-proof scrub (its value: when and what it changed).
pub(super) const PIN_PROOFS: &str = "scrub.pin_proofs";

/// What the PIN-proof scrub changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScrubReport {
    /// Sale documents whose old consent proof was removed.
    pub sales: u64,
    /// Audited requests whose `cainfo` lost its `pwd=` part.
    pub requests: u64,
}

/// Runs the PIN-proof scrub unless `meta` records it; answers what it changed (`None`: it ran
/// before). One `BEGIN IMMEDIATE` transaction: the rows and the record commit together.
pub(super) fn pin_proofs_once(
    conn: &mut Connection,
    keys: &KeySet,
    now_ms: i64,
) -> Result<Option<ScrubReport>, StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done: Option<String> = tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [PIN_PROOFS], |r| {
            r.get(0)
        })
        .optional()?;
    if done.is_some() {
        return Ok(None);
    }
    let report = pin_proofs(&tx, keys)?;
    let record = serde_json::json!({
        "at_ms": now_ms,
        "sales": report.sales,
        "requests": report.requests,
    });
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)",
        params![PIN_PROOFS, record.to_string()],
    )?;
    tx.commit()?;
    if report != ScrubReport::default() {
        tracing::warn!(
            sales = report.sales,
            requests = report.requests,
            "old PIN proofs removed from the database"
        );
    }
    Ok(Some(report))
}

/// The scrub itself, inside the caller's transaction; idempotent (also run on the rows a
/// salvage copies from an older file).
pub(super) fn pin_proofs(conn: &Connection, keys: &KeySet) -> Result<ScrubReport, StoreError> {
    let mut report = ScrubReport::default();
    let docs: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT id, doc FROM sales")?
        .query_map([], |r| Ok((r.get(0)?, raw(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, sealed) in docs {
        let text = keys.open_text(label::SALE_DOC, &sealed)?;
        let Ok(mut doc) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if drop_pin_proof(&mut doc) {
            conn.execute(
                "UPDATE sales SET doc = ?2 WHERE id = ?1",
                params![id, keys.seal(label::SALE_DOC, doc.to_string().as_bytes())],
            )?;
            report.sales += 1;
        }
    }
    let requests: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT msgid, request FROM upstream_audit")?
        .query_map([], |r| Ok((r.get(0)?, raw(r, 1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (msgid, sealed) in requests {
        let text = keys.open_text(label::AUDIT_REQUEST, &sealed)?;
        let Ok(mut body) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if drop_cainfo_pwd(&mut body) {
            conn.execute(
                "UPDATE upstream_audit SET request = ?2 WHERE msgid = ?1",
                params![
                    msgid,
                    keys.seal(label::AUDIT_REQUEST, body.to_string().as_bytes())
                ],
            )?;
            report.requests += 1;
        }
    }
    Ok(report)
}

/// Removes a consent record that holds the old `proof` (see the module doc); true if changed.
fn drop_pin_proof(doc: &mut Value) -> bool {
    let Some(consent) = doc.get_mut("consent") else {
        return false;
    };
    if consent.get("proof").is_none() {
        return false;
    }
    *consent = Value::Null;
    true
}

/// Removes every `pwd=` part of every `cainfo` string in `v`; true if anything changed.
fn drop_cainfo_pwd(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            let mut changed = false;
            for (k, child) in map.iter_mut() {
                if k == "cainfo" {
                    if let Value::String(s) = child {
                        let kept: Vec<&str> =
                            s.split('&').filter(|p| !p.starts_with("pwd=")).collect();
                        let kept = kept.join("&");
                        if kept != *s {
                            *s = kept;
                            changed = true;
                        }
                        continue;
                    }
                }
                changed |= drop_cainfo_pwd(child);
            }
            changed
        }
        Value::Array(items) => items.iter_mut().fold(false, |c, i| drop_cainfo_pwd(i) | c),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_old_proof_loses_its_consent_record() {
        let mut old = serde_json::json!({"id": "S1", "consent": {"kind": "pin", "proof": "ab"}});
        assert!(drop_pin_proof(&mut old));
        assert_eq!(old, serde_json::json!({"id": "S1", "consent": null}));
        for kept in [
            serde_json::json!({"consent": {"kind": "pin", "seal": "cd"}}),
            serde_json::json!({"consent": {"kind": "e_voucher"}}),
            serde_json::json!({"consent": null}),
            serde_json::json!({"id": "S2"}),
        ] {
            let mut v = kept.clone();
            assert!(!drop_pin_proof(&mut v));
            assert_eq!(v, kept);
        }
    }

    #[test]
    fn every_pwd_part_of_a_cainfo_goes_and_the_rest_stays() {
        let mut body = serde_json::json!({
            "infno": "2102",
            "cainfo": "sig=QUJD&pwd=0123abcd",
            "input": {"data": {"cainfo": "pwd=x"}, "list": [{"cainfo": "a=1&pwd=y&b=2"}]},
        });
        assert!(drop_cainfo_pwd(&mut body));
        assert_eq!(body["cainfo"], "sig=QUJD");
        assert_eq!(body["input"]["data"]["cainfo"], "");
        assert_eq!(body["input"]["list"][0]["cainfo"], "a=1&b=2");
        assert!(!drop_cainfo_pwd(&mut body), "nothing left to remove");
        // A `pwd` outside `cainfo` is not ours to touch.
        let mut other = serde_json::json!({"note": "pwd=1"});
        assert!(!drop_cainfo_pwd(&mut other));
    }
}
