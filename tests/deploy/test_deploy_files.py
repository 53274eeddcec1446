"""The deploy/ files: they parse, they say what the service needs, and the shared nginx
routing runs for real in front of two nodes."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtest.reader import watch
from teleconsult.config import load_settings
from teleconsult.device import DeviceSimulator, load_wfdb
from tests.conftest import REPO, ServerProcess, World, free_port, need
from tests.http_helpers import login, wait_for_recording

DEPLOY = REPO / "deploy"
METRICS_TOKEN = "test-scrape-token"


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def test_compose_runs_two_nodes_on_shared_engines_behind_nginx_with_coturn() -> None:
    compose = yaml_documents(DEPLOY / "compose" / "docker-compose.yml")[0]
    services = compose["services"]
    assert {"app1", "app2", "redis", "postgres", "nginx", "coturn"} <= set(services)
    for name in ("app1", "app2"):
        env = services[name]["environment"]
        assert env["TELECONSULT_DATABASE_URL"].startswith("postgresql://")
        assert env["TELECONSULT_REDIS_URL"].startswith("redis://")
        assert env["TELECONSULT_NODE_ID"] == name
        assert "/readyz" in " ".join(services[name]["healthcheck"]["test"])
        assert "recordings:/data" in services[name]["volumes"]  # one archive both nodes reach
    assert services["app1"]["environment"]["PGPASSWORD"].startswith("${")  # secrets from .env only
    assert services["app1"]["environment"]["TELECONSULT_TURN_SECRET"].startswith("${TURN_SECRET")


def test_kubernetes_manifests_probe_scale_and_route_by_recording() -> None:
    docs = {doc["kind"]: doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml_documents(path)}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Ingress", "ConfigMap", "Secret",
            "PersistentVolumeClaim", "PodDisruptionBudget"} <= set(docs)
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"configMapRef": {"name": "teleconsult"}} in container["envFrom"]
    assert {"secretRef": {"name": "teleconsult"}} in container["envFrom"]
    assert docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == "teleconsult"
    assert docs["PersistentVolumeClaim"]["spec"]["accessModes"] == ["ReadWriteMany"]
    annotations = docs["Ingress"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/upstream-hash-by"] == "$arg_recording"
    # the pod's environment: the ConfigMap plus the Secret (TURN needs its shared secret)
    settings = load_settings(environ={**docs["ConfigMap"]["data"], **docs["Secret"]["stringData"]})
    assert settings.redis_url and settings.database_url and settings.turn_urls and settings.turn_secret


def test_systemd_units_start_the_real_cli_with_a_valid_config(tmp_path: Path) -> None:
    unit = (DEPLOY / "systemd" / "teleconsult@.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert exec_start is not None
    args = exec_start.group(1).split()
    assert args[0].endswith("/teleconsult") and args[1] == "serve"
    help_text = subprocess.run(["python", "-m", "teleconsult", "serve", "--help"], capture_output=True, text=True,
                               cwd=REPO, check=True).stdout
    for flag in (a for a in args[2:] if a.startswith("--")):
        assert flag in help_text, f"{flag} is not a flag of teleconsult serve"
    settings = load_settings(str(DEPLOY / "systemd" / "teleconsult.toml"), environ={})
    assert settings.database_url.startswith("postgresql://") and settings.metrics_token


def test_coturn_gives_ephemeral_credentials_only_and_never_relays_into_private_networks() -> None:
    conf = (DEPLOY / "coturn" / "turnserver.conf").read_text()
    lines = {line.strip() for line in conf.splitlines() if line.strip() and not line.startswith("#")}
    assert "use-auth-secret" in lines
    assert not any(line.startswith(("user=", "lt-cred-mech", "static-auth-secret=")) for line in lines)
    assert "tls-listening-port=5349" in lines
    for private in ("10.0.0.0-10.255.255.255", "192.168.0.0-192.168.255.255", "172.16.0.0-172.31.255.255"):
        assert f"denied-peer-ip={private}" in lines


def nginx_config(root: Path, ports: list[int], listen: int) -> Path:
    servers = "\n".join(f"        server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;" for port in ports)
    for name in ("teleconsult-proxy.conf", "teleconsult-websocket.conf"):
        shutil.copy(DEPLOY / "nginx" / name, root / name)
    conf = root / "nginx.conf"
    conf.write_text(f"""
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    upstream teleconsult_by_recording {{
        hash $arg_recording consistent;
{servers}
    }}
    upstream teleconsult_any {{
        least_conn;
{servers}
    }}
    server {{
        listen 127.0.0.1:{listen};
        include {root}/teleconsult-proxy.conf;
    }}
}}
""")
    # the shared file includes its sibling by a relative name: resolve it against our prefix
    proxy = root / "teleconsult-proxy.conf"
    proxy.write_text(proxy.read_text().replace("include teleconsult-websocket.conf;",
                                               f"include {root}/teleconsult-websocket.conf;"))
    return conf


def scrape(node: ServerProcess) -> dict[str, float]:
    request = urllib.request.Request(f"{node.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    text = urllib.request.urlopen(request, timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def status_of(url: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    try:
        return int(urllib.request.urlopen(request, timeout=5).status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
async def test_nginx_routes_a_stream_and_its_readers_to_one_node(world: World, redis_url: str, tmp_path: Path,
                                                                  server_factory: type[ServerProcess],
                                                                  mitdb: Path) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    need(Path(nginx).exists(), "nginx is not installed")
    env = {"TELECONSULT_METRICS_TOKEN": METRICS_TOKEN}
    nodes = [server_factory(world.data_dir, redis_url=redis_url, node_id=f"node-{k}", extra_env=env) for k in (1, 2)]
    await asyncio.gather(*(asyncio.to_thread(node.start) for node in nodes))
    root = tmp_path / "nginx"
    root.mkdir()
    port = free_port()
    conf = nginx_config(root, [node.port for node in nodes], port)
    subprocess.run([nginx, "-t", "-p", str(root), "-c", str(conf)], check=True, capture_output=True)
    proc = subprocess.Popen([nginx, "-p", str(root), "-c", str(conf)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                await asyncio.sleep(0.05)
        lb = f"ws://127.0.0.1:{port}"
        token = await asyncio.to_thread(login, f"http://127.0.0.1:{port}", "reader_a", world.password)
        signal = load_wfdb(str(mitdb / "112"), seconds=30)
        sims = [DeviceSimulator(f"{lb}/ws/device", world.device_a, signal, speed=3.0, recording_id=f"nginx-lb-{k:04d}")
                for k in range(12)]
        devices = [asyncio.create_task(sim.run()) for sim in sims]
        await asyncio.sleep(1.0)
        for device in devices:
            if device.done():
                device.result()  # a device refused: its reason
        for sim in sims:
            await asyncio.to_thread(wait_for_recording, f"http://127.0.0.1:{port}", token, sim.recording_id)
        readers = [asyncio.create_task(watch(lb, token, sim.recording_id, backlog_s=0, timeout_s=60)) for sim in sims]
        await asyncio.sleep(1.5)
        during = [scrape(node) for node in nodes]
        results = await asyncio.gather(*readers)
        await asyncio.gather(*devices)
        assert all(r.ended and len(r.frames) > 50 for r in results), [(r.ended, len(r.frames)) for r in results]
        # Both nodes got streams (the hash spreads them) and every reader sat beside its
        # stream: no node has more readers than streams.
        live = [m["teleconsult_streams_live"] for m in during]
        assert sum(live) == 12 and min(live) >= 1, live
        assert [m["teleconsult_readers_connected"] for m in during] == live
        # the metrics endpoint is not reachable through the front, even with the token
        assert await asyncio.to_thread(status_of, f"http://127.0.0.1:{port}/metrics") == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
