"""Report and consult traffic in a real run: what the county's people do while devices stream.

Two real servers (PostgreSQL + Redis); a village doctor on node 0 uploads 12-lead ECGs,
county readers on node 1 read and sign them and the reports come back to the doctor on
node 0; two pairs of doctors hold consults one after another across the nodes.
"""

from __future__ import annotations

import re

import pytest

from tests.loadtest.conftest import LoadRun
from tests.loadtest.test_runs import check_consistent


def test_reports_are_read_signed_and_pushed_back_across_nodes(clinic_run: LoadRun) -> None:
    # One threshold is meant to fail (no run this size delivers 1000 reports): exit 1, named.
    assert clinic_run.returncode == 1, clinic_run.stderr + clinic_run.stdout
    doc = clinic_run.doc
    assert doc["breaches"] == ["threshold breached: reports_delivered<1000 (reports_delivered = 4)"]
    (run,) = doc["runs"]
    assert run["config"]["clinic"]["village_node"] == 0 and run["config"]["clinic"]["county_node"] == 1
    check_consistent(run, frame_samples=20)  # the streams lost nothing beside the traffic
    s, clinic = run["summary"], run["clinic"]
    # 30 per minute for 8 s: uploads at 0.5, 2.5, 4.5 and 6.5 s
    assert s["reports_sent"] == s["reports_delivered"] == 4 and s["reports_undelivered"] == 0
    assert clinic["reports_signed"] == 4
    for name in ("upload", "notice", "push", "tat"):
        assert clinic[name]["count"] == 4, name  # one measurement per report, each kind
    assert 0 < s["report_push_p50_ms"] <= s["report_push_p99_ms"] <= s["report_push_max_ms"] < 1000
    assert s["report_upload_p99_ms"] < 5000 and s["report_notice_p99_ms"] < 5000
    # the turnaround holds the reader's 0.5 s of reading and the system's share on top of it
    assert 0.5 < s["report_tat_p50_s"] <= s["report_tat_max_s"] < 5.0
    tats = sorted(v for _, kind, v in clinic["events"] if kind == "tat")
    assert len(tats) == 4 and tats[0] > 0.5
    assert run["sustained"] is True


def test_consults_are_held_one_after_another_across_nodes(clinic_run: LoadRun) -> None:
    (run,) = clinic_run.doc["runs"]
    s, clinic = run["summary"], run["clinic"]
    assert s["consult_failures"] == 0 and s["consult_probes_lost"] == 0
    # each pair: a 2-s consult, then another while more than 4 s of the run are left
    assert s["consults_held"] == clinic["consults_started"] >= 3
    assert clinic["setup"]["count"] == s["consults_held"]
    assert clinic["probes_sent"] == clinic["probes_received"] == clinic["relay"]["count"] > 0
    assert 0 < s["consult_setup_p50_ms"] <= s["consult_setup_p99_ms"] < 2000
    assert 0 < s["consult_relay_p99_ms"] < 1000
    line = re.search(r"^ +reports 4/4 delivered.*consults \d+ held, 0 failed.*probes lost 0$", clinic_run.stdout, re.M)
    assert line, clinic_run.stdout


def test_the_report_shows_the_traffic(clinic_run: LoadRun) -> None:
    page = clinic_run.html_path.read_text(encoding="utf-8")
    assert 'data-plot="clinic"' in page and page.count("<svg") == 6
    for metric in ("report_push_p99_ms", "report_tat_p50_s", "consult_setup_p99_ms", "consult_probes_lost"):
        assert f"<code>{metric}</code>" in page


@pytest.mark.parametrize("metric", ["report_push_p99_ms", "consults_held"])
def test_runs_without_that_traffic_have_no_figures_for_it(metric: str, two_worker_run: LoadRun) -> None:
    (run,) = two_worker_run.doc["runs"]
    assert run["summary"][metric] is None and run["clinic"] is None
