"""GE MUSE RestingECG XML: base64 little-endian int16 leads, 8 stored (I, II, V1-V6).

Read: the Rhythm waveform (the Median one is the representative beat), each lead's
``LeadAmplitudeUnitsPerBit`` (uV) and ``LeadDataCRC32`` (checked), ``SampleBase`` x
10^``SampleExponent`` as the rate, ``RestingECGMeasurements``, ``Diagnosis`` statements,
``AcquisitionDate``/``AcquisitionTime``, ``AcquisitionDevice``; ``PatientDemographics`` go
to the sensitive patient fields. III, aVR, aVL, aVF are derived by ``assemble``.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from types import MappingProxyType

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg, canonical_lead_name
from teleconsult.ecgfiles.common import Element, child_text, children, malformed, parse_datetime, to_float
from teleconsult.ecgfiles.model import DeviceMeasurements, EcgFormat, Problem

__all__ = ["read_muse"]

FMT = EcgFormat.GE_MUSE_XML
_UNITS_MV = {"MICROVOLTS": 1e-3, "MILLIVOLTS": 1.0}
_MEASUREMENTS = {
    "VentricularRate": "heart_rate_bpm", "PRInterval": "pr_ms", "QRSDuration": "qrs_ms",
    "QTInterval": "qt_ms", "QTCorrected": "qtc_ms", "PAxis": "p_axis_deg",
    "RAxis": "qrs_axis_deg", "TAxis": "t_axis_deg",
}


def read_muse(root: Element) -> RawEcg:
    """Read a parsed ``<RestingECG>`` document.

    Raises:
        MalformedEcgFile: No rhythm waveform, bad base64, or a lead shorter than stated.
    """
    waveforms = children(root, "Waveform")
    rhythm = next((w for w in waveforms if child_text(w, "WaveformType").lower() == "rhythm"), None)
    if rhythm is None:
        raise malformed(FMT, "no rhythm waveform")
    base = to_float(child_text(rhythm, "SampleBase"))
    exponent = to_float(child_text(rhythm, "SampleExponent")) or 0.0
    if base is None:
        raise malformed(FMT, "no sampling rate")
    raw = RawEcg(FMT, base * 10.0 ** exponent, {})
    bad_crc: list[str] = []
    for lead in children(rhythm, "LeadData"):
        label = child_text(lead, "LeadID")
        name = canonical_lead_name(label)
        try:
            data = base64.b64decode(child_text(lead, "WaveFormData"), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise malformed(FMT, "a lead's waveform data is not valid base64", exc) from None
        count = to_float(child_text(lead, "LeadSampleCountTotal"))
        if count is not None and len(data) < 2 * int(count):
            raise malformed(FMT, f"lead {name or '?'} holds {len(data) // 2} of {int(count)} samples")
        if len(data) % 2:
            data = data[:-1]
        crc = child_text(lead, "LeadDataCRC32")
        if crc.isdigit() and zlib.crc32(data) != int(crc):
            bad_crc.append(name or "?")
        uv_per_bit = to_float(child_text(lead, "LeadAmplitudeUnitsPerBit")) or 4.88
        unit = _UNITS_MV.get(child_text(lead, "LeadAmplitudeUnits").upper(), 1e-3)
        samples = np.frombuffer(data, dtype="<i2").astype(np.float64) * uv_per_bit * unit
        if count is not None:
            samples = samples[: int(count)]
        raw.add_lead(name, samples)
    if bad_crc:
        raw.problems.append(Problem("checksum_mismatch", f"The checksum of lead(s) {', '.join(bad_crc)} "
                                    "does not match: the data may be damaged.", leads=tuple(bad_crc)))

    values = {}
    other: dict[str, float] = {}
    for element in children(root, "RestingECGMeasurements")[:1]:
        for item in element:
            value = to_float(item.text)
            if value is None:
                continue
            if item.tag in _MEASUREMENTS:
                values[_MEASUREMENTS[item.tag]] = value
            else:
                other[item.tag] = value
    raw.measurements = DeviceMeasurements(**values, other=MappingProxyType(other))
    for diagnosis in children(root, "Diagnosis")[:1]:
        raw.statements = [text for stmt in children(diagnosis, "DiagnosisStatement")
                          if (text := child_text(stmt, "StmtText"))]
    tests = children(root, "TestDemographics")
    test = tests[0] if tests else None
    raw.acquired_at = parse_datetime(f"{child_text(test, 'AcquisitionDate')} "
                                     f"{child_text(test, 'AcquisitionTime')}",
                                     "%m-%d-%Y %H:%M:%S", "%m-%d-%Y %H:%M")
    raw.device = " ".join(filter(None, ["GE", child_text(test, "AcquisitionDevice")]))
    for demographics in children(root, "PatientDemographics")[:1]:
        raw.patient = {item.tag: (item.text or "").strip() for item in demographics}
    return raw

