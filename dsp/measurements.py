"""Measurements that pre-fill an ECG report, from a stored resting ECG.

:func:`measure` takes a resting ECG (``(n, n_leads)`` mV, any lead set, e.g.
the 12 standard leads or the two leads of a Holter excerpt) and returns
:class:`Measurements`: heart rate, RR variability and a regular/irregular
verdict, PR, QRS duration, QT, QTc (Bazett, Fridericia) and the frontal QRS
axis. Values that cannot be measured are ``None`` (PR without a consistent P
wave, e.g. in atrial fibrillation; the axis without limb leads I and II).

Method (details in docs/measurements.md):

1. Beats: :func:`dsp.qrs.detect` on all leads.
2. Normal beats: QRS correlation >= ``normal_corr`` with the median of all
   beats, and, when the rhythm is regular, not premature
   (RR < ``premature_ratio`` x median RR).
3. Representative (median) beat: normal beats aligned on their QRS by
   cross-correlation (within ``align_s``), sample-wise median per lead.
4. Global boundaries on the median beat with :mod:`dsp.delineate`; intervals
   from them; the P wave is accepted only if it is consistent from beat to
   beat (:func:`p_wave_consistency`).

Calling order: ``m = measure(x_mv, fs_hz, leads)``; or ``a = analyse(...)``
for the beats, the median beat and its boundaries as well.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dsp.delineate import (
    DelineationConfig,
    WaveBoundaries,
    condition,
    delineate_beat,
    independent_leads,
    pr_level,
    spatial_velocity,
)
from dsp.qrs import detect

__all__ = [
    "Analysis",
    "Measurements",
    "MeasurementConfig",
    "analyse",
    "complete_limb_leads",
    "frontal_axis_deg",
    "measure",
    "p_wave_consistency",
    "qtc_bazett_ms",
    "qtc_fridericia_ms",
    "representative_beat",
    "rhythm_statistics",
]

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int64]


EDGE_S = 0.3  # detections this close to a strip end are not used (filter edge, cut beats)

@dataclass(frozen=True)
class MeasurementConfig:
    """Parameters of :func:`measure`, in physical units.

    Attributes:
        pre_s: Median-beat window before the R fiducial.
        post_s: Median-beat window after the R fiducial.
        normal_corr: Least QRS correlation with the median of all beats for a normal beat.
        premature_ratio: A beat earlier than this x median RR is premature (regular rhythm only).
        align_s: Largest shift when aligning a beat to the template.
        irregular_nrmssd: RMSSD / mean RR above this is "irregular" (Dash et al. 2009).
        p_consistency: Least P-wave consistency (median-beat P amplitude over the
            beat-to-beat spread of the P window) for a PR interval.
        delineation: Boundary parameters.
    """

    pre_s: float = 0.5
    post_s: float = 0.8
    normal_corr: float = 0.85
    premature_ratio: float = 0.8
    align_s: float = 0.04
    irregular_nrmssd: float = 0.1
    p_consistency: float = 3.0
    delineation: DelineationConfig = field(default_factory=DelineationConfig)

    def __post_init__(self) -> None:
        if not (self.pre_s > 0 and self.post_s > 0 and self.align_s >= 0):
            raise ValueError("pre_s, post_s must be > 0 and align_s >= 0")
        if not -1.0 <= self.normal_corr <= 1.0:
            raise ValueError("normal_corr must be in [-1, 1]")
        if not 0.0 < self.premature_ratio < 1.0:
            raise ValueError("premature_ratio must be in (0, 1)")
        if not (self.irregular_nrmssd > 0 and self.p_consistency >= 0):
            raise ValueError("irregular_nrmssd must be > 0 and p_consistency >= 0")


@dataclass(frozen=True)
class Measurements:
    """Global measurements of one resting ECG; None where not measurable."""

    heart_rate_bpm: float | None
    rr_mean_ms: float | None
    rr_sd_ms: float | None
    rr_cv: float | None
    regular: bool | None
    pr_ms: float | None
    qrs_ms: float | None
    qt_ms: float | None
    qtc_bazett_ms: float | None
    qtc_fridericia_ms: float | None
    axis_deg: float | None
    n_beats: int
    n_beats_median: int


@dataclass(frozen=True)
class Analysis:
    """Everything :func:`analyse` computed: measurements plus their evidence.

    Attributes:
        measurements: The report values.
        beats: R fiducials (sample indices into the input signal).
        normal: Mask over ``beats``: used in the median beat.
        median_beat: ``(pre + post, n_leads)`` mV, conditioned, or None (< 1 normal beat).
        median_r: Index of the R fiducial in ``median_beat``.
        boundaries: Boundaries on the median beat (indices into ``median_beat``).
        p_consistency: The P-wave consistency of the median beat (0 without P).
    """

    measurements: Measurements
    beats: IndexArray
    normal: NDArray[np.bool_]
    median_beat: FloatArray | None
    median_r: int
    boundaries: WaveBoundaries | None
    p_consistency: float


def qtc_bazett_ms(qt_ms: float, rr_s: float) -> float:
    """Bazett's QTc = QT / sqrt(RR in s)."""
    if not rr_s > 0:
        raise ValueError("rr_s must be > 0")
    return qt_ms / math.sqrt(rr_s)


def qtc_fridericia_ms(qt_ms: float, rr_s: float) -> float:
    """Fridericia's QTc = QT / cbrt(RR in s)."""
    if not rr_s > 0:
        raise ValueError("rr_s must be > 0")
    return qt_ms / math.pow(rr_s, 1.0 / 3.0)


def _lead_index(leads: Sequence[str]) -> dict[str, int]:
    return {name.strip().upper(): i for i, name in enumerate(leads)}


def complete_limb_leads(signal: ArrayLike, leads: Sequence[str]) -> tuple[FloatArray, list[str]]:
    """Append III, aVR, aVL and aVF computed from I and II when they are missing.

    Einthoven and Goldberger: III = II - I, aVR = -(I + II) / 2,
    aVL = I - II / 2, aVF = II - I / 2. Without both I and II the input is
    returned unchanged.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    names = list(leads)
    idx = _lead_index(names)
    if "I" not in idx or "II" not in idx:
        return x, names
    lead_i, lead_ii = x[:, idx["I"]], x[:, idx["II"]]
    derived = {"III": lead_ii - lead_i, "aVR": -(lead_i + lead_ii) / 2.0,
               "aVL": lead_i - lead_ii / 2.0, "aVF": lead_ii - lead_i / 2.0}
    extra = [(name, v) for name, v in derived.items() if name.upper() not in idx]
    if not extra:
        return x, names
    x = np.column_stack([x] + [v for _, v in extra])
    return x, names + [name for name, _ in extra]


def frontal_axis_deg(net_i: float, net_avf: float) -> float | None:
    """Frontal-plane axis from net QRS areas (or amplitudes) of leads I and aVF.

    On the hexaxial reference, a heart vector of angle a gives I = E cos a and
    aVF = (sqrt(3)/2) E sin a, so a = atan2(2 aVF / sqrt(3), I).

    Returns:
        Degrees in (-180, 180] (positive downwards: +90 is aVF), or None if both are 0.
    """
    if net_i == 0.0 and net_avf == 0.0:
        return None
    a = math.degrees(math.atan2(2.0 * net_avf / math.sqrt(3.0), net_i))
    return 180.0 if a == -180.0 else a


def rhythm_statistics(beats: ArrayLike, fs_hz: float, normal: ArrayLike | None = None,
                      irregular_nrmssd: float = 0.1
                      ) -> tuple[float | None, float | None, float | None, float | None, bool | None]:
    """Heart rate and RR variability from beat indices.

    Regularity is judged on normal-to-normal intervals when at least three
    exist (an ectopic beat with its compensatory pause is not an irregular
    rhythm), otherwise on all intervals: irregular when RMSSD / mean RR exceeds
    ``irregular_nrmssd`` (Dash et al. 2009 use 0.1 over 64-128 beats).

    Returns:
        ``(heart_rate_bpm, rr_mean_ms, rr_sd_ms, rr_cv, regular)``; heart rate
        and mean RR need 1 interval, SD and CV 2, the verdict 3 (else None).
    """
    b = np.asarray(beats, dtype=np.int64)
    if b.size < 2:
        return None, None, None, None, None
    rr = np.diff(b).astype(np.float64) / fs_hz
    mean = float(rr.mean())
    hr = 60.0 / mean
    sd = float(rr.std(ddof=1)) if rr.size >= 2 else None
    cv = sd / mean if sd is not None else None
    nn = rr
    if normal is not None:
        m = np.asarray(normal, dtype=bool)
        both = m[1:] & m[:-1]
        if int(both.sum()) >= 3:
            nn = rr[both]
    regular = None
    if nn.size >= 3:
        d = np.diff(nn)
        regular = bool(math.sqrt(float(np.mean(d * d))) / float(nn.mean()) <= irregular_nrmssd)
    return hr, 1000.0 * mean, None if sd is None else 1000.0 * sd, cv, regular


def _windows(x: FloatArray, centres: IndexArray, pre: int, post: int) -> FloatArray:
    """``(n_beats, pre + post, n_leads)`` windows, NaN outside the signal."""
    n, n_leads = x.shape
    out = np.full((centres.size, pre + post, n_leads), np.nan)
    for k, c in enumerate(centres):
        a, b = int(c) - pre, int(c) + post
        sa, sb = max(a, 0), min(b, n)
        if sb > sa:
            out[k, sa - a:sb - a] = x[sa:sb]
    return out


def _nanmedian(w: FloatArray) -> FloatArray:
    """Median over axis 0 ignoring NaN; 0 where every beat is NaN."""
    filled = np.isfinite(w).any(axis=0)
    out = np.zeros(w.shape[1:])
    if filled.any():
        out[filled] = np.nanmedian(w[:, filled], axis=0)
    return out


def _corr(a: FloatArray, b: FloatArray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return 0.0
    u, v = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = math.sqrt(float(np.dot(u, u) * np.dot(v, v)))
    return float(np.dot(u, v)) / den if den > 0 else 0.0


def _align(xq: FloatArray, beats: IndexArray, template: FloatArray, q: int,
           shift_max: int) -> tuple[IndexArray, FloatArray]:
    """Shift each beat (within ``shift_max``) to its best QRS correlation with ``template``."""
    wide = _windows(xq, beats, q + shift_max, q + shift_max + 1)
    best = np.full(beats.size, -np.inf)
    shift = np.zeros(beats.size, dtype=np.int64)
    flat_t = template.ravel()
    for s in range(-shift_max, shift_max + 1):
        w = wide[:, shift_max + s:shift_max + s + 2 * q + 1]
        c = np.array([_corr(wk.ravel(), flat_t) for wk in w])
        # Ties go to the smallest shift: prefer the detector's fiducial.
        better = c > best + 1e-9 * (abs(s) > 0)
        best = np.where(better, c, best)
        shift = np.where(better, s, shift)
    return beats + shift, best


def representative_beat(x: FloatArray, beats: IndexArray, fs_hz: float, cols: Sequence[int],
                        config: MeasurementConfig = MeasurementConfig()
                        ) -> tuple[FloatArray | None, NDArray[np.bool_], IndexArray]:
    """Median beat of the normal beats, aligned on the QRS.

    Every beat is first aligned (within ``align_s``) on the median QRS of all
    beats, which also corrects the detector's fiducial jitter; a beat is normal
    when its best correlation is at least ``normal_corr`` (and, in a regular
    rhythm, it is not premature). Normal beats are aligned once more on their
    own median QRS before the sample-wise median is taken.

    Args:
        x: Conditioned ECG ``(n, n_leads)``.
        beats: R fiducials.
        fs_hz: Sampling rate.
        cols: Leads used to compare and align beats.
        config: Parameters.

    Returns:
        ``(median_beat or None, normal mask, aligned fiducials)``; the median
        beat's R fiducial is at index ``round(pre_s * fs_hz)``.
    """
    pre, post = int(round(config.pre_s * fs_hz)), int(round(config.post_s * fs_hz))
    normal = np.zeros(beats.size, dtype=bool)
    if beats.size == 0:
        return None, normal, beats
    q = max(2, int(round(0.08 * fs_hz)))
    xq = x[:, list(cols)]
    shift_max = int(round(config.align_s * fs_hz))
    template = _nanmedian(_windows(xq, beats, q, q + 1))
    aligned, corr = _align(xq, beats, template, q, shift_max)
    normal = corr >= config.normal_corr
    if beats.size >= 3:
        rr = np.diff(aligned).astype(np.float64)
        med = float(np.median(rr))
        _, _, _, _, regular = rhythm_statistics(aligned, fs_hz, normal, config.irregular_nrmssd)
        if regular:
            premature = np.concatenate(([False], rr < config.premature_ratio * med))
            normal &= ~premature
    if not normal.any():
        normal = corr >= float(np.max(corr)) - 1e-12
    template = _nanmedian(_windows(xq, aligned[normal], q, q + 1))
    fine, _ = _align(xq, aligned[normal], template, q, max(1, shift_max // 4))
    aligned = aligned.copy()
    aligned[normal] = fine
    median = _nanmedian(_windows(x, aligned[normal], pre, post))
    return median, normal, aligned


def p_wave_consistency(x: FloatArray, aligned: IndexArray, normal: NDArray[np.bool_],
                       median: FloatArray, median_r: int, b: WaveBoundaries,
                       cols: Sequence[int]) -> float:
    """How clearly the median beat's P wave stands out from beat-to-beat variation.

    Ratio of the P-wave range on the median beat (strongest lead, P onset to
    QRS onset) to the median over that window of the beat-to-beat standard
    deviation (robust: 1.4826 x MAD) in that lead. A real P wave, present in
    every beat, gives well over 1; fibrillatory waves, which the median beat
    averages away, give well under 1.
    """
    if b.p_onset is None or b.qrs_onset is None or b.qrs_onset - b.p_onset < 3:
        return 0.0
    m = median[b.p_onset:b.qrs_onset][:, list(cols)]
    ranges = m.max(axis=0) - m.min(axis=0)
    lead = int(np.argmax(ranges))
    col = list(cols)[lead]
    a, z = b.p_onset - median_r, b.qrs_onset - median_r
    w = _windows(x[:, [col]], aligned[normal], -a, z)[:, :, 0]
    w = w[np.all(np.isfinite(w), axis=1)]
    if w.shape[0] < 3:
        return float("inf")
    w = w - np.median(w, axis=1, keepdims=True)
    spread = 1.4826 * np.median(np.abs(w - np.median(w, axis=0)), axis=0)
    noise = float(np.median(spread))
    return float(ranges[lead]) / noise if noise > 0 else float("inf")


def _net_areas(median: FloatArray, b: WaveBoundaries, fs_hz: float) -> FloatArray:
    """Net QRS area per lead (mV x samples) against the PR-segment level."""
    assert b.qrs_onset is not None and b.qrs_offset is not None
    level = pr_level(median, spatial_velocity(median, fs_hz), b.qrs_onset, 0, fs_hz)
    seg = median[b.qrs_onset:b.qrs_offset + 1]
    return np.asarray(np.sum(seg - level, axis=0), dtype=np.float64)


def _search_back(x: FloatArray, beats: IndexArray, fs_hz: float, cols: Sequence[int],
                 config: MeasurementConfig) -> IndexArray:
    """Add beats the detector missed in long gaps (and at the edges), offline.

    A candidate is the spatial-velocity maximum of a gap longer than 1.5 x the
    median RR, kept at least 0.3 s from the beats around it; it is accepted
    when its velocity is at least half the median of the detected beats' and
    its QRS correlates with the median QRS at least ``normal_corr``.
    """
    if beats.size < 3:
        return beats
    sv = spatial_velocity(x[:, list(cols)], fs_hz)
    q = max(2, int(round(0.08 * fs_hz)))
    near = max(1, int(round(0.06 * fs_hz)))
    peak_sv = np.array([sv[max(0, b - near):b + near + 1].max() for b in beats])
    template = _nanmedian(_windows(x[:, list(cols)], beats, q, q + 1))
    keep_off = int(round(0.3 * fs_hz))
    out = list(int(b) for b in beats)
    for _ in range(beats.size + 2):
        b = np.asarray(sorted(out), dtype=np.int64)
        med = float(np.median(np.diff(b)))
        edges = [(-keep_off, int(b[0]))] + list(zip(b[:-1].tolist(), b[1:].tolist())) + \
                [(int(b[-1]), x.shape[0] - 1 + keep_off)]
        added = False
        for left, right in edges:
            if right - left <= 1.5 * med:
                continue
            a, z = max(0, left + keep_off), min(x.shape[0], right - keep_off)
            if z - a < 3:
                continue
            c = a + int(np.argmax(sv[a:z]))
            if sv[c] < 0.5 * float(np.median(peak_sv)):
                continue
            # The velocity peak need not sit on the R fiducial: align on the template.
            shifts = np.arange(-near, near + 1)
            cands = np.clip(c + shifts, 0, x.shape[0] - 1).astype(np.int64)
            w = _windows(x[:, list(cols)], cands, q, q + 1)
            corr = np.array([_corr(wk.ravel(), template.ravel()) for wk in w])
            k = int(np.argmax(corr))
            if corr[k] >= config.normal_corr:
                out.append(int(cands[k]))
                added = True
        if not added:
            break
    return np.asarray(sorted(out), dtype=np.int64)


def analyse(signal_mv: ArrayLike, fs_hz: float, leads: Sequence[str],
            config: MeasurementConfig = MeasurementConfig(),
            beats: ArrayLike | None = None) -> Analysis:
    """Beats, median beat, boundaries and measurements of a resting ECG.

    Args:
        signal_mv: ``(n, n_leads)`` (or ``(n,)`` for one lead) in mV.
        fs_hz: Sampling rate in Hz (>= 100 Hz for meaningful boundaries).
        leads: Lead names, one per column ("I", "II", "V1", ... ; case-insensitive).
        config: Parameters.
        beats: R fiducials if already known; detected with :func:`dsp.qrs.detect` otherwise.

    Returns:
        The :class:`Analysis`.

    Raises:
        ValueError: Shape and lead names disagree, non-finite samples, bad fs_hz.
    """
    raw = np.asarray(signal_mv, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw.reshape(-1, 1)
    if raw.ndim != 2 or raw.shape[1] != len(leads):
        raise ValueError(f"signal shape {raw.shape} does not match {len(leads)} lead names")
    if not fs_hz > 0:
        raise ValueError("fs_hz must be > 0")
    full, names = complete_limb_leads(raw, leads)
    x = condition(full, fs_hz, config.delineation)
    cols = independent_leads(names)
    b = detect(x[:, cols], fs_hz) if beats is None else np.asarray(beats, dtype=np.int64)
    b = np.sort(b[(b >= 0) & (b < x.shape[0])])
    if beats is None:
        # The zero-phase filter's edge transient and beats cut by the strip's start or end
        # make detections in the outer 0.3 s unreliable: measure on the beats inside.
        edge = int(round(EDGE_S * fs_hz))
        b = b[(b >= edge) & (b < x.shape[0] - edge)]
    if beats is None:
        b = _search_back(x, b, fs_hz, cols, config)
    median, normal, aligned = representative_beat(x, b, fs_hz, cols, config)
    b = aligned
    # The detector's start-up can take a P wave or an edge artefact for a first beat: a
    # leading detection unlike the QRS template and much closer to the next beat than the
    # strip's usual RR is left out of the rhythm (mid-strip, short RRs are real: PVCs, VT).
    nb = np.asarray(normal, dtype=bool)
    spurious = np.zeros(b.size, dtype=bool)
    k = 0
    while b.size - k > 3 and not nb[k] and b[k + 1] - b[k] < 0.6 * float(np.median(np.diff(b[k:]))):
        spurious[k] = True
        k += 1
    hr, rr_mean_ms, rr_sd, rr_cv, regular = rhythm_statistics(b[~spurious], fs_hz, nb[~spurious],
                                                               config.irregular_nrmssd)
    median_r = int(round(config.pre_s * fs_hz))
    bounds: WaveBoundaries | None = None
    consistency = 0.0
    pr = qrs = qt = qtc_b = qtc_f = axis = None
    if median is not None:
        nn = np.diff(b).astype(np.float64) / fs_hz
        rr_s = float(np.median(nn)) if nn.size else 1.0
        sv = spatial_velocity(median[:, cols], fs_hz)
        bounds = delineate_beat(median, median_r, fs_hz, rr_s, leads=cols, sv=sv,
                                config=config.delineation)
        consistency = p_wave_consistency(x, aligned, normal, median, median_r, bounds, cols)
        qrs = bounds.qrs_ms(fs_hz)
        qt = bounds.qt_ms(fs_hz)
        if consistency >= config.p_consistency:
            pr = bounds.pr_ms(fs_hz)
        if qt is not None and rr_mean_ms is not None:
            qtc_b = qtc_bazett_ms(qt, rr_mean_ms / 1000.0)
            qtc_f = qtc_fridericia_ms(qt, rr_mean_ms / 1000.0)
        idx = _lead_index(names)
        if "I" in idx and "AVF" in idx and qrs is not None:
            areas = _net_areas(median, bounds, fs_hz)
            axis = frontal_axis_deg(float(areas[idx["I"]]), float(areas[idx["AVF"]]))
    m = Measurements(heart_rate_bpm=hr, rr_mean_ms=rr_mean_ms, rr_sd_ms=rr_sd, rr_cv=rr_cv,
                     regular=regular, pr_ms=pr, qrs_ms=qrs, qt_ms=qt, qtc_bazett_ms=qtc_b,
                     qtc_fridericia_ms=qtc_f, axis_deg=axis, n_beats=int(b.size),
                     n_beats_median=int(normal.sum()))
    return Analysis(measurements=m, beats=b, normal=normal, median_beat=median,
                    median_r=median_r, boundaries=bounds, p_consistency=consistency)


def measure(signal_mv: ArrayLike, fs_hz: float, leads: Sequence[str],
            config: MeasurementConfig = MeasurementConfig()) -> Measurements:
    """Report measurements of a resting ECG (see :func:`analyse`)."""
    return analyse(signal_mv, fs_hz, leads, config).measurements
