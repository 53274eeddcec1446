"""A load-generator worker process: ``python -m loadtest.worker`` (started by the parent).

Line protocol, one JSON object per line:

* parent → worker (stdin): the :class:`~loadtest.plan.WorkerPlan` (or, for the report and
  consult traffic, a :class:`~loadtest.clinic.ClinicPlan`, ``"kind": "clinic"``), then
  ``{"t0": T}`` with the monotonic instant the profile starts (the same clock in every
  process of the machine, so all workers start together).
* worker → parent (stdout): ``{"type": "ready"}`` once the ECG is loaded, then
  ``{"type": "window", "window": …}`` every closed window, then
  ``{"type": "result", "result": …}`` after the check against the server's copy (the
  clinic sends no windows and ``{"type": "result", "clinic": …}``).

Anything the worker has to say to a person goes to stderr.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from typing import Any

import aiohttp

from loadtest.clinic import Clinic, ClinicPlan
from loadtest.ecg_source import load_source
from loadtest.fleet import Fleet
from loadtest.metrics import Window
from loadtest.plan import WorkerPlan


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


async def _read_line() -> dict[str, Any]:
    line = await asyncio.to_thread(sys.stdin.readline)
    if not line:
        raise SystemExit("loadtest worker: the parent closed stdin")
    data: dict[str, Any] = json.loads(line)
    return data


async def work(plan: WorkerPlan) -> None:
    source = load_source(plan.record, plan.frame_s)
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, connect=60)  # sockets live as long as the run
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        _send({"type": "ready", "worker": plan.worker, "slots": len(plan.slots)})
        t0 = float((await _read_line())["t0"])

        def emit(window: Window) -> None:
            _send({"type": "window", "worker": plan.worker, "window": window.to_json()})

        fleet = Fleet(plan, source, session, emit)
        await fleet.run(t0)
        await fleet.verify()
        _send({"type": "result", "worker": plan.worker, "result": fleet.result().to_json()})


async def clinic_work(plan: ClinicPlan) -> None:
    timeout = aiohttp.ClientTimeout(total=None, connect=60, sock_read=120)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        clinic = Clinic(plan, session)
        await clinic.prepare()
        _send({"type": "ready", "worker": "clinic"})
        t0 = float((await _read_line())["t0"])
        result = await clinic.run(t0)
        _send({"type": "result", "worker": "clinic", "clinic": result.to_json()})


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops the workers
    data = json.loads(sys.stdin.readline())
    job = clinic_work(ClinicPlan.from_json(data)) if data.get("kind") == "clinic" else work(WorkerPlan.from_json(data))
    try:
        import uvloop
    except ImportError:
        asyncio.run(job)
    else:
        uvloop.run(job)
    return 0


if __name__ == "__main__":
    sys.exit(main())
