"""CPU and memory of local processes over time, read from /proc (Linux).

The parent samples every server process it started (or was given with
``--server-pid``), each worker and a Redis it started, once a second:

    sampler = ProcessSeries(pid, "node-0", "server")
    sampler.sample(t_s)                   # cumulative CPU seconds and RSS at t_s
    sampler.cpu_pct_between(t0, t1)       # mean CPU (100 % = one core) over [t0, t1]
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class ProcessSeries:
    """Samples ``(t_s, cpu_s, rss_mib)`` of one process; ``role`` is server, worker or redis."""

    pid: int
    name: str
    role: str
    samples: list[tuple[float, float, float]] = field(default_factory=list)

    def sample(self, t_s: float) -> None:
        cpu, rss = cpu_seconds(self.pid), rss_mib(self.pid)
        if cpu is not None and rss is not None:
            self.samples.append((t_s, cpu, rss))

    def cpu_pct_between(self, t0_s: float, t1_s: float) -> float | None:
        """Mean CPU over the samples closest inside ``[t0_s, t1_s]``; None without two samples."""
        inside = [s for s in self.samples if t0_s - 0.5 <= s[0] <= t1_s + 0.5]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return 100.0 * (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def rss_max_mib(self) -> float | None:
        return max((s[2] for s in self.samples), default=None)

    def points(self) -> list[tuple[float, float, float]]:
        """``(t_s, cpu_pct over the interval ending at t_s, rss_mib)`` for plotting."""
        out = []
        for (t0, c0, _), (t1, c1, rss) in zip(self.samples, self.samples[1:]):
            if t1 > t0:
                out.append((t1, 100.0 * (c1 - c0) / (t1 - t0), rss))
        return out

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "name": self.name, "role": self.role,
                "samples": [[round(t, 3), round(c, 3), round(r, 1)] for t, c, r in self.samples],
                "points": [[round(t, 3), round(c, 1), round(r, 1)] for t, c, r in self.points()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessSeries:
        return cls(int(data["pid"]), str(data["name"]), str(data["role"]),
                   [(float(t), float(c), float(r)) for t, c, r in data["samples"]])


__all__ = ["ProcessSeries", "cpu_seconds", "rss_mib"]
