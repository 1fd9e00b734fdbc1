-- Schema v11: the trace-report outbox (药品追溯码, traceability.md "Where the codes go").
-- When a sale or visit settles, one row per item line that has trace codes (3505 商品销售) is
-- added IN THE SAME TRANSACTION as the transition to `settled`; when its settlement is
-- refunded, the lines already reported (or maybe reported) get a 3506 商品销售退货 row and
-- those never sent are cancelled. The reporter (src/settle/report.rs) sends due rows in `id`
-- order and records each attempt's msgid before it leaves, so a resend after a crash or a
-- lost answer goes under the same msgid. The request is built from the sale when it is sent:
-- nothing here is personal data (trace codes identify a drug box, not a person).
-- AUTOINCREMENT: ids are never reused, so `id` order is enqueue order.
CREATE TABLE trace_reports (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    sale_id       TEXT    NOT NULL,
    line          INTEGER NOT NULL,
    infno         TEXT    NOT NULL CHECK (infno IN ('3505', '3506')),
    state         TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    codes         INTEGER NOT NULL,
    tries         INTEGER NOT NULL DEFAULT 0,
    next_at_ms    INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    -- The msgid (and its inf_time) of the attempt in flight or last sent.
    msgid         TEXT,
    msg_at_ms     INTEGER,
    -- The platform's msgRslt, or the last error, for the operator.
    answer        TEXT,
    UNIQUE (sale_id, line, infno)
);
CREATE INDEX trace_reports_due ON trace_reports (state, next_at_ms);

-- The codes this terminal sold and has not taken back: a code scanned again into another sale
-- is a warning for the operator (possible 回流药), unless that line is sold split (拆零).
CREATE TABLE trace_sold (
    code    TEXT    NOT NULL,
    sale_id TEXT    NOT NULL,
    line    INTEGER NOT NULL,
    at_ms   INTEGER NOT NULL,
    PRIMARY KEY (code, sale_id, line)
) WITHOUT ROWID;
