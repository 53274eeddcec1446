"""The Redis bus between nodes, against a real Redis: many watched streams on one connection,
each node's own items delivered once, new subscriptions read at once, nothing reordered."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from teleconsult.bus.base import BEATS, SAMPLES, BusItem
from teleconsult.bus.redis_bus import RedisBus


Nodes = tuple[RedisBus, RedisBus]


def channels(n: int) -> list[str]:
    run = secrets.token_hex(4)  # a Redis named by TELECONSULT_TEST_REDIS_URL may hold other runs' keys
    return [f"bus-test-{run}-{k}" for k in range(n)]


@pytest.fixture
async def nodes(redis_url: str) -> AsyncIterator[Nodes]:
    """Two nodes' buses on one Redis."""
    a, b = RedisBus(redis_url, "node-a"), RedisBus(redis_url, "node-b")
    await a.start()
    await b.start()
    yield a, b
    await a.close()
    await b.close()


@pytest.fixture
async def probe(redis_url: str) -> AsyncIterator[Any]:
    """A plain client, to look at what the buses left in Redis."""
    client = aioredis.from_url(redis_url)
    yield client
    await client.aclose()


async def test_a_node_watching_hundreds_of_streams_reads_them_all_over_one_connection(nodes: Nodes) -> None:
    a, b = nodes
    names = channels(400)  # the old design held a blocking connection per stream: the pool ran out
    got: dict[str, list[int]] = {name: [] for name in names}
    subs = [await b.subscribe(name, lambda item, name=name: got[name].append(item.seq)) for name in names]
    for seq in range(3):
        for name in names:
            a.publish(name, BusItem(SAMPLES, seq, seq * 20, 20, b"x" * 120), 64)
    deadline = time.monotonic() + 10
    while any(len(v) < 3 for v in got.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert all(v == [0, 1, 2] for v in got.values()), [k for k, v in got.items() if v != [0, 1, 2]][:3]
    # b uses a couple of pooled connections (its XREAD loop and short commands), not one per stream
    assert len(b._redis.connection_pool._in_use_connections) + len(
        b._redis.connection_pool._available_connections) <= 4
    for sub in subs:
        sub.close()
    assert b._watched == {} and b._by_key == {}


async def test_own_items_reach_local_subscribers_once_and_remote_ones_in_order(nodes: Nodes) -> None:
    a, b = nodes
    (name,) = channels(1)
    on_a: list[tuple[str, int]] = []
    on_b: list[tuple[str, int]] = []
    await a.subscribe(name, lambda item: on_a.append((item.origin, item.seq)))
    await b.subscribe(name, lambda item: on_b.append((item.origin, item.seq)))
    for seq in range(50):
        (a if seq % 2 == 0 else b).publish(name, BusItem(BEATS if seq % 5 == 0 else SAMPLES, seq), 256)
        await asyncio.sleep(0.002)
    deadline = time.monotonic() + 5
    while (len(on_a) < 50 or len(on_b) < 50) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # anything delivered twice would have arrived by now
    for seen in (on_a, on_b):
        assert sorted(s for _, s in seen) == list(range(50))  # each item exactly once
    # each node's own items in publish order, the other node's in publish order
    for node, seen in (("node-a", on_a), ("node-b", on_b)):
        assert [s for o, s in seen if o == node] == [s for s in range(50) if (s % 2 == 0) == (node == "node-a")]


async def test_a_new_subscription_is_read_at_once_while_the_loop_waits_on_others(nodes: Nodes) -> None:
    a, b = nodes
    quiet, late = channels(2)
    await b.subscribe(quiet, lambda item: None)  # the XREAD loop blocks on this one
    await asyncio.sleep(0.2)
    arrived = asyncio.get_running_loop().create_future()
    await b.subscribe(late, lambda item: arrived.done() or arrived.set_result(time.monotonic()))
    sent = time.monotonic()
    a.publish(late, BusItem(SAMPLES, 0, 0, 1, b"\0\0"), 16)
    assert await asyncio.wait_for(arrived, 2) - sent < 0.5


async def test_a_sole_publisher_does_not_read_its_stream_back_and_resumes_where_it_stopped(nodes: Nodes) -> None:
    a, b = nodes
    (name,) = channels(1)
    on_b: list[tuple[str, int]] = []
    await b.subscribe(name, lambda item: on_b.append((item.origin, item.seq)))
    b.set_sole_publisher(name, True)  # a device streams into b
    b.publish(name, BusItem(SAMPLES, 0), 64)
    a.publish(name, BusItem(SAMPLES, 1), 64)  # (a recording's lock keeps this from happening)
    b.publish(name, BusItem(SAMPLES, 2), 64)
    await asyncio.sleep(0.5)
    assert on_b == [("node-b", 0), ("node-b", 2)]  # not read back from Redis while sole publisher
    b.set_sole_publisher(name, False)  # the device left b
    a.publish(name, BusItem(SAMPLES, 3), 64)
    deadline = time.monotonic() + 5
    while len(on_b) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    # reading resumed where it stopped: a's items since, once each; b's own never twice
    assert on_b == [("node-b", 0), ("node-b", 2), ("node-a", 1), ("node-a", 3)]


async def test_a_burst_of_readers_joining_at_once_all_get_their_streams(nodes: Nodes) -> None:
    a, b = nodes
    names = channels(300)  # more than the connection pool's ceiling (100) at once
    got: dict[str, list[int]] = {name: [] for name in names}
    await asyncio.gather(*(b.subscribe(name, lambda item, name=name: got[name].append(item.seq))
                           for name in names))
    for name in names:
        a.publish(name, BusItem(SAMPLES, 7, 0, 1, b"\0\0"), 16)
    deadline = time.monotonic() + 10
    while any(not v for v in got.values()) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert all(v == [7] for v in got.values())


async def test_streams_expire_on_their_own_and_the_expiry_is_not_renewed_per_entry(nodes: Nodes, probe: Any) -> None:
    a, b = nodes
    (name,) = channels(1)
    key = f"teleconsult:rec:{name}"
    await b.subscribe(name, lambda item: None)  # watched elsewhere: a's samples go to Redis
    a.publish(name, BusItem(SAMPLES, 0), 16)
    deadline = time.monotonic() + 5
    while not await probe.exists(key) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    assert 3500 < await probe.ttl(key) <= 3600  # a stream whose device vanished goes by itself
    await probe.expire(key, 1000)  # had the bus renewed it with every entry, it would be back at 3600
    for seq in range(1, 50):
        a.publish(name, BusItem(SAMPLES, seq), 16)
        await asyncio.sleep(0.002)
    while await probe.xlen(key) < 16 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert await probe.xlen(key) >= 16 and await probe.ttl(key) <= 1000
