"""Export a stored recording to WFDB (.hea + .dat + .qrs beat annotations), sample-exact."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from teleconsult.storage.archive_files import FileArchive
from teleconsult.storage.sql import Recording


def write_wfdb(archive: FileArchive, recording: Recording, directory: Path) -> list[Path]:
    """Write ``<id>.hea``, ``<id>.dat`` (format 16 or 32) and ``<id>.qrs``; returns the paths."""
    import wfdb  # heavy import: only when exporting

    samples = archive.read_samples(recording.id, len(recording.leads), recording.sample_type)
    n_leads = len(recording.leads)
    fmt = "16" if recording.sample_type == "int16" else "32"
    wfdb.wrsamp(
        recording.id, fs=recording.fs_hz, units=["mV"] * n_leads, sig_name=list(recording.leads),
        d_signal=samples.astype(np.int64) if fmt == "32" else samples.astype(np.int16, copy=False),
        fmt=[fmt] * n_leads, adc_gain=[recording.gain] * n_leads, baseline=[0] * n_leads,
        write_dir=str(directory))
    paths = [directory / f"{recording.id}.hea", directory / f"{recording.id}.dat"]
    beats = archive.read_beats(recording.id)
    beats = beats[beats < len(samples)]
    if len(beats):
        wfdb.wrann(recording.id, "qrs", sample=beats.astype(np.int64), symbol=["N"] * len(beats),
                   write_dir=str(directory))
        paths.append(directory / f"{recording.id}.qrs")
    return paths


def wfdb_zip(archive: FileArchive, recording: Recording) -> bytes:
    with tempfile.TemporaryDirectory(prefix="tc-export-") as tmp:
        paths = write_wfdb(archive, recording, Path(tmp))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in paths:
                zf.write(path, arcname=path.name)
        return buffer.getvalue()
