"""The records repository on both engines: SQLite (embedded default) and PostgreSQL.

Every test taking ``db`` or ``target`` runs once per engine. PostgreSQL is a server the
tests start themselves (tests/pg.py), or the one TELECONSULT_TEST_POSTGRES_URL names; each
test gets a fresh schema of its own there.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from teleconsult.config import ConfigError, Settings, load_settings
from teleconsult.storage import schema
from teleconsult.storage.dialects import (DatabaseUnavailable, PostgresEngine, SqliteEngine, open_engine,
                                          qmark_to_format, redact_url)
from teleconsult.storage.sql import AsyncDatabase, Conflict, Database, NotFound, Recording, open_database
from tests.conftest import REPO, free_port

def tree(db: Database) -> dict[str, Any]:
    county = db.create_org("County A", "county")
    township = db.create_org("Township A1", "township", county.id)
    village = db.create_org("Village A1a", "village", township.id)
    device = db.create_device(village.id, "cart 1", "token-hash-1", None)
    return {"county": county, "township": township, "village": village, "device": device}


def recording(device_id: int, org_id: int, county_id: int, rid: str = "rec-0001", node: str = "node-a",
              started_at: float | None = None) -> Recording:
    return Recording(id=rid, org_id=org_id, county_id=county_id, device_id=device_id, patient_ref="PATIENT-张三",
                     fs_hz=360.0, leads=("MLII", "V1"), gain=200.0, sample_type="int16", block=14, status="live",
                     connected=True, node=node, started_at=time.time() if started_at is None else started_at,
                     ended_at=None, n_samples=0)


# -- the API, the same on both engines -----------------------------------------------------


def test_organisations_form_a_county_tree(db: Database) -> None:
    t = tree(db)
    assert t["county"].county_id == t["county"].id and t["county"].parent_id is None
    assert t["village"].county_id == t["county"].id and t["village"].parent_id == t["township"].id
    assert db.get_org(t["village"].id) == t["village"]
    assert db.list_orgs() == [t["county"], t["township"], t["village"]]
    assert db.org_names() == {t["county"].id: "County A", t["township"].id: "Township A1",
                              t["village"].id: "Village A1a"}
    with pytest.raises(NotFound):
        db.get_org(9999)
    with pytest.raises(ValueError, match="parent"):
        db.create_org("Village X", "village", t["county"].id)


def test_users_sessions_and_devices(db: Database) -> None:
    t = tree(db)
    reader = db.create_user("wang", "hash-1", "county_reader", t["county"].id, "王医生")
    assert reader.county_id == t["county"].id and reader.display_name == "王医生"
    assert db.get_user_by_name("wang") == reader
    assert db.get_user_by_name("nobody") is None
    db.set_password_hash(reader.id, "hash-2")
    assert db.get_user_by_name("wang") == replace(reader, password_hash="hash-2")

    db.create_session("session-hash", reader.id, ttl_s=60)
    assert db.user_for_session("session-hash", time.time()) == replace(reader, password_hash="hash-2")
    assert db.user_for_session("session-hash", time.time() + 120) is None  # expired
    db.delete_session("session-hash")
    assert db.user_for_session("session-hash", time.time()) is None

    device = db.device_for_token("token-hash-1")
    assert device == t["device"] and device is not None and not device.revoked
    db.revoke_device(device.id)
    assert db.device_for_token("token-hash-1") == replace(device, revoked=True)
    assert db.device_for_token("unknown") is None


def test_recordings_round_trip_exactly_and_list_live_first(db: Database) -> None:
    t = tree(db)
    started = time.time()  # a float timestamp survives to the last bit (not a 4-byte REAL)
    older = recording(t["device"].id, t["village"].id, t["county"].id, "rec-older", started_at=started - 60)
    live = recording(t["device"].id, t["village"].id, t["county"].id, "rec-live", started_at=started)
    db.create_recording(older)
    db.create_recording(live)
    assert db.get_recording("rec-live") == live
    assert db.get_recording("nope") is None

    db.update_sample_counts([("rec-older", 3600), ("rec-live", 360)])
    db.end_recording("rec-older", 7200)
    db.update_sample_counts([("rec-older", 3600)])  # late progress of an ended recording: ignored
    db.update_sample_counts([("rec-live", 100)])  # progress never goes backwards
    ended = db.get_recording("rec-older")
    assert ended is not None and ended.status == "ended" and not ended.connected and ended.n_samples == 7200
    assert ended.ended_at is not None and ended.ended_at >= started
    live_now = db.get_recording("rec-live")
    assert live_now is not None and live_now.n_samples == 360

    db.set_recording_connected("rec-live", False, "node-b", 500)
    moved = db.get_recording("rec-live")
    assert moved is not None and (moved.connected, moved.node, moved.n_samples) == (False, "node-b", 500)
    db.set_recording_connected("rec-live", True, "node-b", 500)
    db.mark_node_disconnected("node-b")
    assert db.get_recording("rec-live") == replace(moved, connected=False)

    # A newer ended recording still lists after the live one.
    db.create_recording(recording(t["device"].id, t["village"].id, t["county"].id, "rec-newest", started_at=started + 1))
    db.end_recording("rec-newest", 10)
    assert [r.id for r in db.recordings_for_county(t["county"].id)] == ["rec-live", "rec-newest", "rec-older"]
    assert [r.id for r in db.recordings_for_org(t["village"].id, limit=2)] == ["rec-live", "rec-newest"]
    assert db.recordings_for_county(t["county"].id + 1000) == []


def test_audit_rows_come_newest_first(db: Database) -> None:
    for k in range(3):
        db.audit(f"user:{k}", "login", "", "ok", "127.0.0.1")
    rows = db.audit_rows()
    assert [r["actor"] for r in rows] == ["user:2", "user:1", "user:0"]
    assert set(rows[0]) == {"id", "ts", "actor", "action", "object", "outcome", "remote"}
    assert db.audit_rows(limit=1)[0]["actor"] == "user:2"


def test_unique_violations_become_conflict_and_the_database_stays_usable(db: Database) -> None:
    t = tree(db)
    db.create_user("wang", "h", "county_reader", t["county"].id)
    with pytest.raises(Conflict, match="wang"):
        db.create_user("wang", "h", "county_reader", t["county"].id)
    rec = recording(t["device"].id, t["village"].id, t["county"].id)
    db.create_recording(rec)
    with pytest.raises(Conflict, match=rec.id):
        db.create_recording(replace(rec, node="node-b"))
    with pytest.raises(Conflict):
        db.create_device(t["village"].id, "copy", "token-hash-1", None)
    # Other integrity errors are not conflicts: a recording of an unknown device breaks a foreign key.
    with pytest.raises(Exception) as refused:
        db.create_recording(recording(4242, t["village"].id, t["county"].id, "rec-no-device"))
    assert not isinstance(refused.value, Conflict)
    # After each refusal, every pooled connection still works.
    for _ in range(db.max_workers + 1):
        assert db.get_recording(rec.id) == rec
    assert db.ping()


async def test_async_database_runs_calls_off_the_loop(db: Database) -> None:
    t = tree(db)
    adb = AsyncDatabase(db)
    try:
        await asyncio.gather(*(adb.call(db.create_recording, recording(t["device"].id, t["village"].id,
                                                                       t["county"].id, f"rec-{k:04d}"))
                               for k in range(20)))
        rows = await asyncio.gather(*(adb.call(db.get_recording, f"rec-{k:04d}") for k in range(20)))
        assert [r.id for r in rows if r is not None] == [f"rec-{k:04d}" for k in range(20)]
    finally:
        adb.close()  # closing twice (here and in the fixture) is harmless


# -- several nodes on one database ----------------------------------------------------------


def test_two_nodes_creating_recordings_at_once(target: Path | str) -> None:
    """Two Database objects (two nodes) on one database: own recordings land, contested ids go to one."""
    seed_db = Database(target)
    t = tree(seed_db)
    nodes = [Database(target), Database(target)]
    barrier = threading.Barrier(2)

    def node_work(k: int) -> tuple[int, int]:
        node, won = nodes[k], 0
        barrier.wait()
        for n in range(40):
            node.create_recording(recording(t["device"].id, t["village"].id, t["county"].id, f"own-{k}-{n:03d}",
                                            node=f"node-{k}"))
            try:  # both nodes race for the same ids: a device that reconnected elsewhere
                node.create_recording(recording(t["device"].id, t["village"].id, t["county"].id, f"contested-{n:03d}",
                                                node=f"node-{k}"))
                won += 1
            except Conflict:
                pass
            node.audit(f"node-{k}", "test", str(n), "ok")
        return k, won

    try:
        with ThreadPoolExecutor(2) as pool:
            results = dict(pool.map(node_work, range(2)))
        assert results[0] + results[1] == 40, results
        for node in (*nodes, seed_db):
            listed = {r.id for r in node.recordings_for_county(t["county"].id, limit=1000)}
            assert len(listed) == 120
            assert {f"own-{k}-{n:03d}" for k in range(2) for n in range(40)} <= listed
        owners = {seed_db.get_recording(f"contested-{n:03d}").node for n in range(40)}  # type: ignore[union-attr]
        assert owners <= {"node-0", "node-1"}
        assert len(seed_db.audit_rows(limit=1000)) == 80
    finally:
        for node in (*nodes, seed_db):
            node.close()


def test_migrations_apply_once_and_reopening_changes_nothing(target: Path | str) -> None:
    versions = list(schema.scripts_for("sqlite"))
    assert versions == list(schema.scripts_for("postgres")) and versions[0] == "0001_init"
    first = Database(target)
    try:
        assert schema.applied_versions(first.engine) == versions
        assert first.migrate() == []
        first.create_org("County A", "county")
    finally:
        first.close()
    again = Database(target)
    try:
        assert again.migrate() == []
        assert schema.applied_versions(again.engine) == versions
        assert [o.name for o in again.list_orgs()] == ["County A"]
    finally:
        again.close()


def test_nodes_starting_at_once_migrate_exactly_once(target: Path | str) -> None:
    n_nodes = 4
    barrier = threading.Barrier(n_nodes)

    def start_node(_: int) -> Database:
        barrier.wait()
        return Database(target)

    with ThreadPoolExecutor(n_nodes) as pool:
        nodes = list(pool.map(start_node, range(n_nodes)))
    try:
        with nodes[0].engine.session() as s:
            rows = s.rows("SELECT version, COUNT(*) AS n FROM schema_migrations GROUP BY version ORDER BY version")
        assert [(r["version"], r["n"]) for r in rows] == [(v, 1) for v in schema.scripts_for("sqlite")]
        nodes[1].create_org("County A", "county")
        assert [o.name for o in nodes[3].list_orgs()] == ["County A"]
    finally:
        for node in nodes:
            node.close()


def test_a_node_waits_while_another_holds_the_migration_lock(target: Path | str) -> None:
    holder = open_engine(target)
    opened: list[Database] = []
    try:
        with holder.session(transaction=True) as s:
            holder.lock_for_migrations(s)
            starter = threading.Thread(target=lambda: opened.append(Database(target)))
            starter.start()
            starter.join(0.7)
            assert starter.is_alive() and not opened, "the second node must wait for the lock"
        starter.join(15)
        assert len(opened) == 1
        assert schema.applied_versions(opened[0].engine) == list(schema.scripts_for("sqlite"))
    finally:
        holder.close()
        for db in opened:
            db.close()


def test_a_migration_for_one_engine_only_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_init.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (tmp_path / "0002_more.postgres.sql").write_text("CREATE TABLE b (x INTEGER);\n")
    assert list(schema.scripts_for("postgres", tmp_path)) == ["0001_init", "0002_more"]
    with pytest.raises(schema.MigrationError, match="0002_more.*sqlite"):
        schema.scripts_for("sqlite", tmp_path)


# -- the two schemas, the dialect layer, the settings ----------------------------------------


def columns(db: Database) -> dict[str, set[str]]:
    """Tables and their columns, read from the engine's own catalogue (test-side introspection)."""
    found: dict[str, set[str]] = {}
    with db.engine.session() as s:
        if isinstance(db.engine, SqliteEngine):
            for table in s.rows("SELECT name FROM sqlite_master WHERE type = 'table'"):
                found[table["name"]] = {c["name"] for c in s.rows(f"PRAGMA table_info({table['name']})")}
        else:
            for row in s.rows("SELECT table_name, column_name FROM information_schema.columns "
                              "WHERE table_schema = current_schema()"):
                found.setdefault(row["table_name"], set()).add(row["column_name"])
    return found


def test_both_engines_get_the_same_tables_and_columns(tmp_path: Path, postgres_url: str) -> None:
    lite, pg = Database(tmp_path / "teleconsult.sqlite3"), Database(postgres_url)
    try:
        assert isinstance(pg.engine, PostgresEngine)
        assert columns(lite) == columns(pg)
        assert {"orgs", "users", "sessions", "devices", "recordings", "audit", "schema_migrations"} <= set(columns(pg))
    finally:
        lite.close()
        pg.close()


def test_a_pooled_connection_the_server_dropped_is_replaced(postgres_url: str) -> None:
    """After a PostgreSQL restart or failover the pool opens new connections instead of failing calls."""
    import psycopg

    db = Database(postgres_url, pool_size=1)
    try:
        with db.engine.session() as s:
            row = s.one("SELECT pg_backend_pid() AS pid")
        assert row is not None
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (row["pid"],))
            for _ in range(100):
                if admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (row["pid"],)).fetchone() is None:
                    break
                time.sleep(0.02)
        time.sleep(0.05)
        assert db.ping()
        with db.engine.session() as s:
            again = s.one("SELECT pg_backend_pid() AS pid")
        assert again is not None and again["pid"] != row["pid"]
    finally:
        db.close()


def test_placeholders_are_translated_once_for_postgresql() -> None:
    assert qmark_to_format("SELECT * FROM t WHERE a = ? AND b = ?") == "SELECT * FROM t WHERE a = %s AND b = %s"
    assert qmark_to_format("SELECT '?', 5 % 2 WHERE x = ?") == "SELECT '?', 5 %% 2 WHERE x = %s"


def test_database_urls_never_show_their_password() -> None:
    assert redact_url("postgresql://tc:s3cret@db.example:5432/tc") == "postgresql://tc:***@db.example:5432/tc"
    assert redact_url("postgresql://tc@db.example/tc") == "postgresql://tc@db.example/tc"
    assert redact_url("postgresql://db.example/tc?user=tc&password=s3cret&sslmode=require") == \
        "postgresql://db.example/tc?user=tc&password=***&sslmode=require"
    with pytest.raises(ValueError, match="mysql"):
        open_engine("mysql://tc@db/tc")


def test_an_unreachable_postgresql_is_reported_without_its_password() -> None:
    url = f"postgresql://tc:sekrit@127.0.0.1:{free_port()}/tc"
    with pytest.raises(DatabaseUnavailable, match="cannot connect to postgresql://tc:\\*\\*\\*@127.0.0.1") as failed:
        Database(url)
    assert "sekrit" not in str(failed.value)
    out = subprocess.run([sys.executable, "-m", "teleconsult", "admin", "list-orgs", "--database-url", url],
                         capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 2 and "cannot connect" in out.stderr and "sekrit" not in out.stderr + out.stdout


def test_the_engine_comes_from_database_url_flag_env_or_file(tmp_path: Path) -> None:
    config = tmp_path / "teleconsult.toml"
    config.write_text('database_url = "postgresql://file@db/tc"\n')
    assert load_settings(str(config), environ={}).database_url == "postgresql://file@db/tc"
    env = {"TELECONSULT_DATABASE_URL": "postgresql://env@db/tc"}
    assert load_settings(str(config), environ=env).database_url == "postgresql://env@db/tc"
    assert load_settings(str(config), {"database_url": "postgres://flag@db/tc"}, environ=env).database_url == \
        "postgres://flag@db/tc"
    with pytest.raises(ConfigError, match="database_url"):
        load_settings(None, environ={"TELECONSULT_DATABASE_URL": "sqlite:///tmp/x.db"})
    # Empty: the embedded SQLite file in the data directory.
    settings = Settings(data_dir=tmp_path / "data").resolved()
    db = open_database(settings)
    try:
        assert isinstance(db.engine, SqliteEngine) and db.engine.path == settings.db_path
        assert db.max_workers == 1
    finally:
        db.close()


def test_open_database_uses_postgresql_when_named(tmp_path: Path, postgres_url: str) -> None:
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url).resolved()
    db = open_database(settings)
    try:
        assert isinstance(db.engine, PostgresEngine) and db.max_workers > 1
        assert not settings.db_path.exists()
        assert json.dumps(db.audit_rows()) == "[]"
    finally:
        db.close()
