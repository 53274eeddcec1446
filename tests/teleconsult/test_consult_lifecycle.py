"""The consult lifecycle table, every state × event × party, against the rules written out
here a second time; the docs table matches the code's; a whole consult walks through it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from teleconsult.consults.errors import Conflict, Forbidden
from teleconsult.consults.lifecycle import TRANSITIONS, Event, Outcome, Party, State, transition
from teleconsult.consults.model import Consult, Principal, may_see, party_of

REPO = Path(__file__).resolve().parents[2]
R, A, D, SY = "requester", "acceptor", "county_doctor", "system"

# (state, event) -> (who may, next state, outcome); written independently of TRANSITIONS.
RULES: dict[tuple[str, str], tuple[set[str], str, str | None]] = {
    ("requested", "queue"): ({SY}, "waiting", None),
    ("requested", "nobody_on_duty"): ({SY}, "ended", "no_answer"),
    ("requested", "cancel"): ({R}, "ended", "cancelled"),
    ("waiting", "accept"): ({D}, "accepted", None),
    ("waiting", "cancel"): ({R}, "ended", "cancelled"),
    ("waiting", "join"): ({R}, "waiting", None),
    ("waiting", "drop"): ({R}, "waiting", None),
    ("waiting", "timeout"): ({SY}, "ended", "no_answer"),
    ("accepted", "join"): ({R, A}, "accepted", None),
    ("accepted", "drop"): ({R, A}, "accepted", None),
    ("accepted", "offer"): ({R}, "connecting", None),
    ("accepted", "cancel"): ({R}, "ended", "cancelled"),
    ("accepted", "hangup"): ({R, A}, "ended", "cancelled"),
    ("accepted", "timeout"): ({SY}, "ended", "failed"),
    ("connecting", "join"): ({R, A}, "connecting", None),
    ("connecting", "drop"): ({R, A}, "connecting", None),
    ("connecting", "offer"): ({R}, "connecting", None),
    ("connecting", "connected"): ({R, A}, "in_call", None),
    ("connecting", "cancel"): ({R}, "ended", "cancelled"),
    ("connecting", "hangup"): ({R, A}, "ended", "cancelled"),
    ("connecting", "timeout"): ({SY}, "ended", "failed"),
    ("in_call", "join"): ({R, A}, "in_call", None),
    ("in_call", "drop"): ({R, A}, "reconnecting", None),
    ("in_call", "offer"): ({R}, "reconnecting", None),
    ("in_call", "connected"): ({R, A}, "in_call", None),
    ("in_call", "hangup"): ({R, A}, "ended", "completed"),
    ("reconnecting", "join"): ({R, A}, "reconnecting", None),
    ("reconnecting", "drop"): ({R, A}, "reconnecting", None),
    ("reconnecting", "offer"): ({R}, "reconnecting", None),
    ("reconnecting", "connected"): ({R, A}, "in_call", None),
    ("reconnecting", "hangup"): ({R, A}, "ended", "completed"),
    ("reconnecting", "timeout"): ({SY}, "ended", "failed"),
}


@pytest.mark.parametrize("state,event,party", list(itertools.product(State, Event, Party)),
                         ids=lambda v: v.value)
def test_every_state_event_and_party(state: State, event: Event, party: Party) -> None:
    rule = RULES.get((state.value, event.value))
    if rule is None:
        with pytest.raises(Conflict):
            transition(state, event, party)
        return
    parties, next_state, outcome = rule
    if party.value not in parties:
        with pytest.raises(Forbidden) as info:
            transition(state, event, party)
        assert "may" in info.value.reason
        return
    step = transition(state, event, party)
    assert step.next.value == next_state
    assert (step.outcome.value if step.outcome else None) == outcome
    assert (step.next is State.ENDED) == (step.outcome is not None)


def test_nothing_leaves_ended_and_other_may_do_nothing() -> None:
    assert TRANSITIONS[State.ENDED] == {}
    for row in TRANSITIONS.values():
        for step in row.values():
            assert Party.OTHER not in step.parties


def test_docs_table_is_the_code_table() -> None:
    text = (REPO / "docs" / "consults.md").read_text(encoding="utf-8")
    rows = set()
    for line in text.splitlines():
        m = re.match(r"^\| `(\w+)` \| `(\w+)` \| `(\w+)` \| ([a-z_, ]+) \| (`\w+`|) *\|$", line)
        if m:
            rows.add((m[1], m[2], m[3], frozenset(p.strip() for p in m[4].split(",")), m[5].strip("`") or None))
    code = {(s.value, e.value, step.next.value, frozenset(p.value for p in step.parties),
             step.outcome.value if step.outcome else None)
            for s, row in TRANSITIONS.items() for e, step in row.items()}
    assert rows == code


def test_a_consult_with_a_reconnect_walks_the_table() -> None:
    walk = [(Event.QUEUE, Party.SYSTEM), (Event.JOIN, Party.REQUESTER), (Event.ACCEPT, Party.COUNTY_DOCTOR),
            (Event.JOIN, Party.ACCEPTOR), (Event.OFFER, Party.REQUESTER), (Event.CONNECTED, Party.ACCEPTOR),
            (Event.DROP, Party.REQUESTER), (Event.JOIN, Party.REQUESTER), (Event.OFFER, Party.REQUESTER),
            (Event.CONNECTED, Party.REQUESTER), (Event.HANGUP, Party.ACCEPTOR)]
    state = State.REQUESTED
    seen = []
    for event, party in walk:
        step = transition(state, event, party)
        state = step.next
        seen.append(state.value)
    assert seen == ["waiting", "waiting", "accepted", "accepted", "connecting", "in_call", "reconnecting",
                    "reconnecting", "reconnecting", "in_call", "ended"]
    assert step.outcome is Outcome.COMPLETED


def _consult(**changes: object) -> Consult:
    values: dict[str, object] = dict(id=1, org_id=3, county_id=1, requester_kind="user", requester_id=10,
                                     acceptor_id=20, state="in_call", outcome=None, reason="", urgency="stat",
                                     patient_ref="p", recording_id=None, requested_at=0.0, accepted_at=1.0,
                                     in_call_at=2.0, ended_at=None, deadline_at=None, updated_at=2.0)
    values.update(changes)
    return Consult(**values)  # type: ignore[arg-type]


def test_parties_are_relations_to_one_consult() -> None:
    consult = _consult()
    village = Principal("user", 10, "village_doctor", 3, 1)
    kiosk_same_id = Principal("kiosk", 10, "kiosk", 3, 1)
    acceptor = Principal("user", 20, "county_reader", 1, 1)
    colleague = Principal("user", 21, "county_reader", 1, 1)
    other_county = Principal("user", 30, "county_reader", 2, 2)
    other_village = Principal("user", 11, "village_doctor", 4, 1)
    same_village = Principal("user", 12, "village_doctor", 3, 1)
    admin = Principal("user", 40, "admin", 1, 1)
    assert party_of(village, consult) is Party.REQUESTER
    assert party_of(kiosk_same_id, consult) is Party.OTHER  # a kiosk is not the user with its number
    assert party_of(acceptor, consult) is Party.ACCEPTOR
    assert party_of(colleague, consult) is Party.COUNTY_DOCTOR
    assert party_of(other_county, consult) is Party.OTHER
    assert party_of(other_village, consult) is Party.OTHER
    assert party_of(admin, consult) is Party.OTHER
    assert [may_see(p, consult) for p in (village, acceptor, colleague, other_county, other_village, same_village,
                                          admin)] == [True, True, True, False, False, True, True]
    kiosk_consult = _consult(requester_kind="kiosk")
    assert party_of(kiosk_same_id, kiosk_consult) is Party.REQUESTER
    assert party_of(village, kiosk_consult) is Party.OTHER
