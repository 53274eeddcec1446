"""Score PR, QRS duration and QT against the QT Database cardiologists' boundaries.

``python -m dsp.evaluate_measurements --db ../shared/data/qtdb`` reads each
record (both leads, 250 Hz) and its ``.q1c`` annotations (annotator 1, second
pass) with ``wfdb`` (imported lazily, only here; ``dsp`` itself reads no file)
and prints, per record and overall, the mean and SD of the error
(measured - reference, ms) with the counts, in two modes:

* ``strip`` (what a report shows): the record is cut into 10-s strips from
  1 s before the first annotated beat; :func:`dsp.measurements.analyse` runs on
  each strip as on a resting ECG, and its median-beat intervals are compared
  with the reference intervals of every annotated beat inside the strip.
* ``beat``: every annotated beat is delineated on its own
  (:func:`dsp.delineate.delineate_beat` at the detected R nearest the
  reference QRS peak, within 150 ms) and compared with its reference.

Reference boundaries (PhysioNet QTDB docs): ``(`` and ``)`` are wave onset and
end, their ``num`` field tells the wave: 0 P, 1 QRS, 2 T, 3 U; ``p`` and ``t``
are the P and T peaks; any other symbol is the QRS peak of the annotated beat.
PR = P onset to QRS onset, QRS = QRS onset to offset, QT = QRS onset to T end.
An interval is scored only where the reference has both of its boundaries; a
reference interval that gets no measurement is counted as missed (PR missed in
a record with P waves, for instance), a measurement without a reference as extra.

``--devices DIR`` also prints our measurements next to the device's own for
the GE MUSE XML and DICOM samples in ``DIR`` (``pydicom`` needed).

Exit status 1 when a pooled |mean error| or SD breaks ``TARGETS`` (see
docs/measurements.md for their source).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from dsp.delineate import WaveBoundaries, condition, delineate_beat, independent_leads, spatial_velocity
from dsp.measurements import analyse
from dsp.qrs import detect

INTERVALS = ("pr", "qrs", "qt")
# (|mean| limit, SD limit) in ms, pooled over the scored beats. Reference:
# the CSE / IEC 60601-2-25 style tolerances for global intervals (mean within
# +-10 ms; SD of the order of 10-15 ms, 30 ms for QT). SD limits used here:
# PR 15, QRS 12, QT 30. See docs/measurements.md: they are not met yet.
TARGETS: dict[str, tuple[float, float]] = {"pr": (10.0, 15.0), "qrs": (10.0, 12.0),
                                           "qt": (10.0, 30.0)}
STRIP_S = 10.0


@dataclass(frozen=True)
class RefBeat:
    """Reference boundaries of one annotated beat (sample indices)."""

    peak: int
    p_onset: int | None
    qrs_onset: int | None
    qrs_offset: int | None
    t_end: int | None

    def interval(self, name: str) -> int | None:
        start, end = {"pr": (self.p_onset, self.qrs_onset),
                      "qrs": (self.qrs_onset, self.qrs_offset),
                      "qt": (self.qrs_onset, self.t_end)}[name]
        return None if start is None or end is None else end - start


def reference_beats(samples: Sequence[int], symbols: Sequence[str],
                    nums: Sequence[int]) -> list[RefBeat]:
    """Group q1c annotations into beats around each QRS peak annotation.

    Onsets are taken from between the previous and this QRS peak, the QRS
    offset and T end from between this and the next peak.
    """
    marks = list(zip((int(s) for s in samples), symbols, (int(n) for n in nums)))
    peaks = [i for i, (_, sym, _) in enumerate(marks) if sym not in "()ptu"]
    beats = []
    for k, i in enumerate(peaks):
        prev_i = peaks[k - 1] if k else -1
        next_i = peaks[k + 1] if k + 1 < len(peaks) else len(marks)
        before, after = marks[prev_i + 1:i], marks[i + 1:next_i]

        def last(ms: list[tuple[int, str, int]], sym: str, num: int) -> int | None:
            found = [s for s, y, n in ms if y == sym and n == num]
            return found[-1] if found else None

        def first(ms: list[tuple[int, str, int]], sym: str, num: int) -> int | None:
            found = [s for s, y, n in ms if y == sym and n == num]
            return found[0] if found else None

        beats.append(RefBeat(peak=marks[i][0], p_onset=last(before, "(", 0),
                             qrs_onset=last(before, "(", 1), qrs_offset=first(after, ")", 1),
                             t_end=first(after, ")", 2)))
    return beats


@dataclass
class Errors:
    """Errors (ms) and counts per interval for one record or overall."""

    errors: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in INTERVALS})
    missed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INTERVALS, 0))
    extra: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INTERVALS, 0))

    def add(self, name: str, measured_ms: float | None, reference_ms: float | None) -> None:
        if reference_ms is None:
            if measured_ms is not None:
                self.extra[name] += 1
        elif measured_ms is None:
            self.missed[name] += 1
        else:
            self.errors[name].append(measured_ms - reference_ms)

    def merge(self, other: Errors) -> None:
        for k in INTERVALS:
            self.errors[k] += other.errors[k]
            self.missed[k] += other.missed[k]
            self.extra[k] += other.extra[k]

    def stats(self, name: str) -> tuple[int, float, float]:
        e = np.asarray(self.errors[name])
        if e.size == 0:
            return 0, math.nan, math.nan
        return int(e.size), float(e.mean()), float(e.std(ddof=1)) if e.size > 1 else 0.0


def _ms(b: WaveBoundaries, name: str, fs_hz: float) -> float | None:
    return {"pr": b.pr_ms, "qrs": b.qrs_ms, "qt": b.qt_ms}[name](fs_hz)


def score_strips(x: NDArray[np.float64], fs_hz: float, leads: Sequence[str],
                 refs: list[RefBeat]) -> Errors:
    """Strip mode: median-beat intervals of 10-s strips against the beats inside."""
    out = Errors()
    if not refs:
        return out
    n = int(round(STRIP_S * fs_hz))
    start = max(0, refs[0].peak - int(fs_hz))
    while start < refs[-1].peak:
        inside = [r for r in refs if start <= r.peak < start + n]
        stop = min(x.shape[0], start + n)
        if inside:
            m = analyse(x[start:stop], fs_hz, leads).measurements
            got = {"pr": m.pr_ms, "qrs": m.qrs_ms, "qt": m.qt_ms}
            for r in inside:
                for k in INTERVALS:
                    ref = r.interval(k)
                    out.add(k, got[k], None if ref is None else 1000.0 * ref / fs_hz)
        start += n
    return out


def score_beats(x: NDArray[np.float64], fs_hz: float, leads: Sequence[str],
                refs: list[RefBeat]) -> Errors:
    """Beat mode: each annotated beat delineated on its own."""
    out = Errors()
    if not refs:
        return out
    a = max(0, refs[0].peak - int(5 * fs_hz))
    z = min(x.shape[0], refs[-1].peak + int(5 * fs_hz))
    xc = condition(x[a:z], fs_hz)
    cols = independent_leads(leads)
    beats = detect(xc[:, cols], fs_hz)
    sv = spatial_velocity(xc[:, cols], fs_hz)
    tol = int(round(0.15 * fs_hz))
    for r in refs:
        peak = r.peak - a
        k = int(np.argmin(np.abs(beats - peak))) if beats.size else -1
        b: WaveBoundaries | None = None
        if k >= 0 and abs(int(beats[k]) - peak) <= tol and 0 < k < beats.size - 1:
            prev_r, next_r = int(beats[k - 1]), int(beats[k + 1])
            rr_s = (next_r - prev_r) / 2.0 / fs_hz
            b = delineate_beat(xc, int(beats[k]), fs_hz, rr_s, leads=cols, sv=sv,
                               lo=prev_r + int(0.1 * fs_hz), hi=next_r - int(0.1 * fs_hz))
        for name in INTERVALS:
            ref = r.interval(name)
            out.add(name, None if b is None else _ms(b, name, fs_hz),
                    None if ref is None else 1000.0 * ref / fs_hz)
    return out


# --- device files (GE MUSE XML, DICOM 12-lead): signal and the device's own measurements

DeviceEcg = tuple[NDArray[np.float64], float, list[str], dict[str, float]]


def read_muse(path: str) -> DeviceEcg:
    """Rhythm leads (mV), fs, lead names and RestingECGMeasurements of a GE MUSE XML file."""
    import base64
    import xml.etree.ElementTree as ET

    root = ET.parse(path).getroot()
    wf = next(w for w in root.iter("Waveform") if w.findtext("WaveformType") == "Rhythm")
    names, cols = [], []
    for lead in wf.iter("LeadData"):
        uv = float(lead.findtext("LeadAmplitudeUnitsPerBit") or "nan")
        raw = np.frombuffer(base64.b64decode(lead.findtext("WaveFormData") or ""), dtype="<i2")
        names.append(lead.findtext("LeadID") or "")
        cols.append(raw * uv / 1000.0)
    meas = root.find("RestingECGMeasurements")
    if meas is None:
        raise ValueError(f"{path}: no RestingECGMeasurements")

    def value(tag: str) -> float:
        return float(meas.findtext(tag) or "nan")

    device = {"hr": value("VentricularRate"), "pr": value("PRInterval"),
              "qrs": value("QRSDuration"), "qt": value("QTInterval"),
              "qtc": value("QTCorrected"), "axis": value("RAxis")}
    return np.column_stack(cols), float(wf.findtext("SampleBase") or "nan"), names, device


def read_dicom(path: str) -> DeviceEcg:
    """Rhythm leads (mV), fs, lead names and numeric annotations of a DICOM 12-lead ECG."""
    import pydicom

    ds = pydicom.dcmread(path)
    k = next(i for i, w in enumerate(ds.WaveformSequence) if w.MultiplexGroupLabel == "RHYTHM")
    group = ds.WaveformSequence[k]
    x = np.asarray(ds.waveform_array(k), dtype=np.float64)
    unit = group.ChannelDefinitionSequence[0].ChannelSensitivityUnitsSequence[0].CodeValue
    scale = {"uV": 1e-3, "mV": 1.0}[unit]
    names = [c.ChannelSourceSequence[0].CodeMeaning.replace("Lead ", "").split(" ")[0]
             for c in group.ChannelDefinitionSequence]
    ann = {a.ConceptNameCodeSequence[0].CodeMeaning: float(a.NumericValue)
           for a in ds.WaveformAnnotationSequence
           if "NumericValue" in a and "ConceptNameCodeSequence" in a}
    device = {"hr": 60000.0 / ann["RR Interval"], "pr": ann["PR Interval"],
              "qrs": ann["QRS Duration"], "qt": ann["QT Interval"], "qtc": ann["QTc Interval"],
              "axis": ann["QRS Axis"]}
    return x * scale, float(group.SamplingFrequency), names, device


DEVICE_FILES = {
    "ge-muse-xml/MUSE_20200923_093504_79000_example.xml": read_muse,
    "dicom/cardio_sample_12lead.dcm": read_dicom,
    "dicom/mortara_el250_anonymous_ecg.dcm": read_dicom,
}


def compare_devices(directory: str) -> None:
    """Print ours against the device's measurements for each sample file."""
    print("== device files: ours / device (difference)")
    print(f"{'file':>40} {'HR bpm':>16} {'PR ms':>16} {'QRS ms':>16} {'QT ms':>16} "
          f"{'QTcB/QTcF ms':>20} {'axis deg':>16}")
    for name, reader in DEVICE_FILES.items():
        x, fs, leads, dev = reader(os.path.join(directory, name))
        m = analyse(x, fs, leads).measurements

        def cell(ours: float | None, theirs: float) -> str:
            if ours is None:
                return f"{'-':>5}/{theirs:4.0f} (  - )".rjust(16)
            return f"{ours:5.0f}/{theirs:4.0f} ({ours - theirs:+4.0f})".rjust(16)

        qtc = f"{m.qtc_bazett_ms or math.nan:4.0f}/{m.qtc_fridericia_ms or math.nan:4.0f}/{dev['qtc']:4.0f}"
        print(f"{os.path.basename(name)[:40]:>40} {cell(m.heart_rate_bpm, dev['hr'])} "
              f"{cell(m.pr_ms, dev['pr'])} {cell(m.qrs_ms, dev['qrs'])} {cell(m.qt_ms, dev['qt'])} "
              f"{qtc:>20} {cell(m.axis_deg, dev['axis'])}")
    print()


def _fmt(n: int, mean: float, sd: float) -> str:
    return f"{n:5d} {mean:+7.1f} {sd:6.1f}" if n else f"{n:5d} {'-':>7} {'-':>6}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dsp.evaluate_measurements",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", required=True, help="QT Database directory (with RECORDS)")
    parser.add_argument("--records", nargs="*", help="default: every record in RECORDS")
    parser.add_argument("--annotator", default="q1c")
    parser.add_argument("--mode", choices=("strip", "beat", "both"), default="both")
    parser.add_argument("--devices", metavar="DIR",
                        help="also compare with the device measurements in DIR (shared/data/ecg-files)")
    args = parser.parse_args(argv)
    if args.devices:
        compare_devices(args.devices)

    import wfdb

    records = args.records or open(os.path.join(args.db, "RECORDS")).read().split()
    modes = ("strip", "beat") if args.mode == "both" else (args.mode,)
    failed = False
    for mode in modes:
        total = Errors()
        print(f"== {mode} mode, {args.annotator}, error = measured - reference (ms)")
        print(f"{'record':>9} " + " ".join(f"{k.upper():>4}: n   mean     SD miss extra".rjust(31)
                                           for k in INTERVALS))
        for rec in records:
            path = os.path.join(args.db, rec)
            sig = wfdb.rdrecord(path)
            ann = wfdb.rdann(path, args.annotator)
            x = np.asarray(sig.p_signal, dtype=np.float64)
            x = np.where(np.isfinite(x), x, 0.0)
            refs = reference_beats(ann.sample, ann.symbol, ann.num)
            fn = score_strips if mode == "strip" else score_beats
            err = fn(x, float(sig.fs), list(sig.sig_name), refs)
            total.merge(err)
            cells = [f"{_fmt(*err.stats(k))} {err.missed[k]:4d} {err.extra[k]:5d}" for k in INTERVALS]
            print(f"{rec:>9} " + " ".join(c.rjust(31) for c in cells))
        cells = [f"{_fmt(*total.stats(k))} {total.missed[k]:4d} {total.extra[k]:5d}" for k in INTERVALS]
        print(f"{'pooled':>9} " + " ".join(c.rjust(31) for c in cells))
        for k in INTERVALS:
            n, mean, sd = total.stats(k)
            lim_mean, lim_sd = TARGETS[k]
            ok = n > 0 and abs(mean) <= lim_mean and sd <= lim_sd
            failed |= not ok
            print(f"  {k.upper():>3}: mean {mean:+.1f} ms (target |mean| <= {lim_mean:g}), "
                  f"SD {sd:.1f} ms (target <= {lim_sd:g}) over {n} beats: {'ok' if ok else 'FAIL'}")
        print()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
