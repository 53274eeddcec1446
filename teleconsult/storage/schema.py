"""Versioned migrations, applied once per database, safe when several nodes start at once.

``migrations/NNNN_name.sql`` is shared by both engines; ``NNNN_name.sqlite.sql`` /
``NNNN_name.postgres.sql`` replace it for one engine when the dialects must differ (column
types of the initial schema). A version is applied once: ``schema_migrations`` records it,
in the same transaction as the script itself. That transaction first takes the engine's
migration lock (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``pg_advisory_xact_lock``), so a
second node starting at the same moment waits, then finds every version applied.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path

from teleconsult.storage.dialects import Engine

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")
_SCRIPT = re.compile(r"^(?P<version>\d{4}_[a-z0-9_]+)(?:\.(?P<dialect>sqlite|postgres))?\.sql$")
# Portable SQL: both engines accept it as written.
_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version TEXT PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
);
"""


class MigrationError(RuntimeError):
    pass


def scripts_for(suffix: str, directory: Path = MIGRATIONS) -> dict[str, Path]:
    """Each version's script for one engine (``suffix`` "sqlite" or "postgres"), in version order.

    Raises:
        MigrationError: a version has a script for another engine only.
    """
    shared: dict[str, Path] = {}
    own: dict[str, Path] = {}
    versions: set[str] = set()
    for path in directory.glob("*.sql"):
        match = _SCRIPT.match(path.name)
        if match is None:
            raise MigrationError(f"migration file name not understood: {path.name}")
        version, dialect = match["version"], match["dialect"]
        versions.add(version)
        if dialect is None:
            shared[version] = path
        elif dialect == suffix:
            own[version] = path
    chosen: dict[str, Path] = {}
    for version in sorted(versions):
        script = own.get(version) or shared.get(version)
        if script is None:
            raise MigrationError(f"migration {version} has no script for {suffix} (add {version}.{suffix}.sql)")
        chosen[version] = script
    return chosen


def migrate(engine: Engine, directory: Path = MIGRATIONS) -> list[str]:
    """Apply the versions this database lacks; returns them (empty when it was up to date)."""
    scripts = scripts_for(engine.script_suffix, directory)
    applied_now: list[str] = []
    with engine.session(transaction=True) as session:
        engine.lock_for_migrations(session)
        session.script(_BOOKKEEPING)
        applied = {str(row["version"]) for row in session.rows("SELECT version FROM schema_migrations")}
        for version, script in scripts.items():
            if version in applied:
                continue
            session.script(script.read_text(encoding="utf-8"))
            session.run("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)", version, time.time())
            applied_now.append(version)
    unknown = applied - set(scripts)
    if unknown:
        log.warning("database %s has migrations this version does not know: %s (a newer node?)",
                    engine.describe(), ", ".join(sorted(unknown)))
    if applied_now:
        log.info("database %s: applied %s", engine.describe(), ", ".join(applied_now))
    return applied_now


def applied_versions(engine: Engine) -> list[str]:
    with engine.session() as session:
        return [str(row["version"]) for row in session.rows("SELECT version FROM schema_migrations ORDER BY version")]


__all__ = ["MIGRATIONS", "MigrationError", "applied_versions", "migrate", "scripts_for"]
