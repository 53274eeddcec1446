"""All SQL of the service: organisations, users, sessions, devices, recordings, audit.

One repository for both engines: the embedded SQLite file (the default) and PostgreSQL
(a ``postgresql://`` URL, for several nodes). Statements are written once, with ``?``
placeholders; :mod:`teleconsult.storage.dialects` is the only module that knows which
engine runs them. ``Database`` is synchronous so that the CLI can use it directly; the
server runs its calls on worker threads (see :class:`AsyncDatabase`) so that the event loop
never blocks on the database: one thread for SQLite (one writer, calls in order), a small
pool of threads and connections for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from teleconsult.storage import schema
from teleconsult.storage.dialects import Engine, Row, UniqueViolation, open_engine

if TYPE_CHECKING:
    from teleconsult.config import Settings

ROLES = ("village_doctor", "county_reader", "admin")
ORG_KINDS = ("county", "township", "village")
_PARENT_KIND = {"county": None, "township": "county", "village": "township"}
POOL_SIZE = 4  # PostgreSQL connections (and AsyncDatabase threads) per process

T = TypeVar("T")


class NotFound(LookupError):
    pass


class Conflict(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Org:
    id: int
    name: str
    kind: str
    parent_id: int | None
    county_id: int


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    password_hash: str
    role: str
    org_id: int
    county_id: int
    display_name: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.username, "role": self.role, "org_id": self.org_id,
                "county_id": self.county_id, "display_name": self.display_name}


@dataclass(frozen=True, slots=True)
class Device:
    id: int
    org_id: int
    county_id: int
    name: str
    expires_at: float | None
    revoked: bool


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    org_id: int
    county_id: int
    device_id: int
    patient_ref: str
    fs_hz: float
    leads: tuple[str, ...]
    gain: float
    sample_type: str
    block: int
    status: str
    connected: bool
    node: str
    started_at: float
    ended_at: float | None
    n_samples: int

    def summary(self, org_name: str = "") -> dict[str, Any]:
        """What a list shows; deliberately without the patient reference."""
        return {"id": self.id, "org_id": self.org_id, "org": org_name, "fs_hz": self.fs_hz,
                "leads": list(self.leads), "status": self.status, "connected": self.connected,
                "started_at": self.started_at, "ended_at": self.ended_at, "n_samples": self.n_samples}


class Database:
    """The service's records on one engine.

    Args:
        target: a SQLite file (a ``Path``; the server's default is ``data_dir/teleconsult.sqlite3``)
            or a ``postgresql://user@host:port/db`` URL.
        pool_size: PostgreSQL connections this object may hold (SQLite always has one).

    Opening connects and migrates (:mod:`teleconsult.storage.schema`). Methods may be
    called from any thread.

    Raises:
        ValueError: ``target`` is a URL of an engine other than PostgreSQL.
    """

    def __init__(self, target: Path | str, pool_size: int = POOL_SIZE) -> None:
        self.engine: Engine = open_engine(target, pool_size)
        try:
            self.migrate()
        except BaseException:
            self.engine.close()
            raise

    @property
    def max_workers(self) -> int:
        """How many calls may usefully run at once (the threads of an :class:`AsyncDatabase`)."""
        return self.engine.pool_size

    def close(self) -> None:
        self.engine.close()

    def migrate(self) -> list[str]:
        """Apply missing schema versions (once, whichever node gets there first); returns them."""
        return schema.migrate(self.engine)

    def ping(self) -> bool:
        """True when the database answers (for readiness checks); raises the driver's error otherwise."""
        return self._one("SELECT 1 AS ok") is not None

    def _one(self, sql: str, *args: Any) -> Row | None:
        with self.engine.session() as s:
            return s.one(sql, *args)

    def _rows(self, sql: str, *args: Any) -> list[Row]:
        with self.engine.session() as s:
            return s.rows(sql, *args)

    def _run(self, sql: str, *args: Any) -> None:
        with self.engine.session() as s:
            s.run(sql, *args)

    # -- organisations -----------------------------------------------------------------

    def create_org(self, name: str, kind: str, parent_id: int | None = None) -> Org:
        if kind not in ORG_KINDS:
            raise ValueError(f"kind must be one of {', '.join(ORG_KINDS)}")
        county_id: int | None = None
        if _PARENT_KIND[kind] is None:
            if parent_id is not None:
                raise ValueError("a county has no parent")
        else:
            if parent_id is None:
                raise ValueError(f"a {kind} needs a parent {_PARENT_KIND[kind]}")
            parent = self.get_org(parent_id)
            if parent.kind != _PARENT_KIND[kind]:
                raise ValueError(f"the parent of a {kind} must be a {_PARENT_KIND[kind]}")
            county_id = parent.county_id
        with self.engine.session(transaction=True) as s:
            row = s.one("INSERT INTO orgs (name, kind, parent_id, county_id) VALUES (?, ?, ?, ?) RETURNING id",
                        name, kind, parent_id, county_id)
            assert row is not None
            org_id = int(row["id"])
            if county_id is None:
                county_id = org_id
                s.run("UPDATE orgs SET county_id = ? WHERE id = ?", org_id, org_id)
        return Org(org_id, name, kind, parent_id, county_id)

    @staticmethod
    def _org(row: Row) -> Org:
        return Org(row["id"], row["name"], row["kind"], row["parent_id"], row["county_id"])

    def get_org(self, org_id: int) -> Org:
        row = self._one("SELECT * FROM orgs WHERE id = ?", org_id)
        if row is None:
            raise NotFound(f"organisation {org_id}")
        return self._org(row)

    def list_orgs(self) -> list[Org]:
        return [self._org(r) for r in self._rows("SELECT * FROM orgs ORDER BY id")]

    def org_names(self) -> dict[int, str]:
        return {r["id"]: r["name"] for r in self._rows("SELECT id, name FROM orgs")}

    # -- users and sessions ----------------------------------------------------------

    def create_user(self, username: str, password_hash: str, role: str, org_id: int, display_name: str = "") -> User:
        """Raises: Conflict: the username is taken."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        org = self.get_org(org_id)
        if role in ("county_reader", "admin") and org.kind != "county":
            raise ValueError(f"a {role} belongs to a county organisation")
        try:
            row = self._one(
                "INSERT INTO users (username, password_hash, role, org_id, display_name, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                username, password_hash, role, org_id, display_name, time.time())
        except UniqueViolation:
            raise Conflict(f"user {username!r} exists") from None
        assert row is not None
        return User(int(row["id"]), username, password_hash, role, org_id, org.county_id, display_name)

    def _user(self, row: Row | None) -> User | None:
        if row is None:
            return None
        return User(row["id"], row["username"], row["password_hash"], row["role"], row["org_id"],
                    row["county_id"], row["display_name"])

    def get_user_by_name(self, username: str) -> User | None:
        return self._user(self._one(
            "SELECT users.*, orgs.county_id FROM users JOIN orgs ON orgs.id = users.org_id WHERE username = ?", username))

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._run("UPDATE users SET password_hash = ? WHERE id = ?", password_hash, user_id)

    def create_session(self, token_hash: str, user_id: int, ttl_s: float) -> None:
        now = time.time()
        self._run("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                  token_hash, user_id, now, now + ttl_s)

    def user_for_session(self, token_hash: str, now: float) -> User | None:
        return self._user(self._one(
            "SELECT users.*, orgs.county_id FROM sessions JOIN users ON users.id = sessions.user_id "
            "JOIN orgs ON orgs.id = users.org_id WHERE token_hash = ? AND expires_at > ?", token_hash, now))

    def delete_session(self, token_hash: str) -> None:
        self._run("DELETE FROM sessions WHERE token_hash = ?", token_hash)

    # -- devices ---------------------------------------------------------------------

    def create_device(self, org_id: int, name: str, token_hash: str, expires_at: float | None) -> Device:
        """Raises: Conflict: a device already has this token."""
        org = self.get_org(org_id)
        try:
            row = self._one(
                "INSERT INTO devices (org_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?) "
                "RETURNING id", org_id, name, token_hash, time.time(), expires_at)
        except UniqueViolation:
            raise Conflict("a device with this token exists") from None
        assert row is not None
        return Device(int(row["id"]), org_id, org.county_id, name, expires_at, False)

    def device_for_token(self, token_hash: str) -> Device | None:
        row = self._one("SELECT devices.*, orgs.county_id FROM devices JOIN orgs ON orgs.id = devices.org_id "
                        "WHERE token_hash = ?", token_hash)
        if row is None:
            return None
        return Device(row["id"], row["org_id"], row["county_id"], row["name"], row["expires_at"], bool(row["revoked"]))

    def revoke_device(self, device_id: int) -> None:
        self._run("UPDATE devices SET revoked = 1 WHERE id = ?", device_id)

    # -- recordings ------------------------------------------------------------------

    @staticmethod
    def _recording(row: Row) -> Recording:
        return Recording(row["id"], row["org_id"], row["county_id"], row["device_id"], row["patient_ref"],
                         row["fs_hz"], tuple(json.loads(row["leads"])), row["gain"], row["sample_type"],
                         row["block"], row["status"], bool(row["connected"]), row["node"], row["started_at"],
                         row["ended_at"], row["n_samples"])

    def get_recording(self, recording_id: str) -> Recording | None:
        row = self._one("SELECT * FROM recordings WHERE id = ?", recording_id)
        return None if row is None else self._recording(row)

    def create_recording(self, rec: Recording) -> None:
        """Raises: Conflict: a recording with this id exists (perhaps just created by another node)."""
        try:
            self._run(
                "INSERT INTO recordings (id, org_id, county_id, device_id, patient_ref, fs_hz, leads, gain, "
                "sample_type, block, status, connected, node, started_at, n_samples) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rec.id, rec.org_id, rec.county_id, rec.device_id, rec.patient_ref, rec.fs_hz,
                json.dumps(list(rec.leads)), rec.gain, rec.sample_type, rec.block, rec.status,
                int(rec.connected), rec.node, rec.started_at, rec.n_samples)
        except UniqueViolation:
            raise Conflict(f"recording {rec.id} exists") from None

    def set_recording_connected(self, recording_id: str, connected: bool, node: str, n_samples: int) -> None:
        self._run("UPDATE recordings SET connected = ?, node = ?, n_samples = ? WHERE id = ?",
                  int(connected), node, n_samples, recording_id)

    def update_sample_counts(self, counts: list[tuple[str, int]]) -> None:
        """Progress of live recordings, for lists: never lowers a count, never touches an ended
        recording (on PostgreSQL's pool of threads, a late progress update may run after
        ``end_recording`` or ``set_recording_connected`` of the same recording)."""
        with self.engine.session() as s:
            s.run_many("UPDATE recordings SET n_samples = ? WHERE id = ? AND status = 'live' AND n_samples < ?",
                       [(n, rid, n) for rid, n in counts])

    def end_recording(self, recording_id: str, n_samples: int) -> None:
        self._run("UPDATE recordings SET status = 'ended', connected = 0, ended_at = ?, n_samples = ? "
                  "WHERE id = ?", time.time(), n_samples, recording_id)

    def mark_node_disconnected(self, node: str) -> None:
        self._run("UPDATE recordings SET connected = 0 WHERE node = ?", node)

    def recordings_for_county(self, county_id: int, limit: int = 200) -> list[Recording]:
        return [self._recording(r) for r in self._rows(
            "SELECT * FROM recordings WHERE county_id = ? ORDER BY status = 'live' DESC, started_at DESC LIMIT ?",
            county_id, limit)]

    def recordings_for_org(self, org_id: int, limit: int = 200) -> list[Recording]:
        return [self._recording(r) for r in self._rows(
            "SELECT * FROM recordings WHERE org_id = ? ORDER BY status = 'live' DESC, started_at DESC LIMIT ?",
            org_id, limit)]

    # -- audit -----------------------------------------------------------------------

    def audit(self, actor: str, action: str, obj: str, outcome: str, remote: str = "") -> None:
        self._run("INSERT INTO audit (ts, actor, action, object, outcome, remote) VALUES (?, ?, ?, ?, ?, ?)",
                  time.time(), actor, action, obj, outcome, remote)

    def audit_rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        return [dict(r) for r in self._rows("SELECT * FROM audit ORDER BY id DESC LIMIT ?", limit)]


def open_database(settings: Settings) -> Database:
    """The records engine the settings name: ``database_url`` when set, else SQLite in ``data_dir``."""
    return Database(settings.database_url or settings.db_path)


class AsyncDatabase:
    """Runs :class:`Database` calls on worker threads: ``await adb.call(db.method, *args)``.

    One thread on SQLite, so calls run one at a time in the order they were made; on
    PostgreSQL one thread per pooled connection, so calls that were made without awaiting
    each other may run in any order.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=db.max_workers,
                                                           thread_name_prefix=f"db-{db.engine.name}")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()
