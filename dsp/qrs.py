"""Streaming QRS detection, single stream and batched over many streams.

The detector is one causal pipeline, so offline and live results are the same:
:func:`detect` runs a one-stream :class:`QRSDetectorBank` over the whole signal
and flushes it, and :class:`StreamingQRSDetector` is that bank fed chunk by
chunk. For any chunking the concatenated outputs equal :func:`detect`
(same beat indices, bit for bit the same intermediate values).

Pipeline (per lead, then fused per stream):

0. De-spiking: a causal 5-sample median plus a short hold where a sample
   departs from it by far more than the signal's running slope, so pacemaker
   pulses (up to 700 mV, 2 ms, as delivered through a 150 Hz front end) do
   not reach the band-pass (5 samples of delay).
1. Band-pass 8-20 Hz (2nd-order Butterworth as SOS; state seeded with
   ``sosfilt_zi`` x first sample so a DC offset gives no start-up transient).
2. Squared band-passed signal: QRS energy. With several leads each lead's
   energy is divided by its own running mean (time constant
   ``lead_norm_tau_s``) and weighted by the square of its "peakiness"
   excess, E[bp^2] / E[|bp|]^2 - pi/2 (0 for Gaussian noise, large for a
   clean ECG), then the leads are summed: a large lead does not dominate
   and a noisy one counts little.
3. Integration: a 2nd-order 5 Hz low-pass over the energy, the causal IIR
   counterpart of Pan-Tompkins' moving-window integrator; its square root is
   the RMS envelope on which all levels and thresholds work (amplitude units,
   so thresholds are scale-free ratios).
4. Candidates and their deadline: every envelope peak gets a decision
   horizon, ``decision_deadline_s`` (0.26 s) after the earlier of its QRS
   onset (first |band-passed| sample >= ``onset_ratio`` x its maximum) and
   one narrow-QRS envelope lag before the peak, kept within
   [``lookahead_min_s``, ``lookahead_small_s``] after the peak. A candidate
   is a local maximum of the envelope over ``[-lookback_s, +min(horizon,
   lookahead_s)]``. One at least ``large_ratio`` x the signal level, or at
   least ``on_time_ratio`` x it and arriving where the next beat is due
   (``on_time_rr`` x median RR), is decided then; any other waits to its
   horizon and is dropped if a larger peak follows in the envelope, or (one
   lead, or where P waves have been seen; below ``dominate_bp_max_ratio`` x
   the signal level) if the |band-passed| signal after ``dominate_gap_s``
   exceeds ``dominate_bp_ratio`` x its own maximum (a QRS shows there before
   it tops the slow envelope), or if it sits where this
   stream's P waves sit: the stream learns, from the smaller candidate that
   precedes its beats by a steady gap (``p_wave_gap_s``, ``p_wave_jitter_s``),
   the P-R gap and P size, and a small candidate one P-R gap before the next
   beat is due (``p_wave_tol_rr``), no larger than ``p_wave_amp_ratio`` x that
   size, is its P wave. So no beat waits for a search-back: each is decided
   at most ``decision_deadline_s`` after its R. In noise (one lead, noise
   level above ``faint_noise_knee_ratio`` x signal) a small candidate that is
   not wide waits to ``decision_deadline_s`` after its R instead
   (``noisy_wait_from_r``): there the onset estimate is the first noise
   excursion, and the QRS that follows a noise bump would come too late.
5. Decision with adaptive signal/noise levels (Pan & Tompkins 1985;
   Hamilton & Tompkins 1986): threshold = noise + ``threshold_ratio`` x
   (signal - noise); signal level = median of the last 8 beat amplitudes;
   noise level = running mean of rejected candidates, decaying at each beat.
   Pan-Tompkins' search-back (which would report beats seconds late) is
   replaced by a causal relief: once ``relief_rr_ratio`` x median RR has
   passed without a beat the threshold is multiplied by ``relief_ratio``.
   A premature candidate (< ``premature_rr_ratio`` x median RR) must also
   clear ``premature_noise_ratio`` x the noise level (capped at
   ``premature_cap_ratio`` x signal): noise comes at random times, beats
   keep their rhythm. With one lead the detector also measures each
   candidate's peak-to-peak extent in a wide band (``wide_band_hz``, within
   ``wide_window_s`` of R) against the median of the last 8 beats': a
   premature candidate at least ``premature_wide_ratio`` x as large there
   (a wide ectopic beat) is capped at ``premature_wide_cap_ratio`` instead,
   and one before the next beat is due that is faint in both bands
   (geometric mean of the two relative sizes below ``faint_ratio``) is
   noise while the noise level is at least ``faint_noise_ratio`` x signal
   (electrode-motion bumps); above ``faint_noise_knee_ratio`` x signal the
   limit rises with the noise level (``faint_noise_gain``, up to
   ``faint_max_ratio``). T-wave test: within ``t_wave_window_s`` of a beat a
   candidate smaller than ``t_wave_exempt_ratio`` x signal needs
   ``t_wave_slope_ratio`` x the previous beat's maximum slope.
   The first ``init_s`` (2 s) are a learning period, decided causally with
   the same deadline: a candidate there is a beat if it reaches
   ``init_threshold_ratio`` x the largest envelope seen up to its decision,
   its energy is ``init_snr`` x the mean so far, and it does not start with
   the signal (a partial complex).
6. The reported R index is the maximum of the fused absolute band-passed
   signal in the 0.18 s before the candidate (at most ``decision_deadline_s``
   before its decision), corrected by the filter lag.

Latency: a beat is decided at most ``decision_deadline_s`` (0.26 s) after
its reported R index, from the first beat on
(:attr:`QRSDetectorBank.latency_samples`); with 40 ms frames it is returned
at most 0.3 s after it. Measured figures against the reference R (median,
p99, max, share within 300 ms) are in docs/dsp.md.

References:
    Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed
    Eng 32(3):230-236 (1985).
    Hamilton PS, Tompkins WJ. Quantitative investigation of QRS detection rules
    using the MIT/BIH arrhythmia database. IEEE Trans Biomed Eng 33(12):1157-1165
    (1986).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal as sps
from scipy.ndimage import maximum_filter1d

__all__ = [
    "DetectorConfig",
    "QRSDetectorBank",
    "StreamingQRSDetector",
    "detect",
]

FloatArray = NDArray[np.float64]
IndexArray = NDArray[np.int64]

_EMPTY = np.empty(0, dtype=np.int64)
_HALF_PI = math.pi / 2.0


def _find_kernel() -> Callable[[FloatArray, FloatArray, FloatArray], None] | None:
    try:  # the compiled kernel behind scipy.signal.sosfilt (see _sos_inplace)
        from scipy.signal._sosfilt import _sosfilt
    except ImportError:  # pragma: no cover
        return None
    kernel: Callable[[FloatArray, FloatArray, FloatArray], None] = _sosfilt
    return kernel


_sosfilt_kernel = _find_kernel()


def _sos_inplace(sos: FloatArray, x: FloatArray, zi: FloatArray) -> None:
    """Filter ``x`` (signals, samples) in place along its last axis, carrying ``zi``.

    ``zi`` has shape (signals, sections, 2) and is updated in place. This calls
    the compiled kernel that ``scipy.signal.sosfilt`` itself calls (same
    arithmetic, so the same bits) without its ~70 us of argument handling per
    call; it falls back to ``sosfilt`` if a scipy release moves the kernel.
    """
    if _sosfilt_kernel is not None:
        _sosfilt_kernel(sos, x, zi)
        return
    y, zf = sps.sosfilt(sos, x, axis=-1, zi=np.moveaxis(zi, 1, 0))  # pragma: no cover
    x[...] = y  # pragma: no cover
    zi[...] = np.moveaxis(zf, 0, 1)  # pragma: no cover


@dataclass(frozen=True)
class DetectorConfig:
    """Detector settings in physical units, validated on construction.

    The defaults are the evaluated configuration (docs/dsp.md); they are the
    same for every record, lead and sampling rate.

    Attributes:
        fs_hz: Sampling rate in Hz.
        band_low_hz: Lower band-pass edge in Hz.
        band_high_hz: Upper band-pass edge in Hz.
        integration_hz: Cut-off of the energy integrator (low-pass) in Hz.
        lookback_s: A candidate must be the envelope maximum over this many
            seconds before it ...
        lookahead_s: ... and this many seconds after it (decision delay of a
            large candidate after its envelope peak).
        lookahead_small_s: Longest decision delay of a candidate smaller than
            ``large_ratio`` x the signal level (it waits to its horizon, see
            ``decision_deadline_s``, and must stay the maximum up to it).
        lookahead_min_s: Shortest look-ahead after an envelope peak; a wide
            complex whose onset lies far before its envelope peak is decided
            this soon, so that its deadline holds.
        decision_deadline_s: Every candidate is decided at most this long
            after its onset estimate: the earlier of the first |band-passed|
            sample at ``onset_ratio`` x its maximum and one narrow-QRS
            envelope lag before its envelope peak. Beats are thus reported at
            most this long (plus one pushed chunk) after their R.
        onset_ratio: See ``decision_deadline_s``.
        dominate_bp_ratio: A small candidate is dropped (its P wave) if the
            |band-passed| signal from ``dominate_gap_s`` after it to its
            horizon exceeds this fraction of its own maximum ...
        dominate_gap_s: ... (one lead; with several leads only where the P
            wave evidence exceeds ``dominate_bp_multilead_evidence``).
        dominate_bp_multilead_evidence: See ``dominate_gap_s``.
        dominate_bp_max_ratio: The |band-passed| look-ahead test drops only
            candidates below this fraction of the signal level: one nearly
            as large as the beats is not a P wave, and in noise the
            |band-passed| signal after a QRS often exceeds the test.
        p_wave_gap_s: A candidate this long before a larger beat is taken as
            that beat's P wave; when such gaps repeat (within
            ``p_wave_jitter_s`` of their running mean) for most beats, the
            stream has visible P waves ...
        p_wave_jitter_s: See ``p_wave_gap_s``.
        p_wave_tol_rr: ... and a small candidate one P-R gap before the next
            beat is due (within this fraction of the median RR) ...
        p_wave_amp_ratio: ... and at most this many times the running P size
            is dropped as a P wave, without waiting for its QRS.
        large_ratio: See ``lookahead_small_s``.
        on_time_ratio: A candidate of at least this fraction of the signal
            level that comes ``on_time_rr`` median RR intervals after the last
            beat (where the next beat is due; a P wave comes earlier) is
            decided after ``lookahead_s`` too.
        on_time_rr: See ``on_time_ratio``.
        refractory_s: No second beat within this many seconds of a beat.
        t_wave_window_s: Candidates closer than this to the previous beat
            must show QRS-like slope (T-wave test) ...
        t_wave_slope_ratio: ... at least this fraction of the previous beat's
            maximum slope ...
        t_wave_exempt_ratio: ... unless it is at least this fraction of the
            signal level (an early ectopic beat, not a T wave).
        threshold_ratio: Beat threshold = noise level + this fraction of
            (signal level - noise level), on the RMS envelope.
        relief_rr_ratio: Once this many median RR intervals have passed
            without a beat, the threshold is multiplied by ``relief_ratio``.
        relief_ratio: See ``relief_rr_ratio``.
        premature_rr_ratio: A candidate earlier than this many median RR
            intervals after the last beat must also exceed
            ``premature_noise_ratio`` x the noise level, capped at
            ``premature_cap_ratio`` x the signal level (noise arrives at random
            times; real beats in noise keep their rhythm).
        premature_noise_ratio: See ``premature_rr_ratio``.
        premature_cap_ratio: See ``premature_rr_ratio``.
        wide_band_hz: Pass band of the wide-band signal (one lead only) whose
            peak-to-peak extent within ``wide_window_s`` of R is compared with
            the median extent of the last 8 beats (QRS size as seen by eye,
            not only its 8-20 Hz energy).
        wide_window_s: See ``wide_band_hz``; the window never reaches past
            ``lookahead_min_s`` after the envelope peak.
        premature_wide_ratio: A premature candidate whose wide-band extent is
            at least this many times the beats' (a wide, large ectopic beat:
            moderate 8-20 Hz energy, large deflection) has its premature cap
            lowered to ``premature_wide_cap_ratio`` x the signal level.
        premature_wide_cap_ratio: See ``premature_wide_ratio``.
        faint_ratio: A candidate before the next beat is due (earlier than
            ``on_time_rr[0]`` median RR) whose geometric mean of relative
            size in the two bands, sqrt(amplitude / signal level x wide-band
            extent / beats' extent), is below this, is rejected as noise
            while the noise level is at least ``faint_noise_ratio`` x the
            signal level (electrode-motion bumps are faint in both bands;
            ectopic beats are large in at least one). 0 disables the test.
        faint_noise_ratio: See ``faint_ratio``.
        faint_noise_knee_ratio: Above this noise level (fraction of the
            signal level) the faint limit rises from ``faint_ratio`` by
            ``faint_noise_gain`` x the excess, up to ``faint_max_ratio``: the
            noisier the recent candidates, the more size an early candidate
            needs (an electrode-motion bump in 18 dB noise is 0.4-0.47 x the
            beats in both bands; MIT-BIH's faint ectopic beats come where the
            noise level is below 0.05 x signal).
        faint_noise_gain: See ``faint_noise_knee_ratio``.
        faint_max_ratio: See ``faint_noise_knee_ratio``.
        coupling_jitter_s: Premature beats that repeat their coupling
            interval (bigeminy, runs of ectopic beats) are learnt like the
            P-R gap: when most premature beats come within this many seconds
            of the running coupling interval (evidence > 0.5), a premature
            candidate there has its premature cap lowered to
            ``premature_wide_cap_ratio`` (noise arrives at random times;
            an ectopic focus keeps its coupling). 0 disables it.
        noisy_wait_from_r: In noise (noise level above
            ``faint_noise_knee_ratio`` x signal), a small one-lead candidate
            that is not wide (extent below ``premature_wide_ratio`` x the
            beats') waits to ``decision_deadline_s`` after its R instead of
            after its onset estimate. In noise the onset estimate is the first
            noise excursion before R, which cut the wait short: a bump just
            before a QRS was accepted before the QRS showed, and the QRS then
            fell in the refractory period. Wide candidates keep the onset
            (an ectopic beat's annotated R is near its onset). Every beat is
            still decided at most ``decision_deadline_s`` after its reported R.
        noise_alpha: Update weight of the noise level per rejected candidate
            (below threshold, T wave, inside the refractory period, or
            followed by a larger peak).
        noise_decay: Factor applied to the noise level at each beat, so a
            past noise burst does not keep the threshold up.
        lead_norm_tau_s: Time constant in seconds of each lead's energy mean
            used to weight leads when fusing several.
        despike: Remove impulses (pacemaker spikes) before the band-pass: a
            causal 5-sample median (2 samples of delay) plus a hold of
            ``spike_hold_s`` where a sample departs from the median by more
            than ``spike_ratio`` x the running mean absolute slope.
        spike_ratio: See ``despike``.
        spike_hold_s: See ``despike``.
        init_s: Start-up (learning) period in s, decided causally with the
            same deadline: a candidate in it is a beat if it reaches
            ``init_threshold_ratio`` x the largest envelope so far and its
            energy ``init_snr`` x the mean energy so far.
        init_threshold_ratio: See ``init_s``.
        init_snr: See ``init_s`` (one lead only: with several, the lead
            normalisation is still settling in the first seconds).
    """

    fs_hz: float
    band_low_hz: float = 8.0
    band_high_hz: float = 20.0
    integration_hz: float = 5.0
    lookback_s: float = 0.2
    lookahead_s: float = 0.1
    lookahead_small_s: float = 0.2
    lookahead_min_s: float = 0.03
    large_ratio: float = 1.0
    on_time_ratio: float = 0.6
    on_time_rr: tuple[float, float] = (0.9, 1.3)
    refractory_s: float = 0.18
    t_wave_window_s: float = 0.36
    t_wave_slope_ratio: float = 0.5
    t_wave_exempt_ratio: float = 0.4
    threshold_ratio: float = 0.22
    relief_rr_ratio: float = 1.5
    relief_ratio: float = 0.5
    premature_rr_ratio: float = 0.8
    premature_noise_ratio: float = 5.0
    premature_cap_ratio: float = 0.68
    noise_alpha: float = 0.125
    noise_decay: float = 0.95
    lead_norm_tau_s: float = 4.0
    init_s: float = 2.0
    init_threshold_ratio: float = 0.35
    init_snr: float = 4.0
    decision_deadline_s: float = 0.26
    dominate_bp_ratio: float = 0.8
    dominate_gap_s: float = 0.07
    dominate_bp_multilead_evidence: float = 0.3
    dominate_bp_max_ratio: float = 0.9
    onset_ratio: float = 0.4
    p_wave_gap_s: tuple[float, float] = (0.1, 0.3)
    p_wave_tol_rr: float = 0.1
    p_wave_amp_ratio: float = 1.5
    p_wave_jitter_s: float = 0.03
    wide_band_hz: tuple[float, float] = (0.5, 40.0)
    wide_window_s: float = 0.1
    premature_wide_ratio: float = 1.2
    premature_wide_cap_ratio: float = 0.5
    faint_ratio: float = 0.35
    faint_noise_ratio: float = 0.02
    faint_noise_knee_ratio: float = 0.05
    faint_noise_gain: float = 3.0
    faint_max_ratio: float = 0.5
    noisy_wait_from_r: bool = True
    coupling_jitter_s: float = 0.04
    despike: bool = True
    spike_ratio: float = 1500.0
    spike_hold_s: float = 0.015

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fs_hz) and self.fs_hz >= 50.0):
            raise ValueError(f"fs_hz must be >= 50 Hz, got {self.fs_hz!r}")
        nyq = self.fs_hz / 2.0
        if not 0.0 < self.band_low_hz < self.band_high_hz < nyq:
            raise ValueError("need 0 < band_low_hz < band_high_hz < fs_hz / 2")
        if not 0.0 < self.integration_hz < nyq:
            raise ValueError("integration_hz must be in (0, fs_hz / 2)")
        for name in ("lookback_s", "lookahead_s", "refractory_s", "t_wave_window_s",
                     "lead_norm_tau_s", "init_s", "relief_rr_ratio"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0")
        for name in ("large_ratio", "t_wave_slope_ratio", "t_wave_exempt_ratio",
                     "threshold_ratio", "relief_ratio", "premature_rr_ratio", "on_time_ratio",
                     "premature_cap_ratio", "noise_alpha", "noise_decay"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if not 0.0 < self.on_time_rr[0] <= self.on_time_rr[1]:
            raise ValueError("on_time_rr must be an increasing pair > 0")
        if not (self.spike_ratio > 0.0 and self.spike_hold_s > 0.0):
            raise ValueError("spike_ratio and spike_hold_s must be > 0")
        if not self.premature_noise_ratio >= 0.0:
            raise ValueError("premature_noise_ratio must be >= 0")
        if not 0.0 < self.lookahead_min_s <= self.lookahead_s <= self.lookahead_small_s:
            raise ValueError("need 0 < lookahead_min_s <= lookahead_s <= lookahead_small_s")
        if not self.coupling_jitter_s >= 0.0:
            raise ValueError("coupling_jitter_s must be >= 0")
        for name in ("decision_deadline_s", "dominate_gap_s", "p_wave_jitter_s", "init_snr",
                     "p_wave_amp_ratio", "dominate_bp_ratio"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0")
        for name in ("onset_ratio", "init_threshold_ratio", "p_wave_tol_rr",
                     "dominate_bp_multilead_evidence", "premature_wide_cap_ratio",
                     "faint_ratio", "faint_noise_ratio", "faint_noise_knee_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if not self.faint_noise_gain >= 0.0:
            raise ValueError("faint_noise_gain must be >= 0")
        if not self.faint_ratio <= self.faint_max_ratio <= 1.0:
            raise ValueError("faint_max_ratio must be in [faint_ratio, 1]")
        if not 0.0 < self.wide_band_hz[0] < self.wide_band_hz[1] < nyq:
            raise ValueError("need 0 < wide_band_hz[0] < wide_band_hz[1] < fs_hz / 2")
        for name in ("wide_window_s", "premature_wide_ratio", "dominate_bp_max_ratio"):
            if not getattr(self, name) > 0.0:
                raise ValueError(f"{name} must be > 0")
        if not 0.0 < self.p_wave_gap_s[0] <= self.p_wave_gap_s[1]:
            raise ValueError("p_wave_gap_s must be an increasing pair > 0")
        if self.refractory_s > self.lookback_s:
            raise ValueError("refractory_s must not exceed lookback_s")


def _causal_median5(ext: FloatArray) -> FloatArray:
    """Median of each 5 consecutive samples along axis 1: output k = median(ext[:, k:k+5]).

    A min/max network (10 elementwise operations, exact): the median of five
    is the median of x2, max(min(x0, x1), min(x3, x4)) and
    min(max(x0, x1), max(x3, x4)).
    """
    n = ext.shape[1] - 4
    x0, x1, x2, x3, x4 = (ext[:, k:k + n] for k in range(5))
    lo = np.maximum(np.minimum(x0, x1), np.minimum(x3, x4))
    hi = np.minimum(np.maximum(x0, x1), np.maximum(x3, x4))
    out = np.maximum(np.minimum(x2, lo), np.minimum(np.maximum(x2, lo), hi))
    return np.ascontiguousarray(out)


class _SpikeBlanker:
    """Causal impulse (pacemaker spike) removal on (cols, n) blocks, state carried.

    A causal 5-sample median removes impulses up to 2 samples wide. A wider
    spike (a large pacer pulse smeared by the front end's low-pass over 2-4
    samples, plus ringing) is caught by its size: where the centre sample
    departs from the median by more than ``ratio`` x the running mean
    absolute slope of the median output (a scale that spikes do not
    inflate), the output is held at its last clean value from 3 samples
    before to ``hold_s`` after it. Output is delayed by ``DELAY`` samples.
    Exact elementwise and IIR steps only: any chunking gives the same bits.
    """

    DELAY = 5  # 2 (median centre) + 3 (look-ahead to blank before a spike)

    def __init__(self, n_cols: int, fs_hz: float, ratio: float, hold_s: float) -> None:
        self.ratio = ratio
        self.hold = max(1, round(hold_s * fs_hz))
        self.span = self.hold + 5  # flag history needed before a released sample
        pole = math.exp(-1.0 / (2.0 * fs_hz))  # 2 s running mean of |slope|
        self.sos = np.array([[1.0 - pole, 0.0, 0.0, 1.0, -pole, 0.0]])
        self.tail = np.zeros((n_cols, 4))  # last raw samples (median input)
        self.pend = np.zeros((n_cols, 3))  # median outputs not released yet
        self.zi = np.zeros((n_cols, 1, 2))
        self.last_m = np.zeros((n_cols, 1))
        self.last_out = np.zeros((n_cols, 1))
        self.flags = np.zeros((n_cols, self.span), dtype=np.int64)
        self.flags_any = False
        self.started = False

    def process(self, x: FloatArray) -> FloatArray:
        """Return the de-spiked (cols, n) block, ``DELAY`` samples late."""
        n = x.shape[1]
        if not self.started:
            self.started = True
            for a in (self.tail, self.pend, self.last_m, self.last_out):
                a[:] = x[:, :1]
            # slope scale starts at 1e-6 x the first sample (steady state)
            self.zi[:, 0, 0] = 1e-6 * np.abs(x[:, 0]) * (1.0 - self.sos[0, 0])
        ext = np.concatenate((self.tail, x), axis=1)
        self.tail = ext[:, -4:].copy()
        m = _causal_median5(ext)
        dev = np.abs(ext[:, 2:n + 2] - m)
        scale = np.abs(np.diff(m, axis=1, prepend=self.last_m))
        self.last_m = m[:, -1:].copy()
        _sos_inplace(self.sos, scale, self.zi)
        scale *= self.ratio
        spike = dev > scale
        mm = np.concatenate((self.pend, m), axis=1)
        self.pend = mm[:, -3:].copy()
        out = mm[:, :n]
        if self.flags_any or spike.any():  # rare: only around spikes
            fl = np.concatenate((self.flags, spike.astype(np.int64)), axis=1)
            self.flags = fl[:, -self.span:].copy()
            self.flags_any = bool(self.flags.any())
            p = self.span
            cs = np.concatenate((np.zeros((fl.shape[0], 1), dtype=np.int64),
                                 np.cumsum(fl, axis=1)), axis=1)
            blank = (cs[:, p + 1:p + n + 1] - cs[:, :n]) > 0
            if blank.any():
                idx = np.where(blank, 0, np.arange(1, n + 1)[None, :])
                np.maximum.accumulate(idx, axis=1, out=idx)
                out = np.take_along_axis(np.concatenate((self.last_out, out), axis=1), idx,
                                         axis=1)
        self.last_out = out[:, -1:].copy()
        return np.ascontiguousarray(out)


class _Design:
    """Filters and sample counts derived once from a :class:`DetectorConfig`."""

    def __init__(self, cfg: DetectorConfig) -> None:
        fs = cfg.fs_hz
        self.cfg = cfg
        self.sos_bp: FloatArray = np.ascontiguousarray(
            sps.butter(2, [cfg.band_low_hz, cfg.band_high_hz], btype="bandpass",
                       fs=fs, output="sos"), dtype=np.float64)
        self.zi_bp: FloatArray = np.asarray(sps.sosfilt_zi(self.sos_bp), dtype=np.float64)
        self.sos_wide: FloatArray = np.ascontiguousarray(
            sps.butter(1, list(cfg.wide_band_hz), btype="bandpass", fs=fs, output="sos"),
            dtype=np.float64)
        self.zi_wide: FloatArray = np.asarray(sps.sosfilt_zi(self.sos_wide), dtype=np.float64)
        self.sos_int: FloatArray = np.ascontiguousarray(
            sps.butter(2, cfg.integration_hz, fs=fs, output="sos"), dtype=np.float64)
        self.norm_pole = math.exp(-1.0 / (cfg.lead_norm_tau_s * fs))
        self.sos_norm: FloatArray = np.array(
            [[1.0 - self.norm_pole, 0.0, 0.0, 1.0, -self.norm_pole, 0.0]])
        self.rb = max(1, round(cfg.lookback_s * fs))
        self.rf = max(1, round(cfg.lookahead_s * fs))
        self.rf_small = max(self.rf, round(cfg.lookahead_small_s * fs))
        self.refractory = round(cfg.refractory_s * fs)
        self.t_window = round(cfg.t_wave_window_s * fs)
        self.slope_window = max(1, round(0.15 * fs))
        self.init_samples = round(cfg.init_s * fs)
        self.default_rr = fs  # 1 s until RR intervals are known
        self.bp_lag = self._peak_lag(fs) + (_SpikeBlanker.DELAY if cfg.despike else 0)
        self.deadline = round(cfg.decision_deadline_s * fs)
        # Every candidate is decided at most `deadline` after its onset (see
        # QRSDetectorBank._measures) and never sooner than rf_min after its
        # envelope peak; R is searched at most (deadline - rf_min) before that
        # decision, so a beat is decided at most `deadline` after its R index.
        self.rf_min = max(1, min(self.rf, round(cfg.lookahead_min_s * fs)))
        self.refine_window = max(1, min(round(0.2 * fs),
                                        self.deadline - self.rf_min - self.bp_lag))
        self.size_min = self.rb + self.rf_min + 1
        self.min_offsets = np.arange(-self.rb, self.rf_min + 1)
        self.ext_offsets = np.arange(self.rf_min + 1, self.rf + 1) if self.rf > self.rf_min \
            else np.zeros(1, dtype=np.int64)
        self.slope_offsets = np.arange(-self.slope_window, 1)
        self.refine_offsets = np.arange(-self.refine_window, 1)
        self.small_offsets = np.arange(self.rf + 1, self.rf_small + 1) if self.rf_small > self.rf \
            else np.zeros(1, dtype=np.int64)
        self.env_lag = self._env_lag(fs)
        # wide-band extent window around R (buffer columns relative to R's
        # column); it never reaches past rf_min after the envelope peak
        self.wide_delay = _SpikeBlanker.DELAY if cfg.despike else 0
        self.wide_w = max(1, round(cfg.wide_window_s * fs))
        self.wide_offsets = np.arange(-self.wide_w, self.wide_w + 1)
        self.start_guard = round(0.1 * fs)
        self.p_gap = (round(cfg.p_wave_gap_s[0] * fs), round(cfg.p_wave_gap_s[1] * fs))
        self.p_jitter = round(cfg.p_wave_jitter_s * fs)
        self.coupling_jitter = round(cfg.coupling_jitter_s * fs)
        self.ahead_offsets = np.arange(max(1, round(cfg.dominate_gap_s * fs)), self.rf_small + 1)
        # History kept between pushes: look-back and the longest look-ahead of
        # the local-max window plus the slope / refinement windows before it.
        # (the wide-band window reaches wide_w before R, R at most
        # refine_window + bp_lag before the peak)
        self.back = max(self.slope_window, self.refine_window + max(
            0, self.bp_lag - self.wide_delay + self.wide_w - self.rb - 2))
        self.hist = self.rb + self.rf_small + self.back + 2

    def _env_lag(self, fs: float) -> int:
        """Samples from a narrow QRS-like pulse's peak to its envelope peak."""
        n = int(2 * fs)
        t = (np.arange(n) - n // 2) / fs
        pulse = np.exp(-0.5 * (t / 0.01) ** 2)
        e = sps.sosfilt(self.sos_bp, pulse) ** 2
        e = sps.sosfilt(self.sos_int, e)
        delay = _SpikeBlanker.DELAY if self.cfg.despike else 0
        return int(np.argmax(e)) - n // 2 + delay

    def _peak_lag(self, fs: float) -> int:
        """Samples from a QRS-like pulse's peak to the band-passed |output| peak."""
        n = int(fs)
        t = (np.arange(n) - n // 2) / fs
        pulse = np.exp(-0.5 * (t / 0.01) ** 2)  # 10 ms Gaussian, a narrow QRS
        y = np.abs(sps.sosfilt(self.sos_bp, pulse))
        return int(np.argmax(y)) - n // 2


@dataclass(frozen=True)
class _Measures:
    """Per-peak measures: |band-passed| maximum, R offset, decision horizon."""

    own_max: FloatArray
    r_off: IndexArray
    horizon: IndexArray

    def take(self, keep: NDArray[np.bool_]) -> _Measures:
        return _Measures(self.own_max[keep], self.r_off[keep], self.horizon[keep])


class QRSDetectorBank:
    """QRS detection for many streams in lockstep, one filter call per stage per push.

    Each stream has ``n_leads`` leads fused into one beat series. All streams
    are pushed the same number of samples per call (one 2-D/3-D block per
    tick); beat indices count samples from the bank's start. Per push the
    bank makes three compiled filter calls, one local-maximum filter and one
    ``nonzero`` whatever the number of streams; Python work is per candidate
    peak only.

    Memory per stream (see :attr:`state_nbytes`): a feature buffer of three
    float64 rows (four with one lead: the wide-band signal) sized for the
    look-back and longest look-ahead (or the largest chunk pushed, if
    larger), filter and de-spiking states (~35 floats per lead) and the
    decision state (scalars plus the last 8 RR intervals, beat amplitudes
    and wide-band extents). Measured: 15.5 KiB for one lead at 360 Hz,
    18.4 KiB for 12 leads at 500 Hz, pushed 40 ms frames. Nothing grows with
    time.

    Args:
        fs_hz: Sampling rate in Hz, shared by all streams.
        n_streams: Number of streams.
        n_leads: Leads per stream.
        config: Optional full configuration; its ``fs_hz`` must equal ``fs_hz``.

    Raises:
        ValueError: Invalid sizes or configuration.
    """

    def __init__(self, fs_hz: float, n_streams: int, n_leads: int = 1,
                 config: DetectorConfig | None = None) -> None:
        if n_streams < 1 or n_leads < 1:
            raise ValueError("n_streams and n_leads must be >= 1")
        cfg = config if config is not None else DetectorConfig(fs_hz=float(fs_hz))
        if cfg.fs_hz != float(fs_hz):
            raise ValueError("config.fs_hz differs from fs_hz")
        self.config = cfg
        self.n_streams = n_streams
        self.n_leads = n_leads
        d = self._d = _Design(cfg)
        c = n_streams * n_leads
        self._zi_bp: FloatArray | None = None
        self._despike = (_SpikeBlanker(c, cfg.fs_hz, cfg.spike_ratio, cfg.spike_hold_s)
                         if cfg.despike else None)
        self._zi_norm = np.zeros((2 * c, 1, 2))
        self._zi_int = np.zeros((n_streams, d.sos_int.shape[0], 2))
        # Feature buffer, rows: 0 integrated energy, 1 fused |slope|, 2 fused
        # |band-passed|. Columns [0, _len) are valid; column 0 is absolute sample
        # _base. It starts with `hist` zero columns standing for "before start".
        self._rows = 4 if n_leads == 1 else 3  # row 3: wide-band signal (one lead)
        self._buf = np.zeros((self._rows, n_streams, 2 * d.hist + 64))
        self._zi_wide: FloatArray | None = None
        self._len = d.hist
        self._base = -d.hist
        self._last_bp = np.zeros((c, 1))
        self._n_total = 0  # samples pushed so far (per stream)
        self._pending = 0  # absolute index of the first undecided sample
        # decision state, plain lists for fast scalar access
        self._spk = [0.0] * n_streams
        self._npk = [0.0] * n_streams
        self._last_i = [-(10**9)] * n_streams
        self._last_r = [-1] * n_streams
        self._last_slope = [0.0] * n_streams
        self._n_beats = [0] * n_streams
        self._done = [-(10**9)] * n_streams  # last decided candidate (absolute)
        self._init_max = np.zeros(n_streams)  # envelope energy max over the first init_s
        # running max of the envelope energy over the learning period and the
        # look-ahead after it (freed once the period is decided)
        self._init_cmax = np.zeros((n_streams, d.init_samples + d.rf_small + 1))
        self._init_csum = np.zeros((n_streams, d.init_samples + d.rf_small + 1))
        self._floor = np.zeros(n_streams)
        self._rr: list[list[int]] = [[] for _ in range(n_streams)]
        self._rr_ref = [0] * n_streams  # median of the last 8 RR (0: none yet)
        self._amps: list[list[float]] = [[] for _ in range(n_streams)]
        # wide-band peak-to-peak extent of the last 8 beats (one lead) and its median
        self._wides: list[list[float]] = [[] for _ in range(n_streams)]
        self._wide_ref = [0.0] * n_streams
        # P waves: evidence (0..1) that beats are preceded by a smaller candidate,
        # its gap (samples) and amplitude; the last decided candidate
        self._p_ev = [0.0] * n_streams
        self._p_gap = [0.0] * n_streams
        self._p_amp = [0.0] * n_streams
        self._cand_i = [-(10**9)] * n_streams
        self._cand_v = [0.0] * n_streams
        # premature beats: running coupling interval (samples) and the evidence
        # (0..1) that they repeat it
        self._cpl = [0.0] * n_streams
        self._cpl_ev = [0.0] * n_streams
        self._flushed = False

    @property
    def latency_samples(self) -> int:
        """Most samples from a reported R index to the sample that confirms it.

        ``decision_deadline_s`` (0.26 s): each candidate is decided at most
        that long after its QRS onset estimate (in noise: after its R, see
        ``DetectorConfig.noisy_wait_from_r``), and R is never searched
        further back than that (see :class:`DetectorConfig`). This holds from
        the first sample on (the learning period decides causally too). A push
        returns a beat with the chunk holding its deciding sample, so the
        latency seen by a caller adds at most one chunk (40 ms frames: <= 0.3 s).
        """
        return self._d.deadline

    @property
    def state_nbytes(self) -> int:
        """Bytes held by the bank's numpy state (buffers and filter states).

        Divide by ``n_streams`` for the per-stream figure; the Python decision
        state adds about 1 KiB per stream (16 RR/amplitude floats + scalars).
        """
        arrays = [v for v in vars(self).values() if isinstance(v, np.ndarray)]
        if self._despike is not None:
            arrays += [v for v in vars(self._despike).values() if isinstance(v, np.ndarray)]
        return int(sum(a.nbytes for a in arrays))

    @property
    def samples_seen(self) -> int:
        """Samples pushed per stream so far."""
        return self._n_total

    # ------------------------------------------------------------------ input
    def _as_cols(self, block: ArrayLike) -> FloatArray:
        """Return a C-contiguous (n_streams * n_leads, n) float64 copy of ``block``."""
        x = np.asarray(block)
        s, l = self.n_streams, self.n_leads
        if x.ndim == 1 and s * l == 1:
            x = x.reshape(-1, 1)
        elif x.ndim == 3 and x.shape[1:] == (s, l):
            x = x.reshape(x.shape[0], s * l)
        elif not (x.ndim == 2 and x.shape[1] == s * l):
            raise ValueError(
                f"block shape {x.shape} does not match (n, {s}, {l}) or (n, {s * l})")
        cols = np.array(x.T, dtype=np.float64, order="C")
        if not np.isfinite(cols).all():  # a NaN would poison the filter states
            np.nan_to_num(cols, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return cols

    # --------------------------------------------------------------- features
    def _features(self, x: FloatArray) -> None:
        """Filter (cols, n) samples in place and append their features to the buffer."""
        d = self._d
        n = x.shape[1]
        if self._zi_bp is None:
            # numerical floor: envelope energy below (1e-9 x first sample)^2 is
            # rounding residue of the DC offset, not signal
            x0 = np.abs(x[:, 0]).reshape(self.n_streams, self.n_leads).max(axis=1)
            self._floor = (1e-9 * x0) ** 2 * (1.0 if self.n_leads == 1 else 1e3)
        if self._despike is not None:
            x = self._despike.process(x)
        if self._zi_bp is None:
            self._zi_bp = d.zi_bp[None, :, :] * x[:, :1, None]
        if self.n_leads == 1:
            wide = x.copy()
            if self._zi_wide is None:
                self._zi_wide = d.zi_wide[None, :, :] * x[:, :1, None]
            _sos_inplace(d.sos_wide, wide, self._zi_wide)
        _sos_inplace(d.sos_bp, x, self._zi_bp)
        bp = x
        slope = np.empty_like(bp)
        np.subtract(bp[:, :1], self._last_bp, out=slope[:, :1])
        np.subtract(bp[:, 1:], bp[:, :-1], out=slope[:, 1:])
        self._last_bp = bp[:, -1:].copy()
        np.abs(slope, out=slope)
        s, l = self.n_streams, self.n_leads
        out = self._reserve(n)
        if l == 1:
            np.multiply(bp, bp, out=out[0])
            out[1] = slope
            np.abs(bp, out=out[2])
            out[3] = wide
        else:
            c = s * l
            absbp = np.abs(bp)
            means = np.empty((2 * c, n))
            np.multiply(bp, bp, out=means[:c])
            means[c:] = absbp
            energy = means[:c].copy()
            _sos_inplace(d.sos_norm, means, self._zi_norm)
            t = np.arange(self._n_total + 1, self._n_total + n + 1, dtype=np.float64)
            # bias-corrected running means (zero-initialised exponential averages)
            means *= 1.0 / (1.0 - np.power(d.norm_pole, t))
            mean_e = means[:c]
            mean_e += 1e-300
            mean_a = means[c:]
            # lead quality: peakiness E[e] / E[|bp|]^2 is pi/2 for Gaussian noise
            # and several times that for a clean ECG lead
            q = mean_e / (mean_a * mean_a + 1e-300) - _HALF_PI
            np.maximum(q, 0.0, out=q)
            q *= q
            q *= q  # 4th power: the cleaner lead dominates
            qsum = q.reshape(s, l, n).sum(axis=1) + 1e-300
            w = q / mean_e
            rw = np.sqrt(w)
            energy *= w
            slope *= rw
            absbp *= rw
            out[0] = energy.reshape(s, l, n).sum(axis=1) / qsum
            out[1] = slope.reshape(s, l, n).sum(axis=1) / np.sqrt(qsum)
            out[2] = absbp.reshape(s, l, n).sum(axis=1) / np.sqrt(qsum)
        m = np.ascontiguousarray(out[0])
        _sos_inplace(d.sos_int, m, self._zi_int)
        out[0] = m
        if self._n_total < d.init_samples:  # start-up level: max over the first init_s
            k = min(n, d.init_samples - self._n_total)
            np.maximum(self._init_max, m[:, :k].max(axis=1), out=self._init_max)
        t0 = self._n_total
        if t0 < self._init_cmax.shape[1]:  # causal start-up level, sample by sample
            k = min(n, self._init_cmax.shape[1] - t0)
            seg = self._init_cmax[:, t0:t0 + k]
            seg[...] = m[:, :k]
            if t0:
                seg[:, 0] = np.maximum(seg[:, 0], self._init_cmax[:, t0 - 1])
            np.maximum.accumulate(seg, axis=1, out=seg)
            seg = self._init_csum[:, t0:t0 + k]
            seg[...] = m[:, :k]
            if t0:
                seg[:, 0] += self._init_csum[:, t0 - 1]
            np.cumsum(seg, axis=1, out=seg)
        self._len += n

    def _reserve(self, n: int) -> FloatArray:
        """Make room for ``n`` columns; return the (3, n_streams, n) view to fill.

        Columns still needed are kept: the last ``hist`` and everything from
        the look-back of the first undecided candidate on (during start-up a
        candidate may wait for ``init_s`` of signal).
        """
        d = self._d
        if self._len + n > self._buf.shape[2]:
            need_from = self._pending - self._base - (d.rb + d.back + 2)
            keep_from = max(0, min(self._len - d.hist, need_from))
            keep = self._buf[:, :, keep_from:self._len].copy()
            kept = keep.shape[2]
            if kept + n > self._buf.shape[2]:
                self._buf = np.zeros((self._rows, self.n_streams, 2 * (kept + n)))
            self._buf[:, :, :kept] = keep
            self._base += keep_from
            self._len = kept
        return self._buf[:, :, self._len:self._len + n]

    # ------------------------------------------------------------------- API
    def push(self, block: ArrayLike) -> tuple[IndexArray, IndexArray]:
        """Feed the next samples of every stream.

        Args:
            block: Samples shaped ``(n, n_streams, n_leads)`` or
                ``(n, n_streams * n_leads)`` (stream-major columns), in any
                consistent unit (mV recommended); float or int. Non-finite
                samples are treated as 0.

        Returns:
            ``(stream, sample)``: int64 arrays of the beats confirmed by this
            block, sorted by stream then sample; ``sample`` counts samples
            from the bank's start.

        Raises:
            ValueError: Wrong block shape, or push after :meth:`flush`.
        """
        if self._flushed:
            raise ValueError("push after flush")
        x = self._as_cols(block)
        if x.shape[1] == 0:
            return _EMPTY, _EMPTY
        self._features(x)
        self._n_total += x.shape[1]
        return self._advance()

    def flush(self) -> tuple[IndexArray, IndexArray]:
        """Decide the remaining candidates as if the signal ended with zeros.

        Returns:
            ``(stream, sample)`` as in :meth:`push`. The bank accepts no more input.
        """
        if self._flushed:
            return _EMPTY, _EMPTY
        self._flushed = True
        t0 = self._n_total
        if 0 < t0 < self._init_cmax.shape[1]:  # the zeros do not raise the start-up level
            self._init_cmax[:, t0:] = self._init_cmax[:, t0 - 1:t0]
            self._init_csum[:, t0:] = self._init_csum[:, t0 - 1:t0]
        self._reserve(self._d.rf_small + 1)[...] = 0.0
        self._len += self._d.rf_small + 1
        return self._advance()

    # --------------------------------------------------------------- decision
    def _advance(self) -> tuple[IndexArray, IndexArray]:
        """Find and decide the candidates whose look-ahead is now available."""
        d = self._d
        work = self._buf
        cols = self._len
        base = self._base  # absolute sample index of buffer column 0
        stop = cols - d.rf_min  # columns with the shortest look-ahead available
        start = self._pending - base
        out_s: list[int] = []
        out_i: list[int] = []
        k = stop - start
        if k > 0:
            row = work[0]
            # rising local peaks above the numerical floor ...
            core = row[:, start:stop]
            rise = ((core > row[:, start - 1:stop - 1]) & (core >= row[:, start + 1:stop + 1])
                    & (core > self._floor[:, None]))
            ss, jj = np.nonzero(rise)
            jj += start
            if ss.size:  # ... not yet decided for their stream ...
                fresh = base + jj > np.asarray(self._done, dtype=np.int64)[ss]
                ss, jj = ss[fresh], jj[fresh]
            new_pending = stop
            # ... that are the maximum over [-lookback, +lookahead_min] (exact
            # comparisons, so both ways give the same peaks) ...
            if ss.size * d.size_min <= 1_000_000:
                win = row[ss[:, None], jj[:, None] + d.min_offsets]
                top = row[ss, jj] >= win.max(axis=1)
                ss, jj = ss[top], jj[top]
            elif ss.size:
                lo = start - d.rb
                mx = maximum_filter1d(row[:, lo:stop + d.rf_min], size=d.size_min, axis=1,
                                      origin=d.rb - d.size_min // 2)
                top = row[ss, jj] >= mx[ss, jj - lo]
                ss, jj = ss[top], jj[top]
            if ss.size:
                # ... and up to their decision horizon (see _measures) once it
                # is available; a peak that must wait holds back the later ones
                # of its stream
                m = self._measures(jj, ss, work)
                look = np.minimum(m.horizon, d.rf)
                ready = jj + look < cols
                if not ready.all():
                    wait_j = np.full(self.n_streams, cols, dtype=np.int64)
                    np.minimum.at(wait_j, ss[~ready], jj[~ready])
                    new_pending = min(new_pending, int(wait_j.min()))
                    keep = jj < wait_j[ss]
                    ss, jj, look, m = ss[keep], jj[keep], look[keep], m.take(keep)
                ext = np.minimum(jj[:, None] + d.ext_offsets, cols - 1)
                far = np.where(d.ext_offsets[None, :] <= look[:, None], row[ss[:, None], ext],
                               -np.inf)
                top = row[ss, jj] >= far.max(axis=1, initial=-np.inf)
                if top.any():
                    first_wait = self._decide(jj[top], ss[top], m.take(top), work, base, cols,
                                              out_s, out_i)
                    new_pending = min(new_pending, first_wait)
            self._pending = base + new_pending
            if self._pending > d.init_samples and self._init_cmax.shape[1]:
                self._init_cmax = np.zeros((self.n_streams, 0))  # learning period decided
                self._init_csum = np.zeros((self.n_streams, 0))
        if not out_s:
            return _EMPTY, _EMPTY
        if self.n_streams == 1:
            return np.zeros(len(out_i), dtype=np.int64), np.asarray(out_i, dtype=np.int64)
        s_arr = np.asarray(out_s, dtype=np.int64)
        i_arr = np.asarray(out_i, dtype=np.int64)
        order = np.argsort(s_arr, kind="stable")
        return s_arr[order], i_arr[order]

    def _measures(self, jj: IndexArray, ss: IndexArray, work: FloatArray) -> _Measures:
        """Per-peak measures from the samples up to the envelope peak (vectorised)."""
        d = self._d
        own_bp = work[2][ss[:, None], jj[:, None] + d.refine_offsets]
        r_arg = own_bp.argmax(axis=1)
        own_max = own_bp[np.arange(r_arg.size), r_arg]
        r_off = r_arg - (d.refine_window + d.bp_lag)
        # decision horizon: `deadline` after the earlier of the QRS onset
        # (first |band-passed| sample >= onset_ratio x its maximum) and one
        # narrow-QRS envelope lag before the peak, kept in [rf_min, rf_small]
        onset = (own_bp >= d.cfg.onset_ratio * own_max[:, None]).argmax(axis=1) - (
            d.refine_window + d.bp_lag)
        horizon = np.clip(np.minimum(onset, -d.env_lag) + d.deadline, d.rf_min, d.rf_small)
        return _Measures(own_max, r_off, horizon)

    def _decide(self, jj: IndexArray, ss: IndexArray, m: _Measures, work: FloatArray,
                base: int, cols: int, out_s: list[int], out_i: list[int]) -> int:
        """Decide candidates (work columns ``jj`` of streams ``ss``) in time order.

        Returns:
            The first work column holding a candidate that must wait for more
            look-ahead (``cols`` if none), where the next push resumes.
        """
        d = self._d
        cfg = d.cfg
        wm = work[0]
        # per-candidate measures, vectorised over all candidates of this push
        s2 = ss[:, None]
        amp = np.sqrt(np.maximum(wm[ss, jj], 0.0))
        slopes = work[1][s2, jj[:, None] + d.slope_offsets].max(axis=1)
        own_max, r_off, horizon = m.own_max, m.r_off, m.horizon
        fwd_all = wm[s2, np.minimum(jj[:, None] + d.small_offsets, cols - 1)]
        fwd = np.where(d.small_offsets[None, :] <= horizon[:, None], fwd_all, -1.0)
        dominated = fwd.max(axis=1) > wm[ss, jj]
        # a QRS following within the horizon shows in |band-passed| before it
        # tops the envelope (the envelope lags by the integrator's delay)
        ahead_all = work[2][s2, np.minimum(jj[:, None] + d.ahead_offsets, cols - 1)]
        ahead = np.where(d.ahead_offsets[None, :] <= horizon[:, None], ahead_all, -1.0)
        dom_bp = ahead.max(axis=1) > cfg.dominate_bp_ratio * own_max
        from_r = self.n_leads == 1 and cfg.noisy_wait_from_r
        if from_r:
            # the same look-ahead tests up to `deadline` after R (see
            # DetectorConfig.noisy_wait_from_r); chosen per candidate below
            hz_r = np.maximum(horizon, np.clip(np.minimum(r_off, -d.env_lag) + d.deadline,
                                               d.rf_min, d.rf_small))
            fwd = np.where(d.small_offsets[None, :] <= hz_r[:, None], fwd_all, -1.0)
            dominated_r = (fwd.max(axis=1) > wm[ss, jj]).tolist()
            ahead = np.where(d.ahead_offsets[None, :] <= hz_r[:, None], ahead_all, -1.0)
            dom_bp_r = (ahead.max(axis=1) > cfg.dominate_bp_ratio * own_max).tolist()
            horizon_r = hz_r.tolist()
        if self.n_leads == 1:
            # wide-band peak-to-peak extent around R (+-wide_window_s), never
            # reaching past the shortest look-ahead
            rc = jj + r_off + d.wide_delay
            wcol = rc[:, None] + d.wide_offsets
            wcol = np.minimum(wcol, (jj + d.rf_min)[:, None])
            wseg = work[3][s2, wcol]
            wide = (wseg.max(axis=1) - wseg.min(axis=1)).tolist()
        else:
            wide = [0.0] * jj.size
        spk, npk, last_i, last_r = self._spk, self._npk, self._last_i, self._last_r
        last_slope, n_beats, rrs, ampss = self._last_slope, self._n_beats, self._rr, self._amps
        wides, wide_ref = self._wides, self._wide_ref
        wide_ratio, wide_cap = cfg.premature_wide_ratio, cfg.premature_wide_cap_ratio
        dbp_max = cfg.dominate_bp_max_ratio
        faint, faint_noise = cfg.faint_ratio, cfg.faint_noise_ratio
        faint_knee, faint_gain, faint_max = (cfg.faint_noise_knee_ratio, cfg.faint_noise_gain,
                                             cfg.faint_max_ratio)
        rr_refs, done = self._rr_ref, self._done
        # configuration as locals (this loop is the per-candidate hot path)
        refractory, t_window, init_samples = d.refractory, d.t_window, d.init_samples
        large, on_time, (on_lo, on_hi) = cfg.large_ratio, cfg.on_time_ratio, cfg.on_time_rr
        thr_ratio, alpha, decay = cfg.threshold_ratio, cfg.noise_alpha, cfg.noise_decay
        init_ratio = cfg.init_threshold_ratio
        relief_rr, relief = cfg.relief_rr_ratio, cfg.relief_ratio
        pre_rr, pre_noise, pre_cap = (cfg.premature_rr_ratio, cfg.premature_noise_ratio,
                                      cfg.premature_cap_ratio)
        t_slope, t_exempt = cfg.t_wave_slope_ratio, cfg.t_wave_exempt_ratio
        p_lo, p_hi = d.p_gap
        p_tol, p_amp_ratio, p_jitter = cfg.p_wave_tol_rr, cfg.p_wave_amp_ratio, d.p_jitter
        # with several leads the fused |band-passed| look-ahead also sees other
        # leads' late QRS parts: use it only where P waves have been seen
        p_bp_ev = -1.0 if self.n_leads == 1 else cfg.dominate_bp_multilead_evidence
        p_ev, p_gap, p_amp, cand_i, cand_v = (self._p_ev, self._p_gap, self._p_amp, self._cand_i,
                                              self._cand_v)
        cpl, cpl_ev, cpl_tol = self._cpl, self._cpl_ev, d.coupling_jitter
        first_wait = cols
        waiting: set[int] = set()
        cmax, csum = self._init_cmax, self._init_csum
        # background test with one lead only: with several, each lead's energy
        # is divided by a running mean that is still settling in the first
        # seconds, and the peakiness weighting already discounts noisy leads
        init_snr = cfg.init_snr if self.n_leads == 1 else 0.0
        for k, (j, s, v, slope, dr, dom, dbp, hz, wd) in enumerate(zip(
                jj.tolist(), ss.tolist(), amp.tolist(), slopes.tolist(), r_off.tolist(),
                dominated.tolist(), dom_bp.tolist(), horizon.tolist(), wide)):
            i = base + j
            if i <= done[s] or s in waiting:
                continue
            elapsed = i - last_i[s]
            if elapsed < refractory:  # too close to the last beat: noise evidence
                done[s] = i
                npk[s] += alpha * (v - npk[s])
                continue
            if i < init_samples:
                # learning period: every candidate takes the long look-ahead and
                # is measured against the largest envelope seen up to its decision
                if j + hz + 1 > cols:
                    waiting.add(s)
                    first_wait = min(first_wait, j)
                    continue
                spk[s] = max(spk[s], math.sqrt(float(cmax[s, i + hz])))
                small = True
                if i + dr < d.start_guard or (  # a partial complex at the start, or
                        v * v < init_snr * float(csum[s, i + hz]) / (i + hz + 1)):  # background
                    done[s] = i
                    continue
            elif not ampss[s]:  # first candidate after it: level of the whole period
                spk[s] = max(spk[s], math.sqrt(float(self._init_max[s])))
            sp = spk[s]
            rr_ref = rr_refs[s]
            if i >= init_samples:
                small = v < large * sp and not (
                    rr_ref and v >= on_time * sp and on_lo * rr_ref <= elapsed <= on_hi * rr_ref)
                if (from_r and small and npk[s] >= faint_knee * sp and wd
                        and wd < wide_ratio * wide_ref[s]):
                    # in noise a narrow candidate waits to `deadline` after its R
                    hz, dom, dbp = horizon_r[k], dominated_r[k], dom_bp_r[k]
            if small and j + hz + 1 > cols:
                waiting.add(s)  # needs the long look-ahead: resume here next push
                first_wait = min(first_wait, j)
                continue
            done[s] = i
            if small and (dom or (dbp and p_ev[s] > p_bp_ev and v < dbp_max * sp) or (
                    p_ev[s] > 0.5 and rr_ref and v <= p_amp_ratio * p_amp[s]
                    and abs(i + p_gap[s] - last_i[s] - rr_ref) <= p_tol * rr_ref)):
                # a larger peak follows (this one was its P wave or noise), or it
                # sits where this stream's P waves sit: one learnt P-R gap before
                # the next beat is due, no larger than they are
                npk[s] += alpha * (v - npk[s])
                cand_i[s], cand_v[s] = i, v
                continue
            rr_eff = rr_ref or d.default_rr
            if i < init_samples:
                thr = init_ratio * sp
            else:
                thr = npk[s] + thr_ratio * (sp - npk[s])
                if elapsed > relief_rr * rr_eff:
                    thr *= relief
                elif elapsed < pre_rr * rr_eff:
                    # a premature complex at least as large as the beats in the
                    # wide band (an ectopic beat) needs less QRS-band energy
                    cap = wide_cap if wd and wd >= wide_ratio * wide_ref[s] > 0.0 else pre_cap
                    if cpl_tol and cpl_ev[s] > 0.5 and abs(elapsed - cpl[s]) <= cpl_tol:
                        cap = min(cap, wide_cap)  # at the learnt coupling interval
                    thr = max(thr, min(pre_noise * npk[s], cap * sp))
            if faint and wd and elapsed < on_lo * rr_eff and npk[s] >= faint_noise * sp:
                # faint in both bands, before the next beat is due, with noise
                # about: an electrode-motion bump, not an ectopic beat (the
                # more noise, the larger the limit)
                lim = min(faint_max, faint + faint_gain * max(0.0, npk[s] / sp - faint_knee))
                if v * wd < lim * lim * sp * wide_ref[s]:
                    thr = max(thr, v)
            if (v <= thr or (n_beats[s] and elapsed < t_window
                             and slope < t_slope * last_slope[s] and v < t_exempt * sp)):
                npk[s] += alpha * (v - npk[s])
                cand_i[s], cand_v[s] = i, v
                continue
            # beat
            npk[s] *= decay
            # P-wave evidence: was the candidate before this beat a smaller one,
            # one P-R gap earlier? (accepted or not: it is learnt either way)
            gap = i - cand_i[s]
            if p_lo <= gap <= p_hi and cand_v[s] < v and i >= init_samples:
                # evidence only if the gap repeats (P-R is stable, noise is not)
                steady = not p_gap[s] or abs(gap - p_gap[s]) <= p_jitter
                p_gap[s] = gap if not p_gap[s] else p_gap[s] + alpha * (gap - p_gap[s])
                p_amp[s] = cand_v[s] if not p_amp[s] else p_amp[s] + alpha * (cand_v[s] - p_amp[s])
                p_ev[s] += alpha * ((1.0 if steady else 0.0) - p_ev[s])
            else:
                p_ev[s] -= alpha * p_ev[s]
            cand_i[s], cand_v[s] = i, v
            if i >= init_samples:
                amps = ampss[s]
                amps.append(v)
                if len(amps) > 8:
                    del amps[0]
                spk[s] = sorted(amps)[len(amps) // 2]
                if wd:
                    ws = wides[s]
                    ws.append(wd)
                    if len(ws) > 8:
                        del ws[0]
                    wide_ref[s] = sorted(ws)[len(ws) // 2]
            if n_beats[s] and i >= init_samples and elapsed < pre_rr * rr_eff:
                # a premature beat: does it repeat the coupling interval?
                repeats = cpl[s] > 0.0 and abs(elapsed - cpl[s]) <= cpl_tol
                cpl[s] = elapsed if not cpl[s] else cpl[s] + alpha * (elapsed - cpl[s])
                cpl_ev[s] += alpha * ((1.0 if repeats else 0.0) - cpl_ev[s])
            if n_beats[s]:
                rr = rrs[s]
                rr.append(elapsed)
                if len(rr) > 8:
                    del rr[0]
                rr_refs[s] = sorted(rr)[len(rr) // 2]
            n_beats[s] += 1
            last_i[s] = i
            last_slope[s] = slope
            r = max(i + dr, last_r[s] + 1, 0)
            last_r[s] = r
            out_s.append(s)
            out_i.append(r)
        return first_wait


class StreamingQRSDetector:
    """Live QRS detector for one stream of one or more leads.

    Call :meth:`push` with each new chunk, then :meth:`flush` once at the end.
    For any chunking the concatenated outputs equal :func:`detect` on the whole
    signal. A beat is returned at the latest by the push that delivers the
    sample ``latency_samples`` after its reported R index.

    Args:
        fs_hz: Sampling rate in Hz.
        n_leads: Number of leads (fused into one beat series).
        config: Optional :class:`DetectorConfig` (its ``fs_hz`` must match).

    Example:
        >>> import numpy as np
        >>> det = StreamingQRSDetector(fs_hz=360.0)
        >>> beats = [det.push(chunk) for chunk in np.zeros((10, 14))]
        >>> det.flush().size
        0
    """

    def __init__(self, fs_hz: float, n_leads: int = 1,
                 config: DetectorConfig | None = None) -> None:
        self._bank = QRSDetectorBank(fs_hz, 1, n_leads, config)
        self.fs_hz = float(fs_hz)
        self.n_leads = n_leads

    @property
    def latency_samples(self) -> int:
        """Most samples from a reported R index to the sample that confirms it."""
        return self._bank.latency_samples

    def push(self, chunk: ArrayLike) -> IndexArray:
        """Feed samples; return the R-peak sample indices confirmed by them.

        Args:
            chunk: Shape ``(n,)`` (one lead) or ``(n, n_leads)``; float or int,
                any consistent amplitude unit.

        Returns:
            Ascending int64 sample indices counted from the first pushed sample.

        Raises:
            ValueError: Wrong shape, or push after :meth:`flush`.
        """
        x = np.asarray(chunk)
        if x.ndim == 1 and self.n_leads == 1:
            x = x.reshape(-1, 1)
        return self._bank.push(x)[1]

    def flush(self) -> IndexArray:
        """Decide what is left at the end of the signal; no push afterwards."""
        return self._bank.flush()[1]


def detect(signal: ArrayLike, fs_hz: float) -> IndexArray:
    """Detect R peaks in a whole recording.

    Args:
        signal: Shape ``(n,)`` or ``(n, n_leads)``; several leads are fused
            into one beat series. Any consistent amplitude unit.
        fs_hz: Sampling rate in Hz.

    Returns:
        Ascending int64 R-peak sample indices.
    """
    x = np.asarray(signal)
    n_leads = 1 if x.ndim == 1 else int(x.shape[1])
    det = StreamingQRSDetector(fs_hz, n_leads)
    a = det.push(x)
    b = det.flush()
    return np.concatenate((a, b)) if b.size else a
