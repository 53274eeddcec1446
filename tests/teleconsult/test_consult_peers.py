"""Two aiortc peers hold a consult through a real ``teleconsult serve`` process on loopback:
request, queue, accept, real audio and video frames both ways, hang-up; a village peer that
loses its socket and peer connection mid-call rejoins and media flows again; a third user and
another county's doctor are refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtest.reader import watch
from teleconsult.consult_peer import ConsultApi, ConsultPeer, login, loopback_only
from tests.conftest import ServerProcess, World, cli

REJOIN_MEDIA_S = 10.0  # docs/consults.md: media flows again within this after a drop (typically ~1 s)


@pytest.fixture(autouse=True)
def _loopback() -> Iterator[None]:
    with loopback_only():
        yield


def frames(peer: ConsultPeer, gen: int | None = None) -> dict[str, int]:
    if gen is None:
        return dict(peer.stats.frames)
    return {kind: peer.stats.frames_by_gen.get((gen, kind), 0) for kind in ("audio", "video")}


def flowing(peer: ConsultPeer, gen: int, at_least: int = 20) -> bool:
    got = frames(peer, gen)
    return got["audio"] >= at_least and got["video"] >= at_least


async def start_call(http: aiohttp.ClientSession, server: ServerProcess, world: World,
                     ) -> tuple[ConsultApi, ConsultApi, int, ConsultPeer, ConsultPeer, list[asyncio.Task[None]]]:
    doctor = ConsultApi(http, server.url, await login(http, server.url, "doctor_a", world.password))
    reader = ConsultApi(http, server.url, await login(http, server.url, "reader_a", world.password))
    await reader.on_duty()
    cid = int((await doctor.request("stat", "chest pain 2 h, ECG streaming now"))["consult"]["id"])
    queue = await reader.call("GET", "/api/consults/queue", expect=200)
    assert [c["id"] for c in queue["consults"]] == [cid]
    village = ConsultPeer(server.url, doctor.token, cid, name="village")
    tasks = [asyncio.create_task(village.run())]
    await village.wait_for(lambda: village.role == "village", 10)
    await reader.accept(cid)
    county = ConsultPeer(server.url, reader.token, cid, name="county")
    tasks.append(asyncio.create_task(county.run()))
    return doctor, reader, cid, village, county, tasks


@pytest.mark.slow
async def test_two_aiortc_peers_consult_through_the_server(world: World, server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        doctor, reader, cid, village, county, tasks = await start_call(http, server, world)
        await village.wait_state("in_call", 20)
        await village.wait_for(lambda: flowing(village, 1, 30), 20)
        await county.wait_for(lambda: flowing(county, 1, 30), 20)
        await county.hangup("done")
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        detail = await doctor.consult(cid)
    assert (detail["consult"]["state"], detail["consult"]["outcome"]) == ("ended", "completed")
    steps = [(t["event"], t["to"]) for t in detail["transitions"]]
    assert steps[:3] == [("request", "requested"), ("queue", "waiting"), ("join", "waiting")]
    assert ("accept", "accepted") in steps and ("offer", "connecting") in steps and ("connected", "in_call") in steps
    assert steps[-1] == ("hangup", "ended")
    # Decoded frames really arrived on both sides (counted by the receiving tracks).
    assert min(frames(village).values()) >= 30 and min(frames(county).values()) >= 30


@pytest.mark.slow
async def test_the_village_peer_drops_mid_call_rejoins_and_media_flows_again(world: World,
                                                                             server: ServerProcess) -> None:
    async with aiohttp.ClientSession() as http:
        doctor, reader, cid, village, county, tasks = await start_call(http, server, world)
        await village.wait_for(lambda: flowing(village, 1) and flowing(county, 1), 30)
        dropped_at = time.monotonic()
        await village.drop()  # socket and peer connection gone, no hang-up
        await village.wait_for(lambda: flowing(village, 2) and flowing(county, 2), REJOIN_MEDIA_S)
        back_s = time.monotonic() - dropped_at
        assert village.stats.joins == 2 and village.gen == 2 and county.gen == 2
        assert [s for _, s in county.states][-2:] == ["reconnecting", "in_call"]
        await village.hangup()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)
        detail = await doctor.consult(cid)
    assert detail["consult"]["id"] == cid and detail["consult"]["outcome"] == "completed"
    moves = [(t["event"], t["from"], t["to"]) for t in detail["transitions"] if t["from"] != t["to"]]
    assert ("drop", "in_call", "reconnecting") in moves
    assert [m for m in moves if m[0] == "connected"] == [("connected", "connecting", "in_call"),
                                                         ("connected", "reconnecting", "in_call")]
    print(f"media flowing again {back_s:.2f} s after the drop")


@pytest.mark.slow
async def test_a_third_user_or_another_countys_doctor_cannot_join(world: World, server: ServerProcess) -> None:
    world.user("doctor_a2", "village_doctor", world.village_a)
    async with aiohttp.ClientSession() as http:
        doctor, reader, cid, village, county, tasks = await start_call(http, server, world)
        await village.wait_state("in_call", 20)
        refused: dict[str, Any] = {}
        for name in ("doctor_a2", "reader_b"):
            intruder = ConsultPeer(server.url, await login(http, server.url, name, world.password), cid, name=name)
            await asyncio.wait_for(intruder.run(), 10)
            refused[name] = (intruder.errors[0]["code"], intruder.close_codes[-1], intruder.role)
            api = ConsultApi(http, server.url, intruder.token)
            assert (await api.call("POST", f"/api/consults/{cid}/messages", {"text": "hi"}))["status"] == 403
        assert refused == {"doctor_a2": (4003, 4003, ""), "reader_b": (4003, 4003, "")}
        assert village.state == "in_call" and county.state == "in_call"  # the call went on undisturbed
        await county.hangup()
        await asyncio.wait_for(asyncio.gather(*tasks), 15)


@pytest.mark.slow
def test_kiosk_agent_requests_joins_and_streams(world: World, server: ServerProcess, mitdb: Path) -> None:
    """``teleconsult kiosk`` (a real process, streaming its ECG device too) against a county
    doctor's aiortc peer, who watches the kiosk's ECG live."""
    import json
    import sys

    from tests.conftest import REPO

    token = str(cli(world.data_dir, "kiosk-token", "--org", str(world.village_a), "--name", "kiosk 1")["token"])

    async def doctor_side() -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            reader = ConsultApi(http, server.url, await login(http, server.url, "reader_a", world.password))
            await reader.on_duty()
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "kiosk", "--url", server.url,
                "--token", token, "--urgency", "stat", "--reason", "kiosk test", "--duration-s", "5", "--ice-loopback",
                "--ecg-record", str(mitdb / "101"), "--device-token", world.device_a,
                cwd=REPO, stdout=asyncio.subprocess.PIPE)
            assert proc.stdout is not None
            cid, ecg_recording = None, None
            while cid is None:
                line = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
                ecg_recording = line.get("recording") if line.get("event") == "ecg" else ecg_recording
                cid = line.get("consult") if line.get("event") == "requested" else None
            await reader.accept(cid)
            consult = await reader.call("GET", f"/api/consults/{cid}")
            assert ecg_recording and consult["consult"]["recording_id"] == ecg_recording
            county = ConsultPeer(server.url, reader.token, cid, name="county")
            call = asyncio.create_task(county.run())
            # during the call the doctor watches the kiosk's ECG live over the reader socket
            ecg = await watch(server.ws_url, reader.token, ecg_recording, backlog_s=5, until_end=False, timeout_s=3)
            assert ecg.meta["leads"] == ["MLII", "V1"] and len(ecg.frames) > 10
            await asyncio.wait_for(call, 60)
            out = (await asyncio.wait_for(proc.stdout.read(), 30)).decode()
            assert await proc.wait() == 0, out
            last = json.loads(out.strip().splitlines()[-1])
            return {"county": frames(county), "kiosk": last, "state": county.state}

    with loopback_only():
        result = asyncio.run(doctor_side())
    assert result["state"] == "ended" and result["kiosk"]["outcome"] == "completed"
    assert min(result["county"].values()) >= 20 and min(result["kiosk"]["frames"].values()) >= 20
