"""Per-lead ECG signal quality flags with time spans, streaming-capable.

:class:`QualityMonitor` cuts each lead into consecutive windows of
``window_s`` (1 s), computes a few robust measures per window for all leads at
once, and merges flagged windows into spans. Input is in mV (raw / gain).
Any chunking gives the same spans (samples are buffered to whole windows and
the two filters carry their state).

Flags (per window, thresholds in :class:`QualityConfig`):

* ``LEAD_OFF``: non-finite samples, or a flat signal parked far from zero
  (an amplifier at its rail), the usual look of a detached electrode.
* ``FLAT``: peak-to-peak below ``flat_mv`` (no ECG at all).
* ``SATURATION``: the signal sits on its window maximum or minimum for at
  least ``clip_run_s`` in a row while otherwise active (clipping).
* ``HF_NOISE``: robust RMS (1.4826 x median absolute value) above 35 Hz
  (muscle / mains) over ``hf_noise_mv``.
* ``BASELINE_WANDER``: range of the < 0.7 Hz component over
  ``baseline_wander_mv``.

Use these flags to say "signal unusable" instead of trusting beats found in it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal as sps

__all__ = ["QualityConfig", "QualityFlag", "QualityMonitor", "QualitySpan", "assess"]

FloatArray = NDArray[np.float64]


class QualityFlag(enum.Enum):
    """Signal quality problems, per lead."""

    LEAD_OFF = "lead_off"
    FLAT = "flat"
    SATURATION = "saturation"
    HF_NOISE = "hf_noise"
    BASELINE_WANDER = "baseline_wander"


@dataclass(frozen=True)
class QualitySpan:
    """A span of samples ``[start_sample, end_sample)`` of one lead with one flag."""

    lead: int
    flag: QualityFlag
    start_sample: int
    end_sample: int


@dataclass(frozen=True)
class QualityConfig:
    """Quality thresholds in physical units (mV, s, Hz), validated.

    Attributes:
        fs_hz: Sampling rate in Hz.
        window_s: Analysis window in s.
        flat_mv: Peak-to-peak below this is a flat line.
        lead_off_level_mv: A flat signal further than this from 0 mV is lead-off.
        clip_run_s: Run of identical extreme samples that counts as clipping.
        clip_min_range_mv: Clipping is only checked when the window range exceeds this.
        hf_cutoff_hz: High-pass corner of the noise measure.
        hf_noise_mv: RMS above ``hf_cutoff_hz`` over this is high-frequency noise.
        wander_cutoff_hz: Low-pass corner of the baseline measure.
        baseline_wander_mv: Baseline range within a window over this is wander.
    """

    fs_hz: float
    window_s: float = 1.0
    flat_mv: float = 0.02
    lead_off_level_mv: float = 4.0
    clip_run_s: float = 0.03
    clip_min_range_mv: float = 0.2
    hf_cutoff_hz: float = 35.0
    hf_noise_mv: float = 0.05
    wander_cutoff_hz: float = 0.7
    baseline_wander_mv: float = 1.0

    def __post_init__(self) -> None:
        if not self.fs_hz > 0:
            raise ValueError("fs_hz must be > 0")
        if not 0 < self.hf_cutoff_hz < self.fs_hz / 2:
            raise ValueError("hf_cutoff_hz must be in (0, fs_hz / 2)")
        if not 0 < self.wander_cutoff_hz < self.fs_hz / 2:
            raise ValueError("wander_cutoff_hz must be in (0, fs_hz / 2)")
        if not self.window_s * self.fs_hz >= 8:
            raise ValueError("window_s must hold at least 8 samples")
        for name in ("flat_mv", "lead_off_level_mv", "clip_run_s", "hf_noise_mv",
                     "baseline_wander_mv", "clip_min_range_mv"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")


class QualityMonitor:
    """Streaming per-lead quality flags.

    Call :meth:`process` with consecutive chunks ``(n,)`` or ``(n, n_leads)``
    in mV; it returns the spans that ended within the windows completed so
    far. :meth:`active` lists spans still open; :meth:`flush` closes them.
    Memory: one window of samples per lead plus 6 filter-state floats per lead.

    Args:
        config: Thresholds (see :class:`QualityConfig`).
        n_leads: Number of leads.
    """

    def __init__(self, config: QualityConfig, n_leads: int = 1) -> None:
        if n_leads < 1:
            raise ValueError("n_leads must be >= 1")
        self.config = config
        self.n_leads = n_leads
        fs = config.fs_hz
        self._win = int(round(config.window_s * fs))
        self._clip_run = max(2, int(round(config.clip_run_s * fs)))
        self._sos_hf = np.asarray(sps.butter(2, config.hf_cutoff_hz, btype="highpass", fs=fs,
                                             output="sos"), dtype=np.float64)
        self._sos_lf = np.asarray(sps.butter(2, config.wander_cutoff_hz, fs=fs, output="sos"),
                                  dtype=np.float64)
        self._zi_hf: FloatArray | None = None
        self._zi_lf: FloatArray | None = None
        self._pending = np.empty((0, n_leads))
        self._start = 0  # absolute index of the first pending sample
        self._open: dict[tuple[int, QualityFlag], int] = {}

    def process(self, chunk: ArrayLike) -> list[QualitySpan]:
        """Feed samples (mV); return spans closed by the windows now complete."""
        x = np.asarray(chunk, dtype=np.float64)
        if x.ndim == 1 and self.n_leads == 1:
            x = x.reshape(-1, 1)
        if x.ndim != 2 or x.shape[1] != self.n_leads:
            raise ValueError(f"chunk shape {x.shape} does not match {self.n_leads} lead(s)")
        buf = np.concatenate((self._pending, x), axis=0)
        n_win = buf.shape[0] // self._win
        closed: list[QualitySpan] = []
        if n_win:
            used = n_win * self._win
            flags = self._assess(buf[:used])
            for w in range(n_win):
                closed.extend(self._merge(flags[w], self._start + w * self._win))
            self._start += used
            buf = buf[used:]
        self._pending = buf.copy()
        return closed

    def _assess(self, x: FloatArray) -> NDArray[np.bool_]:
        """Flags for whole windows of ``x``: bool array (n_windows, n_leads, n_flags)."""
        cfg = self.config
        w = self._win
        n, l = x.shape
        nw = n // w
        finite = np.isfinite(x)
        xf = np.where(finite, x, 0.0)
        if self._zi_hf is None or self._zi_lf is None:
            first = xf[0]
            self._zi_hf = sps.sosfilt_zi(self._sos_hf)[:, :, None] * first[None, None, :]
            self._zi_lf = sps.sosfilt_zi(self._sos_lf)[:, :, None] * first[None, None, :]
        hf, self._zi_hf = sps.sosfilt(self._sos_hf, xf, axis=0, zi=self._zi_hf)
        lf, self._zi_lf = sps.sosfilt(self._sos_lf, xf, axis=0, zi=self._zi_lf)
        xw = xf.reshape(nw, w, l)
        mx = xw.max(axis=1)
        mn = xw.min(axis=1)
        ptp = mx - mn
        bad = ~finite.reshape(nw, w, l).all(axis=1)
        flat = ptp < cfg.flat_mv
        level = np.abs(np.median(xw, axis=1))
        lead_off = bad | (flat & (level > cfg.lead_off_level_mv))
        # clipping: longest run of samples equal to the window max (or min)
        run = self._clip_run
        at_ext = (xw == mx[:, None, :]) | (xw == mn[:, None, :])
        if w >= run:
            csum = np.cumsum(at_ext, axis=1, dtype=np.int64)
            padded = np.concatenate((np.zeros((nw, 1, l), dtype=np.int64), csum), axis=1)
            longest_ok = (padded[:, run:, :] - padded[:, :-run, :]) == run
            clipped = longest_ok.any(axis=1)
        else:  # pragma: no cover - window shorter than the run
            clipped = np.zeros((nw, l), dtype=bool)
        saturation = clipped & (ptp > cfg.clip_min_range_mv) & ~lead_off
        # robust RMS (1.4826 x median |x|) so the QRS's own high frequencies
        # (a tenth of the window) do not count as noise
        hf_rms = 1.4826 * np.median(np.abs(hf.reshape(nw, w, l)), axis=1)
        hf_noise = (hf_rms > cfg.hf_noise_mv) & ~lead_off
        lfw = lf.reshape(nw, w, l)
        wander = ((lfw.max(axis=1) - lfw.min(axis=1)) > cfg.baseline_wander_mv) & ~lead_off
        flat &= ~lead_off
        return np.stack((lead_off, flat, saturation, hf_noise, wander), axis=2)

    def _merge(self, flags: NDArray[np.bool_], start: int) -> list[QualitySpan]:
        out: list[QualitySpan] = []
        for lead in range(self.n_leads):
            for k, flag in enumerate(_ORDER):
                key = (lead, flag)
                if flags[lead, k]:
                    self._open.setdefault(key, start)
                elif key in self._open:
                    out.append(QualitySpan(lead, flag, self._open.pop(key), start))
        return out

    def active(self) -> list[QualitySpan]:
        """Spans still open, ending at the last analysed sample."""
        return [QualitySpan(lead, flag, s0, self._start)
                for (lead, flag), s0 in sorted(self._open.items(),
                                               key=lambda kv: (kv[0][0], kv[1]))]

    def flush(self) -> list[QualitySpan]:
        """Close all open spans at the last analysed sample (a partial window is dropped)."""
        out = self.active()
        self._open.clear()
        return out


_ORDER = (QualityFlag.LEAD_OFF, QualityFlag.FLAT, QualityFlag.SATURATION,
          QualityFlag.HF_NOISE, QualityFlag.BASELINE_WANDER)


def assess(signal: ArrayLike, fs_hz: float, config: QualityConfig | None = None) -> list[QualitySpan]:
    """Quality spans of a whole recording (offline form of :class:`QualityMonitor`).

    Args:
        signal: Shape ``(n,)`` or ``(n, n_leads)`` in mV.
        fs_hz: Sampling rate in Hz.
        config: Optional thresholds (``config.fs_hz`` must equal ``fs_hz``).

    Returns:
        Spans sorted by lead, then start sample.
    """
    x = np.asarray(signal, dtype=np.float64)
    cfg = config if config is not None else QualityConfig(fs_hz=fs_hz)
    if not math.isclose(cfg.fs_hz, fs_hz):
        raise ValueError("config.fs_hz differs from fs_hz")
    mon = QualityMonitor(cfg, 1 if x.ndim == 1 else int(x.shape[1]))
    spans = mon.process(x) + mon.flush()
    return sorted(spans, key=lambda s: (s.lead, s.start_sample, s.flag.value))
