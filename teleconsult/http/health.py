"""Liveness and readiness, for load balancers and orchestrators (no login: they hold no data).

``/healthz``: the process answers. ``/readyz``: it should get new connections: not draining,
and its database and bus answer.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from teleconsult.keys import bus_key, db_key, settings_key, state_key


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "node": request.app[settings_key].node_id})


async def _database_answers(request: web.Request) -> bool:
    db = request.app[db_key]
    try:
        return bool(await asyncio.wait_for(db.call(db.db.ping), timeout=2.0))
    except Exception:
        return False


async def readyz(request: web.Request) -> web.Response:
    checks = {
        "draining": request.app[state_key].draining,
        "database": await _database_answers(request),
        "bus": await request.app[bus_key].ping(),
    }
    ready = checks["database"] and checks["bus"] and not checks["draining"]
    return web.json_response({"status": "ready" if ready else "not ready", "node": request.app[settings_key].node_id,
                              **checks}, status=200 if ready else 503)
