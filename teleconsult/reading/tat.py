"""Turnaround time (TAT) figures against the target (pure).

Each study keeps its timestamps: received, (first) claimed, (first) signed, delivered
(the village doctor's browser confirmed receipt) and acknowledged. The TAT of a study is
received -> signed (the report is ready); delivery adds signed -> delivered. Percentiles
are nearest-rank: the p-th percentile of n values is the value at rank ceil(p/100 * n)
in ascending order (so it is always one of the observed values). A breach is a signed
study whose TAT exceeded the target, or an unsigned one that has waited longer than it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

PERCENTILES = (50, 90, 95)


@dataclass(frozen=True, slots=True)
class StudyTimes:
    study_id: int
    county_id: int
    reader_id: int | None  # who signed (or holds it, unsigned)
    priority: str
    received_at: float
    claimed_at: float | None
    signed_at: float | None
    delivered_at: float | None
    acknowledged_at: float | None

    def tat_s(self) -> float | None:
        return None if self.signed_at is None else self.signed_at - self.received_at


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def _stats(rows: Sequence[StudyTimes], target_s: float, now: float) -> dict[str, Any]:
    tats = [t for t in (r.tat_s() for r in rows) if t is not None]
    claim = [r.claimed_at - r.received_at for r in rows if r.claimed_at is not None]
    delivery = [r.delivered_at - r.signed_at for r in rows if r.delivered_at is not None and r.signed_at is not None]
    breaches = sum(1 for r in rows if is_breach(r, target_s, now))
    out: dict[str, Any] = {"studies": len(rows), "signed": len(tats), "breaches": breaches,
                           "within_target": sum(1 for t in tats if t <= target_s)}
    for p in PERCENTILES:
        out[f"tat_p{p}_s"] = percentile(tats, p)
    out["claim_p50_s"] = percentile(claim, 50)
    out["delivery_p50_s"] = percentile(delivery, 50)
    out["tat_max_s"] = max(tats) if tats else None
    return out


def is_breach(row: StudyTimes, target_s: float, now: float) -> bool:
    tat = row.tat_s()
    return (tat if tat is not None else now - row.received_at) > target_s


def local_day(ts: float, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).date().isoformat()


def summary(rows: Iterable[StudyTimes], target_s: float, now: float, tz: ZoneInfo) -> dict[str, Any]:
    """TAT statistics per county, per reader and per (local) day of receipt, plus every breach."""
    rows = list(rows)

    def grouped(key: Callable[[StudyTimes], Any], name: str) -> list[dict[str, Any]]:
        groups: dict[Any, list[StudyTimes]] = defaultdict(list)
        for r in rows:
            groups[key(r)].append(r)
        return [{name: k, **_stats(v, target_s, now)}
                for k, v in sorted(groups.items(), key=lambda kv: (kv[0] is None, str(kv[0])))]

    breaches = [{"study_id": r.study_id, "county_id": r.county_id, "reader_id": r.reader_id, "priority": r.priority,
                 "received_at": r.received_at, "signed_at": r.signed_at,
                 "tat_s": r.tat_s(), "waiting_s": None if r.signed_at is not None else now - r.received_at}
                for r in sorted(rows, key=lambda r: r.received_at) if is_breach(r, target_s, now)]
    return {"target_s": target_s, "timezone": tz.key, "percentile_method": "nearest-rank",
            "overall": _stats(rows, target_s, now),
            "by_county": grouped(lambda r: r.county_id, "county_id"),
            "by_reader": grouped(lambda r: r.reader_id, "reader_id"),
            "by_day": grouped(lambda r: local_day(r.received_at, tz), "day"),
            "breaches": breaches}


__all__ = ["PERCENTILES", "StudyTimes", "is_breach", "local_day", "percentile", "summary"]
