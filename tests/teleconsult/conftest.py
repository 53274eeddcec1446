"""In-process server fixtures (aiohttp test client) with a seeded organisation tree."""

from __future__ import annotations

import struct
from collections.abc import Iterator
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from streaming.frames import Hello
from teleconsult import auth
from teleconsult.app import create_app
from teleconsult.config import Settings
from teleconsult.storage.sql import Database

PASSWORD = "correct horse battery"


@dataclass
class Seed:
    county_a: int
    village_a: int
    county_b: int
    village_b: int
    tokens: dict[str, str]


def seed_db(db: Database) -> Seed:
    county_a = db.create_org("County A", "county")
    township_a = db.create_org("Township A1", "township", county_a.id)
    village_a = db.create_org("Village A1a", "village", township_a.id)
    county_b = db.create_org("County B", "county")
    township_b = db.create_org("Township B1", "township", county_b.id)
    village_b = db.create_org("Village B1a", "village", township_b.id)
    pw = auth.hash_password(PASSWORD)
    db.create_user("reader_a", pw, "county_reader", county_a.id)
    db.create_user("reader_b", pw, "county_reader", county_b.id)
    db.create_user("doctor_a", pw, "village_doctor", village_a.id)
    db.create_user("doctor_a2", pw, "village_doctor", village_a.id)
    tokens = {}
    for name, org, expires in (("a", village_a.id, None), ("a2", village_a.id, None), ("b", village_b.id, None),
                               ("expired", village_a.id, time.time() - 1)):
        token = auth.new_device_token()
        db.create_device(org, f"cart {name}", auth.token_hash(token), expires)
        tokens[name] = token
    revoked = auth.new_device_token()
    device = db.create_device(village_a.id, "revoked cart", auth.token_hash(revoked), None)
    db.revoke_device(device.id)
    tokens["revoked"] = revoked
    return Seed(county_a.id, village_a.id, county_b.id, village_b.id, tokens)


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a fresh, empty database lives: a SQLite file, or a PostgreSQL URL (own schema)."""
    if request.param == "sqlite":
        return tmp_path / "teleconsult.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db(target: Path | str) -> Iterator[Database]:
    """A fresh database on each engine."""
    database = Database(target)
    yield database
    database.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", node_id="test-node", commit_interval_s=0.005).resolved()


@pytest.fixture
def seed(settings: Settings) -> Seed:
    db = Database(settings.db_path)
    try:
        return seed_db(db)
    finally:
        db.close()


@pytest.fixture
async def client(aiohttp_client: Any, settings: Settings, seed: Seed) -> TestClient:
    app: web.Application = create_app(settings)
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def login(client: TestClient, username: str) -> str:
    response = await client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    token: str = (await response.json())["token"]
    return token


def hello(token: str, recording: str = "rec-test-0001", **changes: Any) -> Hello:
    values: dict[str, Any] = dict(token=token, recording=recording, patient="patient-123", fs_hz=500.0,
                                  leads=("I", "II", "V1"), gain=1000.0, sample_type="int16", block=20)
    values.update(changes)
    return Hello(**values)


def block(seq: int, n: int = 20, leads: int = 3) -> bytes:
    return struct.pack(f"<{n * leads}h", *[((seq * 131 + k * 7) % 2000) - 1000 for k in range(n * leads)])
