"""Accounts for a run against servers this run starts: written straight into the database.

The one place the load test touches storage. It opens the records the way
``teleconsult serve --data-dir`` does for the same settings (``open_database``: SQLite in
the data directory unless a ``database_url`` is set); the reader's name is unique per
seeding, so a shared database (PostgreSQL) could be seeded again for every step. Against
an existing server (``--url``) nothing is seeded: tokens and the reader's credentials are
given (see the README).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

READER_USERNAME = "loadreader"


@dataclass(frozen=True)
class Credentials:
    device_tokens: list[str]
    reader_username: str
    reader_password: str


def seed(data_dir: Path, n_devices: int, database_url: str = "") -> Credentials:
    """A county, a township, a village, a county reader and ``n_devices`` device tokens."""
    import secrets

    from teleconsult import auth
    from teleconsult.config import Settings
    from teleconsult.storage.sql import open_database

    db = open_database(Settings(data_dir=data_dir, database_url=database_url))
    username = f"{READER_USERNAME}-{secrets.token_hex(3)}"
    try:
        county = db.create_org("Load County", "county")
        township = db.create_org("Load Township", "township", county.id)
        village = db.create_org("Load Village", "village", township.id)
        password = secrets.token_urlsafe(16)
        db.create_user(username, auth.hash_password(password), "county_reader", county.id)
        tokens = []
        for k in range(n_devices):
            token = auth.new_device_token()
            db.create_device(village.id, f"load {k}", auth.token_hash(token), None)
            tokens.append(token)
    finally:
        db.close()
    return Credentials(tokens, username, password)


__all__ = ["Credentials", "seed", "READER_USERNAME"]
