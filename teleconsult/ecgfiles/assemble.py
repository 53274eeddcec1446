"""From what a format reader found (``RawEcg``) to a checked ``ImportedEcg``.

Every format module returns a ``RawEcg``: leads by canonical name in mV, the sampling rate,
and whatever the file carries besides. ``assemble()`` then does the same for every format:

1. sampling rate: refuse below ``limits.min_fs_hz``, flag below ``limits.flag_fs_hz``;
2. length: leads cut to the shortest (flagged), refuse below ``min_duration_s`` or above
   ``max_duration_s``, flag below ``flag_duration_s``;
3. NaN samples set to 0 mV and flagged;
4. missing limb leads derived (Einthoven / Goldberger, see ``derive_limb_leads``);
5. lead set: the 8 independent leads (I, II, V1-V6) are required for a 12-lead ECG; the
   missing ones are named in a ``missing_leads`` problem (the ECG is still accepted: a
   limb-lead-only tracing still shows the rhythm);
6. flat leads (peak-to-peak under 20 uV over the whole recording) and implausible
   amplitudes (any sample beyond +-20 mV, usually a unit error) are flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from teleconsult.ecgfiles.errors import (
    MalformedEcgFile,
    RecordingTooLong,
    RecordingTooShort,
    SamplingRateTooLow,
)
from teleconsult.ecgfiles.model import (
    INDEPENDENT_LEADS,
    LEAD_ORDER,
    DeviceMeasurements,
    FORMAT_NAMES,
    EcgFormat,
    ImportedEcg,
    ImportLimits,
    PatientFields,
    Problem,
    Severity,
)

__all__ = ["RawEcg", "assemble", "canonical_lead_name", "derive_limb_leads"]

FLAT_PTP_MV = 0.02
MAX_PLAUSIBLE_MV = 20.0

Lead = NDArray[np.float64]


@dataclass
class RawEcg:
    """What a format reader found, before the common checks.

    ``leads`` maps canonical lead names (see ``canonical_lead_name``) to mV arrays.
    """

    source_format: EcgFormat
    fs_hz: float
    leads: dict[str, Lead]
    acquired_at: datetime | None = None
    device: str = ""
    measurements: DeviceMeasurements = field(default_factory=DeviceMeasurements)
    statements: list[str] = field(default_factory=list)
    patient: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def add_lead(self, name: str | None, samples: Lead) -> None:
        """Store a lead under its canonical name; unknown names and duplicates are flagged."""
        if name is None or name not in LEAD_ORDER:
            self.problems.append(Problem("ignored_lead", "A channel that is not an ECG lead of the "
                                         "12/18-lead set was ignored.", Severity.INFO))
        elif name in self.leads:
            self.problems.append(Problem("duplicate_lead", f"Lead {name} appears twice; the first "
                                         "one was kept.", Severity.WARNING, (name,)))
        else:
            self.leads[name] = np.asarray(samples, dtype=np.float64)


_ALIASES = {name.upper(): name for name in LEAD_ORDER}
_ALIASES.update({"D1": "I", "D2": "II", "D3": "III", "DI": "I", "DII": "II", "DIII": "III"})


def canonical_lead_name(label: str) -> str | None:
    """Map a file's lead label to our name: ``"MDC_ECG_LEAD_AVR"``, ``"Lead aVR"``,
    ``"AVR"`` and ``"aVR"`` all give ``"aVR"``; ``"Lead I (Einthoven)"`` gives ``"I"``.

    Returns None for labels that are not one of the 18 leads.
    """
    text = label.strip()
    text = re.sub(r"\s*\(.*\)\s*$", "", text)            # "Lead I (Einthoven)"
    text = re.sub(r"^(MDC_ECG_LEAD_|LEAD[\s_-]*)", "", text, flags=re.IGNORECASE)
    return _ALIASES.get(text.strip().upper())


def derive_limb_leads(leads: dict[str, Lead]) -> list[str]:
    """Fill in the limb leads a file does not store, from two it does. Mutates ``leads``.

    With I and II (or II and III, or I and III, from which the third follows by Einthoven's
    law III = II - I), the augmented leads follow from Goldberger's definitions:
    aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2.

    Returns:
        The names of the leads computed, in ``LEAD_ORDER`` order.
    """
    derived: list[str] = []
    if "I" not in leads and "II" in leads and "III" in leads:
        leads["I"] = leads["II"] - leads["III"]
        derived.append("I")
    if "II" not in leads and "I" in leads and "III" in leads:
        leads["II"] = leads["I"] + leads["III"]
        derived.append("II")
    if "I" in leads and "II" in leads:
        lead_i, lead_ii = leads["I"], leads["II"]
        formulas = {
            "III": lead_ii - lead_i,
            "aVR": -(lead_i + lead_ii) / 2.0,
            "aVL": lead_i - lead_ii / 2.0,
            "aVF": lead_ii - lead_i / 2.0,
        }
        for name, values in formulas.items():
            if name not in leads:
                leads[name] = values
                derived.append(name)
    return [name for name in LEAD_ORDER if name in derived]


def leads_present(raw: RawEcg) -> bool:
    """True when at least one lead holds at least one sample."""
    return any(len(samples) for samples in raw.leads.values())


def assemble(raw: RawEcg, limits: ImportLimits) -> ImportedEcg:
    """Run the arrival checks on ``raw`` and build the ``ImportedEcg``.

    Raises:
        SamplingRateTooLow: ``fs_hz`` below ``limits.min_fs_hz``.
        RecordingTooShort: shorter than ``limits.min_duration_s``.
        RecordingTooLong: longer than ``limits.max_duration_s``.
    """
    problems = list(raw.problems)
    fs_hz = float(raw.fs_hz)
    if not leads_present(raw):
        raise MalformedEcgFile(f"The {FORMAT_NAMES[raw.source_format]} file holds no ECG lead we can "
                               "read. Export the ECG again from the machine and upload it.",
                               params={"format": FORMAT_NAMES[raw.source_format]})
    if not np.isfinite(fs_hz) or fs_hz <= 0:
        raise MalformedEcgFile(f"The {FORMAT_NAMES[raw.source_format]} file states no valid sampling "
                               "rate. Export the ECG again from the machine and upload it.",
                               params={"format": FORMAT_NAMES[raw.source_format]})
    if fs_hz < limits.min_fs_hz:
        raise SamplingRateTooLow(
            f"The sampling rate is {fs_hz:g} Hz; at least {limits.min_fs_hz:g} Hz is needed to "
            "read the QRS complex reliably. Set the ECG machine to 500 Hz or more and record again.",
            params={"fs_hz": round(fs_hz, 3), "min_fs_hz": limits.min_fs_hz})
    if fs_hz < limits.flag_fs_hz:
        problems.append(Problem(
            "low_sampling_rate", f"Sampling rate {fs_hz:g} Hz is below the {limits.flag_fs_hz:g} Hz "
            "recommended for diagnostic ECGs: QRS duration and pacemaker spikes may be inaccurate."))

    leads = dict(raw.leads)
    lengths = {len(samples) for samples in leads.values()}
    n = min(lengths)
    if len(lengths) > 1:
        problems.append(Problem("unequal_lead_lengths", f"Leads had different lengths; all were cut "
                                f"to the shortest ({n} samples).", Severity.INFO))
        leads = {name: samples[:n] for name, samples in leads.items()}
    duration_s = n / fs_hz
    if duration_s < limits.min_duration_s:
        raise RecordingTooShort(
            f"The recording lasts {duration_s:.2f} s; at least {limits.min_duration_s:g} s is needed. "
            "Record the ECG again for the full 10 seconds.",
            params={"duration_s": round(duration_s, 2), "min_duration_s": limits.min_duration_s})
    if duration_s > limits.max_duration_s:
        raise RecordingTooLong(
            f"The recording lasts {duration_s:.0f} s; uploads of at most {limits.max_duration_s:g} s "
            "are accepted (resting ECGs). Send long-term (Holter) recordings another way.",
            params={"duration_s": round(duration_s), "max_duration_s": limits.max_duration_s})
    if duration_s < limits.flag_duration_s:
        problems.append(Problem("short_recording", f"The recording lasts {duration_s:.1f} s, shorter "
                                f"than the usual {limits.flag_duration_s:g} s."))

    nan_leads = tuple(name for name in LEAD_ORDER if name in leads and np.isnan(leads[name]).any())
    for name in nan_leads:
        leads[name] = np.nan_to_num(leads[name], nan=0.0)
    if nan_leads:
        problems.append(Problem("missing_samples", "Some samples were missing (not a number) and "
                                "were set to 0 mV.", Severity.WARNING, nan_leads))

    derived = derive_limb_leads(leads)
    if derived:
        problems.append(Problem("derived_leads", f"Leads {', '.join(derived)} were computed from the "
                                "stored limb leads.", Severity.INFO, tuple(derived)))
    missing = tuple(name for name in INDEPENDENT_LEADS if name not in leads)
    if missing:
        problems.append(Problem("missing_leads", f"Missing lead(s) {', '.join(missing)}: a 12-lead "
                                "ECG needs I, II and V1-V6. Check the electrodes and record again.",
                                Severity.WARNING, missing))

    order = tuple(name for name in LEAD_ORDER if name in leads)
    samples = np.empty((n, len(order)), dtype=np.float32)
    for k, name in enumerate(order):
        samples[:, k] = leads[name]
    samples.setflags(write=False)

    flat = tuple(name for k, name in enumerate(order) if float(np.ptp(samples[:, k])) < FLAT_PTP_MV)
    if flat:
        problems.append(Problem("flat_leads", f"Lead(s) {', '.join(flat)} show no signal (flat line): "
                                "an electrode may be off.", Severity.WARNING, flat))
    wild = tuple(name for k, name in enumerate(order)
                 if float(np.abs(samples[:, k]).max()) > MAX_PLAUSIBLE_MV)
    if wild:
        problems.append(Problem("implausible_amplitude", f"Lead(s) {', '.join(wild)} exceed "
                                f"{MAX_PLAUSIBLE_MV:g} mV: the file's amplitude units may be wrong.",
                                Severity.WARNING, wild))

    return ImportedEcg(
        samples=samples, leads=order, fs_hz=fs_hz, source_format=raw.source_format,
        acquired_at=raw.acquired_at, device=raw.device, measurements=raw.measurements,
        statements=tuple(raw.statements),
        patient=PatientFields(MappingProxyType({k: v for k, v in raw.patient.items() if v})),
        derived_leads=tuple(derived), problems=tuple(problems))
