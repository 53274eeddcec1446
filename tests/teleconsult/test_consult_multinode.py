"""A consult across two real ``teleconsult serve`` processes on one PostgreSQL and one Redis:
the county doctor goes on duty on node B, the village doctor requests on node A (presence is
in the database), and two aiortc peers, one on each node, signal through the Redis bus and
exchange media; the village peer then rejoins through node B and the call resumes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from teleconsult.consult_peer import ConsultApi, ConsultPeer, login, loopback_only
from tests.conftest import ServerProcess, make_world
from tests.teleconsult.test_consult_peers import flowing


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with loopback_only():
        yield


@pytest.mark.slow
async def test_a_consult_whose_parties_are_on_two_nodes(tmp_path: Path, postgres_url: str, redis_url: str,
                                                        server_factory: type[ServerProcess]) -> None:
    world = await asyncio.to_thread(make_world, tmp_path / "data", postgres_url)
    node_a = server_factory(world.data_dir, redis_url=redis_url, database_url=postgres_url, node_id="node-a")
    node_b = server_factory(world.data_dir, redis_url=redis_url, database_url=postgres_url, node_id="node-b")
    await asyncio.gather(asyncio.to_thread(node_a.start), asyncio.to_thread(node_b.start))
    async with aiohttp.ClientSession() as http:
        doctor = ConsultApi(http, node_a.url, await login(http, node_a.url, "doctor_a", world.password))
        reader = ConsultApi(http, node_b.url, await login(http, node_b.url, "reader_a", world.password))
        await reader.on_duty()
        cid = int((await doctor.request("stat", "two nodes"))["consult"]["id"])
        await reader.accept(cid)
        village = ConsultPeer(node_a.url, doctor.token, cid, name="village@a")
        county = ConsultPeer(node_b.url, reader.token, cid, name="county@b")
        tasks = [asyncio.create_task(village.run()), asyncio.create_task(county.run())]
        await village.wait_for(lambda: flowing(village, 1) and flowing(county, 1), 30)
        # The village's network changes: it comes back through the other node.
        village.ws_url = village.ws_url.replace(f":{node_a.port}/", f":{node_b.port}/")
        await village.drop()
        await village.wait_for(lambda: flowing(village, 2) and flowing(county, 2), 15)
        await village.hangup()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        detail = await ConsultApi(http, node_a.url, reader.token).consult(cid)
    assert (detail["consult"]["state"], detail["consult"]["outcome"]) == ("ended", "completed")
    assert village.stats.joins == 2
