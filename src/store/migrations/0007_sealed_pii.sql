-- Schema v7: personal data sealed at rest (store/crypt.rs). The columns that can hold ID
-- numbers, names, card numbers or PIN proofs — sales.doc, sale_events.detail,
-- upstream_audit.request/.response, idempotency.response — now hold AES-256-GCM sealed BLOBs
-- instead of clear JSON; this step's Rust half (migrate.rs `seal_existing_rows`) seals the
-- rows already there and creates the lookup key. Nothing queries inside those columns with
-- SQL; state, amounts and timestamps stay in clear so the queue, the offline limits and their
-- triggers are unchanged. `person_key` is the HMAC of the credential's ID number under the
-- lookup key, so sales are found by ID number without storing it in clear.
ALTER TABLE sales ADD COLUMN person_key BLOB;
CREATE INDEX sales_by_person ON sales (person_key, created_at_ms, id) WHERE person_key IS NOT NULL;
