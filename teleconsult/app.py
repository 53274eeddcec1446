"""Application factory: resources in dependency order (storage -> bus -> services)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator

from aiohttp import WSCloseCode, web

from teleconsult.bus import Bus
from teleconsult.bus.memory import MemoryBus
from teleconsult.config import Settings
from teleconsult.http.metrics import setup_metrics
from teleconsult.http.middlewares import auth_middleware, error_middleware
from teleconsult.http.routes import add_routes
from teleconsult.consults.turn import IceConfig
from teleconsult.keys import (NodeState, archive_key, bus_key, consults_key, db_key, device_sockets_key, ingest_key,
                              notices_key, readers_key, settings_key, sockets_key, state_key, studies_key)
from teleconsult.services.consults import ConsultService
from teleconsult.services.ingest import IngestService
from teleconsult.services.notices import Notices
from teleconsult.services.readers import ReaderService
from teleconsult.services.studies import StudyService
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.consults import ConsultStore
from teleconsult.storage.sql import AsyncDatabase, open_database
from teleconsult.storage.studies import StudyStore


def make_bus(settings: Settings) -> Bus:
    if settings.redis_url:
        from teleconsult.bus.redis_bus import RedisBus

        return RedisBus(settings.redis_url, settings.node_id)
    return MemoryBus(settings.node_id)


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Off the event loop: opening connects and migrates (and may wait for another node's migration).
    db = AsyncDatabase(await asyncio.to_thread(open_database, settings))
    app[db_key] = db
    app[archive_key] = FileArchive(settings.data_dir)
    yield
    db.close()


async def _bus_ctx(app: web.Application) -> AsyncIterator[None]:
    bus = make_bus(app[settings_key])
    await bus.start()
    app[bus_key] = bus
    yield
    await bus.close()


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[settings_key]
    ingest = IngestService(app[db_key], app[archive_key], app[bus_key], settings.node_id,
                           journal_root=settings.data_dir / "journal",
                           commit_interval_s=settings.commit_interval_s, backlog_s=settings.backlog_s)
    await ingest.start()
    app[ingest_key] = ingest
    app[readers_key] = ReaderService(app[db_key], app[bus_key], app[archive_key], backlog_s=settings.backlog_s)
    notices = Notices(app[bus_key])
    app[notices_key] = notices
    studies = StudyService(app[db_key], StudyStore(app[db_key].db.engine), app[archive_key], notices,
                           claim_ttl_s=settings.claim_ttl_s, escalate_after_s=settings.escalate_after_s,
                           escalation_check_s=settings.escalation_check_s, target_s=settings.tat_target_s,
                           timezone=settings.report_timezone)
    await studies.start()
    app[studies_key] = studies
    ice = IceConfig.from_text(settings.stun_urls, settings.turn_urls, settings.turn_secret, settings.turn_ttl_s)
    consults = ConsultService(app[db_key], ConsultStore(app[db_key].db.engine), app[bus_key], notices,
                              settings.data_dir / "consult_files", ice, node_id=settings.node_id,
                              answer_timeout_s=settings.consult_answer_timeout_s,
                              connect_timeout_s=settings.consult_connect_timeout_s,
                              reconnect_grace_s=settings.consult_reconnect_grace_s,
                              presence_ttl_s=settings.presence_ttl_s, check_s=settings.consult_check_s,
                              file_max_bytes=settings.consult_file_max_bytes)
    await consults.start()
    app[consults_key] = consults
    yield
    await consults.close()
    await studies.close()
    await ingest.close()


async def _on_shutdown(app: web.Application) -> None:
    """Drain: ack everything durable, tell devices to reconnect (1001), close readers."""
    await app[ingest_key].drain()
    # Device writers send their last acks and close 1001 themselves; give them a moment.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 2.0
    device_socks = app[device_sockets_key]
    devices = list(device_socks)
    while loop.time() < deadline and any(not device.closed for device in devices):
        await asyncio.sleep(0.01)
    all_socks = app[sockets_key]
    for sock in list(all_socks):
        if not sock.closed:
            await sock.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=1024 * 1024)
    app[settings_key] = settings
    app[state_key] = NodeState()
    app[sockets_key] = weakref.WeakSet()
    app[device_sockets_key] = weakref.WeakSet()
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_bus_ctx)
    app.cleanup_ctx.append(_services_ctx)
    app.on_shutdown.append(_on_shutdown)
    add_routes(app, settings.web_root)
    setup_metrics(app)
    return app
