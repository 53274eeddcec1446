"""A light fleet of devices and readers in one process: one ticker for all devices.

The ``teleconsult device`` simulator runs one task per device and uses the ``websockets``
library (an independent implementation, for correctness tests). A load generator must
cost far less per frame than the server it measures, so here one ticker produces a block
for every streaming device per frame period over aiohttp's client sockets, with the same
sans-I/O :class:`~streaming.protocol.DeviceClient`. Each tick it also follows the load
profile: device slots join (connect, hello, welcome, then their readers connect) and
leave (``end``, final ack) as the profile rises and falls.

Calling order: ``Fleet(plan, source, session, emit)``, then ``await fleet.run(t0)``
(returns once every recording has finished or the drain time is up; every closed
one-second window has gone to ``emit``), then ``await fleet.verify()``, then
``fleet.result()``.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp
import msgpack

from loadtest.ecg_source import EcgSource
from loadtest.metrics import DeviceOutcome, Window, WorkerResult
from loadtest.plan import WorkerPlan, device_node, reader_node, ws_url
from loadtest.verify import VerifyError, compare, fetch_stored
from streaming.frames import End, Hello, encode
from streaming.protocol import Acked, DeviceClient, Rejected, Welcomed


class DeviceState(enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    ENDING = "ending"  # end queued; waiting for the final ack
    DONE = "done"  # finished, failed or given up


@dataclass(eq=False)
class SimReader:
    node: int
    received: set[int] = field(default_factory=set)
    next_seq: int = -1  # next seq expected, for counting jumps live
    gap_frames: int = 0
    ended: bool = False
    connected: bool = False
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class SimDevice:
    slot: int
    offset: int  # first block of the source this device streams
    client: DeviceClient
    outcome: DeviceOutcome
    state: DeviceState = DeviceState.CONNECTING
    ws: aiohttp.ClientWebSocketResponse | None = None
    produced_at: list[float] = field(default_factory=list)
    readers: list[SimReader] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    end_requested: bool = False


class Fleet:
    def __init__(self, plan: WorkerPlan, source: EcgSource, session: aiohttp.ClientSession,
                 emit: Callable[[Window], None]) -> None:
        self.plan = plan
        self.profile = plan.as_profile()
        self.source = source
        self.session = session
        self.emit = emit
        self.window = Window(0, plan.window_s)
        self.active: dict[int, SimDevice] = {}  # slot -> its current device
        self.finished: list[SimDevice] = []
        self.generation: Counter[int] = Counter()
        self.held: set[int] = set()  # slots whose device failed: not restarted until the profile drops below them
        self.error_kinds: Counter[str] = Counter()
        self.t0 = 0.0

    # -- errors and windows ----------------------------------------------------------

    def _error(self, kind: str, device: SimDevice) -> None:
        self.error_kinds[kind] += 1
        self.window.errors += 1
        device.outcome.errors.append(kind)

    def _close_window(self) -> None:
        all_devices = list(self.active.values())
        self.window.devices_streaming = sum(1 for d in all_devices if d.state is DeviceState.STREAMING)
        self.window.readers_connected = sum(1 for d in all_devices for r in d.readers if r.connected)
        self.emit(self.window)
        self.window = Window(self.window.index + 1, self.plan.window_s)

    def _roll(self, t_s: float) -> None:
        while t_s >= (self.window.index + 1) * self.plan.window_s:
            self._close_window()

    # -- the ticker --------------------------------------------------------------------

    async def run(self, t0: float) -> None:
        """Follow the profile from monotonic time ``t0`` until every recording is done."""
        self.t0 = t0
        period_s = self.source.block / self.source.fs_hz
        duration_s = self.profile.duration_s
        deadline = float("inf")
        tick = 0
        while True:
            delay = t0 + tick * period_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tick += 1
            now = time.monotonic()
            t_s = max(0.0, now - t0)
            self._roll(t_s)
            if t_s < duration_s:
                self._follow_profile(t_s)
            elif deadline == float("inf"):
                for device in self.active.values():
                    self._request_end(device)
                deadline = now + self.plan.drain_s
            self._produce(now)
            sending = [d for d in self.active.values() if d.ws is not None and d.state in
                       (DeviceState.STREAMING, DeviceState.ENDING)]
            if sending:
                await asyncio.gather(*(self._flush(d, now) for d in sending))
            self._retire()
            if deadline != float("inf") and (not self.active or now > deadline):
                break
        await self._give_up()
        self._close_window()

    def _follow_profile(self, t_s: float) -> None:
        target = self.profile.devices_at(t_s)
        for slot in self.plan.slots:
            device = self.active.get(slot)
            if slot >= target:
                self.held.discard(slot)
                if device is not None:
                    self._request_end(device)
            elif device is None and slot not in self.held:
                self._start(slot, t_s)

    def _start(self, slot: int, t_s: float) -> None:
        generation = self.generation[slot]
        self.generation[slot] += 1
        recording = self.plan.recording_id(slot, generation)
        n_nodes = len(self.plan.nodes)
        hello = Hello(token=self.plan.tokens[slot], recording=recording, patient="", fs_hz=self.source.fs_hz,
                      leads=self.source.leads, gain=self.source.gain, sample_type="int16", block=self.source.block)
        outcome = DeviceOutcome(slot, recording, device_node(slot, n_nodes),
                                [reader_node(slot, n_nodes, self.plan.readers_on)] * self.plan.readers_per_device,
                                round(t_s, 3))
        device = SimDevice(slot, (slot * 997 + generation * 311) % self.source.n_blocks, DeviceClient(hello),
                           outcome)
        self.active[slot] = device
        device.task = asyncio.create_task(self._device_main(device))

    def _request_end(self, device: SimDevice) -> None:
        if device.end_requested:
            return
        device.end_requested = True
        if device.state is DeviceState.STREAMING:
            device.client.end()
            device.state = DeviceState.ENDING
            device.outcome.ended_s = round(time.monotonic() - self.t0, 3)

    def _produce(self, now: float) -> None:
        for device in self.active.values():
            if device.state is DeviceState.STREAMING:
                k = device.client.n_frames
                device.client.add_block(self.source.block_bytes(device.offset, k), self.source.block)
                device.produced_at.append(now)

    async def _flush(self, device: SimDevice, now: float) -> None:
        assert device.ws is not None
        messages = device.client.data_to_send(now)
        end_message = encode(End(device.client.n_frames)) if device.client.ended else None
        try:
            for message in messages:
                await device.ws.send_bytes(message)
                if message != end_message:
                    self.window.frames_sent += 1
                    device.outcome.frames_sent += 1
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            if device.state is not DeviceState.DONE:
                self._error(f"device send {type(exc).__name__}", device)
                device.state = DeviceState.DONE

    def _retire(self) -> None:
        for slot, device in list(self.active.items()):
            if device.state is DeviceState.DONE and all(r.task is None or r.task.done() for r in device.readers):
                if device.task is None or device.task.done():
                    del self.active[slot]
                    self.finished.append(device)
                    if not device.end_requested:  # it failed on its own: one error, not one per tick
                        self.held.add(slot)

    async def _give_up(self) -> None:
        """After the drain time: whatever has not finished is an error, and is stopped."""
        for device in list(self.active.values()):
            if device.state is not DeviceState.DONE:
                self._error("device end not acknowledged", device)
                device.state = DeviceState.DONE
            for reader in device.readers:
                if reader.task is not None and not reader.task.done():
                    self._error("reader end not received", device)
                    reader.task.cancel()
            if device.task is not None and not device.task.done():
                device.task.cancel()
        tasks = [t for d in self.active.values() for t in [d.task, *(r.task for r in d.readers)] if t is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        self.finished += self.active.values()
        self.active.clear()

    # -- one device ------------------------------------------------------------------------

    async def _device_main(self, device: SimDevice) -> None:
        url = ws_url(self.plan.nodes[device.outcome.node]) + "/ws/device"
        started = time.monotonic()
        try:
            device.ws = ws = await self.session.ws_connect(url, max_msg_size=1 << 20, compress=0, autoping=True)
            await ws.send_bytes(device.client.hello_message())
            msg = await ws.receive(timeout=60)
            if msg.type != aiohttp.WSMsgType.BINARY:
                self._error(f"device close {ws.close_code} before welcome", device)
                return
            events = device.client.receive(msg.data, now=time.monotonic())
            if not any(isinstance(e, Welcomed) for e in events):
                self._error(self._rejection(events), device)
                return
            device.state = DeviceState.STREAMING
            device.outcome.connect_ms = round((time.monotonic() - started) * 1000, 1)
            if device.end_requested:  # the profile fell while this device was connecting
                device.end_requested = False
                self._request_end(device)
            for node in device.outcome.reader_nodes:
                reader = SimReader(node)
                reader.task = asyncio.create_task(self._reader_main(device, reader))
                device.readers.append(reader)
            await self._receive_acks(device, ws)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # counted, never fatal to the run
            self._error(f"device {type(exc).__name__}", device)
        finally:
            device.state = DeviceState.DONE
            device.outcome.frames_acked = device.client.acked_seq + 1
            device.outcome.samples_acked = device.outcome.frames_acked * self.source.block
            device.outcome.samples_sent = device.outcome.frames_sent * self.source.block
            if device.ws is not None and not device.ws.closed:
                await device.ws.close()

    @staticmethod
    def _rejection(events: Sequence[object]) -> str:
        for event in events:
            if isinstance(event, Rejected):
                return f"device error {event.code}"
        return "device no welcome"

    async def _receive_acks(self, device: SimDevice, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY:
                break
            before = device.client.acked_seq
            for event in device.client.receive(msg.data, now=time.monotonic()):
                if isinstance(event, Acked):
                    self.window.ack.record_many_s(event.latencies_s)
                    self.window.frames_acked += max(0, device.client.acked_seq - before)
                elif isinstance(event, Rejected):
                    self._error(f"device error {event.code}", device)
            if device.client.finished:
                return
        if not device.client.finished:
            self._error(f"device close {ws.close_code}", device)

    # -- one reader ------------------------------------------------------------------------

    async def _reader_main(self, device: SimDevice, reader: SimReader) -> None:
        url = (ws_url(self.plan.nodes[reader.node]) +
               f"/ws/reader?recording={device.outcome.recording}&backlog_s=0")
        headers = {"Authorization": f"Bearer {self.plan.session_token}"}
        produced = device.produced_at
        try:
            async with self.session.ws_connect(url, headers=headers, max_msg_size=1 << 22, compress=0) as ws:
                reader.connected = True
                async for msg in ws:
                    if msg.type != aiohttp.WSMsgType.BINARY:
                        break
                    frame = msgpack.unpackb(msg.data)
                    kind = frame.get("t")
                    if kind == "samples":
                        self._on_samples(reader, int(frame["seq"]), produced)
                    elif kind == "gap":
                        reader.gap_frames += int(frame["dropped"])
                        self.window.reader_gap_frames += int(frame["dropped"])
                    elif kind == "end":
                        reader.ended = True
                        break
                if not reader.ended:
                    problem = ws.exception()
                    self._error(f"reader close {ws.close_code}" +
                                (f" ({type(problem).__name__}: {str(problem)[:60]})" if problem else ""), device)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._error(f"reader {type(exc).__name__}", device)
        finally:
            reader.connected = False

    def _on_samples(self, reader: SimReader, seq: int, produced: list[float]) -> None:
        if seq in reader.received:
            return
        now = time.monotonic()
        reader.received.add(seq)
        window = self.window
        window.reader_frames += 1
        if seq < len(produced):
            window.reader.record_s(now - produced[seq])
        if reader.next_seq >= 0 and seq > reader.next_seq:
            window.reader_frames_missed += seq - reader.next_seq
        if seq >= reader.next_seq:
            reader.next_seq = seq + 1

    # -- after the run --------------------------------------------------------------------

    async def verify(self, concurrency: int = 4) -> None:
        """Fetch every recording back from the server and fill in the outcomes' loss figures."""
        gate = asyncio.Semaphore(concurrency)

        async def one(device: SimDevice) -> None:
            out = device.outcome
            for reader in device.readers:
                first = min(reader.received) if reader.received else 0
                expected = max(0, out.frames_sent - first)
                got = sum(1 for s in reader.received if s < out.frames_sent)
                out.reader_frames_expected += expected
                out.reader_frames_missed += max(0, expected - got)
                out.reader_gap_frames += reader.gap_frames
            if out.frames_sent == 0:
                out.samples_stored = 0
                return
            sent = self.source.expected(device.offset, out.frames_sent)
            async with gate:
                try:
                    stored = await fetch_stored(self.session, self.plan.nodes[out.node], self.plan.session_token,
                                                out.recording)
                except VerifyError as exc:
                    self._error(str(exc), device)
                    return
            comparison = compare(sent, stored, len(self.source.leads))
            out.samples_stored = comparison.samples_stored
            out.lost_samples = comparison.lost_samples

        await asyncio.gather(*(one(d) for d in self.finished))

    def result(self) -> WorkerResult:
        devices = sorted((d.outcome for d in self.finished), key=lambda o: (o.slot, o.started_s))
        return WorkerResult(self.plan.worker, devices, self.error_kinds)


__all__ = ["Fleet", "SimDevice", "SimReader", "DeviceState"]
