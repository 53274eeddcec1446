"""JSON API of video consults (docs/consults.md): thin adapters over ConsultService.

Users authenticate as everywhere (session cookie or ``Authorization: Bearer tcs_…``);
kiosks with ``Authorization: Bearer tck_…`` (their kiosk token).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from teleconsult.consults.errors import ConsultError, Unauthenticated
from teleconsult.consults.lifecycle import Event
from teleconsult.consults.model import Principal
from teleconsult.http.middlewares import session_token, user_key
from teleconsult.http.params import json_object, path_id
from teleconsult.keys import consults_key
from teleconsult.services.consults import NobodyOnDuty, principal_of
from teleconsult.storage.sql import User

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _remote(request: web.Request) -> str:
    return request.remote or ""


async def principal(request: web.Request) -> Principal:
    """The logged-in user, or the kiosk of a ``tck_`` bearer token.

    Raises:
        Unauthenticated: neither.
    """
    user: User | None = request.get(user_key)
    if user is not None:
        return principal_of(user)
    token = session_token(request)
    if token and token.startswith("tck_"):
        return await request.app[consults_key].kiosk_principal(token)
    raise Unauthenticated("login required")


def problem(exc: ConsultError, **extra: Any) -> web.Response:
    return web.json_response({"error": exc.reason, "status": exc.status, **extra}, status=exc.status)


def endpoint(fn: Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]) -> Handler:
    """Authenticate, then turn ConsultErrors into JSON problem answers."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request, await principal(request))
        except NobodyOnDuty as exc:
            return problem(exc, consult=exc.consult.public(time.time()), on_duty=0)
        except ConsultError as exc:
            return problem(exc)

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _id(request: web.Request, name: str = "consult_id") -> int:
    return path_id(request, name, "consult")


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request)


@endpoint
async def request_consult(request: web.Request, who: Principal) -> web.Response:
    body = await _body(request)
    recording = body.get("recording_id")
    consult, summary = await request.app[consults_key].request(
        who, body.get("urgency", "routine"), body.get("reason", ""), body.get("patient_ref", ""),
        None if recording in (None, "") else recording, _remote(request))
    queue = await request.app[consults_key].queue_position(consult)
    return web.json_response({"consult": consult.public(time.time()), "presence": summary, "queue": queue},
                             status=201)


@endpoint
async def list_consults(request: web.Request, who: Principal) -> web.Response:
    doctor = request.query.get("doctor")
    if doctor == "me":
        doctor = str(who.id)
    try:
        doctor_id = None if not doctor else int(doctor)
    except ValueError:
        raise web.HTTPBadRequest(reason="doctor must be a user id or 'me'") from None
    rows = await request.app[consults_key].history(who, request.query.get("patient") or None, doctor_id,
                                                   _remote(request))
    now = time.time()
    return web.json_response({"consults": [c.public(now) for c in rows]})


@endpoint
async def queue(request: web.Request, who: Principal) -> web.Response:
    now = time.time()
    service = request.app[consults_key]
    rows = await service.queue(who)
    return web.json_response({"now": now, "consults": [c.public(now) for c in rows],
                              "presence": await service.presence_summary(who.county_id)})


@endpoint
async def get_consult(request: web.Request, who: Principal) -> web.Response:
    service = request.app[consults_key]
    consult, transitions, messages = await service.detail(who, _id(request), _remote(request))
    return web.json_response({"consult": consult.public(time.time()), "queue": await service.queue_position(consult),
                              "transitions": [t.public() for t in transitions],
                              "messages": [m.public() for m in messages]})


def _event_endpoint(event: Event) -> Handler:
    @endpoint
    async def handler(request: web.Request, who: Principal) -> web.Response:
        body = await _body(request) if request.can_read_body else {}
        reason = body.get("reason", "")
        consult = await request.app[consults_key].act(who, _id(request), event,
                                                      reason if isinstance(reason, str) else "", _remote(request))
        return web.json_response({"consult": consult.public(time.time())})

    handler.__name__ = f"consult_{event.value}"
    return handler


@endpoint
async def ice_servers(request: web.Request, who: Principal) -> web.Response:
    return web.json_response({"ice_servers": await request.app[consults_key].ice_servers(who, _id(request),
                                                                                          _remote(request))})


@endpoint
async def post_message(request: web.Request, who: Principal) -> web.Response:
    body = await _body(request)
    message = await request.app[consults_key].chat(who, _id(request), body.get("text", ""), _remote(request))
    return web.json_response({"message": message.public()}, status=201)


@endpoint
async def post_file(request: web.Request, who: Principal) -> web.Response:
    """Multipart (one part ``file``) or the raw bytes with their Content-Type and ``?name=``."""
    service = request.app[consults_key]
    limit = service.file_max_bytes
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
            part = await reader.next()
        if part is None:
            raise web.HTTPBadRequest(reason="expected a part named file")
        data = bytearray()
        while chunk := await part.read_chunk(64 * 1024):
            data += chunk
            if len(data) > limit:
                break
        # Some clients percent-encode the file name (RFC 7578 allows it); browsers send UTF-8 as is.
        name, content_type = unquote(part.filename or "file"), part.headers.get("Content-Type", "")
    else:
        data = bytearray()
        async for chunk in request.content.iter_chunked(64 * 1024):
            data += chunk
            if len(data) > limit:
                break
        name, content_type = request.query.get("name", "file"), request.content_type
    message = await service.add_file(who, _id(request), name, content_type, bytes(data), _remote(request))
    return web.json_response({"message": message.public()}, status=201)


@endpoint
async def get_file(request: web.Request, who: Principal) -> web.StreamResponse:
    message, path = await request.app[consults_key].file(who, _id(request), _id(request, "message_id"),
                                                         _remote(request))
    safe_name = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in message.file_name)
    return web.FileResponse(path, headers={"Content-Type": message.content_type,
                                           "Content-Disposition": f'attachment; filename="{safe_name}"'})


@endpoint
async def link_recording(request: web.Request, who: Principal) -> web.Response:
    body = await _body(request)
    consult = await request.app[consults_key].link_recording(who, _id(request), body.get("recording_id", ""),
                                                             _remote(request))
    return web.json_response({"consult": consult.public(time.time())})


@endpoint
async def get_presence(request: web.Request, who: Principal) -> web.Response:
    service = request.app[consults_key]
    summary = await service.presence_summary(who.county_id)
    if not who.is_county_doctor and who.role != "admin":
        summary = {"on_duty": summary["on_duty"], "available": summary["available"]}  # no names for villages
    else:
        summary["me"] = await service.my_presence(who) if who.is_county_doctor else None
    return web.json_response(summary)


@endpoint
async def put_presence(request: web.Request, who: Principal) -> web.Response:
    body = await _body(request)
    on_duty = body.get("on_duty")
    if not isinstance(on_duty, bool):
        raise web.HTTPBadRequest(reason='expected {"on_duty": true | false}')
    return web.json_response(await request.app[consults_key].set_duty(who, on_duty, _remote(request)))


@endpoint
async def heartbeat(request: web.Request, who: Principal) -> web.Response:
    return web.json_response(await request.app[consults_key].heartbeat(who))


def add_consult_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/consults", request_consult)
    r.add_get("/api/consults", list_consults)
    r.add_get("/api/consults/queue", queue)
    r.add_get("/api/consults/{consult_id}", get_consult)
    r.add_post("/api/consults/{consult_id}/accept", _event_endpoint(Event.ACCEPT))
    r.add_post("/api/consults/{consult_id}/cancel", _event_endpoint(Event.CANCEL))
    r.add_post("/api/consults/{consult_id}/hangup", _event_endpoint(Event.HANGUP))
    r.add_get("/api/consults/{consult_id}/ice", ice_servers)
    r.add_post("/api/consults/{consult_id}/messages", post_message)
    r.add_post("/api/consults/{consult_id}/files", post_file)
    r.add_get("/api/consults/{consult_id}/files/{message_id}", get_file)
    r.add_post("/api/consults/{consult_id}/recording", link_recording)
    r.add_get("/api/presence", get_presence)
    r.add_put("/api/presence", put_presence)
    r.add_post("/api/presence/heartbeat", heartbeat)


__all__ = ["add_consult_routes", "principal"]
