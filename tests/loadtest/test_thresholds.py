"""--fail-if expressions: metric, comparison, number; nothing is evaluated."""

from __future__ import annotations

import pytest

from loadtest.results import METRICS
from loadtest.thresholds import Threshold, ThresholdError, check, parse_threshold


@pytest.mark.parametrize("text, expected", [
    ("reader_p99_ms>100", Threshold("reader_p99_ms", ">", 100.0)),
    ("  lost_samples >= 1 ", Threshold("lost_samples", ">=", 1.0)),
    ("ack_p50_ms<=2.5", Threshold("ack_p50_ms", "<=", 2.5)),
    ("errors!=0", Threshold("errors", "!=", 0.0)),
    ("frames_per_s < 2.4e3", Threshold("frames_per_s", "<", 2400.0)),
    ("server_cpu_pct==.5", Threshold("server_cpu_pct", "==", 0.5)),
    ("devices_max>-1", Threshold("devices_max", ">", -1.0)),
])
def test_valid_expressions_parse(text: str, expected: Threshold) -> None:
    assert parse_threshold(text, METRICS) == expected


@pytest.mark.parametrize("text", [
    "", "reader_p99_ms", "reader_p99_ms>", ">100", "reader_p99_ms>>100", "reader_p99_ms=>100",
    "reader_p99_ms>100ms", "reader_p99_ms>100 and errors>0", "reader_p99_ms>errors",
    "__import__('os').system('true')>0", "reader_p99_ms>1;print(1)", "reader_p99_ms>nan", "reader_p99_ms>inf",
    "lost samples>0", "reader_p99_ms>1e999",
])
def test_anything_else_is_refused(text: str) -> None:
    with pytest.raises(ThresholdError):
        parse_threshold(text, METRICS)


def test_unknown_metrics_are_refused_with_the_known_names() -> None:
    with pytest.raises(ThresholdError, match="unknown metric 'p99_ms'.*reader_p99_ms"):
        parse_threshold("p99_ms>100", METRICS)
    assert parse_threshold("p99_ms>100") == Threshold("p99_ms", ">", 100.0)  # no list: any name


def test_breached_when_the_comparison_holds_or_the_metric_has_no_value() -> None:
    thresholds = [parse_threshold(t, METRICS) for t in
                  ("reader_p99_ms>100", "lost_samples>0", "ack_p99_ms>100", "errors!=0", "frames_per_s<100")]
    metrics = {"reader_p99_ms": 100.0, "lost_samples": 3, "ack_p99_ms": None, "errors": 0, "frames_per_s": 99.9}
    breaches = check(thresholds, metrics, where="50 devices")
    assert [str(b.threshold) for b in breaches] == ["lost_samples>0", "ack_p99_ms>100", "frames_per_s<100"]
    assert [b.message() for b in breaches] == [
        "threshold breached [50 devices]: lost_samples>0 (lost_samples = 3)",
        "threshold breached [50 devices]: ack_p99_ms>100 (no value)",
        "threshold breached [50 devices]: frames_per_s<100 (frames_per_s = 99.9)",
    ]
    assert check(thresholds[:1], {"reader_p99_ms": 99.9}) == []


def test_every_comparison_operator() -> None:
    cases = {">": (2, 1), ">=": (1, 0), "<": (0, 1), "<=": (1, 2), "==": (1, 2), "!=": (2, 1)}
    for op, (breaching, passing) in cases.items():
        threshold = parse_threshold(f"errors{op}1", METRICS)
        assert threshold.breached_by(breaching), op
        assert not threshold.breached_by(passing), op
