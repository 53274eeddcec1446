"""A report signed on node B reaches the village doctor's socket on node A within a second:
two real ``teleconsult serve`` processes on one PostgreSQL and one Redis."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import ServerProcess, make_world
from tests.http_helpers import login
from tests.teleconsult.test_studies_api import wfdb_upload


@pytest.mark.slow
async def test_report_signed_on_node_b_is_pushed_to_the_doctor_on_node_a(
        tmp_path: Path, postgres_url: str, redis_url: str, server_factory: type[ServerProcess]) -> None:
    world = await asyncio.to_thread(make_world, tmp_path / "data", postgres_url)
    node_a = server_factory(world.data_dir, redis_url=redis_url, database_url=postgres_url, node_id="node-a")
    node_b = server_factory(world.data_dir, redis_url=redis_url, database_url=postgres_url, node_id="node-b")
    await asyncio.gather(asyncio.to_thread(node_a.start), asyncio.to_thread(node_b.start))
    doctor = await asyncio.to_thread(login, node_a.url, "doctor_a", world.password)
    reader = await asyncio.to_thread(login, node_b.url, "reader_a", world.password)

    async with aiohttp.ClientSession() as http:
        async def call(base: str, method: str, path: str, token: str, body: Any = None, status: int = 200) -> Any:
            async with http.request(method, base + path, json=body,
                                    headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == status, await response.text()
                return await response.json()

        form = aiohttp.FormData()
        form.add_field("priority", "stat")
        for name, data in wfdb_upload().items():
            form.add_field("file", data, filename=name)
        async with http.post(node_a.url + "/api/studies/upload", data=form,
                             headers={"Authorization": f"Bearer {doctor}"}) as response:
            assert response.status == 201, await response.text()
            sid = (await response.json())["study"]["id"]

        async with http.ws_connect(node_a.ws_url + "/ws/notify", headers={"Authorization": f"Bearer {doctor}"}) as ws:
            assert (await ws.receive_json(timeout=5))["t"] == "hello"
            await asyncio.sleep(0.3)  # node A's stream reader is in place
            work = await call(node_b.url, "GET", "/api/worklist", reader)
            assert [s["id"] for s in work["studies"]] == [sid]
            await call(node_b.url, "POST", f"/api/studies/{sid}/claim", reader)
            await call(node_b.url, "PUT", f"/api/studies/{sid}/report", reader, {"statements": ["SR", "NORM"]})
            started = time.monotonic()
            await call(node_b.url, "POST", f"/api/studies/{sid}/report/sign", reader)
            pushed = await ws.receive_json(timeout=1.0)
            elapsed = time.monotonic() - started
            assert elapsed < 1.0 and pushed["t"] == "report" and pushed["study"]["id"] == sid
            assert [s["code"] for s in pushed["statements"]] == ["SR", "NORM"]
            await ws.send_json({"t": "receipt", "study": sid, "version": 1})
            assert (await ws.receive_json(timeout=5))["t"] == "ok"
        detail = await call(node_b.url, "GET", f"/api/studies/{sid}", reader)
        assert detail["study"]["delivered_at"] is not None and detail["study"]["signed_at"] is not None
