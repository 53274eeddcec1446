"""FHIR R4 export of a signed report: a Bundle (type ``collection``) holding one
DiagnosticReport, an Observation per measurement and one Observation with the waveform as
SampledData (one component per lead). Pure: takes the records and the samples, returns JSON.

Codes: LOINC 11524-6 "EKG study" for the report; LOINC codes for the measurements; the
IEEE 11073 MDC lead codes (system ``urn:oid:2.16.840.1.113883.6.24``) for the waveform's
leads; statements as ``conclusionCode`` with our SCP-ECG code system plus the aECG (MDC)
code a statement carries. Tested against the ``fhir.resources`` R4B models (R4B keeps R4's
DiagnosticReport, Observation and Bundle).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import numpy as np

from teleconsult.reading.catalogue import catalogue
from teleconsult.reading.model import ReportVersion, Study

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
MDC = "urn:oid:2.16.840.1.113883.6.24"
SCP_SYSTEM = "urn:teleconsult:scp-ecg-statement"  # SCP-ECG statement codes as curated in statements.json
STUDY_SYSTEM = "urn:teleconsult:study"
PATIENT_SYSTEM = "urn:teleconsult:patient-ref"
_NS = uuid.UUID("6f1c8a52-2c7e-4f0e-9a57-3d1f8d0b7c11")

# measurement key (as dsp.measurements and the PDF name them) -> (LOINC code, display, UCUM unit)
MEASUREMENTS: dict[str, tuple[str, str, str]] = {
    "heart_rate_bpm": ("8867-4", "Heart rate", "/min"),
    "pr_ms": ("8625-6", "P-R Interval", "ms"),
    "qrs_ms": ("8633-2", "QRS duration", "ms"),
    "qt_ms": ("8634-0", "Q-T Interval", "ms"),
    "qtc_bazett_ms": ("8636-5", "Q-T Interval corrected", "ms"),
    "qtc_fridericia_ms": ("8636-5", "Q-T Interval corrected", "ms"),
    "axis_deg": ("8632-0", "QRS axis", "deg"),
}
# MDC_ECG_LEAD_* codes (ISO/IEEE 11073-10101), as MDC_ECG_ELEC_POTL_* = 131328 + lead code.
_LEAD_CODES = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8, "III": 61, "aVR": 62,
               "aVL": 63, "aVF": 64}


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="milliseconds")


def _urn(*parts: object) -> str:
    return "urn:uuid:" + str(uuid.uuid5(_NS, "/".join(str(p) for p in parts)))


def lead_coding(lead: str) -> dict[str, Any]:
    code = _LEAD_CODES.get(lead)
    if code is None:
        return {"text": lead}
    return {"coding": [{"system": MDC, "code": str(131328 + code), "display": f"MDC_ECG_ELEC_POTL_{lead.upper()}"}],
            "text": lead}


def bundle(study: Study, report: ReportVersion, *, recording_started_at: float, patient_ref: str,
           reader_name: str, samples: np.ndarray | None, fs_hz: float, gain: float,
           leads: tuple[str, ...]) -> dict[str, Any]:
    """The Bundle for ``report`` (a signed version) of ``study``.

    ``samples`` is an ``(n, len(leads))`` integer array in ADC units (``gain`` units per mV),
    typically the first 10 s; ``None`` leaves the waveform out.
    """
    known = catalogue()
    subject = {"identifier": {"system": PATIENT_SYSTEM, "value": patient_ref}} if patient_ref else None
    effective = _iso(recording_started_at)
    entries: list[dict[str, Any]] = []
    results: list[dict[str, str]] = []

    def observation(key: str, resource: dict[str, Any]) -> None:
        url = _urn("study", study.id, "v", report.version, key)
        base: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                                "category": [{"coding": [{
                                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                    "code": "procedure", "display": "Procedure"}]}],
                                "effectiveDateTime": effective}
        if subject:
            base["subject"] = subject
        entries.append({"fullUrl": url, "resource": {**base, **resource}})
        results.append({"reference": url})

    for key, value in sorted(report.measurements.items()):
        if key not in MEASUREMENTS:
            continue
        code, display, unit = MEASUREMENTS[key]
        observation(key, {"code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
                          "valueQuantity": {"value": float(value), "unit": unit, "system": UCUM, "code": unit}})
    if samples is not None and len(samples):
        components = []
        for k, lead in enumerate(leads):
            column = np.asarray(samples[:, k], dtype=np.int64)
            components.append({"code": lead_coding(lead), "valueSampledData": {
                "origin": {"value": 0, "unit": "mV", "system": UCUM, "code": "mV"},
                "period": round(1000.0 / fs_hz, 6), "factor": 1.0 / gain, "dimensions": 1,
                "data": " ".join(str(int(v)) for v in column)}})
        observation("waveform", {
            "code": {"coding": [{"system": MDC, "code": "131328", "display": "MDC_ECG_ELEC_POTL"}],
                     "text": "ECG waveform"},
            "device": {"display": f"recording {study.recording_id}"}, "component": components})

    codes = []
    for code in report.statements:
        statement = known.get(code)
        if statement is None:
            continue
        coding = [{"system": SCP_SYSTEM, "code": code, "display": statement.en}]
        if statement.aecg:
            coding.append({"system": MDC, "code": statement.aecg, "display": statement.aecg})
        codes.append({"coding": coding, "text": f"{statement.zh} {statement.en}".strip()})
    conclusion = "; ".join(f"{known[c].zh} {known[c].en}".strip() for c in report.statements if c in known)
    if report.free_text:
        conclusion = f"{conclusion}. {report.free_text}" if conclusion else report.free_text
    diagnostic: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "identifier": [{"system": STUDY_SYSTEM, "value": f"{study.id}-v{report.version}"}],
        "status": "amended" if report.version > 1 else "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "EC",
                                  "display": "Electrocardiac (e.g., EKG, EEC, Holter)"}]}],
        "code": {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}], "text": "ECG report"},
        "effectiveDateTime": effective,
        "issued": _iso(report.signed_at if report.signed_at is not None else report.updated_at),
        "resultsInterpreter": [{"display": reader_name}],
        "result": results,
    }
    if subject:
        diagnostic["subject"] = subject
    if conclusion:
        diagnostic["conclusion"] = conclusion
    if codes:
        diagnostic["conclusionCode"] = codes
    report_entry = {"fullUrl": _urn("study", study.id, "v", report.version, "report"), "resource": diagnostic}
    return {"resourceType": "Bundle", "type": "collection", "timestamp": _iso(report.signed_at or report.updated_at),
            "identifier": {"system": STUDY_SYSTEM, "value": f"{study.id}-v{report.version}"},
            "entry": [report_entry, *entries]}


__all__ = ["MEASUREMENTS", "bundle", "lead_coding"]
