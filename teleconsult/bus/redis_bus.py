"""Redis bus for several server processes: one Redis Stream per recording.

Why Streams rather than pub/sub: a node's reader task continues from the last entry id
it saw after a hiccup (a Redis restart, a slow node) instead of silently losing what was
published meanwhile, as pub/sub would; ``MAXLEN ~`` bounds what Redis keeps to a few
seconds per recording. (Readers' catch-up comes from the archive, the truth.) The Python client's per-command cost dominates (see
PERFORMANCE.md), so ``publish`` never awaits: items are batched into one pipelined
round trip per loop turn, and each node runs one ``XREAD`` task per watched recording
shared by all its local readers. Items published on this node reach local readers
directly and are skipped when they come back from Redis.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis

from teleconsult.bus.base import SAMPLES, BusCounters, BusItem, Callback

log = logging.getLogger(__name__)

KEY_PREFIX = "teleconsult:rec:"
STREAM_TTL_S = 3600
# While Redis is unreachable, items wait here; beyond this many the oldest sample frames
# are dropped (remote readers refill them from the archive), never beats, status or end.
MAX_PENDING_ITEMS = 50_000


class _RedisSubscription:
    def __init__(self, reader: "_ChannelReader", callback: Callback) -> None:
        self._reader = reader
        self._callback = callback

    def close(self) -> None:
        self._reader.remove(self._callback)


class _ChannelReader:
    """One XREAD loop per (node, recording), fanning out to the node's local subscribers."""

    def __init__(self, bus: "RedisBus", channel: str, last_id: bytes) -> None:
        self.bus = bus
        self.channel = channel
        self.key = KEY_PREFIX + channel
        self.last_id = last_id
        self.callbacks: list[Callback] = []
        self.task = asyncio.create_task(self._run(), name=f"redis-xread-{channel}")

    def remove(self, callback: Callback) -> None:
        if callback in self.callbacks:
            self.callbacks.remove(callback)
        if not self.callbacks:
            self.bus._readers.pop(self.channel, None)
            self.task.cancel()

    async def _run(self) -> None:
        delay_s = 0.1
        while True:
            try:
                response = await self.bus._redis.xread({self.key: self.last_id}, block=1000, count=512)
                delay_s = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: keep our place and retry
                log.warning("redis xread failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 2.0)
                continue
            for _key, entries in response or ():
                for entry_id, fields in entries:
                    self.last_id = entry_id
                    item = BusItem.unpack(fields[b"i"])
                    if item.origin == self.bus.node_id:
                        continue
                    for callback in list(self.callbacks):
                        try:
                            callback(item)
                        except Exception:
                            log.exception("bus subscriber failed")


class RedisBus:
    def __init__(self, url: str, node_id: str) -> None:
        self.url = url
        self.node_id = node_id
        self._redis: Any = aioredis.from_url(url, decode_responses=False)
        self._pending: list[tuple[str, BusItem, int]] = []
        self._wake = asyncio.Event()
        self._readers: dict[str, _ChannelReader] = {}
        self._publisher: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self._closing = False

    async def start(self) -> None:
        await self._redis.ping()
        self._publisher = asyncio.create_task(self._publish_loop(), name="redis-publisher")

    async def close(self) -> None:
        if self._publisher is not None:
            self._closing = True
            self._wake.set()
            try:  # the last items go out, but a shutdown never hangs on an unreachable Redis
                await asyncio.wait_for(self._publisher, timeout=2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                log.warning("redis unreachable at shutdown; bus items not published")
        for reader in list(self._readers.values()):
            reader.task.cancel()
        self._readers.clear()
        await self._redis.aclose()

    def counters(self) -> BusCounters:
        return BusCounters(published=self.published, dropped=self.dropped, pending=len(self._pending))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    def publish(self, channel: str, item: BusItem, retain_items: int) -> None:
        item.origin = self.node_id
        reader = self._readers.get(channel)
        if reader is not None:
            for callback in list(reader.callbacks):
                try:
                    callback(item)
                except Exception:
                    log.exception("bus subscriber failed")
        self._pending.append((channel, item, retain_items))
        if len(self._pending) > MAX_PENDING_ITEMS:
            self._trim_pending()
        self._wake.set()

    def _trim_pending(self) -> None:
        half = len(self._pending) // 2
        kept = [p for k, p in enumerate(self._pending) if k >= half or p[1].kind != SAMPLES]
        self.dropped += len(self._pending) - len(kept)
        self._pending = kept

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush_pending()
            if self._closing and not self._pending:
                return

    async def _flush_pending(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        delay_s = 0.05
        while True:
            try:
                pipe = self._redis.pipeline(transaction=False)
                expiring = set()
                for channel, item, retain_items in batch:
                    key = KEY_PREFIX + channel
                    pipe.xadd(key, {b"i": item.pack()}, maxlen=max(retain_items, 1), approximate=True)
                    expiring.add(key)
                for key in expiring:  # a stream whose device vanished disappears on its own
                    pipe.expire(key, STREAM_TTL_S)
                await pipe.execute()
                self.published += len(batch)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Redis down or restarting: keep the batch (and what arrives meanwhile,
                # bounded by MAX_PENDING_ITEMS) and retry; ingest never waits for this.
                log.warning("redis publish failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 1.0)
                if self._pending:
                    batch += self._pending
                    self._pending = []
                if len(batch) > MAX_PENDING_ITEMS:
                    self._pending = batch
                    self._trim_pending()
                    batch, self._pending = self._pending, []

    async def subscribe(self, channel: str, callback: Callback) -> _RedisSubscription:
        reader = self._readers.get(channel)
        if reader is None:
            # Start after the newest entry: what came before is in the archive.
            last = await self._redis.xrevrange(KEY_PREFIX + channel, count=1)
            reader = self._readers.get(channel)  # another subscriber may have raced us
            if reader is None:
                reader = _ChannelReader(self, channel, last[0][0] if last else b"0-0")
                self._readers[channel] = reader
        reader.callbacks.append(callback)
        return _RedisSubscription(reader, callback)
