"""All SQL of the service: organisations, users, sessions, devices, recordings, audit.

``Database`` is synchronous (sqlite3) so that the CLI can use it directly; the server
runs its calls on one dedicated worker thread (see :class:`AsyncDatabase`), so the event
loop never blocks on SQLite and calls are serialised.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

_MIGRATIONS = Path(__file__).with_name("migrations")
ROLES = ("village_doctor", "county_reader", "admin")
ORG_KINDS = ("county", "township", "village")
_PARENT_KIND = {"county": None, "township": "county", "village": "township"}

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
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=10000")
        self.migrate()

    def close(self) -> None:
        self._conn.close()

    def migrate(self) -> None:
        for script in sorted(_MIGRATIONS.glob("*.sql")):
            self._conn.executescript(script.read_text(encoding="utf-8"))

    def _one(self, sql: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
        return row

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
        cur = self._conn.execute("INSERT INTO orgs (name, kind, parent_id, county_id) VALUES (?, ?, ?, ?)",
                                 (name, kind, parent_id, county_id))
        org_id = int(cur.lastrowid or 0)
        if county_id is None:
            county_id = org_id
            self._conn.execute("UPDATE orgs SET county_id = ? WHERE id = ?", (org_id, org_id))
        return Org(org_id, name, kind, parent_id, county_id)

    def get_org(self, org_id: int) -> Org:
        row = self._one("SELECT * FROM orgs WHERE id = ?", org_id)
        if row is None:
            raise NotFound(f"organisation {org_id}")
        return Org(row["id"], row["name"], row["kind"], row["parent_id"], row["county_id"])

    def list_orgs(self) -> list[Org]:
        return [Org(r["id"], r["name"], r["kind"], r["parent_id"], r["county_id"])
                for r in self._conn.execute("SELECT * FROM orgs ORDER BY id")]

    def org_names(self) -> dict[int, str]:
        return {r["id"]: r["name"] for r in self._conn.execute("SELECT id, name FROM orgs")}

    # -- users and sessions ----------------------------------------------------------

    def create_user(self, username: str, password_hash: str, role: str, org_id: int, display_name: str = "") -> User:
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        org = self.get_org(org_id)
        if role in ("county_reader", "admin") and org.kind != "county":
            raise ValueError(f"a {role} belongs to a county organisation")
        try:
            cur = self._conn.execute(
                "INSERT INTO users (username, password_hash, role, org_id, display_name, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (username, password_hash, role, org_id, display_name, time.time()))
        except sqlite3.IntegrityError:
            raise Conflict(f"user {username!r} exists") from None
        return User(int(cur.lastrowid or 0), username, password_hash, role, org_id, org.county_id, display_name)

    def _user(self, row: sqlite3.Row | None) -> User | None:
        if row is None:
            return None
        return User(row["id"], row["username"], row["password_hash"], row["role"], row["org_id"],
                    row["county_id"], row["display_name"])

    def get_user_by_name(self, username: str) -> User | None:
        return self._user(self._one(
            "SELECT users.*, orgs.county_id FROM users JOIN orgs ON orgs.id = users.org_id WHERE username = ?", username))

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    def create_session(self, token_hash: str, user_id: int, ttl_s: float) -> None:
        now = time.time()
        self._conn.execute("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                           (token_hash, user_id, now, now + ttl_s))

    def user_for_session(self, token_hash: str, now: float) -> User | None:
        return self._user(self._one(
            "SELECT users.*, orgs.county_id FROM sessions JOIN users ON users.id = sessions.user_id "
            "JOIN orgs ON orgs.id = users.org_id WHERE token_hash = ? AND expires_at > ?", token_hash, now))

    def delete_session(self, token_hash: str) -> None:
        self._conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

    # -- devices ---------------------------------------------------------------------

    def create_device(self, org_id: int, name: str, token_hash: str, expires_at: float | None) -> Device:
        org = self.get_org(org_id)
        cur = self._conn.execute(
            "INSERT INTO devices (org_id, name, token_hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
            (org_id, name, token_hash, time.time(), expires_at))
        return Device(int(cur.lastrowid or 0), org_id, org.county_id, name, expires_at, False)

    def device_for_token(self, token_hash: str) -> Device | None:
        row = self._one("SELECT devices.*, orgs.county_id FROM devices JOIN orgs ON orgs.id = devices.org_id "
                        "WHERE token_hash = ?", token_hash)
        if row is None:
            return None
        return Device(row["id"], row["org_id"], row["county_id"], row["name"], row["expires_at"], bool(row["revoked"]))

    def revoke_device(self, device_id: int) -> None:
        self._conn.execute("UPDATE devices SET revoked = 1 WHERE id = ?", (device_id,))

    # -- recordings ------------------------------------------------------------------

    @staticmethod
    def _recording(row: sqlite3.Row) -> Recording:
        return Recording(row["id"], row["org_id"], row["county_id"], row["device_id"], row["patient_ref"],
                         row["fs_hz"], tuple(json.loads(row["leads"])), row["gain"], row["sample_type"],
                         row["block"], row["status"], bool(row["connected"]), row["node"], row["started_at"],
                         row["ended_at"], row["n_samples"])

    def get_recording(self, recording_id: str) -> Recording | None:
        row = self._one("SELECT * FROM recordings WHERE id = ?", recording_id)
        return None if row is None else self._recording(row)

    def create_recording(self, rec: Recording) -> None:
        try:
            self._conn.execute(
                "INSERT INTO recordings (id, org_id, county_id, device_id, patient_ref, fs_hz, leads, gain, "
                "sample_type, block, status, connected, node, started_at, n_samples) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (rec.id, rec.org_id, rec.county_id, rec.device_id, rec.patient_ref, rec.fs_hz,
                 json.dumps(list(rec.leads)), rec.gain, rec.sample_type, rec.block, rec.status,
                 int(rec.connected), rec.node, rec.started_at, rec.n_samples))
        except sqlite3.IntegrityError:
            raise Conflict(f"recording {rec.id} exists") from None

    def set_recording_connected(self, recording_id: str, connected: bool, node: str, n_samples: int) -> None:
        self._conn.execute("UPDATE recordings SET connected = ?, node = ?, n_samples = ? WHERE id = ?",
                           (int(connected), node, n_samples, recording_id))

    def update_sample_counts(self, counts: list[tuple[str, int]]) -> None:
        self._conn.executemany("UPDATE recordings SET n_samples = ? WHERE id = ?", [(n, rid) for rid, n in counts])

    def end_recording(self, recording_id: str, n_samples: int) -> None:
        self._conn.execute("UPDATE recordings SET status = 'ended', connected = 0, ended_at = ?, n_samples = ? "
                           "WHERE id = ?", (time.time(), n_samples, recording_id))

    def mark_node_disconnected(self, node: str) -> None:
        self._conn.execute("UPDATE recordings SET connected = 0 WHERE node = ?", (node,))

    def recordings_for_county(self, county_id: int, limit: int = 200) -> list[Recording]:
        return [self._recording(r) for r in self._conn.execute(
            "SELECT * FROM recordings WHERE county_id = ? ORDER BY status = 'live' DESC, started_at DESC LIMIT ?",
            (county_id, limit))]

    def recordings_for_org(self, org_id: int, limit: int = 200) -> list[Recording]:
        return [self._recording(r) for r in self._conn.execute(
            "SELECT * FROM recordings WHERE org_id = ? ORDER BY status = 'live' DESC, started_at DESC LIMIT ?",
            (org_id, limit))]

    # -- audit -----------------------------------------------------------------------

    def audit(self, actor: str, action: str, obj: str, outcome: str, remote: str = "") -> None:
        self._conn.execute("INSERT INTO audit (ts, actor, action, object, outcome, remote) VALUES (?, ?, ?, ?, ?, ?)",
                           (time.time(), actor, action, obj, outcome, remote))

    def audit_rows(self, limit: int = 1000) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))]


class AsyncDatabase:
    """Runs :class:`Database` calls on one worker thread: ``await adb.call(db.method, *args)``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()
