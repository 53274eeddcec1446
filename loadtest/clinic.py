"""Report and consult traffic beside the device streams: what the county's people do.

One worker process plays the clinic while the device workers stream:

* **Reports** (``reports_per_min``): a village doctor uploads a 10-s 12-lead ECG (WFDB
  files cut from the run's record) for reading, evenly spaced through the profile. County
  readers hear of it on their ``/ws/notify`` socket (the worklist notice), the next free one
  claims it, opens it, reads for ``read_s`` seconds, writes "sinus rhythm, normal ECG" and
  signs; the report is pushed to the village doctor's ``/ws/notify`` socket, which sends its
  delivery receipt. Measured: upload time, upload → worklist notice, sign → report on the
  doctor's socket, and the turnaround (upload → report on the doctor's screen, reading
  time included). A report still undelivered when the run has drained is counted.
* **Consults** (``consults``): that many consults at once, each a village doctor and a
  county doctor running the browsers' signalling without media (request, accept, join,
  offer/answer, ICE, ``connected``), holding ``consult_hold_s`` while each side sends its
  peer an ICE candidate every 2 s stamped with its send time (relay latency), then hanging
  up and starting the next one until the profile ends. Measured: request → in_call and
  the relay latency; every probe sent must arrive.

With two or more nodes the village side talks to the first node and the county side to
the second, so every report push and every signalling message crosses the bus.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from loadtest.histogram import LatencyHistogram
from loadtest.plan import ws_url

#: Statements the simulated reader signs ("sinus rhythm, normal ECG").
REPORT_STATEMENTS = ("SR", "NORM")
#: Priorities of the uploads, in turn (one STAT in four, as chest pain comes in).
PRIORITIES = ("stat", "routine", "routine", "urgent")
UPLOAD_SECONDS = 10.0
#: Seconds between a county doctor's presence heartbeats (the server's duty TTL is 45 s).
HEARTBEAT_S = 15.0
PROBE_EVERY_S = 2.0


@dataclass
class ClinicPlan:
    village_url: str
    county_url: str
    duration_s: float
    drain_s: float
    record: str
    reports_per_min: float = 0.0
    read_s: float = 5.0
    doctor_token: str = ""
    reader_tokens: list[str] = field(default_factory=list)
    consults: int = 0
    consult_hold_s: float = 20.0
    village_tokens: list[str] = field(default_factory=list)
    county_tokens: list[str] = field(default_factory=list)
    warmup_s: float = 0.0  # what starts before this is left out of the latency figures (not the counts)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "clinic", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClinicPlan:
        values = {k: v for k, v in data.items() if k != "kind"}
        return cls(**values)


_HISTOGRAMS = ("upload", "notice", "push", "tat", "setup", "relay")


@dataclass
class ClinicResult:
    """What the clinic saw. Histograms in ms (``tat`` too), without what started in the
    warm-up except ``relay`` (probes come after a consult's set-up); ``events`` for the plots,
    warm-up included: ``(t_s the thing started, kind, value_s)`` with kind ``"tat"``,
    ``"push"`` or ``"setup"``."""

    upload: LatencyHistogram = field(default_factory=LatencyHistogram)
    notice: LatencyHistogram = field(default_factory=LatencyHistogram)
    push: LatencyHistogram = field(default_factory=LatencyHistogram)
    tat: LatencyHistogram = field(default_factory=LatencyHistogram)
    setup: LatencyHistogram = field(default_factory=LatencyHistogram)
    relay: LatencyHistogram = field(default_factory=LatencyHistogram)
    reports_sent: int = 0
    reports_signed: int = 0
    reports_delivered: int = 0
    consults_started: int = 0
    consults_held: int = 0
    probes_sent: int = 0
    probes_received: int = 0
    reports_per_min: float = 0.0  # what the plan asked for
    read_s: float = 0.0
    consults: int = 0
    events: list[tuple[float, str, float]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def record(self, kind: str, started_s: float, value_s: float, warmup_s: float = 0.0) -> None:
        """One latency of ``kind`` (a histogram's name) that started ``started_s`` into the run:
        into its histogram unless it started in the warm-up; into the plot's events either way."""
        if started_s >= warmup_s:
            getattr(self, kind).record_s(value_s)
        if kind in ("tat", "push", "setup"):
            self.events.append((started_s, kind, value_s))

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name).to_json() for name in _HISTOGRAMS}
        for name in ("reports_sent", "reports_signed", "reports_delivered", "consults_started", "consults_held",
                     "probes_sent", "probes_received", "reports_per_min", "read_s", "consults"):
            data[name] = getattr(self, name)
        data["events"] = [[round(t, 3), kind, round(v, 4)] for t, kind, v in self.events]
        data["errors"] = dict(self.errors)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClinicResult:
        result = cls()
        for name in _HISTOGRAMS:
            setattr(result, name, LatencyHistogram.from_json(data[name]))
        for name in ("reports_sent", "reports_signed", "reports_delivered", "consults_started", "consults_held",
                     "probes_sent", "probes_received", "consults"):
            setattr(result, name, int(data[name]))
        result.reports_per_min, result.read_s = float(data["reports_per_min"]), float(data["read_s"])
        result.events = [(float(t), str(kind), float(v)) for t, kind, v in data["events"]]
        result.errors = Counter({str(k): int(v) for k, v in data["errors"].items()})
        return result


def upload_files(record: str, seconds: float = UPLOAD_SECONDS, variants: int = 4) -> list[dict[str, bytes]]:
    """``variants`` different ``seconds``-long stretches of ``record`` as WFDB files
    (``name.hea`` + ``name.dat``), as a cart would send them."""
    import wfdb

    from loadtest.ecg_source import load_source

    source = load_source(record)
    signal = np.frombuffer(b"".join(source.blocks), dtype="<i2").reshape(-1, len(source.leads))
    n = int(seconds * source.fs_hz)
    if len(signal) < n:
        raise ValueError(f"record {record} is shorter than {seconds:g} s")
    starts = np.linspace(0, len(signal) - n, variants).astype(int)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, start in enumerate(starts):
            name = f"load{k}"
            wfdb.wrsamp(name, fs=source.fs_hz, units=["mV"] * len(source.leads), sig_name=list(source.leads),
                        d_signal=np.ascontiguousarray(signal[start:start + n]), fmt=["16"] * len(source.leads),
                        adc_gain=[source.gain] * len(source.leads), baseline=[0] * len(source.leads), write_dir=tmp)
            out.append({f"{name}.{ext}": (Path(tmp) / f"{name}.{ext}").read_bytes() for ext in ("hea", "dat")})
    return out


class Clinic:
    """Runs a :class:`ClinicPlan` from a common start instant ``t0`` (monotonic clock)."""

    def __init__(self, plan: ClinicPlan, http: aiohttp.ClientSession) -> None:
        self.plan = plan
        self.http = http
        self.result = ClinicResult(reports_per_min=plan.reports_per_min, read_s=plan.read_s,
                                    consults=plan.consults)
        self.t0 = 0.0
        self.end = 0.0
        self.sent_at: dict[int, float] = {}
        self.noticed_at: dict[int, float] = {}
        self.signed_at: dict[int, float] = {}
        self.delivered: set[int] = set()
        self.all_delivered = asyncio.Event()
        self.to_read: asyncio.Queue[int] = asyncio.Queue()
        self.uploads: list[dict[str, bytes]] = []

    def _error(self, kind: str) -> None:
        self.result.errors[f"clinic: {kind}"] += 1

    def _t(self) -> float:
        return time.monotonic() - self.t0

    async def prepare(self) -> None:
        if self.plan.reports_per_min > 0:
            self.uploads = await asyncio.to_thread(upload_files, self.plan.record)

    async def run(self, t0: float) -> ClinicResult:
        self.t0, self.end = t0, t0 + self.plan.duration_s
        await asyncio.sleep(max(0.0, t0 - time.monotonic()))
        jobs = []
        if self.plan.reports_per_min > 0:
            jobs.append(self._reports())
        if self.plan.consults > 0:
            jobs.append(self._consults())
        await asyncio.gather(*jobs)
        return self.result

    # -- reports -------------------------------------------------------------------------

    async def _call(self, method: str, url: str, token: str, **kw: Any) -> Any:
        async with self.http.request(method, url, headers={"Authorization": f"Bearer {token}"}, **kw) as response:
            body = await response.read()
            if response.status >= 300:
                raise _Refused(f"{method} {url.split('/api/', 1)[-1].split('/')[0]} → HTTP {response.status}")
            return json.loads(body) if body else None

    async def _reports(self) -> None:
        plan = self.plan
        doctor = await self.http.ws_connect(ws_url(plan.village_url) + "/ws/notify",
                                            headers={"Authorization": f"Bearer {plan.doctor_token}"}, heartbeat=20)
        watcher = await self.http.ws_connect(ws_url(plan.county_url) + "/ws/notify",
                                             headers={"Authorization": f"Bearer {plan.reader_tokens[0]}"},
                                             heartbeat=20)
        tasks = [asyncio.create_task(self._doctor_socket(doctor)), asyncio.create_task(self._worklist(watcher))]
        tasks += [asyncio.create_task(self._reader(token)) for token in plan.reader_tokens]
        try:
            await self._send_reports()
            deadline = self.end + plan.drain_s
            try:
                await asyncio.wait_for(self._until_delivered(), timeout=max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                pass
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await doctor.close()
            await watcher.close()

    async def _until_delivered(self) -> None:
        while len(self.delivered) < self.result.reports_sent:
            self.all_delivered.clear()
            await self.all_delivered.wait()

    async def _send_reports(self) -> None:
        interval_s = 60.0 / self.plan.reports_per_min
        k = 0
        while True:
            due = self.t0 + 0.5 + k * interval_s
            if due >= self.end:
                return
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await self._upload(k)
            k += 1

    async def _upload(self, k: int) -> None:
        form = aiohttp.FormData()
        form.add_field("priority", PRIORITIES[k % len(PRIORITIES)])
        for name, data in self.uploads[k % len(self.uploads)].items():
            form.add_field("file", data, filename=name, content_type="application/octet-stream")
        sent = time.monotonic()
        try:
            body = await self._call("POST", self.plan.village_url + "/api/studies/upload", self.plan.doctor_token,
                                    data=form)
        except (_Refused, aiohttp.ClientError, asyncio.TimeoutError) as exc:
            self._error(f"upload failed: {exc}")
            return
        self.result.record("upload", sent - self.t0, time.monotonic() - sent, self.plan.warmup_s)
        sid = int(body["study"]["id"])
        self.sent_at[sid] = sent
        self.result.reports_sent += 1
        if sid in self.noticed_at:
            self.result.record("notice", sent - self.t0, self.noticed_at[sid] - sent, self.plan.warmup_s)

    async def _worklist(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Reader 0's socket: every 'received' worklist notice goes to the readers' queue."""
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            notice = json.loads(msg.data)
            if notice.get("t") == "worklist" and notice.get("event") == "received":
                sid = int(notice["study"])
                now = time.monotonic()
                self.noticed_at[sid] = now
                if sid in self.sent_at:
                    self.result.record("notice", self.sent_at[sid] - self.t0, now - self.sent_at[sid],
                                       self.plan.warmup_s)
                self.to_read.put_nowait(sid)
        if time.monotonic() < self.end:
            self._error("reader's notify socket closed")

    async def _reader(self, token: str) -> None:
        base = self.plan.county_url + "/api/studies/"
        while True:
            sid = await self.to_read.get()
            try:
                await self._call("POST", f"{base}{sid}/claim", token)
                await self._call("GET", f"{base}{sid}", token)
                await asyncio.sleep(self.plan.read_s)
                await self._call("PUT", f"{base}{sid}/report", token, json={"statements": list(REPORT_STATEMENTS)})
                self.signed_at[sid] = time.monotonic()
                await self._call("POST", f"{base}{sid}/report/sign", token)
                self.result.reports_signed += 1
            except (_Refused, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self._error(f"reading failed: {exc}")

    async def _doctor_socket(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """The village doctor's screen: a pushed report is delivered; the receipt goes back."""
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                break
            data = json.loads(msg.data)
            if data.get("t") == "report" and isinstance(data.get("study"), dict):
                now = time.monotonic()
                sid = int(data["study"]["id"])
                if sid in self.delivered:
                    continue
                self.delivered.add(sid)
                self.result.reports_delivered += 1
                if sid in self.signed_at:
                    self.result.record("push", self.signed_at[sid] - self.t0, now - self.signed_at[sid],
                                       self.plan.warmup_s)
                if sid in self.sent_at:
                    self.result.record("tat", self.sent_at[sid] - self.t0, now - self.sent_at[sid],
                                       self.plan.warmup_s)
                await ws.send_json({"t": "receipt", "study": sid, "version": int(data["report"]["version"])})
                self.all_delivered.set()
            elif data.get("t") == "error":
                self._error(f"doctor's socket: {data.get('reason', '?')}")
        if time.monotonic() < self.end:
            self._error("doctor's notify socket closed")

    # -- consults ------------------------------------------------------------------------

    async def _consults(self) -> None:
        n = self.plan.consults
        spread_s = min(5.0, self.plan.duration_s / 4)  # pages open over a few seconds, not all at once
        await asyncio.gather(*(self._consult_loop(k, k * spread_s / n) for k in range(n)))

    async def _consult_loop(self, k: int, delay_s: float) -> None:
        from teleconsult.consult_bench import Side, SignallingOutcome, signalling_consult

        plan = self.plan
        village, county = plan.village_tokens[k], plan.county_tokens[k]
        presence = plan.county_url + "/api/presence"
        try:
            await self._call("PUT", presence, county, json={"on_duty": True})
        except (_Refused, aiohttp.ClientError) as exc:
            self._error(f"going on duty failed: {exc}")
            return
        heartbeat = asyncio.create_task(self._heartbeat(presence + "/heartbeat", county))
        await asyncio.sleep(delay_s)
        try:
            while self.end - time.monotonic() > 4.0:
                hold_s = min(plan.consult_hold_s, self.end - time.monotonic() - 2.0)
                sides: list[Side] = []
                self.result.consults_started += 1
                started_t = self._t()
                try:
                    outcome = await asyncio.wait_for(
                        signalling_consult(self.http, plan.village_url, plan.county_url, village, county, hold_s,
                                           asyncio.Event(), sides, PROBE_EVERY_S), timeout=hold_s + 60.0)
                except (aiohttp.ClientError, asyncio.TimeoutError, RuntimeError, KeyError) as exc:
                    outcome = SignallingOutcome(False, None)
                    self._error(f"consult failed: {type(exc).__name__} {str(exc)[:80]}")
                    await asyncio.sleep(1.0)
                for side in sides:
                    self.result.probes_sent += side.sent
                    self.result.probes_received += len(side.relay_ms)
                    for ms in side.relay_ms:
                        self.result.relay.record_s(ms / 1000.0)
                if outcome.setup_s is not None:
                    self.result.record("setup", started_t, outcome.setup_s, self.plan.warmup_s)
                if outcome.ok:
                    self.result.consults_held += 1
                elif outcome.setup_s is not None:
                    self._error("consult: an error message on a signalling socket")
        finally:
            heartbeat.cancel()

    async def _heartbeat(self, url: str, token: str) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self._call("POST", url, token)
            except (_Refused, aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self._error(f"presence heartbeat failed: {exc}")


class _Refused(RuntimeError):
    """The server answered with an error status."""


__all__ = ["ClinicPlan", "ClinicResult", "Clinic", "upload_files", "REPORT_STATEMENTS"]
