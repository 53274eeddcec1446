"""Consults through the real application in-process: request, queue, accept, signalling,
reconnection, hang-up, timeouts, presence, kiosks, chat, files, the linked ECG; who may do what."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from teleconsult import auth
from teleconsult.config import Settings
from teleconsult.keys import consults_key
from teleconsult.storage.consults import ConsultStore
from teleconsult.storage.sql import Database
from tests.teleconsult.conftest import PASSWORD, Seed, login
from tests.teleconsult.test_device_socket import open_stream
from tests.teleconsult.conftest import hello

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


class Api:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client = client
        self.token = token

    async def __call__(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        response = await self.client.request(method, path, json=body, headers={"Authorization": f"Bearer {self.token}"})
        assert response.status == status, (path, response.status, await response.text())
        return await response.json()

    async def ws(self, consult_id: int) -> Any:
        return await self.client.ws_connect(f"/ws/consult?consult={consult_id}",
                                            headers={"Authorization": f"Bearer {self.token}"})


async def recv(ws: Any, kind: str | None = None, timeout: float = 5.0) -> dict[str, Any]:
    """The next message (of ``kind``, skipping others)."""
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), timeout)
        if kind is None or msg["t"] == kind:
            return msg  # type: ignore[no-any-return]


async def until_state(ws: Any, state: str) -> dict[str, Any]:
    """Skip messages (and earlier states) until the consult reaches ``state``."""
    while True:
        msg = await recv(ws, "state")
        if msg["state"] == state:
            return msg


async def users(client: TestClient, *names: str) -> list[Api]:
    return [Api(client, await login(client, name)) for name in names]


@pytest.fixture
def extra_users(settings: Settings, seed: Seed) -> dict[str, str]:
    """reader_a2 (a colleague in county A) and a kiosk of village A (its token)."""
    db = Database(settings.db_path)
    try:
        db.create_user("reader_a2", auth.hash_password(PASSWORD), "county_reader", seed.county_a)
        token = auth.new_kiosk_token()
        ConsultStore(db.engine).create_kiosk(seed.village_a, "kiosk 1", auth.token_hash(token), None, time.time())
        return {"kiosk": token}
    finally:
        db.close()


async def on_duty_consult(client: TestClient, urgency: str = "urgent") -> tuple[Api, Api, int]:
    doctor, reader = await users(client, "doctor_a", "reader_a")
    await reader("PUT", "/api/presence", {"on_duty": True})
    body = await doctor("POST", "/api/consults", {"urgency": urgency, "reason": "chest pain 2 h",
                                                  "patient_ref": "P-001"}, status=201)
    return doctor, reader, int(body["consult"]["id"])


async def test_a_request_with_nobody_on_duty_says_so_at_once(client: TestClient, seed: Seed) -> None:
    (doctor,) = await users(client, "doctor_a")
    body = await doctor("POST", "/api/consults", {"urgency": "stat", "reason": "chest pain"}, status=409)
    assert body["on_duty"] == 0 and "on duty" in body["error"]
    assert body["consult"]["state"] == "ended" and body["consult"]["outcome"] == "no_answer"
    detail = await doctor("GET", f"/api/consults/{body['consult']['id']}")
    assert [(t["from"], t["to"], t["event"], t["actor"]) for t in detail["transitions"]] == [
        ("", "requested", "request", "user:3"), ("requested", "ended", "nobody_on_duty", "system")]


async def test_queue_accept_and_who_may(client: TestClient, seed: Seed, extra_users: dict[str, str]) -> None:
    doctor, reader, cid = await on_duty_consult(client)
    reader_b, reader_a2, doctor_a2 = await users(client, "reader_b", "reader_a2", "doctor_a2")
    queue = await reader("GET", "/api/consults/queue")
    assert [c["id"] for c in queue["consults"]] == [cid] and queue["presence"]["on_duty"] == 1
    # the requester sees where it stands: a later STAT request goes before it
    assert (await doctor("GET", f"/api/consults/{cid}"))["queue"] == {"position": 1, "waiting": 1}
    stat = await doctor_a2("POST", "/api/consults", {"urgency": "stat", "reason": "VT?"}, status=201)
    assert stat["queue"] == {"position": 1, "waiting": 2}
    assert (await doctor("GET", f"/api/consults/{cid}"))["queue"] == {"position": 2, "waiting": 2}
    await doctor_a2("POST", f"/api/consults/{stat['consult']['id']}/cancel", {})
    assert (await doctor("GET", f"/api/consults/{cid}"))["queue"] == {"position": 1, "waiting": 1}
    assert (await reader_b("GET", "/api/consults/queue"))["consults"] == []
    await doctor("GET", "/api/consults/queue", status=403)
    await reader_b("POST", f"/api/consults/{cid}/accept", status=403)  # another county
    await doctor_a2("POST", f"/api/consults/{cid}/accept", status=403)  # a village doctor
    await reader_a2("POST", f"/api/consults/{cid}/accept", status=409)  # not on duty
    await reader_b("GET", f"/api/consults/{cid}", status=403)
    accepted = await reader("POST", f"/api/consults/{cid}/accept")
    assert accepted["consult"]["state"] == "accepted" and accepted["consult"]["acceptor_id"] == 1
    await reader_a2("PUT", "/api/presence", {"on_duty": True})
    body = await reader_a2("POST", f"/api/consults/{cid}/accept", status=409)
    assert "cannot accept" in body["error"]
    assert (await reader("GET", "/api/presence"))["me"]["status"] == "busy"
    assert (await doctor("GET", "/api/presence")) == {"on_duty": 2, "available": 1}


async def test_two_doctors_accepting_at_once_one_wins(client: TestClient, seed: Seed,
                                                      extra_users: dict[str, str]) -> None:
    doctor, reader, cid = await on_duty_consult(client)
    (reader_a2,) = await users(client, "reader_a2")
    await reader_a2("PUT", "/api/presence", {"on_duty": True})
    results = await asyncio.gather(*(client.post(f"/api/consults/{cid}/accept",
                                                 headers={"Authorization": f"Bearer {api.token}"})
                                     for api in (reader, reader_a2)))
    assert sorted(r.status for r in results) == [200, 409]
    detail = await doctor("GET", f"/api/consults/{cid}")
    assert [t["event"] for t in detail["transitions"]].count("accept") == 1


async def test_signalling_call_reconnect_and_hangup(client: TestClient, seed: Seed,
                                                    extra_users: dict[str, str]) -> None:
    doctor, reader, cid = await on_duty_consult(client)
    village = await doctor.ws(cid)
    joined = await recv(village, "joined")
    assert joined["role"] == "village" and joined["you_offer"] is True and joined["consult"]["state"] == "waiting"
    await reader("POST", f"/api/consults/{cid}/accept")
    assert (await recv(village, "state"))["state"] == "accepted"
    county = await reader.ws(cid)
    assert (await recv(county, "joined"))["role"] == "county"
    assert (await recv(village, "peer"))["present"] is True
    assert (await recv(county, "peer"))["present"] is True

    # Nobody else gets in: a third user of the same village, another county's doctor, a colleague, no login.
    reader_b, reader_a2, doctor_a2 = await users(client, "reader_b", "reader_a2", "doctor_a2")
    for intruder, reason in ((doctor_a2, "not a party"), (reader_b, "not a party"),
                             (reader_a2, "accepted by another doctor")):
        ws = await intruder.ws(cid)
        refused = await recv(ws)
        assert refused["t"] == "error" and refused["code"] == 4003 and reason in refused["reason"]
        await ws.receive()
        assert ws.close_code == 4003
    client.session.cookie_jar.clear()  # the test client kept the last login's cookie
    anonymous = await client.ws_connect(f"/ws/consult?consult={cid}")
    assert (await recv(anonymous))["code"] == 4001
    missing = await doctor.ws(9999)
    assert (await recv(missing))["code"] == 4004

    await village.send_json({"t": "offer", "sdp": "v=0 offer-1", "gen": 1})
    assert await recv(county, "offer") == {"t": "offer", "from": "village", "gen": 1, "sdp": "v=0 offer-1"}
    assert (await recv(village, "state"))["state"] == "connecting"
    await county.send_json({"t": "answer", "sdp": "v=0 answer-1", "gen": 1})
    assert (await recv(village, "answer"))["sdp"] == "v=0 answer-1"
    await county.send_json({"t": "ice", "candidate": {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host",
                                                       "sdpMid": "0", "sdpMLineIndex": 0}, "gen": 1})
    assert (await recv(village, "ice"))["candidate"]["sdpMid"] == "0"
    await village.send_json({"t": "connected"})
    await until_state(county, "in_call")

    # The village's network drops; it rejoins on a new socket and re-offers from a fresh pc.
    await village.close()
    assert (await recv(county, "peer"))["present"] is False
    await until_state(county, "reconnecting")
    village = await doctor.ws(cid)
    assert (await recv(village, "joined"))["consult"]["state"] == "reconnecting"
    assert (await recv(village, "peer"))["present"] is True
    assert (await recv(county, "peer"))["rejoined"] is True
    await village.send_json({"t": "offer", "sdp": "v=0 offer-2", "gen": 2})
    assert (await recv(county, "offer"))["gen"] == 2
    await county.send_json({"t": "answer", "sdp": "v=0 answer-2", "gen": 2})
    await recv(village, "answer")
    await county.send_json({"t": "connected"})
    await until_state(village, "in_call")

    await county.send_json({"t": "chat", "text": "ST elevation V2–V4, send to PCI centre"})
    for ws in (village, county):
        chat = await recv(ws, "chat")
        assert chat["message"]["text"].startswith("ST elevation") and chat["message"]["from"] == "user:1"

    await county.send_json({"t": "hangup", "reason": "done"})
    for ws in (village, county):
        state = await until_state(ws, "ended")
        assert state["outcome"] == "completed"
        await ws.receive()
        assert ws.close_code == 1000
    detail = await doctor("GET", f"/api/consults/{cid}")
    steps = [(t["event"], t["to"], t["party"]) for t in detail["transitions"]]
    assert steps[:6] == [("request", "requested", "requester"), ("queue", "waiting", "system"),
                         ("join", "waiting", "requester"), ("accept", "accepted", "county_doctor"),
                         ("join", "accepted", "acceptor"), ("offer", "connecting", "requester")]
    assert ("connected", "in_call", "requester") in steps and ("drop", "reconnecting", "requester") in steps
    assert steps[-1] == ("hangup", "ended", "acceptor")
    assert detail["consult"]["id"] == cid and [m["kind"] for m in detail["messages"]] == ["chat"]
    ended = await doctor.ws(cid)
    assert (await recv(ended))["code"] == 4009
    # History per patient and per doctor.
    assert [c["id"] for c in (await doctor("GET", "/api/consults?patient=P-001"))["consults"]] == [cid]
    assert (await doctor("GET", "/api/consults?patient=P-other"))["consults"] == []
    assert [c["id"] for c in (await reader("GET", "/api/consults?doctor=me"))["consults"]] == [cid]
    assert (await reader_b("GET", "/api/consults"))["consults"] == []


async def test_timeouts_no_answer_and_reconnect_grace(client: TestClient, seed: Seed) -> None:
    service = client.app[consults_key]  # type: ignore[index]
    doctor, reader, cid = await on_duty_consult(client)
    service.clock = lambda: time.time() + service.answer_timeout_s + 1
    assert await service.sweep() == 1
    detail = await doctor("GET", f"/api/consults/{cid}")
    assert (detail["consult"]["state"], detail["consult"]["outcome"]) == ("ended", "no_answer")
    assert detail["transitions"][-1]["actor"] == "system"
    service.clock = time.time
    # A dropped party that does not come back within the grace period fails the consult.
    await reader("POST", "/api/presence/heartbeat")
    cid = (await doctor("POST", "/api/consults", {"urgency": "stat"}, status=201))["consult"]["id"]
    await reader("POST", f"/api/consults/{cid}/accept")
    village, county = await doctor.ws(cid), await reader.ws(cid)
    await recv(village, "peer")
    await village.send_json({"t": "offer", "sdp": "o", "gen": 1})
    await until_state(county, "connecting")
    await county.send_json({"t": "connected"})
    await until_state(village, "in_call")
    await village.close()
    await until_state(county, "reconnecting")
    assert await service.sweep() == 0  # within the grace period
    service.clock = lambda: time.time() + service.reconnect_grace_s + 1
    assert await service.sweep() == 1
    assert (await until_state(county, "ended"))["outcome"] == "failed"


async def test_presence_expires_without_heartbeats(client: TestClient, seed: Seed) -> None:
    service = client.app[consults_key]  # type: ignore[index]
    doctor, reader = await users(client, "doctor_a", "reader_a")
    await doctor("PUT", "/api/presence", {"on_duty": True}, status=403)
    assert (await reader("PUT", "/api/presence", {"on_duty": True}))["status"] == "on_duty"
    service.clock = lambda: time.time() + service.presence_ttl_s + 1
    assert (await reader("GET", "/api/presence"))["me"]["status"] == "offline"
    await doctor("POST", "/api/consults", {"urgency": "stat"}, status=409)
    await reader("POST", "/api/presence/heartbeat")
    assert (await reader("GET", "/api/presence"))["me"]["status"] == "on_duty"
    await reader("PUT", "/api/presence", {"on_duty": False})
    await doctor("POST", "/api/consults", {"urgency": "stat"}, status=409)


async def test_kiosk_requests_and_joins_with_its_token(client: TestClient, seed: Seed,
                                                       extra_users: dict[str, str]) -> None:
    kiosk = Api(client, extra_users["kiosk"])
    (reader,) = await users(client, "reader_a")
    await reader("PUT", "/api/presence", {"on_duty": True})
    cid = (await kiosk("POST", "/api/consults", {"urgency": "urgent", "reason": "kiosk"}, status=201))["consult"]["id"]
    assert (await kiosk("GET", f"/api/consults/{cid}"))["consult"]["requester"] == "kiosk:1"
    ws = await kiosk.ws(cid)
    assert (await recv(ws, "joined"))["role"] == "village"
    await kiosk("POST", f"/api/consults/{cid}/accept", status=403)
    (doctor,) = await users(client, "doctor_a")
    other = await doctor.ws(cid)  # a doctor of the kiosk's village is not a party of the kiosk's consult
    assert (await recv(other))["code"] == 4003
    bad = Api(client, "tck_not-a-token")
    await bad("POST", "/api/consults", {"urgency": "stat"}, status=401)
    await kiosk("POST", f"/api/consults/{cid}/cancel")
    assert (await recv(ws, "state"))["outcome"] == "cancelled"


async def test_files_and_chat_stay_with_the_consult_for_its_two_parties(client: TestClient, seed: Seed) -> None:
    doctor, reader, cid = await on_duty_consult(client)
    reader_b, doctor_a2 = await users(client, "reader_b", "doctor_a2")
    await doctor("POST", f"/api/consults/{cid}/messages", {"text": "before the call"}, status=201)
    await doctor_a2("POST", f"/api/consults/{cid}/messages", {"text": "x"}, status=403)
    await reader("POST", f"/api/consults/{cid}/accept")
    form = FormData()
    form.add_field("file", PDF, filename="../ecg report.pdf", content_type="application/pdf")
    response = await client.post(f"/api/consults/{cid}/files", data=form,
                                 headers={"Authorization": f"Bearer {doctor.token}"})
    assert response.status == 201, await response.text()
    message = (await response.json())["message"]
    assert (message["name"], message["content_type"], message["size"]) == (
        "ecg report.pdf", "application/pdf", len(PDF))
    got = await client.get(message["url"], headers={"Authorization": f"Bearer {reader.token}"})
    assert got.status == 200 and await got.read() == PDF
    for outsider in (reader_b, doctor_a2):
        await outsider("GET", message["url"], status=403)
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    raw = await client.post(f"/api/consults/{cid}/files?name=strip.png", data=png,
                            headers={"Authorization": f"Bearer {reader.token}", "Content-Type": "image/png"})
    assert raw.status == 201
    limit = client.app[consults_key].file_max_bytes  # type: ignore[index]
    for data, ctype, status in ((PDF, "image/png", 415), (b"MZ\x90\x00", "application/x-msdownload", 415),
                                (b"%PDF-" + bytes(limit), "application/pdf", 413)):
        r = await client.post(f"/api/consults/{cid}/files?name=x", data=data,
                              headers={"Authorization": f"Bearer {doctor.token}", "Content-Type": ctype})
        assert r.status == status, (ctype, await r.text())
    detail = await reader("GET", f"/api/consults/{cid}")
    assert [(m["kind"], m.get("name")) for m in detail["messages"]] == [
        ("chat", None), ("file", "ecg report.pdf"), ("file", "strip.png")]


async def test_the_linked_ecg_is_visible_to_both_parties(client: TestClient, seed: Seed) -> None:
    device_ws, _ = await open_stream(client, hello(seed.tokens["a"], recording="rec-consult-01"))
    other_ws, _ = await open_stream(client, hello(seed.tokens["b"], recording="rec-consult-02"))
    doctor, reader = await users(client, "doctor_a", "reader_a")
    await reader("PUT", "/api/presence", {"on_duty": True})
    await doctor("POST", "/api/consults", {"urgency": "stat", "recording_id": "rec-consult-02"}, status=403)
    body = await doctor("POST", "/api/consults", {"urgency": "stat", "recording_id": "rec-consult-01"}, status=201)
    cid = body["consult"]["id"]
    assert body["consult"]["recording_id"] == "rec-consult-01"
    for api in (doctor, reader):  # both parties watch it on the existing reader socket
        ws = await client.ws_connect("/ws/reader?recording=rec-consult-01",
                                     headers={"Authorization": f"Bearer {api.token}"})
        msg = await asyncio.wait_for(ws.receive(), 5)
        assert msg.type.name == "BINARY"
        await ws.close()
    await reader("POST", f"/api/consults/{cid}/accept")
    await reader("POST", f"/api/consults/{cid}/recording", {"recording_id": "rec-consult-01"}, status=403)
    await doctor("POST", f"/api/consults/{cid}/recording", {"recording_id": "rec-consult-01"})
    await device_ws.close()
    await other_ws.close()


async def test_ice_servers_carry_ephemeral_turn_credentials(aiohttp_client: Any, settings: Settings,
                                                            seed: Seed) -> None:
    from dataclasses import replace

    from teleconsult.app import create_app
    from teleconsult.consults.turn import turn_password

    app: web.Application = create_app(replace(settings, stun_urls="stun:stun.example.org:3478",
                                              turn_urls="turns:turn.example.org:443?transport=tcp",
                                              turn_secret="county-secret", turn_ttl_s=600))
    client = await aiohttp_client(app)
    doctor, reader, cid = await on_duty_consult(client)
    (reader_b,) = await users(client, "reader_b")
    servers = (await doctor("GET", f"/api/consults/{cid}/ice"))["ice_servers"]
    assert servers[0] == {"urls": ["stun:stun.example.org:3478"]}
    expiry, user = servers[1]["username"].split(":")
    assert user == "user3" and 590 < int(expiry) - time.time() <= 600
    assert servers[1]["credential"] == turn_password("county-secret", servers[1]["username"])
    await reader_b("GET", f"/api/consults/{cid}/ice", status=403)
    ws = await doctor.ws(cid)
    joined = await recv(ws, "joined")
    assert joined["ice_servers"][1]["username"].endswith(":user3")
    assert "county-secret" not in str(joined)
