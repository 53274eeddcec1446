"""The consult lifecycle as data: one table says which event moves a consult from which
state to which, for whom, and with which outcome when it ends.

::

    requested ─queue─▶ waiting ─accept─▶ accepted ─offer─▶ connecting ─connected─▶ in_call
        │                 │                 │                   │                  │  ▲
        └─nobody_on_duty  └─timeout/cancel  └─timeout/cancel/   └─timeout/cancel/  │  │ connected
                                              hangup              hangup    drop/offer  │
                                                                                   ▼  │
                                                                              reconnecting
    every arrow that leaves the diagram goes to ``ended`` with an outcome:
    completed (hang-up after the call was up), cancelled, no_answer, failed.

Rule: everything that decides whether a consult may change lives in :data:`TRANSITIONS`;
docs/consults.md shows the same table (a test compares them). ``reconnecting`` is
``connecting`` for a consult whose call was already up: a party's socket or peer
connection dropped, and it has the reconnect grace period to rejoin and renegotiate with a
fresh RTCPeerConnection; hanging up from there completes the consult, a timeout fails it.

Parties are relations of the acting principal to one consult, worked out by the service:

* ``requester``: the village doctor or kiosk who asked for it (the side that sends offers);
* ``acceptor``: the county doctor who accepted it (the side that answers);
* ``county_doctor``: another county reader of the consult's county (may accept a waiting one);
* ``system``: the server itself (queueing, timers);
* ``other``: anyone else (another village, another county, admins).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from teleconsult.consults.errors import Conflict, Forbidden


class State(enum.Enum):
    REQUESTED = "requested"
    WAITING = "waiting"
    ACCEPTED = "accepted"
    CONNECTING = "connecting"
    IN_CALL = "in_call"
    RECONNECTING = "reconnecting"
    ENDED = "ended"


class Event(enum.Enum):
    QUEUE = "queue"  # county doctors are on duty: offer it to them
    NOBODY_ON_DUTY = "nobody_on_duty"
    ACCEPT = "accept"
    CANCEL = "cancel"
    JOIN = "join"  # a party's signalling socket joined (or rejoined)
    DROP = "drop"  # a party's signalling socket went away without hanging up
    OFFER = "offer"  # the requester sent an SDP offer (a fresh RTCPeerConnection)
    CONNECTED = "connected"  # a party's RTCPeerConnection reached "connected"
    HANGUP = "hangup"
    TIMEOUT = "timeout"  # the state's deadline passed (see ConsultService deadlines)


class Party(enum.Enum):
    REQUESTER = "requester"
    ACCEPTOR = "acceptor"
    COUNTY_DOCTOR = "county_doctor"
    SYSTEM = "system"
    OTHER = "other"


class Outcome(enum.Enum):
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Step:
    """Where ``event`` leads, who may cause it, and the outcome when it ends the consult."""

    next: State
    parties: frozenset[Party]
    outcome: Outcome | None = None


_REQ = frozenset({Party.REQUESTER})
_SYS = frozenset({Party.SYSTEM})
_DOC = frozenset({Party.COUNTY_DOCTOR})
_BOTH = frozenset({Party.REQUESTER, Party.ACCEPTOR})
S, E, O = State, Event, Outcome

TRANSITIONS: dict[State, dict[Event, Step]] = {
    S.REQUESTED: {
        E.QUEUE: Step(S.WAITING, _SYS),
        E.NOBODY_ON_DUTY: Step(S.ENDED, _SYS, O.NO_ANSWER),
        E.CANCEL: Step(S.ENDED, _REQ, O.CANCELLED),
    },
    S.WAITING: {
        E.ACCEPT: Step(S.ACCEPTED, _DOC),
        E.CANCEL: Step(S.ENDED, _REQ, O.CANCELLED),
        E.JOIN: Step(S.WAITING, _REQ),
        E.DROP: Step(S.WAITING, _REQ),
        E.TIMEOUT: Step(S.ENDED, _SYS, O.NO_ANSWER),
    },
    S.ACCEPTED: {
        E.JOIN: Step(S.ACCEPTED, _BOTH),
        E.DROP: Step(S.ACCEPTED, _BOTH),
        E.OFFER: Step(S.CONNECTING, _REQ),
        E.CANCEL: Step(S.ENDED, _REQ, O.CANCELLED),
        E.HANGUP: Step(S.ENDED, _BOTH, O.CANCELLED),
        E.TIMEOUT: Step(S.ENDED, _SYS, O.FAILED),
    },
    S.CONNECTING: {
        E.JOIN: Step(S.CONNECTING, _BOTH),
        E.DROP: Step(S.CONNECTING, _BOTH),
        E.OFFER: Step(S.CONNECTING, _REQ),
        E.CONNECTED: Step(S.IN_CALL, _BOTH),
        E.CANCEL: Step(S.ENDED, _REQ, O.CANCELLED),
        E.HANGUP: Step(S.ENDED, _BOTH, O.CANCELLED),
        E.TIMEOUT: Step(S.ENDED, _SYS, O.FAILED),
    },
    S.IN_CALL: {
        E.JOIN: Step(S.IN_CALL, _BOTH),
        E.DROP: Step(S.RECONNECTING, _BOTH),
        E.OFFER: Step(S.RECONNECTING, _REQ),
        E.CONNECTED: Step(S.IN_CALL, _BOTH),
        E.HANGUP: Step(S.ENDED, _BOTH, O.COMPLETED),
    },
    S.RECONNECTING: {
        E.JOIN: Step(S.RECONNECTING, _BOTH),
        E.DROP: Step(S.RECONNECTING, _BOTH),
        E.OFFER: Step(S.RECONNECTING, _REQ),
        E.CONNECTED: Step(S.IN_CALL, _BOTH),
        E.HANGUP: Step(S.ENDED, _BOTH, O.COMPLETED),
        E.TIMEOUT: Step(S.ENDED, _SYS, O.FAILED),
    },
    S.ENDED: {},
}

ACTIVE = frozenset({S.ACCEPTED, S.CONNECTING, S.IN_CALL, S.RECONNECTING})  # a county doctor is busy
OPEN = frozenset(set(State) - {S.ENDED})
SIGNALLING = frozenset({S.WAITING, *ACTIVE})  # a party's socket may be joined


def transition(state: State, event: Event, party: Party) -> Step:
    """The step ``party`` takes with ``event`` from ``state``.

    Raises:
        Conflict: the event is not possible in this state (e.g. accepting an ended consult).
        Forbidden: the event is possible, but not for this party.
    """
    step = TRANSITIONS[state].get(event)
    if step is None:
        if state is State.ENDED:
            raise Conflict(f"the consult has ended: cannot {event.value}")
        raise Conflict(f"cannot {event.value} a consult that is {state.value}")
    if party not in step.parties:
        raise Forbidden(f"only the {' or the '.join(sorted(p.value for p in step.parties))} may "
                        f"{event.value} this consult")
    return step


__all__ = ["ACTIVE", "Event", "OPEN", "Outcome", "Party", "SIGNALLING", "State", "Step", "TRANSITIONS",
           "transition"]
