-- Schema v9: `upstream_audit.outcome` gains 'unsent': the request provably never reached the
-- platform (no connection, a local failure before sending, a gateway's refusal without an
-- envelope). Crash recovery reads it like the settler reads the failure itself: the request is
-- dropped and tried again under a new msgid, never reversed with 2601 (the platform has nothing
-- to reverse). SQLite cannot alter a CHECK, so the table is rebuilt; `request`/`response` are
-- copied as they are (sealed, store/crypt.rs).
CREATE TABLE upstream_audit_v9 (
    msgid          TEXT    PRIMARY KEY,
    infno          TEXT    NOT NULL,
    request        TEXT    NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    http_status    INTEGER,
    response       TEXT,
    outcome        TEXT CHECK (outcome IN ('ok', 'business', 'unknown', 'protocol', 'unsent')),
    answered_at_ms INTEGER
) WITHOUT ROWID;
INSERT INTO upstream_audit_v9 (msgid, infno, request, sent_at_ms, http_status, response,
                               outcome, answered_at_ms)
    SELECT msgid, infno, request, sent_at_ms, http_status, response, outcome, answered_at_ms
    FROM upstream_audit;
DROP TABLE upstream_audit;
ALTER TABLE upstream_audit_v9 RENAME TO upstream_audit;
CREATE INDEX upstream_audit_unanswered ON upstream_audit (sent_at_ms) WHERE outcome IS NULL;
