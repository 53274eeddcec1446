"""Consult records on both engines (SQLite, PostgreSQL): conditional transitions change a
consult once, the log keeps every step, presence and kiosks."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from teleconsult import auth
from teleconsult.storage.consults import ConsultStore
from teleconsult.storage.sql import Database


def world(db: Database) -> dict[str, Any]:
    county = db.create_org("County A", "county")
    township = db.create_org("Township A1", "township", county.id)
    village = db.create_org("Village A1a", "village", township.id)
    pw = auth.hash_password("correct horse battery")
    users = {name: db.create_user(name, pw, role, org) for name, role, org in (
        ("r1", "county_reader", county.id), ("r2", "county_reader", county.id), ("doc", "village_doctor", village.id))}
    store = ConsultStore(db.engine)
    consult = store.create(village.id, county.id, "user", users["doc"].id, "stat", "chest pain", "P-1", None,
                           f"user:{users['doc'].id}", time.time())
    return {"store": store, "consult": consult, "users": users, "county": county, "village": village}


def test_a_transition_is_conditional_and_logged(db: Database) -> None:
    w = world(db)
    store, c = w["store"], w["consult"]
    now = time.time()
    assert store.apply(c.id, "requested", "waiting", "queue", "system", "system", "", now, deadline_at=now + 5)
    assert store.apply(c.id, "requested", "waiting", "queue", "system", "system", "", now) is None  # not any more
    accepted = store.apply(c.id, "waiting", "accepted", "accept", "user:1", "county_doctor", "", now,
                           acceptor_id=w["users"]["r1"].id, deadline_at=now + 60)
    assert accepted is not None and accepted.acceptor_id == w["users"]["r1"].id and accepted.accepted_at == now
    assert store.active_for(w["users"]["r1"].id) == accepted
    assert store.busy_ids(w["county"].id) == {w["users"]["r1"].id}
    in_call = store.apply(c.id, "accepted", "in_call", "connected", "user:3", "requester", "", now + 1)
    assert in_call is not None and in_call.in_call_at == now + 1 and in_call.deadline_at is None
    ended = store.apply(c.id, "in_call", "ended", "hangup", "user:1", "acceptor", "done", now + 2, outcome="completed")
    assert ended is not None and (ended.outcome, ended.ended_at) == ("completed", now + 2)
    assert [(t.from_state, t.to_state, t.event, t.actor) for t in store.transitions(c.id)] == [
        ("", "requested", "request", "user:3"), ("requested", "waiting", "queue", "system"),
        ("waiting", "accepted", "accept", "user:1"), ("accepted", "in_call", "connected", "user:3"),
        ("in_call", "ended", "hangup", "user:1")]
    assert store.history(patient_ref="P-1", org_id=w["village"].id) == [ended]
    assert store.history(acceptor_id=w["users"]["r2"].id) == []


def test_two_doctors_accepting_at_once_exactly_one_wins(db: Database, target: Path | str) -> None:
    w = world(db)
    cid = w["consult"].id
    w["store"].apply(cid, "requested", "waiting", "queue", "system", "system", "", time.time())
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}
    stores = [ConsultStore(Database(target).engine) for _ in range(2)]

    def accept(name: str, store: ConsultStore) -> None:
        barrier.wait()
        results[name] = store.apply(cid, "waiting", "accepted", "accept", name, "county_doctor", "", time.time(),
                                    acceptor_id=w["users"][name].id)

    threads = [threading.Thread(target=accept, args=(n, s)) for n, s in zip(("r1", "r2"), stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r is not None for r in results.values()) == 1
    assert [t.event for t in w["store"].transitions(cid)].count("accept") == 1
    for store in stores:
        store.engine.close()


def test_only_due_consults_time_out_once(db: Database) -> None:
    w = world(db)
    store, cid = w["store"], w["consult"].id
    now = time.time()
    store.apply(cid, "requested", "waiting", "queue", "system", "system", "", now, deadline_at=now + 10)
    assert store.due(now) == []
    assert store.apply(cid, "waiting", "ended", "timeout", "system", "system", "", now, outcome="no_answer",
                       due_only=True) is None
    assert [c.id for c in store.due(now + 11)] == [cid]
    assert store.apply(cid, "waiting", "ended", "timeout", "system", "system", "", now + 11, outcome="no_answer",
                       due_only=True) is not None
    assert store.due(now + 11) == []


def test_presence_kiosks_and_messages(db: Database) -> None:
    w = world(db)
    store, r1, county = w["store"], w["users"]["r1"], w["county"]
    assert store.heartbeat(r1.id, 1.0, "n") is False  # never on duty
    store.set_duty(r1.id, county.id, True, 2.0, "node-a")
    store.set_duty(r1.id, county.id, True, 3.0, "node-b")
    assert store.heartbeat(r1.id, 4.0, "node-b") is True
    (row,) = store.presence(county.id)
    assert (row.user_id, row.on_duty, row.heartbeat_at, row.name) == (r1.id, True, 4.0, "r1")
    kiosk_id = store.create_kiosk(w["village"].id, "kiosk", "hash-k", None, 1.0)
    kiosk = store.kiosk_for_token("hash-k")
    assert kiosk is not None and (kiosk.id, kiosk.county_id, kiosk.revoked) == (kiosk_id, county.id, False)
    store.revoke_kiosk(kiosk_id)
    assert store.kiosk_for_token("hash-k").revoked  # type: ignore[union-attr]
    cid = w["consult"].id
    chat = store.add_message(cid, "user:3", "chat", 5.0, body="你好")
    f = store.add_message(cid, "user:1", "file", 6.0, file_name="ecg.pdf", content_type="application/pdf", size=9,
                          sha256="ab")
    assert store.messages(cid) == [chat, f] and store.message(cid, f.id) == f and store.message(cid + 1, f.id) is None
