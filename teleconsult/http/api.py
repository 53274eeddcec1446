"""JSON API: login/logout, me, recordings, WFDB export."""

from __future__ import annotations

import asyncio

from aiohttp import web

from teleconsult import auth
from teleconsult.export_wfdb import wfdb_zip
from teleconsult.http.middlewares import COOKIE, require_user, session_token
from teleconsult.keys import archive_key, db_key
from teleconsult.storage.sql import Recording, User


def _remote(request: web.Request) -> str:
    return request.remote or ""


async def login(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        username, password = str(body["username"]), str(body["password"])
    except Exception:
        raise web.HTTPBadRequest(reason="expected JSON {username, password}") from None
    db = request.app[db_key]
    user = await db.call(db.db.get_user_by_name, username)
    ok = await asyncio.to_thread(auth.verify_password, user.password_hash if user else None, password)
    if not ok or user is None:
        await db.call(db.db.audit, "anonymous", "login", "", "denied", _remote(request))
        raise web.HTTPUnauthorized(reason="wrong username or password")
    token = auth.new_session_token()
    await db.call(db.db.create_session, auth.token_hash(token), user.id, auth.SESSION_TTL_S)
    await db.call(db.db.audit, f"user:{user.id}", "login", "", "ok", _remote(request))
    response = web.json_response({"token": token, "user": user.public()})
    response.set_cookie(COOKIE, token, max_age=int(auth.SESSION_TTL_S), httponly=True, samesite="Strict",
                        secure=request.secure, path="/")
    return response


async def logout(request: web.Request) -> web.Response:
    user = require_user(request)
    token = session_token(request)
    db = request.app[db_key]
    if token:
        await db.call(db.db.delete_session, auth.token_hash(token))
    await db.call(db.db.audit, f"user:{user.id}", "logout", "", "ok", _remote(request))
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE, path="/")
    return response


async def me(request: web.Request) -> web.Response:
    user = require_user(request)
    db = request.app[db_key]
    org = await db.call(db.db.get_org, user.org_id)
    return web.json_response({"user": user.public(), "org": {"id": org.id, "name": org.name, "kind": org.kind}})


async def list_recordings(request: web.Request) -> web.Response:
    user = require_user(request)
    db = request.app[db_key]
    if user.role in ("county_reader", "admin"):
        rows = await db.call(db.db.recordings_for_county, user.county_id)
    else:
        rows = await db.call(db.db.recordings_for_org, user.org_id)
    names = await db.call(db.db.org_names)
    return web.json_response({"recordings": [r.summary(names.get(r.org_id, "")) for r in rows]})


async def visible_recording(request: web.Request, user: User, recording_id: str, action: str) -> Recording:
    """The recording if ``user`` may see it; 404/403 otherwise (a refusal is audited)."""
    db = request.app[db_key]
    recording = await db.call(db.db.get_recording, recording_id)
    if recording is None:
        raise web.HTTPNotFound(reason="no such recording")
    if not auth.may_view(user, recording):
        await db.call(db.db.audit, f"user:{user.id}", action, recording_id, "forbidden", _remote(request))
        raise web.HTTPForbidden(reason="recording of another organisation")
    return recording


async def export_recording(request: web.Request) -> web.Response:
    user = require_user(request, "county_reader", "admin")
    recording = await visible_recording(request, user, request.match_info["recording_id"], "export")
    data = await asyncio.to_thread(wfdb_zip, request.app[archive_key], recording)
    db = request.app[db_key]
    await db.call(db.db.audit, f"user:{user.id}", "export.wfdb", recording.id, "ok", _remote(request))
    return web.Response(body=data, content_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{recording.id}.zip"'})


