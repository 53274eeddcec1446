"""One run (one step): start the workers, follow them live, merge what they report.

The parent does no load itself. It sends each worker its plan, waits until all are
ready, gives them one common start instant, samples CPU and RSS of every local process
of the run once a second, shows the live progress line from the windows the workers
send, and merges their final reports into a :class:`~loadtest.results.RunResult`. With
report or consult traffic one more worker plays the clinic (:mod:`loadtest.clinic`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from loadtest.clinic import ClinicPlan, ClinicResult
from loadtest.metrics import Window, WorkerResult
from loadtest.plan import WorkerPlan, reader_node, worker_slots, ws_url
from loadtest.profile import Profile
from loadtest.progress import Progress, progress_line
from loadtest.resources import ProcessSeries
from loadtest.results import RunResult, is_sustained, merge_windows, merge_workers, summarize
from loadtest.seed import ClinicSessions
from loadtest.targets import REPO, Node
from streaming.frames import Hello
from streaming.protocol import DeviceClient

WINDOW_S = 1.0


@dataclass(frozen=True)
class ClinicSpec:
    """Report and consult traffic beside the streams (see :mod:`loadtest.clinic`)."""

    reports_per_min: float = 0.0
    read_s: float = 5.0
    readers: int = 2
    consults: int = 0
    consult_hold_s: float = 20.0

    @property
    def active(self) -> bool:
        return self.reports_per_min > 0 or self.consults > 0


class RunError(RuntimeError):
    """A worker failed or the run did not finish in time."""


@dataclass
class RunSpec:
    label: str
    profile: Profile
    workers: int = 1
    readers_per_device: int = 1
    readers_on: str = "other"
    record: str = "synthetic"
    frame_s: float = 0.04
    warmup_s: float = 0.0
    drain_s: float = 30.0
    p99_ms: float = 100.0
    clinic: ClinicSpec = field(default_factory=ClinicSpec)


@dataclass
class Target:
    """Where this run's load goes, with the credentials it needs there."""

    nodes: list[Node]
    device_tokens: list[str]
    session_token: str
    bus: str = "memory"
    warm_up_s: list[float] = field(default_factory=list)  # first stream into each node started for this run
    other_processes: list[ProcessSeries] = field(default_factory=list)  # redis, --server-pid
    records: str = "sqlite"  # the nodes' records engine (postgresql with --database-url)
    clinic: ClinicSessions | None = None  # sessions of the clinic's people (report and consult traffic)


async def login(url: str, username: str, password: str) -> str:
    """A session token for ``username`` (a county reader).

    Raises:
        RunError: the server refused the login.
    """
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url.rstrip('/')}/api/login",
                                json={"username": username, "password": password}) as response:
            if response.status != 200:
                raise RunError(f"login as {username!r} at {url} failed: HTTP {response.status}")
            return str((await response.json())["token"])


async def warm_up(url: str, token: str, recording: str, timeout_s: float = 60.0) -> float:
    """Stream one short recording into a server that has just started; returns seconds taken.

    A fresh server loads its signal-processing code (scipy) in the background after it
    reports ready, and the first hello waits for it (seconds on a busy machine). Runs
    against servers this run started begin after this, so their figures do not include
    the server's start-up.

    Raises:
        RunError: the server refused the warm-up stream or did not finish it in time.
    """
    started = time.monotonic()
    hello = Hello(token=token, recording=recording, patient="", fs_hz=500.0, leads=("II",), gain=1000.0,
                  sample_type="int16", block=20)
    client = DeviceClient(hello)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(ws_url(url) + "/ws/device") as ws:
                await ws.send_bytes(client.hello_message())
                client.receive((await ws.receive(timeout=timeout_s)).data)
                client.add_block(bytes(40), 20)
                client.end()
                for message in client.data_to_send():
                    await ws.send_bytes(message)
                while not client.finished:
                    client.receive((await ws.receive(timeout=timeout_s)).data)
    except (aiohttp.ClientError, asyncio.TimeoutError, TypeError, ValueError) as exc:
        raise RunError(f"warm-up stream into {url} failed: {type(exc).__name__} {exc}") from None
    if client.rejected is not None:
        raise RunError(f"warm-up stream into {url} refused: {client.rejected.code} {client.rejected.reason}")
    return time.monotonic() - started


class _Worker:
    def __init__(self, index: int, plan: dict[str, Any], name: str = "") -> None:
        self.index = index
        self.plan = plan
        self.name = name or f"worker-{index}"
        self.proc: asyncio.subprocess.Process | None = None
        self.windows: list[Window] = []
        self.result: WorkerResult | None = None
        self.clinic: ClinicResult | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "loadtest.worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, cwd=str(REPO), limit=1 << 28)
        await self.send(self.plan)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        await self.proc.stdin.drain()

    async def next_message(self) -> dict[str, Any] | None:
        assert self.proc is not None and self.proc.stdout is not None
        line = await self.proc.stdout.readline()
        if not line:
            return None
        data: dict[str, Any] = json.loads(line)
        return data

    def close_stdin(self) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


class _Live:
    """Windows as they arrive from the workers; the progress line once all have sent one."""

    def __init__(self, spec: RunSpec, n_workers: int, resources: list[ProcessSeries], progress: Progress) -> None:
        self.spec = spec
        self.n_workers = n_workers
        self.resources = resources
        self.progress = progress
        self.pending: dict[int, list[Window]] = {}
        self.missed = self.gaps = self.errors = 0

    def add(self, window: Window) -> None:
        parts = self.pending.setdefault(window.index, [])
        parts.append(window)
        if len(parts) < self.n_workers:
            return
        merged = merge_windows([[w] for w in self.pending.pop(window.index)])[0]
        self.missed += merged.reader_frames_missed
        self.gaps += merged.reader_gap_frames
        self.errors += merged.errors
        servers = [r.points()[-1] for r in self.resources if r.role == "server" and r.points()]
        cpu = sum(p[1] for p in servers) if servers else None
        rss = max(p[2] for p in servers) if servers else None
        t_s = merged.t_s + merged.window_s
        self.progress.show(progress_line(
            self.spec.label, t_s, self.spec.profile.duration_s, merged,
            self.spec.profile.devices_at(max(0.0, t_s - 1e-6)), self.missed, self.gaps, self.errors, cpu, rss))


async def _sample(resources: list[ProcessSeries], t0: float, stop: asyncio.Event) -> None:
    k = 0
    while not stop.is_set():
        now = time.monotonic()
        for series in resources:
            series.sample(now - t0)
        k += 1
        try:
            await asyncio.wait_for(stop.wait(), timeout=max(0.0, t0 + k * WINDOW_S - time.monotonic()))
        except asyncio.TimeoutError:
            pass
    for series in resources:
        series.sample(time.monotonic() - t0)


async def _follow(worker: _Worker, live: _Live) -> None:
    while (message := await worker.next_message()) is not None:
        if message["type"] == "window":
            window = Window.from_json(message["window"])
            worker.windows.append(window)
            live.add(window)
        elif message["type"] == "result" and "clinic" in message:
            worker.clinic = ClinicResult.from_json(message["clinic"])
        elif message["type"] == "result":
            worker.result = WorkerResult.from_json(message["result"])


async def run_step(spec: RunSpec, target: Target, progress: Progress) -> RunResult:
    """Drive ``spec.profile`` against ``target`` with ``spec.workers`` processes.

    Raises:
        RunError: a worker exited without a result, or the run overran its time.
    """
    max_devices = spec.profile.max_devices
    if len(target.device_tokens) < max_devices:
        raise RunError(f"{max_devices} devices need as many device tokens; {len(target.device_tokens)} given")
    run_id = f"load-{secrets.token_hex(4)}"
    n_workers = max(1, min(spec.workers, max_devices))
    workers = []
    for index in range(n_workers):
        slots = worker_slots(index, n_workers, max_devices)
        plan = WorkerPlan(index, n_workers, list(spec.profile.points), [n.url for n in target.nodes],
                          {s: target.device_tokens[s] for s in slots}, target.session_token, run_id, spec.record,
                          spec.frame_s, spec.readers_per_device, spec.readers_on, WINDOW_S, spec.drain_s, slots)
        workers.append(_Worker(index, plan.to_json()))
    clinic_worker = None
    if spec.clinic.active:
        clinic_worker = _Worker(n_workers, _clinic_plan(spec, target).to_json(), "clinic")
        workers.append(clinic_worker)
    resources = [ProcessSeries(n.pid, n.name, "server") for n in target.nodes if n.pid is not None]
    resources += target.other_processes
    try:
        await asyncio.gather(*(w.start() for w in workers))
        for w in workers:
            assert w.proc is not None
            resources.append(ProcessSeries(w.proc.pid, w.name, "worker"))
            hello = await asyncio.wait_for(w.next_message(), timeout=120)
            if not hello or hello.get("type") != "ready":
                raise RunError(f"{w.name} did not start (see its error above)")
        t0 = time.monotonic() + 0.3
        for w in workers:
            await w.send({"t0": t0})
            w.close_stdin()
        stop = asyncio.Event()
        sampler = asyncio.create_task(_sample(resources, t0, stop))
        live = _Live(spec, n_workers, resources, progress)  # the clinic worker sends no windows
        budget_s = spec.profile.duration_s + spec.drain_s + 600
        try:
            await asyncio.wait_for(asyncio.gather(*(_follow(w, live) for w in workers)), timeout=budget_s)
        except asyncio.TimeoutError:
            raise RunError(f"the run did not finish within {budget_s:g} s") from None
        finally:
            stop.set()
            await sampler
            progress.clear()
        for w in workers:
            assert w.proc is not None
            await w.proc.wait()
            if w.result is None and w.clinic is None:
                raise RunError(f"{w.name} exited ({w.proc.returncode}) without a result")
    finally:
        for w in workers:
            w.stop()
    devices, kinds = merge_workers(w.result for w in workers if w.result is not None)
    clinic = clinic_worker.clinic if clinic_worker is not None else None
    if clinic is not None:
        kinds.update(clinic.errors)
    config = {
        "profile": spec.profile.describe(), "duration_s": spec.profile.duration_s, "devices_max": max_devices,
        "workers": n_workers, "nodes": [n.url for n in target.nodes], "bus": target.bus,
        "records": target.records,
        "readers_per_device": spec.readers_per_device,
        "readers_on": spec.readers_on if len(target.nodes) > 1 else "same",
        "record": spec.record, "frame_s": spec.frame_s, "warmup_s": spec.warmup_s, "drain_s": spec.drain_s,
        "window_s": WINDOW_S, "run_id": run_id, "p99_ms": spec.p99_ms,
        "node_warm_up_s": [round(s, 2) for s in target.warm_up_s],
        "node_cpu_limit": next((n.cpu_limit.cores for n in target.nodes if n.cpu_limit is not None), None),
    }
    if spec.clinic.active:
        config["clinic"] = {"reports_per_min": spec.clinic.reports_per_min, "read_s": spec.clinic.read_s,
                            "report_readers": spec.clinic.readers, "consults": spec.clinic.consults,
                            "consult_hold_s": spec.clinic.consult_hold_s, "village_node": 0,
                            "county_node": reader_node(0, len(target.nodes), spec.readers_on)}
    run = RunResult(spec.label, config, merge_windows(w.windows for w in workers), devices, kinds, resources,
                    clinic=clinic)
    ready = [n.ready_s for n in target.nodes if n.ready_s is not None]
    run.summary = summarize(run, spec.profile.duration_s, spec.warmup_s, max(ready) if ready else None)
    run.sustained = is_sustained(run.summary, spec.p99_ms,
                                 "reader_p99_ms" if spec.readers_per_device else "ack_p99_ms")
    return run


def _clinic_plan(spec: RunSpec, target: Target) -> ClinicPlan:
    """Village side on the first node; county side on the node readers use (another one
    with ``readers_on="other"``), so that pushes and signalling cross the bus."""
    if target.clinic is None:
        raise RunError("report and consult traffic need the clinic's accounts (servers this run starts)")
    county = target.nodes[reader_node(0, len(target.nodes), spec.readers_on)].url
    c = spec.clinic
    return ClinicPlan(target.nodes[0].url, county, spec.profile.duration_s, spec.drain_s, spec.record,
                      c.reports_per_min, c.read_s, target.clinic.doctor, target.clinic.readers[:c.readers],
                      c.consults, c.consult_hold_s, target.clinic.village[:c.consults],
                      target.clinic.county[:c.consults], spec.warmup_s)


__all__ = ["RunSpec", "ClinicSpec", "Target", "RunError", "run_step", "login", "warm_up"]
