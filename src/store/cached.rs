//! Statements of the write path, prepared once per connection and reused (rusqlite's statement
//! cache): the writer runs the same few statements for every sale step, and parsing them again
//! each time cost about as much CPU as executing them (`cargo bench --bench visit_api`).

use rusqlite::{Connection, Params, Row};

/// How many distinct statements each connection keeps prepared: every statement of the write
/// path and the common reads fit, so none is evicted in steady state.
pub(super) const CAPACITY: usize = 96;

/// `execute` and `query_row` through the connection's statement cache.
pub(super) trait Cached {
    /// Runs one statement (cached); rows changed.
    fn exec_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize>;

    /// Runs one statement (cached) and maps its first row.
    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>;
}

impl Cached for Connection {
    fn exec_cached<P: Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    fn row_cached<T, P, F>(&self, sql: &str, params: P, f: F) -> rusqlite::Result<T>
    where
        P: Params,
        F: FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }
}
