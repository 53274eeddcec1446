"""All SQL of reading and reporting: studies, the reading lock, report versions, the
annotation log, deliveries and turnaround rows. Same engines and rules as
:mod:`teleconsult.storage.sql` (one SQL text with ``?`` placeholders for both engines).

Atomicity without engine branches: the reading lock is taken by one conditional
``UPDATE … WHERE <free or expired or mine> RETURNING``; on PostgreSQL the second of two
concurrent claims waits for the first's row lock, re-checks the condition and updates
nothing; on SQLite writes are serialised. Writes that need the lock (drafts, annotations,
signing) run in one transaction that first renews the lock with the same kind of guarded
update, so a lock that expired and was taken over meanwhile makes them fail as a whole.
"""

from __future__ import annotations

import json
from typing import Any

from teleconsult.reading.model import AnnotationEntry, ReportVersion, Study
from teleconsult.reading.tat import StudyTimes
from teleconsult.storage.dialects import Engine, Row, Session, UniqueViolation
from teleconsult.storage.sql import Conflict

_PRIORITY_ORDER = "CASE priority WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END"
UPLOAD_DEVICE_NAME = "file upload (not a device)"


class LockLost(Exception):
    """The caller does not hold the study's reading lock (any more)."""


def _study(row: Row) -> Study:
    return Study(
        id=int(row["id"]), recording_id=row["recording_id"], org_id=int(row["org_id"]),
        county_id=int(row["county_id"]), source=row["source"], requested_by=int(row["requested_by"]),
        requested_priority=row["requested_priority"], priority=row["priority"], note=row["note"],
        flags=tuple(json.loads(row["flags"])), auto_findings=tuple(json.loads(row["auto_findings"])),
        status=row["status"], received_at=row["received_at"], claimed_by=row["claimed_by"],
        lock_expires_at=row["lock_expires_at"], first_claimed_at=row["first_claimed_at"],
        first_claimed_by=row["first_claimed_by"], signed_at=row["signed_at"], signed_by=row["signed_by"],
        report_version=int(row["report_version"]), critical=bool(row["critical"]), delivered_at=row["delivered_at"],
        acknowledged_at=row["acknowledged_at"], acknowledged_by=row["acknowledged_by"],
        escalated_at=row["escalated_at"])


def _version(row: Row) -> ReportVersion:
    return ReportVersion(
        study_id=int(row["study_id"]), version=int(row["version"]), status=row["status"],
        statements=tuple(json.loads(row["statements"])), free_text=row["free_text"],
        measurements=dict(json.loads(row["measurements"])), findings=tuple(json.loads(row["findings"])),
        author_id=int(row["author_id"]), created_at=row["created_at"], updated_at=row["updated_at"],
        signed_at=row["signed_at"], amend_reason=row["amend_reason"], delivered_at=row["delivered_at"],
        acknowledged_at=row["acknowledged_at"], acknowledged_by=row["acknowledged_by"])


def _entry(row: Row) -> AnnotationEntry:
    return AnnotationEntry(id=int(row["id"]), study_id=int(row["study_id"]), author_id=int(row["author_id"]),
                           created_at=row["created_at"], op=row["op"], sample=row["sample"],
                           end_sample=row["end_sample"], label=row["label"], body=row["body"], target=row["target"])


class StudyStore:
    """Reading and reporting records on the service's engine (``StudyStore(database.engine)``).

    Synchronous like :class:`~teleconsult.storage.sql.Database`: the server runs its calls
    through ``AsyncDatabase.call``.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _one(self, sql: str, *args: Any) -> Row | None:
        with self.engine.session() as s:
            return s.one(sql, *args)

    def _rows(self, sql: str, *args: Any) -> list[Row]:
        with self.engine.session() as s:
            return s.rows(sql, *args)

    # -- studies ---------------------------------------------------------------------------

    def create_study(self, recording_id: str, org_id: int, county_id: int, source: str, requested_by: int,
                     requested_priority: str, priority: str, note: str, flags: list[str],
                     auto_findings: list[dict[str, Any]], received_at: float) -> Study:
        """Raises: Conflict: the recording has a study already."""
        try:
            row = self._one(
                "INSERT INTO studies (recording_id, org_id, county_id, source, requested_by, requested_priority, "
                "priority, note, flags, auto_findings, status, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'received', ?) RETURNING *",
                recording_id, org_id, county_id, source, requested_by, requested_priority, priority, note,
                json.dumps(flags), json.dumps(auto_findings), received_at)
        except UniqueViolation:
            raise Conflict(f"recording {recording_id} has been submitted already") from None
        assert row is not None
        return _study(row)

    def get_study(self, study_id: int) -> Study | None:
        row = self._one("SELECT * FROM studies WHERE id = ?", study_id)
        return None if row is None else _study(row)

    def study_for_recording(self, recording_id: str) -> Study | None:
        row = self._one("SELECT * FROM studies WHERE recording_id = ?", recording_id)
        return None if row is None else _study(row)

    def set_priority(self, study_id: int, requested: str, priority: str) -> Study | None:
        row = self._one("UPDATE studies SET requested_priority = ?, priority = ? WHERE id = ? AND status <> 'signed' "
                        "RETURNING *", requested, priority, study_id)
        return None if row is None else _study(row)

    def worklist(self, county_id: int, limit: int = 500) -> list[Study]:
        """Unsigned studies of a county: STAT, urgent, routine; within each the longest waiting first."""
        return [_study(r) for r in self._rows(
            f"SELECT * FROM studies WHERE county_id = ? AND status IN ('received', 'claimed') "
            f"ORDER BY {_PRIORITY_ORDER}, received_at, id LIMIT ?", county_id, limit)]

    def studies_for_org(self, org_id: int, limit: int = 200) -> list[Study]:
        return [_study(r) for r in self._rows(
            "SELECT * FROM studies WHERE org_id = ? ORDER BY received_at DESC, id DESC LIMIT ?", org_id, limit)]

    def studies_for_county(self, county_id: int, limit: int = 200) -> list[Study]:
        return [_study(r) for r in self._rows(
            "SELECT * FROM studies WHERE county_id = ? ORDER BY received_at DESC, id DESC LIMIT ?", county_id, limit)]

    def previous_for_patient(self, study_id: int, org_id: int | None = None,
                             limit: int = 20) -> list[tuple[Study, ReportVersion | None]]:
        """The earlier studies of the same patient as ``study_id``, newest first, each with its newest
        signed report version (``None`` while unsigned).

        Same patient: the recordings' non-empty ``patient_ref`` is equal; always within the study's
        county (``org_id``: only that organisation's studies, for village doctors). Earlier: received
        before it (or at the same time with a smaller id).
        """
        org_only = "" if org_id is None else "AND s.org_id = ? "
        rows = self._rows(
            "SELECT s.* FROM studies cur JOIN recordings rc ON rc.id = cur.recording_id "
            "JOIN recordings r ON r.county_id = cur.county_id AND r.patient_ref = rc.patient_ref "
            "JOIN studies s ON s.recording_id = r.id AND s.county_id = cur.county_id "
            "WHERE cur.id = ? AND rc.patient_ref <> '' AND s.id <> cur.id "
            "AND (s.received_at < cur.received_at OR (s.received_at = cur.received_at AND s.id < cur.id)) "
            f"{org_only}ORDER BY s.received_at DESC, s.id DESC LIMIT ?",
            study_id, *([] if org_id is None else [org_id]), limit)
        studies = [_study(r) for r in rows]
        signed: dict[int, ReportVersion] = {}
        ids = [st.id for st in studies if st.status == "signed"]
        if ids:
            marks = ", ".join("?" for _ in ids)
            signed = {int(r["study_id"]): _version(r) for r in self._rows(
                f"SELECT v.* FROM report_versions v "
                f"JOIN studies s ON s.id = v.study_id AND v.version = s.report_version "
                f"WHERE v.status = 'signed' AND s.id IN ({marks})", *ids)}
        return [(st, signed.get(st.id)) for st in studies]

    def pending_reports_for_org(self, org_id: int) -> list[Study]:
        """Signed studies whose newest version the village has not acknowledged (to push again on connect)."""
        return [_study(r) for r in self._rows(
            "SELECT s.* FROM studies s JOIN report_versions v ON v.study_id = s.id AND v.version = s.report_version "
            "WHERE s.org_id = ? AND s.status = 'signed' AND v.status = 'signed' AND v.acknowledged_at IS NULL "
            "ORDER BY v.signed_at", org_id)]

    # -- the reading lock ---------------------------------------------------------------------

    def claim(self, study_id: int, reader_id: int, county_id: int, now: float, ttl_s: float) -> Study | None:
        """Take (or renew) the reading lock; ``None`` when someone else holds it or the study is signed."""
        row = self._one(
            "UPDATE studies SET claimed_by = ?, lock_expires_at = ?, status = 'claimed', "
            "first_claimed_at = COALESCE(first_claimed_at, ?), first_claimed_by = COALESCE(first_claimed_by, ?) "
            "WHERE id = ? AND county_id = ? AND status IN ('received', 'claimed') "
            "AND (claimed_by IS NULL OR claimed_by = ? OR lock_expires_at <= ?) RETURNING *",
            reader_id, now + ttl_s, now, reader_id, study_id, county_id, reader_id, now)
        return None if row is None else _study(row)

    def release(self, study_id: int, holder_id: int | None) -> Study | None:
        """Give the lock up (``holder_id``: only if that reader holds it; ``None``: whoever does, for admins)."""
        sql = ("UPDATE studies SET claimed_by = NULL, lock_expires_at = NULL, status = 'received' "
               "WHERE id = ? AND status = 'claimed'")
        row = (self._one(sql + " RETURNING *", study_id) if holder_id is None
               else self._one(sql + " AND claimed_by = ? RETURNING *", study_id, holder_id))
        return None if row is None else _study(row)

    def assign(self, study_id: int, reader_id: int, now: float, ttl_s: float) -> Study | None:
        """An admin hands the lock to ``reader_id`` (whoever held it)."""
        row = self._one(
            "UPDATE studies SET claimed_by = ?, lock_expires_at = ?, status = 'claimed', "
            "first_claimed_at = COALESCE(first_claimed_at, ?), first_claimed_by = COALESCE(first_claimed_by, ?) "
            "WHERE id = ? AND status IN ('received', 'claimed') RETURNING *",
            reader_id, now + ttl_s, now, reader_id, study_id)
        return None if row is None else _study(row)

    @staticmethod
    def _renew(s: Session, study_id: int, reader_id: int, now: float, ttl_s: float) -> Study:
        row = s.one("UPDATE studies SET lock_expires_at = ? WHERE id = ? AND status = 'claimed' AND claimed_by = ? "
                    "AND lock_expires_at > ? RETURNING *", now + ttl_s, study_id, reader_id, now)
        if row is None:
            raise LockLost(f"study {study_id}")
        return _study(row)

    # -- reports ---------------------------------------------------------------------------

    def versions(self, study_id: int) -> list[ReportVersion]:
        return [_version(r) for r in self._rows(
            "SELECT * FROM report_versions WHERE study_id = ? ORDER BY version", study_id)]

    def get_version(self, study_id: int, version: int) -> ReportVersion | None:
        row = self._one("SELECT * FROM report_versions WHERE study_id = ? AND version = ?", study_id, version)
        return None if row is None else _version(row)

    def save_draft(self, study_id: int, reader_id: int, statements: list[str], free_text: str,
                   measurements: dict[str, float], findings: list[dict[str, Any]], now: float,
                   ttl_s: float) -> ReportVersion:
        """Create or overwrite the draft (version 1) while holding the lock.

        Raises:
            LockLost: the reader does not hold the lock.
            Conflict: the report is signed already.
        """
        with self.engine.session(transaction=True) as s:
            study = self._renew(s, study_id, reader_id, now, ttl_s)
            args = (json.dumps(statements), free_text, json.dumps(measurements), json.dumps(findings))
            if study.report_version == 0:
                row = s.one("INSERT INTO report_versions (study_id, version, status, statements, free_text, "
                            "measurements, findings, author_id, created_at, updated_at) "
                            "VALUES (?, 1, 'draft', ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                            study_id, *args, reader_id, now, now)
                s.run("UPDATE studies SET report_version = 1 WHERE id = ?", study_id)
            else:
                row = s.one("UPDATE report_versions SET statements = ?, free_text = ?, measurements = ?, findings = ?, "
                            "author_id = ?, updated_at = ? WHERE study_id = ? AND version = ? AND status = 'draft' "
                            "RETURNING *", *args, reader_id, now, study_id, study.report_version)
            if row is None:
                raise Conflict("the report is signed")
            return _version(row)

    def sign(self, study_id: int, reader_id: int, now: float, ttl_s: float) -> tuple[Study, ReportVersion]:
        """Sign the draft (immutable from now on) and let the lock go, in one transaction.

        Raises:
            LockLost: the reader does not hold the lock.
            Conflict: there is no draft to sign.
        """
        with self.engine.session(transaction=True) as s:
            study = self._renew(s, study_id, reader_id, now, ttl_s)
            row = s.one("UPDATE report_versions SET status = 'signed', signed_at = ?, author_id = ?, updated_at = ? "
                        "WHERE study_id = ? AND version = ? AND status = 'draft' RETURNING *",
                        now, reader_id, now, study_id, study.report_version)
            if row is None:
                raise Conflict("no draft to sign")
            version = _version(row)
            srow = s.one("UPDATE studies SET status = 'signed', signed_at = COALESCE(signed_at, ?), "
                         "signed_by = COALESCE(signed_by, ?), critical = ?, claimed_by = NULL, lock_expires_at = NULL "
                         "WHERE id = ? RETURNING *", now, reader_id, int(bool(version.findings)), study_id)
            assert srow is not None
            return _study(srow), version

    def amend(self, study_id: int, reader_id: int, based_on: int, statements: list[str], free_text: str,
              measurements: dict[str, float], findings: list[dict[str, Any]], reason: str,
              now: float) -> tuple[Study, ReportVersion]:
        """A new signed version ``based_on + 1``; earlier versions stay as they were.

        Raises:
            Conflict: the report is not signed, or another amendment came first (``based_on`` is stale).
        """
        with self.engine.session(transaction=True) as s:
            srow = s.one("UPDATE studies SET report_version = report_version + 1, critical = ?, escalated_at = NULL "
                         "WHERE id = ? AND status = 'signed' AND report_version = ? RETURNING *",
                         int(bool(findings)), study_id, based_on)
            if srow is None:
                raise Conflict("the report changed meanwhile, or is not signed")
            study = _study(srow)
            row = s.one("INSERT INTO report_versions (study_id, version, status, statements, free_text, measurements, "
                        "findings, author_id, created_at, updated_at, signed_at, amend_reason) "
                        "VALUES (?, ?, 'signed', ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                        study_id, study.report_version, json.dumps(statements), free_text, json.dumps(measurements),
                        json.dumps(findings), reader_id, now, now, now, reason)
            assert row is not None
            return study, _version(row)

    def mark_delivered(self, study_id: int, version: int, now: float) -> bool:
        """First receipt of a signed version; False if it was delivered already (or is no signed version)."""
        with self.engine.session(transaction=True) as s:
            row = s.one("UPDATE report_versions SET delivered_at = ? WHERE study_id = ? AND version = ? "
                        "AND status = 'signed' AND delivered_at IS NULL RETURNING version", now, study_id, version)
            if row is None:
                return False
            s.run("UPDATE studies SET delivered_at = COALESCE(delivered_at, ?) WHERE id = ?", now, study_id)
            return True

    def acknowledge(self, study_id: int, version: int, user_id: int, now: float) -> bool:
        """The village doctor acknowledged a signed version (delivery implied); False if done already."""
        with self.engine.session(transaction=True) as s:
            row = s.one("UPDATE report_versions SET acknowledged_at = ?, acknowledged_by = ?, "
                        "delivered_at = COALESCE(delivered_at, ?) WHERE study_id = ? AND version = ? "
                        "AND status = 'signed' AND acknowledged_at IS NULL RETURNING version",
                        now, user_id, now, study_id, version)
            if row is None:
                return False
            s.run("UPDATE studies SET acknowledged_at = COALESCE(acknowledged_at, ?), "
                  "acknowledged_by = COALESCE(acknowledged_by, ?), delivered_at = COALESCE(delivered_at, ?) "
                  "WHERE id = ?", now, user_id, now, study_id)
            return True

    # -- escalation ----------------------------------------------------------------------------

    def escalation_candidates(self, signed_before: float) -> list[Study]:
        """Critical signed studies whose newest version was signed before ``signed_before`` and is unacknowledged."""
        return [_study(r) for r in self._rows(
            "SELECT s.* FROM studies s JOIN report_versions v ON v.study_id = s.id AND v.version = s.report_version "
            "WHERE s.status = 'signed' AND s.critical = 1 AND s.escalated_at IS NULL AND v.status = 'signed' "
            "AND v.acknowledged_at IS NULL AND v.signed_at <= ?", signed_before)]

    def mark_escalated(self, study_id: int, now: float) -> bool:
        """True for exactly one caller (node) per escalation."""
        return self._one("UPDATE studies SET escalated_at = ? WHERE id = ? AND escalated_at IS NULL RETURNING id",
                         now, study_id) is not None

    # -- annotations ---------------------------------------------------------------------------

    def annotation_log(self, study_id: int) -> list[AnnotationEntry]:
        return [_entry(r) for r in self._rows("SELECT * FROM annotation_log WHERE study_id = ? ORDER BY id", study_id)]

    def append_annotation(self, entry: AnnotationEntry, expected_last_id: int | None, now: float,
                          ttl_s: float) -> AnnotationEntry:
        """Append a checked line while holding the lock; ``expected_last_id`` is the log's last line
        the check saw (optimistic: another line since makes this a Conflict).

        Raises:
            LockLost: the reader does not hold the lock.
            Conflict: the log changed since it was checked.
        """
        with self.engine.session(transaction=True) as s:
            self._renew(s, entry.study_id, entry.author_id, now, ttl_s)
            last = s.one("SELECT MAX(id) AS last_id FROM annotation_log WHERE study_id = ?", entry.study_id)
            if (last["last_id"] if last else None) != expected_last_id:
                raise Conflict("the annotations changed meanwhile")
            row = s.one("INSERT INTO annotation_log (study_id, author_id, created_at, op, sample, end_sample, label, "
                        "body, target) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                        entry.study_id, entry.author_id, now, entry.op, entry.sample, entry.end_sample, entry.label,
                        entry.body, entry.target)
            assert row is not None
            return _entry(row)

    # -- turnaround ------------------------------------------------------------------------------

    def tat_rows(self, county_id: int, since: float, until: float) -> list[StudyTimes]:
        return [StudyTimes(int(r["id"]), int(r["county_id"]), r["signed_by"] if r["signed_by"] is not None
                           else r["claimed_by"], r["priority"], r["received_at"], r["first_claimed_at"],
                           r["signed_at"], r["delivered_at"], r["acknowledged_at"])
                for r in self._rows("SELECT * FROM studies WHERE county_id = ? AND received_at >= ? "
                                    "AND received_at < ? ORDER BY received_at", county_id, since, until)]

    # -- uploads ---------------------------------------------------------------------------------

    def upload_device(self, org_id: int, token_hash: str, now: float) -> int:
        """The id of the organisation's pseudo-device that uploaded recordings hang on (revoked:
        it can never stream); created on first use."""
        with self.engine.session(transaction=True) as s:
            row = s.one("SELECT id FROM devices WHERE org_id = ? AND name = ? AND revoked = 1 ORDER BY id LIMIT 1",
                        org_id, UPLOAD_DEVICE_NAME)
            if row is None:
                row = s.one("INSERT INTO devices (org_id, name, token_hash, created_at, expires_at, revoked) "
                            "VALUES (?, ?, ?, ?, NULL, 1) RETURNING id", org_id, UPLOAD_DEVICE_NAME, token_hash, now)
            assert row is not None
            return int(row["id"])

    def user_names(self, user_ids: list[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        marks = ", ".join("?" for _ in user_ids)
        return {int(r["id"]): (r["display_name"] or r["username"]) for r in self._rows(
            f"SELECT id, username, display_name FROM users WHERE id IN ({marks})", *user_ids)}

    def county_readers(self, county_id: int) -> list[tuple[int, str]]:
        """(id, display name or username) of the county readers of a county, by name."""
        rows = self._rows("SELECT users.id, users.username, users.display_name FROM users "
                          "JOIN orgs ON orgs.id = users.org_id WHERE users.role = 'county_reader' "
                          "AND orgs.county_id = ? ORDER BY users.id", county_id)
        return sorted(((int(r["id"]), r["display_name"] or r["username"]) for r in rows), key=lambda p: (p[1], p[0]))

    def county_user(self, user_id: int) -> tuple[str, int] | None:
        """(role, county id) of a user."""
        row = self._one("SELECT users.role, orgs.county_id FROM users JOIN orgs ON orgs.id = users.org_id "
                        "WHERE users.id = ?", user_id)
        return None if row is None else (row["role"], int(row["county_id"]))


__all__ = ["LockLost", "StudyStore", "UPLOAD_DEVICE_NAME"]
