"""What one worker process is asked to do, and where each device and reader connects.

Device slot ``k`` belongs to worker ``k % workers`` and streams into node ``k % nodes``.
Its readers watch from node ``(k + 1) % nodes`` with ``readers_on="other"`` (the
cross-node worst case: every frame crosses the bus) or from the device's own node with
``"same"``. With one node both are that node. The parent sends the plan to the worker
as one JSON line on its standard input (tokens never appear on a command line).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from loadtest.profile import Profile

READERS_ON = ("other", "same")


def device_node(slot: int, n_nodes: int) -> int:
    return slot % n_nodes


def reader_node(slot: int, n_nodes: int, readers_on: str) -> int:
    """The node a reader of device ``slot`` connects to."""
    if readers_on not in READERS_ON:
        raise ValueError(f"readers_on must be one of {READERS_ON}, not {readers_on!r}")
    home = device_node(slot, n_nodes)
    return (home + 1) % n_nodes if readers_on == "other" else home


def worker_slots(worker: int, workers: int, max_devices: int) -> list[int]:
    """The device slots worker ``worker`` of ``workers`` drives."""
    return list(range(worker, max_devices, workers))


def ws_url(http_url: str) -> str:
    """``http://h:p`` → ``ws://h:p`` (``https`` → ``wss``), without a trailing slash."""
    url = http_url.rstrip("/")
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    raise ValueError(f"not an http(s) URL: {http_url!r}")


@dataclass
class WorkerPlan:
    worker: int
    workers: int
    profile: list[tuple[float, int]]
    nodes: list[str]  # base http URLs
    tokens: dict[int, str]  # slot -> device token, for this worker's slots only
    session_token: str  # a county reader's session (readers and the export check use it)
    run_id: str  # prefix of the recording ids, unique per run
    record: str = "synthetic"
    frame_s: float = 0.04
    readers_per_device: int = 1
    readers_on: str = "other"
    window_s: float = 1.0
    drain_s: float = 30.0  # after the profile: how long devices and readers may take to finish
    slots: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.slots:
            self.slots = worker_slots(self.worker, self.workers, self.as_profile().max_devices)

    def as_profile(self) -> Profile:
        return Profile(tuple((float(t), int(n)) for t, n in self.profile))

    def recording_id(self, slot: int, generation: int) -> str:
        return f"{self.run_id}-{slot:05d}" + (f"-{generation}" if generation else "")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["tokens"] = {str(k): v for k, v in self.tokens.items()}
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WorkerPlan:
        values = dict(data)
        values["tokens"] = {int(k): str(v) for k, v in data["tokens"].items()}
        values["profile"] = [(float(t), int(n)) for t, n in data["profile"]]
        return cls(**values)


__all__ = ["WorkerPlan", "READERS_ON", "device_node", "reader_node", "worker_slots", "ws_url"]
