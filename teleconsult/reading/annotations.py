"""The annotation log of a study, folded into beats, segments and notes (pure).

Annotations never alter the signal: the detector's beats (label ``N``, source ``auto``)
are the base, and every edit is a new line of an append-only log with its author and
time. An ``undo`` line cancels one earlier line (by default the author's latest that is
still in force), so nothing is ever updated or deleted in place and the history stays.

Ops (``op``, then the fields each uses):

==================  ==============================================
``beat.add``        ``sample``, ``label``
``beat.delete``     ``sample``
``beat.relabel``    ``sample``, ``label``
``segment.add``     ``sample`` (start), ``end_sample``, ``label``
``segment.delete``  ``target`` (the id of the ``segment.add`` line)
``note.add``        ``body``, optional ``sample``
``note.delete``     ``target`` (the id of the ``note.add`` line)
``undo``            ``target`` (a line id)
==================  ==============================================
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from teleconsult.reading.errors import BadRequest, ConflictError
from teleconsult.reading.model import AnnotationEntry

# WFDB beat symbols (MIT-BIH conventions): N normal, L/R bundle branch block beats, A/a/J/S
# supraventricular premature, V ventricular premature, F fusion, e/j/E/n escape, / paced,
# f fusion of paced and normal, Q unclassifiable, ? beat not classified.
BEAT_LABELS = frozenset("N L R B A a J S V r F e j n E / f Q ?".split())
SEGMENT_LABELS = frozenset({"noise", "af", "aflutter", "vt", "svt", "pause", "artifact"})
OPS = frozenset({"beat.add", "beat.delete", "beat.relabel", "segment.add", "segment.delete", "note.add",
                 "note.delete", "undo"})
MAX_NOTE_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Beat:
    sample: int
    label: str
    source: str  # "auto" (the detector) | "edit"
    author_id: int | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    id: int
    start: int
    end: int
    label: str
    author_id: int


@dataclass(frozen=True, slots=True)
class Note:
    id: int
    body: str
    sample: int | None
    author_id: int
    created_at: float


@dataclass
class Annotations:
    beats: dict[int, Beat] = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)
    notes: dict[int, Note] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"beats": [{"sample": b.sample, "label": b.label, "source": b.source, "author_id": b.author_id}
                          for b in sorted(self.beats.values(), key=lambda b: b.sample)],
                "segments": [{"id": s.id, "start": s.start, "end": s.end, "label": s.label, "author_id": s.author_id}
                             for s in sorted(self.segments.values(), key=lambda s: (s.start, s.id))],
                "notes": [{"id": n.id, "body": n.body, "sample": n.sample, "author_id": n.author_id,
                           "created_at": n.created_at} for n in sorted(self.notes.values(), key=lambda n: n.id)]}


def undone_ids(log: Sequence[AnnotationEntry]) -> set[int]:
    """Ids of the lines an ``undo`` cancelled."""
    return {e.target for e in log if e.op == "undo" and e.target is not None}


def fold(auto_beats: Iterable[int], log: Sequence[AnnotationEntry]) -> Annotations:
    """The annotations in force: the detector's beats with every line of the log not undone applied in order.

    Lines that no longer apply (a beat deleted twice, a relabel of a beat an undone line
    added) are skipped, so the fold never fails on a stored log.
    """
    state = Annotations(beats={int(s): Beat(int(s), "N", "auto") for s in auto_beats})
    undone = undone_ids(log)
    for e in log:
        if e.id in undone or e.op == "undo":
            continue
        _apply(state, e, strict=False)
    return state


def check(auto_beats: Iterable[int], log: Sequence[AnnotationEntry], entry: AnnotationEntry,
          n_samples: int) -> None:
    """Whether ``entry`` may be appended to ``log``.

    Raises:
        BadRequest: malformed (unknown op or label, sample out of the recording, …).
        ConflictError: it does not apply to the annotations in force (no beat there, already undone, …).
    """
    if entry.op not in OPS:
        raise BadRequest(f"unknown op {entry.op!r}")
    if entry.op == "undo":
        ids = {e.id: e for e in log}
        if entry.target not in ids:
            raise ConflictError("nothing to undo")
        if entry.target in undone_ids(log) or ids[entry.target].op == "undo":
            raise ConflictError("that line is already undone (or is an undo)")
        return
    for sample in (entry.sample, entry.end_sample):
        if sample is not None and not 0 <= sample < max(n_samples, 1):
            raise BadRequest("sample outside the recording")
    _apply(fold(auto_beats, log), entry, strict=True)


def last_undoable(log: Sequence[AnnotationEntry], author_id: int) -> int | None:
    """The author's latest line still in force (what a plain "undo" cancels)."""
    undone = undone_ids(log)
    for e in reversed(log):
        if e.author_id == author_id and e.op != "undo" and e.id not in undone:
            return e.id
    return None


def _apply(state: Annotations, e: AnnotationEntry, strict: bool) -> None:
    def refuse(reason: str, bad_request: bool = False) -> None:
        if strict:
            raise BadRequest(reason) if bad_request else ConflictError(reason)

    if e.op in ("beat.add", "beat.relabel") and e.label not in BEAT_LABELS:
        return refuse(f"unknown beat label {e.label!r}", bad_request=True)
    if e.op.startswith("beat.") and e.sample is None:
        return refuse("a beat needs a sample", bad_request=True)
    if e.op == "beat.add":
        assert e.sample is not None
        if e.sample in state.beats:
            return refuse("there is a beat at that sample already")
        state.beats[e.sample] = Beat(e.sample, e.label, "edit", e.author_id)
    elif e.op in ("beat.delete", "beat.relabel"):
        assert e.sample is not None
        if e.sample not in state.beats:
            return refuse("no beat at that sample")
        if e.op == "beat.delete":
            del state.beats[e.sample]
        else:
            state.beats[e.sample] = Beat(e.sample, e.label, "edit", e.author_id)
    elif e.op == "segment.add":
        if e.label not in SEGMENT_LABELS:
            return refuse(f"unknown segment label {e.label!r}", bad_request=True)
        if e.sample is None or e.end_sample is None or e.end_sample <= e.sample:
            return refuse("a segment needs sample < end_sample", bad_request=True)
        state.segments[e.id] = Segment(e.id, e.sample, e.end_sample, e.label, e.author_id)
    elif e.op == "note.add":
        if not e.body.strip() or len(e.body) > MAX_NOTE_CHARS:
            return refuse(f"a note needs 1-{MAX_NOTE_CHARS} characters", bad_request=True)
        state.notes[e.id] = Note(e.id, e.body, e.sample, e.author_id, e.created_at)
    elif e.op == "segment.delete":
        if e.target is None or e.target not in state.segments:
            return refuse("no such segment")
        del state.segments[e.target]
    elif e.op == "note.delete":
        if e.target is None or e.target not in state.notes:
            return refuse("no such note")
        del state.notes[e.target]
    return None


__all__ = ["Annotations", "BEAT_LABELS", "Beat", "Note", "OPS", "SEGMENT_LABELS", "Segment", "check", "fold",
           "last_undoable", "undone_ids"]
