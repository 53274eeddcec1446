"""Reader socket adapter: one sender task per reader draining its own bounded queue."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from streaming.errors import CloseCode
from streaming.frames import Error, encode
from teleconsult.http.api import visible_recording
from teleconsult.http.middlewares import require_user
from teleconsult.keys import db_key, readers_key, sockets_key
from teleconsult.services.readers import ReaderSession

log = logging.getLogger(__name__)


def _query_number(request: web.Request, name: str, kind: type[int] | type[float]) -> float | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"{name} must be a number") from None
    if value < 0 or value != value:
        raise web.HTTPBadRequest(reason=f"{name} must not be negative")
    return value


async def _sender(ws: web.WebSocketResponse, session: ReaderSession) -> None:
    backlog = session.catchup
    session.catchup = []
    while backlog:  # the catch-up, then whatever arrived while it was being sent
        for message in backlog:
            await ws.send_bytes(message)
        backlog = session.take_held()
    session.go_live()
    queue = session.queue
    while True:
        queued = queue.pop()
        if queued is not None:
            await ws.send_bytes(queued)
            continue
        if queue.overflowed:
            await ws.close(code=int(CloseCode.TOO_SLOW), message=b"reader too slow")
            return
        if session.ended:
            await ws.close(code=int(CloseCode.NORMAL), message=b"recording ended")
            return
        await session.wake.wait()
        session.wake.clear()


_CLOSE_FOR_STATUS = {400: CloseCode.BAD_FRAME, 401: CloseCode.UNAUTHENTICATED, 403: CloseCode.FORBIDDEN,
                     404: CloseCode.NOT_FOUND}


async def reader_socket(request: web.Request) -> web.WebSocketResponse:
    """Refusals (no login, another county, no such recording, bad parameters) are answered
    over the socket with an error frame and close code, because browsers cannot see the
    HTTP status of a refused upgrade; a plain HTTP request gets the HTTP status."""
    try:
        return await _reader_socket(request)
    except web.HTTPException as exc:
        code = _CLOSE_FOR_STATUS.get(exc.status)
        if code is None or not web.WebSocketResponse().can_prepare(request).ok:
            raise
        ws = web.WebSocketResponse(max_msg_size=4096)
        await ws.prepare(request)
        await ws.send_bytes(encode(Error(code=int(code), reason=exc.reason)))
        await ws.close(code=int(code), message=exc.reason.encode("utf-8")[:120])
        return ws


async def _reader_socket(request: web.Request) -> web.WebSocketResponse:
    user = require_user(request)
    recording_id = request.query.get("recording", "")
    if not recording_id:
        raise web.HTTPBadRequest(reason="recording is required")
    recording = await visible_recording(request, user, recording_id, "watch")
    max_fs_hz = _query_number(request, "max_fs_hz", float)
    backlog_s = _query_number(request, "backlog_s", float)
    from_sample = _query_number(request, "from_sample", int)
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=4096, compress=False)
    await ws.prepare(request)
    request.app[sockets_key].add(ws)
    db = request.app[db_key]
    await db.call(db.db.audit, f"user:{user.id}", "watch", recording.id, "ok", request.remote or "")
    readers = request.app[readers_key]
    try:
        session = await readers.join(recording, max_fs_hz, backlog_s,
                                     None if from_sample is None else int(from_sample))
    except Exception:
        # The socket is open: an HTTP error page now would be garbage inside the websocket
        # stream. Say so over the socket, with a close code the client reconnects on.
        log.exception("reader could not join recording %s", recording.id)
        await ws.send_bytes(encode(Error(code=int(CloseCode.INTERNAL_ERROR), reason="could not join; retry")))
        await ws.close(code=int(CloseCode.INTERNAL_ERROR), message=b"could not join; retry")
        return ws
    sender = asyncio.create_task(_sender(ws, session))

    def sender_done(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Never leave a reader silently hanging: say so, and close so that it reconnects.
            log.error("reader sender failed on recording %s", recording.id, exc_info=task.exception())
            asyncio.ensure_future(ws.close(code=int(CloseCode.INTERNAL_ERROR), message=b"internal error"))

    sender.add_done_callback(sender_done)
    try:
        async for msg in ws:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                break
    finally:
        readers.leave(session)
        if not sender.done():
            sender.cancel()
        if session.queue.dropped_total:
            log.info("reader left recording %s; %d display frames dropped", recording.id, session.queue.dropped_total)
    return ws
