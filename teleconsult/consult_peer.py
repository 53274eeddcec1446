"""An aiortc consult peer: the village (offering) or county (answering) side of a consult
over ``/ws/consult`` (docs/consults.md), with test sources or a media file/camera.

Used by the tests (two real peers through a real server), the kiosk agent
(``teleconsult kiosk``) and the benchmark. It behaves as the protocol asks every client to:
the village side makes a fresh RTCPeerConnection and a full offer whenever the county side
is (again) present; the county side answers every offer from a fresh RTCPeerConnection;
``gen`` drops late answers and candidates of replaced connections; after its socket drops
the peer rejoins the same consult (``auto_rejoin``) and renegotiates.

Calling order: ``peer = ConsultPeer(base_url, token, consult_id)``; ``task =
asyncio.create_task(peer.run())``; watch ``peer.frames``, ``peer.states``,
``peer.wait_state(...)``; ``await peer.hangup()`` or ``await peer.stop()``; await the task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from aiortc import (MediaStreamTrack, RTCConfiguration, RTCIceServer, RTCPeerConnection,
                    RTCSessionDescription)
from aiortc.contrib.media import MediaPlayer, MediaRelay
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame, VideoFrame

log = logging.getLogger(__name__)
FINAL_CLOSE_CODES = {1000, 4001, 4003, 4004, 4009, 4012}  # no point in rejoining after these

TrackFactory = Callable[[], list[MediaStreamTrack]]


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Gather ICE host candidates on 127.0.0.1 only, with short STUN retries (tests, benchmark).

    aioice leaves loopback out and uses every other interface by default; on loopback the
    peers never send a packet off this machine.
    """
    import aioice.ice
    import aioice.stun

    saved = aioice.ice.get_host_addresses, aioice.stun.RETRY_MAX, aioice.stun.RETRY_RTO
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]
    aioice.stun.RETRY_MAX, aioice.stun.RETRY_RTO = 2, 0.1
    try:
        yield
    finally:
        aioice.ice.get_host_addresses, aioice.stun.RETRY_MAX, aioice.stun.RETRY_RTO = saved


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone, 48 kHz mono, 20 ms frames (a test microphone)."""

    def __init__(self, hz: float = 440.0) -> None:
        super().__init__()
        self.hz = hz
        self._n = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()  # paces in real time, sets pts and time base
        assert isinstance(frame, AudioFrame)
        samples = frame.samples
        t = (np.arange(samples) + self._n) / frame.sample_rate
        self._n += samples
        tone = (np.sin(2 * math.pi * self.hz * t) * 8000).astype(np.int16).reshape(1, -1)
        out = AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        out.sample_rate, out.pts, out.time_base = frame.sample_rate, frame.pts, frame.time_base
        return out


class PatternTrack(VideoStreamTrack):
    """A small moving test pattern (a test camera): cheap to encode on a shared 2-core machine."""

    def __init__(self, width: int = 160, height: int = 120) -> None:
        super().__init__()
        self.width, self.height = width, height
        self._k = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        img = np.zeros((self.height, self.width, 3), dtype=np.uint8)
        img[:, :, 1] = 90
        x = (self._k * 4) % self.width
        img[:, x:x + 12, :] = 255
        self._k += 1
        frame = VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = pts, time_base
        return frame


def synthetic_sources(video: bool = True) -> TrackFactory:
    return lambda: [ToneTrack(), *([PatternTrack()] if video else [])]


def media_sources(media: str | None = None, camera: str | None = None) -> TrackFactory:
    """Tracks from a file or a camera (through a relay, so each new RTCPeerConnection gets its own
    view of the one player), else synthetic test sources."""
    if not media and not camera:
        return synthetic_sources()
    player = MediaPlayer(camera, format="v4l2") if camera else MediaPlayer(media or "")
    relay = MediaRelay()

    def tracks() -> list[MediaStreamTrack]:
        return [relay.subscribe(t) for t in (player.audio, player.video) if t is not None]

    return tracks


@dataclass
class PeerStats:
    frames: dict[str, int] = field(default_factory=lambda: {"audio": 0, "video": 0})
    frames_by_gen: dict[tuple[int, str], int] = field(default_factory=dict)
    connected_at: dict[int, float] = field(default_factory=dict)  # gen -> when the pc connected
    first_frame_at: dict[tuple[int, str], float] = field(default_factory=dict)
    joins: int = 0


class ConsultPeer:
    def __init__(self, base_url: str, token: str, consult_id: int, *, tracks: TrackFactory | None = None,
                 auto_rejoin: bool = True, rejoin_delay_s: float = 0.2, name: str = "") -> None:
        self.ws_url = base_url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + \
            f"/ws/consult?consult={consult_id}"
        self.token = token
        self.consult_id = consult_id
        self.tracks = tracks or synthetic_sources()
        self.auto_rejoin = auto_rejoin
        self.rejoin_delay_s = rejoin_delay_s
        self.name = name
        self.role = ""
        self.conn = ""
        self.ice_servers: list[RTCIceServer] = []
        self.state = ""
        self.states: list[tuple[float, str]] = []
        self.messages: list[dict[str, Any]] = []
        self.errors: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []
        self.stats = PeerStats()
        self.gen = 0
        self.peer_present = False
        self.ended = asyncio.Event()
        self._pc: RTCPeerConnection | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._stop = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()

    # -- driving it ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Join (and rejoin after drops) until the consult ends or :meth:`stop` is called."""
        async with aiohttp.ClientSession() as http:
            while not self._stop and not self.ended.is_set():
                try:
                    await self._session(http)
                except (aiohttp.ClientError, OSError) as exc:
                    log.info("%s: socket failed (%s)", self.name, type(exc).__name__)
                    self.close_codes.append(None)
                if self._stop or self.ended.is_set() or not self.auto_rejoin:
                    break
                if self.close_codes and self.close_codes[-1] in FINAL_CLOSE_CODES:
                    break
                await asyncio.sleep(self.rejoin_delay_s)
        await self._close_pc()
        for task in list(self._tasks):
            task.cancel()
        self._notify()

    async def stop(self) -> None:
        self._stop = True
        if self._ws is not None:
            await self._ws.close()

    async def hangup(self, reason: str = "") -> None:
        await self.send({"t": "hangup", "reason": reason})

    async def drop(self) -> None:
        """Lose the network: the peer connection and the socket go away without a hang-up
        (the peer then rejoins by itself, as after a Wi-Fi↔4G switch)."""
        await self._close_pc()
        if self._ws is not None:
            await self._ws.close(code=4000, message=b"network lost")

    async def send(self, message: dict[str, Any]) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(json.dumps(message))

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float) -> None:
        """Until ``predicate()`` holds (checked on every change); TimeoutError after ``timeout_s``."""
        async def waiter() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(waiter(), timeout_s)

    async def wait_state(self, state: str, timeout_s: float) -> None:
        await self.wait_for(lambda: self.state == state, timeout_s)

    def _notify(self) -> None:
        self._changed.set()

    # -- the socket -----------------------------------------------------------------------------

    async def _session(self, http: aiohttp.ClientSession) -> None:
        ws = await http.ws_connect(self.ws_url, headers={"Authorization": f"Bearer {self.token}"}, heartbeat=10.0)
        self._ws = ws
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    await self._handle(json.loads(msg.data))
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                    break
        finally:
            self._ws = None
            self.peer_present = False
            self.close_codes.append(ws.close_code)
            self._notify()

    async def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("t")
        if kind == "joined":
            self.role, self.conn = msg["role"], msg["conn"]
            self.ice_servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
                                for s in msg.get("ice_servers", [])]
            self._set_state(msg["consult"]["state"])
            self.stats.joins += 1
        elif kind == "peer":
            self.peer_present = bool(msg["present"])
            if self.peer_present and msg.get("you_offer"):
                await self._offer()
            elif not self.peer_present:
                await self._close_pc()
        elif kind == "offer" and self.role == "county":
            await self._answer(msg)
        elif kind == "answer" and self.role == "village":
            if msg.get("gen") == self.gen and self._pc is not None:
                await self._pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="answer"))
        elif kind == "ice":
            await self._add_candidate(msg)
        elif kind == "state":
            self._set_state(msg["state"])
        elif kind in ("chat", "file", "recording"):
            self.messages.append(msg)
        elif kind == "error":
            self.errors.append(msg)
        self._notify()

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.states.append((time.monotonic(), state))
        if state == "ended":
            self.ended.set()

    # -- the peer connection ------------------------------------------------------------------------

    async def _new_pc(self, gen: int) -> RTCPeerConnection:
        await self._close_pc()
        self.gen = gen
        pc = RTCPeerConnection(RTCConfiguration(iceServers=list(self.ice_servers)))
        self._pc = pc
        for track in self.tracks():
            pc.addTrack(track)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._consume(track, gen))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc is not self._pc:
                return
            if pc.connectionState == "connected":
                self.stats.connected_at.setdefault(gen, time.monotonic())
                await self.send({"t": "connected"})
            elif pc.connectionState == "failed":
                await self._close_pc()
            self._notify()

        return pc

    async def _offer(self) -> None:
        pc = await self._new_pc(self.gen + 1)
        gen = self.gen
        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers every candidate here
        if pc is self._pc:
            await self.send({"t": "offer", "sdp": pc.localDescription.sdp, "gen": gen})

    async def _answer(self, msg: dict[str, Any]) -> None:
        gen = msg.get("gen", 0)
        pc = await self._new_pc(gen if isinstance(gen, int) else 0)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=msg["sdp"], type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        if pc is self._pc:
            await self.send({"t": "answer", "sdp": pc.localDescription.sdp, "gen": self.gen})

    async def _add_candidate(self, msg: dict[str, Any]) -> None:
        init = msg.get("candidate")
        if msg.get("gen") != self.gen or self._pc is None or not isinstance(init, dict) or not init.get("candidate"):
            return
        text = str(init["candidate"])
        candidate = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        try:
            await self._pc.addIceCandidate(candidate)
        except ValueError:
            log.debug("%s: unusable candidate", self.name)

    async def _consume(self, track: MediaStreamTrack, gen: int) -> None:
        kind = track.kind
        try:
            while True:
                await track.recv()  # a decoded AudioFrame / VideoFrame
                self.stats.frames[kind] += 1
                key = (gen, kind)
                self.stats.frames_by_gen[key] = self.stats.frames_by_gen.get(key, 0) + 1
                self.stats.first_frame_at.setdefault(key, time.monotonic())
                self._notify()
        except MediaStreamError:
            return

    async def _close_pc(self) -> None:
        pc, self._pc = self._pc, None
        if pc is not None:
            await pc.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class ConsultApi:
    """The consult JSON API for Python clients (kiosk agent, tests, benchmark)."""

    def __init__(self, http: aiohttp.ClientSession, base_url: str, token: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.token = token

    async def call(self, method: str, path: str, body: Any = None, expect: int | None = None) -> Any:
        async with self.http.request(method, self.base_url + path, json=body,
                                     headers={"Authorization": f"Bearer {self.token}"}) as response:
            data = await response.json()
            if expect is not None and response.status != expect:
                raise RuntimeError(f"{method} {path}: {response.status} {data}")
            return data

    async def request(self, urgency: str = "urgent", reason: str = "", recording_id: str | None = None) -> Any:
        return await self.call("POST", "/api/consults", {"urgency": urgency, "reason": reason,
                                                         "recording_id": recording_id}, expect=201)

    async def on_duty(self, on: bool = True) -> Any:
        return await self.call("PUT", "/api/presence", {"on_duty": on}, expect=200)

    async def accept(self, consult_id: int) -> Any:
        return await self.call("POST", f"/api/consults/{consult_id}/accept", expect=200)

    async def consult(self, consult_id: int) -> Any:
        return await self.call("GET", f"/api/consults/{consult_id}", expect=200)


async def login(http: aiohttp.ClientSession, base_url: str, username: str, password: str) -> str:
    async with http.post(base_url.rstrip("/") + "/api/login", json={"username": username, "password": password}) as r:
        if r.status != 200:
            raise RuntimeError(f"login {username}: {r.status}")
        token: str = (await r.json())["token"]
        return token


__all__ = ["ConsultApi", "ConsultPeer", "PatternTrack", "PeerStats", "ToneTrack", "login", "loopback_only",
           "media_sources", "synthetic_sources"]
