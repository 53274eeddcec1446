"""SCP-ECG (EN 1064 / ISO 11073-91064), decoded by the ``ecgdatakit`` package.

ecgdatakit's reader handles the default and custom Huffman tables, first and second
differences, reference-beat subtraction, the measurement and statement sections and the
CRCs. Before handing it the bytes, ``prepare()`` checks what could make it allocate or loop
without bound (lead lengths against the section sizes and our duration limit), and repairs
two quirks of real files that it refuses, each reported as a problem:

* ``scp_start_sample_zero``: a lead's first sample numbered 0 (the standard counts from 1),
  as in the "ECG Viewer" demo file; read as 1..N.
* ``scp_leads_truncated``: uncompressed rhythm data holding fewer samples than Section 3
  declares, as in files written by the ecg-contec tools, whose 16-bit per-lead byte counts
  overflowed at 65534 bytes; the leads are read as stored (the rest of the recording is
  not in the file).

ecgdatakit parses from a path, so the (repaired) bytes go to a private temporary file that
is deleted at once.
"""

from __future__ import annotations

import binascii
import struct
import tempfile
import warnings
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg, canonical_lead_name
from teleconsult.ecgfiles.common import malformed
from teleconsult.ecgfiles.errors import RecordingTooLong
from teleconsult.ecgfiles.model import DeviceMeasurements, EcgFormat, ImportLimits, Problem, Severity

__all__ = ["looks_like_scp", "read_scp"]

FMT = EcgFormat.SCP_ECG
SECTION_HEADER = 16


def looks_like_scp(data: bytes) -> bool:
    """True when ``data`` starts like an SCP-ECG record (Section 0 right after the preamble)."""
    if len(data) < 32:
        return False
    record_size, = struct.unpack_from("<I", data, 2)
    sec0_id, sec0_len = struct.unpack_from("<HI", data, 8)
    return (sec0_id == 0 and sec0_len >= 26 and (sec0_len - SECTION_HEADER) % 10 == 0
            and record_size >= 6 + sec0_len and data[22:24] == b"\x00\x00"
            and struct.unpack_from("<I", data, 28)[0] == 7)


def _crc(chunk: bytes | bytearray) -> int:
    return binascii.crc_hqx(bytes(chunk), 0xFFFF)


def _sections(data: bytes | bytearray) -> dict[int, tuple[int, int]]:
    """Section id -> (offset of its header, length), from Section 0's pointers."""
    sec0_len, = struct.unpack_from("<I", data, 10)
    found: dict[int, tuple[int, int]] = {}
    for pos in range(6 + SECTION_HEADER, min(6 + sec0_len, len(data)) - 9, 10):
        sid, length, index = struct.unpack_from("<HII", data, pos)
        if length and index and index - 1 + length <= len(data) and length >= SECTION_HEADER:
            found[sid] = (index - 1, length)
    return found


def prepare(data: bytes, limits: ImportLimits) -> tuple[bytes, list[Problem]]:
    """Check the lead table against the data and our limits; repair the two known quirks.

    Raises:
        MalformedEcgFile: No lead table or rhythm section, or lengths that cannot be right.
        RecordingTooLong: The declared recording is longer than ``limits.max_duration_s``.
    """
    problems: list[Problem] = []
    out = bytearray(data)
    sections = _sections(out)
    if 3 not in sections or 6 not in sections:
        raise malformed(FMT, "the lead definition or the rhythm data section is missing")
    s3_off, s3_len = sections[3]
    s6_off, s6_len = sections[6]
    body3 = s3_off + SECTION_HEADER
    n_leads = out[body3] if s3_len > SECTION_HEADER else 0
    if n_leads == 0 or SECTION_HEADER + 2 + 9 * n_leads > s3_len:
        raise malformed(FMT, "the lead definition is empty or cut short")
    if s6_len < SECTION_HEADER + 6 + 2 * n_leads:
        raise malformed(FMT, "the rhythm data section is cut short")
    body6 = s6_off + SECTION_HEADER
    interval_us, = struct.unpack_from("<H", out, body6 + 2)
    if interval_us == 0:
        raise malformed(FMT, "the sample interval is zero")
    fs_hz = 1e6 / interval_us
    sizes = struct.unpack_from(f"<{n_leads}H", out, body6 + 6)
    huffman = 2 in sections
    crc_ok = _crc(out[2:]) == struct.unpack_from("<H", out, 0)[0]
    crc3_ok = _crc(out[s3_off + 2: s3_off + s3_len]) == struct.unpack_from("<H", out, s3_off)[0]
    zero_start = truncated = False
    for k in range(n_leads):
        pos = body3 + 2 + 9 * k
        start, end = struct.unpack_from("<II", out, pos)
        if start == 0 and end > 0:
            start, zero_start = 1, True
            struct.pack_into("<I", out, pos, start)
        count = end - start + 1
        # Huffman codes take at least one bit per sample; raw samples take two bytes.
        stored_max = 8 * sizes[k] if huffman else sizes[k] // 2
        if count <= 0:
            raise malformed(FMT, "a lead has an empty sample range")
        if count > stored_max:
            if huffman or stored_max == 0:
                raise malformed(FMT, "a lead declares more samples than the file holds")
            struct.pack_into("<I", out, pos + 4, start + stored_max - 1)
            count, truncated = stored_max, True
        if count / fs_hz > limits.max_duration_s:
            raise RecordingTooLong(
                f"The recording lasts {count / fs_hz:.0f} s; uploads of at most "
                f"{limits.max_duration_s:g} s are accepted (resting ECGs). Send long-term (Holter) "
                "recordings another way.",
                params={"duration_s": round(count / fs_hz), "max_duration_s": limits.max_duration_s})
    if zero_start:
        problems.append(Problem("scp_start_sample_zero", "The file numbers its first sample 0 "
                                "instead of 1 (a known quirk of some writers); read as usual.",
                                Severity.INFO))
    if truncated:
        problems.append(Problem("scp_leads_truncated", "The file declares more samples per lead "
                                "than it stores (its writer's 16-bit byte counts overflowed); only "
                                "the stored part of the recording could be read."))
    if zero_start or truncated:
        # Keep the CRCs as valid as they were, so that ecgdatakit's check still means something.
        if crc3_ok:
            struct.pack_into("<H", out, s3_off, _crc(out[s3_off + 2: s3_off + s3_len]))
        if crc_ok:
            struct.pack_into("<H", out, 0, _crc(out[2:]))
    return bytes(out), problems


def _parse(data: bytes) -> tuple[Any, list[str]]:
    from ecgdatakit.parsing.parsers.scp_ecg import SCPECGParser  # only SCP uploads need it

    with tempfile.TemporaryDirectory(prefix="tc-scp-") as directory:
        path = Path(directory) / "upload.scp"
        path.write_bytes(data)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            record = SCPECGParser().parse(path)
    return record, [type(w.message).__name__ for w in caught]


def read_scp(data: bytes, limits: ImportLimits) -> RawEcg:
    """Read an SCP-ECG record.

    Raises:
        MalformedEcgFile: ecgdatakit cannot decode it (truncated, bad Huffman data, ...).
        UnsupportedEcgFormat: Parts of the standard ecgdatakit does not read (bimodal
            compression, SCP-ECG v3 long-term data).
        RecordingTooLong: Longer than ``limits.max_duration_s``.
    """
    from ecgdatakit.exceptions import ECGDataKitError, UnsupportedFormatError

    from teleconsult.ecgfiles.errors import UnsupportedEcgFormat

    try:
        prepared, problems = prepare(data, limits)
    except (struct.error, IndexError) as exc:
        raise malformed(FMT, "the section table is cut short", exc) from None
    try:
        record, warning_kinds = _parse(prepared)
    except UnsupportedFormatError:
        raise UnsupportedEcgFormat(
            "This SCP-ECG file uses a compression we do not read (bimodal or long-term data). "
            "Export it from the machine without compression, or as DICOM or XML.",
            params={"format": "SCP-ECG"}) from None
    except (ECGDataKitError, ValueError, OverflowError, MemoryError) as exc:
        raise malformed(FMT, "the ECG data cannot be decoded", exc) from None
    if not record.leads:
        raise malformed(FMT, "no leads")
    raw = RawEcg(FMT, float(record.leads[0].sampling_rate), {}, problems=problems)
    if "ChecksumWarning" in warning_kinds:
        raw.problems.append(Problem("checksum_mismatch", "The file's checksum does not match: the "
                                    "data may be damaged."))
    for lead in record.leads:
        to_mv = {"uV": 1e-3, "mV": 1.0, "nV": 1e-6}.get(lead.resolution_unit, 1e-3)
        samples = np.asarray(lead.samples, dtype=np.float64) * lead.resolution * to_mv
        if lead.sampling_rate != record.leads[0].sampling_rate:
            raise malformed(FMT, "leads have different sampling rates")
        raw.add_lead(canonical_lead_name(lead.label), samples)

    m = record.measurements
    values = {"heart_rate_bpm": m.heart_rate, "rr_ms": m.rr_interval, "pr_ms": m.pr_interval,
              "qrs_ms": m.qrs_duration, "qt_ms": m.qt_interval, "qtc_ms": m.qtc_bazett,
              "p_axis_deg": m.p_axis, "qrs_axis_deg": m.qrs_axis, "t_axis_deg": m.t_axis}
    other = {"qtc_fridericia_ms": m.qtc_fridericia} if m.qtc_fridericia is not None else {}
    raw.measurements = DeviceMeasurements(
        **{k: float(v) for k, v in values.items() if v is not None},
        other=MappingProxyType({k: float(v) for k, v in other.items()}))
    raw.statements = [text for pair in record.interpretation.statements
                      for text in [" ".join(part for part in pair if part).strip()] if text]
    raw.acquired_at = record.recording.date
    device = record.recording.device
    raw.device = " ".join(filter(None, [device.manufacturer, device.model]))
    patient = record.patient
    raw.patient = {"patient_id": patient.patient_id, "first_name": patient.first_name,
                   "last_name": patient.last_name,
                   "birth_date": patient.birth_date.date().isoformat() if patient.birth_date else "",
                   "sex": patient.sex, "age_years": "" if patient.age is None else str(patient.age)}
    return raw
