"""The pure core of reading and reporting: lifecycle table, findings, annotation log, TAT."""

from __future__ import annotations

import itertools
import re
from zoneinfo import ZoneInfo

import pytest

from teleconsult.reading import annotations as ann
from teleconsult.reading import findings, lifecycle, tat
from teleconsult.reading.catalogue import catalogue
from teleconsult.reading.errors import BadRequest, ConflictError, Forbidden
from teleconsult.reading.model import AnnotationEntry
from tests.conftest import REPO

S, A, P = lifecycle.ReportState, lifecycle.Action, lifecycle.Party


def test_every_state_action_party_has_one_answer() -> None:
    allowed = {(S.NONE, A.SAVE_DRAFT, P.CLAIMANT): S.DRAFT, (S.DRAFT, A.SAVE_DRAFT, P.CLAIMANT): S.DRAFT,
               (S.DRAFT, A.SIGN, P.CLAIMANT): S.SIGNED, (S.SIGNED, A.AMEND, P.CLAIMANT): S.AMENDED,
               (S.SIGNED, A.AMEND, P.COUNTY_READER): S.AMENDED, (S.AMENDED, A.AMEND, P.CLAIMANT): S.AMENDED,
               (S.AMENDED, A.AMEND, P.COUNTY_READER): S.AMENDED}
    for state, action, party in itertools.product(S, A, P):
        if (state, action, party) in allowed:
            assert lifecycle.transition(state, action, party) == allowed[(state, action, party)]
        else:
            with pytest.raises((ConflictError, Forbidden)):
                lifecycle.transition(state, action, party)
    with pytest.raises(ConflictError, match="only amended"):
        lifecycle.transition(S.SIGNED, A.SAVE_DRAFT, P.CLAIMANT)
    with pytest.raises(Forbidden):
        lifecycle.transition(S.DRAFT, A.SIGN, P.COUNTY_READER)


def test_the_documented_lifecycle_table_is_the_code_table() -> None:
    doc = (REPO / "docs" / "reporting.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\| `(\w+)` \| `(\w+)` \| `(\w+)` \| ([a-z_, ]+) \|$", doc, re.M))
    table = {(state.value, action.value, nxt.value, ", ".join(sorted(p.value for p in parties)))
             for state, actions in lifecycle.TRANSITIONS.items() for action, (nxt, parties) in actions.items()}
    assert {(a, b, c, d.strip()) for a, b, c, d in rows} == table


def test_catalogue_keeps_codes_and_labels() -> None:
    cat = catalogue()
    assert cat["SR"].zh == "窦性心律" and cat["SR"].aha == "20" and cat["SR"].aecg == "MDC_ECG_RHY_SINUS_RHY"
    assert cat["AFIB"].zh == "心房颤动" and cat["STE_"].critical and cat["CLBBB"].zh == "完全性左束支传导阻滞"
    assert cat["1AVB"].zh == "一度房室传导阻滞" and cat["PVC"].zh == "室性早搏" and cat["MI"].zh == "心肌梗死"
    assert len([s for s in cat.values() if s.source == "scp-ecg"]) == 71


def test_critical_findings_raise_priority() -> None:
    fs = 250.0
    assert findings.findings_from_beats([0, 250, 500, 750], fs) == []
    pause = findings.findings_from_beats([0, 250, 500, 1500, 1750], fs)
    assert [f["code"] for f in pause] == ["PAUSE"]
    assert [f["code"] for f in findings.findings_from_beats(list(range(0, 2500, 90)), fs)] == ["XTACH"]
    assert [f["code"] for f in findings.findings_from_beats(list(range(0, 5000, 400)), fs)] == ["XBRAD"]
    report = findings.findings_from_report(["AFIB", "STE_"], {"heart_rate_bpm": 130.0})
    assert {f["code"] for f in report} == {"STE_", "AFRVR"}
    assert findings.findings_from_report(["SR", "NORM"], {"heart_rate_bpm": 70.0}) == []
    assert findings.effective_priority(findings.Priority.ROUTINE, pause) == findings.Priority.STAT
    assert findings.escalation_due(True, 100.0, None, None, now=160.0, after_s=60.0)
    assert not findings.escalation_due(True, 100.0, 120.0, None, now=160.0, after_s=60.0)
    assert not findings.escalation_due(True, 100.0, None, None, now=159.0, after_s=60.0)


def entry(i: int, op: str, author: int = 1, **kw: object) -> AnnotationEntry:
    return AnnotationEntry(i, 1, author, float(i), op, **kw)  # type: ignore[arg-type]


def test_annotation_log_folds_edits_and_undo_without_touching_the_detector_beats() -> None:
    auto = [100, 200, 300]
    log = [entry(1, "beat.relabel", sample=200, label="V"), entry(2, "beat.add", sample=250, label="S"),
           entry(3, "beat.delete", sample=300), entry(4, "segment.add", sample=0, end_sample=90, label="noise"),
           entry(5, "note.add", body="留意室早", sample=200)]
    state = ann.fold(auto, log)
    assert {s: b.label for s, b in state.beats.items()} == {100: "N", 200: "V", 250: "S"}
    assert list(state.segments) == [4] and list(state.notes) == [5]
    assert ann.last_undoable(log, 1) == 5
    log.append(entry(6, "undo", target=3))  # the deleted beat comes back
    assert {s: b.label for s, b in ann.fold(auto, log).beats.items()} == {100: "N", 200: "V", 250: "S", 300: "N"}
    assert ann.last_undoable(log, 1) == 5 and ann.last_undoable(log, 2) is None
    with pytest.raises(ConflictError):
        ann.check(auto, log, entry(7, "undo", target=3), 1000)  # undone already
    with pytest.raises(BadRequest):
        ann.check(auto, log, entry(7, "beat.relabel", sample=100, label="X"), 1000)
    with pytest.raises(ConflictError):
        ann.check(auto, log, entry(7, "beat.delete", sample=101), 1000)
    with pytest.raises(BadRequest):
        ann.check(auto, log, entry(7, "beat.add", sample=5000, label="N"), 1000)
    assert auto == [100, 200, 300]


def test_tat_percentiles_by_county_reader_and_day_on_constructed_data() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    day1 = 1_700_000_000.0 - (1_700_000_000.0 % 86400) + 2 * 3600  # 10:00 in Shanghai
    rows = []
    # reader 7: TATs 60, 120, 170, 200, 400 s on day 1; reader 8: 30, 90 s on day 2; one unsigned
    for k, t in enumerate([60, 120, 170, 200, 400]):
        rows.append(tat.StudyTimes(k, 1, 7, "routine", day1 + k * 600, day1 + k * 600 + 10, day1 + k * 600 + t,
                                   None, None))
    for k, t in enumerate([30, 90]):
        rows.append(tat.StudyTimes(10 + k, 1, 8, "stat", day1 + 86400 + k, None, day1 + 86400 + k + t, None, None))
    rows.append(tat.StudyTimes(20, 1, None, "urgent", day1 + 2 * 86400, None, None, None, None))
    now = day1 + 2 * 86400 + 200
    out = tat.summary(rows, 180.0, now, tz)
    assert tat.percentile([60, 120, 170, 200, 400], 50) == 170 and tat.percentile([60, 120, 170, 200, 400], 90) == 400
    assert tat.percentile([30, 90], 50) == 30 and tat.percentile([], 50) is None
    overall = out["overall"]
    assert overall["studies"] == 8 and overall["signed"] == 7 and overall["breaches"] == 3
    assert overall["tat_p50_s"] == 120 and overall["tat_p90_s"] == 400 and overall["within_target"] == 5
    readers = {g["reader_id"]: g for g in out["by_reader"]}
    assert readers[7]["tat_p50_s"] == 170 and readers[7]["breaches"] == 2 and readers[8]["tat_p95_s"] == 90
    assert readers[None]["breaches"] == 1  # unsigned, waiting 200 s
    days = [g["day"] for g in out["by_day"]]
    assert len(days) == 3 and days == sorted(days)
    assert [b["study_id"] for b in out["breaches"]] == [3, 4, 20]
    assert out["breaches"][-1]["waiting_s"] == pytest.approx(200)
