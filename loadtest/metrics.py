"""What a worker measures: one-second windows of counts and latency histograms, and
one outcome per device (recording).

A worker records into the current :class:`Window` as things happen; every
``window_s`` the window is closed, sent to the parent and a new one opened. Windows of
the same index from several workers are merged by the parent (counts add up,
histograms merge). Per-device outcomes are filled in when each recording ends and is
checked against the server's copy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from loadtest.histogram import LatencyHistogram


@dataclass
class Window:
    """Everything that happened during ``[index × window_s, (index + 1) × window_s)`` of the run."""

    index: int
    window_s: float = 1.0
    devices_streaming: int = 0  # at the end of the window
    readers_connected: int = 0  # at the end of the window
    frames_sent: int = 0
    frames_acked: int = 0
    reader_frames: int = 0
    reader_frames_missed: int = 0  # seen live: seq jumps on a reader socket
    reader_gap_frames: int = 0  # display frames the server said it dropped for a slow reader
    errors: int = 0
    ack: LatencyHistogram = field(default_factory=LatencyHistogram)
    reader: LatencyHistogram = field(default_factory=LatencyHistogram)

    @property
    def t_s(self) -> float:
        return self.index * self.window_s

    def merge(self, other: Window) -> None:
        """Add another worker's window of the same index."""
        self.devices_streaming += other.devices_streaming
        self.readers_connected += other.readers_connected
        self.frames_sent += other.frames_sent
        self.frames_acked += other.frames_acked
        self.reader_frames += other.reader_frames
        self.reader_frames_missed += other.reader_frames_missed
        self.reader_gap_frames += other.reader_gap_frames
        self.errors += other.errors
        self.ack.merge(other.ack)
        self.reader.merge(other.reader)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in asdict(self).items() if k not in ("ack", "reader")}
        out["ack"] = self.ack.to_json()
        out["reader"] = self.reader.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Window:
        names = {f.name for f in fields(cls)} - {"ack", "reader"}
        plain = {k: v for k, v in data.items() if k in names}  # derived keys (percentiles) are skipped
        return cls(**plain, ack=LatencyHistogram.from_json(data["ack"]),
                   reader=LatencyHistogram.from_json(data["reader"]))


@dataclass
class DeviceOutcome:
    """One simulated device's recording, from the device's, its readers' and the store's side."""

    slot: int
    recording: str
    node: int
    reader_nodes: list[int]
    started_s: float
    ended_s: float | None = None
    connect_ms: float | None = None  # socket open + hello until the welcome
    frames_sent: int = 0
    frames_acked: int = 0
    samples_sent: int = 0
    samples_acked: int = 0
    samples_stored: int | None = None  # None: not checked (the export failed; see errors)
    lost_samples: int = 0  # sent, but not in the store identically (or acked and not stored)
    reader_frames_expected: int = 0
    reader_frames_missed: int = 0  # frames a reader never got after its first one
    reader_gap_frames: int = 0
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DeviceOutcome:
        return cls(**data)


@dataclass
class WorkerResult:
    """A worker's final report: its devices and its errors by kind (``"device close 4010"``, …)."""

    worker: int
    devices: list[DeviceOutcome] = field(default_factory=list)
    error_kinds: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {"worker": self.worker, "devices": [d.to_json() for d in self.devices],
                "error_kinds": dict(self.error_kinds)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerResult:
        return cls(int(data["worker"]), [DeviceOutcome.from_json(d) for d in data["devices"]],
                   Counter({str(k): int(v) for k, v in data["error_kinds"].items()}))


__all__ = ["Window", "DeviceOutcome", "WorkerResult"]
