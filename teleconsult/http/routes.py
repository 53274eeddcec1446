"""The route table."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from teleconsult.http import api, consult_ws, health, ingest_ws, metrics, notify_ws, reader_ws
from teleconsult.http.consults_api import add_consult_routes
from teleconsult.http.studies_api import add_study_routes


def add_routes(app: web.Application, web_root: Path) -> None:
    async def index(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(web_root / "index.html")

    app.router.add_get("/", index)
    app.router.add_get("/healthz", health.healthz)
    app.router.add_get("/readyz", health.readyz)
    app.router.add_get("/metrics", metrics.metrics)
    app.router.add_post("/api/login", api.login)
    app.router.add_post("/api/logout", api.logout)
    app.router.add_get("/api/me", api.me)
    app.router.add_get("/api/recordings", api.list_recordings)
    app.router.add_get("/api/recordings/{recording_id}/export.zip", api.export_recording)
    app.router.add_get("/ws/device", ingest_ws.device_socket)
    app.router.add_get("/ws/reader", reader_ws.reader_socket)
    app.router.add_get("/ws/notify", notify_ws.notify_socket)
    app.router.add_get("/ws/consult", consult_ws.consult_socket)
    add_study_routes(app)
    add_consult_routes(app)
    if web_root.is_dir():
        app.router.add_static("/static/", web_root, follow_symlinks=False)
