"""The bus carries live items of a recording from its ingest node to readers on any node.

The archive is the truth and the bus is a hint (it may drop items for a slow node); items
carry the data frame's ``seq`` and beats their sample indices, so a subscriber
de-duplicates and notices gaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import msgpack

SAMPLES = "samples"
BEATS = "beats"
STATUS = "status"
END = "end"
SIGNAL = "signal"  # a JSON message on a consult's channel (signalling relay, state, chat) in ``data``
NOTICE = "notice"  # a JSON notice for users' browsers (reports, worklist changes, escalations) in ``data``


@dataclass(slots=True)
class BusItem:
    """One live item. ``samples``: raw device frame; ``beats``: indices (+ heart rate);
    ``status``: the device (dis)connected; ``end``."""

    kind: str
    seq: int
    i0: int = 0
    n: int = 0
    data: bytes = b""
    beats: tuple[int, ...] = ()
    hr_bpm: float | None = None
    origin: str = ""
    connected: bool = False
    cache: dict[Any, bytes] = field(default_factory=dict, compare=False, repr=False)

    def pack(self) -> bytes:
        out: bytes = msgpack.packb(
            [self.kind, self.seq, self.i0, self.n, self.data, list(self.beats), self.hr_bpm, self.origin,
             self.connected],
            use_bin_type=True)
        return out

    @classmethod
    def unpack(cls, raw: bytes) -> "BusItem":
        kind, seq, i0, n, data, beats, hr_bpm, origin, connected = msgpack.unpackb(raw, raw=False)
        return cls(kind, seq, i0, n, data, tuple(beats), hr_bpm, origin, connected)


Callback = Callable[[BusItem], None]


@dataclass(frozen=True, slots=True)
class BusCounters:
    """Items handed to the transport, dropped while it was unreachable, waiting to go out."""

    published: int
    dropped: int
    pending: int


class Subscription(Protocol):
    def close(self) -> None: ...


class Bus(Protocol):
    """Publish never blocks the ingest path.

    ``callback`` runs on the event loop for every item published after the subscription
    is made (and possibly a few before it: de-duplicate by seq). Catch-up comes from the
    archive, not the bus; ``retain_items`` only bounds what a transport keeps for
    subscribers that lag (Redis ``MAXLEN``).
    """

    node_id: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def publish(self, channel: str, item: BusItem, retain_items: int) -> None: ...

    def set_sole_publisher(self, channel: str, sole: bool) -> None:
        """This node is (``True``) or is no longer (``False``) the only one publishing on
        ``channel`` (a recording whose device streams into this node: the recording's lock
        keeps other nodes from writing it). A transport may then stop reading the channel
        back from other nodes, since its local subscribers get every item at publish time."""
        ...

    async def subscribe(self, channel: str, callback: Callback) -> Subscription: ...

    async def ping(self) -> bool: ...

    def counters(self) -> BusCounters: ...
