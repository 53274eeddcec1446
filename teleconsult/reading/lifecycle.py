"""The report lifecycle as data: draft -> signed (immutable) -> amended (new versions).

Rule: everything that decides whether a report action is allowed lives in
:data:`TRANSITIONS`. docs/reporting.md shows the same table (a test compares them).

Parties are relations of a user to a study, worked out by the service:

* ``claimant``: a county reader of the study's county who holds its reading lock;
* ``county_reader``: a county reader of the study's county without the lock;
* ``other``: anyone else (village doctors, admins, readers of other counties).
"""

from __future__ import annotations

import enum

from teleconsult.reading.errors import ConflictError, Forbidden


class ReportState(enum.Enum):
    NONE = "none"  # nothing written yet
    DRAFT = "draft"  # the claimant is writing it
    SIGNED = "signed"  # version 1 signed: immutable
    AMENDED = "amended"  # a later version signed, with a reason; earlier versions kept


class Action(enum.Enum):
    SAVE_DRAFT = "save_draft"
    SIGN = "sign"
    AMEND = "amend"


class Party(enum.Enum):
    CLAIMANT = "claimant"
    COUNTY_READER = "county_reader"
    OTHER = "other"


_READERS = frozenset({Party.CLAIMANT, Party.COUNTY_READER})
_CLAIMANT = frozenset({Party.CLAIMANT})

# state -> action -> (next state, parties allowed)
TRANSITIONS: dict[ReportState, dict[Action, tuple[ReportState, frozenset[Party]]]] = {
    ReportState.NONE: {Action.SAVE_DRAFT: (ReportState.DRAFT, _CLAIMANT)},
    ReportState.DRAFT: {Action.SAVE_DRAFT: (ReportState.DRAFT, _CLAIMANT),
                        Action.SIGN: (ReportState.SIGNED, _CLAIMANT)},
    ReportState.SIGNED: {Action.AMEND: (ReportState.AMENDED, _READERS)},
    ReportState.AMENDED: {Action.AMEND: (ReportState.AMENDED, _READERS)},
}


def report_state(latest_version: int, latest_status: str | None) -> ReportState:
    """The state of a report whose newest version is ``latest_version`` (0: none) with ``latest_status``."""
    if latest_version == 0 or latest_status is None:
        return ReportState.NONE
    if latest_status == "draft":
        return ReportState.DRAFT
    return ReportState.SIGNED if latest_version == 1 else ReportState.AMENDED


def transition(state: ReportState, action: Action, party: Party) -> ReportState:
    """The next state, if ``party`` may do ``action`` now.

    Raises:
        ConflictError: the action is not possible in this state (e.g. editing a signed report).
        Forbidden: the action is possible, but not for this party.
    """
    step = TRANSITIONS[state].get(action)
    if step is None:
        if state in (ReportState.SIGNED, ReportState.AMENDED):
            raise ConflictError(f"the report is signed: it cannot be changed ({action.value}), only amended")
        raise ConflictError(f"cannot {action.value} a report in state {state.value}")
    next_state, parties = step
    if party not in parties:
        who = "the reader holding the study" if parties == _CLAIMANT else "a county reader of this county"
        raise Forbidden(f"only {who} may {action.value} this report")
    return next_state


__all__ = ["Action", "Party", "ReportState", "TRANSITIONS", "report_state", "transition"]
