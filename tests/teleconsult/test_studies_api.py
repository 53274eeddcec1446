"""Reading and reporting through the HTTP API and the notify socket, in-process (SQLite).

A village doctor uploads an ECG; county readers claim it from the worklist (one wins),
annotate, write and sign; the doctor's socket gets the report within a second, confirms
receipt and acknowledges; critical findings escalate; exports validate; TAT adds up.
"""

from __future__ import annotations

import asyncio
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from teleconsult import auth
from teleconsult.config import Settings
from teleconsult.storage.sql import Database
from tests.teleconsult.conftest import PASSWORD, Seed, login

FS = 500.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", node_id="test-node", commit_interval_s=0.005,
                    escalate_after_s=0.3, escalation_check_s=0.05).resolved()


@pytest.fixture
def more_users(settings: Settings, seed: Seed) -> None:
    db = Database(settings.db_path)
    try:
        pw = auth.hash_password(PASSWORD)
        db.create_user("reader_a2", pw, "county_reader", seed.county_a)
        db.create_user("admin_a", pw, "admin", seed.county_a)
        db.create_user("doctor_b", pw, "village_doctor", seed.village_b)
    finally:
        db.close()


def wfdb_upload(seconds: float = 10.0, rate_bpm: float = 75.0, patient: str = "") -> dict[str, bytes]:
    """A synthetic 3-lead WFDB record (spikes as QRS complexes) as the files a cart would send
    (``patient``: a ``Patient ID:`` header comment)."""
    import wfdb

    n = int(seconds * FS)
    x = np.zeros((n, 3))
    for i in np.arange(int(0.5 * FS), n, int(FS * 60 / rate_bpm)):
        x[i - 5:i + 5, :] = np.hanning(10)[:, None] * np.array([1.2, 1.0, -0.8])
    x += 0.02 * np.sin(np.arange(n) / FS * 2 * np.pi)[:, None]
    with tempfile.TemporaryDirectory() as tmp:
        wfdb.wrsamp("cart01", fs=FS, units=["mV"] * 3, sig_name=["I", "II", "V1"],
                    d_signal=np.round(x * 1000).astype(np.int16), fmt=["16"] * 3, adc_gain=[1000.0] * 3,
                    baseline=[0] * 3, comments=[f"Patient ID: {patient}"] if patient else None, write_dir=tmp)
        return {name: (Path(tmp) / name).read_bytes() for name in ("cart01.hea", "cart01.dat")}


async def api(client: TestClient, method: str, path: str, token: str, body: Any = None,
              status: int = 200) -> Any:
    response = await client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
    text = await response.text()
    assert response.status == status, text
    return json.loads(text) if response.content_type.endswith("json") else text


async def upload(client: TestClient, token: str, priority: str = "routine", **kw: Any) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("priority", priority)
    form.add_field("note", "胸痛 2 小时")
    for name, data in wfdb_upload(**kw).items():
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
    response = await client.post("/api/studies/upload", data=form, headers={"Authorization": f"Bearer {token}"})
    assert response.status == 201, await response.text()
    study: dict[str, Any] = (await response.json())["study"]
    return study


async def notify(client: TestClient, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect("/ws/notify", headers={"Authorization": f"Bearer {token}"})
    hello = await ws.receive_json(timeout=5)
    assert hello["t"] == "hello"
    return ws


async def test_upload_claim_annotate_sign_push_receipt_ack(client: TestClient, more_users: None) -> None:
    doctor, reader, reader2 = [await login(client, n) for n in ("doctor_a", "reader_a", "reader_a2")]
    reader_b, doctor_b, admin = (await login(client, "reader_b"), await login(client, "doctor_b"),
                                 await login(client, "admin_a"))
    study = await upload(client, doctor, "urgent")
    sid = study["id"]
    assert study["status"] == "received" and study["priority"] == "urgent" and study["source"] == "upload"
    assert "fewer_than_12_leads" in study["flags"]

    # Worklist: county A's readers only; other county and other village cannot see it.
    work = await api(client, "GET", "/api/worklist", reader)
    assert [s["id"] for s in work["studies"]] == [sid] and work["target_s"] == 180.0
    assert (await api(client, "GET", "/api/worklist", reader_b))["studies"] == []
    await api(client, "GET", f"/api/studies/{sid}", reader_b, status=403)
    await api(client, "POST", f"/api/studies/{sid}/claim", reader_b, status=403)
    await api(client, "GET", f"/api/studies/{sid}", doctor_b, status=403)
    await api(client, "GET", "/api/worklist", doctor, status=403)
    await api(client, "POST", f"/api/studies/{sid}/claim", doctor, status=403)

    # Two readers claim at once: exactly one wins.
    results = await asyncio.gather(*(client.post(f"/api/studies/{sid}/claim", headers={
        "Authorization": f"Bearer {t}"}) for t in (reader, reader2)))
    assert sorted(r.status for r in results) == [200, 409]
    winner, loser = (reader, reader2) if results[0].status == 200 else (reader2, reader)

    # Annotations: relabel a detector beat, add a note, undo; the loser may not annotate.
    anns = await api(client, "GET", f"/api/studies/{sid}/annotations", winner)
    first = anns["beats"][0]["sample"]
    assert len(anns["beats"]) >= 10 and all(b["label"] == "N" for b in anns["beats"])
    await api(client, "POST", f"/api/studies/{sid}/annotations", loser,
              {"op": "beat.relabel", "sample": first, "label": "V"}, status=409)
    after = await api(client, "POST", f"/api/studies/{sid}/annotations", winner,
                      {"op": "beat.relabel", "sample": first, "label": "V"})
    assert after["beats"][0]["label"] == "V"
    await api(client, "POST", f"/api/studies/{sid}/annotations", winner, {"op": "note.add", "body": "wide QRS"})
    undone = await api(client, "POST", f"/api/studies/{sid}/annotations", winner, {"op": "undo"})
    assert undone["notes"] == [] and undone["beats"][0]["label"] == "V" and len(undone["log"]) == 3

    # Report: draft, sign; the doctor's socket gets it within a second.
    ws = await notify(client, doctor)
    await api(client, "PUT", f"/api/studies/{sid}/report", loser, {"statements": ["SR"]}, status=403)
    await api(client, "PUT", f"/api/studies/{sid}/report", winner,
              {"statements": ["SR", "PVC"], "free_text": "偶发室性早搏", "measurements": {"heart_rate_bpm": 75}})
    await api(client, "PUT", f"/api/studies/{sid}/report", winner, {"statements": ["NOPE"]}, status=400)
    assert (await api(client, "GET", f"/api/studies/{sid}/report", doctor))["current"] is None  # drafts stay in county
    signed_at = time.monotonic()
    await api(client, "POST", f"/api/studies/{sid}/report/sign", winner)
    pushed = await ws.receive_json(timeout=1.0)
    assert time.monotonic() - signed_at < 1.0
    assert pushed["t"] == "report" and pushed["study"]["id"] == sid and pushed["report"]["version"] == 1
    assert [s["zh"] for s in pushed["statements"]] == ["窦性心律", "室性早搏"] and not pushed["must_acknowledge"]
    await ws.send_json({"t": "receipt", "study": sid, "version": 1})
    assert (await ws.receive_json(timeout=2)) == {"t": "ok", "for": "receipt", "study": sid, "version": 1}

    # Signed: no edits, no signing again; an amendment is a new version with a reason.
    await api(client, "PUT", f"/api/studies/{sid}/report", winner, {"statements": ["AFIB"]}, status=409)
    await api(client, "POST", f"/api/studies/{sid}/report/sign", winner, status=409)
    await api(client, "POST", f"/api/studies/{sid}/report/amend", winner, {"statements": ["AFIB"]}, status=400)
    await api(client, "POST", f"/api/studies/{sid}/report/amend", reader_b,
              {"statements": ["AFIB"], "reason": "x"}, status=403)
    await api(client, "POST", f"/api/studies/{sid}/report/amend", doctor,
              {"statements": ["AFIB"], "reason": "x"}, status=403)
    await api(client, "POST", f"/api/studies/{sid}/report/amend", loser,
              {"statements": ["SR", "PVC", "1AVB"], "reason": "PR 220 ms missed"}, status=201)
    pushed2 = await ws.receive_json(timeout=1.0)
    assert pushed2["report"]["version"] == 2 and pushed2["report"]["amend_reason"] == "PR 220 ms missed"
    history = await api(client, "GET", f"/api/studies/{sid}/report", doctor)
    assert [(v["version"], v["statements"]) for v in history["versions"]] == [
        (1, ["SR", "PVC"]), (2, ["SR", "PVC", "1AVB"])]
    await ws.send_json({"t": "ack", "study": sid, "version": 2})
    assert (await ws.receive_json(timeout=2))["for"] == "ack"
    await api(client, "POST", f"/api/studies/{sid}/acknowledge", doctor_b, {"version": 2}, status=403)
    await ws.close()

    # Timestamps and TAT.
    final = (await api(client, "GET", f"/api/studies/{sid}", doctor))["study"]
    for key in ("received_at", "first_claimed_at", "signed_at", "delivered_at", "acknowledged_at"):
        assert final[key] is not None, key
    assert final["received_at"] <= final["first_claimed_at"] <= final["signed_at"] <= final["delivered_at"]
    figures = await api(client, "GET", "/api/tat", reader)
    assert figures["overall"]["signed"] == 1 and figures["overall"]["breaches"] == 0
    assert figures["by_reader"][0]["reader"] in ("reader_a", "reader_a2")
    await api(client, "GET", "/api/tat", doctor, status=403)
    assert (await api(client, "GET", "/api/tat", reader_b))["overall"]["studies"] == 0

    # Every access is audited, without patient data.
    db = Database(_db_path(client))
    try:
        actions = {(r["action"], r["outcome"]) for r in db.audit_rows(5000)}
    finally:
        db.close()
    assert {("study.create", "ok"), ("study.claim", "ok"), ("study.claim", "conflict"), ("study.view", "forbidden"),
            ("report.sign", "ok"), ("report.receipt", "ok:v1"), ("report.acknowledge", "ok:v2"),
            ("worklist", "ok"), ("tat.view", "ok")} <= actions


def _db_path(client: TestClient) -> Path:
    from teleconsult.keys import settings_key

    return client.server.app[settings_key].db_path  # type: ignore[union-attr]


async def test_critical_findings_need_acknowledgement_and_escalate(client: TestClient, more_users: None) -> None:
    doctor, reader, admin = await login(client, "doctor_a"), await login(client, "reader_a"), await login(client, "admin_a")
    study = await upload(client, doctor, "routine", rate_bpm=180.0)
    sid = study["id"]
    assert study["priority"] == "stat" and [f["code"] for f in study["auto_findings"]] == ["XTACH"]
    routine = await upload(client, doctor, "routine")
    order = [s["id"] for s in (await api(client, "GET", "/api/worklist", reader))["studies"]]
    assert order == [sid, routine["id"]]  # STAT before routine
    county_ws = await notify(client, admin)
    await api(client, "POST", f"/api/studies/{sid}/claim", reader)
    await api(client, "PUT", f"/api/studies/{sid}/report", reader,
              {"statements": ["SVTAC", "STE_"], "measurements": {"heart_rate_bpm": 180}})
    signed = await api(client, "POST", f"/api/studies/{sid}/report/sign", reader)
    assert {f["code"] for f in signed["report"]["findings"]} >= {"STE_", "XTACH"}
    # Nobody acknowledges: after escalate_after_s the county hears of it, once.
    deadline = time.monotonic() + 5
    seen: list[dict[str, Any]] = []
    while not any(n["t"] == "escalation" for n in seen):
        assert time.monotonic() < deadline, seen
        seen.append(await county_ws.receive_json(timeout=5))
    escalation = next(n for n in seen if n["t"] == "escalation")
    assert escalation["study"] == sid
    detail = (await api(client, "GET", f"/api/studies/{sid}", reader))["study"]
    assert detail["critical"] and detail["escalated_at"] is not None and detail["acknowledged_at"] is None
    # A doctor connecting later still gets it, flagged for acknowledgement.
    ws = await notify(client, doctor)
    pending = await ws.receive_json(timeout=2)
    assert pending["study"]["id"] == sid and pending["must_acknowledge"]
    await api(client, "POST", f"/api/studies/{sid}/acknowledge", doctor, {"version": 1})
    assert (await api(client, "GET", f"/api/studies/{sid}", doctor))["study"]["acknowledged_at"] is not None
    await ws.close()
    await county_ws.close()
    # Admins release and reassign; readers of another county cannot be assigned.
    other = routine["id"]
    await api(client, "POST", f"/api/studies/{other}/claim", reader)
    await api(client, "POST", f"/api/studies/{other}/release", admin)
    me2 = await api(client, "GET", "/api/me", await login(client, "reader_a2"))
    assigned = await api(client, "POST", f"/api/studies/{other}/assign", admin, {"reader_id": me2["user"]["id"]})
    assert assigned["study"]["claimed_by"] == me2["user"]["id"]
    await api(client, "POST", f"/api/studies/{other}/assign", reader, {"reader_id": me2["user"]["id"]}, status=403)
    me_b = await api(client, "GET", "/api/me", await login(client, "reader_b"))
    await api(client, "POST", f"/api/studies/{other}/assign", admin, {"reader_id": me_b["user"]["id"]}, status=400)


async def test_fhir_export_validates_and_wfdb_annotations_read_back(client: TestClient, more_users: None) -> None:
    import wfdb
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.diagnosticreport import DiagnosticReport
    from fhir.resources.R4B.observation import Observation

    doctor, reader = await login(client, "doctor_a"), await login(client, "reader_a")
    sid = (await upload(client, doctor))["id"]
    await api(client, "GET", f"/api/studies/{sid}/fhir", reader, status=404)  # nothing signed yet
    await api(client, "POST", f"/api/studies/{sid}/claim", reader)
    beats = (await api(client, "GET", f"/api/studies/{sid}/annotations", reader))["beats"]
    for body in ({"op": "beat.relabel", "sample": beats[2]["sample"], "label": "V"},
                 {"op": "beat.delete", "sample": beats[3]["sample"]},
                 {"op": "beat.add", "sample": beats[3]["sample"] + 10, "label": "S"},
                 {"op": "segment.add", "sample": 100, "end_sample": 900, "label": "noise"},
                 {"op": "segment.add", "sample": 2000, "end_sample": 3000, "label": "af"}):
        await api(client, "POST", f"/api/studies/{sid}/annotations", reader, body)
    measurements = {"heart_rate_bpm": 75, "pr_ms": 160, "qrs_ms": 92, "qt_ms": 380, "qtc_bazett_ms": 425,
                    "axis_deg": 45}
    await api(client, "PUT", f"/api/studies/{sid}/report", reader,
              {"statements": ["SR", "PVC"], "free_text": "", "measurements": measurements})
    await api(client, "POST", f"/api/studies/{sid}/report/sign", reader)

    doc = await api(client, "GET", f"/api/studies/{sid}/fhir", doctor)
    bundle = Bundle.model_validate(doc)  # raises on anything R4(B) does not allow
    resources = [e.resource for e in bundle.entry]
    report = resources[0]
    assert isinstance(report, DiagnosticReport) and report.status == "final"
    assert report.code.coding[0].code == "11524-6" and len(report.result) == len(resources) - 1
    assert [c.coding[0].code for c in report.conclusionCode] == ["SR", "PVC"]
    observations = [r for r in resources if isinstance(r, Observation)]
    codes = {o.code.coding[0].code: o for o in observations}
    assert codes["8867-4"].valueQuantity.value == 75 and codes["8625-6"].valueQuantity.unit == "ms"
    wave = codes["131328"]
    assert [c.code.text for c in wave.component] == ["I", "II", "V1"]
    sampled = wave.component[1].valueSampledData
    assert float(sampled.period) == 2.0 and float(sampled.factor) == pytest.approx(0.001)
    assert len(sampled.data.split()) == 10 * int(FS)

    pdf = await client.get(f"/api/studies/{sid}/report.pdf", headers={"Authorization": f"Bearer {doctor}"})
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF"), await pdf.text()

    response = await client.get(f"/api/studies/{sid}/annotations.zip", headers={"Authorization": f"Bearer {reader}"})
    assert response.status == 200
    await api(client, "GET", f"/api/studies/{sid}/annotations.zip", doctor, status=403)
    with tempfile.TemporaryDirectory() as tmp:
        zipfile.ZipFile(io.BytesIO(await response.read())).extractall(tmp)
        names = sorted(p.name for p in Path(tmp).iterdir())
        record = names[0].split(".")[0]
        read = wfdb.rdann(str(Path(tmp) / record), "atr")
    assert f"{record}.atr" in names and read.fs == FS
    labelled = {int(s): sym for s, sym in zip(read.sample, read.symbol) if sym not in "+~\""}
    assert labelled[beats[2]["sample"]] == "V" and labelled[beats[3]["sample"] + 10] == "S"
    assert beats[3]["sample"] not in labelled and labelled[beats[0]["sample"]] == "N"
    marks = [(int(s), sym, aux) for s, sym, aux in zip(read.sample, read.symbol, read.aux_note) if sym in "+~"]
    assert marks == [(100, "~", "noise"), (900, "~", "clean"), (2000, "+", "(AFIB"), (3000, "+", "(N")]


async def test_submitting_a_streamed_recording(client: TestClient, seed: Seed, more_users: None) -> None:
    from tests.teleconsult.conftest import block, hello
    from streaming.frames import Data, End, decode_server_frame, encode

    doctor, doctor_b = await login(client, "doctor_a"), await login(client, "doctor_b")
    ws = await client.ws_connect("/ws/device")
    await ws.send_bytes(encode(hello(seed.tokens["a"], recording="rec-submit-0001")))
    assert type(decode_server_frame(await ws.receive_bytes(timeout=5))).__name__ == "Welcome"
    for seq in range(5):
        await ws.send_bytes(encode(Data(seq=seq, i0=seq * 20, n=20, d=block(seq))))
    await ws.send_bytes(encode(End(seq=5)))
    await ws.receive(timeout=5)
    await ws.close()
    await api(client, "POST", "/api/studies", doctor_b, {"recording_id": "rec-submit-0001"}, status=403)
    study = (await api(client, "POST", "/api/studies", doctor,
                       {"recording_id": "rec-submit-0001", "priority": "stat"}, status=201))["study"]
    assert study["status"] == "received" and study["priority"] == "stat" and study["source"] == "stream"
    await api(client, "POST", "/api/studies", doctor, {"recording_id": "rec-submit-0001"}, status=409)
    await api(client, "POST", "/api/studies", doctor, {"recording_id": "rec-submit-0001", "priority": "asap"},
              status=400)
    assert [s["id"] for s in (await api(client, "GET", "/api/studies", doctor))["studies"]] == [study["id"]]
    assert (await api(client, "GET", "/api/studies", doctor_b))["studies"] == []


async def test_uploads_are_checked_on_arrival(client: TestClient) -> None:
    doctor = await login(client, "doctor_a")
    form = aiohttp.FormData()
    form.add_field("file", b"not an ecg", filename="x.hea")
    response = await client.post("/api/studies/upload", data=form, headers={"Authorization": f"Bearer {doctor}"})
    assert response.status == 400


async def test_a_real_12_lead_upload_is_measured_to_prefill_the_report(client: TestClient) -> None:
    import wfdb

    from dsp.measurements import measure
    from tests.conftest import SHARED

    record = wfdb.rdrecord(str(SHARED / "data" / "cpsc2018" / "challenge2020_wfdb" / "A0005"), sampto=5000,
                           physical=False)
    files: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        wfdb.wrsamp("a0005", fs=record.fs, units=record.units, sig_name=record.sig_name, d_signal=record.d_signal,
                    fmt=record.fmt, adc_gain=record.adc_gain, baseline=record.baseline, write_dir=tmp)
        files = {name: (Path(tmp) / name).read_bytes() for name in ("a0005.hea", "a0005.dat")}
    doctor, reader = await login(client, "doctor_a"), await login(client, "reader_a")
    form = aiohttp.FormData()
    form.add_field("priority", "routine")
    for name, data in files.items():
        form.add_field("file", data, filename=name, content_type="application/octet-stream")
    response = await client.post("/api/studies/upload", data=form, headers={"Authorization": f"Bearer {doctor}"})
    assert response.status == 201, await response.text()
    sid = (await response.json())["study"]["id"]
    shown = (await api(client, "GET", f"/api/studies/{sid}", reader))["auto_measurements"]
    # what the reader sees is dsp.measurements on the stored signal, rounded
    expected = measure(record.d_signal / np.asarray(record.adc_gain), record.fs, tuple(record.sig_name))
    for key in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "axis_deg"):
        value = getattr(expected, key)
        assert value is not None and shown[key] == pytest.approx(value, abs=0.06), key
    assert 40 < shown["heart_rate_bpm"] < 150 and 60 <= shown["qrs_ms"] <= 160 and 300 <= shown["qt_ms"] <= 500


async def test_previous_ecgs_of_the_same_patient(client: TestClient, seed: Seed, more_users: None) -> None:
    """Earlier studies of the same patient: within the county (a village doctor: the own village),
    newest first, with the signed report; never another patient, another county or an empty reference."""
    db = Database(_db_path(client))
    try:
        township = db.get_org(seed.village_a).parent_id
        assert township is not None
        village_a2 = db.create_org("Village A1b", "village", township)
        db.create_user("doctor_a3", auth.hash_password(PASSWORD), "village_doctor", village_a2.id)
    finally:
        db.close()
    doctor, doctor_a3, doctor_b = [await login(client, n) for n in ("doctor_a", "doctor_a3", "doctor_b")]
    reader, reader_b, admin = [await login(client, n) for n in ("reader_a", "reader_b", "admin_a")]
    patient = "TCP-0042-SECRET"
    first = (await upload(client, doctor, patient=patient))["id"]
    other_patient = (await upload(client, doctor, patient="TCP-0043"))["id"]
    no_patient = (await upload(client, doctor))["id"]
    other_village = (await upload(client, doctor_a3, patient=patient))["id"]
    other_county = (await upload(client, doctor_b, patient=patient))["id"]
    latest = (await upload(client, doctor, patient=patient))["id"]
    no_patient_2 = (await upload(client, doctor))["id"]
    # the first is signed: its report comes along
    await api(client, "POST", f"/api/studies/{first}/claim", reader)
    await api(client, "PUT", f"/api/studies/{first}/report", reader,
              {"statements": ["SR", "NORM"], "free_text": "正常", "measurements": {"heart_rate_bpm": 75, "qt_ms": 380}})
    await api(client, "POST", f"/api/studies/{first}/report/sign", reader)

    async def previous(token: str, sid: int, status: int = 200) -> list[dict[str, Any]]:
        response = await client.get(f"/api/studies/{sid}/previous", headers={"Authorization": f"Bearer {token}"})
        text = await response.text()
        assert response.status == status, text
        assert patient not in text  # the patient reference itself never leaves the server
        return list(json.loads(text)["studies"]) if status == 200 else []

    # county readers and admins: the county's earlier studies of the patient, newest first
    for token in (reader, admin):
        rows = await previous(token, latest)
        assert [r["study"]["id"] for r in rows] == [other_village, first]
        assert rows[0]["report"] is None and rows[0]["study"]["status"] == "received"
        report = rows[1]["report"]
        assert report["status"] == "signed" and report["statements"] == ["SR", "NORM"]
        assert report["measurements"] == {"heart_rate_bpm": 75.0, "qt_ms": 380.0} and report["reader"] == "reader_a"
        assert rows[1]["recording"]["fs_hz"] == FS and rows[1]["recording"]["leads"] == ["I", "II", "V1"]
        assert rows[1]["study"]["signed_by_name"] == "reader_a"
    # the village doctor: the own village's only; another village's doctor: theirs only
    assert [r["study"]["id"] for r in await previous(doctor, latest)] == [first]
    assert [r["study"]["id"] for r in await previous(doctor_a3, other_village)] == []
    await previous(doctor_a3, latest, status=403)
    # earlier only; another patient, no patient reference, another county: never
    assert await previous(reader, first) == []
    assert await previous(reader, other_patient) == []
    assert await previous(reader, no_patient) == [] and await previous(reader, no_patient_2) == []
    await previous(reader_b, latest, status=403)
    assert await previous(reader_b, other_county) == []
    await previous(doctor_b, latest, status=403)

    db = Database(_db_path(client))
    try:
        audits = [r for r in db.audit_rows(5000) if r["action"] == "study.previous"]
        with db.engine.session() as session:
            refs = {r["patient_ref"] for r in session.rows("SELECT patient_ref FROM recordings")}
    finally:
        db.close()
    assert refs == {patient, "TCP-0043", ""}  # the uploaded file's patient id is the recording's reference
    assert (f"study:{latest}", "ok:2") in {(r["object"], r["outcome"]) for r in audits}
    assert (f"study:{latest}", "forbidden") in {(r["object"], r["outcome"]) for r in audits}
    assert not any(patient in str(dict(r)) for r in audits)


async def test_claimant_names_and_the_county_readers_list(client: TestClient, more_users: None) -> None:
    doctor, reader, admin = [await login(client, n) for n in ("doctor_a", "reader_a", "admin_a")]
    sid = (await upload(client, doctor))["id"]
    study = (await api(client, "GET", f"/api/studies/{sid}", reader))["study"]
    assert study["claimed_by"] is None and study["claimed_by_name"] is None
    claimed = (await api(client, "POST", f"/api/studies/{sid}/claim", reader))["study"]
    assert claimed["claimed_by_name"] == "reader_a"
    work = (await api(client, "GET", "/api/worklist", admin))["studies"]
    assert [(s["id"], s["claimed_by_name"]) for s in work] == [(sid, "reader_a")]
    readers = (await api(client, "GET", "/api/readers", admin))["readers"]
    assert [r["name"] for r in readers] == ["reader_a", "reader_a2"]  # county A's readers only
    await api(client, "GET", "/api/readers", reader, status=403)
    await api(client, "GET", "/api/readers", doctor, status=403)
    target = next(r["id"] for r in readers if r["name"] == "reader_a2")
    assigned = (await api(client, "POST", f"/api/studies/{sid}/assign", admin, {"reader_id": target}))["study"]
    assert assigned["claimed_by"] == target and assigned["claimed_by_name"] == "reader_a2"


def test_an_uploaded_files_patient_id_becomes_the_patient_reference() -> None:
    from teleconsult import ecgfiles
    from teleconsult.services.uploads import decode_upload, patient_ref
    from tests.conftest import SHARED

    path = SHARED / "data" / "ecg-files" / "dicom" / "cardio_sample_12lead.dcm"
    if not path.exists():
        pytest.skip(f"{path} is missing")
    data = path.read_bytes()
    ecg = decode_upload({path.name: data})
    assert ecg.patient_ref and ecg.patient_ref == ecgfiles.read_ecg(data, path.name).patient.get("PatientID")
    from_comment = decode_upload(wfdb_upload(patient=" PAT-7  X "))
    assert from_comment.patient_ref == "PAT-7 X" and "PAT-7" not in repr(from_comment)
    assert decode_upload(wfdb_upload()).patient_ref == ""
    assert patient_ref({"subject_id": "S1", "name": "x"}) == "S1" and patient_ref({"Patient-ID": ""}) == ""
