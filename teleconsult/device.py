"""Device simulator: streams a real WFDB record like an ECG cart, resuming after every drop.

It speaks the protocol through :class:`streaming.protocol.DeviceClient` over the
``websockets`` library, so the server is exercised by a second, independent WebSocket
implementation.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np
import websockets
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from streaming.errors import CloseCode
from streaming.frames import MAX_FRAME_BYTES, Hello
from streaming.protocol import Acked, DeviceClient, Rejected

log = logging.getLogger(__name__)

#: Close codes after which reconnecting cannot help.
FATAL_CODES = {int(c) for c in CloseCode if 4000 <= c <= 4010 or c in (CloseCode.SUPERSEDED, CloseCode.UNSUPPORTED_DATA)}


class DeviceRejected(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"server refused the stream: {code} {reason}")
        self.code = code
        self.reason = reason


@dataclass
class Signal:
    samples: np.ndarray  # (n, n_leads) integers
    fs_hz: float
    leads: tuple[str, ...]
    gain: float


def load_wfdb(record_path: str, leads: list[str] | None = None, seconds: float | None = None,
              start_s: float = 0.0) -> Signal:
    """Read a WFDB record's digital samples (ADC units) with the ``wfdb`` package."""
    import wfdb

    header = wfdb.rdheader(record_path)
    fs_hz = float(header.fs)
    sampfrom = int(start_s * fs_hz)
    sampto = None if seconds is None else min(header.sig_len, sampfrom + int(seconds * fs_hz))
    channel_names = list(header.sig_name)
    channels = None
    if leads:
        missing = [name for name in leads if name not in channel_names]
        if missing:
            raise ValueError(f"record has no lead(s) {missing}; it has {channel_names}")
        channels = [channel_names.index(name) for name in leads]
    record = wfdb.rdrecord(record_path, sampfrom=sampfrom, sampto=sampto, channels=channels, physical=False)
    gains = set(float(g) for g in record.adc_gain)
    if len(gains) != 1:
        raise ValueError("leads with different ADC gains are not supported by the simulator")
    return Signal(np.asarray(record.d_signal), fs_hz, tuple(record.sig_name), gains.pop())


@dataclass
class DeviceStats:
    frames: int = 0
    samples: int = 0
    connections: int = 0
    ack_latencies_s: list[float] = field(default_factory=list)
    resumes: list[int] = field(default_factory=list)


class DeviceSimulator:
    """Streams ``signal`` to ``url`` at ``speed`` × real time, in blocks of ``frame_s``."""

    def __init__(self, url: str, token: str, signal: Signal, speed: float = 1.0, frame_s: float = 0.04,
                 recording_id: str | None = None, patient: str = "", sample_type: str = "int16") -> None:
        self.url = url
        self.signal = signal
        self.speed = speed
        self.block = max(1, round(signal.fs_hz * frame_s))
        dtype = "<i2" if sample_type == "int16" else "<i4"
        self._samples = np.ascontiguousarray(signal.samples.astype(dtype))
        self.hello = Hello(token=token, recording=recording_id or "rec-" + secrets.token_hex(8), patient=patient,
                           fs_hz=signal.fs_hz, leads=signal.leads, gain=signal.gain, sample_type=sample_type,
                           block=self.block)
        self.client = DeviceClient(self.hello)
        self.stats = DeviceStats()
        self._more = asyncio.Event()
        self.ws: websockets.ClientConnection | None = None
        #: monotonic time at which each block (by seq) was produced, for latency figures
        self.produced_at: list[float] = []

    @property
    def recording_id(self) -> str:
        return self.hello.recording

    @property
    def connect_url(self) -> str:
        """The socket URL with ``?recording=``: load balancers route by it, so a stream's
        reconnects and its readers land on the same node (docs/deploy.md)."""
        separator = "&" if "?" in self.url else "?"
        return f"{self.url}{separator}recording={quote(self.recording_id, safe='')}"

    async def run(self) -> DeviceStats:
        producer = asyncio.create_task(self._produce())
        try:
            await self._connect_loop()
        finally:
            producer.cancel()
        return self.stats

    async def _produce(self) -> None:
        n = len(self._samples)
        started = time.monotonic()
        for first in range(0, n, self.block):
            due = started + (first / self.signal.fs_hz) / self.speed
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            block = self._samples[first:first + self.block]
            self.client.add_block(block.tobytes(), len(block))
            self.produced_at.append(time.monotonic())
            self.stats.samples += len(block)
            self._more.set()
        self.client.end()
        self._more.set()

    def drop_connection(self) -> None:
        """Cut the TCP connection abruptly (tests: a village 4G drop)."""
        if self.ws is not None and self.ws.transport is not None:
            self.ws.transport.abort()

    async def _connect_loop(self) -> None:
        backoff_s = 0.05
        while not self.client.finished:
            try:
                async with websockets.connect(self.connect_url, max_size=MAX_FRAME_BYTES, compression=None,
                                              open_timeout=5, ping_interval=20) as ws:
                    self.ws = ws
                    self.stats.connections += 1
                    await self._session(ws)
                    backoff_s = 0.05
            except DeviceRejected:
                raise
            except (ConnectionClosed, OSError, InvalidHandshake, InvalidStatus, asyncio.TimeoutError) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                if code in FATAL_CODES:
                    reason = getattr(getattr(exc, "rcvd", None), "reason", "")
                    raise DeviceRejected(code, reason) from None
                log.info("device connection lost (%s); resuming", type(exc).__name__)
            finally:
                self.ws = None
                self.client.connection_lost()
            if not self.client.finished:
                await asyncio.sleep(backoff_s * (0.5 + random.random()))
                backoff_s = min(backoff_s * 2, 2.0)

    async def _session(self, ws: websockets.ClientConnection) -> None:
        await ws.send(self.client.hello_message())
        self._handle(await asyncio.wait_for(ws.recv(), timeout=10))
        self.stats.resumes.append(self.client.acked_seq + 1)
        self._more.set()  # resend from the resume point now, even if nothing new is produced
        sender = asyncio.create_task(self._send_loop(ws))
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self._handle(message)
                if self.client.finished:
                    break
        finally:
            sender.cancel()
        if not self.client.finished:
            raise ConnectionClosed(None, None)

    def _handle(self, message: bytes | str) -> None:
        if not isinstance(message, bytes):
            return
        for event in self.client.receive(message, now=time.monotonic()):
            if isinstance(event, Acked):
                self.stats.ack_latencies_s.extend(event.latencies_s)
                self._more.set()  # the window may have opened
            elif isinstance(event, Rejected):
                if event.code in FATAL_CODES:
                    raise DeviceRejected(event.code, event.reason)

    async def _send_loop(self, ws: websockets.ClientConnection) -> None:
        while True:
            await self._more.wait()
            self._more.clear()
            for message in self.client.data_to_send(now=time.monotonic()):
                await ws.send(message)
                self.stats.frames += 1


def default_demo_record() -> str:
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "shared" / "data" / "mitdb" / "101", here / "shared" / "data" / "mitdb" / "101"):
        if candidate.with_suffix(".hea").exists():
            return str(candidate)
    return ""
