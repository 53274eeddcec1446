"""Authentication (session cookie or bearer token), JSON errors and security headers."""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from aiohttp import web

from teleconsult import auth
from teleconsult.keys import db_key
from teleconsult.storage.sql import User

log = logging.getLogger(__name__)
COOKIE = "tc_session"
user_key = web.RequestKey("user", User)  # set by the middleware for a logged-in user

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip() or None
    return request.cookies.get(COOKIE)


#: Endpoints with their own credentials (the scrape token) or none (probes): no session
#: lookup, so that a scrape or a probe never waits on the database for a session.
NO_SESSION_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = session_token(request) if request.path not in NO_SESSION_PATHS else None
    user: User | None = None
    if token:
        db = request.app[db_key]
        user = await db.call(db.db.user_for_session, auth.token_hash(token), time.time())
    if user is not None:
        request[user_key] = user
    return await handler(request)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status >= 400 and request.path.startswith("/api/"):
            return web.json_response({"error": exc.reason, "status": exc.status}, status=exc.status)
        raise
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return web.json_response({"error": "internal error", "status": 500}, status=500)
    if not response.prepared:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def require_user(request: web.Request, *roles: str) -> User:
    """The logged-in user; 401 if nobody, 403 if the role is not one of ``roles``."""
    user: User | None = request.get(user_key)
    if user is None:
        raise web.HTTPUnauthorized(reason="login required")
    if roles and user.role not in roles:
        raise web.HTTPForbidden(reason="not allowed for this role")
    return user
