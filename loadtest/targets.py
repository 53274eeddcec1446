"""What the load goes to: servers this run starts, or servers that already run.

``--nodes N`` starts N ``teleconsult serve`` processes on free loopback ports sharing
one data directory; with more than one they need a Redis bus: ``--redis URL`` (used as
is, never flushed: recording ids are unique per run) or ``--redis auto`` (a
``redis-server`` of our own on a free port with its own temporary directory, no
persistence, stopped afterwards). ``--url`` (repeatable) targets servers that already
run; nothing is started or seeded then. ``node_cpu`` limits each server started to that
many cores (:mod:`loadtest.cpulimit`), as a container's CPU limit would.

    with LocalRedis(tmp) as redis:
        nodes = start_nodes(2, data_dir, redis.url, log_dir)
        ...
        stop_nodes(nodes)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from loadtest.cpulimit import CpuLimit, CpuLimitError

REPO = Path(__file__).resolve().parent.parent


class TargetError(RuntimeError):
    """A server or Redis could not be started; the message says where to look."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Node:
    """One server: its base URL and, when this run started it, its process."""

    url: str
    name: str
    proc: subprocess.Popen[bytes] | None = None
    ready_s: float | None = None
    log_path: Path | None = None
    cpu_limit: CpuLimit | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None


def _wait_ready(node: Node, timeout_s: float) -> None:
    assert node.proc is not None and node.log_path is not None
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        text = node.log_path.read_text(errors="replace")
        if '"event": "ready"' in text:
            return
        if node.proc.poll() is not None:
            raise TargetError(f"server {node.name} exited ({node.proc.returncode}); its log "
                              f"{node.log_path}:\n{text[-3000:]}")
        time.sleep(0.02)
    raise TargetError(f"server {node.name} not ready after {timeout_s:g} s; see {node.log_path}")


def start_nodes(n: int, data_dir: Path, redis_url: str, log_dir: Path, timeout_s: float = 30.0,
                database_url: str = "", node_cpu: float | None = None) -> list[Node]:
    """Start ``n`` servers on ``data_dir`` (and ``redis_url`` if given), each limited to
    ``node_cpu`` cores if given; return once all are ready.

    Raises:
        TargetError: a server exited or did not become ready, or its CPU limit could not be
            set (the others are stopped).
    """
    if n > 1 and not redis_url:
        raise TargetError("several nodes share readers through Redis: give --redis URL or --redis auto")
    nodes = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for k in range(n):
        port = free_port()
        name = f"load-node-{k}"
        log_path = log_dir / f"{name}.log"
        args = [sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "serve", "--host", "127.0.0.1",
                "--port", str(port), "--data-dir", str(data_dir), "--node-id", name]
        if redis_url:
            args += ["--redis", redis_url]
        if database_url:
            args += ["--database-url", database_url]
        with open(log_path, "wb") as log:
            started = time.monotonic()
            proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        node = Node(f"http://127.0.0.1:{port}", name, proc, log_path=log_path)
        node.ready_s = started  # start instant, replaced by the delay once ready
        nodes.append(node)
        if node_cpu is not None:
            try:
                node.cpu_limit = CpuLimit.create(name, node_cpu)
                node.cpu_limit.add(proc.pid)
            except CpuLimitError as exc:
                stop_nodes(nodes)
                raise TargetError(str(exc)) from None
    try:
        for node in nodes:
            _wait_ready(node, timeout_s)
            assert node.ready_s is not None
            node.ready_s = round(time.monotonic() - node.ready_s, 3)
    except BaseException:
        stop_nodes(nodes)
        raise
    return nodes


def stop_nodes(nodes: list[Node], timeout_s: float = 30.0) -> None:
    """SIGTERM (drain) every server this run started; SIGKILL one that does not stop."""
    for node in nodes:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.terminate()
    for node in nodes:
        if node.proc is not None:
            try:
                node.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()
        if node.cpu_limit is not None:
            node.cpu_limit.remove()


class LocalRedis:
    """A ``redis-server`` of this run's own: free loopback port, own directory, no persistence."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def start(self, timeout_s: float = 10.0) -> None:
        """Raises: TargetError: no ``redis-server`` on PATH, or it did not answer PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise TargetError("--redis auto needs redis-server (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TargetError("redis-server did not answer PING")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> LocalRedis:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


__all__ = ["Node", "LocalRedis", "TargetError", "start_nodes", "stop_nodes", "free_port"]
