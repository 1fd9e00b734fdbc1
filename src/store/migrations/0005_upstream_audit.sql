-- Schema v5: every platform request and its answer, by msgid. The request row is committed
-- BEFORE the request is sent (upstream.md 冲正 rule 1), so after a crash the terminal knows what
-- it may have asked and can reverse it. Full bodies stay here, on this machine; logs carry only
-- masked summaries. `outcome`: NULL while unanswered, then 'ok', 'business', 'unknown', 'protocol'.
CREATE TABLE upstream_audit (
    msgid          TEXT    PRIMARY KEY,
    infno          TEXT    NOT NULL,
    request        TEXT    NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    http_status    INTEGER,
    response       TEXT,
    outcome        TEXT CHECK (outcome IN ('ok', 'business', 'unknown', 'protocol')),
    answered_at_ms INTEGER
) WITHOUT ROWID;
CREATE INDEX upstream_audit_unanswered ON upstream_audit (sent_at_ms) WHERE outcome IS NULL;
