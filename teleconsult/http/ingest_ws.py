"""Device socket adapter: WebSocket bytes <-> streaming.protocol.IngestServer <-> IngestService.

Two tasks per socket: this handler reads and dispatches; a writer task sends whatever the
protocol queued whenever it is woken (by a frame, a group commit or a shutdown) and closes
the socket when the protocol says so. No other socket is ever awaited here.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import WSMsgType, web

from streaming.errors import CloseCode, ProtocolViolation
from streaming.frames import MAX_FRAME_BYTES
from streaming.protocol import EndReceived, FrameAccepted, HelloReceived, IngestServer
from teleconsult.keys import device_sockets_key, ingest_key, sockets_key
from teleconsult.services.ingest import Connection

log = logging.getLogger(__name__)


async def _writer(ws: web.WebSocketResponse, conn: Connection) -> None:
    proto = conn.proto
    try:
        while True:
            await conn.wake.wait()
            conn.wake.clear()
            for message in proto.data_to_send():
                await ws.send_bytes(message)
            if proto.close is not None:
                code, reason = proto.close
                await ws.close(code=int(code), message=reason.encode("utf-8")[:120])
                return
    except ConnectionError:
        # The device went away while we were answering it (its last ack, say): nothing to
        # tell anyone. What it sent is handled by the reading side; it resumes on reconnect.
        return


async def device_socket(request: web.Request) -> web.WebSocketResponse:
    # Messages up to twice the limit are read so the protocol can answer with an error
    # frame; larger ones are cut off by aiohttp itself (close 1009).
    ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=2 * MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    request.app[sockets_key].add(ws)
    request.app[device_sockets_key].add(ws)
    service = request.app[ingest_key]
    conn = Connection(IngestServer(), remote=request.remote or "")
    writer = asyncio.create_task(_writer(ws, conn))
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.BINARY, WSMsgType.TEXT):
                break
            events = conn.proto.receive(msg.data)
            try:
                for event in events:
                    if isinstance(event, FrameAccepted):
                        if conn.stream is None:  # superseded by a newer connection
                            break
                        service.on_frame(conn.stream, event.seq, event.i0, event.n, event.d)
                    elif isinstance(event, HelloReceived):
                        routed_by = request.query.get("recording")
                        if routed_by is not None and routed_by != event.hello.recording:
                            raise ProtocolViolation(CloseCode.BAD_HELLO,
                                                    "the URL's recording differs from the hello's")
                        await service.open(conn, event.hello)
                    elif isinstance(event, EndReceived) and conn.stream is not None:
                        await asyncio.shield(service.on_end(conn.stream))
            except ProtocolViolation as exc:
                conn.proto.fail(exc.code, exc.reason)
            except Exception:
                log.exception("ingest failed")
                conn.proto.fail(CloseCode.INTERNAL_ERROR, "internal error")
            conn.wake.set()
            if writer.done():
                break
        if ws.close_code == CloseCode.TOO_BIG:
            log.info("device socket closed: message over %d bytes", 2 * MAX_FRAME_BYTES)
    finally:
        # aiohttp cancels a handler whose client has gone: the clean-up must still finish.
        try:
            await asyncio.shield(service.detach(conn))
            if not writer.done() and not ws.closed:  # tell the device why, if it still listens
                if conn.proto.close is None:
                    conn.proto.fail(CloseCode.GOING_AWAY, "connection lost")
                conn.wake.set()
                try:
                    await asyncio.wait_for(writer, timeout=2.0)
                except (asyncio.TimeoutError, ConnectionError):
                    pass
        finally:
            if not writer.done():
                writer.cancel()
            service.stats.closed(int(ws.close_code or 1006))  # 1006: closed without a close frame
    return ws
