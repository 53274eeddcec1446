"""The records of reading and reporting as frozen dataclasses (what storage returns)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TARGET_S = 180.0  # the reference workflow: the report is back within three minutes


@dataclass(frozen=True, slots=True)
class Study:
    """One ECG to read. Timestamps are epoch seconds; ``None`` = not yet."""

    id: int
    recording_id: str
    org_id: int
    county_id: int
    source: str  # "stream" | "upload"
    requested_by: int
    requested_priority: str
    priority: str
    note: str
    flags: tuple[str, ...]
    auto_findings: tuple[dict[str, Any], ...]
    status: str  # "received" | "claimed" | "signed"
    received_at: float
    claimed_by: int | None
    lock_expires_at: float | None
    first_claimed_at: float | None
    first_claimed_by: int | None
    signed_at: float | None
    signed_by: int | None
    report_version: int
    critical: bool
    delivered_at: float | None
    acknowledged_at: float | None
    acknowledged_by: int | None
    escalated_at: float | None

    def lock_holder(self, now: float) -> int | None:
        """Who holds the reading lock now (an expired lock is nobody's)."""
        if self.claimed_by is None or self.lock_expires_at is None or self.lock_expires_at <= now:
            return None
        return self.claimed_by

    def public(self, now: float, target_s: float = TARGET_S, names: Mapping[int, str] | None = None) -> dict[str, Any]:
        """The JSON form (never the patient reference); ``names``: user id -> display name (or username)
        for ``claimed_by_name`` and ``signed_by_name``."""
        end = self.signed_at if self.signed_at is not None else now
        waiting_s = max(0.0, end - self.received_at)
        holder = self.lock_holder(now)
        names = names or {}
        return {"id": self.id, "recording_id": self.recording_id, "org_id": self.org_id, "county_id": self.county_id,
                "source": self.source, "requested_by": self.requested_by,
                "requested_priority": self.requested_priority, "priority": self.priority, "note": self.note,
                "flags": list(self.flags), "auto_findings": [dict(f) for f in self.auto_findings],
                "status": self.status, "received_at": self.received_at, "claimed_by": holder,
                "claimed_by_name": names.get(holder) if holder is not None else None,
                "lock_expires_at": self.lock_expires_at if holder is not None else None,
                "first_claimed_at": self.first_claimed_at, "signed_at": self.signed_at, "signed_by": self.signed_by,
                "signed_by_name": names.get(self.signed_by) if self.signed_by is not None else None,
                "report_version": self.report_version, "critical": self.critical,
                "delivered_at": self.delivered_at, "acknowledged_at": self.acknowledged_at,
                "acknowledged_by": self.acknowledged_by, "escalated_at": self.escalated_at,
                "waiting_s": round(waiting_s, 3), "target_s": target_s, "overdue": waiting_s > target_s}


@dataclass(frozen=True, slots=True)
class ReportVersion:
    """One version of a study's report: a draft (editable) or signed (immutable)."""

    study_id: int
    version: int
    status: str  # "draft" | "signed"
    statements: tuple[str, ...]
    free_text: str
    measurements: dict[str, float] = field(default_factory=dict)
    findings: tuple[dict[str, Any], ...] = ()
    author_id: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    signed_at: float | None = None
    amend_reason: str = ""
    delivered_at: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: int | None = None

    def public(self) -> dict[str, Any]:
        return {"version": self.version, "status": self.status, "statements": list(self.statements),
                "free_text": self.free_text, "measurements": dict(self.measurements),
                "findings": [dict(f) for f in self.findings], "critical": bool(self.findings),
                "author_id": self.author_id, "created_at": self.created_at, "updated_at": self.updated_at,
                "signed_at": self.signed_at, "amend_reason": self.amend_reason, "delivered_at": self.delivered_at,
                "acknowledged_at": self.acknowledged_at, "acknowledged_by": self.acknowledged_by}


@dataclass(frozen=True, slots=True)
class AnnotationEntry:
    """One line of a study's annotation log (append-only; an undo is a line too)."""

    id: int
    study_id: int
    author_id: int
    created_at: float
    op: str
    sample: int | None = None
    end_sample: int | None = None
    label: str = ""
    body: str = ""
    target: int | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "author_id": self.author_id, "created_at": self.created_at, "op": self.op,
                "sample": self.sample, "end_sample": self.end_sample, "label": self.label, "body": self.body,
                "target": self.target}


__all__ = ["AnnotationEntry", "ReportVersion", "Study", "TARGET_S"]
