"""Every typed aiohttp application key."""

from __future__ import annotations

import weakref

from aiohttp import web

from teleconsult.bus import Bus
from teleconsult.config import Settings
from teleconsult.services.ingest import IngestService
from teleconsult.services.readers import ReaderService
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import AsyncDatabase

settings_key = web.AppKey("settings", Settings)
db_key = web.AppKey("db", AsyncDatabase)
archive_key = web.AppKey("archive", FileArchive)
bus_key = web.AppKey("bus", Bus)
ingest_key = web.AppKey("ingest", IngestService)
readers_key = web.AppKey("readers", ReaderService)
sockets_key = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
device_sockets_key = web.AppKey("device_sockets", weakref.WeakSet[web.WebSocketResponse])
