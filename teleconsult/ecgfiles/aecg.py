"""HL7 v3 annotated ECG (FDA aECG) XML, parsed with defusedxml's ElementTree.

Read: the first ``series`` whose code is RHYTHM; in its sequence set the TIME_ABSOLUTE
sequence gives the start (``head``) and the sample interval (``increment``), and each
``MDC_ECG_LEAD_*`` sequence an SLIST_PQ of digits with ``origin`` and ``scale``
(physical = origin + scale x digit). Global measurements are the annotations whose value is
a PQ and which carry no region of interest (per-beat and per-lead ones do); statements are
the displayName / text of CE and ST annotation values. The subject's demographics go to the
sensitive patient fields.
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg, canonical_lead_name
from teleconsult.ecgfiles.common import Element, child_text, children, local, malformed, parse_datetime, to_float
from teleconsult.ecgfiles.model import DeviceMeasurements, EcgFormat

__all__ = ["read_aecg"]

FMT = EcgFormat.HL7_AECG
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_TO_MV = {"uV": 1e-3, "mV": 1.0, "V": 1e3, "nV": 1e-6}
_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_MEASUREMENTS = {
    "MDC_ECG_HEART_RATE": "heart_rate_bpm", "MDC_ECG_TIME_PD_RR": "rr_ms",
    "MDC_ECG_TIME_PD_PR": "pr_ms", "MDC_ECG_TIME_PD_P": "p_duration_ms",
    "MDC_ECG_TIME_PD_QRS": "qrs_ms", "MDC_ECG_TIME_PD_QT": "qt_ms",
    "MDC_ECG_TIME_PD_QTc": "qtc_ms", "MDC_ECG_TIME_PD_QTC": "qtc_ms",
    "MDC_ECG_ANGLE_P_FRONT": "p_axis_deg", "MDC_ECG_ANGLE_QRS_FRONT": "qrs_axis_deg",
    "MDC_ECG_ANGLE_T_FRONT": "t_axis_deg",
}
_HL7_TIME = ("%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d")


def _first(element: Element, path: list[str]) -> Element | None:
    current: Element | None = element
    for name in path:
        if current is None:
            return None
        current = next((child for child in current if local(child.tag) == name), None)
    return current


def _code(element: Element) -> str:
    code = _first(element, ["code"])
    return code.get("code", "") if code is not None else ""


def read_aecg(root: Element) -> RawEcg:
    """Read a parsed ``<AnnotatedECG>`` document.

    Raises:
        MalformedEcgFile: No rhythm series, no sample interval, or a lead without digits.
    """
    series_list = [s for s in root.iter() if local(s.tag) == "series"]
    series = next((s for s in series_list if _code(s) == "RHYTHM"), None)
    if series is None:
        raise malformed(FMT, "no rhythm waveform series")
    sequence_set = next((s for s in series.iter() if local(s.tag) == "sequenceSet"), None)
    if sequence_set is None:
        raise malformed(FMT, "no sequence set")
    interval_s = None
    raw = RawEcg(FMT, 0.0, {})
    for component in children(sequence_set, "component"):
        sequence = _first(component, ["sequence"])
        if sequence is None:
            continue
        code = _code(sequence)
        value = _first(sequence, ["value"])
        if value is None:
            continue
        if code in ("TIME_ABSOLUTE", "TIME_RELATIVE"):
            increment = _first(value, ["increment"])
            if increment is not None:
                step = to_float(increment.get("value"))
                unit = _TO_S.get(increment.get("unit", "s"))
                interval_s = step * unit if step is not None and unit is not None else None
            head = _first(value, ["head"])
            if head is not None and code == "TIME_ABSOLUTE":
                raw.acquired_at = parse_datetime(head.get("value", ""), *_HL7_TIME)
            continue
        if not code.startswith("MDC_ECG_LEAD_"):
            continue
        origin_el, scale_el, digits_el = (_first(value, [n]) for n in ("origin", "scale", "digits"))
        if digits_el is None or scale_el is None:
            raise malformed(FMT, "a lead has no digits or no scale")
        scale = to_float(scale_el.get("value"))
        origin = to_float(origin_el.get("value")) if origin_el is not None else 0.0
        to_mv = _TO_MV.get(scale_el.get("unit", "uV"))
        if scale is None or origin is None or to_mv is None:
            raise malformed(FMT, "a lead's scale or origin is not a number in volts")
        try:
            digits = np.array((digits_el.text or "").split(), dtype=np.float64)
        except ValueError as exc:
            raise malformed(FMT, "a lead's digits are not numbers", exc) from None
        raw.add_lead(canonical_lead_name(code), (origin + scale * digits) * to_mv)
    if interval_s is None or interval_s <= 0:
        raise malformed(FMT, "no sample interval")
    raw.fs_hz = round(1.0 / interval_s, 6)

    values: dict[str, float] = {}
    other: dict[str, float] = {}
    statements: list[str] = []
    for annotation in (a for a in series.iter() if local(a.tag) == "annotation"):
        value = _first(annotation, ["value"])
        if value is None:
            continue
        kind = value.get(XSI_TYPE, "")
        code = _code(annotation)
        if kind == "PQ" and _first(annotation, ["support"]) is None:
            number = to_float(value.get("value"))
            if number is None:
                continue
            field_name = _MEASUREMENTS.get(code)
            if field_name is not None:
                values.setdefault(field_name, number)
            else:
                other.setdefault(f"{code}_{value.get('unit', '')}".rstrip("_"), number)
        elif kind == "CE" and code in ("MDC_ECG_RHY", "MDC_ECG_INTERPRETATION_STATEMENT",
                                       "MDC_ECG_INTERPRETATION"):
            text = value.get("displayName") or value.get("code", "")
            if text and text not in statements:
                statements.append(text)
        elif kind == "ST" and "INTERPRETATION" in code:
            text = (value.text or "").strip()
            if text and text not in statements:
                statements.append(text)
    raw.measurements = DeviceMeasurements(**values, other=MappingProxyType(other))
    raw.statements = statements

    device = _first(series, ["author", "seriesAuthor"])
    if device is not None:
        maker = child_text(_first(device, ["manufacturerOrganization"]), "name")
        model = child_text(_first(device, ["manufacturedSeriesDevice"]), "manufacturerModelName")
        raw.device = " ".join(filter(None, [maker, model]))
    person = next((p for p in root.iter() if local(p.tag) == "subjectDemographicPerson"), None)
    if person is not None:
        gender = _first(person, ["administrativeGenderCode"])
        birth = _first(person, ["birthTime"])
        raw.patient = {"name": child_text(person, "name"),
                       "sex": gender.get("code", "") if gender is not None else "",
                       "birth_date": birth.get("value", "") if birth is not None else ""}
    subject = next((s for s in root.iter() if local(s.tag) == "trialSubject"), None)
    subject_id = _first(subject, ["id"]) if subject is not None else None
    if subject_id is not None:
        raw.patient["subject_id"] = subject_id.get("extension", "")
    return raw
