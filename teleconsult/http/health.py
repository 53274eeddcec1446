"""Liveness and readiness."""

from __future__ import annotations

from aiohttp import web

from teleconsult.keys import bus_key, settings_key


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "node": request.app[settings_key].node_id})


async def readyz(request: web.Request) -> web.Response:
    ok = await request.app[bus_key].ping()
    return web.json_response({"status": "ready" if ok else "bus unavailable"}, status=200 if ok else 503)
