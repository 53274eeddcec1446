"""Recordings as append-only files of checksummed frame records (the single-node archive).

Layout under ``<data_dir>/recordings/<id>/``:

``frames.bin``
    one record per data frame: a 28-byte header ``<QIIQI`` (seq, n samples, payload bytes,
    first sample index, CRC-32 of the payload) followed by the payload exactly as the device
    sent it (little-endian samples, sample-major). Records are contiguous from seq 0.
``beats.bin``
    little-endian int64 sample indices of the live detector's beats.

Durability: :meth:`ArchiveWriter.append` writes to the page cache; frames are acked once
the node's write-ahead journal (storage/journal.py) is synced, and the recording files are
synced at checkpoints. On open, a torn or corrupt tail record (crash mid-write) is cut
off; everything before it was written in order and is kept, and the journal replay adds
what is missing.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from streaming.frames import SAMPLE_BYTES

_HEADER = struct.Struct("<QIIQI")


class RecordingLayout(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def leads(self) -> tuple[str, ...]: ...
    @property
    def sample_type(self) -> str: ...
    @property
    def block(self) -> int: ...


@dataclass(frozen=True, slots=True)
class StoredFrame:
    seq: int
    i0: int
    n: int
    d: bytes


def _scan(path: Path) -> tuple[int, int, int]:
    """(valid byte length, number of frames, number of samples) of a frames file."""
    if not path.exists():
        return 0, 0, 0
    data = path.read_bytes()
    offset = frames = samples = 0
    while offset + _HEADER.size <= len(data):
        seq, n, length, i0, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if seq != frames or i0 != samples or end > len(data):
            break
        if zlib.crc32(data[offset + _HEADER.size:end]) != crc:
            break
        offset, frames, samples = end, frames + 1, samples + n
    return offset, frames, samples


class RecordingBusy(Exception):
    """Another process is writing this recording."""


class ArchiveWriter:
    """The one writer of a recording, enforced with an exclusive ``flock`` on its file.

    Raises:
        RecordingBusy: another process holds the recording open for writing.
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        frames_path = directory / "frames.bin"
        self._fd = os.open(frames_path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise RecordingBusy(directory.name) from None
        valid, self.n_frames, self.n_samples = _scan(frames_path)
        os.ftruncate(self._fd, valid)
        os.lseek(self._fd, valid, os.SEEK_SET)
        self._beats_fd = os.open(directory / "beats.bin", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.synced_frames = self.n_frames
        self.closed = False

    def append(self, seq: int, i0: int, n: int, d: bytes) -> None:
        """Append the next frame (must be ``seq == n_frames``) to the page cache."""
        if seq != self.n_frames or i0 != self.n_samples:
            raise ValueError(f"archive expects seq {self.n_frames} i0 {self.n_samples}, got {seq} {i0}")
        os.write(self._fd, _HEADER.pack(seq, n, len(d), i0, zlib.crc32(d)) + d)
        self.n_frames += 1
        self.n_samples += n

    def append_beats(self, indices: np.ndarray) -> None:
        if len(indices):
            os.write(self._beats_fd, np.asarray(indices, dtype="<i8").tobytes())

    def replace_beats(self, indices: np.ndarray) -> None:
        os.ftruncate(self._beats_fd, 0)
        self.append_beats(indices)

    def sync(self) -> int:
        """fdatasync everything appended so far; returns the highest durable seq (-1 if none).

        Blocking: the server calls it on a worker thread.
        """
        covered = self.n_frames
        if self.closed:
            raise ValueError("archive writer closed")
        if covered > self.synced_frames:
            os.fdatasync(self._fd)
            os.fdatasync(self._beats_fd)
            self.synced_frames = covered
        return covered - 1

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._fd)
            os.close(self._beats_fd)


class FileArchive:
    def __init__(self, root: Path) -> None:
        self.root = root / "recordings"
        self.root.mkdir(parents=True, exist_ok=True)

    def directory(self, recording_id: str) -> Path:
        return self.root / recording_id

    def open_writer(self, recording_id: str) -> ArchiveWriter:
        """Open (or resume) a recording for appending; blocking (scans the file)."""
        return ArchiveWriter(self.directory(recording_id))

    @staticmethod
    def record_bytes(recording: "RecordingLayout") -> int:
        """Size of one full-block frame record (header + payload)."""
        row = SAMPLE_BYTES[recording.sample_type] * len(recording.leads)
        return _HEADER.size + recording.block * row

    def count_samples(self, recording: "RecordingLayout") -> int:
        """Samples stored so far, from the file size (full blocks; a torn tail is not counted)."""
        path = self.directory(recording.id) / "frames.bin"
        size = path.stat().st_size if path.exists() else 0
        return (size // self.record_bytes(recording)) * recording.block

    def read_frames(self, recording_id: str, from_seq: int = 0, record_bytes: int | None = None) -> Iterator[StoredFrame]:
        """Frames as stored (including not yet synced ones) from ``from_seq``, validated.

        With ``record_bytes`` (every frame but the last has full blocks) the reader seeks
        straight to ``from_seq``; otherwise it scans from the start.
        """
        path = self.directory(recording_id) / "frames.bin"
        if not path.exists():
            return
        with open(path, "rb") as f:
            expected = 0
            if record_bytes and from_seq > 0:
                f.seek(from_seq * record_bytes)
                expected = from_seq
            data = f.read()
        offset = 0
        while offset + _HEADER.size <= len(data):
            seq, n, length, i0, crc = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            end = start + length
            if seq != expected or end > len(data):
                return
            payload = data[start:end]
            if zlib.crc32(payload) != crc:
                return
            if seq >= from_seq:
                yield StoredFrame(seq, i0, n, payload)
            offset, expected = end, expected + 1

    def read_samples(self, recording_id: str, n_leads: int, sample_type: str) -> np.ndarray:
        """All stored samples as an ``(n, n_leads)`` array of the device's sample type."""
        dtype = np.dtype("<i2" if sample_type == "int16" else "<i4")
        chunks = [f.d for f in self.read_frames(recording_id)]
        return np.frombuffer(b"".join(chunks), dtype=dtype).reshape(-1, n_leads)

    def read_beats(self, recording_id: str) -> np.ndarray:
        path = self.directory(recording_id) / "beats.bin"
        if not path.exists():
            return np.zeros(0, dtype=np.int64)
        raw = path.read_bytes()
        return np.frombuffer(raw[: len(raw) // 8 * 8], dtype="<i8").astype(np.int64)
