"""Plain histogram counts kept by the services, turned into Prometheus histograms at scrape time."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass
class Observations:
    """Plain histogram counts (the metrics endpoint turns them into a Prometheus histogram).

    ``counts[i]`` holds the values ``bounds[i-1] < v <= bounds[i]``; the last one those above
    every bound (``+Inf``).
    """

    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)
    sum: float = 0.0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, count of values <= it) per bucket, ending with (inf, count of all)."""
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out


__all__ = ["Observations"]
