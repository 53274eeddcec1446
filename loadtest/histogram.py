"""A mergeable latency histogram: log-spaced buckets, 1 % wide, stored sparsely.

Worker processes each record their own latencies; the parent adds the bucket counts up.
Percentiles of the merged histogram are percentiles of all samples together (to within
the bucket width), never an average of the workers' percentiles.

    h = LatencyHistogram()
    h.record_s(0.0123)            # 12.3 ms
    h.merge(other)                # counts add up
    h.percentile_ms(99)           # nearest-rank percentile, ±0.5 %
    LatencyHistogram.from_json(h.to_json())
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

#: Relative width of a bucket: a reported percentile is within half of it of the true one.
GROWTH = 1.01
#: Latencies at or below this many milliseconds share bucket 0.
FLOOR_MS = 0.01
_LOG_GROWTH = math.log(GROWTH)


def bucket_of(value_ms: float) -> int:
    """Index of the bucket that holds ``value_ms``."""
    if value_ms <= FLOOR_MS:
        return 0
    return int(math.log(value_ms / FLOOR_MS) / _LOG_GROWTH) + 1


def bucket_value_ms(index: int) -> float:
    """The value a bucket stands for: the geometric middle of its bounds."""
    if index <= 0:
        return FLOOR_MS
    return float(FLOOR_MS * GROWTH ** (index - 0.5))


class LatencyHistogram:
    """Counts of latencies per bucket, plus the exact count, sum, min and max."""

    __slots__ = ("counts", "count", "sum_ms", "min_ms", "max_ms")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.sum_ms = 0.0
        self.min_ms = math.inf
        self.max_ms = 0.0

    def record_s(self, value_s: float) -> None:
        """Add one latency given in seconds (negative clock noise counts as 0)."""
        value_ms = max(0.0, value_s * 1000.0)
        index = bucket_of(value_ms)
        self.counts[index] = self.counts.get(index, 0) + 1
        self.count += 1
        self.sum_ms += value_ms
        if value_ms < self.min_ms:
            self.min_ms = value_ms
        if value_ms > self.max_ms:
            self.max_ms = value_ms

    def record_many_s(self, values_s: Iterable[float]) -> None:
        for value in values_s:
            self.record_s(value)

    def merge(self, other: LatencyHistogram) -> None:
        """Add ``other``'s samples to this histogram."""
        for index, n in other.counts.items():
            self.counts[index] = self.counts.get(index, 0) + n
        self.count += other.count
        self.sum_ms += other.sum_ms
        self.min_ms = min(self.min_ms, other.min_ms)
        self.max_ms = max(self.max_ms, other.max_ms)

    @classmethod
    def merged(cls, parts: Iterable[LatencyHistogram]) -> LatencyHistogram:
        total = cls()
        for part in parts:
            total.merge(part)
        return total

    def percentile_ms(self, q: float) -> float | None:
        """Nearest-rank ``q``-th percentile (0 < q ≤ 100) in ms; None when empty.

        The result is the bucket's middle, clamped to the exact min and max.
        """
        if self.count == 0:
            return None
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= rank:
                return min(self.max_ms, max(self.min_ms, bucket_value_ms(index)))
        return self.max_ms

    def mean_ms(self) -> float | None:
        return self.sum_ms / self.count if self.count else None

    def cdf(self) -> list[tuple[float, float]]:
        """``(latency_ms, fraction of samples ≤ it)`` per non-empty bucket, ascending."""
        out = []
        seen = 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            value = min(self.max_ms, max(self.min_ms, bucket_value_ms(index)))
            out.append((value, seen / self.count))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"buckets": [[i, n] for i, n in sorted(self.counts.items())], "count": self.count,
                "sum_ms": self.sum_ms, "min_ms": None if self.count == 0 else self.min_ms, "max_ms": self.max_ms}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LatencyHistogram:
        h = cls()
        h.counts = {int(i): int(n) for i, n in data["buckets"]}
        h.count = int(data["count"])
        h.sum_ms = float(data["sum_ms"])
        h.min_ms = math.inf if data["min_ms"] is None else float(data["min_ms"])
        h.max_ms = float(data["max_ms"])
        return h


__all__ = ["LatencyHistogram", "GROWTH", "bucket_of", "bucket_value_ms"]
