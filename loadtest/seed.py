"""Accounts for a run against servers this run starts: written straight into the database.

The one place the load test touches storage. It opens the records the way
``teleconsult serve --data-dir`` does for the same settings (``open_database``: SQLite in
the data directory unless a ``database_url`` is set); the reader's name is unique per
seeding, so a shared database (PostgreSQL) could be seeded again for every step. Against
an existing server (``--url``) nothing is seeded: tokens and the reader's credentials are
given (see the README).

For report and consult traffic (``--reports-per-min``, ``--consults``) it also seeds the
clinic's people: a village doctor who sends ECGs for reading, county readers who read
them, and one village doctor and one county doctor per concurrent consult. Their sessions
are written like a login would write them (a token whose hash is stored), so a run with
hundreds of doctors does not measure hundreds of Argon2 logins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

READER_USERNAME = "loadreader"
SESSION_TTL_S = 6 * 3600.0


@dataclass(frozen=True)
class ClinicSessions:
    """Session tokens of the clinic's people (all in the run's one county)."""

    doctor: str  # village doctor who sends ECGs for reading
    readers: list[str]  # county readers who read and sign them
    village: list[str] = field(default_factory=list)  # one village doctor per concurrent consult
    county: list[str] = field(default_factory=list)  # one county doctor per concurrent consult


@dataclass(frozen=True)
class Credentials:
    device_tokens: list[str]
    reader_username: str
    reader_password: str
    clinic: ClinicSessions | None = None


def seed(data_dir: Path, n_devices: int, database_url: str = "", report_readers: int = 0,
         consults: int = 0) -> Credentials:
    """A county, a township, a village, a county reader and ``n_devices`` device tokens; with
    ``report_readers`` or ``consults`` also the clinic's people (:class:`ClinicSessions`)."""
    import secrets

    from teleconsult import auth
    from teleconsult.config import Settings
    from teleconsult.storage.sql import open_database

    db = open_database(Settings(data_dir=data_dir, database_url=database_url))
    tag = secrets.token_hex(3)
    username = f"{READER_USERNAME}-{tag}"
    try:
        county = db.create_org("Load County", "county")
        township = db.create_org("Load Township", "township", county.id)
        village = db.create_org("Load Village", "village", township.id)
        password = secrets.token_urlsafe(16)
        password_hash = auth.hash_password(password)
        db.create_user(username, password_hash, "county_reader", county.id)
        tokens = []
        for k in range(n_devices):
            token = auth.new_device_token()
            db.create_device(village.id, f"load {k}", auth.token_hash(token), None)
            tokens.append(token)

        def session(name: str, role: str, org_id: int) -> str:
            user = db.create_user(f"{name}-{tag}", password_hash, role, org_id)
            token = auth.new_session_token()
            db.create_session(auth.token_hash(token), user.id, SESSION_TTL_S)
            return token

        clinic = None
        if report_readers or consults:
            clinic = ClinicSessions(
                doctor=session("clinic-doctor", "village_doctor", village.id),
                readers=[session(f"clinic-reader-{k}", "county_reader", county.id) for k in range(report_readers)],
                village=[session(f"consult-village-{k}", "village_doctor", village.id) for k in range(consults)],
                county=[session(f"consult-county-{k}", "county_reader", county.id) for k in range(consults)])
    finally:
        db.close()
    return Credentials(tokens, username, password, clinic)


__all__ = ["ClinicSessions", "Credentials", "seed", "READER_USERNAME"]
