"""``teleconsult kiosk``: a headless consult kiosk (docs/consults.md).

Requests a consult with its kiosk token, waits for a county doctor to accept, joins the call
with a camera/microphone, a media file or synthetic test sources, rejoins by itself after a
network drop, and exits when the consult ends. Prints one JSON line per step::

    {"event": "requested", "consult": 12, "on_duty": 2}
    {"event": "state", "state": "accepted"} … {"event": "state", "state": "in_call"}
    {"event": "ended", "consult": 12, "outcome": "completed", "frames": {"audio": 950, "video": 570}, "joins": 1}

Exit status: 0 the consult ended (any outcome after it was accepted), 3 nobody on duty,
4 nobody accepted within ``--wait-s`` (the request is cancelled), 2 refused (token, input).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

from teleconsult.consult_peer import ConsultApi, ConsultPeer, loopback_only, media_sources


def _say(**fields: Any) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


async def kiosk_session(url: str, token: str, *, urgency: str = "urgent", reason: str = "",
                        recording_id: str | None = None, media: str | None = None, camera: str | None = None,
                        duration_s: float | None = None, wait_s: float = 300.0, ecg_record: str | None = None,
                        device_token: str | None = None) -> int:
    ecg: asyncio.Task[Any] | None = None
    if ecg_record and device_token:
        # The kiosk's ECG device streams for as long as the consult lasts; the consult is
        # linked to its recording so that the county doctor watches it beside the video.
        from teleconsult.device import DeviceSimulator, load_wfdb

        ws_url = url.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + "/ws/device"
        sim = DeviceSimulator(ws_url, device_token, load_wfdb(ecg_record), speed=1.0)
        ecg = asyncio.create_task(sim.run())
        recording_id = sim.recording_id
        for _ in range(200):  # the recording exists once the server has welcomed the device
            if sim.client.acked_seq >= 0 or ecg.done():
                break
            await asyncio.sleep(0.05)
        if ecg.done():
            ecg.result()  # the device was refused: say why
        _say(event="ecg", recording=recording_id)
    try:
        return await _kiosk_consult(url, token, urgency=urgency, reason=reason, recording_id=recording_id, media=media,
                                    camera=camera, duration_s=duration_s, wait_s=wait_s)
    finally:
        if ecg is not None:
            ecg.cancel()
            with contextlib.suppress(BaseException):
                await ecg


async def _kiosk_consult(url: str, token: str, *, urgency: str, reason: str, recording_id: str | None,
                         media: str | None, camera: str | None, duration_s: float | None, wait_s: float) -> int:
    async with aiohttp.ClientSession() as http:
        api = ConsultApi(http, url, token)
        body = await api.call("POST", "/api/consults", {"urgency": urgency, "reason": reason,
                                                        "recording_id": recording_id})
        if "consult" not in body or body.get("status") not in (None, 201):
            if body.get("on_duty") == 0:
                _say(event="unavailable", consult=body["consult"]["id"], reason=body["error"])
                return 3
            _say(event="refused", status=body.get("status"), reason=body.get("error"))
            return 2
        cid = int(body["consult"]["id"])
        _say(event="requested", consult=cid, on_duty=body["presence"]["on_duty"])
        peer = ConsultPeer(url, token, cid, tracks=media_sources(media, camera), name="kiosk")
        task = asyncio.create_task(peer.run())
        seen: set[str] = set()

        def report() -> bool:
            for _, state in peer.states:
                if state not in seen:
                    seen.add(state)
                    _say(event="state", state=state)
            return peer.state in ("accepted", "connecting", "in_call", "reconnecting", "ended") or task.done()

        try:
            await peer.wait_for(report, wait_s)
        except asyncio.TimeoutError:
            await api.call("POST", f"/api/consults/{cid}/cancel", {"reason": "nobody answered the kiosk"})
            await asyncio.wait_for(task, 10)
            _say(event="ended", consult=cid, outcome="cancelled", frames=peer.stats.frames, joins=peer.stats.joins)
            return 4
        started = time.monotonic()

        def done() -> bool:
            report()
            if duration_s is not None and peer.state == "in_call" and time.monotonic() - started >= duration_s:
                return True
            return peer.ended.is_set() or task.done()

        while not done():  # re-checked on every change and every second (for the duration)
            with contextlib.suppress(asyncio.TimeoutError):
                await peer.wait_for(done, 1.0)
        if not peer.ended.is_set() and not task.done():
            await peer.hangup("kiosk session over")
        await asyncio.wait_for(task, 15)
        final = (await api.call("GET", f"/api/consults/{cid}"))["consult"]
        report()
        _say(event="ended", consult=cid, outcome=final["outcome"], frames=peer.stats.frames, joins=peer.stats.joins)
        return 0


def run_kiosk(url: str, token: str, *, urgency: str = "urgent", reason: str = "", recording_id: str | None = None,
              media: str | None = None, camera: str | None = None, duration_s: float | None = None,
              wait_s: float = 300.0, ice_loopback: bool = False, ecg_record: str | None = None,
              device_token: str | None = None) -> int:
    """The ``teleconsult kiosk`` command (``ice_loopback``: gather ICE on 127.0.0.1 only, for one-machine tests)."""
    context = loopback_only() if ice_loopback else contextlib.nullcontext()
    with context:
        return asyncio.run(kiosk_session(url, token, urgency=urgency, reason=reason, recording_id=recording_id,
                                         media=media, camera=camera, duration_s=duration_s, wait_s=wait_s,
                                         ecg_record=ecg_record, device_token=device_token))


__all__ = ["kiosk_session", "run_kiosk"]
