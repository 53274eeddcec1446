"""The terminal table and the JSON document of a load test (one or several runs).

    print(table_header()); print(table_row(run))      # as each run finishes
    write_json(path, document(runs, argv, …))         # everything, time series included
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

from loadtest.results import METRICS, RunResult

FORMAT_VERSION = 1
_COLUMNS = (("devices", 8), ("frames/s", 9), ("ack p50/95/99 ms", 18), ("reader p50/95/99 ms", 20),
            ("lost", 5), ("missed", 6), ("errors", 6), ("cpu %", 6), ("rss MiB", 8))


def _v(value: float | int | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 10:
        return str(int(value))
    return f"{value:g}"


def table_header() -> str:
    return " ".join(f"{name:>{width}}" for name, width in _COLUMNS) + "  sustained"


def table_row(run: RunResult) -> str:
    s = run.summary
    cells = (
        _v(s["devices_max"]), _v(s["frames_per_s"]),
        "/".join(_v(s[f"ack_p{q}_ms"]) for q in (50, 95, 99)),
        "/".join(_v(s[f"reader_p{q}_ms"]) for q in (50, 95, 99)),
        "?" if s["lost_samples"] is None else _v(s["lost_samples"]), _v(s["reader_frames_missed"]), _v(s["errors"]),
        _v(s["server_cpu_pct"]), _v(s["server_rss_mib_max"]),
    )
    row = " ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, _COLUMNS))
    return row + ("  yes" if run.sustained else "  NO")


def clinic_line(run: RunResult) -> str:
    """The report and consult traffic of a run, one indented line under its table row."""
    s = run.summary
    parts = []
    if s["reports_sent"] is not None:
        parts.append(f"reports {_v(s['reports_delivered'])}/{_v(s['reports_sent'])} delivered, "
                     f"sign→screen p50/p99 {_v(s['report_push_p50_ms'])}/{_v(s['report_push_p99_ms'])} ms, "
                     f"turnaround p50 {_v(s['report_tat_p50_s'])} s")
    if s["consults_held"] is not None:
        parts.append(f"consults {_v(s['consults_held'])} held, {_v(s['consult_failures'])} failed, "
                     f"setup p50/p99 {_v(s['consult_setup_p50_ms'])}/{_v(s['consult_setup_p99_ms'])} ms, "
                     f"relay p99 {_v(s['consult_relay_p99_ms'])} ms, probes lost {_v(s['consult_probes_lost'])}")
    return "   " + "; ".join(parts)


def error_lines(run: RunResult) -> list[str]:
    return [f"  {count:>6} × {kind}" for kind, count in run.error_kinds.most_common()]


def document(runs: list[RunResult], argv: list[str], thresholds: list[str], breaches: list[str],
             sustained_devices: int) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "command": ["loadtest", *argv],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "thresholds": thresholds,
        "breaches": breaches,
        "passed": not breaches,
        "sustained_devices": sustained_devices,
        "metrics": METRICS,
        "runs": [run.to_json() for run in runs],
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")


__all__ = ["table_header", "table_row", "clinic_line", "error_lines", "document", "write_json", "FORMAT_VERSION"]
