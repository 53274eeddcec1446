"""Philips Sierra / PhilipsECG XML (PageWriter, TraceMaster; versions 1.03-1.04.02).

The waveforms are XLI-compressed; the ``sierraecg`` package decodes them (and rebuilds
III, aVR, aVL, aVF, which Philips stores as residuals of their derived values, so they count
as stored here); the calibration pulse at the end of every lead is cut off. Everything else is read with defusedxml's ElementTree: the resolution
(``signalresolution`` in 1.03, ``resolution`` in 1.04, uV per bit), acquisition date and
time, the machine, the interpretation's measurements and statements, and the patient data.
"""

from __future__ import annotations

import io
from types import MappingProxyType
from typing import Any

import numpy as np

from teleconsult.ecgfiles.assemble import RawEcg, canonical_lead_name
from teleconsult.ecgfiles.common import Element, child_text, local, malformed, parse_datetime, to_float
from teleconsult.ecgfiles.model import DeviceMeasurements, EcgFormat, Problem, Severity

__all__ = ["read_sierra"]

FMT = EcgFormat.PHILIPS_SIERRA_XML
_MEASUREMENTS = {
    "heartrate": "heart_rate_bpm", "rrint": "rr_ms", "pdur": "p_duration_ms",
    "print": "pr_ms", "meanprint": "pr_ms", "qrsdur": "qrs_ms", "meanqrsdur": "qrs_ms",
    "qtint": "qt_ms", "meanqtint": "qt_ms", "qtcb": "qtc_ms", "meanqtc": "qtc_ms",
    "pfrontaxis": "p_axis_deg", "qrsfrontaxis": "qrs_axis_deg", "tfrontaxis": "t_axis_deg",
}


def _find(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((e for e in element.iter() if local(e.tag) == name), None)


def _decode_waveforms(data: bytes) -> Any:
    import sierraecg  # imported here: only Philips uploads need it

    # defusedxml.minidom.parse (used by sierraecg) takes a file object as well as a path.
    return sierraecg.read_file(io.BytesIO(data))  # type: ignore[arg-type]


def _signal_end(leads: list[np.ndarray]) -> int:
    """Where the ECG ends: PageWriters append ~0.1 s of 0 and a 1 mV, 0.2 s calibration pulse
    that is identical in every lead; the trailing rows in which all leads are equal go."""
    if len(leads) < 2 or len({len(samples) for samples in leads}) != 1:
        return min((len(samples) for samples in leads), default=0)
    matrix = np.stack(leads, axis=1)
    same = np.all(matrix == matrix[:, :1], axis=1)
    end = len(same)
    while end > 0 and same[end - 1]:
        end -= 1
    return end


def read_sierra(data: bytes, root: Element) -> RawEcg:
    """Read a Philips XML upload; ``root`` is the same bytes parsed by ``parse_xml``.

    Raises:
        MalformedEcgFile: sierraecg cannot decode it, or it states no sampling rate.
    """
    signal = _find(root, "signalcharacteristics")
    fs_hz = to_float(child_text(signal, "samplingrate"))
    if fs_hz is None:
        raise malformed(FMT, "no sampling rate")
    uv_per_bit = (to_float(child_text(signal, "resolution"))
                  or to_float(child_text(signal, "signalresolution")) or 5.0)
    try:
        decoded = _decode_waveforms(data)
        leads = [(str(lead.label), np.asarray(lead.samples, dtype=np.float64)) for lead in decoded.leads]
    except Exception as exc:  # noqa: BLE001 - any failure of the decoder means a damaged file
        raise malformed(FMT, "the compressed waveforms cannot be decoded", exc) from None
    raw = RawEcg(FMT, fs_hz, {})
    end = _signal_end([samples for _, samples in leads])
    if end < max((len(samples) for _, samples in leads), default=0):
        raw.problems.append(Problem("calibration_pulse_removed", "The trailing calibration pulse "
                                    "the cart appends to every lead was cut off.", Severity.INFO))
    for label, samples in leads:
        raw.add_lead(canonical_lead_name(label), samples[:end] * uv_per_bit * 1e-3)

    acquisition = _find(root, "dataacquisition")
    if acquisition is not None:
        raw.acquired_at = parse_datetime(f"{acquisition.get('date', '')} {acquisition.get('time', '')}",
                                         "%Y-%m-%d %H:%M:%S")
        machine = _find(acquisition, "machine")
        if machine is not None:
            raw.device = " ".join(filter(None, ["Philips", (machine.text or "").strip()]))
    interpretation = _find(root, "interpretation")
    values: dict[str, float] = {}
    other: dict[str, float] = {}
    block = _find(interpretation, "globalmeasurements")
    if block is None:
        block = _find(interpretation, "interpretationmeasurements")
    if block is not None:
        for item in block:
            value = to_float(item.text)
            name = local(item.tag)
            if value is None:
                continue
            if name in _MEASUREMENTS:
                values.setdefault(_MEASUREMENTS[name], value)
            else:
                other[name] = value
    raw.measurements = DeviceMeasurements(**values, other=MappingProxyType(other))
    if interpretation is not None:
        for item in interpretation:
            if local(item.tag) == "severity" and (item.text or "").strip():
                raw.statements.append((item.text or "").strip())
            elif local(item.tag) == "statement":
                left, right = child_text(item, "leftstatement"), child_text(item, "rightstatement")
                text = f"{left} ({right})" if left and right else left or right
                if text:
                    raw.statements.append(text)
    general = _find(root, "generalpatientdata")
    if general is not None:
        raw.patient = {local(e.tag): (e.text or "").strip() for e in general.iter()
                       if e is not general and len(e) == 0}
    return raw
