"""Redis bus for several server processes: one Redis Stream per recording (or consult).

Why Streams rather than pub/sub: a node's reader continues from the last entry id it saw
after a hiccup (a Redis restart, a slow node) instead of silently losing what was
published meanwhile, as pub/sub would; ``MAXLEN ~`` bounds what Redis keeps to a few
seconds per recording. (Readers' catch-up comes from the archive, the truth.)

The Python client's per-command cost dominates (see PERFORMANCE.md), so ``publish``
never awaits: items are batched into one pipelined round trip per loop turn; and each
node reads every stream it watches with **one** ``XREAD`` loop (all watched keys in one
command, blocking at most ``BLOCK_MS``), shared by all its local subscribers: one Redis
connection and one command per turn whatever the number of watched recordings and
consults (one blocking ``XREAD`` per stream would hold a pooled connection each, and the
pool runs out at a few hundred). Items published on this node reach local subscribers
directly; each entry carries its origin node in a field of its own, so the node skips its
own entries without unpacking them, and while it is a recording's sole publisher (its
device streams into this node) it does not read that stream at all. XREAD replies are
taken raw from the parser (no per-entry Python reshaping).

"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from teleconsult.bus.base import SAMPLES, BusCounters, BusItem, Callback

log = logging.getLogger(__name__)

KEY_PREFIX = "teleconsult:rec:"
STREAM_TTL_S = 3600
#: How often a stream's expiry is pushed back while it is written (not with every entry:
#: that doubled the commands per frame).
EXPIRE_REFRESH_S = 60.0
# While Redis is unreachable, items wait here; beyond this many the oldest sample frames
# are dropped (remote readers refill them from the archive), never beats, status or end.
MAX_PENDING_ITEMS = 50_000
#: Longest wait of one XREAD; also the longest a new subscription waits before its stream
#: is read too (any traffic on a watched stream ends the wait sooner).
BLOCK_MS = 50
SOCKET_TIMEOUT_S = 5.0
#: Entries per stream per XREAD.
READ_COUNT = 512
#: Subscriptions looking up their starting point at once (readers joining in a burst,
#: after a restart say): each borrows a pooled connection, and the pool has a ceiling.
MAX_CONCURRENT_LOOKUPS = 16


@dataclass(eq=False)
class _Watched:
    """One stream this node reads, and its local subscribers."""

    key: bytes
    last_id: bytes
    callbacks: list[Callback] = field(default_factory=list)
    sole_publisher: bool = False  # this node publishes everything on it: nothing to read back


class _RedisSubscription:
    def __init__(self, bus: RedisBus, channel: str, callback: Callback) -> None:
        self._bus = bus
        self._channel = channel
        self._callback = callback

    def close(self) -> None:
        self._bus._unsubscribe(self._channel, self._callback)


class RedisBus:
    def __init__(self, url: str, node_id: str) -> None:
        self.url = url
        self.node_id = node_id
        # A socket timeout well above BLOCK_MS: a Redis that stops answering (a half-open
        # connection after a network cut) fails a command, which the loops retry, instead
        # of hanging them for good.
        self._redis: Any = aioredis.from_url(url, decode_responses=False, socket_timeout=SOCKET_TIMEOUT_S,
                                             socket_connect_timeout=SOCKET_TIMEOUT_S, health_check_interval=30)
        # This client's XREAD replies stay as the parser gives them (see _read_loop).
        self._redis.set_response_callback("XREAD", lambda response, **options: response)
        self._origin = node_id.encode("utf-8")
        self._pending: list[tuple[str, BusItem, int]] = []
        self._wake = asyncio.Event()
        self._watched: dict[str, _Watched] = {}  # channel -> stream
        self._by_key: dict[bytes, _Watched] = {}
        self._sole: set[str] = set()  # channels only this node publishes on
        self._lookups = asyncio.Semaphore(MAX_CONCURRENT_LOOKUPS)
        self._expire_due: dict[str, float] = {}  # stream key -> when its expiry is next pushed back

        self._watching = asyncio.Event()  # set while there is something to read
        self._publisher: asyncio.Task[None] | None = None
        self._reader: asyncio.Task[None] | None = None
        self.published = 0
        self.dropped = 0
        self._closing = False

    async def start(self) -> None:
        await self._redis.ping()
        self._publisher = asyncio.create_task(self._publish_loop(), name="redis-publisher")
        self._reader = asyncio.create_task(self._read_loop(), name="redis-xread")

    async def close(self) -> None:
        if self._publisher is not None:
            self._closing = True
            self._wake.set()
            try:  # the last items go out, but a shutdown never hangs on an unreachable Redis
                await asyncio.wait_for(self._publisher, timeout=2.0)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                log.warning("redis unreachable at shutdown; bus items not published")
        for task in (self._reader,):
            if task is not None:
                task.cancel()
                try:  # a shutdown never waits long on Redis
                    await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), timeout=2.0)
                except asyncio.TimeoutError:
                    log.warning("redis bus task %s did not stop in time", task.get_name())
        self._watched.clear()
        self._by_key.clear()
        try:
            await asyncio.wait_for(self._redis.aclose(), timeout=2.0)
        except asyncio.TimeoutError:
            log.warning("redis connections not closed in time")

    def counters(self) -> BusCounters:
        return BusCounters(published=self.published, dropped=self.dropped, pending=len(self._pending))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    def publish(self, channel: str, item: BusItem, retain_items: int) -> None:
        item.origin = self.node_id
        watched = self._watched.get(channel)
        if watched is not None:
            for callback in list(watched.callbacks):
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
                now = time.monotonic()
                for channel, item, retain_items in batch:
                    key = KEY_PREFIX + channel
                    pipe.xadd(key, {b"o": self._origin, b"i": item.pack()}, maxlen=max(retain_items, 1),
                              approximate=True)
                    if self._expire_due.get(key, 0.0) <= now:  # a stream whose device vanished goes by itself
                        pipe.expire(key, STREAM_TTL_S)
                        self._expire_due[key] = now + EXPIRE_REFRESH_S
                if len(self._expire_due) > 4 * MAX_PENDING_ITEMS:
                    self._expire_due = {k: t for k, t in self._expire_due.items() if t > now}
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

    def set_sole_publisher(self, channel: str, sole: bool) -> None:
        if sole:
            self._sole.add(channel)
        else:
            self._sole.discard(channel)
        watched = self._watched.get(channel)
        if watched is not None:
            # Reading resumes from where it stopped: this node's own entries since then are
            # skipped by their origin field; anything another node wrote after is delivered.
            watched.sole_publisher = sole
            self._watching.set()

    async def subscribe(self, channel: str, callback: Callback) -> _RedisSubscription:
        watched = self._watched.get(channel)
        if watched is None:
            # Start after the newest entry: what came before is in the archive.
            key = (KEY_PREFIX + channel).encode("utf-8")
            async with self._lookups:
                last = await self._redis.xrevrange(key, count=1)
            watched = self._watched.get(channel)  # another subscriber may have raced us
            if watched is None:
                watched = _Watched(key, last[0][0] if last else b"0-0", sole_publisher=channel in self._sole)
                self._watched[channel] = watched
                self._by_key[key] = watched
                self._watching.set()
        watched.callbacks.append(callback)
        return _RedisSubscription(self, channel, callback)

    def _unsubscribe(self, channel: str, callback: Callback) -> None:
        watched = self._watched.get(channel)
        if watched is None:
            return
        if callback in watched.callbacks:
            watched.callbacks.remove(callback)
        if not watched.callbacks:
            del self._watched[channel]
            self._by_key.pop(watched.key, None)

    async def _read_loop(self) -> None:
        """One XREAD over every watched stream per turn; entries fan out to local subscribers."""
        delay_s = 0.1
        while True:
            streams = {w.key: w.last_id for w in self._watched.values() if not w.sole_publisher}
            if not streams:
                self._watching.clear()
                await self._watching.wait()
                continue
            try:
                response = await self._redis.execute_command(
                    "XREAD", "COUNT", READ_COUNT, "BLOCK", BLOCK_MS, "STREAMS", *streams, *streams.values())
                delay_s = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarting: keep our places and retry
                log.warning("redis xread failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 2.0)
                continue
            for key, entries in _stream_replies(response):
                watched = self._by_key.get(key)
                if watched is None:
                    continue  # nobody here watches it any more
                for entry_id, fields in entries:
                    watched.last_id = entry_id
                    values = _field_map(fields)
                    if values.get(b"o") == self._origin:
                        continue  # ours: local subscribers had it at publish time
                    item = BusItem.unpack(values[b"i"])
                    if item.origin == self.node_id:
                        continue
                    for callback in list(watched.callbacks):
                        try:
                            callback(item)
                        except Exception:
                            log.exception("bus subscriber failed")


def _stream_replies(response: Any) -> Any:
    """``(key, entries)`` pairs of a raw XREAD reply (a list of pairs in RESP2, a map in RESP3)."""
    if not response:
        return ()
    if isinstance(response, dict):
        return response.items()
    return response


def _field_map(fields: Any) -> dict[bytes, bytes]:
    """An entry's fields: a flat ``[name, value, …]`` list (RESP2) or a map (RESP3)."""
    if isinstance(fields, dict):
        return fields
    return dict(zip(fields[::2], fields[1::2]))
