//! The SQLite store (stub).
