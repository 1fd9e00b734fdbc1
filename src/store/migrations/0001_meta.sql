-- Schema v1: key/value facts about this terminal's database (creation time, last
-- integrity check, ...). Values are text; callers parse what they store.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
