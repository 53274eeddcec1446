"""DICOM waveforms with pydicom: 12-Lead ECG, General ECG and Hemodynamic Waveform Storage.

The rhythm multiplex group is used (label RHYTHM, else the longest group that is not a
median beat). ``Dataset.waveform_array`` applies each channel's sensitivity, correction
factor and baseline; the channel's sensitivity unit (uV, mV, V) gives the scale to mV.
Lead names come from the channel source code (SCP-ECG ``5.6.3-9-N`` or MDC ``2:N``), else
from its meaning ("Lead I (Einthoven)"). Waveform annotations give the statements (free
text) and the measurements (coded numeric values, e.g. PR Interval 156 ms).
"""

from __future__ import annotations

import io
from types import MappingProxyType
from typing import Any

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg, canonical_lead_name
from teleconsult.ecgfiles.common import malformed, parse_datetime
from teleconsult.ecgfiles.errors import UnsupportedEcgFormat
from teleconsult.ecgfiles.model import DeviceMeasurements, EcgFormat, Problem

__all__ = ["read_dicom"]

FMT = EcgFormat.DICOM
ECG_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": "12-lead ECG",
    "1.2.840.10008.5.1.4.1.1.9.1.2": "General ECG",
    "1.2.840.10008.5.1.4.1.1.9.1.3": "Ambulatory ECG",
    "1.2.840.10008.5.1.4.1.1.9.2.1": "Hemodynamic",
}
# SCP-ECG lead codes (EN 1064 Table 14) as used in DICOM "5.6.3-9-N".
SCP_LEADS = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7",
             11: "V3R", 12: "V4R", 13: "V5R", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
             66: "V8", 67: "V9"}
# ISO/IEEE 11073 MDC lead codes as used in DICOM "2:N".
MDC_LEADS = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7",
             11: "V3R", 12: "V4R", 13: "V5R", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
             66: "V8", 67: "V9"}
_TO_MV = {"uV": 1e-3, "mV": 1.0, "V": 1e3, "nV": 1e-6}
# (code value) -> field, for SCPECG, LOINC and MDC codes seen in ECG waveform annotations.
_MEASUREMENTS = {
    "5.10.2.5-1": "heart_rate_bpm", "8867-4": "heart_rate_bpm", "2:16770": "heart_rate_bpm",
    "5.10.2.1-3": "rr_ms", "5.13.5-7": "pr_ms", "5.13.5-5": "p_duration_ms",
    "5.13.5-9": "qrs_ms", "5.13.5-11": "qt_ms", "5.10.2.5-5": "qtc_ms",
    "5.10.3-11": "p_axis_deg", "5.10.3-13": "qrs_axis_deg", "5.10.3-15": "t_axis_deg",
}


def _lead_name(channel: Any) -> str | None:
    source = channel.ChannelSourceSequence[0]
    code = str(source.get("CodeValue", ""))
    scheme = str(source.get("CodingSchemeDesignator", ""))
    if code.startswith("5.6.3-9-") and code[8:].isdigit():
        return SCP_LEADS.get(int(code[8:]))
    if scheme == "MDC" and code.startswith("2:") and code[2:].isdigit():
        return MDC_LEADS.get(int(code[2:]))
    return canonical_lead_name(str(source.get("CodeMeaning", "")))


def _rhythm_group(dataset: Any) -> int:
    groups = list(dataset.WaveformSequence)
    labels = [str(g.get("MultiplexGroupLabel", "")).upper() for g in groups]
    if "RHYTHM" in labels:
        return labels.index("RHYTHM")
    candidates = [(int(g.NumberOfWaveformSamples), k) for k, g in enumerate(groups)
                  if "MEDIAN" not in labels[k]]
    if not candidates:
        raise malformed(FMT, "no rhythm waveform")
    return max(candidates)[1]


def read_dicom(data: bytes) -> RawEcg:
    """Read a DICOM waveform file.

    Raises:
        MalformedEcgFile: Not a waveform object, or the waveform data cannot be decoded.
        UnsupportedEcgFormat: A DICOM object of another kind (an image, say).
    """
    import pydicom  # imported here: only DICOM uploads need it
    from pydicom.errors import InvalidDicomError

    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
        sop_class = str(dataset.get("SOPClassUID", ""))
        if "WaveformSequence" not in dataset:
            raise UnsupportedEcgFormat(
                "This DICOM file holds no waveform (it may be an image or a report). Export the "
                "ECG from the machine as a DICOM 12-lead or general ECG waveform.",
                params={"format": "DICOM"})
        index = _rhythm_group(dataset)
        group = dataset.WaveformSequence[index]
        fs_hz = float(group.SamplingFrequency)
        array = np.asarray(dataset.waveform_array(index), dtype=np.float64)
        channels = list(group.ChannelDefinitionSequence)
    except (InvalidDicomError, EOFError, ValueError, KeyError, IndexError, AttributeError,
            TypeError, OverflowError, MemoryError) as exc:
        raise malformed(FMT, "the waveform data cannot be read", exc) from None
    if array.ndim != 2 or array.shape[1] != len(channels):
        raise malformed(FMT, "the channel count does not match the data")
    raw = RawEcg(FMT, fs_hz, {})
    for k, channel in enumerate(channels):
        units = channel.get("ChannelSensitivityUnitsSequence")
        unit = str(units[0].get("CodeValue", "uV")) if units else "uV"
        raw.add_lead(_lead_name(channel), array[:, k] * _TO_MV.get(unit, 1e-3))
    if sop_class not in ECG_SOP_CLASSES:
        raw.problems.append(Problem("unusual_dicom_class", "The DICOM object is not an ECG "
                                    "waveform class; its channels were read as ECG leads."))

    values: dict[str, float] = {}
    other: dict[str, float] = {}
    for annotation in dataset.get("WaveformAnnotationSequence", []):
        text = str(annotation.get("UnformattedTextValue", "") or "").strip()
        if text:
            if text not in raw.statements:
                raw.statements.append(text)
            continue
        concept = annotation.get("ConceptNameCodeSequence")
        number = annotation.get("NumericValue")
        if not concept or number is None or number == "":
            continue
        if not isinstance(number, str | int | float):
            number = number[0] if len(number) else ""
        try:
            value = float(number)
        except (TypeError, ValueError):
            continue
        code = str(concept[0].get("CodeValue", ""))
        field_name = _MEASUREMENTS.get(code)
        if field_name is not None:
            values.setdefault(field_name, value)
        else:
            other.setdefault(str(concept[0].get("CodeMeaning", code)), value)
    raw.measurements = DeviceMeasurements(**values, other=MappingProxyType(other))
    stamp = str(dataset.get("AcquisitionDateTime", "") or "")
    if not stamp:
        stamp = f"{dataset.get('ContentDate', '')}{dataset.get('ContentTime', '')}"
    raw.acquired_at = parse_datetime(stamp.split("+")[0].split("-")[0],
                                     "%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d")
    raw.device = " ".join(filter(None, [str(dataset.get("Manufacturer", "") or ""),
                                        str(dataset.get("ManufacturerModelName", "") or "")])).strip()
    for keyword in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge",
                    "PatientSize", "PatientWeight"):
        value = dataset.get(keyword)
        if value not in (None, ""):
            raw.patient[keyword] = str(value)
    return raw
