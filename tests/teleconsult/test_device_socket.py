"""The device socket: acks only what is durable, resumes, and refuses bad input cleanly.

Each bad-input test keeps a second, healthy stream running and checks that it is
unaffected and that the bad stream's acknowledged frames are still stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from streaming.errors import CloseCode
from streaming.frames import Data, End, Hello, encode
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import Database
from tests.teleconsult.conftest import Seed, block, hello

from teleconsult.config import Settings


async def recv_frame(ws: Any, timeout: float = 5.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == WSMsgType.BINARY, msg
    frame: dict[str, Any] = msgpack.unpackb(msg.data)
    return frame


async def open_stream(client: TestClient, h: Hello) -> tuple[Any, dict[str, Any]]:
    ws = await client.ws_connect("/ws/device")
    await ws.send_bytes(encode(h))
    welcome = await recv_frame(ws)
    return ws, welcome


async def send_and_ack(ws: Any, first_seq: int, count: int, n: int = 20) -> int:
    for seq in range(first_seq, first_seq + count):
        await ws.send_bytes(encode(Data(seq, seq * n, n, block(seq))))
    last = first_seq + count - 1
    acked = -1
    while acked < last:
        frame = await recv_frame(ws)
        assert frame["t"] == "ack", frame
        acked = frame["seq"]
    return acked


async def expect_close(ws: Any, code: CloseCode) -> dict[str, Any]:
    """The error frame, then the close with the same code."""
    error = await recv_frame(ws)
    assert error["t"] == "error" and error["code"] == int(code), error
    msg = await asyncio.wait_for(ws.receive(), 5)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), msg
    assert (msg.data if msg.type == WSMsgType.CLOSE else ws.close_code) == int(code), msg
    return error


def stored(settings: Settings, recording: str, leads: int = 3) -> bytes:
    return FileArchive(settings.data_dir).read_samples(recording, leads, "int16").tobytes()


async def test_frames_are_acked_after_they_are_on_disk_and_stored_exactly(client: TestClient, seed: Seed,
                                                                           settings: Settings) -> None:
    ws, welcome = await open_stream(client, hello(seed.tokens["a"]))
    assert welcome == {"t": "welcome", "v": 1, "recording": "rec-test-0001", "resume_seq": 0, "window": 256,
                       "max_frame_bytes": 65536}
    assert await send_and_ack(ws, 0, 10) == 9
    assert stored(settings, "rec-test-0001") == b"".join(block(s) for s in range(10))
    await ws.send_bytes(encode(End(10)))
    assert await recv_frame(ws) == {"t": "ack", "seq": 9}  # the final ack
    await ws.receive()
    assert ws.close_code == 1000
    db = Database(settings.db_path)
    rec = db.get_recording("rec-test-0001")
    assert rec is not None and rec.status == "ended" and rec.n_samples == 200
    assert rec.patient_ref == "patient-123"


async def test_a_reconnecting_device_resumes_where_the_server_is(client: TestClient, seed: Seed,
                                                                  settings: Settings) -> None:
    ws, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(ws, 0, 5)
    await ws.close()
    ws2, welcome = await open_stream(client, hello(seed.tokens["a"]))
    assert welcome["resume_seq"] == 5
    # A device that resends a little too much: duplicates inside the window are dropped.
    await ws2.send_bytes(encode(Data(3, 60, 20, block(3))))
    await send_and_ack(ws2, 5, 5)
    assert stored(settings, "rec-test-0001") == b"".join(block(s) for s in range(10))


async def test_a_second_connection_for_the_same_recording_supersedes_the_first(client: TestClient,
                                                                                seed: Seed) -> None:
    ws1, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(ws1, 0, 3)
    ws2, welcome = await open_stream(client, hello(seed.tokens["a"]))
    assert welcome["resume_seq"] == 3
    await expect_close(ws1, CloseCode.SUPERSEDED)
    assert await send_and_ack(ws2, 3, 2) == 4


BAD_MESSAGES = {
    "malformed msgpack": (b"\xc1\xc1", CloseCode.BAD_FRAME),
    "truncated frame": (encode(Data(2, 40, 20, block(2)))[:-7], CloseCode.BAD_FRAME),
    "unknown frame type": (msgpack.packb({"t": "selfdestruct"}), CloseCode.BAD_FRAME),
    "wrong lead count": (encode(Data(2, 40, 20, block(2, leads=2))), CloseCode.BAD_DATA),
    "wrong block length": (encode(Data(2, 40, 25, block(2, n=25))), CloseCode.BAD_DATA),
    "NaN samples": (msgpack.packb({"t": "data", "seq": 2, "i0": 40, "n": 20, "d": [float("nan")] * 60}),
                    CloseCode.BAD_DATA),
    "oversized frame": (msgpack.packb({"t": "data", "seq": 2, "i0": 40, "n": 20, "d": b"\x00" * 70000}),
                        CloseCode.TOO_BIG),
    "sequence backwards outside the window": (encode(Data(0, 0, 20, block(0))), None),
    "sequence gap": (encode(Data(7, 140, 20, block(7))), CloseCode.BAD_SEQUENCE),
    "second hello": (None, CloseCode.BAD_STATE),
}


@pytest.mark.parametrize("case", sorted(BAD_MESSAGES))
async def test_bad_input_closes_only_that_stream_and_keeps_its_acked_frames(
        case: str, client: TestClient, seed: Seed, settings: Settings) -> None:
    message, code = BAD_MESSAGES[case]
    healthy, _ = await open_stream(client, hello(seed.tokens["a2"], recording="rec-healthy-01"))
    await send_and_ack(healthy, 0, 2)
    bad_hello = hello(seed.tokens["a"], recording="rec-bad-0001")
    ws, _ = await open_stream(client, bad_hello)
    await send_and_ack(ws, 0, 2)
    if case == "sequence backwards outside the window":
        # Move past the 256-frame resume window, then go back to 0.
        await send_and_ack(ws, 2, 300)
        code = CloseCode.BAD_SEQUENCE
        good_frames = 302
    else:
        good_frames = 2
    await ws.send_bytes(message if message is not None else encode(bad_hello))
    error = await expect_close(ws, code)  # type: ignore[arg-type]
    assert error["reason"] and "patient" not in error["reason"]
    # The other stream is unaffected ...
    assert await send_and_ack(healthy, 2, 3) == 4
    # ... and nothing acknowledged on the bad stream was lost; it can resume.
    assert stored(settings, "rec-bad-0001") == b"".join(block(s) for s in range(good_frames))
    ws2, welcome = await open_stream(client, bad_hello)
    assert welcome["resume_seq"] == good_frames


@pytest.mark.parametrize(("token_name", "reason"), [
    ("missing", "unknown device token"), ("expired", "device token expired"), ("revoked", "device token revoked"),
])
async def test_devices_without_a_valid_token_are_refused(client: TestClient, seed: Seed, token_name: str,
                                                         reason: str) -> None:
    token = seed.tokens.get(token_name, "tcd_not-a-token")
    ws = await client.ws_connect("/ws/device")
    await ws.send_bytes(encode(hello(token)))
    error = await expect_close(ws, CloseCode.UNAUTHENTICATED)
    assert error["reason"] == reason


async def test_a_device_of_another_county_cannot_write_into_a_recording(client: TestClient, seed: Seed,
                                                                        settings: Settings) -> None:
    ws, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(ws, 0, 3)
    intruder = await client.ws_connect("/ws/device")
    await intruder.send_bytes(encode(hello(seed.tokens["b"])))
    await expect_close(intruder, CloseCode.FORBIDDEN)
    assert await send_and_ack(ws, 3, 1) == 3
    assert stored(settings, "rec-test-0001") == b"".join(block(s) for s in range(4))
    audit = Database(settings.db_path).audit_rows()
    assert any(row["action"] == "stream.open" and row["outcome"] == "forbidden" for row in audit)


async def test_resume_with_a_different_signal_layout_is_refused(client: TestClient, seed: Seed) -> None:
    ws, _ = await open_stream(client, hello(seed.tokens["a"]))
    await send_and_ack(ws, 0, 1)
    await ws.close()
    ws2 = await client.ws_connect("/ws/device")
    await ws2.send_bytes(encode(hello(seed.tokens["a"], fs_hz=250.0)))
    await expect_close(ws2, CloseCode.BAD_HELLO)


async def test_text_messages_are_refused(client: TestClient, seed: Seed) -> None:
    ws = await client.ws_connect("/ws/device")
    await ws.send_str("hello")
    await expect_close(ws, CloseCode.UNSUPPORTED_DATA)


async def test_the_recording_a_load_balancer_routed_by_must_be_the_one_in_the_hello(client: TestClient,
                                                                                    seed: Seed) -> None:
    ws = await client.ws_connect("/ws/device?recording=rec-test-0001")
    await ws.send_bytes(encode(hello(seed.tokens["a"])))
    assert (await recv_frame(ws))["t"] == "welcome"
    await ws.close()
    other = await client.ws_connect("/ws/device?recording=someone-elses")
    await other.send_bytes(encode(hello(seed.tokens["a"])))
    await expect_close(other, CloseCode.BAD_HELLO)
