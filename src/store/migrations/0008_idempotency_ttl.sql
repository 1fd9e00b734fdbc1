-- Schema v8: idempotency entries that expire and that commit with the write they answer.
-- `status` and `response` are NULL while an entry is only claimed by its write: the sale (or
-- transition) and this row commit in ONE transaction, `sale_id` naming the sale, and the
-- answer is filled in after; a retry that finds no answer is answered from the sale itself.
-- `created_at_ms` ages entries out (`[api] idempotency_ttl_hours`, purged by housekeeping).
-- Conflicts that describe a moment (409: the sale is busy or in another state) are no longer
-- remembered, so the ones v7 stored are dropped here. `response` stays sealed (store/crypt.rs).
CREATE TABLE idempotency_v8 (
    key           TEXT    PRIMARY KEY,
    route         TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    status        INTEGER,
    response      TEXT,
    sale_id       TEXT,
    created_at_ms INTEGER NOT NULL,
    CHECK ((status IS NULL) = (response IS NULL)),
    CHECK (status IS NOT NULL OR sale_id IS NOT NULL)
) WITHOUT ROWID;
INSERT INTO idempotency_v8 (key, route, request_hash, status, response, created_at_ms)
    SELECT key, route, request_hash, status, response, created_at_ms FROM idempotency
    WHERE status <> 409;
DROP TABLE idempotency;
ALTER TABLE idempotency_v8 RENAME TO idempotency;
CREATE INDEX idempotency_by_age ON idempotency (created_at_ms);
