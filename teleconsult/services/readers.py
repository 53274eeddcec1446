"""Reader service: what a clinician watching a recording is sent, in order, without duplicates.

Joining: subscribe to the bus first (items are held back), then send the catch-up out of
the archive (the last ``backlog_s`` seconds, or everything from ``from_sample``), then
release the held items, skipping what the catch-up already covered. Each
reader has its own :class:`~streaming.fanout.ReaderQueue`; the bus callback only enqueues.

The bus is a hint and the archive the truth: when live items skip frames (an ingest node
died before it published its last frames, or Redis was down longer than the publisher
retries), the missing frames and beats are read back from the archive, in order, before
the item that revealed the gap; what the archive does not hold (yet) is announced to the
reader with a ``gap`` frame.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from streaming.fanout import ReaderQueue
from streaming.protocol import DEFAULT_WINDOW
from streaming.frames import Beats, DeviceStatus, EndOfRecording, Gap, Meta, Samples, encode
from teleconsult.bus import BEATS, END, SAMPLES, STATUS, Bus, BusItem, Subscription
from teleconsult.services.ingest import channel_for
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import AsyncDatabase, Recording


log = logging.getLogger(__name__)

DISPLAY_QUEUE_S = 10.0
MAX_FILL_FRAMES = 256  # a bus gap longer than this is announced, not filled

# (from_seq, to_seq) -> the stored frames in that range and every stored beat
ArchiveFill = Callable[[int, int], tuple[list[BusItem], np.ndarray]]


def decimation_for(fs_hz: float, max_fs_hz: float | None) -> int:
    if not max_fs_hz or max_fs_hz >= fs_hz:
        return 1
    return max(1, math.ceil(fs_hz / max_fs_hz))


def display_samples(item_seq: int, i0: int, n: int, data: bytes, dtype: np.dtype, n_leads: int, k: int) -> bytes:
    """Encode a reader ``samples`` frame keeping source samples whose index is a multiple of ``k``."""
    block = np.frombuffer(data, dtype=dtype).reshape(n, n_leads)
    first = (-i0) % k
    kept = block[first::k]
    return encode(Samples(seq=item_seq, i0=(i0 + first) // k, n=len(kept), d=kept.astype("<i4").tobytes()))


@dataclass(eq=False)
class ReaderSession:
    recording: Recording
    decimation: int
    queue: ReaderQueue = field(default_factory=ReaderQueue)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    last_seq: int = -1
    last_beat: int = -1
    ended: bool = False
    _held: list[BusItem] | None = field(default_factory=list)
    catchup: list[bytes] = field(default_factory=list)
    subscription: Subscription | None = None
    fill: ArchiveFill | None = None
    # True once the reader is owed every frame after ``last_seq`` (set by join): a first live
    # frame beyond it is then a gap even when nothing was sent yet (last_seq == -1).
    anchored: bool = False
    filled_frames: int = 0

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("<i2" if self.recording.sample_type == "int16" else "<i4")

    def meta(self) -> bytes:
        r = self.recording
        return encode(Meta(recording=r.id, fs_hz=r.fs_hz, display_fs_hz=r.fs_hz / self.decimation,
                           decimation=self.decimation, leads=r.leads, gain=r.gain, sample_type=r.sample_type,
                           status=r.status))

    def on_item(self, item: BusItem) -> None:
        """Bus callback: hold items until the catch-up is sent, then enqueue."""
        if self._held is not None:
            self._held.append(item)
            return
        self._enqueue(item)
        self.wake.set()

    def _render_all(self, item: BusItem) -> list[tuple[bool, int, bytes]]:
        """What to send for ``item``: first whatever the bus lost before it, then the item."""
        out: list[tuple[bool, int, bytes]] = []
        if item.kind == SAMPLES and (self.last_seq >= 0 or self.anchored) and item.seq > self.last_seq + 1:
            out.extend(self._fill_gap(self.last_seq + 1, item.seq - 1))
        rendered = self._render(item)
        if rendered is not None:
            out.append(rendered)
        return out

    def _fill_gap(self, from_seq: int, to_seq: int) -> list[tuple[bool, int, bytes]]:
        out: list[tuple[bool, int, bytes]] = []
        limit = MAX_FILL_FRAMES
        if self._held is None:  # live: what fits in the queue beside the item that revealed the gap
            limit = min(limit, self.queue.free_display_slots - 1)
        first = max(from_seq, to_seq - limit + 1)
        frames: list[BusItem] = []
        beats = np.zeros(0, dtype=np.int64)
        if self.fill is not None and first <= to_seq:
            frames, beats = self.fill(first, to_seq)
        stored = {f.seq: f for f in frames if first <= f.seq <= to_seq}
        missing_from: int | None = None
        for seq in range(from_seq, to_seq + 2):
            if seq in stored or seq == to_seq + 1:
                if missing_from is not None:  # announce a run the archive cannot give (yet)
                    out.append((False, missing_from, encode(Gap(dropped=seq - missing_from, from_seq=missing_from,
                                                                to_seq=seq - 1))))
                    missing_from = None
                if seq in stored:
                    rendered = self._render(stored[seq])
                    if rendered is not None:
                        out.append(rendered)
                        self.filled_frames += 1
            elif missing_from is None:
                missing_from = seq
        # Beats are confirmed in order, so the stored ones are a prefix of all beats: those
        # after the last one sent and before the end of what was filled are the ones lost.
        end_sample = (self.last_seq + 1) * self.recording.block
        lost = beats[(beats > self.last_beat) & (beats < end_sample)]
        # A gap the archive filled completely is not worth a warning (nothing was lost to the
        # reader); one it could not fill is.
        complete = len(stored) == to_seq - from_seq + 1
        (log.info if complete else log.warning)(
            "recording %s: the bus skipped frames %d..%d; %d read back from the archive (limit %d), %d beats",
            self.recording.id, from_seq, to_seq, len(stored), limit, len(lost))
        if len(lost):
            out.append((False, to_seq, encode(Beats(i=tuple(int(b) for b in lost), hr_bpm=None))))
            self.last_beat = int(lost[-1])
        return out

    def _render(self, item: BusItem) -> tuple[bool, int, bytes] | None:
        """(is_display_frame, seq, message) for an item not yet sent, else None."""
        if item.kind == SAMPLES:
            if item.seq <= self.last_seq:
                return None
            self.last_seq = item.seq
            key = ("samples", self.decimation)
            message = item.cache.get(key)
            if message is None:
                message = item.cache[key] = display_samples(item.seq, item.i0, item.n, item.data, self.dtype,
                                                            len(self.recording.leads), self.decimation)
            return True, item.seq, message
        if item.kind == BEATS:
            fresh = tuple(b for b in item.beats if b > self.last_beat)
            if not fresh:
                return None
            self.last_beat = fresh[-1]
            return False, item.seq, encode(Beats(i=fresh, hr_bpm=item.hr_bpm))
        if item.kind == STATUS and not self.ended:
            return False, item.seq, encode(DeviceStatus(connected=item.connected))
        if item.kind == END and not self.ended:
            self.ended = True
            return False, item.seq, encode(EndOfRecording(n_samples=item.n))
        return None

    def _enqueue(self, item: BusItem) -> None:
        for is_display, seq, message in self._render_all(item):
            if is_display:
                self.queue.put_samples(seq, message)
            else:
                self.queue.put_event(message)

    def catch_up(self, item: BusItem) -> None:
        """Add an item to the catch-up sent before the live stream (never dropped)."""
        self.catchup.extend(message for _, _, message in self._render_all(item))

    def take_held(self) -> list[bytes]:
        """Messages for the items that arrived while the catch-up was being sent.

        They belong to the catch-up (never dropped). Call until it returns nothing, then
        :meth:`go_live` without awaiting in between.
        """
        held, self._held = self._held or [], []
        return [message for item in held for _, _, message in self._render_all(item)]

    def go_live(self) -> None:
        """From now on live items flow into the bounded queue."""
        assert not self._held, "take_held() first"
        self._held = None
        self.wake.set()


@dataclass
class ReaderStats:
    """Counters for the metrics endpoint, updated as readers leave; live ones are summed at scrape."""

    joined: int = 0
    display_frames_dropped: int = 0
    frames_filled_from_archive: int = 0


class ReaderService:
    def __init__(self, db: AsyncDatabase, bus: Bus, archive: FileArchive, backlog_s: float = 10.0) -> None:
        self.db = db
        self.bus = bus
        self.archive = archive
        self.backlog_s = backlog_s
        self.sessions: set[ReaderSession] = set()
        self.stats = ReaderStats()

    def totals(self) -> ReaderStats:
        """Counters including the readers still connected."""
        return ReaderStats(
            joined=self.stats.joined,
            display_frames_dropped=self.stats.display_frames_dropped + sum(
                s.queue.dropped_total for s in self.sessions),
            frames_filled_from_archive=self.stats.frames_filled_from_archive + sum(
                s.filled_frames for s in self.sessions))

    async def join(self, recording: Recording, max_fs_hz: float | None, backlog_s: float | None,
                   from_sample: int | None) -> ReaderSession:
        """Subscribe, then build the catch-up: from ``from_sample``, or the last ``backlog_s`` seconds.

        The archive is the truth, so the catch-up is read from it (it holds every frame
        before it is published); live items that overlap it are skipped by seq.
        """
        # The display queue holds DISPLAY_QUEUE_S of frames, and at least a device's whole
        # send window plus a bus-gap fill: enough to ride out a burst (a device resending
        # its backlog after a failover arrives in one go), bounded for a reader that has
        # stopped reading.
        frames_per_s = recording.fs_hz / recording.block
        capacity = max(DEFAULT_WINDOW + MAX_FILL_FRAMES, math.ceil(DISPLAY_QUEUE_S * frames_per_s))
        session = ReaderSession(recording, decimation_for(recording.fs_hz, max_fs_hz),
                                queue=ReaderQueue(max_display_frames=capacity))
        session.catchup.append(session.meta())
        session.fill = lambda first, last: self._read_range(recording, first, last)
        session.subscription = await self.bus.subscribe(channel_for(recording.id), session.on_item)
        self.sessions.add(session)
        self.stats.joined += 1
        try:
            await self._prepare_catch_up(session, recording, backlog_s, from_sample)
        except BaseException:
            self.leave(session)
            raise
        return session

    async def _prepare_catch_up(self, session: ReaderSession, recording: Recording, backlog_s: float | None,
                                from_sample: int | None) -> None:
        # Re-read the status now that we are subscribed: an end published before the
        # subscription is then seen here, one published after it arrives on the bus.
        fresh: Recording | None = await self.db.call(self.db.db.get_recording, recording.id)
        recording = session.recording = fresh or recording
        if from_sample is None:
            backlog_s = self.backlog_s if backlog_s is None else max(0.0, min(backlog_s, 60.0))
            n_stored = await asyncio.to_thread(self.archive.count_samples, recording)
            from_sample = max(0, n_stored - int(backlog_s * recording.fs_hz))
        from_sample = max(0, from_sample)
        # Everything from here on is owed to the reader: a later live frame beyond what the
        # archive gave (it may lag, e.g. before a dead node's journal is replayed) is then
        # seen as a gap and filled.
        session.last_seq = from_sample // recording.block - 1
        session.last_beat = from_sample - 1
        session.anchored = True
        await asyncio.to_thread(self._catch_up_from_archive, session, from_sample)
        if recording.status == "live":
            session.catch_up(BusItem(STATUS, session.last_seq, connected=recording.connected))
        if recording.status == "ended":
            session.catch_up(BusItem(END, session.last_seq + 1, n=recording.n_samples))

    def _read_range(self, recording: Recording, first_seq: int, last_seq: int) -> tuple[list[BusItem], np.ndarray]:
        """Stored frames ``first_seq..last_seq`` and the stored beats (a bus gap; small, page cache)."""
        frames: list[BusItem] = []
        for frame in self.archive.read_frames(recording.id, first_seq, self.archive.record_bytes(recording)):
            if frame.seq > last_seq:
                break
            frames.append(BusItem(SAMPLES, frame.seq, frame.i0, frame.n, frame.d))
        return frames, self.archive.read_beats(recording.id)

    def _catch_up_from_archive(self, session: ReaderSession, from_sample: int) -> None:
        r = session.recording
        for frame in self.archive.read_frames(r.id, from_sample // r.block, self.archive.record_bytes(r)):
            session.catch_up(BusItem(SAMPLES, frame.seq, frame.i0, frame.n, frame.d))
        beats = self.archive.read_beats(r.id)
        beats = beats[(beats >= from_sample) & (beats < (session.last_seq + 1) * r.block)]
        if len(beats):
            from dsp.rhythm import average_heart_rate_bpm

            hr = average_heart_rate_bpm(beats, r.fs_hz)[-1]
            session.catch_up(BusItem(BEATS, session.last_seq, beats=tuple(int(b) for b in beats),
                                     hr_bpm=None if np.isnan(hr) else round(float(hr), 1)))

    def leave(self, session: ReaderSession) -> None:
        if session.subscription is not None:
            session.subscription.close()
        if session in self.sessions:
            self.sessions.discard(session)
            self.stats.display_frames_dropped += session.queue.dropped_total
            self.stats.frames_filled_from_archive += session.filled_frames
