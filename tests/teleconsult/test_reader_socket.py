"""The reader socket and the HTTP API: who may see what, catch-up, decimation, audit."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import numpy as np
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from streaming.errors import CloseCode
from streaming.frames import Data, End, encode
from teleconsult.config import Settings
from teleconsult.keys import readers_key
from teleconsult.storage.sql import Database
from tests.teleconsult.conftest import Seed, block, hello, login
from tests.teleconsult.test_device_socket import open_stream, send_and_ack


async def read_until_end(ws: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
    frames = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        if msg.type != 2:  # not BINARY: closed
            return frames
        frame = msgpack.unpackb(msg.data)
        frames.append(frame)
        if frame["t"] == "end":
            return frames


async def stream_blocks(client: TestClient, seed: Seed, count: int, recording: str = "rec-test-0001",
                        end: bool = True) -> Any:
    ws, _ = await open_stream(client, hello(seed.tokens["a"], recording=recording))
    await send_and_ack(ws, 0, count)
    if end:
        await ws.send_bytes(encode(End(count)))
        await ws.receive()
    return ws


async def reader_socket(client: TestClient, token: str, path: str) -> Any:
    """A reader socket opened with a session token (as the Python clients do)."""
    return await client.ws_connect(path, headers={"Authorization": f"Bearer {token}"})


def samples_of(frames: list[dict[str, Any]], n_leads: int = 3) -> np.ndarray:
    parts = [np.frombuffer(f["d"], "<i4") for f in frames if f["t"] == "samples"]
    return np.concatenate(parts).reshape(-1, n_leads)


def source(count: int) -> np.ndarray:
    return np.frombuffer(b"".join(block(s) for s in range(count)), "<i2").reshape(-1, 3)


async def test_api_and_sockets_require_a_login(client: TestClient, seed: Seed) -> None:
    for path in ("/api/me", "/api/recordings", "/api/recordings/x/export.zip"):
        response = await client.get(path)
        assert response.status == 401, path
    # A browser cannot see an HTTP status on a refused upgrade: the socket says why, then closes.
    ws = await client.ws_connect("/ws/reader?recording=rec-test-0001")
    error = msgpack.unpackb((await ws.receive()).data)
    assert error == {"t": "error", "code": 4001, "reason": "login required"}
    closing = await ws.receive()
    assert closing.data == 4001


async def test_wrong_password_is_refused_and_audited(client: TestClient, settings: Settings) -> None:
    response = await client.post("/api/login", json={"username": "reader_a", "password": "wrong password"})
    assert response.status == 401
    response = await client.post("/api/login", json={"username": "nobody", "password": "wrong password"})
    assert response.status == 401
    rows = Database(settings.db_path).audit_rows()
    assert [r["outcome"] for r in rows if r["action"] == "login"] == ["denied", "denied"]


async def test_login_cookie_authenticates_and_logout_ends_the_session(client: TestClient) -> None:
    token = await login(client, "reader_a")
    me = await (await client.get("/api/me")).json()  # the cookie set by login
    assert me["user"]["username"] == "reader_a" and me["org"]["kind"] == "county"
    assert (await client.post("/api/logout")).status == 200
    client.session.cookie_jar.clear()
    assert (await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})).status == 401


async def test_a_reader_sees_only_recordings_of_their_county(client: TestClient, seed: Seed,
                                                             settings: Settings) -> None:
    await stream_blocks(client, seed, 3)
    token_b = await login(client, "reader_b")
    listed = await (await client.get("/api/recordings", headers={"Authorization": f"Bearer {token_b}"})).json()
    assert listed["recordings"] == []
    for path in ("/ws/reader?recording=rec-test-0001", "/api/recordings/rec-test-0001/export.zip"):
        response = await client.get(path, headers={"Authorization": f"Bearer {token_b}"})
        assert response.status == 403, path
    ws = await reader_socket(client, token_b, "/ws/reader?recording=rec-test-0001")
    error = msgpack.unpackb((await ws.receive()).data)
    assert error["code"] == 4003 and (await ws.receive()).data == 4003
    for msg in [await ws.receive()]:
        assert msg.type != 2, "no ECG data reaches a reader of another county"
    token_a = await login(client, "reader_a")
    listed = await (await client.get("/api/recordings", headers={"Authorization": f"Bearer {token_a}"})).json()
    assert [r["id"] for r in listed["recordings"]] == ["rec-test-0001"]
    assert "patient" not in str(listed)  # lists never carry the patient reference
    rows = Database(settings.db_path).audit_rows()
    assert any(r["action"] == "watch" and r["outcome"] == "forbidden" for r in rows)


async def test_village_doctors_may_watch_but_not_export(client: TestClient, seed: Seed) -> None:
    await stream_blocks(client, seed, 3)
    token = await login(client, "doctor_a")
    headers = {"Authorization": f"Bearer {token}"}
    ws = await client.ws_connect("/ws/reader?recording=rec-test-0001", headers=headers)
    frames = await read_until_end(ws)
    assert frames[0]["t"] == "meta"
    assert (await client.get("/api/recordings/rec-test-0001/export.zip", headers=headers)).status == 403


async def test_a_late_reader_first_gets_the_last_seconds_then_live_samples(client: TestClient, seed: Seed) -> None:
    device = await stream_blocks(client, seed, 100, end=False)  # 4 s at 500 Hz
    token = await login(client, "reader_a")
    ws = await reader_socket(client, token, "/ws/reader?recording=rec-test-0001&backlog_s=1")
    meta = msgpack.unpackb((await ws.receive()).data)  # sent once the reader has joined
    await send_and_ack(device, 100, 25)
    await device.send_bytes(encode(End(125)))
    frames = [meta] + await read_until_end(ws)
    assert meta["t"] == "meta" and meta["fs_hz"] == 500.0 and meta["leads"] == ["I", "II", "V1"]
    seqs = [f["seq"] for f in frames if f["t"] == "samples"]
    assert seqs == list(range(75, 125))  # 1 s of backlog (25 frames), then 25 live frames, no gap
    assert np.array_equal(samples_of(frames), source(125)[75 * 20:])
    assert frames[-1] == {"t": "end", "n_samples": 2500}


async def test_display_decimation_keeps_every_kth_source_sample(client: TestClient, seed: Seed) -> None:
    await stream_blocks(client, seed, 7)
    token = await login(client, "reader_a")
    ws = await reader_socket(client, token, "/ws/reader?recording=rec-test-0001&from_sample=0&max_fs_hz=150")
    frames = await read_until_end(ws)
    assert frames[0]["decimation"] == 4 and frames[0]["display_fs_hz"] == 125.0
    shown = samples_of(frames)
    assert np.array_equal(shown, source(7)[::4])
    assert [f["i0"] for f in frames if f["t"] == "samples"] == [0, 5, 10, 15, 20, 25, 30]


async def test_bad_reader_parameters_are_refused(client: TestClient, seed: Seed) -> None:
    token = await login(client, "reader_a")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/ws/reader", headers=headers)).status == 400
    assert (await client.get("/ws/reader?recording=rec-nothing-here", headers=headers)).status == 404
    await stream_blocks(client, seed, 1)
    assert (await client.get("/ws/reader?recording=rec-test-0001&max_fs_hz=abc", headers=headers)).status == 400


async def test_data_frames_reach_a_live_reader_in_order(client: TestClient, seed: Seed) -> None:
    device, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(device, 0, 1)
    token = await login(client, "reader_a")
    ws = await reader_socket(client, token, "/ws/reader?recording=rec-test-0001&from_sample=0")
    for seq in range(1, 30):
        await device.send_bytes(encode(Data(seq, seq * 20, 20, block(seq))))
    await device.send_bytes(encode(End(30)))
    frames = await read_until_end(ws)
    assert [f["seq"] for f in frames if f["t"] == "samples"] == list(range(30))
    assert np.array_equal(samples_of(frames), source(30))


async def test_readers_are_told_when_the_device_drops_and_returns(client: TestClient, seed: Seed) -> None:
    device, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(device, 0, 2)
    token = await login(client, "reader_a")
    ws = await reader_socket(client, token, "/ws/reader?recording=rec-test-0001&backlog_s=0")

    async def next_status() -> dict[str, Any]:
        while True:
            frame = msgpack.unpackb((await asyncio.wait_for(ws.receive(), 5)).data)
            if frame["t"] == "status":
                return frame  # type: ignore[no-any-return]

    assert await next_status() == {"t": "status", "connected": True}  # on joining
    await device.close()  # the village's 4G drops
    assert await next_status() == {"t": "status", "connected": False}
    for _ in range(50):  # the list shows it too, once the database is updated
        listed = await (await client.get("/api/recordings", headers={"Authorization": f"Bearer {token}"})).json()
        if not listed["recordings"][0]["connected"]:
            break
        await asyncio.sleep(0.02)
    assert listed["recordings"][0]["connected"] is False
    device, welcome = await open_stream(client, hello(seed.tokens["a"]))
    assert welcome["resume_seq"] == 2
    assert await next_status() == {"t": "status", "connected": True}


async def test_a_reader_that_cannot_join_is_told_over_its_socket_and_others_keep_watching(
        client: TestClient, seed: Seed, monkeypatch: Any) -> None:
    device, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(device, 0, 1)
    token = await login(client, "reader_a")
    watching = await reader_socket(client, token, "/ws/reader?recording=rec-test-0001&from_sample=0")
    first = msgpack.unpackb((await asyncio.wait_for(watching.receive(), 5)).data)
    assert first["t"] == "meta"  # joined
    readers = client.app[readers_key]
    real_join = readers.join

    async def failing_join(*args: Any, **kw: Any) -> Any:
        raise ConnectionError("bus unreachable")  # e.g. Redis refused a connection

    monkeypatch.setattr(readers, "join", failing_join)
    refused = await reader_socket(client, token, "/ws/reader?recording=rec-test-0001")
    msg = await asyncio.wait_for(refused.receive(), 5)
    assert msg.type == WSMsgType.BINARY  # a protocol frame, not an HTTP error page inside the socket
    error = msgpack.unpackb(msg.data)
    assert error["t"] == "error" and error["code"] == CloseCode.INTERNAL_ERROR and "retry" in error["reason"]
    assert (await asyncio.wait_for(refused.receive(), 5)).type == WSMsgType.CLOSE
    assert refused.close_code == CloseCode.INTERNAL_ERROR
    monkeypatch.setattr(readers, "join", real_join)
    for seq in range(1, 5):
        await device.send_bytes(encode(Data(seq, seq * 20, 20, block(seq))))
    await device.send_bytes(encode(End(5)))
    frames = await read_until_end(watching)
    assert [f["seq"] for f in frames if f["t"] == "samples"] == list(range(5))
