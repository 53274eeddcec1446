"""Every typed aiohttp application key."""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from aiohttp import web

from teleconsult.bus import Bus
from teleconsult.config import Settings
from teleconsult.services.consults import ConsultService
from teleconsult.services.ingest import IngestService
from teleconsult.services.notices import Notices
from teleconsult.services.readers import ReaderService
from teleconsult.services.studies import StudyService
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import AsyncDatabase



@dataclass
class NodeState:
    """Lifecycle of this server process as the health endpoints report it."""

    draining: bool = False


settings_key = web.AppKey("settings", Settings)
state_key = web.AppKey("state", NodeState)
db_key = web.AppKey("db", AsyncDatabase)
archive_key = web.AppKey("archive", FileArchive)
bus_key = web.AppKey("bus", Bus)
ingest_key = web.AppKey("ingest", IngestService)
readers_key = web.AppKey("readers", ReaderService)
notices_key = web.AppKey("notices", Notices)
studies_key = web.AppKey("studies", StudyService)
consults_key = web.AppKey("consults", ConsultService)
sockets_key = web.AppKey("sockets", weakref.WeakSet[web.WebSocketResponse])
device_sockets_key = web.AppKey("device_sockets", weakref.WeakSet[web.WebSocketResponse])
