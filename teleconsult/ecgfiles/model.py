"""The one in-memory form every uploaded ECG file becomes: ``ImportedEcg``.

Samples are float32 millivolts, shape ``(n_samples, n_leads)``, leads in the standard order
``I, II, III, aVR, aVL, aVF, V1..V6`` and then, when present, ``V7, V8, V9, V3R, V4R, V5R``.
The file's patient fields are kept apart in ``PatientFields``, whose ``repr`` shows no value:
they must never reach a log line or an exception message.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EXTRA_LEADS",
    "FORMAT_NAMES",
    "INDEPENDENT_LEADS",
    "LEAD_ORDER",
    "STANDARD_12",
    "DeviceMeasurements",
    "EcgFormat",
    "ImportLimits",
    "ImportedEcg",
    "PatientFields",
    "Problem",
    "Severity",
]

STANDARD_12: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF",
                                "V1", "V2", "V3", "V4", "V5", "V6")
EXTRA_LEADS: tuple[str, ...] = ("V7", "V8", "V9", "V3R", "V4R", "V5R")
LEAD_ORDER: tuple[str, ...] = STANDARD_12 + EXTRA_LEADS
# The eight leads a 12-lead ECG cannot do without: III, aVR, aVL and aVF follow from I and II.
INDEPENDENT_LEADS: tuple[str, ...] = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")

MiB = 1024 * 1024


class EcgFormat(enum.Enum):
    """The file format an ECG arrived in."""

    WFDB = "wfdb"
    DICOM = "dicom"
    HL7_AECG = "hl7_aecg"
    GE_MUSE_XML = "ge_muse_xml"
    PHILIPS_SIERRA_XML = "philips_sierra_xml"
    SCP_ECG = "scp_ecg"
    CONTEC_ECG90A = "contec_ecg90a"


class Severity(enum.Enum):
    """How much a problem found on arrival matters to the reader."""

    INFO = "info"          # worth knowing, nothing to do (e.g. leads were derived)
    WARNING = "warning"    # the reader should look (low rate, flat lead, missing leads)


FORMAT_NAMES: Mapping[EcgFormat, str] = MappingProxyType({
    EcgFormat.WFDB: "WFDB",
    EcgFormat.DICOM: "DICOM",
    EcgFormat.HL7_AECG: "HL7 aECG",
    EcgFormat.GE_MUSE_XML: "GE MUSE XML",
    EcgFormat.PHILIPS_SIERRA_XML: "Philips XML",
    EcgFormat.SCP_ECG: "SCP-ECG",
    EcgFormat.CONTEC_ECG90A: "Contec ECG90A",
})


@dataclass(frozen=True)
class Problem:
    """Something found on arrival that did not stop the import.

    Attributes:
        code: Stable key the UI translates, e.g. ``"low_sampling_rate"``.
        message: English text for the sender and the reader.
        severity: INFO or WARNING.
        leads: The leads concerned, if any.
    """

    code: str
    message: str
    severity: Severity = Severity.WARNING
    leads: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeviceMeasurements:
    """Global measurements the ECG cart (or its over-reader) stored in the file.

    Every field is None when the file does not carry it. ``other`` keeps the remaining
    numeric measurements under the file's own names (units in the key where known).
    """

    heart_rate_bpm: float | None = None
    rr_ms: float | None = None
    pr_ms: float | None = None
    p_duration_ms: float | None = None
    qrs_ms: float | None = None
    qt_ms: float | None = None
    qtc_ms: float | None = None
    p_axis_deg: float | None = None
    qrs_axis_deg: float | None = None
    t_axis_deg: float | None = None
    other: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))

    def is_empty(self) -> bool:
        """True when the file carried no measurement at all."""
        return not self.other and all(
            getattr(self, name) is None for name in self.__dataclass_fields__ if name != "other")


@dataclass(frozen=True, repr=False)
class PatientFields:
    """Patient fields as the file carries them (name, id, birth date, sex, age, ...).

    Sensitive: ``repr``/``str`` show only which keys are present, never a value. Do not log
    ``fields`` and do not put any of it in an exception message.
    """

    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def __repr__(self) -> str:
        return f"PatientFields(<{len(self.fields)} sensitive fields: {', '.join(sorted(self.fields))}>)"

    __str__ = __repr__

    def get(self, key: str) -> str | None:
        """One field's value, or None when the file does not carry it."""
        return self.fields.get(key)


@dataclass(frozen=True, eq=False)
class ImportedEcg:
    """One uploaded ECG, read and checked.

    Attributes:
        samples: float32 mV, shape (n_samples, n_leads), read-only.
        leads: Lead names, in ``LEAD_ORDER`` order; ``samples[:, k]`` is ``leads[k]``.
        fs_hz: Sampling rate.
        source_format: The format the file was in.
        acquired_at: Acquisition time as the file states it (naive: carts rarely say
            their time zone), or None.
        device: Manufacturer / model as the file states them, or "".
        measurements: Device measurements carried by the file.
        statements: Device or over-reader interpretation statements, in file order.
        patient: Sensitive patient fields, kept apart.
        derived_leads: Leads computed here from stored ones (e.g. III = II - I).
        problems: What was found on arrival and did not stop the import.
    """

    samples: NDArray[np.float32]
    leads: tuple[str, ...]
    fs_hz: float
    source_format: EcgFormat
    acquired_at: datetime | None = None
    device: str = ""
    measurements: DeviceMeasurements = field(default_factory=DeviceMeasurements)
    statements: tuple[str, ...] = ()
    patient: PatientFields = field(default_factory=PatientFields, repr=False)
    derived_leads: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def n_samples(self) -> int:
        """Samples per lead."""
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.fs_hz

    def lead(self, name: str) -> NDArray[np.float32]:
        """The samples of one lead (mV).

        Raises:
            KeyError: The ECG has no such lead.
        """
        try:
            column = self.leads.index(name)
        except ValueError:
            raise KeyError(name) from None
        return self.samples[:, column]

    def problem_codes(self) -> tuple[str, ...]:
        """The codes of ``problems``, in order."""
        return tuple(problem.code for problem in self.problems)


@dataclass(frozen=True)
class ImportLimits:
    """What an upload must satisfy; validated on construction.

    Attributes:
        max_bytes: Refuse uploads (and unpacked zip contents) larger than this.
        min_fs_hz: Refuse sampling rates below this (default 250 Hz: QRS detail is lost).
        flag_fs_hz: Flag sampling rates below this (default 500 Hz, the diagnostic norm).
        min_duration_s: Refuse recordings shorter than this (default 2.5 s, one column
            of the 3x4 layout; less cannot show a beat in every lead group).
        flag_duration_s: Flag recordings shorter than this (default 10 s, a resting ECG).
        max_duration_s: Refuse recordings longer than this (default 300 s; Holter
            recordings are not resting ECGs and would hold a worker for long).
    """

    max_bytes: int = 20 * MiB
    min_fs_hz: float = 250.0
    flag_fs_hz: float = 500.0
    min_duration_s: float = 2.5
    flag_duration_s: float = 10.0
    max_duration_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")
        if not 0 < self.min_fs_hz <= self.flag_fs_hz:
            raise ValueError(f"need 0 < min_fs_hz <= flag_fs_hz, got {self.min_fs_hz}, {self.flag_fs_hz}")
        if not 0 < self.min_duration_s <= self.flag_duration_s <= self.max_duration_s:
            raise ValueError("need 0 < min_duration_s <= flag_duration_s <= max_duration_s, got "
                             f"{self.min_duration_s}, {self.flag_duration_s}, {self.max_duration_s}")
