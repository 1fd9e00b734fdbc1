-- Schema v3: the e-SSC replay guard. One row per (issuer key, nonce) accepted by this
-- terminal, kept until the code could no longer verify anyway (exp + skew); purged on the
-- same write path. A code whose row exists is a replay.
CREATE TABLE essc_nonce (
    kid        TEXT    NOT NULL,
    nonce      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    seen_at    INTEGER NOT NULL,
    PRIMARY KEY (kid, nonce)
) WITHOUT ROWID;
CREATE INDEX essc_nonce_expires ON essc_nonce (expires_at);
