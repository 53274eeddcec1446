"""WFDB annotations of a study (``<record>.atr``): beats with their labels, segments as
rhythm/noise annotations, notes as comments. Read back with ``wfdb.rdann(record, "atr")``.

Segments become a pair of annotations: rhythm episodes a ``+`` with aux ``(AFIB``, ``(AFL``,
``(VT``, ``(SVTA`` or ``(PAUSE`` at the start and ``+`` ``(N`` at the end; noise and
artefact a ``~`` at both ends (aux ``noise``/``artifact`` start, ``clean`` end). Notes are
``"`` comment annotations (at their sample, or 0) carrying the text.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from teleconsult.reading.annotations import Annotations

_RHYTHM_AUX = {"af": "(AFIB", "aflutter": "(AFL", "vt": "(VT", "svt": "(SVTA", "pause": "(PAUSE"}


def annotation_rows(ann: Annotations) -> list[tuple[int, str, str]]:
    """(sample, symbol, aux) in sample order (beats before same-sample rhythm marks)."""
    rows: list[tuple[int, int, str, str]] = []
    for beat in ann.beats.values():
        rows.append((beat.sample, 0, beat.label, ""))
    for seg in ann.segments.values():
        if seg.label in _RHYTHM_AUX:
            rows.append((seg.start, 1, "+", _RHYTHM_AUX[seg.label]))
            rows.append((seg.end, 1, "+", "(N"))
        else:
            rows.append((seg.start, 1, "~", seg.label))
            rows.append((seg.end, 1, "~", "clean"))
    for note in ann.notes.values():
        rows.append((note.sample or 0, 2, '"', note.body.replace("\n", " ").replace("\x00", "")))
    rows.sort()
    return [(sample, symbol, aux) for sample, _, symbol, aux in rows]


def write_annotations(ann: Annotations, record_name: str, fs_hz: float, directory: Path,
                      extension: str = "atr") -> Path | None:
    """Write ``<record_name>.<extension>``; ``None`` when there is nothing to write."""
    import wfdb  # heavy import: only when exporting

    rows = annotation_rows(ann)
    if not rows:
        return None
    wfdb.wrann(record_name, extension, sample=np.array([r[0] for r in rows], dtype=np.int64),
               symbol=[r[1] for r in rows], aux_note=[r[2] for r in rows], fs=fs_hz, write_dir=str(directory))
    return directory / f"{record_name}.{extension}"


__all__ = ["annotation_rows", "write_annotations"]
