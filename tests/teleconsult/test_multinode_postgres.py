"""Two server processes sharing PostgreSQL (records) and Redis (bus), end to end.

The organisation tree is seeded into PostgreSQL through ``teleconsult admin --database-url``;
two ``teleconsult serve --database-url … --redis …`` processes share it and the data
directory (the recording archive, which must be on storage every node reaches).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from loadtest.reader import watch
from teleconsult.device import DeviceSimulator, load_wfdb
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import Database
from tests.conftest import ServerProcess, make_world
from tests.http_helpers import export_wfdb, login, recordings, wait_for_recording


@pytest.mark.slow
async def test_device_on_node_a_reader_on_node_b_share_one_postgresql(
        tmp_path: Path, postgres_url: str, redis_url: str, server_factory: type[ServerProcess], mitdb: Path) -> None:
    world = await asyncio.to_thread(make_world, tmp_path / "data", postgres_url)
    node_a = server_factory(world.data_dir, redis_url=redis_url, database_url=postgres_url, node_id="node-a")
    node_b = server_factory(world.data_dir, redis_url=redis_url, database_url=postgres_url, node_id="node-b")
    # Both start (and migrate) at the same moment.
    await asyncio.gather(asyncio.to_thread(node_a.start), asyncio.to_thread(node_b.start))

    # The reader logs in on node B; the session lives in PostgreSQL, so node A honours it too.
    token = await asyncio.to_thread(login, node_b.url, "reader_a", world.password)
    signal = load_wfdb(str(mitdb / "101"), seconds=60)
    sim = DeviceSimulator(f"{node_a.ws_url}/ws/device", world.device_a, signal, speed=10.0,
                          recording_id="pg-twonode-mitdb-101", patient="PATIENT-李四-0007")
    task = asyncio.create_task(sim.run())
    row_b = await asyncio.to_thread(wait_for_recording, node_b.url, token, sim.recording_id)
    assert row_b["status"] == "live" and row_b["leads"] == ["MLII", "V1"]
    row_a = await asyncio.to_thread(wait_for_recording, node_a.url, token, sim.recording_id)
    assert row_a["id"] == row_b["id"]

    # Watching on node B from sample 0: the archive (shared data directory) up to the join,
    # then live items that cross Redis from node A.
    result = await watch(node_b.ws_url, token, sim.recording_id, from_sample=0, timeout_s=60)
    stats = await asyncio.wait_for(task, timeout=30)
    assert stats.samples == len(signal.samples)
    assert result.ended and result.close_code == 1000
    announced = {s for g in result.gaps for s in range(g["from_seq"], g["to_seq"] + 1)}
    assert set(result.frames) | announced == set(range(sim.client.n_frames))
    for seq, (i0, data) in result.frames.items():
        got = np.frombuffer(data, "<i4").reshape(-1, 2)
        assert np.array_equal(got, signal.samples[i0:i0 + len(got)]), f"frame {seq} differs"

    # Stored exactly, and exported exactly by the node the device never touched.
    stored = FileArchive(world.data_dir).read_samples(sim.recording_id, 2, "int16")
    assert np.array_equal(stored, signal.samples.astype(np.int16))
    record, _ = await asyncio.to_thread(export_wfdb, node_b.url, token, sim.recording_id)
    assert np.array_equal(record.d_signal, signal.samples)

    # One row, seen the same through both nodes and in PostgreSQL itself.
    def ended_row(url: str) -> dict[str, object]:
        rows = [r for r in recordings(url, token) if r["id"] == sim.recording_id]
        assert len(rows) == 1
        return rows[0]

    on_a, on_b = await asyncio.to_thread(ended_row, node_a.url), await asyncio.to_thread(ended_row, node_b.url)
    assert on_a == on_b
    assert on_a["status"] == "ended" and on_a["n_samples"] == len(signal.samples)
    db = Database(postgres_url)
    try:
        rec = db.get_recording(sim.recording_id)
        assert rec is not None and rec.node == "node-a" and rec.status == "ended"
        assert rec.n_samples == len(signal.samples) and rec.patient_ref == "PATIENT-李四-0007"
        actions = {(row["action"], row["outcome"]) for row in db.audit_rows()}
        assert {("login", "ok"), ("stream.open", "ok"), ("watch", "ok"), ("stream.end", "ok")} <= actions
    finally:
        db.close()
    # Nothing went to a SQLite file behind PostgreSQL's back.
    assert not (world.data_dir / "teleconsult.sqlite3").exists()
