"""Health, readiness and Prometheus metrics of one server process."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from teleconsult.app import create_app
from teleconsult.config import Settings
from teleconsult.keys import db_key, state_key
from tests.teleconsult.conftest import Seed, hello, login
from tests.teleconsult.test_device_socket import open_stream, send_and_ack

TOKEN = "scrape-secret-0123456789"


@pytest.fixture
async def metered(aiohttp_client: Any, settings: Settings, seed: Seed) -> TestClient:
    app: web.Application = create_app(replace(settings, metrics_token=TOKEN))
    return await aiohttp_client(app)  # type: ignore[no-any-return]


async def scrape(client: TestClient) -> dict[str, float]:
    response = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            key = sample.name + "".join(f"{{{k}={v}}}" for k, v in sorted(sample.labels.items()) if k != "node")
            values[key] = sample.value
    return values


async def test_metrics_are_off_without_a_token(client: TestClient) -> None:
    assert (await client.get("/metrics")).status == 404


async def test_metrics_need_the_scrape_token(metered: TestClient) -> None:
    assert (await metered.get("/metrics")).status == 401
    assert (await metered.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    # a clinician's session is not a scrape token either
    session = await login(metered, "reader_a")
    assert (await metered.get("/metrics", headers={"Authorization": f"Bearer {session}"})).status == 401


async def test_a_scrape_and_the_probes_never_look_up_a_session(metered: TestClient,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    db = metered.app[db_key].db
    looked_up: list[str] = []
    monkeypatch.setattr(db, "user_for_session", lambda token_hash, now: looked_up.append(token_hash))
    await scrape(metered)
    for path in ("/healthz", "/readyz"):
        assert (await metered.get(path, headers={"Authorization": "Bearer something"})).status == 200
    assert looked_up == []
    await metered.get("/api/me", headers={"Authorization": "Bearer something"})  # an API call does look
    assert len(looked_up) == 1


async def test_metrics_count_streams_frames_readers_and_closes(metered: TestClient, seed: Seed) -> None:
    before = await scrape(metered)
    assert before["teleconsult_streams_live"] == 0
    ws, _ = await open_stream(metered, hello(seed.tokens["a"]))
    await send_and_ack(ws, 0, 12)
    session = await login(metered, "reader_a")
    reader = await metered.ws_connect("/ws/reader?recording=rec-test-0001", headers={"Authorization": f"Bearer {session}"})
    await reader.receive_bytes(timeout=5)
    during = await scrape(metered)
    assert during["teleconsult_streams_live"] == 1
    assert during["teleconsult_frames_received_total"] == 12
    assert during["teleconsult_samples_received_total"] == 12 * 20
    assert during["teleconsult_readers_connected"] == 1
    assert during["teleconsult_commits_total"] >= 1
    await ws.close()
    await reader.close()
    for _ in range(100):  # the server notices the closes on its own time
        after = await scrape(metered)
        if after.get("teleconsult_device_closes_total{code=1000}") and not after["teleconsult_readers_connected"]:
            break
        await asyncio.sleep(0.02)
    assert after["teleconsult_streams_live"] == 0
    assert after["teleconsult_readers_connected"] == 0
    assert after.get("teleconsult_device_closes_total{code=1000}") == 1, after


async def test_readiness_turns_off_while_draining(client: TestClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status == 200
    assert (await ready.json())["database"] is True
    client.app[state_key].draining = True  # what SIGTERM does first
    not_ready = await client.get("/readyz")
    assert not_ready.status == 503
    assert (await not_ready.json())["draining"] is True
    assert (await client.get("/healthz")).status == 200
