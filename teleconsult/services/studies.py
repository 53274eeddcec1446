"""Reading and reporting: studies, the worklist and its lock, annotations, reports, delivery,
escalation and turnaround. Application logic only: no aiohttp, no SQL (that is
:class:`~teleconsult.storage.studies.StudyStore`), decisions in :mod:`teleconsult.reading`.

Every method takes the acting user, checks :mod:`teleconsult.auth`'s rules, audits the
access (``study.*``, ``report.*`` actions; never patient data) and raises a
:class:`~teleconsult.reading.errors.ReadingError` the HTTP adapter turns into a status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import secrets
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from teleconsult import auth
from teleconsult.reading import annotations as ann
from teleconsult.reading import fhir, findings, lifecycle, tat
from teleconsult.reading.catalogue import catalogue, unknown_codes
from teleconsult.reading.errors import BadRequest, ConflictError, Forbidden, NotFoundError, NotImplementedYet
from teleconsult.reading.model import AnnotationEntry, ReportVersion, Study
from teleconsult.reading.wfdb_annotations import write_annotations
from teleconsult.services.notices import Notices, county_channel, org_channel
from teleconsult.services.observations import Observations
from teleconsult.services.uploads import DecodedEcg, store
from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import AsyncDatabase, Conflict, Recording, User
from teleconsult.storage.studies import LockLost, StudyStore

log = logging.getLogger(__name__)
MAX_TEXT_CHARS = 4000
FHIR_WAVEFORM_S = 10.0


def actor(user: User) -> str:
    return f"user:{user.id}"


# Report turnaround (received -> signed): the county's target is 3 minutes for STAT, routine
# reports come back within hours. The target itself is always a bucket bound (see ReportStats).
TAT_BUCKETS_S = (30.0, 60.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
                 86400.0)
# Signed -> delivered: about a second when the village page is open; minutes to hours when it is not.
DELIVERY_BUCKETS_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)


@dataclass
class ReportStats:
    """Plain counters of this node's studies and reports, read by the metrics endpoint at scrape
    time. Keys are priorities (``stat``/``urgent``/``routine``: the study's effective priority
    when it happened) and, for arrivals, ``(source, priority)``; never anything of the patient."""

    tat_buckets_s: tuple[float, ...] = TAT_BUCKETS_S
    received: Counter[tuple[str, str]] = field(default_factory=Counter)
    signed: Counter[str] = field(default_factory=Counter)
    amended: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)  # delivery receipts, first per report version
    acknowledged: Counter[str] = field(default_factory=Counter)  # first acknowledgement per report version
    escalated: int = 0
    tat_s: dict[str, Observations] = field(default_factory=dict)  # received -> first signed, per study
    delivery_s: dict[str, Observations] = field(default_factory=dict)  # first signed -> first delivered

    def __post_init__(self) -> None:
        for p in findings.Priority:
            self.tat_s[p.value] = Observations(self.tat_buckets_s)
            self.delivery_s[p.value] = Observations(DELIVERY_BUCKETS_S)

    def observe_tat(self, study: Study) -> None:
        """At the first signature (the TAT of :mod:`teleconsult.reading.tat`: received -> signed)."""
        if study.signed_at is not None:
            self.tat_s.setdefault(study.priority, Observations(self.tat_buckets_s)).observe(
                study.signed_at - study.received_at)

    def observe_delivery(self, study: Study, delivered_at: float) -> None:
        """At the study's first delivery (a receipt, or an acknowledgement without one)."""
        if study.signed_at is not None:
            self.delivery_s.setdefault(study.priority, Observations(DELIVERY_BUCKETS_S)).observe(
                delivered_at - study.signed_at)


MEASURE_WINDOW_S = 10.0  # a resting ECG's strip: the intervals are measured on the last 10 s
MEASURED = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms", "axis_deg",
            "rr_sd_ms")


def auto_measurements(beats: np.ndarray, fs_hz: float, signal_mv: np.ndarray | None = None,
                      leads: tuple[str, ...] = ()) -> dict[str, float]:
    """What pre-fills a report: the longest RR from the live detector's beats, and heart rate,
    PR, QRS, QT, QTc and axis from ``dsp.measurements`` on the last 10 s of the signal
    (blocking: call it on a worker thread)."""
    out: dict[str, float] = {}
    if len(beats) >= 3:
        rr_s = np.diff(np.asarray(beats, dtype=np.int64)) / fs_hz
        out = {"heart_rate_bpm": round(60.0 / float(np.median(rr_s)), 1), "rr_max_s": round(float(rr_s.max()), 3)}
    if signal_mv is not None and len(signal_mv) >= int(2.5 * fs_hz):
        from dsp.measurements import measure

        strip = signal_mv[-int(MEASURE_WINDOW_S * fs_hz):]
        measured = measure(strip, fs_hz, leads)
        for key in MEASURED:
            value = getattr(measured, key)
            if value is not None and np.isfinite(value):
                out[key] = round(float(value), 1)
    return out


def _measurements(raw: object) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or len(raw) > 50:
        raise BadRequest("measurements must be an object of numbers")
    out: dict[str, float] = {}
    for key, value in raw.items():
        if not isinstance(key, str) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest("measurements must be an object of numbers")
        if not np.isfinite(value):
            raise BadRequest("measurements must be finite")
        out[key] = float(value)
    return out


def _statements(raw: object) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw) or len(raw) > 50:
        raise BadRequest("statements must be a list of codes")
    codes = list(dict.fromkeys(raw))
    bad = unknown_codes(codes)
    if bad:
        raise BadRequest(f"unknown statement codes: {', '.join(bad[:5])}")
    return codes


def _text(raw: object, what: str, required: bool = False) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str) or len(raw) > MAX_TEXT_CHARS:
        raise BadRequest(f"{what} must be text of at most {MAX_TEXT_CHARS} characters")
    if required and not raw.strip():
        raise BadRequest(f"{what} is required")
    return raw


class StudyService:
    def __init__(self, db: AsyncDatabase, store: StudyStore, archive: FileArchive, notices: Notices, *,
                 claim_ttl_s: float = 300.0, escalate_after_s: float = 600.0, escalation_check_s: float = 5.0,
                 target_s: float = 180.0, timezone: str = "Asia/Shanghai",
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.store = store
        self.archive = archive
        self.notices = notices
        self.claim_ttl_s = claim_ttl_s
        self.escalate_after_s = escalate_after_s
        self.escalation_check_s = escalation_check_s
        self.target_s = target_s
        self.timezone = ZoneInfo(timezone)
        self.clock = clock
        self._escalator: asyncio.Task[None] | None = None
        self.stats = ReportStats(tat_buckets_s=tuple(sorted({*TAT_BUCKETS_S, float(target_s)})))

    async def start(self) -> None:
        self._escalator = asyncio.create_task(self._escalation_loop(), name="escalations")

    async def close(self) -> None:
        if self._escalator is not None:
            self._escalator.cancel()
            try:
                await self._escalator
            except asyncio.CancelledError:
                pass

    # -- helpers ---------------------------------------------------------------------------

    async def _audit(self, user: User | str, action: str, obj: str, outcome: str, remote: str) -> None:
        who = user if isinstance(user, str) else actor(user)
        await self.db.call(self.db.db.audit, who, action, obj, outcome, remote)

    async def _study(self, user: User, study_id: int, action: str, remote: str) -> Study:
        """The study if ``user`` may see it (a refusal is audited)."""
        study = await self.db.call(self.store.get_study, study_id)
        if study is None:
            raise NotFoundError("no such study")
        if not auth.may_see_study(user, study):
            await self._audit(user, action, f"study:{study_id}", "forbidden", remote)
            raise Forbidden("study of another organisation")
        return study

    async def _reader_study(self, user: User, study_id: int, action: str, remote: str) -> Study:
        study = await self._study(user, study_id, action, remote)
        if not auth.may_read_study(user, study):
            await self._audit(user, action, f"study:{study_id}", "forbidden", remote)
            raise Forbidden("only county readers of this county may do this")
        return study

    async def _recording(self, study: Study) -> Recording:
        recording = await self.db.call(self.db.db.get_recording, study.recording_id)
        if recording is None:
            raise NotFoundError("the study's recording is gone")
        return recording

    async def public(self, studies: list[Study]) -> list[dict[str, Any]]:
        """Studies in their JSON form, with the names of the readers holding or having signed them."""
        now = self.clock()
        ids = sorted({i for st in studies for i in (st.lock_holder(now), st.signed_by) if i is not None})
        names = await self.db.call(self.store.user_names, ids) if ids else {}
        return [st.public(now, self.target_s, names) for st in studies]

    async def public_one(self, study: Study) -> dict[str, Any]:
        return (await self.public([study]))[0]

    def _worklist_changed(self, study: Study, event: str) -> None:
        self.notices.publish(county_channel(study.county_id), {"t": "worklist", "study": study.id, "event": event,
                                                               "priority": study.priority})

    async def _new_study(self, user: User, recording: Recording, source: str, priority: findings.Priority,
                         note: str, flags: list[str], beats: np.ndarray, remote: str) -> Study:
        auto = findings.findings_from_beats(beats, recording.fs_hz)
        effective = findings.effective_priority(priority, auto)
        try:
            study = await self.db.call(self.store.create_study, recording.id, recording.org_id, recording.county_id,
                                       source, user.id, priority.value, effective.value, note, flags, auto,
                                       self.clock())
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
        await self._audit(user, "study.create", f"study:{study.id}", "ok", remote)
        self.stats.received[(source, study.priority)] += 1
        self._worklist_changed(study, "received")
        return study

    # -- arrival ---------------------------------------------------------------------------

    async def submit(self, user: User, recording_id: str, priority: str, note: str, remote: str) -> Study:
        """A village doctor sends a streamed recording (live or ended) for reading."""
        try:
            wanted = findings.Priority.parse(priority)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        note = _text(note, "note")
        recording = await self.db.call(self.db.db.get_recording, recording_id)
        if recording is None:
            raise NotFoundError("no such recording")
        if not auth.may_request_reading(user, recording.org_id):
            await self._audit(user, "study.create", recording_id, "forbidden", remote)
            raise Forbidden("only the recording organisation's village doctors may send it for reading")
        beats = await asyncio.to_thread(self.archive.read_beats, recording.id)
        return await self._new_study(user, recording, "stream", wanted, note, [], beats, remote)

    async def submit_upload(self, user: User, ecg: DecodedEcg, priority: str, note: str, remote: str) -> Study:
        """A village doctor uploads an ECG file (decoded and checked by the caller)."""
        try:
            wanted = findings.Priority.parse(priority)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        note = _text(note, "note")
        if not auth.may_request_reading(user, user.org_id):
            await self._audit(user, "study.upload", "", "forbidden", remote)
            raise Forbidden("only village doctors upload ECGs for reading")
        org = await self.db.call(self.db.db.get_org, user.org_id)
        now = self.clock()
        device_id = await self.db.call(self.store.upload_device, org.id, "upload-" + secrets.token_hex(32), now)
        recording_id = "up-" + secrets.token_hex(8)
        n = int(ecg.samples.shape[0])
        recording = Recording(recording_id, org.id, org.county_id, device_id, ecg.patient_ref, ecg.fs_hz, ecg.leads,
                              ecg.gain, ecg.sample_type, min(n, 500), "ended", False, "", now, now, n)
        beats = await asyncio.to_thread(store, self.archive, recording_id, ecg)
        await self.db.call(self.db.db.create_recording, recording)
        await self.db.call(self.db.db.end_recording, recording_id, n)
        return await self._new_study(user, recording, "upload", wanted, note, list(ecg.flags), beats, remote)

    # -- lists -----------------------------------------------------------------------------

    async def list_studies(self, user: User, remote: str) -> list[Study]:
        if user.role in ("county_reader", "admin"):
            rows = await self.db.call(self.store.studies_for_county, user.county_id)
        else:
            rows = await self.db.call(self.store.studies_for_org, user.org_id)
        await self._audit(user, "study.list", "", "ok", remote)
        return rows

    async def worklist(self, user: User, remote: str) -> list[Study]:
        if user.role not in ("county_reader", "admin"):
            await self._audit(user, "worklist", "", "forbidden", remote)
            raise Forbidden("the worklist is for county readers")
        rows = await self.db.call(self.store.worklist, user.county_id)
        await self._audit(user, "worklist", f"county:{user.county_id}", "ok", remote)
        return rows

    async def detail(self, user: User, study_id: int, remote: str) -> dict[str, Any]:
        study = await self._study(user, study_id, "study.view", remote)
        recording = await self._recording(study)
        measurements = await asyncio.to_thread(self._measure, recording)
        versions = await self._versions_for(user, study)
        await self._audit(user, "study.view", f"study:{study.id}", "ok", remote)
        return {"study": await self.public_one(study), "recording": recording.summary(),
                "auto_measurements": measurements,
                "report": versions[-1].public() if versions else None,
                "versions": [v.public() for v in versions]}

    def _measure(self, recording: Recording) -> dict[str, float]:
        beats = self.archive.read_beats(recording.id)
        samples = self.archive.read_samples(recording.id, len(recording.leads), recording.sample_type)
        signal_mv = samples[-int(MEASURE_WINDOW_S * recording.fs_hz):].astype(np.float64) / recording.gain
        try:
            return auto_measurements(beats, recording.fs_hz, signal_mv, recording.leads)
        except ValueError:  # a signal the measurements cannot take (e.g. too short): beats only
            return auto_measurements(beats, recording.fs_hz)

    async def _versions_for(self, user: User, study: Study) -> list[ReportVersion]:
        versions = await self.db.call(self.store.versions, study.id)
        if not auth.may_see_drafts(user, study):
            versions = [v for v in versions if v.status == "signed"]
        return versions

    async def previous(self, user: User, study_id: int, remote: str) -> dict[str, Any]:
        """The same patient's earlier studies that ``user`` may see, newest first, for a side-by-side
        comparison: each with its recording's summary and its newest signed report (or null).

        Same patient = the same non-empty ``patient_ref`` of the recordings, within the study's county
        (village doctors: their organisation's studies only). The patient reference is not returned.

        Raises:
            NotFoundError, Forbidden: as for viewing the study.
        """
        study = await self._study(user, study_id, "study.previous", remote)
        org_only = None if user.role in ("county_reader", "admin") else user.org_id
        rows = await self.db.call(self.store.previous_for_patient, study.id, org_only)
        rows = [(st, v) for st, v in rows if auth.may_see_study(user, st)]
        studies = await self.public([st for st, _ in rows])
        authors = await self.db.call(self.store.user_names, sorted({v.author_id for _, v in rows if v is not None}))
        out = []
        for (st, version), public in zip(rows, studies, strict=True):
            recording = await self.db.call(self.db.db.get_recording, st.recording_id)
            out.append({"study": public, "recording": recording.summary() if recording else None,
                        "report": None if version is None else {**version.public(),
                                                                "reader": authors.get(version.author_id, "")}})
        await self._audit(user, "study.previous", f"study:{study.id}", f"ok:{len(out)}", remote)
        return {"studies": out}

    async def county_readers(self, user: User, remote: str) -> list[dict[str, Any]]:
        """The county readers of an admin's county (whom a study can be assigned to)."""
        if user.role != "admin":
            await self._audit(user, "readers.list", "", "forbidden", remote)
            raise Forbidden("the list of readers is for county admins")
        rows = await self.db.call(self.store.county_readers, user.county_id)
        await self._audit(user, "readers.list", f"county:{user.county_id}", "ok", remote)
        return [{"id": uid, "name": name} for uid, name in rows]

    async def set_priority(self, user: User, study_id: int, priority: str, remote: str) -> Study:
        study = await self._study(user, study_id, "study.priority", remote)
        if not (auth.may_request_reading(user, study.org_id) or auth.may_read_study(user, study)):
            await self._audit(user, "study.priority", f"study:{study_id}", "forbidden", remote)
            raise Forbidden("only the sending village or the county's readers may change the priority")
        try:
            wanted = findings.Priority.parse(priority)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        effective = findings.effective_priority(wanted, study.auto_findings)
        updated = await self.db.call(self.store.set_priority, study.id, wanted.value, effective.value)
        if updated is None:
            raise ConflictError("the study is signed")
        await self._audit(user, "study.priority", f"study:{study_id}", "ok", remote)
        self._worklist_changed(updated, "priority")
        return updated

    # -- the reading lock ----------------------------------------------------------------------

    async def claim(self, user: User, study_id: int, remote: str) -> Study:
        """Take or renew the lock; ConflictError when another reader holds it."""
        study = await self._reader_study(user, study_id, "study.claim", remote)
        claimed = await self.db.call(self.store.claim, study.id, user.id, user.county_id, self.clock(),
                                     self.claim_ttl_s)
        if claimed is None:
            await self._audit(user, "study.claim", f"study:{study_id}", "conflict", remote)
            current = await self.db.call(self.store.get_study, study_id)
            holder = current.lock_holder(self.clock()) if current else None
            raise ConflictError("signed already" if current and current.status == "signed"
                                else f"claimed by reader {holder}")
        await self._audit(user, "study.claim", f"study:{study_id}", "ok", remote)
        if study.lock_holder(self.clock()) != user.id:
            self._worklist_changed(claimed, "claimed")
        return claimed

    async def release(self, user: User, study_id: int, remote: str) -> Study:
        study = await self._study(user, study_id, "study.release", remote)
        if auth.may_manage_claims(user, study):
            holder: int | None = None
        elif auth.may_read_study(user, study):
            holder = user.id
        else:
            await self._audit(user, "study.release", f"study:{study_id}", "forbidden", remote)
            raise Forbidden("only the reader holding the study or a county admin may release it")
        released = await self.db.call(self.store.release, study.id, holder)
        if released is None:
            raise ConflictError("the study is not claimed by you")
        await self._audit(user, "study.release", f"study:{study_id}", "ok", remote)
        self._worklist_changed(released, "released")
        return released

    async def assign(self, user: User, study_id: int, reader_id: int, remote: str) -> Study:
        study = await self._study(user, study_id, "study.assign", remote)
        if not auth.may_manage_claims(user, study):
            await self._audit(user, "study.assign", f"study:{study_id}", "forbidden", remote)
            raise Forbidden("only an admin of the study's county may reassign it")
        target = await self.db.call(self.store.county_user, reader_id)
        if target is None or target != ("county_reader", study.county_id):
            raise BadRequest("reader_id must be a county reader of the study's county")
        assigned = await self.db.call(self.store.assign, study.id, reader_id, self.clock(), self.claim_ttl_s)
        if assigned is None:
            raise ConflictError("the study is signed")
        await self._audit(user, "study.assign", f"study:{study_id}", f"ok:user:{reader_id}", remote)
        self._worklist_changed(assigned, "assigned")
        return assigned

    # -- annotations ---------------------------------------------------------------------------

    async def annotations(self, user: User, study_id: int, remote: str) -> dict[str, Any]:
        study = await self._study(user, study_id, "annotations.view", remote)
        recording = await self._recording(study)
        beats = await asyncio.to_thread(self.archive.read_beats, recording.id)
        log_ = await self.db.call(self.store.annotation_log, study.id)
        await self._audit(user, "annotations.view", f"study:{study_id}", "ok", remote)
        return {**ann.fold(beats, log_).public(), "log": [e.public() for e in log_], "fs_hz": recording.fs_hz}

    async def annotate(self, user: User, study_id: int, body: dict[str, Any], remote: str) -> dict[str, Any]:
        study = await self._reader_study(user, study_id, "annotations.edit", remote)
        if study.lock_holder(self.clock()) != user.id:
            await self._audit(user, "annotations.edit", f"study:{study_id}", "not-claimed", remote)
            raise ConflictError("claim the study before annotating it")
        recording = await self._recording(study)
        beats = await asyncio.to_thread(self.archive.read_beats, recording.id)
        log_ = await self.db.call(self.store.annotation_log, study.id)

        def as_int(key: str) -> int | None:
            value = body.get(key)
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadRequest(f"{key} must be an integer")
            return value

        op = body.get("op")
        if not isinstance(op, str):
            raise BadRequest("op is required")
        target = as_int("target")
        if op == "undo" and target is None:
            target = ann.last_undoable(log_, user.id)
            if target is None:
                raise ConflictError("nothing to undo")
        label, text = body.get("label", ""), body.get("body", "")
        if not isinstance(label, str) or not isinstance(text, str):
            raise BadRequest("label and body must be text")
        entry = AnnotationEntry(0, study.id, user.id, self.clock(), op, as_int("sample"), as_int("end_sample"),
                                label, text, target)
        ann.check(beats, log_, entry, recording.n_samples)
        try:
            await self.db.call(self.store.append_annotation, entry, log_[-1].id if log_ else None, self.clock(),
                               self.claim_ttl_s)
        except LockLost:
            raise ConflictError("your claim on this study expired") from None
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
        await self._audit(user, f"annotations.{op}", f"study:{study_id}", "ok", remote)
        return await self.annotations(user, study_id, remote)

    # -- reports ---------------------------------------------------------------------------

    async def _party(self, user: User, study: Study) -> lifecycle.Party:
        if not auth.may_read_study(user, study):
            return lifecycle.Party.OTHER
        if study.lock_holder(self.clock()) == user.id:
            return lifecycle.Party.CLAIMANT
        return lifecycle.Party.COUNTY_READER

    async def _decide(self, user: User, study: Study, action: lifecycle.Action, remote: str) -> None:
        latest = await self.db.call(self.store.get_version, study.id, study.report_version)
        state = lifecycle.report_state(study.report_version, latest.status if latest else None)
        try:
            lifecycle.transition(state, action, await self._party(user, study))
        except (Forbidden, ConflictError) as exc:
            outcome = "forbidden" if isinstance(exc, Forbidden) else "conflict"
            await self._audit(user, f"report.{action.value}", f"study:{study.id}", outcome, remote)
            raise

    async def report(self, user: User, study_id: int, remote: str) -> dict[str, Any]:
        study = await self._study(user, study_id, "report.view", remote)
        versions = await self._versions_for(user, study)
        await self._audit(user, "report.view", f"study:{study_id}", "ok", remote)
        return {"study": await self.public_one(study),
                "current": versions[-1].public() if versions else None, "versions": [v.public() for v in versions]}

    async def save_draft(self, user: User, study_id: int, body: dict[str, Any], remote: str) -> ReportVersion:
        study = await self._study(user, study_id, "report.save_draft", remote)
        await self._decide(user, study, lifecycle.Action.SAVE_DRAFT, remote)
        statements = _statements(body.get("statements"))
        measurements = _measurements(body.get("measurements"))
        text = _text(body.get("free_text"), "free_text")
        found = findings.findings_from_report(statements, measurements)
        try:
            version = await self.db.call(self.store.save_draft, study.id, user.id, statements, text, measurements,
                                         found, self.clock(), self.claim_ttl_s)
        except LockLost:
            raise ConflictError("your claim on this study expired") from None
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
        await self._audit(user, "report.save_draft", f"study:{study_id}", "ok", remote)
        if found and study.priority != findings.Priority.STAT.value:
            await self.db.call(self.store.set_priority, study.id, study.requested_priority,
                               findings.Priority.STAT.value)
        return version

    async def sign(self, user: User, study_id: int, remote: str) -> ReportVersion:
        study = await self._study(user, study_id, "report.sign", remote)
        await self._decide(user, study, lifecycle.Action.SIGN, remote)
        try:
            signed_study, version = await self.db.call(self.store.sign, study.id, user.id, self.clock(),
                                                       self.claim_ttl_s)
        except LockLost:
            raise ConflictError("your claim on this study expired") from None
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
        await self._audit(user, "report.sign", f"study:{study_id}", "ok", remote)
        self.stats.signed[signed_study.priority] += 1
        self.stats.observe_tat(signed_study)
        self._delivered_notice(signed_study, version)
        return version

    async def amend(self, user: User, study_id: int, body: dict[str, Any], remote: str) -> ReportVersion:
        study = await self._study(user, study_id, "report.amend", remote)
        await self._decide(user, study, lifecycle.Action.AMEND, remote)
        reason = _text(body.get("reason"), "reason", required=True)
        based_on = body.get("based_on", study.report_version)
        if not isinstance(based_on, int) or isinstance(based_on, bool):
            raise BadRequest("based_on must be the version number the amendment replaces")
        previous = await self.db.call(self.store.get_version, study.id, study.report_version)
        assert previous is not None
        statements = (_statements(body["statements"]) if "statements" in body else list(previous.statements))
        measurements = (_measurements(body["measurements"]) if "measurements" in body
                        else dict(previous.measurements))
        text = _text(body["free_text"], "free_text") if "free_text" in body else previous.free_text
        found = findings.findings_from_report(statements, measurements)
        try:
            amended, version = await self.db.call(self.store.amend, study.id, user.id, based_on, statements, text,
                                                  measurements, found, reason, self.clock())
        except Conflict as exc:
            raise ConflictError(str(exc)) from None
        await self._audit(user, "report.amend", f"study:{study_id}", f"ok:v{version.version}", remote)
        self.stats.amended[amended.priority] += 1
        self._delivered_notice(amended, version)
        return version

    def _delivered_notice(self, study: Study, version: ReportVersion) -> None:
        notice = {"t": "report", "study": study.id, "version": version.version, "critical": bool(version.findings)}
        self.notices.publish(org_channel(study.org_id), notice)
        self._worklist_changed(study, "signed")

    # -- delivery ------------------------------------------------------------------------------

    async def report_message(self, user: User, study_id: int, version: int) -> dict[str, Any] | None:
        """What the notify socket pushes to ``user`` for a signed version (None: not theirs, or gone)."""
        study = await self.db.call(self.store.get_study, study_id)
        if study is None or not auth.may_see_study(user, study):
            return None
        report = await self.db.call(self.store.get_version, study_id, version)
        if report is None or report.status != "signed":
            return None
        known = catalogue()
        names = await self.db.call(self.store.user_names, [report.author_id])
        await self._audit(user, "report.push", f"study:{study_id}", f"ok:v{version}", "")
        return {"t": "report", "study": await self.public_one(study), "report": report.public(),
                "statements": [known[c].public() for c in report.statements if c in known],
                "reader": names.get(report.author_id, ""), "must_acknowledge": bool(report.findings)}

    async def pending_messages(self, user: User) -> list[dict[str, Any]]:
        """Reports a village doctor's socket gets on (re)connecting: signed and not yet acknowledged."""
        if user.role != "village_doctor":
            return []
        out = []
        for study in await self.db.call(self.store.pending_reports_for_org, user.org_id):
            message = await self.report_message(user, study.id, study.report_version)
            if message is not None:
                out.append(message)
        return out

    async def _deliverable(self, user: User, study_id: int, version: object, action: str,
                           remote: str) -> tuple[Study, int]:
        study = await self._study(user, study_id, action, remote)
        if not auth.may_acknowledge(user, study):
            await self._audit(user, action, f"study:{study_id}", "forbidden", remote)
            raise Forbidden("only the sending village's doctors confirm reports")
        if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= study.report_version:
            raise BadRequest("version must be a report version of this study")
        return study, version

    async def receipt(self, user: User, study_id: int, version: object, remote: str) -> bool:
        """The doctor's browser has the report (delivery receipt); True the first time."""
        study, v = await self._deliverable(user, study_id, version, "report.receipt", remote)
        now = self.clock()
        first = await self.db.call(self.store.mark_delivered, study.id, v, now)
        await self._audit(user, "report.receipt", f"study:{study_id}", f"ok:v{v}", remote)
        if first:
            self.stats.delivered[study.priority] += 1
            if study.delivered_at is None:
                self.stats.observe_delivery(study, now)
        return first

    async def acknowledge(self, user: User, study_id: int, version: object, remote: str) -> bool:
        """The doctor has read the report (and its critical findings); True the first time."""
        study, v = await self._deliverable(user, study_id, version, "report.acknowledge", remote)
        now = self.clock()
        first = await self.db.call(self.store.acknowledge, study.id, v, user.id, now)
        await self._audit(user, "report.acknowledge", f"study:{study_id}", f"ok:v{v}", remote)
        if first:
            self.stats.acknowledged[study.priority] += 1
            if study.delivered_at is None:  # acknowledged without a receipt: delivered now
                self.stats.observe_delivery(study, now)
            self.notices.publish(county_channel(study.county_id),
                                 {"t": "acknowledged", "study": study.id, "version": v})
        return first

    # -- escalation ------------------------------------------------------------------------------

    async def escalate_due(self) -> list[int]:
        """One pass: escalate every critical report unacknowledged for ``escalate_after_s`` (once,
        whichever node gets there first); returns the studies this node escalated."""
        now = self.clock()
        done = []
        for study in await self.db.call(self.store.escalation_candidates, now - self.escalate_after_s):
            if await self.db.call(self.store.mark_escalated, study.id, now):
                self.stats.escalated += 1
                self.notices.publish(county_channel(study.county_id), {
                    "t": "escalation", "study": study.id, "version": study.report_version, "org_id": study.org_id,
                    "signed_at": study.signed_at, "reason": "critical finding not acknowledged"})
                await self._audit("system", "report.escalate", f"study:{study.id}", "ok", "")
                done.append(study.id)
        return done

    async def _escalation_loop(self) -> None:
        while True:
            await asyncio.sleep(self.escalation_check_s)
            try:
                await self.escalate_due()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("escalation pass failed; trying again")

    # -- exports -------------------------------------------------------------------------------

    async def _signed(self, user: User, study_id: int, version: int | None, action: str,
                      remote: str) -> tuple[Study, ReportVersion]:
        study = await self._study(user, study_id, action, remote)
        v = study.report_version if version is None else version
        report = await self.db.call(self.store.get_version, study.id, v)
        if report is None or report.status != "signed":
            raise NotFoundError("no signed report of that version")
        return study, report

    async def fhir_bundle(self, user: User, study_id: int, version: int | None, remote: str) -> dict[str, Any]:
        study, report = await self._signed(user, study_id, version, "export.fhir", remote)
        recording = await self._recording(study)
        n = int(FHIR_WAVEFORM_S * recording.fs_hz)
        samples = await asyncio.to_thread(self.archive.read_samples, recording.id, len(recording.leads),
                                          recording.sample_type)
        names = await self.db.call(self.store.user_names, [report.author_id])
        await self._audit(user, "export.fhir", f"study:{study_id}", f"ok:v{report.version}", remote)
        return fhir.bundle(study, report, recording_started_at=recording.started_at,
                           patient_ref=recording.patient_ref, reader_name=names.get(report.author_id, ""),
                           samples=samples[:n], fs_hz=recording.fs_hz, gain=recording.gain, leads=recording.leads)

    async def report_pdf(self, user: User, study_id: int, version: int | None, remote: str) -> bytes:
        """The printable report of a signed version (``teleconsult.reporting.pdf``)."""
        try:
            from teleconsult.reporting.pdf import render_report_pdf
        except ModuleNotFoundError:
            raise NotImplementedYet("the PDF report is not available on this server") from None
        study, report = await self._signed(user, study_id, version, "export.pdf", remote)
        recording = await self._recording(study)
        n = int(FHIR_WAVEFORM_S * recording.fs_hz)
        samples = await asyncio.to_thread(self.archive.read_samples, recording.id, len(recording.leads),
                                          recording.sample_type)
        beats = await asyncio.to_thread(self.archive.read_beats, recording.id)
        names = await self.db.call(self.store.user_names, [report.author_id])
        orgs = await self.db.call(self.db.db.org_names)
        known = catalogue()

        def when(ts: float | None) -> str:
            return "" if ts is None else dt.datetime.fromtimestamp(ts, self.timezone).strftime("%Y-%m-%d %H:%M:%S")

        header = {"patient_id": recording.patient_ref, "village_clinic": orgs.get(study.org_id, ""),
                  "county_hospital": orgs.get(study.county_id, ""), "received_at": when(study.received_at),
                  "signed_at": when(report.signed_at), "reader": names.get(report.author_id, ""),
                  "report_id": str(study.id), "version": str(report.version),
                  "amendment_reason": report.amend_reason}
        statements = [(c, known[c].zh, known[c].en) for c in report.statements if c in known]
        data = await asyncio.to_thread(
            render_report_pdf, samples[:n].astype(np.float64) / recording.gain, recording.fs_hz, recording.leads,
            statements=statements, measurements=dict(report.measurements), header=header,
            critical=[str(f["code"]) for f in report.findings], beats=[int(b) for b in beats if b < n])
        await self._audit(user, "export.pdf", f"study:{study_id}", f"ok:v{report.version}", remote)
        return data

    async def wfdb_annotations_zip(self, user: User, study_id: int, remote: str) -> tuple[str, bytes]:
        study = await self._study(user, study_id, "export.annotations", remote)
        recording = await self._recording(study)
        beats = await asyncio.to_thread(self.archive.read_beats, recording.id)
        folded = ann.fold(beats, await self.db.call(self.store.annotation_log, study.id))

        def build() -> bytes:
            from teleconsult.export_wfdb import write_wfdb

            with tempfile.TemporaryDirectory(prefix="tc-ann-") as tmp:
                paths = write_wfdb(self.archive, recording, Path(tmp))
                written = write_annotations(folded, recording.id, recording.fs_hz, Path(tmp))
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                    for path in [*paths, *([written] if written else [])]:
                        zf.write(path, arcname=path.name)
                return buffer.getvalue()

        data = await asyncio.to_thread(build)
        await self._audit(user, "export.annotations", f"study:{study_id}", "ok", remote)
        return recording.id, data

    # -- turnaround ------------------------------------------------------------------------------

    async def turnaround(self, user: User, since: float, until: float, remote: str) -> dict[str, Any]:
        if user.role not in ("county_reader", "admin"):
            await self._audit(user, "tat.view", "", "forbidden", remote)
            raise Forbidden("turnaround figures are for the county")
        rows = await self.db.call(self.store.tat_rows, user.county_id, since, until)
        await self._audit(user, "tat.view", f"county:{user.county_id}", "ok", remote)
        out = tat.summary(rows, self.target_s, self.clock(), self.timezone)
        names = await self.db.call(self.store.user_names, sorted({r.reader_id for r in rows if r.reader_id}))
        for group in out["by_reader"]:
            group["reader"] = names.get(group["reader_id"], "") if group["reader_id"] is not None else ""
        return {"since": since, "until": until, **out}


__all__ = ["DELIVERY_BUCKETS_S", "ReportStats", "StudyService", "TAT_BUCKETS_S",
           "auto_measurements"]
