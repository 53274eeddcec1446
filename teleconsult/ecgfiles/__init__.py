"""Uploaded ECG files from carts, read into one in-memory form (issue 5, item 1).

``read_ecg(data, filename)`` sniffs the format (WFDB zip, DICOM waveform, HL7 aECG, GE MUSE
XML, Philips XML, SCP-ECG, Contec ECG90A), reads it with the module of that format, derives
the limb leads the file does not store and runs the arrival checks (``assemble``). It
returns an ``ImportedEcg`` or raises an ``EcgImportError``. See docs/ecg-files.md.
"""

from teleconsult.ecgfiles.errors import (
    MESSAGES_ZH,
    EcgFileTooLarge,
    EcgImportError,
    MalformedEcgFile,
    RecordingTooLong,
    RecordingTooShort,
    SamplingRateTooLow,
    UnsupportedEcgFormat,
)
from teleconsult.ecgfiles.model import (
    LEAD_ORDER,
    STANDARD_12,
    DeviceMeasurements,
    EcgFormat,
    ImportedEcg,
    ImportLimits,
    PatientFields,
    Problem,
    Severity,
)
from teleconsult.ecgfiles.reader import DEFAULT_LIMITS, read_ecg, sniff_format

__all__ = [
    "DEFAULT_LIMITS",
    "LEAD_ORDER",
    "MESSAGES_ZH",
    "STANDARD_12",
    "DeviceMeasurements",
    "EcgFileTooLarge",
    "EcgFormat",
    "EcgImportError",
    "ImportLimits",
    "ImportedEcg",
    "MalformedEcgFile",
    "PatientFields",
    "Problem",
    "RecordingTooLong",
    "RecordingTooShort",
    "SamplingRateTooLow",
    "Severity",
    "UnsupportedEcgFormat",
    "read_ecg",
    "sniff_format",
]
