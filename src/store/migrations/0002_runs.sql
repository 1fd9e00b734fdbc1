-- Schema v2: one row per daemon run. `clean` is NULL while the run is in progress,
-- 1 after a drained stop, 0 after a cut-short stop or when a later start finds the
-- row still NULL (the process crashed).
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    pid           INTEGER NOT NULL,
    version       TEXT    NOT NULL,
    started_at_ms INTEGER NOT NULL,
    stopped_at_ms INTEGER,
    clean         INTEGER CHECK (clean IN (0, 1))
);
CREATE INDEX runs_unfinished ON runs (id) WHERE clean IS NULL;
