"""The consult record, its transition log, its chat and file messages, and who is acting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from teleconsult.consults.lifecycle import Party

URGENCIES = ("stat", "urgent", "routine")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a logged-in user, or a kiosk authenticated by its kiosk token.

    ``role`` is the user's role or ``"kiosk"``; a kiosk acts for its village organisation
    like a village doctor, but only in consults it requested itself.
    """

    kind: str  # "user" | "kiosk"
    id: int
    role: str
    org_id: int
    county_id: int
    name: str = ""

    @property
    def actor(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def may_request(self) -> bool:
        return self.role in ("village_doctor", "kiosk")

    @property
    def is_county_doctor(self) -> bool:
        return self.role == "county_reader"

    def public(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "role": self.role, "org_id": self.org_id,
                "county_id": self.county_id, "name": self.name}


@dataclass(frozen=True, slots=True)
class Consult:
    id: int
    org_id: int
    county_id: int
    requester_kind: str
    requester_id: int
    acceptor_id: int | None
    state: str
    outcome: str | None
    reason: str
    urgency: str
    patient_ref: str
    recording_id: str | None
    requested_at: float
    accepted_at: float | None
    in_call_at: float | None
    ended_at: float | None
    deadline_at: float | None
    updated_at: float

    @property
    def requester(self) -> str:
        return f"{self.requester_kind}:{self.requester_id}"

    def public(self, now: float) -> dict[str, Any]:
        """What the API shows the two parties and the county's doctors (never the patient reference)."""
        waited_until = self.accepted_at or self.ended_at or now
        return {"id": self.id, "org_id": self.org_id, "county_id": self.county_id,
                "requester": self.requester, "acceptor_id": self.acceptor_id, "state": self.state,
                "outcome": self.outcome, "reason": self.reason, "urgency": self.urgency,
                "recording_id": self.recording_id, "requested_at": self.requested_at,
                "accepted_at": self.accepted_at, "in_call_at": self.in_call_at, "ended_at": self.ended_at,
                "deadline_at": self.deadline_at, "waiting_s": round(max(0.0, waited_until - self.requested_at), 3)}


@dataclass(frozen=True, slots=True)
class Transition:
    id: int
    consult_id: int
    at: float
    from_state: str
    to_state: str
    event: str
    actor: str
    party: str
    reason: str

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at, "from": self.from_state, "to": self.to_state, "event": self.event,
                "actor": self.actor, "party": self.party, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Message:
    """A chat line or a shared file of a consult (the file's bytes live in the data directory)."""

    id: int
    consult_id: int
    at: float
    author: str
    kind: str  # "chat" | "file"
    body: str
    file_name: str
    content_type: str
    size: int
    sha256: str

    def public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "consult": self.consult_id, "at": self.at, "from": self.author,
                               "kind": self.kind}
        if self.kind == "chat":
            out["text"] = self.body
        else:
            out.update(name=self.file_name, content_type=self.content_type, size=self.size, sha256=self.sha256,
                       url=f"/api/consults/{self.consult_id}/files/{self.id}")
        return out


def party_of(who: Principal, consult: Consult) -> Party:
    """The relation of ``who`` to ``consult`` (see :mod:`teleconsult.consults.lifecycle`)."""
    if who.kind == consult.requester_kind and who.id == consult.requester_id:
        return Party.REQUESTER
    if who.kind == "user" and consult.acceptor_id is not None and who.id == consult.acceptor_id:
        return Party.ACCEPTOR
    if who.kind == "user" and who.role == "county_reader" and who.county_id == consult.county_id:
        return Party.COUNTY_DOCTOR
    return Party.OTHER


def may_see(who: Principal, consult: Consult) -> bool:
    """The consult's record and history: its two parties, the county's readers and admins, and
    the village doctors of the requesting organisation."""
    if party_of(who, consult) in (Party.REQUESTER, Party.ACCEPTOR):
        return True
    if who.kind == "user" and who.role in ("county_reader", "admin"):
        return who.county_id == consult.county_id
    return who.kind == "user" and who.role == "village_doctor" and who.org_id == consult.org_id


__all__ = ["Consult", "Message", "Principal", "Transition", "URGENCIES", "may_see", "party_of"]
