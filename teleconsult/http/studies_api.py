"""JSON API of reading and reporting (docs/reporting.md): thin adapters over StudyService."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from teleconsult.http.middlewares import require_user
from teleconsult.http.params import json_object, path_id
from teleconsult.keys import settings_key, studies_key
from teleconsult.reading.catalogue import catalogue
from teleconsult.reading.errors import ReadingError
from teleconsult.services.uploads import MAX_UPLOAD_BYTES, decode_upload
from teleconsult.storage.sql import User

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _remote(request: web.Request) -> str:
    return request.remote or ""


def _error(exc: ReadingError) -> web.HTTPException:
    classes: dict[int, type[web.HTTPException]] = {
        400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict,
        501: web.HTTPNotImplemented}
    return classes.get(exc.status, web.HTTPBadRequest)(reason=exc.reason)


def endpoint(fn: Handler) -> Handler:
    """Turn the service's ReadingErrors into JSON problem answers (via the error middleware)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except ReadingError as exc:
            raise _error(exc) from None

    wrapped.__name__ = fn.__name__
    wrapped.__doc__ = fn.__doc__
    return wrapped


def _study_id(request: web.Request) -> int:
    return path_id(request, "study_id", "study")


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request)


def _now(request: web.Request) -> float:
    return request.app[studies_key].clock()


def _target(request: web.Request) -> float:
    return request.app[studies_key].target_s


@endpoint
async def statements(request: web.Request) -> web.Response:
    require_user(request)
    return web.json_response({"statements": [s.public() for s in catalogue().values()]})


@endpoint
async def create_study(request: web.Request) -> web.Response:
    user = require_user(request, "village_doctor")
    body = await _body(request)
    recording_id = body.get("recording_id")
    if not isinstance(recording_id, str):
        raise web.HTTPBadRequest(reason="recording_id is required")
    service = request.app[studies_key]
    study = await service.submit(user, recording_id, str(body.get("priority", "routine")), body.get("note") or "",
                                 _remote(request))
    return web.json_response({"study": await service.public_one(study)}, status=201)


@endpoint
async def upload_study(request: web.Request) -> web.Response:
    user = require_user(request, "village_doctor")
    if not request.content_type.startswith("multipart/"):
        raise web.HTTPBadRequest(reason="expected multipart/form-data with the ECG file(s)")
    files: dict[str, bytes] = {}
    fields: dict[str, str] = {}
    total = 0
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read(decode=False)
        total += len(data)
        if total > MAX_UPLOAD_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_UPLOAD_BYTES, actual_size=total)
        if part.filename:
            files[part.filename] = bytes(data)
        else:
            fields[part.name] = bytes(data).decode("utf-8", "replace")
    if not files:
        raise web.HTTPBadRequest(reason="no file in the upload")
    ecg = await asyncio.to_thread(decode_upload, files)
    service = request.app[studies_key]
    study = await service.submit_upload(user, ecg, fields.get("priority", "routine"), fields.get("note", ""),
                                        _remote(request))
    return web.json_response({"study": await service.public_one(study)}, status=201)


@endpoint
async def list_studies(request: web.Request) -> web.Response:
    user = require_user(request)
    service = request.app[studies_key]
    rows = await service.list_studies(user, _remote(request))
    return web.json_response({"studies": await service.public(rows)})


@endpoint
async def worklist(request: web.Request) -> web.Response:
    user = require_user(request, "county_reader", "admin")
    service = request.app[studies_key]
    rows = await service.worklist(user, _remote(request))
    studies = await service.public(rows)
    return web.json_response({"now": _now(request), "target_s": _target(request), "studies": studies})


@endpoint
async def get_study(request: web.Request) -> web.Response:
    user = require_user(request)
    return web.json_response(await request.app[studies_key].detail(user, _study_id(request), _remote(request)))


@endpoint
async def patch_study(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await _body(request)
    service = request.app[studies_key]
    study = await service.set_priority(user, _study_id(request), str(body.get("priority")), _remote(request))
    return web.json_response({"study": await service.public_one(study)})


def _lock_action(name: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        user = require_user(request)
        service = request.app[studies_key]
        sid = _study_id(request)
        if name == "claim":
            study = await service.claim(user, sid, _remote(request))
        elif name == "release":
            study = await service.release(user, sid, _remote(request))
        else:
            reader_id = (await _body(request)).get("reader_id")
            if not isinstance(reader_id, int):
                raise web.HTTPBadRequest(reason="reader_id is required")
            study = await service.assign(user, sid, reader_id, _remote(request))
        return web.json_response({"study": await service.public_one(study)})

    handler.__name__ = name
    return endpoint(handler)


claim = _lock_action("claim")
release = _lock_action("release")
assign = _lock_action("assign")


@endpoint
async def previous_studies(request: web.Request) -> web.Response:
    """The same patient's earlier studies the user may see, newest first (side-by-side comparison)."""
    user = require_user(request)
    return web.json_response(await request.app[studies_key].previous(user, _study_id(request), _remote(request)))


@endpoint
async def county_readers(request: web.Request) -> web.Response:
    """The county readers of an admin's county (to assign a study to)."""
    user = require_user(request, "admin")
    return web.json_response({"readers": await request.app[studies_key].county_readers(user, _remote(request))})


@endpoint
async def get_annotations(request: web.Request) -> web.Response:
    user = require_user(request)
    return web.json_response(await request.app[studies_key].annotations(user, _study_id(request), _remote(request)))


@endpoint
async def post_annotation(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await _body(request)
    return web.json_response(await request.app[studies_key].annotate(user, _study_id(request), body,
                                                                     _remote(request)))


@endpoint
async def get_report(request: web.Request) -> web.Response:
    user = require_user(request)
    return web.json_response(await request.app[studies_key].report(user, _study_id(request), _remote(request)))


@endpoint
async def put_report(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await _body(request)
    version = await request.app[studies_key].save_draft(user, _study_id(request), body, _remote(request))
    return web.json_response({"report": version.public()})


@endpoint
async def sign_report(request: web.Request) -> web.Response:
    user = require_user(request)
    version = await request.app[studies_key].sign(user, _study_id(request), _remote(request))
    return web.json_response({"report": version.public()})


@endpoint
async def amend_report(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await _body(request)
    version = await request.app[studies_key].amend(user, _study_id(request), body, _remote(request))
    return web.json_response({"report": version.public()}, status=201)


def _confirm(kind: str) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        user = require_user(request)
        body = await _body(request)
        service = request.app[studies_key]
        method = service.receipt if kind == "receipt" else service.acknowledge
        first = await method(user, _study_id(request), body.get("version"), _remote(request))
        return web.json_response({"ok": True, "first": first})

    handler.__name__ = kind
    return endpoint(handler)


receipt = _confirm("receipt")
acknowledge = _confirm("acknowledge")


def _version_param(request: web.Request) -> int | None:
    raw = request.query.get("version")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason="version must be a number") from None


@endpoint
async def export_fhir(request: web.Request) -> web.Response:
    user = require_user(request)
    doc = await request.app[studies_key].fhir_bundle(user, _study_id(request), _version_param(request),
                                                     _remote(request))
    return web.json_response(doc, content_type="application/fhir+json")


@endpoint
async def export_annotations(request: web.Request) -> web.Response:
    user = require_user(request, "county_reader", "admin")
    name, data = await request.app[studies_key].wfdb_annotations_zip(user, _study_id(request), _remote(request))
    return web.Response(body=data, content_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="{name}-annotations.zip"'})


@endpoint
async def report_pdf(request: web.Request) -> web.Response:
    """The printable report of a signed version (501 where ``teleconsult.reporting.pdf`` is missing)."""
    user = require_user(request)
    data = await request.app[studies_key].report_pdf(user, _study_id(request), _version_param(request),
                                                     _remote(request))
    return web.Response(body=data, content_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="report-{_study_id(request)}.pdf"'})


def _time_param(request: web.Request, name: str, default: float) -> float:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        try:
            return dt.datetime.fromisoformat(raw).timestamp()
        except ValueError:
            raise web.HTTPBadRequest(reason=f"{name}: epoch seconds or an ISO date") from None


@endpoint
async def turnaround(request: web.Request) -> web.Response:
    user: User = require_user(request, "county_reader", "admin")
    until = _time_param(request, "until", time.time() + 1)
    since = _time_param(request, "since", until - 7 * 86400)
    service = request.app[studies_key]
    return web.json_response(await service.turnaround(user, since, until, _remote(request)))


def add_study_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/statements", statements)
    r.add_get("/api/worklist", worklist)
    r.add_get("/api/tat", turnaround)
    r.add_get("/api/readers", county_readers)
    r.add_get("/api/studies", list_studies)
    r.add_post("/api/studies", create_study)
    r.add_post("/api/studies/upload", upload_study)
    r.add_get("/api/studies/{study_id}", get_study)
    r.add_patch("/api/studies/{study_id}", patch_study)
    r.add_post("/api/studies/{study_id}/claim", claim)
    r.add_post("/api/studies/{study_id}/release", release)
    r.add_post("/api/studies/{study_id}/assign", assign)
    r.add_get("/api/studies/{study_id}/previous", previous_studies)
    r.add_get("/api/studies/{study_id}/annotations", get_annotations)
    r.add_post("/api/studies/{study_id}/annotations", post_annotation)
    r.add_get("/api/studies/{study_id}/report", get_report)
    r.add_put("/api/studies/{study_id}/report", put_report)
    r.add_post("/api/studies/{study_id}/report/sign", sign_report)
    r.add_post("/api/studies/{study_id}/report/amend", amend_report)
    r.add_post("/api/studies/{study_id}/receipt", receipt)
    r.add_post("/api/studies/{study_id}/acknowledge", acknowledge)
    r.add_get("/api/studies/{study_id}/fhir", export_fhir)
    r.add_get("/api/studies/{study_id}/annotations.zip", export_annotations)
    r.add_get("/api/studies/{study_id}/report.pdf", report_pdf)
