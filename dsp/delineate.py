"""Wave delineation of a stored resting ECG: QRS onset and offset, P onset, T end.

Boundaries are *global*: one set per beat over all leads, as a cardiologist
marks them looking at every lead at once (and as the QT Database annotators
did, with both leads on screen). Three published, threshold-light methods:

* **QRS onset / offset** on the spatial velocity (the norm of the derivative
  vector over the independent leads, after a 16 ms running median that takes
  out pacemaker spikes; Xue & Reddy, J Electrocardiol 30 suppl:181-186, 1998,
  and the CSE "global boundary" approach): from the first (last) sample where
  the velocity exceeds ``qrs_core`` of its QRS peak, walk outwards until it
  stays below ``qrs_onset_threshold`` (``qrs_offset_threshold``) of the peak,
  above its floor, for ``quiet_s``. Where no such quiet run comes within
  ``boundary_reach_s`` (a wide QRS running into a discordant T wave), the
  velocity minimum there is the boundary.
* **T end** by the trapezium-area method (Vázquez-Seisdedos CR et al., Biomed
  Eng Online 10:77, 2011; a variant of Zhang Q et al.'s area method, IEEE TBME
  53:2544-2552, 2006) applied to the spatial magnitude of the ST-T complex
  (each lead minus its PR level). The point that maximises the trapezium area
  between the steepest descent after the T peak and a point safely after the
  T wave is the knee where the *last* lead returns to baseline. No amplitude
  threshold.
* **P onset**: the same trapezium method, mirrored, on the spatial magnitude of
  the P wave (each lead minus its PR level) before its steepest rise. A P wave
  counts as present when its magnitude exceeds ``p_min_mv`` (per beat) and,
  on a median beat, when it is consistent from beat to beat (see
  :func:`p_wave_consistency`).

Everything is in physical units (s, mV); sample counts are derived from
``fs_hz``. No I/O, numpy and scipy only.

Calling order: ``x = condition(signal_mv, fs_hz)``, then
:func:`delineate_beat` on ``x`` (per beat) or on a median beat from
:func:`dsp.measurements.representative_beat`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from scipy.ndimage import median_filter

from dsp.filters import baseline_sos, lowpass_sos, zero_phase

__all__ = [
    "DelineationConfig",
    "WaveBoundaries",
    "condition",
    "delineate_beat",
    "independent_leads",
    "pr_level",
    "spatial_velocity",
]

FloatArray = NDArray[np.float64]

# Limb leads that are linear combinations of I and II (Einthoven / Goldberger):
# left out of the spatial velocity and magnitudes when I and II are present, so
# that the limb leads do not count three times.
_DERIVED_LIMB = ("III", "AVR", "AVL", "AVF")


@dataclass(frozen=True)
class DelineationConfig:
    """Delineation parameters, in physical units.

    Attributes:
        lowpass_hz: Zero-phase low-pass applied before delineation (muscle noise).
        baseline_hz: Zero-phase high-pass against baseline wander.
        qrs_onset_threshold: QRS onset level, fraction of (peak - floor) spatial velocity.
        qrs_offset_threshold: QRS offset level, same scale.
        qrs_core: Level (same scale) that marks the inside of the QRS complex.
        quiet_s: How long the velocity must stay below the threshold outside the QRS.
        qrs_search_s: The QRS core is looked for within this distance of the R fiducial.
        p_search_s: Earliest P peak before QRS onset.
        p_min_mv: Smallest P-wave magnitude (mV) accepted as a P wave.
        t_min_mv: Smallest T-wave magnitude (mV) for which a T end is given.
        smooth_s: Moving-average width for the P and T magnitudes.
        boundary_reach_s: Farthest a QRS boundary is looked for from the QRS core.
        t_reach_s: End of the T-end search after the T peak (trapezium's far corner).
    """

    lowpass_hz: float = 40.0
    baseline_hz: float = 0.5
    qrs_onset_threshold: float = 0.04
    qrs_offset_threshold: float = 0.06
    qrs_core: float = 0.3
    quiet_s: float = 0.016
    qrs_search_s: float = 0.15
    p_search_s: float = 0.30
    p_min_mv: float = 0.02
    t_min_mv: float = 0.05
    smooth_s: float = 0.02
    boundary_reach_s: float = 0.08
    t_reach_s: float = 0.25

    def __post_init__(self) -> None:
        if not 0.0 < max(self.qrs_onset_threshold, self.qrs_offset_threshold) < self.qrs_core < 1.0:
            raise ValueError("need 0 < qrs_onset_threshold, qrs_offset_threshold < qrs_core < 1")
        if not 0.0 < self.baseline_hz < self.lowpass_hz:
            raise ValueError("need 0 < baseline_hz < lowpass_hz")
        for name in ("quiet_s", "qrs_search_s", "p_search_s", "smooth_s", "boundary_reach_s",
                     "t_reach_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        if self.p_min_mv < 0 or self.t_min_mv < 0:
            raise ValueError("p_min_mv and t_min_mv must be >= 0")


@dataclass(frozen=True)
class WaveBoundaries:
    """Global wave boundaries of one beat, as sample indices into the analysed array.

    ``None`` where a boundary was not found (no P wave, flat T wave).
    """

    r_index: int
    p_onset: int | None
    p_peak: int | None
    qrs_onset: int | None
    qrs_offset: int | None
    t_peak: int | None
    t_end: int | None

    def interval_ms(self, start: int | None, end: int | None, fs_hz: float) -> float | None:
        """``(end - start)`` in ms, or None when either is missing."""
        if start is None or end is None:
            return None
        return 1000.0 * (end - start) / fs_hz

    def pr_ms(self, fs_hz: float) -> float | None:
        """PR interval (P onset to QRS onset), ms."""
        return self.interval_ms(self.p_onset, self.qrs_onset, fs_hz)

    def qrs_ms(self, fs_hz: float) -> float | None:
        """QRS duration, ms."""
        return self.interval_ms(self.qrs_onset, self.qrs_offset, fs_hz)

    def qt_ms(self, fs_hz: float) -> float | None:
        """QT interval (QRS onset to T end), ms."""
        return self.interval_ms(self.qrs_onset, self.t_end, fs_hz)


def _as_2d(signal: ArrayLike) -> FloatArray:
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError("signal must have shape (n,) or (n, n_leads)")
    if not np.all(np.isfinite(x)):
        raise ValueError("signal holds non-finite samples")
    return x


def condition(signal_mv: ArrayLike, fs_hz: float,
              config: DelineationConfig = DelineationConfig()) -> FloatArray:
    """Baseline high-pass and muscle low-pass, both zero-phase (stored ECGs only).

    Args:
        signal_mv: Shape ``(n,)`` or ``(n, n_leads)``, mV.
        fs_hz: Sampling rate in Hz.
        config: Filter corners.

    Returns:
        Filtered ``(n, n_leads)`` float64 array.

    Raises:
        ValueError: Bad shape, non-finite samples, or corners not below fs/2.
    """
    x = _as_2d(signal_mv)
    lp = min(config.lowpass_hz, 0.45 * fs_hz)
    y = zero_phase(x, baseline_sos(fs_hz, config.baseline_hz))
    return zero_phase(y, lowpass_sos(fs_hz, lp))


def independent_leads(leads: Sequence[str]) -> list[int]:
    """Indices of the leads that carry independent information.

    When both I and II are present, III, aVR, aVL and aVF are dropped (they are
    computed from I and II); otherwise every lead is used.
    """
    names = [name.strip().upper() for name in leads]
    if "I" in names and "II" in names:
        return [i for i, name in enumerate(names) if name not in _DERIVED_LIMB]
    return list(range(len(names)))


def spatial_velocity(x: FloatArray, fs_hz: float, despike_s: float = 0.016) -> FloatArray:
    """Norm of the derivative vector over the leads, mV/s: ``sqrt(sum_lead (dx/dt)^2)``.

    A running median over ``despike_s`` (odd number of samples, >= 3) removes
    pacemaker spikes and other slopes shorter than half of it, so that they
    neither set the QRS peak velocity nor pass as QRS; monotonic QRS slopes
    keep their shape. ``despike_s=0`` gives the raw norm.
    """
    d = np.gradient(x, axis=0) * fs_hz
    v = np.asarray(np.sqrt(np.sum(d * d, axis=1)), dtype=np.float64)
    width = int(round(despike_s * fs_hz)) | 1
    if despike_s > 0 and width >= 3 and v.size >= width:
        v = np.asarray(median_filter(v, size=width, mode="nearest"), dtype=np.float64)
    return v


def _smooth(v: FloatArray, width: int) -> FloatArray:
    if width <= 1:
        return v
    kernel = np.ones(width) / width
    pad = width // 2
    padded = np.pad(v, (pad, width - 1 - pad), mode="edge")
    return np.asarray(np.convolve(padded, kernel, mode="valid"), dtype=np.float64)


def _quiet_run_before(sv: FloatArray, start: int, lo: int, thr: float, hold: int) -> int:
    """Walk back from ``start`` to the first sample after a run of ``hold`` quiet samples."""
    run = 0
    i = start
    while i > lo:
        i -= 1
        run = run + 1 if sv[i] < thr else 0
        if run >= hold:
            return i + hold
    return lo


def _quiet_run_after(sv: FloatArray, start: int, hi: int, thr: float, hold: int) -> int:
    """Walk forward from ``start`` to the last sample before a run of ``hold`` quiet samples."""
    run = 0
    i = start
    while i < hi - 1:
        i += 1
        run = run + 1 if sv[i] < thr else 0
        if run >= hold:
            return i - hold
    return hi - 1


def _qrs_bounds(sv: FloatArray, r: int, lo: int, hi: int, fs_hz: float,
                config: DelineationConfig) -> tuple[int, int] | None:
    half = max(1, int(round(config.qrs_search_s * fs_hz)))
    a, b = max(lo, r - half), min(hi, r + half + 1)
    if b - a < 3:
        return None
    near = max(1, int(round(0.06 * fs_hz)))
    na, nb = max(lo, r - near), min(hi, r + near + 1)
    peak = na + int(np.argmax(sv[na:nb]))
    floor_lo, floor_hi = max(lo, r - int(0.35 * fs_hz)), min(hi, r + int(0.45 * fs_hz))
    floor = float(np.percentile(sv[floor_lo:floor_hi], 10))
    span = float(sv[peak]) - floor
    if span <= 0:
        return None
    core = floor + config.qrs_core * span
    thr_on = floor + config.qrs_onset_threshold * span
    thr_off = floor + config.qrs_offset_threshold * span
    above = np.flatnonzero(sv[a:b] >= core) + a
    first, last = int(min(above[0], peak)), int(max(above[-1], peak))
    hold = max(2, int(round(config.quiet_s * fs_hz)))
    onset = _quiet_run_before(sv, first, lo, thr_on, hold)
    offset = _quiet_run_after(sv, last, hi, thr_off, hold)
    # No quiet segment within reach of the QRS core (e.g. a wide QRS running
    # into a discordant T wave): the boundary is the velocity minimum there.
    reach = max(2, int(round(config.boundary_reach_s * fs_hz)))
    a2 = max(lo, first - reach)
    if first - onset > reach and first - a2 >= 2:
        onset = a2 + int(np.argmin(sv[a2:first]))
    b2 = min(hi, last + reach + 1)
    if offset - last > reach and b2 - last >= 3:
        offset = last + 1 + int(np.argmin(sv[last + 1:b2]))
    return onset, offset


def _trapezium_end(y: FloatArray, xm: int, xr: int) -> int:
    """Trapezium-area knee after a descent: argmax of (y[xm] - y[i]) * (2 xr - i - xm)."""
    if xr <= xm:
        return xm
    i = np.arange(xm, xr + 1)
    area = (y[xm] - y[xm:xr + 1]) * (2 * xr - i - xm)
    return xm + int(np.argmax(area))


def _trapezium_start(y: FloatArray, xm: int, xr: int) -> int:
    """Mirror of :func:`_trapezium_end` before a rise (``xr < xm``)."""
    if xr >= xm:
        return xm
    i = np.arange(xr, xm + 1)
    area = (y[xm] - y[xr:xm + 1]) * (i + xm - 2 * xr)
    return xr + int(np.argmax(area))


def pr_level(x: FloatArray, sv: FloatArray, qrs_onset: int, lo: int, fs_hz: float) -> FloatArray:
    """Isoelectric (PR segment) level per lead: around the flattest point in the 50 ms before QRS onset."""
    half = max(1, int(round(0.006 * fs_hz)))
    a = max(lo, qrs_onset - int(round(0.05 * fs_hz)))
    if qrs_onset - a < 1:
        return np.asarray(x[qrs_onset], dtype=np.float64)
    flat = _smooth(sv[a:qrs_onset + 1], 2 * half + 1)
    c = a + int(np.argmin(flat))
    return np.asarray(np.mean(x[max(lo, c - half):c + half + 1], axis=0), dtype=np.float64)


def delineate_beat(x: FloatArray, r: int, fs_hz: float, rr_s: float, *,
                   leads: Sequence[int] | None = None, lo: int = 0, hi: int | None = None,
                   sv: FloatArray | None = None,
                   config: DelineationConfig = DelineationConfig()) -> WaveBoundaries:
    """Global boundaries of the beat whose R fiducial is ``r``.

    Args:
        x: Conditioned ECG (:func:`condition`), ``(n, n_leads)`` mV, or a median beat.
        r: R fiducial sample index in ``x``.
        fs_hz: Sampling rate in Hz.
        rr_s: The RR interval around this beat (bounds the P and T searches).
        leads: Lead columns to use (:func:`independent_leads`); all by default.
        lo: First sample that belongs to this beat's search region.
        hi: One past the last such sample (``len(x)`` by default).
        sv: Precomputed spatial velocity of ``x[:, leads]`` (saves time per beat).
        config: Parameters.

    Returns:
        The boundaries; QRS ones are None only when the beat has no QRS slope.
    """
    n = x.shape[0]
    hi = n if hi is None else min(hi, n)
    lo = max(0, lo)
    cols = list(range(x.shape[1])) if leads is None else list(leads)
    xs = x[:, cols]
    if sv is None:
        sv = spatial_velocity(xs, fs_hz)
    none = WaveBoundaries(r, None, None, None, None, None, None)
    if not lo <= r < hi:
        return none
    qrs = _qrs_bounds(sv, r, lo, hi, fs_hz, config)
    if qrs is None:
        return none
    qon, qoff = qrs
    level = pr_level(xs, sv, qon, lo, fs_hz)
    width = max(1, int(round(config.smooth_s * fs_hz)))

    # T wave: trapezium knee on the spatial magnitude of the ST-T complex
    # against the PR level, after its steepest descent from the T peak: where
    # the last lead returns to baseline.
    t_peak = t_end = None
    t_lo = qoff + int(round(0.06 * fs_hz))
    t_hi = min(hi - 1, r + int(round(min(0.6, 0.7 * rr_s) * fs_hz)))
    if t_hi - t_lo > 2:
        seg_hi = min(hi, r + int(round(max(0.3, rr_s - 0.2) * fs_hz)) + 1)
        mag = _smooth(np.sqrt(np.sum((xs[t_lo:seg_hi] - level) ** 2, axis=1)), width)
        tp = int(np.argmax(mag[:t_hi - t_lo]))
        if mag[tp] - float(np.min(mag)) >= config.t_min_mv:
            xr = min(mag.size - 1, tp + int(round(config.t_reach_s * fs_hz)))
            slope = np.diff(mag[tp:xr + 1])
            if slope.size:
                t_peak = t_lo + tp
                t_end = t_lo + _trapezium_end(mag, tp + int(np.argmin(slope)), xr)

    # P wave: spatial magnitude before the QRS against the PR level.
    p_onset = p_peak = None
    p_lo = max(lo, qon - int(round(config.p_search_s * fs_hz)))
    if t_end is not None:
        p_lo = max(p_lo, t_end - int(round(rr_s * fs_hz)) + int(round(0.04 * fs_hz)))
    p_hi = qon - int(round(0.04 * fs_hz))
    if p_hi - p_lo > 2:
        ext_lo = max(lo, p_lo - int(round(0.08 * fs_hz)))
        if t_end is not None:
            ext_lo = max(ext_lo, t_end - int(round(rr_s * fs_hz)))
        mag = _smooth(np.sqrt(np.sum((xs[ext_lo:p_hi] - level) ** 2, axis=1)), width)
        off = p_lo - ext_lo
        pp = off + int(np.argmax(mag[off:]))
        xr = max(0, pp - int(round(0.15 * fs_hz)))
        if pp - xr >= 2 and mag[pp] - float(np.min(mag[xr:pp + 1])) >= config.p_min_mv:
            rise = np.diff(mag[xr:pp + 1])
            xm = xr + int(np.argmax(rise)) + 1
            p_peak = ext_lo + pp
            p_onset = ext_lo + _trapezium_start(mag, xm, xr)
    return WaveBoundaries(r, p_onset, p_peak, qon, qoff, t_peak, t_end)
