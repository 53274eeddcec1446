"""A reader whose live items skip frames (the bus lost them) gets them back from the archive."""

from __future__ import annotations

import numpy as np

from streaming.frames import decode_reader_frame
from streaming.fanout import ReaderQueue
from teleconsult.bus import BEATS, SAMPLES, BusItem
from teleconsult.services.readers import MAX_FILL_FRAMES, ReaderSession
from teleconsult.storage.sql import Recording

BLOCK = 20
LEADS = ("I", "II")


def recording() -> Recording:
    return Recording(id="r1", org_id=1, county_id=1, device_id=1, patient_ref="", fs_hz=500.0, leads=LEADS,
                     gain=200.0, sample_type="int16", block=BLOCK, status="live", connected=True, node="a",
                     started_at=0.0, ended_at=None, n_samples=0)


def frame(seq: int) -> BusItem:
    data = np.full((BLOCK, len(LEADS)), seq, dtype="<i2").tobytes()
    return BusItem(SAMPLES, seq, seq * BLOCK, BLOCK, data)


class Archive:
    """Frames 0..stored-1 and beats as an archive holds them."""

    def __init__(self, stored: int, beats: list[int]) -> None:
        self.stored = stored
        self.beats = np.array(beats, dtype=np.int64)
        self.calls: list[tuple[int, int]] = []

    def fill(self, first: int, last: int) -> tuple[list[BusItem], np.ndarray]:
        self.calls.append((first, last))
        return [frame(s) for s in range(first, min(last, self.stored - 1) + 1)], self.beats


def live_session(archive: Archive, queue_frames: int = 64) -> ReaderSession:
    session = ReaderSession(recording(), decimation=1, fill=archive.fill,
                            queue=ReaderQueue(max_display_frames=queue_frames))
    session.take_held()
    session.go_live()
    return session


def sent(session: ReaderSession) -> list[dict[str, object]]:
    out = []
    while (message := session.queue.pop()) is not None:
        out.append(decode_reader_frame(message))
    return out


def test_frames_the_bus_lost_are_read_back_from_the_archive_in_order() -> None:
    archive = Archive(stored=10, beats=[])
    session = live_session(archive)
    for seq in (0, 1, 2, 6, 7):
        session.on_item(frame(seq))
    frames = sent(session)
    assert [f["seq"] for f in frames] == [0, 1, 2, 3, 4, 5, 6, 7]
    assert all(f["t"] == "samples" for f in frames)
    assert archive.calls == [(3, 5)]
    assert session.filled_frames == 3


def test_beats_lost_with_the_frames_are_sent_once_and_in_order() -> None:
    archive = Archive(stored=10, beats=[15, 70, 110, 150])
    session = live_session(archive)
    session.on_item(frame(0))
    session.on_item(frame(1))
    session.on_item(BusItem(BEATS, 1, beats=(15,), hr_bpm=70.0))
    # frames 2..5 and the beats item with 70 and 110 were lost on the bus
    session.on_item(frame(6))
    session.on_item(BusItem(BEATS, 7, beats=(110, 150), hr_bpm=71.0))
    beats: list[int] = []
    for f in sent(session):
        if f["t"] == "beats":
            beats.extend(f["i"])  # type: ignore[arg-type]
    assert beats == [15, 70, 110, 150]


def test_what_the_archive_does_not_hold_yet_is_announced_as_a_gap() -> None:
    archive = Archive(stored=4, beats=[])  # frames 4 and 5 never reached the archive
    session = live_session(archive)
    for seq in (0, 1, 6):
        session.on_item(frame(seq))
    frames = sent(session)
    kinds = [(f["t"], f.get("seq", f.get("from_seq"))) for f in frames]
    assert kinds == [("samples", 0), ("samples", 1), ("samples", 2), ("samples", 3), ("gap", 4), ("samples", 6)]
    gap = frames[4]
    assert (gap["from_seq"], gap["to_seq"], gap["dropped"]) == (4, 5, 2)


def test_a_long_gap_is_filled_only_for_its_most_recent_frames() -> None:
    last = MAX_FILL_FRAMES + 100
    archive = Archive(stored=last + 1, beats=[])
    session = live_session(archive, queue_frames=10 * MAX_FILL_FRAMES)
    session.on_item(frame(0))
    session.on_item(frame(last))
    frames = sent(session)
    assert frames[1]["t"] == "gap" and frames[1]["from_seq"] == 1 and frames[1]["to_seq"] == 99
    assert [f["seq"] for f in frames[2:]] == list(range(100, last + 1))


def test_a_fill_never_overflows_the_readers_own_queue() -> None:
    archive = Archive(stored=200, beats=[])
    session = live_session(archive, queue_frames=32)
    session.on_item(frame(0))
    session.on_item(frame(150))
    assert archive.calls == [(120, 149)]
    frames = sent(session)
    assert session.queue.dropped_total == 0
    assert frames[1]["t"] == "gap" and (frames[1]["from_seq"], frames[1]["to_seq"]) == (1, 119)


def test_a_reader_owed_everything_from_the_start_gets_frames_the_archive_lacked_at_join() -> None:
    # joined from sample 0 while the archive was empty (a dead node's frames not replayed
    # yet); the first live frame is 40: frames 0..39 are owed and read back
    archive = Archive(stored=41, beats=[])
    session = live_session(archive)
    session.anchored = True
    session.on_item(frame(40))
    assert [f["seq"] for f in sent(session)] == list(range(41))
