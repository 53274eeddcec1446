"""Storage: SQL records (SQLite by default, PostgreSQL for several nodes; see docs/storage.md) and the recording archive (files)."""
