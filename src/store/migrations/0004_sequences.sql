-- Schema v4: named persistent counters. `upstream.msgid` gives the 4-digit sequence of every
-- platform request's msgid (upstream.md): unique across restarts, because the next value is
-- committed before the request goes out.
CREATE TABLE sequences (
    name  TEXT    PRIMARY KEY,
    value INTEGER NOT NULL CHECK (value >= 0)
) WITHOUT ROWID;
