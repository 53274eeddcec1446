"""Pass/fail thresholds for CI: ``--fail-if "reader_p99_ms>100" --fail-if "lost_samples>0"``.

The grammar is one comparison: a metric name, an operator (``> >= < <= == !=``) and a
number. Nothing is evaluated as code. A threshold is *breached* when its comparison is
true, or when the metric has no value in the run (no reader latency measured, say):
a CI gate should not pass on missing data.

    threshold = parse_threshold("reader_p99_ms>100", known=METRICS)
    breaches = check([threshold], summary)   # [] when the run passed
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_EXPRESSION = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


class ThresholdError(ValueError):
    """The expression is not ``metric <op> number`` or names an unknown metric."""


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.value:g}"

    def breached_by(self, actual: float | None) -> bool:
        if actual is None or (isinstance(actual, float) and math.isnan(actual)):
            return True
        return OPERATORS[self.op](float(actual), self.value)


@dataclass(frozen=True)
class Breach:
    threshold: Threshold
    actual: float | None
    where: str = ""

    def message(self) -> str:
        seen = "no value" if self.actual is None else f"{self.threshold.metric} = {self.actual:g}"
        place = f" [{self.where}]" if self.where else ""
        return f"threshold breached{place}: {self.threshold} ({seen})"


def parse_threshold(text: str, known: Iterable[str] | None = None) -> Threshold:
    """Parse ``metric <op> number``.

    Raises:
        ThresholdError: not of that form, or (with ``known``) an unknown metric name.
    """
    match = _EXPRESSION.match(text)
    if not match:
        raise ThresholdError(f"bad threshold {text!r}: expected metric, comparison, number (e.g. reader_p99_ms>100)")
    name = match.group("name")
    if known is not None:
        names = sorted(known)
        if name not in names:
            raise ThresholdError(f"unknown metric {name!r} in {text!r}; known: {', '.join(names)}")
    value = float(match.group("value"))
    if not math.isfinite(value):
        raise ThresholdError(f"bad number in {text!r}")
    return Threshold(name, match.group("op"), value)


def check(thresholds: Iterable[Threshold], metrics: Mapping[str, float | int | None],
          where: str = "") -> list[Breach]:
    """The thresholds that ``metrics`` breaches, in the given order."""
    breaches = []
    for threshold in thresholds:
        raw = metrics.get(threshold.metric)
        actual = None if raw is None else float(raw)
        if threshold.breached_by(actual):
            breaches.append(Breach(threshold, actual, where))
    return breaches


__all__ = ["Threshold", "Breach", "ThresholdError", "parse_threshold", "check", "OPERATORS"]
