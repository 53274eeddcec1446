"""Short real runs of the console script: its figures must agree with each other.

A run is real servers, real sockets and real worker processes; only its size is small
(a few devices for a few seconds), so nothing may be lost, missed or fail.
"""

from __future__ import annotations

import os
import re
from typing import Any

from tests.loadtest.conftest import LoadRun


def check_consistent(run: dict[str, Any], frame_samples: int) -> None:
    """The summary, the windows, the per-device rows and the histograms tell one story."""
    s, devices, windows = run["summary"], run["devices"], run["windows"]
    assert s["lost_samples"] == 0 and s["reader_frames_missed"] == 0 and s["errors"] == 0, run["errors_by_kind"]
    assert s["frames_sent"] > 0
    assert s["frames_sent"] == s["frames_acked"] == sum(d["frames_sent"] for d in devices)
    assert sum(w["frames_sent"] for w in windows) == s["frames_sent"]
    assert sum(w["frames_acked"] for w in windows) == s["frames_acked"]
    assert s["samples_sent"] == s["samples_acked"] == s["samples_stored"] == s["frames_sent"] * frame_samples
    assert s["unacked_samples"] == 0
    for d in devices:
        assert d["samples_stored"] == d["samples_sent"] == d["frames_sent"] * frame_samples, d
        assert d["reader_frames_expected"] > 0 and d["reader_frames_missed"] == 0, d
    hist = run["latency_histograms"]
    assert hist["ack"]["count"] == s["frames_acked"]  # one device→ack latency per acked frame
    assert hist["reader"]["count"] == sum(w["reader_frames"] for w in windows)
    assert hist["reader"]["count"] >= sum(d["reader_frames_expected"] for d in devices)
    for name in ("ack", "reader"):
        p50, p95, p99, top = (s[f"{name}_{q}_ms"] for q in ("p50", "p95", "p99", "max"))
        assert 0 < p50 <= p95 <= p99 <= top < 2000
    assert sum(1 for w in windows if w["ack_p99_ms"] is not None) >= run["config"]["duration_s"] - 1
    assert run["sustained"] is True


def test_two_workers_stream_real_ecgs_without_loss(two_worker_run: LoadRun) -> None:
    assert two_worker_run.returncode == 0, two_worker_run.stderr + two_worker_run.stdout
    doc = two_worker_run.doc
    assert doc["passed"] is True and doc["breaches"] == [] and len(doc["thresholds"]) == 3
    (run,) = doc["runs"]
    assert run["config"]["workers"] == 2 and run["config"]["bus"] == "memory"
    assert run["config"]["node_cpu_limit"] == 1.5
    check_consistent(run, frame_samples=20)  # 40 ms at 500 Hz
    s = run["summary"]
    assert s["devices_max"] == 4 and s["recordings"] == 4
    assert 4 * 25 * 0.85 <= s["frames_per_s"] <= 4 * 25 * 1.05  # 4 devices × 25 frames/s
    roles = sorted(r["role"] for r in run["resources"])
    assert roles == ["server", "worker", "worker"]
    for series in run["resources"]:
        assert len(series["points"]) >= 3 and all(p[2] > 10 for p in series["points"]), series["name"]
    assert s["server_cpu_pct"] is not None and 0 < s["server_cpu_pct"] < 200
    assert s["server_rss_mib_max"] is not None and s["server_rss_mib_max"] > 30
    # the terminal table, and no progress line when stderr is not a terminal
    assert re.search(r"^\s+4\s+[\d.]+\s.*\byes\s+4 devices$", two_worker_run.stdout, re.M), two_worker_run.stdout
    assert "\r" not in two_worker_run.stderr


def test_the_html_report_is_self_contained(two_worker_run: LoadRun) -> None:
    page = two_worker_run.html_path.read_text(encoding="utf-8")
    assert page.count("<svg") == 5 and page.count("<figure") == 5
    for plot in ("latency", "throughput", "percentiles", "loss", "resources"):
        assert f'data-plot="{plot}"' in page
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert not re.search(r"url\(\s*['\"]?(https?:|//)", page)


def test_two_nodes_with_a_redis_of_its_own_and_readers_across_nodes(two_node_run: LoadRun) -> None:
    # One threshold is meant to fail ("the run must reach 1000 devices"): exit 1, named on stderr.
    assert two_node_run.returncode == 1, two_node_run.stderr + two_node_run.stdout
    assert "threshold breached: devices_max<1000 (devices_max = 4)" in two_node_run.stderr
    doc = two_node_run.doc
    assert doc["passed"] is False and doc["breaches"] == ["threshold breached: devices_max<1000 (devices_max = 4)"]
    (run,) = doc["runs"]
    config = run["config"]
    assert len(config["nodes"]) == 2 and config["bus"] == "redis" and config["readers_on"] == "other"
    assert config["records"] == "postgresql"
    check_consistent(run, frame_samples=20)
    devices = run["devices"]
    # the ramp: slots 0-1 from the start, 2-3 join on the way up and leave at 3 s
    assert sorted(d["slot"] for d in devices) == [0, 1, 2, 3]
    by_slot = {d["slot"]: d for d in devices}
    assert by_slot[0]["started_s"] < 0.1 and 0.6 < by_slot[3]["started_s"] < 1.6
    assert 2.9 < by_slot[3]["ended_s"] < 3.2 and by_slot[0]["ended_s"] > 4.4
    assert by_slot[0]["frames_sent"] > by_slot[3]["frames_sent"]
    assert {d["node"] for d in devices} == {0, 1}
    assert all(d["reader_nodes"] == [1 - d["node"]] for d in devices)
    assert run["summary"]["devices_max"] == 4
    # the Redis was sampled, and stopped with the run
    (redis,) = [r for r in run["resources"] if r["role"] == "redis"]
    assert redis["points"] and not os.path.exists(f"/proc/{redis['pid']}/stat") or _not_redis(redis["pid"])
    assert sorted(r["role"] for r in run["resources"]) == ["redis", "server", "server", "worker", "worker"]


def _not_redis(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"redis-server" not in f.read()
    except OSError:
        return True
