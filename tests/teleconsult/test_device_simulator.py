"""The device simulator's reconnect path, against a scripted server socket."""

from __future__ import annotations

import asyncio

import numpy as np

from streaming.frames import Ack, Data, End, Welcome, decode_device_frame, encode
from teleconsult.device import DeviceSimulator, Signal


class ScriptedSocket:
    """Answers a hello with a welcome and acks every data frame it is sent."""

    def __init__(self, recording: str, resume_seq: int) -> None:
        self.welcome = encode(Welcome(recording=recording, resume_seq=resume_seq, window=256))
        self.sent: list[object] = []
        self._inbox: asyncio.Queue[bytes] = asyncio.Queue()

    async def send(self, message: bytes) -> None:
        frame = decode_device_frame(message)
        self.sent.append(frame)
        if isinstance(frame, (Data, End)):
            self._inbox.put_nowait(encode(Ack(seq=frame.seq)))

    async def recv(self) -> bytes:
        return self.welcome

    def __aiter__(self) -> "ScriptedSocket":
        return self

    async def __anext__(self) -> bytes:
        return await self._inbox.get()


async def test_a_device_that_reconnects_after_producing_everything_resends_what_was_not_acked() -> None:
    signal = Signal(np.zeros((200, 2), dtype=np.int16), 500.0, ("I", "II"), 200.0)
    sim = DeviceSimulator("ws://unused", "tcd_token", signal, speed=1000.0, frame_s=0.04)
    await sim._produce()  # every block produced, none sent (the link was down all along)
    sim._more.clear()  # ... and a previous connection's sender had already consumed the wake-up
    socket = ScriptedSocket(sim.recording_id, resume_seq=0)
    await asyncio.wait_for(sim._session(socket), timeout=5)  # type: ignore[arg-type]
    assert [f.seq for f in socket.sent if isinstance(f, Data)] == list(range(10))
    assert sim.client.finished
