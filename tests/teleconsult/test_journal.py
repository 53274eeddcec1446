"""The write-ahead journal: what was acked survives a crash even if the recording file lost it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from teleconsult.storage.archive_files import FileArchive, RecordingBusy
from teleconsult.storage.journal import Journal, read_segment, recover
from tests.teleconsult.conftest import block


def replay_into(archive: FileArchive, journal_root: Path) -> int:
    writers = {}

    def apply(rid: str, seq: int, i0: int, n: int, d: bytes) -> None:
        if rid not in writers:
            writers[rid] = archive.open_writer(rid)
        writer = writers[rid]
        if seq == writer.n_frames:
            writer.append(seq, i0, n, d)

    def sync_all() -> None:
        for writer in writers.values():
            writer.sync()
            writer.close()

    return recover(journal_root, apply, sync_all)


def test_records_read_back_and_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "node-1")
    for seq in range(3):
        journal.append("rec-journal-1", seq, seq * 20, 20, block(seq))
    journal.sync()
    journal.close()
    segment = next((tmp_path / "node-1").glob("*.wal"))
    with open(segment, "ab") as f:
        f.write(b"\x0d\x00\x14\x00\x00")  # a crash in the middle of the next record
    records = read_segment(segment)
    assert [(r[0], r[1], r[4]) for r in records] == [("rec-journal-1", s, block(s)) for s in range(3)]


def test_a_crashed_nodes_journal_restores_frames_missing_from_the_recording(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    writer = archive.open_writer("rec-journal-1")
    journal = Journal(tmp_path / "journal" / "node-1")
    for seq in range(6):
        journal.append("rec-journal-1", seq, seq * 20, 20, block(seq))
        if seq < 3:  # the recording file only got half of them before the "crash"
            writer.append(seq, seq * 20, 20, block(seq))
    journal.sync()
    writer.close()
    journal.close()  # the node is gone: its lock is released
    assert replay_into(archive, tmp_path / "journal") == 6
    stored = archive.read_samples("rec-journal-1", 3, "int16")
    expected = np.frombuffer(b"".join(block(s) for s in range(6)), "<i2").reshape(-1, 3)
    assert np.array_equal(stored, expected)
    assert not list((tmp_path / "journal").glob("*/*.wal"))  # replayed, then deleted


def test_the_journal_of_a_running_node_is_left_alone(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    journal = Journal(tmp_path / "journal" / "node-live")
    journal.append("rec-journal-2", 0, 0, 20, block(0))
    journal.sync()
    assert replay_into(archive, tmp_path / "journal") == 0
    assert list((tmp_path / "journal" / "node-live").glob("*.wal"))
    journal.close()


def test_checkpoint_retires_segments_once_recordings_are_synced(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "node-1")
    journal.append("rec-journal-3", 0, 0, 20, block(0))
    old = journal.rotate()
    journal.append("rec-journal-3", 1, 20, 20, block(1))
    journal.retire(old)
    remaining = list((tmp_path / "node-1").glob("*.wal"))
    assert len(remaining) == 1 and [r[1] for r in read_segment(remaining[0])] == [1]
    journal.close()


def test_a_recording_has_one_writer_at_a_time(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    first = archive.open_writer("rec-single-writer")
    try:
        archive.open_writer("rec-single-writer")
        raise AssertionError("a second writer was allowed")
    except RecordingBusy:
        pass
    first.close()
    archive.open_writer("rec-single-writer").close()  # free again once the first is closed
