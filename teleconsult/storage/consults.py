"""All SQL of video consults: kiosks, consults and their transition log, chat and file
messages, county doctors' presence. Same engines and rules as :mod:`teleconsult.storage.sql`
(one SQL text with ``?`` placeholders for both engines).

Atomicity without engine branches: a transition is one conditional
``UPDATE consults … WHERE id = ? AND state = ? [AND acceptor_id IS NULL] [AND deadline_at <= ?]
RETURNING *`` and the insert of its log row, in one transaction. Of two doctors accepting
at once, or two nodes' sweepers timing out the same consult, exactly one update matches
(PostgreSQL: the second waits for the first's row lock and re-checks the condition;
SQLite: writes are serialised); the other gets ``None`` and reports a conflict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teleconsult.consults.model import Consult, Message, Transition
from teleconsult.consults.presence import PresenceRow
from teleconsult.storage.dialects import Engine, Row, UniqueViolation
from teleconsult.storage.sql import Conflict

_ACTIVE_SQL = "('accepted', 'connecting', 'in_call', 'reconnecting')"


def _consult(row: Row) -> Consult:
    return Consult(
        id=int(row["id"]), org_id=int(row["org_id"]), county_id=int(row["county_id"]),
        requester_kind=row["requester_kind"], requester_id=int(row["requester_id"]),
        acceptor_id=None if row["acceptor_id"] is None else int(row["acceptor_id"]), state=row["state"],
        outcome=row["outcome"], reason=row["reason"], urgency=row["urgency"], patient_ref=row["patient_ref"],
        recording_id=row["recording_id"], requested_at=row["requested_at"], accepted_at=row["accepted_at"],
        in_call_at=row["in_call_at"], ended_at=row["ended_at"], deadline_at=row["deadline_at"],
        updated_at=row["updated_at"])


def _transition(row: Row) -> Transition:
    return Transition(id=int(row["id"]), consult_id=int(row["consult_id"]), at=row["at"],
                      from_state=row["from_state"], to_state=row["to_state"], event=row["event"],
                      actor=row["actor"], party=row["party"], reason=row["reason"])


def _message(row: Row) -> Message:
    return Message(id=int(row["id"]), consult_id=int(row["consult_id"]), at=row["at"], author=row["author"],
                   kind=row["kind"], body=row["body"], file_name=row["file_name"],
                   content_type=row["content_type"], size=int(row["size"]), sha256=row["sha256"])


@dataclass(frozen=True, slots=True)
class Kiosk:
    """A kiosk registration (its token hash never leaves the store)."""

    id: int
    org_id: int
    county_id: int
    name: str
    expires_at: float | None
    revoked: bool


class ConsultStore:
    """Consult records on the service's engine (``ConsultStore(database.engine)``); synchronous,
    run through ``AsyncDatabase.call`` by the server."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _one(self, sql: str, *args: Any) -> Row | None:
        with self.engine.session() as s:
            return s.one(sql, *args)

    def _rows(self, sql: str, *args: Any) -> list[Row]:
        with self.engine.session() as s:
            return s.rows(sql, *args)

    # -- kiosks ------------------------------------------------------------------------------

    def create_kiosk(self, org_id: int, name: str, token_hash: str, expires_at: float | None, now: float) -> int:
        """Raises: Conflict: a kiosk has this token already."""
        try:
            row = self._one("INSERT INTO kiosks (org_id, name, token_hash, created_at, expires_at) "
                            "VALUES (?, ?, ?, ?, ?) RETURNING id", org_id, name, token_hash, now, expires_at)
        except UniqueViolation:
            raise Conflict("a kiosk with this token exists") from None
        assert row is not None
        return int(row["id"])

    def kiosk_for_token(self, token_hash: str) -> Kiosk | None:
        row = self._one("SELECT kiosks.*, orgs.county_id, orgs.kind AS org_kind FROM kiosks "
                        "JOIN orgs ON orgs.id = kiosks.org_id WHERE token_hash = ?", token_hash)
        if row is None:
            return None
        return Kiosk(int(row["id"]), int(row["org_id"]), int(row["county_id"]), row["name"], row["expires_at"],
                     bool(row["revoked"]))

    def revoke_kiosk(self, kiosk_id: int) -> None:
        with self.engine.session() as s:
            s.run("UPDATE kiosks SET revoked = 1 WHERE id = ?", kiosk_id)

    # -- consults -------------------------------------------------------------------------------

    def create(self, org_id: int, county_id: int, requester_kind: str, requester_id: int, urgency: str,
               reason: str, patient_ref: str, recording_id: str | None, actor: str, now: float) -> Consult:
        """A consult in state ``requested``, with its first log row (event ``request``)."""
        with self.engine.session(transaction=True) as s:
            row = s.one(
                "INSERT INTO consults (org_id, county_id, requester_kind, requester_id, state, reason, urgency, "
                "patient_ref, recording_id, requested_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'requested', ?, ?, ?, ?, ?, ?) RETURNING *",
                org_id, county_id, requester_kind, requester_id, reason, urgency, patient_ref, recording_id, now, now)
            assert row is not None
            s.run("INSERT INTO consult_events (consult_id, at, from_state, to_state, event, actor, party, reason) "
                  "VALUES (?, ?, '', 'requested', 'request', ?, 'requester', ?)", row["id"], now, actor, reason)
        return _consult(row)

    def apply(self, consult_id: int, from_state: str, to_state: str, event: str, actor: str, party: str,
              reason: str, now: float, *, outcome: str | None = None, deadline_at: float | None = None,
              acceptor_id: int | None = None, due_only: bool = False) -> Consult | None:
        """Move the consult from ``from_state`` to ``to_state`` and log it, or None when it is no
        longer in ``from_state`` (or, with ``acceptor_id``, has been accepted; with ``due_only``,
        its deadline has not passed)."""
        sets = ["state = ?", "deadline_at = ?", "updated_at = ?"]
        args: list[Any] = [to_state, deadline_at, now]
        where = ["id = ?", "state = ?"]
        wargs: list[Any] = [consult_id, from_state]
        if acceptor_id is not None:
            sets += ["acceptor_id = ?", "accepted_at = ?"]
            args += [acceptor_id, now]
            where.append("acceptor_id IS NULL")
        if to_state == "in_call":
            sets.append("in_call_at = COALESCE(in_call_at, ?)")
            args.append(now)
        if to_state == "ended":
            sets += ["outcome = ?", "ended_at = ?"]
            args += [outcome, now]
        if due_only:
            where.append("deadline_at IS NOT NULL AND deadline_at <= ?")
            wargs.append(now)
        with self.engine.session(transaction=True) as s:
            row = s.one(f"UPDATE consults SET {', '.join(sets)} WHERE {' AND '.join(where)} RETURNING *",
                        *args, *wargs)
            if row is None:
                return None
            s.run("INSERT INTO consult_events (consult_id, at, from_state, to_state, event, actor, party, reason) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", consult_id, now, from_state, to_state, event, actor, party,
                  reason)
        return _consult(row)

    def get(self, consult_id: int) -> Consult | None:
        row = self._one("SELECT * FROM consults WHERE id = ?", consult_id)
        return None if row is None else _consult(row)

    def queue(self, county_id: int, limit: int = 200) -> list[Consult]:
        """Waiting consults of a county: STAT, urgent, routine; the longest waiting first."""
        return [_consult(r) for r in self._rows(
            "SELECT * FROM consults WHERE county_id = ? AND state = 'waiting' ORDER BY "
            "CASE urgency WHEN 'stat' THEN 0 WHEN 'urgent' THEN 1 ELSE 2 END, requested_at, id LIMIT ?",
            county_id, limit)]

    def history(self, *, county_id: int | None = None, org_id: int | None = None, acceptor_id: int | None = None,
                requester: tuple[str, int] | None = None, patient_ref: str | None = None,
                limit: int = 200) -> list[Consult]:
        """Consults matching every filter given, newest first."""
        where, args = [], []
        for column, value in (("county_id", county_id), ("org_id", org_id), ("acceptor_id", acceptor_id),
                              ("patient_ref", patient_ref)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if requester is not None:
            where.append("requester_kind = ? AND requester_id = ?")
            args += [requester[0], requester[1]]
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        return [_consult(r) for r in self._rows(
            f"SELECT * FROM consults {clause}ORDER BY requested_at DESC, id DESC LIMIT ?", *args, limit)]

    def transitions(self, consult_id: int) -> list[Transition]:
        return [_transition(r) for r in self._rows(
            "SELECT * FROM consult_events WHERE consult_id = ? ORDER BY id", consult_id)]

    def due(self, now: float, limit: int = 100) -> list[Consult]:
        """Open consults whose deadline has passed (the sweeper times them out)."""
        return [_consult(r) for r in self._rows(
            "SELECT * FROM consults WHERE state <> 'ended' AND deadline_at IS NOT NULL AND deadline_at <= ? "
            "ORDER BY deadline_at LIMIT ?", now, limit)]

    def active_for(self, acceptor_id: int) -> Consult | None:
        row = self._one(f"SELECT * FROM consults WHERE acceptor_id = ? AND state IN {_ACTIVE_SQL} "
                        "ORDER BY id DESC LIMIT 1", acceptor_id)
        return None if row is None else _consult(row)

    def set_recording(self, consult_id: int, recording_id: str, now: float) -> Consult | None:
        row = self._one("UPDATE consults SET recording_id = ?, updated_at = ? WHERE id = ? AND state <> 'ended' "
                        "RETURNING *", recording_id, now, consult_id)
        return None if row is None else _consult(row)

    # -- chat and files ----------------------------------------------------------------------------

    def add_message(self, consult_id: int, author: str, kind: str, now: float, *, body: str = "",
                    file_name: str = "", content_type: str = "", size: int = 0, sha256: str = "") -> Message:
        row = self._one(
            "INSERT INTO consult_messages (consult_id, at, author, kind, body, file_name, content_type, size, sha256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
            consult_id, now, author, kind, body, file_name, content_type, size, sha256)
        assert row is not None
        return _message(row)

    def messages(self, consult_id: int, limit: int = 1000) -> list[Message]:
        return [_message(r) for r in self._rows(
            "SELECT * FROM consult_messages WHERE consult_id = ? ORDER BY id LIMIT ?", consult_id, limit)]

    def message(self, consult_id: int, message_id: int) -> Message | None:
        row = self._one("SELECT * FROM consult_messages WHERE consult_id = ? AND id = ?", consult_id, message_id)
        return None if row is None else _message(row)

    # -- presence ----------------------------------------------------------------------------------

    def set_duty(self, user_id: int, county_id: int, on_duty: bool, now: float, node: str) -> None:
        with self.engine.session(transaction=True) as s:
            updated = s.one("UPDATE presence SET on_duty = ?, heartbeat_at = ?, node = ?, county_id = ? "
                            "WHERE user_id = ? RETURNING user_id", int(on_duty), now, node, county_id, user_id)
            if updated is None:
                s.run("INSERT INTO presence (user_id, county_id, on_duty, heartbeat_at, node) VALUES (?, ?, ?, ?, ?)",
                      user_id, county_id, int(on_duty), now, node)

    def heartbeat(self, user_id: int, now: float, node: str) -> bool:
        """Renew a doctor's presence; False when the doctor never went on duty."""
        return self._one("UPDATE presence SET heartbeat_at = ?, node = ? WHERE user_id = ? RETURNING user_id",
                         now, node, user_id) is not None

    def presence(self, county_id: int) -> list[PresenceRow]:
        return [PresenceRow(int(r["user_id"]), int(r["county_id"]), bool(r["on_duty"]), r["heartbeat_at"],
                            r["display_name"] or r["username"]) for r in self._rows(
            "SELECT presence.*, users.username, users.display_name FROM presence "
            "JOIN users ON users.id = presence.user_id WHERE presence.county_id = ? ORDER BY presence.user_id",
            county_id)]

    def presence_of(self, user_id: int) -> PresenceRow | None:
        r = self._one("SELECT presence.*, users.username, users.display_name FROM presence "
                      "JOIN users ON users.id = presence.user_id WHERE presence.user_id = ?", user_id)
        if r is None:
            return None
        return PresenceRow(int(r["user_id"]), int(r["county_id"]), bool(r["on_duty"]), r["heartbeat_at"],
                           r["display_name"] or r["username"])

    def busy_ids(self, county_id: int) -> set[int]:
        return {int(r["acceptor_id"]) for r in self._rows(
            f"SELECT DISTINCT acceptor_id FROM consults WHERE county_id = ? AND state IN {_ACTIVE_SQL} "
            "AND acceptor_id IS NOT NULL", county_id)}


__all__ = ["ConsultStore", "Kiosk"]
