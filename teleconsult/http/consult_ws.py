"""The signalling socket ``GET /ws/consult?consult=ID``: a thin adapter over
:class:`teleconsult.consults.signaling.SignalingSession` (docs/consults.md).

JSON text messages. A refused socket gets ``{"t": "error", "code", "reason"}`` and that
close code (4001 no login, 4003 not a party of this consult, 4004 no such consult, 4009
ended or not accepted yet, 4000 bad parameters): browsers cannot read the HTTP status of a
refused upgrade. One worker task per socket carries out the session's actions in order;
the client loop and the consult channel's callback only queue them, so a slow browser
delays only itself, and a socket whose queue overflows is closed (4010).
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiohttp import WSMsgType, web

from teleconsult.consults.errors import Conflict, ConsultError, Forbidden
from teleconsult.consults.model import Principal
from teleconsult.consults.signaling import (Action, Chat, Close, Lifecycle, SignalingSession, ToChannel, ToClient,
                                            error)
from teleconsult.http.consults_api import principal
from teleconsult.keys import consults_key, sockets_key
from teleconsult.services.consults import ConsultService

log = logging.getLogger(__name__)
QUEUE_LIMIT = 1024
TOO_SLOW = 4010


async def _refuse(ws: web.WebSocketResponse, code: int, reason: str) -> web.WebSocketResponse:
    await ws.send_json(error(code, reason))
    await ws.close(code=code, message=reason.encode("utf-8")[:120])
    return ws


async def consult_socket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    service = request.app[consults_key]
    remote = request.remote or ""
    try:
        who = await principal(request)
        try:
            consult_id = int(request.query.get("consult", ""))
        except ValueError:
            return await _refuse(ws, 4000, "consult=<id> is required")
        consult, role = await service.signalling_role(who, consult_id, remote)
    except ConsultError as exc:
        return await _refuse(ws, exc.close_code, exc.reason)
    session = SignalingSession(consult.id, role, uuid.uuid4().hex[:12])
    actions: asyncio.Queue[Action] = asyncio.Queue()
    socks = request.app[sockets_key]
    socks.add(ws)

    def push(items: list[Action]) -> None:
        for item in items:
            if actions.qsize() >= QUEUE_LIMIT:
                log.warning("consult %s: %s socket is not reading; closing it", consult.id, role)
                session.closed = True
                actions.put_nowait(Close(TOO_SLOW, "too slow"))
                return
            actions.put_nowait(item)

    subscription = await service.subscribe(consult.id, lambda msg: push(session.receive_channel(msg)))
    worker = asyncio.create_task(_worker(ws, service, who, session, actions, remote),
                                 name=f"consult-{consult.id}-{role}")
    service.stats.sockets[role] += 1
    try:
        ice = await service.ice_servers(who, consult.id, remote)
        messages = [m.public() for m in await service.db.call(service.store.messages, consult.id)]
        await ws.send_json({"t": "joined", "consult": consult.public(service.clock()), "role": role,
                            "conn": session.conn, "you_offer": session.offerer, "ice_servers": ice,
                            "messages": messages})
        push(session.start())
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                push(session.receive_client(msg.data))
            elif msg.type == WSMsgType.BINARY:
                push([ToClient(error(1003, "text (JSON) messages only")), Close(1003, "text only")])
            if session.closed:
                break
    finally:
        service.stats.sockets[role] -= 1
        subscription.close()
        worker.cancel()
        socks.discard(ws)
        # The leave announcement and the drop must happen even when aiohttp cancels this handler
        # because the client went away: they run in a task of the service's own.
        cleanup = service.spawn(_stop(ws, service, who, session, remote))
        try:
            await asyncio.shield(cleanup)
        except asyncio.CancelledError:
            pass
        if not ws.closed:
            await ws.close()
    return ws


async def _stop(ws: web.WebSocketResponse, service: ConsultService, who: Principal, session: SignalingSession,
                remote: str) -> None:
    for action in session.stop():  # leave, and a drop unless the party hung up or was superseded
        await _carry_out(ws, service, who, session, action, remote, closing=True)


async def _worker(ws: web.WebSocketResponse, service: ConsultService, who: Principal, session: SignalingSession,
                  actions: asyncio.Queue[Action], remote: str) -> None:
    while True:
        action = await actions.get()
        try:
            await _carry_out(ws, service, who, session, action, remote)
        except asyncio.CancelledError:
            raise
        except (ConnectionResetError, RuntimeError):
            return
        except Exception:
            log.exception("consult %s: signalling action failed", session.consult_id)


async def _carry_out(ws: web.WebSocketResponse, service: ConsultService, who: Principal, session: SignalingSession,
                     action: Action, remote: str, closing: bool = False) -> None:
    if isinstance(action, ToClient):
        if not ws.closed:
            await ws.send_json(action.message)
    elif isinstance(action, ToChannel):
        service.relay(session.consult_id, action.message)
    elif isinstance(action, Lifecycle):
        try:
            await service.act(who, session.consult_id, action.event, action.reason, remote)
        except (Conflict, Forbidden) as exc:
            if not closing and action.event.value not in ("join", "drop", "connected", "offer"):
                await ws.send_json(error(exc.close_code, exc.reason, event=action.event.value))
    elif isinstance(action, Chat):
        try:
            await service.chat(who, session.consult_id, action.text, remote)
        except ConsultError as exc:
            await ws.send_json(error(exc.close_code, exc.reason))
    elif isinstance(action, Close):
        await ws.close(code=action.code, message=action.reason.encode("utf-8")[:120])


__all__ = ["consult_socket"]
