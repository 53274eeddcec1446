"""Ingest service: device hello → recording; frames → archive, live QRS, bus; group commit → acks.

No aiohttp here: the socket adapter (http/ingest_ws.py) hands over decoded protocol
events and gets told when to send (``Connection.wake``).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streaming.errors import CloseCode, ProtocolViolation
from streaming.frames import Hello
from streaming.protocol import IngestServer
from teleconsult import auth
from teleconsult.bus import BEATS, END, SAMPLES, STATUS, Bus, BusItem
from teleconsult.storage.archive_files import ArchiveWriter, FileArchive, RecordingBusy
from teleconsult.storage.journal import Journal, recover
from teleconsult.storage.sql import AsyncDatabase, Conflict, Device, Recording

if TYPE_CHECKING:  # dsp pulls in scipy.signal (~1 s): imported on first use, prewarmed after start
    from dsp.qrs import StreamingQRSDetector
    from dsp.rhythm import RhythmMonitor

log = logging.getLogger(__name__)

#: Signal pushed to the live detector at once (amortises the per-call cost of scipy).
DETECT_CHUNK_S = 0.2
#: The live detector runs on one lead, the first of these the device sends (lead II, as
#: on a bedside monitor; MLII on Holter/MIT-BIH): on MIT-BIH one good lead scores better
#: than fusing both (docs/dsp.md), and it costs 1/12 of a 12-lead detection.
DETECTION_LEADS = ("II", "MLII", "V5", "I", "aVF", "V4", "V6", "III", "V3", "V2", "V1", "aVR", "aVL")


def detection_lead(leads: tuple[str, ...]) -> int:
    """Index of the lead the live QRS detector uses."""
    for name in DETECTION_LEADS:
        if name in leads:
            return leads.index(name)
    return 0


def channel_for(recording_id: str) -> str:
    return recording_id


@dataclass
class IngestStats:
    """Plain counters, read by the metrics endpoint at scrape time (nothing on the hot path)."""

    frames: int = 0
    samples: int = 0
    beats: int = 0
    commits: int = 0
    commit_seconds_sum: float = 0.0
    commit_seconds_max: float = 0.0
    opened: int = 0
    closes: dict[int, int] = field(default_factory=dict)  # close code -> count

    def closed(self, code: int) -> None:
        self.closes[code] = self.closes.get(code, 0) + 1


@dataclass(eq=False)
class Connection:
    """One device socket as the service sees it: its protocol state and a wake-up for its writer."""

    proto: IngestServer
    remote: str = ""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    stream: "LiveStream | None" = None


@dataclass(eq=False)
class LiveStream:
    recording: Recording
    writer: ArchiveWriter
    detector: "StreamingQRSDetector"
    rhythm: "RhythmMonitor"
    dtype: np.dtype
    retain_items: int
    lead: int = 0
    connection: Connection | None = None
    pending: list[np.ndarray] = field(default_factory=list)
    pending_n: int = 0
    last_beat: int = -1
    last_seen: float = field(default_factory=time.monotonic)
    ended: bool = False

    @property
    def n_leads(self) -> int:
        return len(self.recording.leads)

    def heart_rate_bpm(self) -> float | None:
        """Average heart rate over the last 10 s of beats (None before two beats)."""
        hr = self.rhythm.heart_rate_bpm
        return None if math.isnan(hr) else round(hr, 1)


class IngestService:
    def __init__(self, db: AsyncDatabase, archive: FileArchive, bus: Bus, node_id: str, journal_root: Path,
                 commit_interval_s: float = 0.02, backlog_s: float = 10.0, idle_timeout_s: float = 30.0,
                 checkpoint_s: float = 5.0) -> None:
        self.db = db
        self.archive = archive
        self.journal_root = journal_root
        self.journal: Journal | None = None
        self.checkpoint_s = checkpoint_s
        self._since_checkpoint: set[ArchiveWriter] = set()
        self._last_checkpoint = time.monotonic()
        self.bus = bus
        self.node_id = node_id
        self.commit_interval_s = commit_interval_s
        self.backlog_s = backlog_s
        self.idle_timeout_s = idle_timeout_s
        self.streams: dict[str, LiveStream] = {}
        self._dirty: set[LiveStream] = set()
        self._opening: dict[str, asyncio.Lock] = {}
        self._recovering = asyncio.Lock()
        self.stats = IngestStats()
        self._committer: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        replayed = await asyncio.to_thread(self._recover)
        if replayed:
            log.info("replayed %d journal records into the archive", replayed)
        self.journal = await asyncio.to_thread(Journal, self.journal_root / _safe_name(self.node_id))
        await self.db.call(self.db.db.mark_node_disconnected, self.node_id)
        self._committer = asyncio.create_task(self._commit_loop(), name="group-commit")
        self._janitor = asyncio.create_task(self._janitor_loop(), name="ingest-janitor")

    async def drain(self) -> None:
        """Shutdown: make everything durable, ack it, tell devices to reconnect elsewhere."""
        await self.commit()
        for stream in list(self.streams.values()):
            conn = stream.connection
            if conn is not None:
                conn.proto.fail(CloseCode.GOING_AWAY, "server shutting down; reconnect and resume")
                conn.wake.set()

    async def close(self) -> None:
        for task in (self._committer, self._janitor):
            if task is not None:
                task.cancel()
        await self.commit()
        for stream in list(self.streams.values()):
            await self._release(stream, shutting_down=True)
        if self.journal is not None:
            await self.checkpoint()
            self.journal.close()

    def _recover(self) -> int:
        """Replay journals of nodes that are gone (crashed) into the recording files."""
        writers: dict[str, ArchiveWriter] = {}

        busy: set[str] = set()

        def apply(recording_id: str, seq: int, i0: int, n: int, d: bytes) -> None:
            writer = writers.get(recording_id)
            if writer is None:
                if recording_id in busy:
                    return
                try:
                    writer = writers[recording_id] = self.archive.open_writer(recording_id)
                except RecordingBusy:  # a live process took the recording over
                    busy.add(recording_id)
                    log.warning("recording %s is open elsewhere; its journal records were not replayed", recording_id)
                    return
            if seq == writer.n_frames:
                writer.append(seq, i0, n, d)
            elif seq > writer.n_frames:
                log.error("journal has seq %d for %s but its file ends at %d", seq, recording_id, writer.n_frames)

        def sync_all() -> None:
            for writer in writers.values():
                writer.sync()
                writer.close()
            writers.clear()

        return recover(self.journal_root, apply, sync_all)

    # -- opening a stream ----------------------------------------------------------

    async def open(self, conn: Connection, hello: Hello) -> None:
        """Authenticate the hello and attach ``conn`` to its (new or resumed) recording.

        Raises:
            ProtocolViolation: token, organisation or stream layout not acceptable.
        """
        device: Device | None = await self.db.call(self.db.db.device_for_token, auth.token_hash(hello.token))
        problem = auth.device_problem(device, time.time())
        if problem is not None or device is None:
            await self._audit(f"device:{device.id if device else '?'}", "stream.open", hello.recording, "denied", conn.remote)
            raise ProtocolViolation(CloseCode.UNAUTHENTICATED, problem or "unknown device token")
        lock = self._opening.setdefault(hello.recording, asyncio.Lock())
        async with lock:
            stream = self.streams.get(hello.recording)
            recording = stream.recording if stream else await self.db.call(self.db.db.get_recording, hello.recording)
            if recording is None:
                recording = await self._create_recording(device, hello)
            elif not auth.may_stream_into(device, recording):
                await self._audit(f"device:{device.id}", "stream.open", hello.recording, "forbidden", conn.remote)
                raise ProtocolViolation(CloseCode.FORBIDDEN, "recording belongs to another organisation")
            if recording.status == "ended":
                raise ProtocolViolation(CloseCode.BAD_STATE, "recording already ended")
            if not _same_layout(recording, hello):
                raise ProtocolViolation(CloseCode.BAD_HELLO, "hello does not match the recording being resumed")
            if stream is None:
                try:
                    stream = await self._load_stream(recording)
                except RecordingBusy:
                    raise ProtocolViolation(CloseCode.INTERNAL_ERROR,
                                            "recording is still open on another server; retry shortly") from None
                self.streams[recording.id] = stream
                # the recording's lock keeps other nodes out: nothing of it to read back from the bus
                self.bus.set_sole_publisher(channel_for(recording.id), True)
            old = stream.connection
            if old is not None and old is not conn:
                old.proto.fail(CloseCode.SUPERSEDED, "recording resumed on a newer connection")
                old.stream = None
                old.wake.set()
            stream.connection = conn
            stream.last_seen = time.monotonic()
            conn.stream = stream
            conn.proto.accept(stream.writer.n_frames, stream.writer.n_samples)
            self._dirty.add(stream)  # ack what is already stored once it is synced
        await self.db.call(self.db.db.set_recording_connected, recording.id, True, self.node_id, stream.writer.n_samples)
        self.bus.publish(channel_for(recording.id), BusItem(STATUS, stream.writer.n_frames, connected=True),
                         stream.retain_items)
        self.stats.opened += 1
        await self._audit(f"device:{device.id}", "stream.open", recording.id, "ok", conn.remote)
        log.info("device %s streaming recording %s from seq %d", device.id, recording.id, stream.writer.n_frames)

    async def _create_recording(self, device: Device, hello: Hello) -> Recording:
        recording = Recording(
            id=hello.recording, org_id=device.org_id, county_id=device.county_id, device_id=device.id,
            patient_ref=hello.patient, fs_hz=hello.fs_hz, leads=hello.leads, gain=hello.gain,
            sample_type=hello.sample_type, block=hello.block, status="live", connected=True, node=self.node_id,
            started_at=time.time(), ended_at=None, n_samples=0)
        try:
            await self.db.call(self.db.db.create_recording, recording)
        except Conflict:  # created meanwhile by another node: re-check its owner
            existing = await self.db.call(self.db.db.get_recording, hello.recording)
            if existing is None or existing.org_id != device.org_id:
                raise ProtocolViolation(CloseCode.FORBIDDEN, "recording belongs to another organisation") from None
            return existing
        return recording

    async def _load_stream(self, recording: Recording) -> LiveStream:
        # Off the event loop: the first import of dsp (scipy.signal) takes about a second.
        await asyncio.to_thread(importlib.import_module, "dsp.rhythm")
        from dsp.qrs import StreamingQRSDetector
        from dsp.rhythm import RhythmMonitor

        # A node that died (its machine with it) may hold acked frames of this recording in
        # its journal that never reached the recording file: replay dead journals first.
        # (Serialised, so that a replay never finds a recording this node is opening.)
        async with self._recovering:
            replayed = await asyncio.to_thread(self._recover)
            if replayed:
                log.info("replayed %d journal records of a dead node before resuming %s", replayed, recording.id)
            writer = await asyncio.to_thread(self.archive.open_writer, recording.id)
        detector = StreamingQRSDetector(recording.fs_hz, n_leads=1)
        frames_per_s = recording.fs_hz / recording.block
        stream = LiveStream(recording=recording, writer=writer, detector=detector,
                            rhythm=RhythmMonitor.for_rate(recording.fs_hz), lead=detection_lead(recording.leads),
                            dtype=np.dtype("<i2" if recording.sample_type == "int16" else "<i4"),
                            retain_items=max(16, int(2 * self.backlog_s * frames_per_s) + 8))
        if writer.n_frames:
            # Resumed after a restart: rebuild the detector's state from the stored signal
            # (deterministic: same beats as an uninterrupted run) and rewrite the beats file.
            stored = await asyncio.to_thread(self.archive.read_samples, recording.id, len(recording.leads),
                                             recording.sample_type)
            beats = await asyncio.to_thread(detector.push, stored[:, stream.lead] / recording.gain)
            writer.replace_beats(beats)
            stream.rhythm.add_beats(beats)
            stream.last_beat = int(beats[-1]) if len(beats) else -1
        return stream

    # -- frames --------------------------------------------------------------------

    def on_frame(self, stream: LiveStream, seq: int, i0: int, n: int, d: bytes) -> None:
        """A validated in-order frame: journal + recording file (page cache), publish, detect. Never awaits."""
        assert self.journal is not None
        self.journal.append(stream.recording.id, seq, i0, n, d)
        self.stats.frames += 1
        self.stats.samples += n
        stream.writer.append(seq, i0, n, d)
        self._dirty.add(stream)
        self._since_checkpoint.add(stream.writer)
        stream.last_seen = time.monotonic()
        channel = channel_for(stream.recording.id)
        self.bus.publish(channel, BusItem(SAMPLES, seq, i0, n, d), stream.retain_items)
        block = np.frombuffer(d, dtype=stream.dtype).reshape(n, stream.n_leads)
        stream.pending.append(block[:, stream.lead])
        stream.pending_n += n
        if stream.pending_n >= DETECT_CHUNK_S * stream.recording.fs_hz:
            self._detect(stream, seq)

    def _detect(self, stream: LiveStream, seq: int, final: bool = False) -> None:
        beats = np.zeros(0, dtype=np.int64)
        if stream.pending:
            chunk = np.concatenate(stream.pending) / stream.recording.gain
            stream.pending, stream.pending_n = [], 0
            beats = stream.detector.push(chunk)
        if final:
            beats = np.concatenate([beats, stream.detector.flush()])
        beats = beats[beats > stream.last_beat]
        if len(beats):
            self.stats.beats += len(beats)
            stream.writer.append_beats(beats)
            stream.last_beat = int(beats[-1])
            stream.rhythm.add_beats(beats)
            item = BusItem(BEATS, seq, beats=tuple(int(b) for b in beats), hr_bpm=stream.heart_rate_bpm())
            self.bus.publish(channel_for(stream.recording.id), item, stream.retain_items)

    async def on_end(self, stream: LiveStream) -> None:
        self._detect(stream, stream.writer.n_frames - 1, final=True)
        stream.ended = True
        await self.commit()
        # The database says "ended" before the bus does: a reader joining meanwhile either
        # sees the status after subscribing or receives the END item (see ReaderService.join).
        await self.db.call(self.db.db.end_recording, stream.recording.id, stream.writer.n_samples)
        self.bus.publish(channel_for(stream.recording.id),
                         BusItem(END, stream.writer.n_frames, n=stream.writer.n_samples), stream.retain_items)
        await self._audit(f"device:{stream.recording.device_id}", "stream.end", stream.recording.id, "ok", "")

    async def detach(self, conn: Connection) -> None:
        """The socket closed: the recording is synced and let go at once, so that the device
        may resume it on any node (reopening costs a file scan and a re-detection: ms)."""
        stream = conn.stream
        conn.stream = None
        if stream is None or stream.connection is not conn:
            return
        stream.connection = None
        stream.last_seen = time.monotonic()
        if stream.ended:
            await self._release(stream)
        else:
            self.bus.publish(channel_for(stream.recording.id),
                             BusItem(STATUS, stream.writer.n_frames, connected=False), stream.retain_items)
            await self.db.call(self.db.db.set_recording_connected, stream.recording.id, False, self.node_id,
                               stream.writer.n_samples)
            await self._release(stream)

    async def _release(self, stream: LiveStream, shutting_down: bool = False) -> None:
        """Sync and close a recording (under its opening lock: a resume waits for it)."""
        rid = stream.recording.id
        async with self._opening.setdefault(rid, asyncio.Lock()):
            if self.streams.get(rid) is not stream or (stream.connection is not None and not shutting_down):
                return  # resumed meanwhile, or already released
            self.streams.pop(rid, None)
            self.bus.set_sole_publisher(channel_for(rid), False)
            self._dirty.discard(stream)
            await asyncio.to_thread(stream.writer.sync)
            stream.writer.close()

    # -- group commit --------------------------------------------------------------

    async def commit(self) -> None:
        """One journal fdatasync covers every stream written since the last commit; then ack."""
        dirty, self._dirty = self._dirty, set()
        covered = [(s, s.writer.n_frames - 1) for s in dirty if not s.writer.closed]
        if not covered or self.journal is None:
            return
        started = time.monotonic()
        await asyncio.to_thread(self.journal.sync)
        took_s = time.monotonic() - started
        self.stats.commits += 1
        self.stats.commit_seconds_sum += took_s
        self.stats.commit_seconds_max = max(self.stats.commit_seconds_max, took_s)
        for stream, seq in covered:
            conn = stream.connection
            if conn is not None:
                conn.proto.durable(seq)
                conn.wake.set()

    async def checkpoint(self) -> None:
        """Sync the recording files written since the last checkpoint, then drop old journal segments."""
        if self.journal is None:
            return
        old = self.journal.rotate()
        writers, self._since_checkpoint = self._since_checkpoint, set()
        self._last_checkpoint = time.monotonic()
        await asyncio.to_thread(_sync_writers, list(writers))
        self.journal.retire(old)
        counts = [(s.recording.id, s.writer.n_samples) for s in self.streams.values() if s.connection is not None]
        if counts:  # so that lists show how far live recordings have come
            await self.db.call(self.db.db.update_sample_counts, counts)

    async def _commit_loop(self) -> None:
        checkpointing: asyncio.Task[None] | None = None
        while True:
            started = time.monotonic()
            try:
                await self.commit()
                # Checkpoints sync many files: they run beside the commits, never in their way.
                if started - self._last_checkpoint >= self.checkpoint_s and (
                        checkpointing is None or checkpointing.done()):
                    if checkpointing is not None and checkpointing.exception() is not None:
                        log.error("checkpoint failed", exc_info=checkpointing.exception())
                    checkpointing = asyncio.create_task(self.checkpoint())
            except asyncio.CancelledError:
                if checkpointing is not None:
                    await asyncio.shield(checkpointing)
                raise
            except Exception:
                log.exception("group commit failed")
            await asyncio.sleep(max(0.0, self.commit_interval_s - (time.monotonic() - started)))

    async def _janitor_loop(self) -> None:
        while True:
            await asyncio.sleep(min(30.0, self.idle_timeout_s / 2))
            now = time.monotonic()
            for stream in list(self.streams.values()):
                if stream.connection is None and now - stream.last_seen > self.idle_timeout_s:
                    await self._release(stream)

    async def _audit(self, actor: str, action: str, obj: str, outcome: str, remote: str) -> None:
        await self.db.call(self.db.db.audit, actor, action, obj, outcome, remote)


def _same_layout(recording: Recording, hello: Hello) -> bool:
    return (recording.fs_hz == hello.fs_hz and recording.leads == hello.leads and recording.gain == hello.gain
            and recording.sample_type == hello.sample_type and recording.block == hello.block)


def _sync_writers(writers: list[ArchiveWriter]) -> None:
    for writer in writers:
        try:
            writer.sync()
        except (OSError, ValueError):  # released (closed, hence synced) meanwhile
            if not writer.closed:
                raise


def _safe_name(node_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in node_id)[:100] or "node"


__all__ = ["IngestService", "IngestStats", "Connection", "LiveStream", "channel_for", "detection_lead"]
