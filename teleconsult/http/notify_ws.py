"""The notify socket ``GET /ws/notify``: signed reports pushed to village doctors, worklist
changes and escalations to county readers and admins; receipts and acknowledgements back.

JSON text messages (browser-friendly; the ECG sockets stay binary msgpack). On connecting
the socket says ``hello``; a village doctor then gets every signed report of the
organisation not yet acknowledged (so a notice lost on the bus, or sent while the page
was closed, is never lost for good), then live ones as they are signed on any node.
Client messages: ``{"t": "receipt" | "ack", "study": id, "version": n}``, answered with
``{"t": "ok", "for": "receipt" | "ack", "study": id, "version": n}`` or ``{"t": "error", …}``.
A refused socket gets an ``error`` message and close code 4001 (no login).
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from teleconsult.bus import Subscription
from teleconsult.http.middlewares import user_key
from teleconsult.keys import notices_key, sockets_key, studies_key
from teleconsult.reading.errors import ReadingError
from teleconsult.services.notices import county_channel, org_channel
from teleconsult.storage.sql import User

log = logging.getLogger(__name__)
QUEUE_LIMIT = 256
UNAUTHENTICATED = 4001


async def notify_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=20, max_msg_size=4096, compress=False)
    await ws.prepare(request)
    user: User | None = request.get(user_key)
    if user is None:
        await ws.send_json({"t": "error", "code": UNAUTHENTICATED, "reason": "login required"})
        await ws.close(code=UNAUTHENTICATED, message=b"login required")
        return ws
    socks = request.app[sockets_key]
    socks.add(ws)
    service = request.app[studies_key]
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=QUEUE_LIMIT)
    sent: set[tuple[int, int]] = set()

    def on_notice(notice: dict[str, Any]) -> None:
        try:
            queue.put_nowait(notice)
        except asyncio.QueueFull:  # a stalled browser: it catches up from the database on reconnecting
            log.warning("notify socket of user %s is not reading; notice dropped", user.id)

    channel = org_channel(user.org_id) if user.role == "village_doctor" else county_channel(user.county_id)
    subscription: Subscription = await request.app[notices_key].subscribe(channel, on_notice)
    sender = asyncio.create_task(_sender(ws, user, service, queue, sent), name=f"notify-{user.id}")
    try:
        await ws.send_json({"t": "hello", "user": user.public()})
        for message in await service.pending_messages(user):
            sent.add((message["study"]["id"], message["report"]["version"]))
            await ws.send_json(message)
        await db_audit(request, user)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            await ws.send_json(await _client_message(request, user, msg.data))
    finally:
        subscription.close()
        sender.cancel()
        socks.discard(ws)
    return ws


async def db_audit(request: web.Request, user: User) -> None:
    from teleconsult.keys import db_key

    db = request.app[db_key]
    await db.call(db.db.audit, f"user:{user.id}", "notify.connect", "", "ok", request.remote or "")


async def _sender(ws: web.WebSocketResponse, user: User, service: Any, queue: asyncio.Queue[dict[str, Any]],
                  sent: set[tuple[int, int]]) -> None:
    while True:
        notice = await queue.get()
        try:
            if notice.get("t") == "report" and user.role == "village_doctor":
                key = (int(notice["study"]), int(notice["version"]))
                if key in sent:
                    continue
                message = await service.report_message(user, key[0], key[1])
                if message is None:
                    continue
                sent.add(key)
                await ws.send_json(message)
            elif user.role != "village_doctor":
                await ws.send_json(notice)
        except (ConnectionResetError, RuntimeError):
            return
        except Exception:
            log.exception("notify push failed")


async def _client_message(request: web.Request, user: User, text: str) -> dict[str, Any]:
    try:
        msg = json.loads(text)
        kind, study_id, version = msg["t"], msg["study"], msg["version"]
        if kind not in ("receipt", "ack") or not isinstance(study_id, int):
            raise ValueError(kind)
    except (ValueError, KeyError, TypeError):
        return {"t": "error", "reason": 'expected {"t": "receipt" | "ack", "study": id, "version": n}'}
    service = request.app[studies_key]
    try:
        if kind == "receipt":
            await service.receipt(user, study_id, version, request.remote or "")
        else:
            await service.acknowledge(user, study_id, version, request.remote or "")
    except ReadingError as exc:
        return {"t": "error", "for": kind, "study": study_id, "version": version, "status": exc.status,
                "reason": exc.reason}
    return {"t": "ok", "for": kind, "study": study_id, "version": version}


__all__ = ["notify_socket"]
