"""Storage: SQL metadata (SQLite by default) and the recording archive (local files)."""
