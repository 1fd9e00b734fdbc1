-- Fleet ledger schema v2: each line's psn_no sealed (AES-256-GCM under a key derived from the
-- fleet's psn_key; src/fleet/rows.rs), because the institution-wide 3202 writes every
-- settlement's psn_no into its detail file (upstream.md, 9101). PostgreSQL only ever holds the
-- ciphertext. Nullable: lines written by older code have none until their sale changes again,
-- and 3202 reports such a line without its number.
ALTER TABLE settlement_facts ADD COLUMN psn_sealed bytea;

-- The institution-wide runs read a day's result before deciding to run (src/fleet/reconcile.rs).
CREATE INDEX reconciliations_verdict ON reconciliations (fixmedins_code, day, ran_at DESC)
    WHERE group_key = '';
