//! SQLite backend (stub)
