"""A light fleet of devices and readers for load tests: one ticker for all devices.

The ``teleconsult device`` simulator runs one task per device and uses the ``websockets``
library (an independent implementation, for correctness tests). A load generator must
cost far less per frame than the server it measures, so here one task produces a block
for every device per 40 ms tick over aiohttp's client sockets, with the same sans-I/O
:class:`~streaming.protocol.DeviceClient`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import msgpack
import numpy as np

from streaming.frames import Hello
from streaming.protocol import Acked, DeviceClient, Rejected


@dataclass(eq=False)
class FleetDevice:
    client: DeviceClient
    samples: np.ndarray  # (n, n_leads) int16
    ws: aiohttp.ClientWebSocketResponse | None = None
    produced_at: list[float] = field(default_factory=list)
    ack_latencies_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    frames_sent: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def recording_id(self) -> str:
        return self.client.hello.recording


@dataclass(eq=False)
class FleetReader:
    recording_id: str
    arrival: dict[int, float] = field(default_factory=dict)
    gaps: int = 0
    ended: bool = False
    error: str = ""


async def _device_receiver(device: FleetDevice) -> None:
    assert device.ws is not None
    async for msg in device.ws:
        if msg.type != aiohttp.WSMsgType.BINARY:
            break
        for event in device.client.receive(msg.data, now=time.monotonic()):
            if isinstance(event, Acked):
                device.ack_latencies_s.extend(event.latencies_s)
            elif isinstance(event, Rejected):
                device.errors.append(f"{event.code} {event.reason}")
        if device.client.finished:
            break
    device.done.set()


async def _send(device: FleetDevice, now: float) -> None:
    assert device.ws is not None
    for message in device.client.data_to_send(now):
        await device.ws.send_bytes(message)
        device.frames_sent += 1


async def connect_devices(session: aiohttp.ClientSession, ws_url: str, tokens: list[str], signal: np.ndarray,
                          fs_hz: float, leads: tuple[str, ...], gain: float, duration_s: float,
                          block: int, prefix: str) -> list[FleetDevice]:
    n = int(duration_s * fs_hz)
    devices = []
    for k, token in enumerate(tokens):
        offset = (k * 997) % max(1, len(signal) - n)
        hello = Hello(token=token, recording=f"{prefix}-{k:05d}", patient="", fs_hz=fs_hz, leads=leads,
                      gain=gain, sample_type="int16", block=block)
        device = FleetDevice(DeviceClient(hello), np.ascontiguousarray(signal[offset:offset + n].astype("<i2")))
        device.ws = await session.ws_connect(f"{ws_url}/ws/device", max_msg_size=1 << 20, compress=0,
                                             autoping=True)
        await device.ws.send_bytes(device.client.hello_message())
        msg = await device.ws.receive()
        device.client.receive(msg.data)
        devices.append(device)
    return devices


async def run_devices(devices: list[FleetDevice], fs_hz: float, block: int) -> None:
    """Produce one block per device per frame period, in real time, then end every recording."""
    receivers = [asyncio.create_task(_device_receiver(d)) for d in devices]
    period_s = block / fs_hz
    n_blocks = max(len(d.samples) for d in devices) // block
    started = time.monotonic()
    for k in range(n_blocks):
        delay = started + k * period_s - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        now = time.monotonic()
        for device in devices:
            chunk = device.samples[k * block:(k + 1) * block]
            if len(chunk) == block:
                device.client.add_block(chunk.tobytes(), block)
                device.produced_at.append(now)
        await asyncio.gather(*(_send(d, now) for d in devices))
    for device in devices:
        device.client.end()
    await asyncio.gather(*(_send(d, time.monotonic()) for d in devices))
    done, pending = await asyncio.wait(receivers, timeout=60)
    for task in pending:  # an overloaded server that never acked the end: counted, not fatal
        task.cancel()
    for device in devices:
        if not device.client.finished:
            device.errors.append("recording not fully acknowledged within 60 s of its end")


async def run_reader(session: aiohttp.ClientSession, ws_url: str, token: str, reader: FleetReader,
                     stop: asyncio.Event) -> None:
    try:
        async with session.ws_connect(f"{ws_url}/ws/reader?recording={reader.recording_id}&backlog_s=0",
                                      headers={"Authorization": f"Bearer {token}"}, max_msg_size=1 << 22) as ws:
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), timeout=1.0)
                except asyncio.TimeoutError:
                    continue
                if msg.type != aiohttp.WSMsgType.BINARY:
                    break
                frame = msgpack.unpackb(msg.data)
                kind = frame.get("t")
                if kind == "samples":
                    reader.arrival.setdefault(frame["seq"], time.monotonic())
                elif kind == "gap":
                    reader.gaps += frame["dropped"]
                elif kind == "end":
                    reader.ended = True
                    break
    except Exception as exc:  # counted, not fatal to the run
        reader.error = f"{type(exc).__name__}: {exc}"
