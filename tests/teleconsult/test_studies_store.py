"""Study records on both engines: the reading lock is atomic, signed reports are immutable,
amendments keep the history, annotations are an append-only log."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from teleconsult import auth
from teleconsult.reading.model import AnnotationEntry
from teleconsult.storage.sql import Conflict, Database
from teleconsult.storage.studies import LockLost, StudyStore
from tests.teleconsult.test_sql import recording


def world(db: Database) -> dict[str, Any]:
    county = db.create_org("County A", "county")
    township = db.create_org("Township A1", "township", county.id)
    village = db.create_org("Village A1a", "village", township.id)
    device = db.create_device(village.id, "cart", "hash-1", None)
    pw = auth.hash_password("correct horse battery")
    users = {name: db.create_user(name, pw, role, org) for name, role, org in (
        ("r1", "county_reader", county.id), ("r2", "county_reader", county.id), ("doc", "village_doctor", village.id))}
    db.create_recording(recording(device.id, village.id, county.id, rid="rec-study-1"))
    store = StudyStore(db.engine)
    study = store.create_study("rec-study-1", village.id, county.id, "stream", users["doc"].id, "routine", "routine",
                               "", [], [], time.time())
    return {"store": store, "study": study, "users": users, "county": county}


def test_two_readers_claiming_at_once_exactly_one_wins(db: Database, target: Path | str) -> None:
    w = world(db)
    sid, county = w["study"].id, w["county"].id
    for _ in range(5):
        barrier = threading.Barrier(2)
        results: dict[str, Any] = {}
        stores = [StudyStore(Database(target).engine) for _ in range(2)]  # separate connections

        def claim(name: str, store: StudyStore) -> None:
            barrier.wait()
            results[name] = store.claim(sid, w["users"][name].id, county, time.time(), 60.0)

        threads = [threading.Thread(target=claim, args=(n, s)) for n, s in zip(("r1", "r2"), stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for store in stores:
            store.engine.close()
        winners = [n for n, r in results.items() if r is not None]
        assert len(winners) == 1
        holder = w["store"].get_study(sid)
        assert holder.claimed_by == w["users"][winners[0]].id and holder.status == "claimed"
        assert w["store"].release(sid, holder.claimed_by) is not None


def test_a_lock_expires_and_can_be_taken_over_released_and_reassigned(db: Database) -> None:
    w = world(db)
    store, sid, county = w["store"], w["study"].id, w["county"].id
    r1, r2 = w["users"]["r1"].id, w["users"]["r2"].id
    now = time.time()
    assert store.claim(sid, r1, county, now, 10.0) is not None
    assert store.claim(sid, r2, county, now + 5, 10.0) is None  # still held
    assert store.claim(sid, r1, county, now + 5, 10.0) is not None  # renewed by its holder
    assert store.claim(sid, r2, county, now + 16, 10.0).claimed_by == r2  # expired: taken over
    assert store.claim(sid, r1, county + 999, now + 100, 10.0) is None  # another county never matches
    with pytest.raises(LockLost):  # r1 lost it: its draft is refused
        store.save_draft(sid, r1, ["SR"], "", {}, [], now + 17, 10.0)
    assert store.release(sid, r1) is None  # not r1's to release
    assert store.assign(sid, r1, now + 18, 10.0).claimed_by == r1  # an admin reassigns
    assert store.release(sid, None).status == "received"  # an admin releases whoever holds it


def test_signed_reports_are_immutable_and_amendments_keep_the_history(db: Database) -> None:
    w = world(db)
    store, sid, county = w["store"], w["study"].id, w["county"].id
    r1, r2 = w["users"]["r1"].id, w["users"]["r2"].id
    now = time.time()
    store.claim(sid, r1, county, now, 60.0)
    with pytest.raises(Conflict):
        store.sign(sid, r1, now, 60.0)  # nothing to sign yet
    store.save_draft(sid, r1, ["SR"], "first", {"heart_rate_bpm": 70.0}, [], now, 60.0)
    draft = store.save_draft(sid, r1, ["SR", "NORM"], "second", {"heart_rate_bpm": 72.0}, [], now + 1, 60.0)
    assert draft.version == 1 and draft.status == "draft" and draft.statements == ("SR", "NORM")
    study, signed = store.sign(sid, r1, now + 2, 60.0)
    assert study.status == "signed" and study.claimed_by is None and signed.status == "signed"
    assert study.signed_at == pytest.approx(now + 2)
    with pytest.raises(LockLost):  # no lock after signing: nobody can overwrite version 1
        store.save_draft(sid, r1, ["AFIB"], "changed", {}, [], now + 3, 60.0)
    assert store.claim(sid, r2, county, now + 3, 60.0) is None  # a signed study cannot be claimed
    _, v2 = store.amend(sid, r2, 1, ["AFIB"], "amended", {"heart_rate_bpm": 120.0}, [{"code": "AFRVR"}],
                        "missed AF", now + 4)
    assert v2.version == 2 and v2.amend_reason == "missed AF" and v2.status == "signed"
    with pytest.raises(Conflict):  # based on a stale version
        store.amend(sid, r1, 1, ["SR"], "", {}, [], "again", now + 5)
    history = store.versions(sid)
    assert [(v.version, v.statements, v.free_text) for v in history] == [
        (1, ("SR", "NORM"), "second"), (2, ("AFIB",), "amended")]
    assert store.get_study(sid).critical and store.get_study(sid).report_version == 2
    # delivery and acknowledgement, first time only; escalation once
    assert store.mark_delivered(sid, 2, now + 6) and not store.mark_delivered(sid, 2, now + 7)
    assert [s.id for s in store.escalation_candidates(now + 100)] == [sid]
    assert store.mark_escalated(sid, now + 8) and not store.mark_escalated(sid, now + 9)
    assert store.acknowledge(sid, 2, w["users"]["doc"].id, now + 10)
    assert not store.acknowledge(sid, 2, w["users"]["doc"].id, now + 11)
    assert store.pending_reports_for_org(study.org_id) == []
    times = store.tat_rows(county, 0, now + 1000)
    assert times[0].signed_at == pytest.approx(now + 2) and times[0].delivered_at == pytest.approx(now + 6)


def test_annotations_are_an_append_only_log_guarded_by_the_lock(db: Database) -> None:
    w = world(db)
    store, sid, county = w["store"], w["study"].id, w["county"].id
    r1, r2 = w["users"]["r1"].id, w["users"]["r2"].id
    now = time.time()
    store.claim(sid, r1, county, now, 60.0)
    first = store.append_annotation(AnnotationEntry(0, sid, r1, now, "beat.relabel", 100, None, "V"), None, now, 60.0)
    with pytest.raises(Conflict):  # checked against a log that has grown since
        store.append_annotation(AnnotationEntry(0, sid, r1, now, "beat.delete", 200), None, now, 60.0)
    with pytest.raises(LockLost):
        store.append_annotation(AnnotationEntry(0, sid, r2, now, "beat.delete", 200), first.id, now, 60.0)
    store.append_annotation(AnnotationEntry(0, sid, r1, now, "undo", target=first.id), first.id, now, 60.0)
    assert [e.op for e in store.annotation_log(sid)] == ["beat.relabel", "undo"]


def test_previous_studies_of_the_same_patient(db: Database) -> None:
    """Same non-empty patient reference, same county, earlier; newest first, with the signed version."""
    from dataclasses import replace

    w = world(db)  # rec-study-1: patient "PATIENT-张三" (tests.teleconsult.test_sql.recording)
    store, county, first = w["store"], w["county"], w["study"]
    village, doc, r1 = first.org_id, w["users"]["doc"].id, w["users"]["r1"].id
    device = db.create_device(village, "cart 2", "hash-2", None)
    county_b = db.create_org("County B", "county")
    village_b = db.create_org("Village B1a", "village", db.create_org("Township B1", "township", county_b.id).id)
    device_b = db.create_device(village_b.id, "cart b", "hash-b", None)
    t0 = first.received_at

    def study(rid: str, ref: str, at: float, org: int = village, cty: int = county.id, dev: int = device.id) -> int:
        db.create_recording(replace(recording(dev, org, cty, rid=rid), patient_ref=ref))
        return store.create_study(rid, org, cty, "upload", doc, "routine", "routine", "", [], [], at).id

    other_patient = study("rec-p2", "PATIENT-李四", t0 + 1)
    no_ref = study("rec-none", "", t0 + 2)
    no_ref_later = study("rec-none-2", "", t0 + 3)
    other_county = study("rec-b", "PATIENT-张三", t0 + 4, village_b.id, county_b.id, device_b.id)
    latest = study("rec-p1-b", "PATIENT-张三", t0 + 5)
    store.claim(first.id, r1, county.id, t0 + 6, 60.0)
    store.save_draft(first.id, r1, ["SR"], "", {"heart_rate_bpm": 70.0}, [], t0 + 6, 60.0)
    store.sign(first.id, r1, t0 + 7, 60.0)
    store.amend(first.id, r1, 1, ["SR", "NORM"], "", {"heart_rate_bpm": 71.0}, [], "add NORM", t0 + 8)

    rows = store.previous_for_patient(latest)
    assert [(s.id, v.version if v else None) for s, v in rows] == [(first.id, 2)]  # the newest signed version
    assert rows[0][1] is not None and rows[0][1].statements == ("SR", "NORM")
    assert store.previous_for_patient(latest, org_id=village) == rows[:1]
    assert store.previous_for_patient(latest, org_id=village_b.id) == []
    assert store.previous_for_patient(first.id) == []  # nothing earlier
    assert store.previous_for_patient(other_patient) == []
    assert store.previous_for_patient(no_ref_later) == [] and store.previous_for_patient(no_ref) == []
    assert store.previous_for_patient(other_county) == []  # the county A studies never
    assert [name for _, name in store.county_readers(county.id)] == ["r1", "r2"]
    assert store.county_readers(county_b.id) == []
