"""Write-ahead journal: one ``fdatasync`` makes every stream's new frames durable at once.

Syncing each recording's own file costs one ``fdatasync`` per stream per group commit,
which does not scale to hundreds of devices. Instead every accepted frame is appended to
this node's journal *and* to its recording file (page cache only). A group commit syncs
only the journal; the device is then acked. Every ``checkpoint_s`` the journal rotates to a
new segment, the recording files written since the last checkpoint are synced, and the
older segments are deleted. After a crash, :func:`recover` replays the segments into the
recording files (idempotently: frames a file already has are skipped).

Record layout: ``<HIQQII`` (id length, n samples, seq, first sample index, payload length,
CRC-32 of id + payload), then the recording id (UTF-8), then the payload.

Each journal lives in ``<data_dir>/journal/<node>/`` and is locked (``flock``) by its
node while it runs, so a node recovers only journals whose node is gone.
"""

from __future__ import annotations

import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_RECORD = struct.Struct("<HIQQII")
SEGMENT_SUFFIX = ".wal"


class Journal:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        existing = sorted(directory.glob(f"*{SEGMENT_SUFFIX}"))
        self._number = int(existing[-1].stem) + 1 if existing else 1
        self._fd = self._open_segment(self._number)
        self.bytes_written = 0

    def _open_segment(self, number: int) -> int:
        return os.open(self.directory / f"{number:010d}{SEGMENT_SUFFIX}",
                       os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, recording_id: str, seq: int, i0: int, n: int, d: bytes) -> None:
        rid = recording_id.encode("utf-8")
        crc = zlib.crc32(d, zlib.crc32(rid))
        os.write(self._fd, _RECORD.pack(len(rid), n, seq, i0, len(d), crc) + rid + d)
        self.bytes_written += _RECORD.size + len(rid) + len(d)

    def sync(self) -> None:
        """Make everything appended so far durable (blocking: call it on a worker thread)."""
        os.fdatasync(self._fd)

    def rotate(self) -> tuple[int, int]:
        """Start a new segment; returns (old segment number, its fd) for :meth:`retire`."""
        old = (self._number, self._fd)
        self._number += 1
        self._fd = self._open_segment(self._number)
        return old

    def retire(self, old: tuple[int, int]) -> None:
        """Once the recording files covering segment ``old`` are synced, delete it and older ones."""
        number, fd = old
        os.close(fd)
        for path in self.directory.glob(f"*{SEGMENT_SUFFIX}"):
            if int(path.stem) <= number:
                path.unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)


def read_segment(path: Path) -> list[tuple[str, int, int, int, bytes]]:
    """Valid records of one segment, stopping at a torn or corrupt tail."""
    data = path.read_bytes()
    out = []
    offset = 0
    while offset + _RECORD.size <= len(data):
        id_len, n, seq, i0, length, crc = _RECORD.unpack_from(data, offset)
        start = offset + _RECORD.size
        end = start + id_len + length
        if end > len(data):
            break
        rid, payload = data[start:start + id_len], data[start + id_len:end]
        if zlib.crc32(payload, zlib.crc32(rid)) != crc:
            break
        out.append((rid.decode("utf-8"), seq, i0, n, payload))
        offset = end
    return out


def recover(journal_root: Path, apply: Callable[[str, int, int, int, bytes], None], sync_all: Callable[[], None]) -> int:
    """Replay every journal whose node is not running; returns the number of records replayed.

    ``apply`` appends a frame to its recording if the recording does not have it yet;
    ``sync_all`` makes the recording files durable before the journal is deleted.
    """
    replayed = 0
    if not journal_root.exists():
        return 0
    for directory in sorted(p for p in journal_root.iterdir() if p.is_dir()):
        lock_fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(lock_fd)
            continue  # a live node owns it
        try:
            segments = sorted(directory.glob(f"*{SEGMENT_SUFFIX}"))
            for segment in segments:
                for record in read_segment(segment):
                    apply(*record)
                    replayed += 1
            sync_all()
            for segment in segments:
                segment.unlink()
            log.info("recovered journal %s: %d records", directory.name, replayed)
        finally:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)
            os.close(lock_fd)
        (directory / "lock").unlink(missing_ok=True)
        try:
            directory.rmdir()
        except OSError:
            pass
    return replayed
