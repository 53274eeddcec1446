"""Shared fixtures: real server processes, real Redis and PostgreSQL, an organisation tree, shared data."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import pg

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TELECONSULT_SHARED", REPO.parent / "shared"))
MITDB = SHARED / "data" / "mitdb"
IN_CI = os.environ.get("CI", "").lower() == "true"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need(condition: bool, why: str) -> None:
    """Skip locally when a real dependency is missing; under CI=true that is a failure."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required for CI: {why}")
        pytest.skip(why)


@pytest.fixture(scope="session")
def mitdb() -> Path:
    need((MITDB / "101.hea").exists(), f"MIT-BIH records not found under {MITDB}")
    return MITDB


def cli(data_dir: Path, *args: str, stdin: str | None = None, database_url: str = "") -> dict[str, object]:
    """Run ``teleconsult admin …`` (on ``database_url`` when given) and return its JSON output."""
    db_args = ["--database-url", database_url] if database_url else []
    out = subprocess.run([sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "admin", *args,
                          "--data-dir", str(data_dir), *db_args], input=stdin, capture_output=True, text=True,
                         check=True, cwd=REPO)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else {}


@dataclass
class World:
    """Two counties: A (township, village) and B (village), with readers, a doctor and devices."""

    data_dir: Path
    county_a: int
    township_a: int
    village_a: int
    county_b: int
    village_b: int
    device_a: str
    device_b: str
    password: str = "correct horse battery"
    database_url: str = ""  # "" = the SQLite file in data_dir

    def user(self, username: str, role: str, org: int) -> None:
        cli(self.data_dir, "create-user", "--username", username, "--role", role, "--org", str(org),
            "--password-stdin", stdin=self.password + "\n", database_url=self.database_url)


def make_world(data_dir: Path, database_url: str = "") -> World:
    """The organisation tree, seeded through ``teleconsult admin`` (into ``database_url`` when given)."""
    data_dir.mkdir(parents=True, exist_ok=True)

    def admin(*args: str) -> dict[str, object]:
        return cli(data_dir, *args, database_url=database_url)

    county_a = int(admin("create-org", "--name", "County A", "--kind", "county")["id"])  # type: ignore[arg-type]
    township_a = int(admin("create-org", "--name", "Township A1", "--kind", "township", "--parent", str(county_a))["id"])  # type: ignore[arg-type]
    village_a = int(admin("create-org", "--name", "Village A1a", "--kind", "village", "--parent", str(township_a))["id"])  # type: ignore[arg-type]
    county_b = int(admin("create-org", "--name", "County B", "--kind", "county")["id"])  # type: ignore[arg-type]
    township_b = int(admin("create-org", "--name", "Township B1", "--kind", "township", "--parent", str(county_b))["id"])  # type: ignore[arg-type]
    village_b = int(admin("create-org", "--name", "Village B1a", "--kind", "village", "--parent", str(township_b))["id"])  # type: ignore[arg-type]
    device_a = str(admin("device-token", "--org", str(village_a), "--name", "cart A")["token"])
    device_b = str(admin("device-token", "--org", str(village_b), "--name", "cart B")["token"])
    world = World(data_dir, county_a, township_a, village_a, county_b, village_b, device_a, device_b,
                  database_url=database_url)
    world.user("reader_a", "county_reader", county_a)
    world.user("reader_b", "county_reader", county_b)
    world.user("doctor_a", "village_doctor", village_a)
    return world


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path / "data")


class ServerProcess:
    """``teleconsult serve`` as a real subprocess."""

    def __init__(self, data_dir: Path, port: int | None = None, redis_url: str = "", node_id: str = "",
                 extra_env: dict[str, str] | None = None, database_url: str = "") -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.redis_url = redis_url
        self.database_url = database_url
        self.node_id = node_id or f"node-{self.port}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[str] | None = None
        self.log_path = data_dir.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> float:
        """Start and wait for readiness; returns seconds until ready."""
        args = [sys.executable, "-m", "teleconsult", "serve", "--port", str(self.port),
                "--data-dir", str(self.data_dir), "--node-id", self.node_id]
        if self.redis_url:
            args += ["--redis", self.redis_url]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.extra_env}
        log = open(self.log_path, "a")
        started = time.monotonic()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO, env=env)
        assert self.proc.stdout is not None
        while time.monotonic() - started < timeout_s:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: see {self.log_path}:\n{self.log_path.read_text()[-3000:]}")
                continue
            if '"event": "ready"' in line:
                return time.monotonic() - started
        raise RuntimeError("server not ready in time")

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait() if self.proc else 0

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def rss_kib(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_s(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[type[ServerProcess]]:
    started: list[ServerProcess] = []

    class _Factory(ServerProcess):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            started.append(self)

    yield _Factory
    for server in started:
        server.stop()


@pytest.fixture
def server(world: World, server_factory: type[ServerProcess]) -> ServerProcess:
    srv = server_factory(world.data_dir)
    srv.start()
    return srv


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis of our own (never one we did not start), or TELECONSULT_TEST_REDIS_URL."""
    external = os.environ.get("TELECONSULT_TEST_REDIS_URL")
    if external:
        yield external
        return
    need(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A PostgreSQL database for the session: TELECONSULT_TEST_POSTGRES_URL, or a server of our own.

    Our own server (tests/pg.py) lives in a temporary directory on a free port and is
    removed afterwards; on a server named by the environment variable the tests only
    create and drop schemas of their own (see :func:`postgres_url`).
    """
    external = os.environ.get("TELECONSULT_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    reason = pg.unavailable_reason()
    need(reason is None, reason or "")
    server = pg.PostgresServer()
    try:
        server.start()
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL whose sessions see one empty schema of this test's own (dropped afterwards)."""
    with pg.fresh_schema(postgres_server_url) as url:
        yield url


def pytest_configure(config: pytest.Config) -> None:
    warnings.filterwarnings("error", category=DeprecationWarning, module="teleconsult")
