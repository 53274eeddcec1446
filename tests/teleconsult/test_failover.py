"""Failures across nodes, with real processes: an app node killed, Redis restarted mid-stream.

Two ``teleconsult serve`` processes share a data directory and a Redis started by the test.
Devices and readers that reach the service through the load balancer land on a live node
and resume; nothing a device had acked is lost, and readers miss nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import websockets

from loadtest.reader import ReaderResult, watch
from teleconsult.device import DeviceSimulator, load_wfdb
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.journal import read_segment
from tests.conftest import RedisServer, ServerProcess, World, need
from tests.http_helpers import login, wait_for_recording
from tests.netproxy import FailoverBalancer

pytestmark = pytest.mark.slow


def stored(world: World, recording_id: str, n_leads: int) -> np.ndarray:
    return FileArchive(world.data_dir).read_samples(recording_id, n_leads, "int16")


def assert_reader_saw_everything_from_its_start(world: World, result: ReaderResult, source: np.ndarray,
                                                recording_id: str, block: int) -> None:
    """Contiguous frames from the first it got to the end, exact samples, every beat once."""
    assert result.ended
    seqs = sorted(result.frames)
    assert seqs == list(range(seqs[0], seqs[-1] + 1)), "a reader missed frames"
    first = seqs[0] * block
    assert np.array_equal(result.samples(), source[first:].astype(np.int32))
    beats = FileArchive(world.data_dir).read_beats(recording_id)
    assert result.beats == beats[beats >= result.beats[0]].tolist()
    assert len(result.beats) > 20


async def until(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def watch_reconnecting(ws_url: str, token: str, recording_id: str, block: int, fs_hz: float) -> ReaderResult:
    """A reader that reconnects (as the web client does): it asks again from a second before
    the last frame it has (a beat is confirmed a little after its samples arrive) and merges
    frames by seq and beats by sample index."""
    result = ReaderResult()
    while not result.ended:
        from_sample = max(0, (max(result.frames) + 1) * block - int(fs_hz)) if result.frames else 0
        try:
            await watch(ws_url, token, recording_id, from_sample=from_sample, result=result, timeout_s=60)
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError):
            await asyncio.sleep(0.2)
    result.beats = sorted(set(result.beats))
    return result


async def test_a_killed_node_hands_its_devices_and_readers_to_a_live_node(
        world: World, redis_url: str, server_factory: type[ServerProcess], mitdb: Path) -> None:
    node_a = server_factory(world.data_dir, redis_url=redis_url, node_id="node-a")
    node_b = server_factory(world.data_dir, redis_url=redis_url, node_id="node-b")
    await asyncio.gather(asyncio.to_thread(node_a.start), asyncio.to_thread(node_b.start))
    balancer = FailoverBalancer([node_a.port, node_b.port])
    await balancer.start()
    lb_ws = f"ws://127.0.0.1:{balancer.port}"
    signal = load_wfdb(str(mitdb / "101"), seconds=120)
    rid = "failover-mitdb-101"
    sim = DeviceSimulator(f"{lb_ws}/ws/device", world.device_a, signal, speed=10.0, recording_id=rid)
    device = asyncio.create_task(sim.run())
    token = await asyncio.to_thread(login, node_b.url, "reader_a", world.password)
    await asyncio.to_thread(wait_for_recording, node_b.url, token, rid)
    # one reader on the surviving node (live items cross Redis), one through the balancer (on A)
    on_b = asyncio.create_task(watch(node_b.ws_url, token, rid, backlog_s=0, timeout_s=90))
    via_lb = asyncio.create_task(watch_reconnecting(lb_ws, token, rid, sim.block, signal.fs_hz))
    await until(lambda: sim.client.acked_seq > 100)  # well under way (a loaded machine starts slowly)

    # Node A's machine dies: the process is killed and the recording file loses what the
    # kernel had not written out yet, which at worst is everything after the last checkpoint:
    # exactly what A's journal (synced before every ack) still holds.
    balancer.accepting.clear()
    acked_before = sim.client.acked_seq
    node_a.kill9()
    journal = [r for segment in sorted((world.data_dir / "journal" / "node-a").glob("*.wal"))
               for r in read_segment(segment) if r[0] == rid]
    assert journal and journal[-1][1] >= acked_before, "every acked frame is in the dead node's journal"
    frames_file = world.data_dir / "recordings" / rid / "frames.bin"
    record_bytes = os.path.getsize(frames_file) // (journal[-1][1] + 1)
    os.truncate(frames_file, journal[0][1] * record_bytes)
    balancer.accepting.set()

    stats = await asyncio.wait_for(device, timeout=60)
    assert balancer.routed[-1] == node_b.port
    assert min(stats.resumes[1:]) > acked_before, "the device never resent below what was acked"
    source = signal.samples
    assert np.array_equal(stored(world, rid, source.shape[1]), source.astype(np.int16))
    for reader in (await asyncio.wait_for(on_b, 60), await asyncio.wait_for(via_lb, 60)):
        assert_reader_saw_everything_from_its_start(world, reader, source, rid, sim.block)
    assert min(via_lb.result().frames) == 0
    await balancer.close()


async def test_redis_restarted_mid_stream_loses_nothing(world: World, tmp_path: Path,
                                                        server_factory: type[ServerProcess], mitdb: Path) -> None:
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    redis = RedisServer(tmp_path / "own-redis")  # restarted by this test: always our own
    redis.start()
    try:
        node_a = server_factory(world.data_dir, redis_url=redis.url, node_id="node-a")
        node_b = server_factory(world.data_dir, redis_url=redis.url, node_id="node-b")
        await asyncio.gather(asyncio.to_thread(node_a.start), asyncio.to_thread(node_b.start))
        # In real time: a Redis restart of a few seconds is then a few seconds of signal,
        # which readers' display queues (10 s) ride out without dropping anything.
        signal = load_wfdb(str(mitdb / "119"), seconds=24)
        rid = "redis-restart-mitdb-119"
        sim = DeviceSimulator(f"{node_a.ws_url}/ws/device", world.device_a, signal, speed=1.0, recording_id=rid)
        device = asyncio.create_task(sim.run())
        token = await asyncio.to_thread(login, node_b.url, "reader_a", world.password)
        await asyncio.to_thread(wait_for_recording, node_b.url, token, rid)
        reader = asyncio.create_task(watch(node_b.ws_url, token, rid, backlog_s=0, timeout_s=90))
        await until(lambda: sim.client.acked_seq > 50)
        await asyncio.sleep(1.0)
        redis.stop()
        acked_at_outage = sim.client.acked_seq
        await asyncio.sleep(3.0)
        # Storage and acks never wait for the bus.
        assert sim.client.acked_seq > acked_at_outage + 50
        redis.start()  # same port, empty: it keeps nothing on disk
        await asyncio.wait_for(device, timeout=60)
        result = await asyncio.wait_for(reader, timeout=60)
        source = signal.samples
        assert np.array_equal(stored(world, rid, source.shape[1]), source.astype(np.int16))
        assert_reader_saw_everything_from_its_start(world, result, source, rid, sim.block)
        assert not result.gaps
    finally:
        redis.stop()
