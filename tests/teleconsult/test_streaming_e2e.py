"""The streaming spine end to end with real processes: server, device simulator, reader.

Each test runs ``teleconsult serve`` as a subprocess and streams a real MIT-BIH record.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import websockets
import wfdb

from dsp.evaluate import score
from dsp.qrs import DetectorConfig, detect
from loadtest.reader import watch
from streaming.frames import decode_reader_frame
from teleconsult.device import DeviceSimulator, Signal, load_wfdb
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import Database
from tests.conftest import REPO, SHARED, ServerProcess, World, need
from tests.http_helpers import export_wfdb, login, wait_for_recording
from tests.netproxy import FlakyProxy

BEAT_SYMBOLS = set("NLRBAaJSVrFejnE/fQ?")
CPSC = SHARED / "data" / "cpsc2018" / "challenge2020_wfdb"


def reference_beats(record: Path, sampto: int) -> np.ndarray:
    ann = wfdb.rdann(str(record), "atr", sampto=sampto)
    return np.array([s for s, sym in zip(ann.sample, ann.symbol) if sym in BEAT_SYMBOLS], dtype=np.int64)


def source_samples(record: Path, seconds: float) -> np.ndarray:
    return load_wfdb(str(record), seconds=seconds).samples


def assert_stored_exactly(world: World, recording_id: str, source: np.ndarray) -> None:
    stored = FileArchive(world.data_dir).read_samples(recording_id, source.shape[1], "int16")
    assert stored.shape == source.shape, "gap or duplicate in the stored recording"
    assert np.array_equal(stored, source.astype(np.int16))


@pytest.mark.slow
def test_a_record_streams_from_device_to_reader_bit_exact_with_its_beats(world: World, server: ServerProcess,
                                                                          mitdb: Path) -> None:
    seconds, speed, recording_id = 300.0, 40.0, "e2e-mitdb-101"
    token = login(server.url, "reader_a", world.password)
    device = subprocess.Popen(
        [sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "device", "--url",
         f"{server.ws_url}/ws/device", "--token", world.device_a, "--record", str(mitdb / "101"),
         "--seconds", str(seconds), "--speed", str(speed), "--recording", recording_id,
         "--patient", "PATIENT-张三-0042"],
        stdout=subprocess.PIPE, text=True, cwd=REPO)
    wait_for_recording(server.url, token, recording_id)
    result = asyncio.run(watch(server.ws_url, token, recording_id, from_sample=0, timeout_s=60))
    out, _ = device.communicate(timeout=60)
    assert device.returncode == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    source = source_samples(mitdb / "101", seconds)
    assert summary["samples"] == len(source)

    # Stored bit for bit, and exported to WFDB that the wfdb package reads back exactly.
    assert_stored_exactly(world, recording_id, source)
    record, exported_beats = export_wfdb(server.url, token, recording_id)
    assert np.array_equal(record.d_signal, source)
    assert record.fs == 360 and record.sig_name == ["MLII", "V1"] and list(record.adc_gain) == [200.0, 200.0]

    # The reader saw the recording's end; every display frame it got is exact, and any it
    # did not get (a 40x replay can outrun a Python reader) was announced in a gap frame.
    assert result.ended and result.close_code == 1000 and result.meta["decimation"] == 1
    n_frames = int(np.ceil(len(source) / 14))
    announced = {s for g in result.gaps for s in range(g["from_seq"], g["to_seq"] + 1)}
    assert set(result.frames) | announced == set(range(n_frames))
    for seq, (i0, data) in result.frames.items():
        got = np.frombuffer(data, "<i4").reshape(-1, 2)
        assert np.array_equal(got, source[i0:i0 + len(got)]), f"frame {seq} differs"
    # The beats the reader received are the stored ones and match the cardiologists' beats.
    assert result.beats == sorted(set(result.beats))
    assert np.array_equal(np.array(result.beats), exported_beats)
    sc = score(reference_beats(mitdb / "101", len(source)), np.array(result.beats), 360.0)
    assert sc.se >= 99.0 and sc.ppv >= 99.0, sc
    assert result.hr_bpm and all(40 < hr < 120 for hr in result.hr_bpm)
    # The patient reference is stored with the recording but never written to the log.
    stored_rec = Database(world.data_dir / "teleconsult.sqlite3").get_recording(recording_id)
    assert stored_rec is not None and stored_rec.patient_ref == "PATIENT-张三-0042"
    assert "PATIENT-" not in server.log_path.read_text(encoding="utf-8")


@pytest.mark.slow
async def test_kill_9_mid_stream_then_restart_resumes_bit_exact(world: World, server: ServerProcess,
                                                                mitdb: Path) -> None:
    signal = load_wfdb(str(mitdb / "106"), seconds=60)
    sim = DeviceSimulator(f"{server.ws_url}/ws/device", world.device_a, signal, speed=10.0,
                          recording_id="crash-mitdb-106")
    task = asyncio.create_task(sim.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while sim.client.acked_seq <= 100:  # well under way (a loaded machine starts slowly)
        assert loop.time() < deadline, "the stream never got under way"
        await asyncio.sleep(0.05)
    acked_before = sim.client.acked_seq
    server.kill9()
    await asyncio.sleep(0.5)
    await asyncio.to_thread(server.start)
    stats = await asyncio.wait_for(task, timeout=60)
    assert stats.connections >= 2
    # The device resumed no earlier than what the server had acked (DeviceClient checks it too).
    assert min(stats.resumes[1:]) > acked_before
    assert_stored_exactly(world, "crash-mitdb-106", signal.samples)
    token = login(server.url, "reader_a", world.password)
    record, beats = export_wfdb(server.url, token, "crash-mitdb-106")
    assert np.array_equal(record.d_signal, signal.samples)
    # After the restart the detector was rebuilt from the archive: the beats are exactly
    # those of one uninterrupted detection over the whole signal.
    # (the live detector runs on lead MLII, channel 0)
    assert np.array_equal(beats, detect(signal.samples[:, 0] / signal.gain, signal.fs_hz))


@pytest.mark.slow
async def test_network_drops_at_random_points_lose_nothing(world: World, server: ServerProcess,
                                                           mitdb: Path) -> None:
    proxy = FlakyProxy(server.port)
    await proxy.start()
    signal = load_wfdb(str(mitdb / "119"), seconds=60)
    sim = DeviceSimulator(f"ws://127.0.0.1:{proxy.port}/ws/device", world.device_a, signal, speed=10.0,
                          recording_id="drops-mitdb-119")
    task = asyncio.create_task(sim.run())
    rng = random.Random(119)
    for _ in range(6):
        await asyncio.sleep(rng.uniform(0.2, 0.9))
        proxy.cut()
    stats = await asyncio.wait_for(task, timeout=60)
    await proxy.close()
    # Most cuts hit a live connection (one that lands while the device is reconnecting
    # cuts nothing).
    assert stats.connections >= 3
    assert_stored_exactly(world, "drops-mitdb-119", signal.samples)


@pytest.mark.slow
async def test_device_on_one_node_reader_on_another_through_redis(world: World, redis_url: str,
                                                                  server_factory: type[ServerProcess],
                                                                  mitdb: Path) -> None:
    node_a = server_factory(world.data_dir, redis_url=redis_url, node_id="node-a")
    node_b = server_factory(world.data_dir, redis_url=redis_url, node_id="node-b")
    await asyncio.gather(asyncio.to_thread(node_a.start), asyncio.to_thread(node_b.start))
    token = await asyncio.to_thread(login, node_b.url, "reader_a", world.password)
    signal = load_wfdb(str(mitdb / "101"), seconds=120)
    sim = DeviceSimulator(f"{node_a.ws_url}/ws/device", world.device_a, signal, speed=10.0,
                          recording_id="twonode-mitdb-101")
    task = asyncio.create_task(sim.run())
    await asyncio.to_thread(wait_for_recording, node_b.url, token, sim.recording_id)
    # backlog_s=0: nothing from the archive; everything the reader gets crosses Redis.
    result = await watch(node_b.ws_url, token, sim.recording_id, backlog_s=0, timeout_s=60)
    await asyncio.wait_for(task, timeout=30)
    assert result.ended
    stored_beats = FileArchive(world.data_dir).read_beats(sim.recording_id)
    first = min(result.frames) * signal_block(sim)
    assert first < 5 * 360, "the reader joined near the start"
    # Every beat confirmed after the join crossed Redis. A beat can lie up to the detector's
    # latency before the first live frame, or anywhere in its learning period (the first 2 s,
    # decided together once 2 s of signal are seen) when the reader joined inside it.
    earliest = 0 if first < DetectorConfig(fs_hz=360).init_s * 360 else first - 0.3 * 360
    assert result.beats[0] >= earliest
    assert result.beats[0] == stored_beats[stored_beats >= earliest][0]
    expected = stored_beats[stored_beats >= result.beats[0]]
    assert result.beats == expected.tolist()
    assert len(expected) > 100
    # and the samples after the join point are complete and exact
    seqs = sorted(result.frames)
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert np.array_equal(result.samples(), signal.samples[first:].astype(np.int32))


def signal_block(sim: DeviceSimulator) -> int:
    return sim.block


def twelve_lead_signal(seconds: float) -> Signal:
    """A real 12-lead 500 Hz ECG (CPSC 2018 A0005, 25 s) repeated to ``seconds``."""
    base = load_wfdb(str(CPSC / "A0005"))
    reps = int(np.ceil(seconds * base.fs_hz / len(base.samples)))
    return Signal(np.tile(base.samples, (reps, 1))[: int(seconds * base.fs_hz)], base.fs_hz, base.leads, base.gain)


async def stalled_reader(server: ServerProcess, token: str, recording_id: str) -> websockets.ClientConnection:
    """A reader whose socket stops being read: a tiny receive buffer and nobody calling recv()."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    sock.setblocking(False)
    return await websockets.connect(f"{server.ws_url}/ws/reader?recording={recording_id}&backlog_s=0",
                                    sock=sock, additional_headers={"Authorization": f"Bearer {token}"},
                                    max_queue=1, compression=None, ping_interval=None)


@pytest.mark.slow
async def test_a_stalled_reader_slows_neither_the_device_nor_other_readers(world: World, server: ServerProcess) -> None:
    need((CPSC / "A0005.hea").exists(), "CPSC 2018 sample not found")
    # 480 s of 12-lead at 20x (24 s): a full-rate reader gets ~0.5 MB/s, far more than the
    # socket buffers hold while it is stalled, so the stalled readers' own queues overflow.
    signal = twelve_lead_signal(480.0)
    token = await asyncio.to_thread(login, server.url, "reader_a", world.password)
    sim = DeviceSimulator(f"{server.ws_url}/ws/device", world.device_a, signal, speed=20.0,
                          recording_id="stall-cpsc-a0005")
    started = time.monotonic()
    task = asyncio.create_task(sim.run())
    await asyncio.to_thread(wait_for_recording, server.url, token, sim.recording_id)
    stalled = [await stalled_reader(server, token, sim.recording_id) for _ in range(3)]
    healthy = asyncio.create_task(watch(server.ws_url, token, sim.recording_id, backlog_s=0, max_fs_hz=250))
    rss_start = server.rss_kib()
    rss_peak = rss_start
    for _ in range(60):  # the first stalled reader stays silent for 15 s, then reads again
        await asyncio.sleep(0.25)
        rss_peak = max(rss_peak, server.rss_kib())
    told = []
    while True:
        try:
            frame = decode_reader_frame(await asyncio.wait_for(stalled[0].recv(), 30))
        except websockets.ConnectionClosed:
            break
        told.append(frame["t"])
    stats = await task
    device_s = time.monotonic() - started
    result = await asyncio.wait_for(healthy, 30)

    # The device was never held up: it streamed its 24 s (480 s at 20x) in about that time,
    # not 15 s more (the stall), and its frames were acked within a fraction of a second
    # (a device held back by a reader would wait seconds for its acks). The latency figures
    # themselves are the load test's job (loadtest, a benchmark), not this test's.
    latencies = np.array(stats.ack_latencies_s)
    assert len(latencies) > 10000
    assert device_s < 24.0 * 1.4, device_s
    assert np.percentile(latencies, 99) < 0.5, np.percentile(latencies, [50, 99])
    assert rss_peak - rss_start < 40 * 1024, f"server memory grew by {rss_peak - rss_start} KiB"
    assert_stored_exactly(world, sim.recording_id, signal.samples)
    # The healthy reader missed nothing ...
    assert result.ended and not result.gaps
    assert sorted(result.frames) == list(range(min(result.frames), sim.client.n_frames))
    # ... and the stalled one, once it read again, was told which display frames it lost.
    assert "gap" in told and told[-1] == "end"
    for ws in stalled[1:]:
        await ws.close()


@pytest.mark.slow
async def test_sigterm_drains_and_the_device_resumes_after_restart(world: World, server: ServerProcess,
                                                                   mitdb: Path) -> None:
    signal = load_wfdb(str(mitdb / "101"), seconds=40)
    sim = DeviceSimulator(f"{server.ws_url}/ws/device", world.device_a, signal, speed=10.0,
                          recording_id="drain-mitdb-101")
    task = asyncio.create_task(sim.run())
    await asyncio.sleep(1.5)
    exit_code = await asyncio.to_thread(server.stop)
    assert exit_code == 0
    acked_at_stop = sim.client.acked_seq
    await asyncio.sleep(0.3)
    await asyncio.to_thread(server.start)
    stats = await asyncio.wait_for(task, timeout=60)
    assert stats.connections >= 2 and min(stats.resumes[1:]) > acked_at_stop
    assert_stored_exactly(world, sim.recording_id, signal.samples)
