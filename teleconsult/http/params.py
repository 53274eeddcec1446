"""Request parameters every JSON endpoint reads the same way."""

from __future__ import annotations

from typing import Any

from aiohttp import web


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; 400 for anything else."""
    try:
        body = await request.json()
    except Exception:
        raise web.HTTPBadRequest(reason="expected a JSON object") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(reason="expected a JSON object")
    return body


def path_id(request: web.Request, name: str, what: str) -> int:
    """An integer id from the route (``{name}``); 404 "no such <what>" when it is not one."""
    try:
        return int(request.match_info[name])
    except ValueError:
        raise web.HTTPNotFound(reason=f"no such {what}") from None
