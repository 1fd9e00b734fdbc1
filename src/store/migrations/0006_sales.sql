-- Schema v6: sales and their append-only history, and the API's idempotency keys.
-- `sales.doc` is the sale as JSON (items, credential, platform answers); the columns beside it
-- are what the queue and the offline limits query. A transition updates `state` only if it
-- still holds the expected value (compare-and-set) and appends to `sale_events` in the same
-- transaction, so the history is complete and never contradicts the row.
CREATE TABLE sales (
    id                 TEXT    PRIMARY KEY,
    created_at_ms      INTEGER NOT NULL,
    updated_at_ms      INTEGER NOT NULL,
    state              TEXT    NOT NULL,
    -- 1 once the sale was stored offline (forwarder-owned); never goes back to 0.
    stored             INTEGER NOT NULL DEFAULT 0 CHECK (stored IN (0, 1)),
    amount_fen         INTEGER NOT NULL CHECK (amount_fen >= 0),
    next_attempt_at_ms INTEGER,
    doc                TEXT    NOT NULL
);
CREATE INDEX sales_by_state ON sales (state, created_at_ms);
-- The open stored sales the offline limits count: kept small by the partial index, so the
-- limits check in the storing transaction does not grow with history.
CREATE INDEX sales_stored_open ON sales (created_at_ms)
    WHERE stored = 1 AND state NOT IN ('settled', 'cancelled', 'abandoned');

CREATE TABLE sale_events (
    sale_id    TEXT    NOT NULL REFERENCES sales (id),
    seq        INTEGER NOT NULL,
    at_ms      INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    event      TEXT    NOT NULL,
    detail     TEXT    NOT NULL,
    PRIMARY KEY (sale_id, seq)
) WITHOUT ROWID;

CREATE TABLE idempotency (
    key           TEXT    PRIMARY KEY,
    route         TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    status        INTEGER NOT NULL,
    response      TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Running totals of the open stored sales, kept by triggers in the same transaction as the
-- change, so the offline limits check reads one row however long the history grows.
CREATE TABLE offline_totals (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    count      INTEGER NOT NULL CHECK (count >= 0),
    amount_fen INTEGER NOT NULL CHECK (amount_fen >= 0)
);
INSERT INTO offline_totals (id, count, amount_fen) VALUES (1, 0, 0);

CREATE TRIGGER sales_open_stored_in AFTER UPDATE OF stored, state ON sales
WHEN NEW.stored = 1 AND NEW.state NOT IN ('settled', 'cancelled', 'abandoned')
 AND NOT (OLD.stored = 1 AND OLD.state NOT IN ('settled', 'cancelled', 'abandoned'))
BEGIN
    UPDATE offline_totals SET count = count + 1, amount_fen = amount_fen + NEW.amount_fen
    WHERE id = 1;
END;

CREATE TRIGGER sales_open_stored_out AFTER UPDATE OF stored, state ON sales
WHEN OLD.stored = 1 AND OLD.state NOT IN ('settled', 'cancelled', 'abandoned')
 AND NOT (NEW.stored = 1 AND NEW.state NOT IN ('settled', 'cancelled', 'abandoned'))
BEGIN
    UPDATE offline_totals SET count = count - 1, amount_fen = amount_fen - OLD.amount_fen
    WHERE id = 1;
END;
