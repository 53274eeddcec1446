"""Contec ECG90A ``.ECG`` files (a Chinese handheld 12-lead cart), proprietary binary.

Layout, worked out from the three sample files and checked sample for sample against the
SCP-ECG file the ecg-contec tools made from 0000050.ECG (``docs/ecg-files.md``):

* bytes 0-9: record number, ASCII, NUL-padded ("0000050");
* bytes 10-29: acquisition time, ASCII "YYYY-MM-DD HH:MM:SS", NUL-terminated;
* bytes 30-39: patient name, NUL-padded (NUL when not entered);
* byte 40: sex (0xFF when not entered), 41: age in years, 42: weight in kg;
* from byte 43: frames of 8 little-endian 16-bit words, leads II, III, V1-V6, 800 Hz; the
  low 12 bits are the sample, offset 2048, 5 uV per unit; the high 4 bits are flags, 0 for
  a good sample and 6 when that lead's electrode is off;
* 37 trailing bytes (meaning unknown, mostly zero).

A lead whose electrode is flagged off for the whole recording is dropped (and named in an
``electrodes_off`` problem); I, aVR, aVL, aVF are derived by ``assemble``.
"""

from __future__ import annotations

import re

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg
from teleconsult.ecgfiles.common import malformed, parse_datetime
from teleconsult.ecgfiles.model import EcgFormat, Problem

__all__ = ["FS_HZ", "looks_like_contec", "read_contec"]

FMT = EcgFormat.CONTEC_ECG90A
HEADER_BYTES = 43
TRAILER_BYTES = 37
FRAME_LEADS = ("II", "III", "V1", "V2", "V3", "V4", "V5", "V6")
FRAME_BYTES = 2 * len(FRAME_LEADS)
FS_HZ = 800.0
UV_PER_UNIT = 5.0
OFFSET = 2048
_HEADER = re.compile(rb"^\d{7}\x00{3}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\x00")


def looks_like_contec(data: bytes) -> bool:
    """True when ``data`` starts with a Contec ECG90A header."""
    return _HEADER.match(data[:HEADER_BYTES]) is not None


def read_contec(data: bytes) -> RawEcg:
    """Read a Contec ECG90A ``.ECG`` file.

    Raises:
        MalformedEcgFile: Too short, or the frames do not fill the file.
    """
    body = len(data) - HEADER_BYTES - TRAILER_BYTES
    if not looks_like_contec(data) or body < FRAME_BYTES:
        raise malformed(FMT, "the file is too short to hold an ECG")
    raw = RawEcg(FMT, FS_HZ, {})
    if body % FRAME_BYTES:
        raw.problems.append(Problem("trailing_bytes", "The file does not end on a whole sample "
                                    "frame; the last partial frame was ignored."))
    frames = body // FRAME_BYTES
    words = np.frombuffer(data, dtype="<u2", count=frames * len(FRAME_LEADS),
                          offset=HEADER_BYTES).reshape(frames, len(FRAME_LEADS))
    flags = words >> 12
    values = ((words & 0x0FFF).astype(np.float64) - OFFSET) * UV_PER_UNIT * 1e-3
    off: list[str] = []
    partly_off: list[str] = []
    for k, name in enumerate(FRAME_LEADS):
        lead_flags = flags[:, k]
        if np.all(lead_flags != 0):
            off.append(name)
            continue
        if np.any(lead_flags != 0):
            partly_off.append(name)
        raw.add_lead(name, values[:, k])
    if off:
        raw.problems.append(Problem("electrodes_off", f"The ECG machine marked the electrode(s) for "
                                    f"{', '.join(off)} as off for the whole recording; these leads "
                                    "hold no signal.", leads=tuple(off)))
    if partly_off:
        raw.problems.append(Problem("electrodes_off_partly", f"The ECG machine marked the electrode(s) "
                                    f"for {', '.join(partly_off)} as off for part of the recording.",
                                    leads=tuple(partly_off)))
    raw.acquired_at = parse_datetime(data[10:29].decode("ascii", "replace"), "%Y-%m-%d %H:%M:%S")
    raw.device = "Contec ECG90A"
    name_parts = data[30:40].split(b"\x00")
    name_text = next((part for part in name_parts if part), b"").decode("gb18030", "replace")
    raw.patient = {"record_number": data[0:10].rstrip(b"\x00").decode("ascii", "replace"),
                   "name": name_text,
                   "sex": "" if data[40] == 0xFF else str(data[40]),
                   "age_years": str(data[41]) if data[41] else "",
                   "weight_kg": str(data[42]) if data[42] else ""}
    return raw
