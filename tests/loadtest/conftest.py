"""Fixtures for the load-test tool: short real runs (as the console script runs them) and Chromium.

Each run is a subprocess ``python -m loadtest …`` against servers it starts itself, a few
devices for a few seconds; its JSON and HTML land in a temporary directory shared by the
tests of the session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import pg
from tests.conftest import REPO, SHARED, need
from tests.web.conftest import system_chromium

CPSC_RECORD = SHARED / "data" / "cpsc2018" / "challenge2020_wfdb" / "A0005"


@dataclass
class LoadRun:
    returncode: int
    stdout: str
    stderr: str
    json_path: Path
    html_path: Path

    @property
    def doc(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.json_path.read_text(encoding="utf-8"))
        return data


def run_loadtest(out_dir: Path, *args: str, timeout_s: float = 240) -> LoadRun:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out_dir / "results.json", out_dir / "report.html"
    proc = subprocess.run([sys.executable, "-m", "loadtest", *args, "--json", str(json_path), "--html",
                           str(html_path)], cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    return LoadRun(proc.returncode, proc.stdout, proc.stderr, json_path, html_path)


@pytest.fixture(scope="session")
def two_worker_run(tmp_path_factory: pytest.TempPathFactory) -> LoadRun:
    """4 devices (real 12-lead CPSC 2018 ECG) for 4 s, 2 workers, one server limited to 1.5 cores,
    one reader each."""
    need((CPSC_RECORD.parent / "A0005.hea").exists(), f"CPSC 2018 record not found: {CPSC_RECORD}")
    return run_loadtest(tmp_path_factory.mktemp("load-2w"), "--devices", "4", "--duration-s", "4",
                        "--workers", "2", "--node-cpu", "1.5", "--record", str(CPSC_RECORD), "--drain-s", "20", "--warmup-s", "0",
                        "--fail-if", "lost_samples>0", "--fail-if", "reader_frames_missed > 0",
                        "--fail-if", "errors>0")


@pytest.fixture(scope="session")
def two_node_run(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> Iterator[LoadRun]:
    """Two servers on PostgreSQL + a Redis of the run's own; a ramp that rises and falls;
    readers on the other node."""
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    with pg.fresh_schema(postgres_server_url) as database_url:
        yield run_loadtest(tmp_path_factory.mktemp("load-2n"), "--nodes", "2", "--redis", "auto",
                           "--database-url", database_url,
                           "--ramp", "0:2,1.5:4,3:4,3:2,4.5:2", "--workers", "2", "--record", "synthetic",
                           "--readers-on", "other", "--drain-s", "20", "--warmup-s", "0",
                           "--fail-if", "lost_samples>0", "--fail-if", "devices_max<1000")


@pytest.fixture(scope="session")
def clinic_run(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> Iterator[LoadRun]:
    """Report and consult traffic beside 2 streaming devices for 8 s: two servers on PostgreSQL
    + Redis, the village side on one node, the county side on the other."""
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    with pg.fresh_schema(postgres_server_url) as database_url:
        yield run_loadtest(tmp_path_factory.mktemp("load-clinic"), "--nodes", "2", "--redis", "auto",
                           "--database-url", database_url, "--devices", "2", "--duration-s", "8",
                           "--record", str(CPSC_RECORD) if (CPSC_RECORD.parent / "A0005.hea").exists() else "synthetic",
                           "--reports-per-min", "30", "--read-s", "0.5", "--report-readers", "2",
                           "--consults", "2", "--consult-hold-s", "2", "--drain-s", "20", "--warmup-s", "0",
                           "--fail-if", "reports_undelivered>0", "--fail-if", "consult_probes_lost>0",
                           "--fail-if", "consult_failures>0", "--fail-if", "reports_delivered<1000")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Module-scoped: Playwright's sync API runs an event loop of its own, which must be gone
    before the asyncio tests of other modules run."""
    yield from system_chromium()
