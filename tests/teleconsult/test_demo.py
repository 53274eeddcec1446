"""The README's first command: ``teleconsult serve --demo`` shows a newcomer a live ECG with
its beats marked, on the embedded default (no external server)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from loadtest.reader import watch
from tests.conftest import ServerProcess
from tests.http_helpers import login, recordings

pytestmark = pytest.mark.slow


async def test_the_demo_streams_a_real_record_live_with_its_beats(tmp_path: Path, mitdb: Path) -> None:
    server = ServerProcess(tmp_path / "demo-data", extra_env={"TELECONSULT_DEMO": "1"})
    await asyncio.to_thread(server.start)
    try:
        token = await asyncio.to_thread(login, server.url, "reader", "teleconsult-demo")
        live: list[dict[str, object]] = []
        for _ in range(100):
            live = [r for r in await asyncio.to_thread(recordings, server.url, token) if r["status"] == "live"]
            if live:
                break
            await asyncio.sleep(0.1)
        assert live, "the demo device never started streaming"
        recording = str(live[0]["id"])
        result = await watch(server.ws_url, token, recording, backlog_s=10, until_end=False, timeout_s=6)
        assert result.meta["leads"] == ["MLII", "V1"] and result.meta["fs_hz"] == 360.0
        assert len(result.frames) > 50  # about a frame every 40 ms, in real time
        assert len(result.beats) >= 3  # MIT-BIH 101 runs at about 75 bpm
        assert (tmp_path / "demo-data" / "teleconsult.sqlite3").exists()  # the embedded default
    finally:
        server.stop()
