"""Priorities and critical findings (pure).

A study's priority is set by the village doctor (STAT / urgent / routine) and raised to
STAT by a critical finding: one the automatic rhythm analysis makes on arrival (extreme
rates, a pause over 3 s) or one the reader's report states (ST elevation, VT, VF, AF with
a rapid ventricular rate, complete AV block, …). A signed report with critical findings
must be acknowledged by the village doctor; unacknowledged, it escalates after a set time.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from teleconsult.reading.catalogue import catalogue

PAUSE_S = 3.0
EXTREME_TACHY_BPM = 150.0
EXTREME_BRADY_BPM = 40.0
AF_RAPID_BPM = 110.0


class Priority(enum.Enum):
    STAT = "stat"
    URGENT = "urgent"
    ROUTINE = "routine"

    @property
    def rank(self) -> int:
        """Worklist order: STAT first."""
        return _RANK[self]

    @classmethod
    def parse(cls, value: object) -> "Priority":
        """Raises: ValueError: not one of stat, urgent, routine."""
        for priority in cls:
            if priority.value == value:
                return priority
        raise ValueError("priority must be one of stat, urgent, routine")


_RANK = {Priority.STAT: 0, Priority.URGENT: 1, Priority.ROUTINE: 2}


def finding(code: str, reason: str) -> dict[str, Any]:
    return {"code": code, "reason": reason}


def findings_from_beats(beats: Sequence[int] | np.ndarray, fs_hz: float) -> list[dict[str, Any]]:
    """Critical findings of the automatic rhythm analysis: extreme mean rates, pauses > 3 s."""
    idx = np.asarray(beats, dtype=np.int64)
    if len(idx) < 3 or fs_hz <= 0:
        return []
    rr_s = np.diff(idx) / fs_hz
    out = []
    hr_bpm = 60.0 / float(np.median(rr_s))
    if hr_bpm > EXTREME_TACHY_BPM:
        out.append(finding("XTACH", f"heart rate {hr_bpm:.0f}/min"))
    elif hr_bpm < EXTREME_BRADY_BPM:
        out.append(finding("XBRAD", f"heart rate {hr_bpm:.0f}/min"))
    longest = float(rr_s.max())
    if longest > PAUSE_S:
        out.append(finding("PAUSE", f"pause {longest:.1f} s"))
    return out


def findings_from_report(statements: Iterable[str], measurements: Mapping[str, float]) -> list[dict[str, Any]]:
    """Critical findings of a report: critical statements, AF with a rapid rate, extreme measured rates."""
    codes = list(dict.fromkeys(statements))
    known = catalogue()
    out = [finding(code, known[code].en) for code in codes if code in known and known[code].critical]
    hr = measurements.get("heart_rate_bpm")
    have = {f["code"] for f in out}
    if hr is not None:
        if "AFIB" in codes and hr > AF_RAPID_BPM and "AFRVR" not in have:
            out.append(finding("AFRVR", f"atrial fibrillation at {hr:.0f}/min"))
        if hr > EXTREME_TACHY_BPM and "XTACH" not in have:
            out.append(finding("XTACH", f"heart rate {hr:.0f}/min"))
        if hr < EXTREME_BRADY_BPM and "XBRAD" not in have:
            out.append(finding("XBRAD", f"heart rate {hr:.0f}/min"))
    return out


def effective_priority(requested: Priority, findings: Sequence[Mapping[str, Any]]) -> Priority:
    """What the worklist uses: STAT when anything critical was found, else what was asked for."""
    return Priority.STAT if findings else requested


def escalation_due(critical: bool, signed_at: float | None, acknowledged_at: float | None,
                   escalated_at: float | None, now: float, after_s: float) -> bool:
    """A signed critical report nobody acknowledged within ``after_s``, not yet escalated."""
    return (critical and signed_at is not None and acknowledged_at is None and escalated_at is None
            and now - signed_at >= after_s)


__all__ = ["AF_RAPID_BPM", "EXTREME_BRADY_BPM", "EXTREME_TACHY_BPM", "PAUSE_S", "Priority", "effective_priority",
           "escalation_due", "finding", "findings_from_beats", "findings_from_report"]
