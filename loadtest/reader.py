"""A reader client (what a county reader's browser does), for tests and load tests."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import websockets

from streaming.frames import decode_reader_frame


@dataclass
class ReaderResult:
    meta: dict[str, Any] = field(default_factory=dict)
    frames: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # seq -> (i0, data)
    beats: list[int] = field(default_factory=list)
    hr_bpm: list[float] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    ended: bool = False
    close_code: int | None = None
    arrival: dict[int, float] = field(default_factory=dict)  # seq -> monotonic arrival time

    def samples(self) -> np.ndarray:
        """Display samples received, in order, as (n, n_leads) int32."""
        n_leads = len(self.meta["leads"])
        parts = [np.frombuffer(self.frames[s][1], dtype="<i4") for s in sorted(self.frames)]
        return np.concatenate(parts).reshape(-1, n_leads) if parts else np.zeros((0, n_leads), np.int32)


async def watch(base_ws_url: str, session_token: str, recording: str, *, max_fs_hz: float | None = None,
                backlog_s: float | None = None, from_sample: int | None = None, until_end: bool = True,
                timeout_s: float = 120.0, result: ReaderResult | None = None,
                stop: asyncio.Event | None = None) -> ReaderResult:
    """Watch one recording until it ends (or ``stop`` is set / ``timeout_s`` passes)."""
    query = f"recording={recording}"
    for name, value in (("max_fs_hz", max_fs_hz), ("backlog_s", backlog_s), ("from_sample", from_sample)):
        if value is not None:
            query += f"&{name}={value}"
    result = result or ReaderResult()
    headers = {"Authorization": f"Bearer {session_token}"}
    deadline = time.monotonic() + timeout_s
    async with websockets.connect(f"{base_ws_url}/ws/reader?{query}", additional_headers=headers,
                                  max_size=2**22, compression=None) as ws:
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=min(1.0, max(0.01, deadline - time.monotonic())))
            except asyncio.TimeoutError:
                continue
            except websockets.ConnectionClosed as exc:
                result.close_code = exc.rcvd.code if exc.rcvd else None
                break
            frame = decode_reader_frame(message if isinstance(message, bytes) else message.encode())
            kind = frame.get("t")
            if kind == "meta":
                result.meta = frame
            elif kind == "samples":
                result.frames[frame["seq"]] = (frame["i0"], frame["d"])
                result.arrival.setdefault(frame["seq"], time.monotonic())
            elif kind == "beats":
                result.beats.extend(frame["i"])
                if frame.get("hr_bpm") is not None:
                    result.hr_bpm.append(frame["hr_bpm"])
            elif kind == "gap":
                result.gaps.append(frame)
            elif kind == "end":
                result.ended = True
                if until_end:
                    try:
                        await asyncio.wait_for(ws.recv(), timeout=2)
                    except (websockets.ConnectionClosed, asyncio.TimeoutError) as exc:
                        if isinstance(exc, websockets.ConnectionClosed) and exc.rcvd:
                            result.close_code = exc.rcvd.code
                    break
    return result
