"""In-process bus (the single-node default): items go straight to this process's subscribers."""

from __future__ import annotations

import logging

from teleconsult.bus.base import BusCounters, BusItem, Callback

log = logging.getLogger(__name__)


class _MemorySubscription:
    def __init__(self, bus: "MemoryBus", channel: str, callback: Callback) -> None:
        self._bus = bus
        self._channel = channel
        self._callback = callback

    def close(self) -> None:
        subs = self._bus._subscribers.get(self._channel)
        if subs and self._callback in subs:
            subs.remove(self._callback)
            if not subs:
                del self._bus._subscribers[self._channel]


class MemoryBus:
    def __init__(self, node_id: str = "local") -> None:
        self.node_id = node_id
        self._subscribers: dict[str, list[Callback]] = {}
        self.published = 0

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()

    async def ping(self) -> bool:
        return True

    def counters(self) -> BusCounters:
        return BusCounters(published=self.published, dropped=0, pending=0)

    def publish(self, channel: str, item: BusItem, retain_items: int) -> None:
        self.published += 1
        for callback in list(self._subscribers.get(channel, ())):
            try:
                callback(item)
            except Exception:  # one broken subscriber must not break ingest
                log.exception("bus subscriber failed")

    def set_sole_publisher(self, channel: str, sole: bool) -> None:
        pass  # one process: nothing is read back

    async def subscribe(self, channel: str, callback: Callback) -> _MemorySubscription:
        self._subscribers.setdefault(channel, []).append(callback)
        return _MemorySubscription(self, channel, callback)
