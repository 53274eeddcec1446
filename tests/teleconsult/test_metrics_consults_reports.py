"""Consult and report-turnaround metrics, driven through the real API and read from ``/metrics``.

The services' clocks are a hand-moved fake, so every duration (TAT, delivery, consult setup)
is an exact number, and so is every histogram sum and bucket.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from streaming.frames import End, encode
from teleconsult.app import create_app
from teleconsult.config import Settings
from teleconsult.http import metrics
from teleconsult.keys import consults_key, studies_key
from tests.teleconsult.conftest import Seed, hello, login
from tests.teleconsult.test_consult_api import recv, until_state, users
from tests.teleconsult.test_device_socket import open_stream, send_and_ack
from tests.teleconsult.test_health_metrics import TOKEN, scrape
from tests.teleconsult.test_studies_api import api, upload

Client = TestClient[web.Request, web.Application]
T0 = 1_700_000_000.0
DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


class Clock:
    """The services' clock, moved by hand."""

    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t

    def at(self, offset_s: float) -> None:
        self.t = T0 + offset_s


@pytest.fixture
async def metered(aiohttp_client: Any, settings: Settings, seed: Seed) -> Client:
    app = create_app(replace(settings, metrics_token=TOKEN))
    client: Client = await aiohttp_client(app)
    return client


def app_of(client: Client) -> web.Application:
    app = client.app
    assert app is not None
    return app


@pytest.fixture
def clock(metered: Client) -> Clock:
    clock = Clock()
    app = app_of(metered)
    app[studies_key].clock = clock
    app[consults_key].clock = clock
    return clock


def histogram(values: dict[str, float], name: str, **labels: str) -> dict[str, float]:
    """One histogram series from a scrape: ``{le: cumulative count, "count": n, "sum": s}``."""
    tail = "".join(f"{{{k}={v}}}" for k, v in sorted(labels.items()))
    out: dict[str, float] = {"count": values[f"{name}_count{tail}"], "sum": values[f"{name}_sum{tail}"]}
    pattern = re.compile(re.escape(f"{name}_bucket") + r"((?:\{[^}]*\})*)$")
    for key, value in values.items():
        match = pattern.match(key)
        if match is None:
            continue
        pairs = dict(re.findall(r"\{(\w+)=([^}]*)\}", match.group(1)))
        le = pairs.pop("le")
        if pairs == labels:
            out[le] = value
    return out


async def test_a_study_upload_claim_sign_receipt_ack_and_amend(metered: Client, clock: Clock) -> None:
    doctor, reader = await login(metered, "doctor_a"), await login(metered, "reader_a")
    start = await scrape(metered)
    assert start["teleconsult_cluster_snapshot_ok"] == 1
    assert start["teleconsult_studies_received_total{priority=routine}{source=upload}"] == 0
    assert start["teleconsult_studies_waiting{priority=routine}{scope=cluster}{status=received}"] == 0
    assert histogram(start, "teleconsult_report_tat_seconds", priority="routine")["count"] == 0

    sid = (await upload(metered, doctor, "routine"))["id"]  # received at T0
    clock.at(30.0)
    waiting = await scrape(metered)
    assert waiting["teleconsult_studies_received_total{priority=routine}{source=upload}"] == 1
    assert waiting["teleconsult_studies_received_total{priority=stat}{source=upload}"] == 0
    assert waiting["teleconsult_studies_waiting{priority=routine}{scope=cluster}{status=received}"] == 1
    assert waiting["teleconsult_studies_waiting_oldest_seconds{priority=routine}{scope=cluster}"] == 30.0
    assert waiting["teleconsult_studies_waiting_oldest_seconds{priority=stat}{scope=cluster}"] == 0

    clock.at(40.0)
    await api(metered, "POST", f"/api/studies/{sid}/claim", reader)
    claimed = await scrape(metered)
    assert claimed["teleconsult_studies_waiting{priority=routine}{scope=cluster}{status=received}"] == 0
    assert claimed["teleconsult_studies_waiting{priority=routine}{scope=cluster}{status=claimed}"] == 1

    await api(metered, "PUT", f"/api/studies/{sid}/report", reader, {"statements": ["SR"]})
    clock.at(95.0)
    await api(metered, "POST", f"/api/studies/{sid}/report/sign", reader)
    signed = await scrape(metered)
    assert signed["teleconsult_reports_signed_total{priority=routine}"] == 1
    assert signed["teleconsult_studies_waiting{priority=routine}{scope=cluster}{status=claimed}"] == 0
    assert signed["teleconsult_studies_waiting_oldest_seconds{priority=routine}{scope=cluster}"] == 0
    tat = histogram(signed, "teleconsult_report_tat_seconds", priority="routine")
    assert (tat["count"], tat["sum"]) == (1, 95.0)
    assert (tat["60.0"], tat["120.0"], tat["180.0"], tat["+Inf"]) == (0, 1, 1, 1)  # the 3-min target is a bound
    assert histogram(signed, "teleconsult_report_tat_seconds", priority="stat")["count"] == 0
    assert histogram(signed, "teleconsult_report_delivery_seconds", priority="routine")["count"] == 0

    clock.at(97.5)
    await api(metered, "POST", f"/api/studies/{sid}/receipt", doctor, {"version": 1})
    await api(metered, "POST", f"/api/studies/{sid}/receipt", doctor, {"version": 1})  # again: not a delivery
    clock.at(100.0)
    await api(metered, "POST", f"/api/studies/{sid}/acknowledge", doctor, {"version": 1})
    await api(metered, "POST", f"/api/studies/{sid}/report/amend", reader,
              {"statements": ["SR", "1AVB"], "reason": "PR 220 ms missed"}, status=201)
    done = await scrape(metered)
    assert done["teleconsult_reports_delivered_total{priority=routine}"] == 1
    assert done["teleconsult_reports_acknowledged_total{priority=routine}"] == 1
    assert done["teleconsult_reports_amended_total{priority=routine}"] == 1
    assert done["teleconsult_reports_signed_total{priority=routine}"] == 1  # an amendment is no new TAT
    delivery = histogram(done, "teleconsult_report_delivery_seconds", priority="routine")
    assert (delivery["count"], delivery["sum"]) == (1, 2.5)
    assert (delivery["2.0"], delivery["5.0"]) == (0, 1)
    assert histogram(done, "teleconsult_report_tat_seconds", priority="routine")["count"] == 1


async def test_a_streamed_stat_study_acknowledged_without_a_receipt(metered: Client, seed: Seed,
                                                                    clock: Clock) -> None:
    doctor, reader = await login(metered, "doctor_a"), await login(metered, "reader_a")
    ws, _ = await open_stream(metered, hello(seed.tokens["a"], recording="rec-metrics-0001"))
    await send_and_ack(ws, 0, 5)
    await ws.send_bytes(encode(End(seq=5)))
    await ws.receive(timeout=5)
    await ws.close()
    sid = (await api(metered, "POST", "/api/studies", doctor, {"recording_id": "rec-metrics-0001",
                                                                "priority": "stat"}, status=201))["study"]["id"]
    clock.at(20.0)
    await api(metered, "POST", f"/api/studies/{sid}/claim", reader)
    await api(metered, "PUT", f"/api/studies/{sid}/report", reader, {"statements": ["SR"]})
    clock.at(150.0)
    await api(metered, "POST", f"/api/studies/{sid}/report/sign", reader)
    clock.at(151.0)
    await api(metered, "POST", f"/api/studies/{sid}/acknowledge", doctor, {"version": 1})
    values = await scrape(metered)
    assert values["teleconsult_studies_received_total{priority=stat}{source=stream}"] == 1
    assert values["teleconsult_studies_received_total{priority=stat}{source=upload}"] == 0
    assert values["teleconsult_reports_signed_total{priority=stat}"] == 1
    assert values["teleconsult_reports_signed_total{priority=routine}"] == 0
    tat = histogram(values, "teleconsult_report_tat_seconds", priority="stat")
    assert (tat["count"], tat["sum"], tat["120.0"], tat["180.0"]) == (1, 150.0, 0, 1)
    # No receipt came: the acknowledgement is the delivery.
    assert values["teleconsult_reports_delivered_total{priority=stat}"] == 0
    assert values["teleconsult_reports_acknowledged_total{priority=stat}"] == 1
    delivery = histogram(values, "teleconsult_report_delivery_seconds", priority="stat")
    assert (delivery["count"], delivery["sum"]) == (1, 1.0)


async def test_a_consult_request_accept_call_and_hangup(metered: Client, clock: Clock) -> None:
    doctor, reader = await users(metered, "doctor_a", "reader_a")
    start = await scrape(metered)
    assert start["teleconsult_doctors_on_duty{scope=cluster}{status=available}"] == 0
    assert start["teleconsult_consults_requested_total{urgency=urgent}"] == 0
    assert start["teleconsult_consult_sockets{role=village}"] == 0
    assert histogram(start, "teleconsult_consult_setup_seconds", urgency="urgent")["count"] == 0

    # Nobody on duty: recorded and ended at once.
    await doctor("POST", "/api/consults", {"urgency": "stat", "reason": "chest pain"}, status=409)
    await reader("PUT", "/api/presence", {"on_duty": True})
    cid = (await doctor("POST", "/api/consults", {"urgency": "urgent", "reason": "chest pain"},
                        status=201))["consult"]["id"]  # requested at T0
    clock.at(12.0)
    queued = await scrape(metered)
    assert queued["teleconsult_consults_requested_total{urgency=urgent}"] == 1
    assert queued["teleconsult_consults_requested_total{urgency=stat}"] == 1
    assert queued["teleconsult_consults_ended_total{outcome=no_answer}{urgency=stat}"] == 1
    assert queued["teleconsult_consults_waiting{scope=cluster}{urgency=urgent}"] == 1
    assert queued["teleconsult_consults_waiting_oldest_seconds{scope=cluster}{urgency=urgent}"] == 12.0
    assert queued["teleconsult_doctors_on_duty{scope=cluster}{status=available}"] == 1

    village = await doctor.ws(cid)
    await recv(village, "joined")
    clock.at(20.0)
    await reader("POST", f"/api/consults/{cid}/accept")
    await until_state(village, "accepted")
    county = await reader.ws(cid)
    await recv(county, "joined")
    await recv(village, "peer")
    await recv(county, "peer")
    accepted = await scrape(metered)
    assert accepted["teleconsult_consult_sockets{role=village}"] == 1
    assert accepted["teleconsult_consult_sockets{role=county}"] == 1
    assert accepted["teleconsult_consults_waiting{scope=cluster}{urgency=urgent}"] == 0
    assert accepted["teleconsult_consults_active{scope=cluster}{state=accepted}"] == 1
    assert accepted["teleconsult_doctors_on_duty{scope=cluster}{status=busy}"] == 1
    assert accepted["teleconsult_doctors_on_duty{scope=cluster}{status=available}"] == 0

    clock.at(30.0)
    await village.send_json({"t": "offer", "sdp": "v=0 offer", "gen": 1})
    await recv(county, "offer")
    await county.send_json({"t": "answer", "sdp": "v=0 answer", "gen": 1})
    await recv(village, "answer")
    await county.send_json({"t": "ice", "candidate": None, "gen": 1})
    clock.at(42.0)
    await village.send_json({"t": "connected"})
    await until_state(county, "in_call")
    in_call = await scrape(metered)
    assert in_call["teleconsult_consults_active{scope=cluster}{state=in_call}"] == 1
    assert in_call["teleconsult_consults_active{scope=cluster}{state=connecting}"] == 0
    setup = histogram(in_call, "teleconsult_consult_setup_seconds", urgency="urgent")
    assert (setup["count"], setup["sum"], setup["30.0"], setup["60.0"]) == (1, 42.0, 0, 1)

    await county.send_json({"t": "hangup", "reason": "done"})
    for ws in (village, county):
        await until_state(ws, "ended")
        await ws.receive()
    for _ in range(100):  # the server notices the closes on its own time
        after = await scrape(metered)
        if after["teleconsult_consult_sockets{role=village}"] == after["teleconsult_consult_sockets{role=county}"] == 0 \
                and after.get("teleconsult_consult_signals_relayed_total{type=leave}") == 2:
            break
        await asyncio.sleep(0.02)
    assert after["teleconsult_consult_sockets{role=village}"] == 0
    assert after["teleconsult_consult_sockets{role=county}"] == 0
    assert after["teleconsult_consults_ended_total{outcome=completed}{urgency=urgent}"] == 1
    assert after["teleconsult_consults_active{scope=cluster}{state=in_call}"] == 0
    assert after["teleconsult_doctors_on_duty{scope=cluster}{status=available}"] == 1
    transitions = {key: v for key, v in after.items() if key.startswith("teleconsult_consult_transitions_total")}
    assert transitions == {  # joins and the repeated "connected" are self-loops: not counted
        "teleconsult_consult_transitions_total{event=nobody_on_duty}{from=requested}{to=ended}": 1,
        "teleconsult_consult_transitions_total{event=queue}{from=requested}{to=waiting}": 1,
        "teleconsult_consult_transitions_total{event=accept}{from=waiting}{to=accepted}": 1,
        "teleconsult_consult_transitions_total{event=offer}{from=accepted}{to=connecting}": 1,
        "teleconsult_consult_transitions_total{event=connected}{from=connecting}{to=in_call}": 1,
        "teleconsult_consult_transitions_total{event=hangup}{from=in_call}{to=ended}": 1}
    relayed = {key.split("type=")[1].rstrip("}"): v for key, v in after.items()
               if key.startswith("teleconsult_consult_signals_relayed_total")}
    assert relayed == {"join": 2, "here": 1, "offer": 1, "answer": 1, "ice": 1, "leave": 2}


async def test_an_unanswered_consult_times_out(metered: Client, clock: Clock) -> None:
    doctor, reader = await users(metered, "doctor_a", "reader_a")
    await reader("PUT", "/api/presence", {"on_duty": True})
    await doctor("POST", "/api/consults", {"urgency": "stat", "reason": "VT?"}, status=201)
    service = app_of(metered)[consults_key]
    clock.at(service.answer_timeout_s + 1)
    await service.sweep()
    values = await scrape(metered)
    assert values["teleconsult_consults_ended_total{outcome=no_answer}{urgency=stat}"] == 1
    assert values["teleconsult_consult_transitions_total{event=timeout}{from=waiting}{to=ended}"] == 1
    assert values["teleconsult_consults_waiting{scope=cluster}{urgency=stat}"] == 0
    assert values["teleconsult_doctors_on_duty{scope=cluster}{status=available}"] == 0  # no heartbeat for 2 min
    assert histogram(values, "teleconsult_consult_setup_seconds", urgency="stat")["count"] == 0


async def test_a_slow_database_does_not_hold_the_scrape(metered: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cluster read gives up after CLUSTER_TIMEOUT_S and the node's own series still go out;
    scrapes meanwhile wait for the same read rather than queue another one on the database.

    (A scrape's first database call is the auth middleware's session lookup of its bearer
    token; that one is not covered here, and it runs before the read blocks.)"""
    app = app_of(metered)
    gate, calls = threading.Event(), []
    original = metrics.read_cluster

    def slow(*args: Any) -> metrics.ClusterSnapshot:
        calls.append(1)
        gate.wait(10)
        return original(*args)

    monkeypatch.setattr(metrics, "read_cluster", slow)
    monkeypatch.setattr(metrics, "CLUSTER_TIMEOUT_S", 0.2)
    try:
        started = time.monotonic()
        first = await scrape(metered)
        assert time.monotonic() - started < 2.0
        reader = app[metrics.cluster_key]
        await reader.refresh(app)  # another scrape while the read is still out
        assert len(calls) == 1 and reader.snapshot is None
    finally:
        gate.set()
    assert first["teleconsult_cluster_snapshot_ok"] == 0
    assert first["teleconsult_streams_live"] == 0  # the node's own series are there
    assert first["teleconsult_reports_signed_total{priority=stat}"] == 0
    assert not any("scope=cluster" in key for key in first)
    for _ in range(100):
        again = await scrape(metered)
        if again["teleconsult_cluster_snapshot_ok"] == 1:
            break
        await asyncio.sleep(0.02)
    assert again["teleconsult_cluster_snapshot_ok"] == 1
    assert again["teleconsult_cluster_snapshot_failures_total"] == 2
    assert again["teleconsult_studies_waiting{priority=stat}{scope=cluster}{status=received}"] == 0


async def test_every_metric_is_in_the_deploy_docs_with_its_type(metered: Client) -> None:
    response = await metered.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    served = {f.name: f.type for f in text_string_to_metric_families(await response.text())}
    section = DOCS.read_text(encoding="utf-8").split("## Metrics", 1)[1]
    documented: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`teleconsult_"):
            name = cells[0].strip("`")
            documented[name.removesuffix("_total")] = cells[1]
    assert served == documented
