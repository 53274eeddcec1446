"""Stream K simulated 12-lead 500 Hz devices into one server process and measure it.

    python -m loadtest --devices 100 --duration-s 30
    python -m loadtest --steps 50,100,200,300 --duration-s 20 --fail-under 100

Without ``--url`` it starts its own ``teleconsult serve`` (a fresh data directory,
organisations, a reader and device tokens) and measures that process's CPU. Each device
streams a real 12-lead ECG (CPSC 2018, repeated) in 40 ms frames through the same
sans-I/O DeviceClient the simulator uses (loadtest/fleet.py: one ticker for all devices); each device has ``--readers`` readers watching it at
full rate. Printed per step: devices, frames/s, device→ack and device→reader latency
p50/p99, samples lost (stored vs sent, and frames a reader never got), server CPU.
A step is sustained when p99 device→reader ≤ ``--p99-ms`` and nothing is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from loadtest.fleet import FleetReader, connect_devices, run_devices, run_reader
from teleconsult.device import Signal, load_wfdb

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RECORD = REPO.parent / "shared" / "data" / "cpsc2018" / "challenge2020_wfdb" / "A0005"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    data_dir: Path
    ready_s: float

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0


def start_server(data_dir: Path, extra: list[str]) -> Server:
    port = _free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "serve", "--port",
                             str(port), "--data-dir", str(data_dir), *extra],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    while '"ready"' not in (line := proc.stdout.readline()):
        if not line and proc.poll() is not None:
            raise RuntimeError("server failed to start")
    return Server(proc, port, data_dir, time.monotonic() - started)


def seed(data_dir: Path, n_tokens: int) -> tuple[list[str], str]:
    """A county, a village, a reader and ``n_tokens`` device tokens, written straight to the database."""
    from teleconsult import auth
    from teleconsult.storage.sql import Database

    db = Database(data_dir / "teleconsult.sqlite3")
    county = db.create_org("Load County", "county")
    township = db.create_org("Load Township", "township", county.id)
    village = db.create_org("Load Village", "village", township.id)
    password = "load-test-password"
    db.create_user("loadreader", auth.hash_password(password), "county_reader", county.id)
    tokens = []
    for k in range(n_tokens):
        token = auth.new_device_token()
        db.create_device(village.id, f"load {k}", auth.token_hash(token), None)
        tokens.append(token)
    db.close()
    return tokens, password


async def _login(url: str, password: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/api/login", json={"username": "loadreader", "password": password}) as r:
            return str((await r.json())["token"])


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


async def run_step(server: Server, tokens: list[str], password: str, signal: Signal, devices: int,
                   readers: int, duration_s: float) -> dict[str, Any]:
    import aiohttp

    url, ws_url = f"http://127.0.0.1:{server.port}", f"ws://127.0.0.1:{server.port}"
    block = round(signal.fs_hz * 0.04)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(f"{url}/api/login", json={"username": "loadreader", "password": password}) as r:
            session_token = str((await r.json())["token"])
        fleet = await connect_devices(session, ws_url, tokens[:devices], signal.samples, signal.fs_hz,
                                      signal.leads, signal.gain, duration_s, block, f"load-{int(time.time())}")
        stop = asyncio.Event()
        watchers = [FleetReader(d.recording_id) for d in fleet for _ in range(readers)]
        reader_tasks = [asyncio.create_task(run_reader(session, ws_url, session_token, w, stop)) for w in watchers]
        await asyncio.sleep(0.5)
        cpu0, t0 = server.cpu_s(), time.monotonic()
        await run_devices(fleet, signal.fs_hz, block)
        elapsed = time.monotonic() - t0
        cpu_pct = 100.0 * (server.cpu_s() - cpu0) / elapsed
        await asyncio.wait(reader_tasks, timeout=30)
        stop.set()  # readers still waiting for their end frame after 30 s are stopped (and counted)
        await asyncio.wait(reader_tasks, timeout=10)
    ack = [x for d in fleet for x in d.ack_latencies_s]
    to_reader: list[float] = []
    missing = 0
    by_id = {d.recording_id: d for d in fleet}
    for w in watchers:
        device = by_id[w.recording_id]
        produced = device.produced_at
        to_reader += [t - produced[seq] for seq, t in w.arrival.items() if seq < len(produced)]
        if w.arrival:
            missing += sum(1 for seq in range(min(w.arrival), device.client.n_frames) if seq not in w.arrival)
        elif device.client.n_frames:
            missing += device.client.n_frames
    from teleconsult.storage.archive_files import FileArchive

    archive = FileArchive(server.data_dir)
    lost = 0
    for device in fleet:
        stored = archive.read_samples(device.recording_id, len(signal.leads), "int16")
        sent = device.samples[: device.client.n_frames * block]
        lost += abs(len(sent) - len(stored)) + int(not np.array_equal(stored, sent))
    return {
        "devices": devices, "readers_per_device": readers, "duration_s": duration_s,
        "frames_per_s": round(sum(d.frames_sent for d in fleet) / elapsed, 1),
        "ack_p50_ms": _pct(ack, 50), "ack_p99_ms": _pct(ack, 99),
        "reader_p50_ms": _pct(to_reader, 50), "reader_p99_ms": _pct(to_reader, 99),
        "samples_lost": lost, "reader_frames_missing": missing,
        "errors": sum(len(d.errors) for d in fleet) + sum(1 for w in watchers if w.error),
        "server_cpu_pct": round(cpu_pct, 1), "server_rss_mib": round(server.rss_mib(), 1),
        "server_ready_s": round(server.ready_s, 2),
    }


def _run(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtest", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--steps", help="comma-separated device counts to try in turn (overrides --devices)")
    parser.add_argument("--readers", type=int, default=1, help="readers per device")
    parser.add_argument("--duration-s", type=float, default=20.0)
    parser.add_argument("--record", default=str(DEFAULT_RECORD), help="12-lead WFDB record to stream")
    parser.add_argument("--p99-ms", type=float, default=100.0, help="device→reader p99 bound for 'sustained'")
    parser.add_argument("--fail-under", type=int, default=0, help="exit 1 if fewer devices are sustained")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    steps = [int(x) for x in args.steps.split(",")] if args.steps else [args.devices]
    base = load_wfdb(args.record)
    reps = int(np.ceil((args.duration_s + 60) * base.fs_hz / len(base.samples)))
    signal = Signal(np.tile(base.samples, (reps, 1)), base.fs_hz, base.leads, base.gain)
    rows = []
    sustained = 0
    for devices in steps:
        with tempfile.TemporaryDirectory(prefix="tc-load-") as tmp:
            data_dir = Path(tmp)
            tokens, password = seed(data_dir, devices)
            server = start_server(data_dir, [])
            try:
                row = _run(run_step(server, tokens, password, signal, devices, args.readers, args.duration_s))
            finally:
                server.proc.terminate()
                server.proc.wait(timeout=30)
        row["sustained"] = bool(row["reader_p99_ms"] is not None and row["reader_p99_ms"] <= args.p99_ms
                                and row["samples_lost"] == 0 and row["reader_frames_missing"] == 0
                                and row["errors"] == 0)
        if row["sustained"]:
            sustained = max(sustained, devices)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"\n{'devices':>8} {'frames/s':>9} {'ack p50/p99 ms':>15} {'reader p50/p99 ms':>18} "
          f"{'lost':>5} {'cpu %':>6} {'rss MiB':>8}  sustained")
    for r in rows:
        print(f"{r['devices']:>8} {r['frames_per_s']:>9} {str(r['ack_p50_ms']) + '/' + str(r['ack_p99_ms']):>15} "
              f"{str(r['reader_p50_ms']) + '/' + str(r['reader_p99_ms']):>18} "
              f"{r['samples_lost'] + r['reader_frames_missing']:>5} {r['server_cpu_pct']:>6} "
              f"{r['server_rss_mib']:>8}  {'yes' if r['sustained'] else 'NO'}")
    print(f"\nserver ready after start: {max(r['server_ready_s'] for r in rows):.2f} s (slowest step)")
    print(f"devices sustained (p99 device→reader ≤ {args.p99_ms:g} ms, 0 lost): {sustained}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "sustained": sustained}, indent=2))
    return 1 if sustained < args.fail_under else 0


if __name__ == "__main__":
    sys.exit(main())
