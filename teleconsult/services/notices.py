"""Notices to users' browsers across nodes, through the bus (no aiohttp here).

A notice is a small JSON object (``{"t": "report", "study": 12, "version": 1}``) published
on a channel per organisation (``notify:org:<id>``: the village's doctors) or per county
(``notify:county:<id>``: its readers and admins). It says *that* something happened, never
the report itself: the node holding the user's socket reads the study from the database,
checks the user may see it and pushes it (the database is the truth, the bus a hint). A
socket that (re)connects gets what it missed from the database, so a notice lost on the
way (Redis restarting) costs a delay, not a report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from teleconsult.bus import NOTICE, Bus, BusItem, Subscription

log = logging.getLogger(__name__)
RETAIN_NOTICES = 1000  # per channel, in a Redis stream

NoticeCallback = Callable[[dict[str, Any]], None]


def org_channel(org_id: int) -> str:
    return f"notify:org:{org_id}"


def county_channel(county_id: int) -> str:
    return f"notify:county:{county_id}"


class Notices:
    """Publish notices and subscribe a socket's callback to the channels it may hear."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def publish(self, channel: str, notice: dict[str, Any]) -> None:
        data = json.dumps(notice, separators=(",", ":")).encode("utf-8")
        self.bus.publish(channel, BusItem(NOTICE, 0, data=data), RETAIN_NOTICES)

    async def subscribe(self, channel: str, callback: NoticeCallback) -> Subscription:
        def on_item(item: BusItem) -> None:
            if item.kind != NOTICE:
                return
            try:
                notice = json.loads(item.data)
            except ValueError:
                log.warning("malformed notice on %s", channel)
                return
            if isinstance(notice, dict):
                callback(notice)

        return await self.bus.subscribe(channel, on_item)


__all__ = ["Notices", "NoticeCallback", "RETAIN_NOTICES", "county_channel", "org_channel"]
