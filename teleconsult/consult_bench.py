"""Consult benchmark: ``python -m teleconsult.consult_bench``.

Starts its own ``teleconsult serve`` on a fresh data directory (SQLite, in-process bus),
seeds a county with doctors and a village with doctors (sessions written straight into the
database, so thousands of logins do not measure Argon2), then:

1. **request → in_call** over ``--consults`` (≥ 20) real consults, one after another: a
   village doctor's aiortc peer requests and joins; the county doctor's agent hears the
   request on its ``/ws/notify`` socket, accepts and joins with its aiortc peer; the time is
   from the request's POST to the village peer seeing ``in_call`` (its RTCPeerConnection
   connected). Media is checked to flow both ways before hanging up.
2. **signalling capacity**: for each step of ``--steps`` (e.g. 250,500,1000) that many
   consults at once, each with two signalling-only websocket clients (no media): request,
   accept, join, offer/answer, 4 ICE candidates each way, ``connected``; then they hold for
   ``--hold-s`` while every client sends an ICE candidate to its peer every 2 s. A step is
   held when every consult reached ``in_call`` and ended cleanly, every probe sent arrived,
   and the relay p99 (client → server → other client) stayed under ``--relay-p99-ms``.

Prints JSON lines and a summary; exits 1 when the request→in_call p95 is above
``--target-p95-s`` or fewer than ``--target-consults`` concurrent consults were held.
ICE candidates are gathered on 127.0.0.1 only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from teleconsult import auth
from teleconsult.consult_peer import ConsultApi, ConsultPeer, loopback_only
from teleconsult.storage.sql import Database

FAKE_SDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" + "a=x-bench:" + "x" * 3000 + "\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))]


@dataclass
class Seeded:
    village_tokens: list[str]
    county_tokens: list[str]


def seed(db_path: Path, doctors: int) -> Seeded:
    db = Database(db_path)
    try:
        county = db.create_org("Bench County", "county")
        township = db.create_org("Bench Township", "township", county.id)
        village = db.create_org("Bench Village", "village", township.id)
        pw = auth.hash_password(secrets.token_hex(8))
        out = Seeded([], [])
        for k in range(doctors):
            for role, org, tokens in (("village_doctor", village.id, out.village_tokens),
                                      ("county_reader", county.id, out.county_tokens)):
                user = db.create_user(f"{role}-{k}", pw, role, org)
                token = auth.new_session_token()
                db.create_session(auth.token_hash(token), user.id, 6 * 3600)
                tokens.append(token)
        return out
    finally:
        db.close()


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TELECONSULT_PRESENCE_TTL_S": "3600"}
        self.proc = subprocess.Popen([sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "serve",
                                      "--port", str(self.port), "--data-dir", str(self.data_dir)],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if '"event": "ready"' in line:
                return
            if not line and self.proc.poll() is not None:
                break
        raise RuntimeError("the server did not start")

    def cpu_s(self) -> float:
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- 1. request -> in_call with aiortc peers ---------------------------------------------------------


async def county_agent(http: aiohttp.ClientSession, url: str, token: str, accepted: asyncio.Queue[int]) -> None:
    """A county doctor's page: on duty, hears requests on /ws/notify, accepts, hands the id on."""
    api = ConsultApi(http, url, token)
    await api.on_duty()
    async with http.ws_connect(url.replace("http", "ws") + "/ws/notify",
                               headers={"Authorization": f"Bearer {token}"}) as ws:
        async for msg in ws:
            notice = json.loads(msg.data)
            if notice.get("t") == "consult" and notice.get("event") == "waiting":
                body = await api.call("POST", f"/api/consults/{notice['consult']}/accept")
                if "consult" in body:
                    accepted.put_nowait(int(notice["consult"]))


async def one_call(http: aiohttp.ClientSession, url: str, village_token: str, county_token: str,
                   accepted: asyncio.Queue[int]) -> dict[str, float]:
    api = ConsultApi(http, url, village_token)
    t0 = time.monotonic()
    cid = int((await api.request("stat", "bench"))["consult"]["id"])
    village = ConsultPeer(url, village_token, cid, name="village")
    tasks = [asyncio.create_task(village.run())]
    got = await asyncio.wait_for(accepted.get(), 30)
    assert got == cid, (got, cid)
    county = ConsultPeer(url, county_token, cid, name="county")
    tasks.append(asyncio.create_task(county.run()))
    await village.wait_state("in_call", 30)
    in_call_s = time.monotonic() - t0
    await village.wait_for(lambda: all(v >= 5 for v in village.stats.frames.values()) and
                           all(v >= 5 for v in county.stats.frames.values()), 30)
    media_s = time.monotonic() - t0
    await village.hangup()
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    return {"request_to_in_call_s": in_call_s, "request_to_media_both_ways_s": media_s}


async def bench_calls(url: str, seeded: Seeded, n: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        accepted: asyncio.Queue[int] = asyncio.Queue()
        agent = asyncio.create_task(county_agent(http, url, seeded.county_tokens[0], accepted))
        await asyncio.sleep(0.5)  # the agent is on duty and listening
        results = []
        for k in range(n):
            r = await one_call(http, url, seeded.village_tokens[0], seeded.county_tokens[0], accepted)
            results.append(r)
            print(json.dumps({"call": k + 1, **{key: round(v, 3) for key, v in r.items()}}), flush=True)
        agent.cancel()
    in_call = [r["request_to_in_call_s"] for r in results]
    media = [r["request_to_media_both_ways_s"] for r in results]
    return {"consults": n, "in_call_p50_s": round(statistics.median(in_call), 3),
            "in_call_p95_s": round(percentile(in_call, 0.95), 3), "in_call_max_s": round(max(in_call), 3),
            "media_p50_s": round(statistics.median(media), 3), "media_p95_s": round(percentile(media, 0.95), 3)}


# -- 2. signalling capacity ------------------------------------------------------------------------------


@dataclass
class Side:
    ws: aiohttp.ClientWebSocketResponse
    inbox: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    relay_ms: list[float] = field(default_factory=list)
    sent: int = 0
    errors: int = 0


async def _reader(side: Side) -> None:
    async for msg in side.ws:
        if msg.type != aiohttp.WSMsgType.TEXT:
            break
        data = json.loads(msg.data)
        if data.get("t") == "ice" and isinstance(data.get("candidate"), dict) and "sent" in data["candidate"].get(
                "usernameFragment", ""):
            sent = float(data["candidate"]["usernameFragment"].split("=", 1)[1])
            side.relay_ms.append((time.time() - sent) * 1000)
            continue
        if data.get("t") == "error":
            side.errors += 1
        side.inbox.put_nowait(data)


async def _until(side: Side, kind: str, key: str | None = None, value: Any = None, timeout: float = 60) -> None:
    while True:
        msg = await asyncio.wait_for(side.inbox.get(), timeout)
        if msg.get("t") == kind and (key is None or msg.get(key) == value):
            return


@dataclass
class SignallingOutcome:
    """One signalling-only consult: whether it ran cleanly, and its request → in_call time."""

    ok: bool
    setup_s: float | None  # None: never reached in_call


async def signalling_consult(http: aiohttp.ClientSession, village_url: str, county_url: str, village_token: str,
                             county_token: str, hold_s: float, ready: asyncio.Event, sides: list[Side],
                             probe_every_s: float = 2.0) -> SignallingOutcome:
    """A consult as two browsers' signalling would run it, without media: the village doctor
    requests through ``village_url``, the county doctor accepts through ``county_url`` (the
    same server, or another node), both join, exchange offer/answer and ICE, and hold for
    ``hold_s`` while each side sends its peer an ICE candidate every ``probe_every_s``
    carrying its send time (the relay latency); then the village side hangs up."""
    ws_village = village_url.replace("http", "ws", 1) + "/ws/consult?consult="
    ws_county = county_url.replace("http", "ws", 1) + "/ws/consult?consult="
    village_api, county_api = ConsultApi(http, village_url, village_token), ConsultApi(http, county_url, county_token)
    started = time.monotonic()
    cid = int((await village_api.request("urgent", "bench"))["consult"]["id"])
    await county_api.accept(cid)
    v = Side(await http.ws_connect(ws_village + str(cid), headers={"Authorization": f"Bearer {village_token}"}))
    c = Side(await http.ws_connect(ws_county + str(cid), headers={"Authorization": f"Bearer {county_token}"}))
    sides += [v, c]
    readers = [asyncio.create_task(_reader(v)), asyncio.create_task(_reader(c))]
    try:
        await _until(v, "peer", "present", True)
        await v.ws.send_json({"t": "offer", "sdp": FAKE_SDP, "gen": 1})
        await _until(c, "offer")
        await c.ws.send_json({"t": "answer", "sdp": FAKE_SDP, "gen": 1})
        await _until(v, "answer")
        for side in (v, c):
            for _ in range(4):
                await side.ws.send_json({"t": "ice", "candidate": CANDIDATE, "gen": 1})
        await c.ws.send_json({"t": "connected"})
        await _until(v, "state", "state", "in_call")
        setup_s = time.monotonic() - started
        ready.set()
        end = time.monotonic() + hold_s
        next_probe = time.monotonic() + min(probe_every_s, hold_s / 2)  # at least one probe each way
        while next_probe < end:
            await asyncio.sleep(max(0.0, next_probe - time.monotonic()))
            next_probe += probe_every_s
            for side in (v, c):
                await side.ws.send_json({"t": "ice", "gen": 1, "candidate": {
                    **CANDIDATE, "usernameFragment": f"sent={time.time():.6f}"}})
                side.sent += 1
        await asyncio.sleep(max(1.0, end - time.monotonic()))  # the last probes arrive
        await v.ws.send_json({"t": "hangup"})
        await _until(c, "state", "state", "ended")
        return SignallingOutcome(v.errors == 0 and c.errors == 0, setup_s)
    finally:
        for task in readers:
            task.cancel()
        await v.ws.close()
        await c.ws.close()


async def bench_step(url: str, seeded: Seeded, n: int, hold_s: float) -> dict[str, Any]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        for token in seeded.county_tokens[:n]:
            await ConsultApi(http, url, token).on_duty()
        sides: list[Side] = []
        events = [asyncio.Event() for _ in range(n)]
        started = time.monotonic()
        jobs = []
        for k in range(n):  # ramp: a few per millisecond, as pages would open
            jobs.append(asyncio.create_task(signalling_consult(http, url, url, seeded.village_tokens[k],
                                                               seeded.county_tokens[k], hold_s, events[k], sides)))
            if k % 20 == 19:
                await asyncio.sleep(0.05)
        results = await asyncio.gather(*jobs, return_exceptions=True)
        elapsed = time.monotonic() - started
    ok = sum(isinstance(r, SignallingOutcome) and r.ok for r in results)
    relay = [ms for side in sides for ms in side.relay_ms]
    expected_relays = sum(side.sent for side in sides)
    failures = [repr(r)[:120] for r in results if not (isinstance(r, SignallingOutcome) and r.ok)][:3]
    return {"consults": n, "sockets": 2 * n, "in_call": sum(e.is_set() for e in events), "completed_ok": ok,
            "relayed": len(relay), "relays_sent": expected_relays,
            "relay_p50_ms": round(statistics.median(relay), 1) if relay else None,
            "relay_p99_ms": round(percentile(relay, 0.99), 1) if relay else None, "elapsed_s": round(elapsed, 1),
            "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m teleconsult.consult_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--consults", type=int, default=20, help="aiortc consults for request→in_call (≥ 20)")
    parser.add_argument("--steps", default="250,500,1000", help="concurrent signalling-only consults per step")
    parser.add_argument("--hold-s", type=float, default=10.0)
    parser.add_argument("--relay-p99-ms", type=float, default=250.0)
    parser.add_argument("--target-p95-s", type=float, default=2.0)
    parser.add_argument("--target-consults", type=int, default=500)
    parser.add_argument("--json", help="write the summary here too")
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",") if s]
    root = Path(tempfile.mkdtemp(prefix="consult-bench-"))
    summary: dict[str, Any] = {}
    try:
        seeded = seed(root / "calls" / "teleconsult.sqlite3", 1)
        server = Server(root / "calls", free_port())
        server.start()
        try:
            with loopback_only():
                summary["calls"] = asyncio.run(bench_calls(server.url, seeded, args.consults))
        finally:
            server.stop()
        print(json.dumps({"calls": summary["calls"]}), flush=True)
        summary["signalling"] = []
        held = 0
        for n in steps:
            data_dir = root / f"step-{n}"
            seeded = seed(data_dir / "teleconsult.sqlite3", n)
            server = Server(data_dir, free_port())
            server.start()
            cpu0 = server.cpu_s()
            t0 = time.monotonic()
            try:
                step = asyncio.run(bench_step(server.url, seeded, n, args.hold_s))
                step["server_cpu_pct"] = round(100 * (server.cpu_s() - cpu0) / (time.monotonic() - t0), 1)
                step["server_rss_mib"] = round(server.rss_mib(), 1)
            finally:
                server.stop()
            step["held"] = (step["in_call"] == n and step["completed_ok"] == n
                            and step["relayed"] == step["relays_sent"]
                            and (step["relay_p99_ms"] or 1e9) <= args.relay_p99_ms)
            summary["signalling"].append(step)
            print(json.dumps({"signalling": step}), flush=True)
            if not step["held"]:
                break
            held = n
        summary["concurrent_consults_held"] = held
    finally:
        shutil.rmtree(root, ignore_errors=True)
    calls = summary["calls"]
    ok = calls["in_call_p95_s"] <= args.target_p95_s and summary["concurrent_consults_held"] >= args.target_consults
    print(f"request→in_call over {calls['consults']} aiortc consults: p50 {calls['in_call_p50_s']:.3f} s, "
          f"p95 {calls['in_call_p95_s']:.3f} s (target ≤ {args.target_p95_s} s); media both ways p50 "
          f"{calls['media_p50_s']:.3f} s")
    print(f"signalling: {summary['concurrent_consults_held']} concurrent consults held "
          f"({2 * summary['concurrent_consults_held']} sockets; target ≥ {args.target_consults})")
    summary["ok"] = ok
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
