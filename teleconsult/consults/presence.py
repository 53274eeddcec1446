"""Presence of county doctors: on duty, busy (in a consult) or offline.

A doctor is on duty from the duty toggle until it is switched off, but only while the
page (or any client) keeps sending heartbeats: one older than ``ttl_s`` makes the doctor
offline, so a closed laptop does not leave a phantom doctor on duty. Rows live in the
database, so every node sees every doctor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ON_DUTY = "on_duty"
BUSY = "busy"
OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class PresenceRow:
    user_id: int
    county_id: int
    on_duty: bool
    heartbeat_at: float
    name: str = ""


def status(row: PresenceRow | None, busy: bool, now: float, ttl_s: float) -> str:
    """``offline`` (no duty or no recent heartbeat), ``busy`` (on duty, in a consult) or ``on_duty``."""
    if row is None or not row.on_duty or now - row.heartbeat_at > ttl_s:
        return OFFLINE
    return BUSY if busy else ON_DUTY


def summary(rows: list[PresenceRow], busy_ids: set[int], now: float, ttl_s: float) -> dict[str, Any]:
    """What a village doctor is told before requesting: how many are on duty and free."""
    doctors = [{"user_id": r.user_id, "name": r.name, "status": status(r, r.user_id in busy_ids, now, ttl_s)}
               for r in rows]
    return {"on_duty": sum(d["status"] != OFFLINE for d in doctors),
            "available": sum(d["status"] == ON_DUTY for d in doctors),
            "doctors": doctors}


__all__ = ["BUSY", "OFFLINE", "ON_DUTY", "PresenceRow", "status", "summary"]
