"""Load profiles: how many devices stream at each moment of a run.

A profile is a list of ``(time_s, devices)`` points joined by straight lines; two points
at the same time make a step. Device slot ``k`` streams while ``devices_at(t) > k``:
slots join in order as the profile rises and leave from the top as it falls, each
time as a new recording. The run lasts until the last point.

    parse_ramp("0:0,30:100,90:100")   # ramp up to 100 devices over 30 s, hold for 60 s
    parse_ramp("steps:25,50,75@10")   # 25 devices for 10 s, then 50, then 75
    constant(100, 20.0)               # 100 devices for 20 s
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from dataclasses import dataclass


class ProfileError(ValueError):
    """A ramp that cannot be parsed or makes no sense; the message says why."""


@dataclass(frozen=True)
class Profile:
    points: tuple[tuple[float, int], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ProfileError("a profile needs at least one point")
        if self.points[0][0] != 0:
            raise ProfileError("a ramp starts at 0 s")
        for (t0, _), (t1, _) in zip(self.points, self.points[1:]):
            if t1 < t0:
                raise ProfileError(f"ramp times must not go back ({t0:g} s then {t1:g} s)")
        if any(n < 0 for _, n in self.points):
            raise ProfileError("a ramp cannot have fewer than 0 devices")
        if self.duration_s <= 0:
            raise ProfileError("a ramp must last longer than 0 s")
        if self.max_devices == 0:
            raise ProfileError("a ramp must reach at least 1 device")

    @property
    def duration_s(self) -> float:
        return self.points[-1][0]

    @property
    def max_devices(self) -> int:
        return max(n for _, n in self.points)

    def devices_at(self, t_s: float) -> int:
        """Devices that should be streaming ``t_s`` seconds into the run (0 once it is over)."""
        if t_s < 0 or t_s >= self.duration_s:
            return 0
        times = [t for t, _ in self.points]
        i = bisect_right(times, t_s) - 1  # the last point at or before t (the later one of a step)
        t0, n0 = self.points[i]
        t1, n1 = self.points[i + 1]
        if t1 == t0:
            return n1
        return math.floor(n0 + (n1 - n0) * (t_s - t0) / (t1 - t0) + 1e-9)

    def describe(self) -> str:
        return ",".join(f"{t:g}:{n}" for t, n in self.points)


def constant(devices: int, duration_s: float) -> Profile:
    """``devices`` streaming from the start for ``duration_s``."""
    return Profile(((0.0, devices), (float(duration_s), devices)))


def stepped(levels: list[int], hold_s: float) -> Profile:
    """Each level in turn for ``hold_s`` seconds, in one run."""
    points: list[tuple[float, int]] = []
    for k, level in enumerate(levels):
        points += [(k * hold_s, level), ((k + 1) * hold_s, level)]
    return Profile(tuple(points))


_STEPS = re.compile(r"^steps:(\d+(?:,\d+)*)@(\d+(?:\.\d+)?)$")
_POINT = re.compile(r"^(\d+(?:\.\d+)?):(\d+)$")


def parse_ramp(text: str) -> Profile:
    """``"t:n,t:n,…"`` (seconds:devices, linear in between) or ``"steps:n,n,…@hold_s"``.

    Raises:
        ProfileError: the text is not one of those forms, or the profile is invalid.
    """
    text = text.replace(" ", "")
    match = _STEPS.match(text)
    if match:
        return stepped([int(x) for x in match.group(1).split(",")], float(match.group(2)))
    points = []
    for part in text.split(","):
        point = _POINT.match(part)
        if not point:
            raise ProfileError(f"bad ramp point {part!r}: expected seconds:devices, e.g. 30:100")
        points.append((float(point.group(1)), int(point.group(2))))
    if len(points) < 2:
        raise ProfileError("a ramp needs at least two points, e.g. 0:0,30:100")
    return Profile(tuple(points))


__all__ = ["Profile", "ProfileError", "constant", "stepped", "parse_ramp"]
