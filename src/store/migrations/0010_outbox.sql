-- Schema v10: the fleet outbox. When the fleet ledger (PostgreSQL) is configured, every change
-- of a sale that has settlement facts adds a row here IN THE SAME TRANSACTION as the change, so
-- the ledger receives it at least once whatever crashes or outages come between. The drain
-- task (src/fleet/drain.rs) sends rows in `id` order and deletes them only after PostgreSQL
-- committed. A row names the sale and the version (the seq of its newest history row) at
-- enqueue time; the facts themselves are derived from the sale when the row is sent, so
-- nothing here is personal data and nothing is duplicated.
-- AUTOINCREMENT: ids are never reused, so `id` order is enqueue order even after deletes.
CREATE TABLE outbox (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id        TEXT    NOT NULL,
    version        INTEGER NOT NULL,
    enqueued_at_ms INTEGER NOT NULL
);
CREATE INDEX outbox_sale ON outbox (sale_id);
