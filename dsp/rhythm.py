"""RR series, heart rate and rhythm flags from beat sample indices.

Everything works on beat indices (e.g. from :mod:`dsp.qrs`), live or offline:
:class:`RhythmMonitor` is fed beats as they are confirmed and reports rhythm
episodes with their evidence window; :func:`analyze` runs the same monitor
over a whole beat series, so offline and live results agree.

Flags:

* ``BRADYCARDIA`` / ``TACHYCARDIA``: the average heart rate over the last
  ``average_window_s`` (10 s) is below ``bradycardia_bpm`` / above
  ``tachycardia_bpm``. A step in rate is fully followed once the averaging
  window holds only new beats, i.e. within ``average_window_s`` + one RR
  (the IEC 60601-2-27 check asks for <= 11 s).
* ``PAUSE_2S`` / ``PAUSE_3S``: an RR interval longer than 2 s / 3 s (evidence:
  the two beats), reported live while the pause is still going on.
* ``IRREGULAR``: "irregularly irregular" RR (AF candidate) over the last
  ``irregular_beats`` intervals: normalised RMSSD and Shannon entropy of the
  RR histogram both high after removing outliers (Dash S et al., Automatic
  real time detection of atrial fibrillation, Ann Biomed Eng 37:1701-1709, 2009).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "RhythmConfig",
    "RhythmEvent",
    "RhythmFlag",
    "RhythmMonitor",
    "analyze",
    "average_heart_rate_bpm",
    "instantaneous_heart_rate_bpm",
    "rr_intervals_s",
]

FloatArray = NDArray[np.float64]


def rr_intervals_s(beats: ArrayLike, fs_hz: float) -> FloatArray:
    """RR intervals in seconds between consecutive beat sample indices."""
    b = np.asarray(beats, dtype=np.int64)
    return np.diff(b).astype(np.float64) / float(fs_hz)


def instantaneous_heart_rate_bpm(beats: ArrayLike, fs_hz: float) -> FloatArray:
    """Beat-to-beat heart rate in bpm, one value per beat from the second on."""
    rr = rr_intervals_s(beats, fs_hz)
    with np.errstate(divide="ignore"):
        return np.where(rr > 0, 60.0 / np.where(rr > 0, rr, 1.0), np.inf)


def average_heart_rate_bpm(beats: ArrayLike, fs_hz: float, window_s: float = 10.0) -> FloatArray:
    """Average heart rate in bpm at each beat over the preceding ``window_s``.

    The value at beat k is 60 / mean RR of the intervals that end within
    ``window_s`` seconds up to beat k (at least one interval); NaN at beat 0.
    """
    b = np.asarray(beats, dtype=np.int64)
    out = np.full(b.size, np.nan)
    if b.size < 2:
        return out
    w = int(round(window_s * fs_hz))
    first = np.searchsorted(b, b - w, side="left")  # first beat inside the window
    first = np.minimum(first, np.arange(b.size) - 1)
    ok = np.arange(b.size) >= 1
    span = (b - b[np.maximum(first, 0)]).astype(np.float64)
    n_rr = np.arange(b.size) - first
    out[ok] = 60.0 * n_rr[ok] * fs_hz / span[ok]
    return out


class RhythmFlag(enum.Enum):
    """Rhythm findings reported by :class:`RhythmMonitor`."""

    BRADYCARDIA = "bradycardia"
    TACHYCARDIA = "tachycardia"
    PAUSE_2S = "pause_2s"
    PAUSE_3S = "pause_3s"
    IRREGULAR = "irregularly_irregular"


@dataclass(frozen=True)
class RhythmEvent:
    """One rhythm episode and its evidence window.

    Attributes:
        flag: What was found.
        start_sample: First sample of the evidence (a beat index).
        end_sample: Last sample of the evidence (a beat index, or the current
            sample for an episode still open).
        value: Heart rate in bpm (brady/tachy: the extreme average),
            pause length in s, or normalised RMSSD (irregular).
        open: True while the episode is still going on.
    """

    flag: RhythmFlag
    start_sample: int
    end_sample: int
    value: float
    open: bool = False


@dataclass(frozen=True)
class RhythmConfig:
    """Rhythm thresholds in physical units (validated).

    Attributes:
        fs_hz: Sampling rate of the beat indices in Hz.
        average_window_s: Heart-rate averaging window in s.
        bradycardia_bpm: Average rate below this is bradycardia.
        tachycardia_bpm: Average rate above this is tachycardia.
        pause_s: The two pause thresholds in s.
        irregular_beats: RR intervals in the irregularity window.
        irregular_rmssd: Normalised RMSSD threshold.
        irregular_entropy: Shannon entropy threshold (16-bin histogram, in
            units of log(16)).
        history_beats: Beats kept (bounds memory).
    """

    fs_hz: float
    average_window_s: float = 10.0
    bradycardia_bpm: float = 50.0
    tachycardia_bpm: float = 120.0
    pause_s: tuple[float, float] = (2.0, 3.0)
    irregular_beats: int = 32
    irregular_rmssd: float = 0.1
    irregular_entropy: float = 0.7
    history_beats: int = 256

    def __post_init__(self) -> None:
        if not self.fs_hz > 0:
            raise ValueError("fs_hz must be > 0")
        if not 0 < self.bradycardia_bpm < self.tachycardia_bpm:
            raise ValueError("need 0 < bradycardia_bpm < tachycardia_bpm")
        if not self.average_window_s > 0:
            raise ValueError("average_window_s must be > 0")
        if not 0 < self.pause_s[0] < self.pause_s[1]:
            raise ValueError("pause_s must be increasing and > 0")
        if self.irregular_beats < 8 or self.history_beats < self.irregular_beats + 1:
            raise ValueError("need irregular_beats >= 8 and history_beats > irregular_beats")


def _irregularity(rr: FloatArray) -> tuple[float, float]:
    """Normalised RMSSD and Shannon entropy of RR after dropping outliers (Dash 2009)."""
    k = max(1, rr.size // 8)
    trimmed = np.sort(rr)[k:-k] if rr.size > 2 * k + 2 else rr
    lo, hi = float(trimmed[0]), float(trimmed[-1])
    keep = rr[(rr >= lo) & (rr <= hi)]
    mean = float(keep.mean())
    d = np.diff(keep)
    nrmssd = math.sqrt(float(np.mean(d * d))) / mean if d.size and mean > 0 else 0.0
    hist, _ = np.histogram(keep, bins=16)
    p = hist[hist > 0] / keep.size
    entropy = float(-(p * np.log(p)).sum() / math.log(16))
    return nrmssd, entropy


class RhythmMonitor:
    """Streaming rhythm analysis fed with confirmed beat indices.

    Call :meth:`add_beats` with each batch of new beats (ascending, later than
    the previous ones); it returns the episodes that ended with these beats.
    :meth:`active` reports the episodes still open at a given sample, including
    a pause in progress. Memory: the last ``history_beats`` beat indices.

    Args:
        config: A :class:`RhythmConfig` (or use :meth:`for_rate`).
    """

    def __init__(self, config: RhythmConfig) -> None:
        self.config = config
        self._beats: deque[int] = deque(maxlen=config.history_beats)
        self._open: dict[RhythmFlag, tuple[int, float]] = {}
        self._hr: float = math.nan

    @classmethod
    def for_rate(cls, fs_hz: float) -> RhythmMonitor:
        """A monitor with default thresholds for beats sampled at ``fs_hz``."""
        return cls(RhythmConfig(fs_hz=fs_hz))

    @property
    def heart_rate_bpm(self) -> float:
        """Average heart rate at the last beat over ``average_window_s`` (NaN before 2 beats)."""
        return self._hr

    def heart_rate_at(self, sample: int) -> float:
        """Displayed heart rate at ``sample``: the average, lowered during a long gap.

        When the time since the last beat exceeds the average RR, the rate
        cannot be higher than 60 / that time, so an asystole shows a falling
        rate instead of a frozen one.
        """
        if not self._beats or math.isnan(self._hr):
            return math.nan
        gap_s = (sample - self._beats[-1]) / self.config.fs_hz
        if gap_s > 0 and 60.0 / gap_s < self._hr:
            return 60.0 / gap_s
        return self._hr

    def add_beats(self, beats: ArrayLike) -> list[RhythmEvent]:
        """Feed newly confirmed beats; return the episodes closed by them."""
        closed: list[RhythmEvent] = []
        for b in np.asarray(beats, dtype=np.int64).tolist():
            closed.extend(self._add(int(b)))
        return closed

    def _add(self, beat: int) -> list[RhythmEvent]:
        cfg = self.config
        fs = cfg.fs_hz
        out: list[RhythmEvent] = []
        prev = self._beats[-1] if self._beats else None
        if prev is not None and beat <= prev:
            raise ValueError("beats must be ascending")
        self._beats.append(beat)
        if prev is None:
            return out
        rr_s = (beat - prev) / fs
        for flag, limit in ((RhythmFlag.PAUSE_2S, cfg.pause_s[0]),
                            (RhythmFlag.PAUSE_3S, cfg.pause_s[1])):
            if rr_s > limit:
                out.append(RhythmEvent(flag, prev, beat, rr_s))
        # average heart rate over the window ending at this beat
        w = cfg.average_window_s * fs
        beats = self._beats
        first = len(beats) - 2
        while first > 0 and beat - beats[first - 1] <= w:
            first -= 1
        n_rr = len(beats) - 1 - first
        self._hr = 60.0 * n_rr * fs / (beat - beats[first])
        start = beats[first]
        self._episode(RhythmFlag.BRADYCARDIA, self._hr < cfg.bradycardia_bpm, start, beat,
                      self._hr, out, worse=min)
        self._episode(RhythmFlag.TACHYCARDIA, self._hr > cfg.tachycardia_bpm, start, beat,
                      self._hr, out, worse=max)
        n = cfg.irregular_beats
        if len(beats) > n:
            arr = np.fromiter((beats[k] for k in range(len(beats) - n - 1, len(beats))),
                              dtype=np.float64, count=n + 1)
            nrmssd, ent = _irregularity(np.diff(arr) / fs)
            irregular = nrmssd > cfg.irregular_rmssd and ent > cfg.irregular_entropy
            self._episode(RhythmFlag.IRREGULAR, irregular, int(arr[0]), beat, nrmssd, out,
                          worse=max)
        return out

    def _episode(self, flag: RhythmFlag, on: bool, start: int, now: int, value: float,
                 out: list[RhythmEvent], worse: Callable[[float, float], float]) -> None:
        if on:
            if flag in self._open:
                s0, v0 = self._open[flag]
                self._open[flag] = (s0, worse(v0, value))
            else:
                self._open[flag] = (start, value)
        elif flag in self._open:
            s0, v0 = self._open.pop(flag)
            out.append(RhythmEvent(flag, s0, self._beats[-2], v0))

    def active(self, sample: int) -> list[RhythmEvent]:
        """Episodes open at ``sample`` (end_sample = ``sample``), including a running pause."""
        out = [RhythmEvent(f, s0, sample, v, open=True) for f, (s0, v) in self._open.items()]
        if self._beats:
            gap_s = (sample - self._beats[-1]) / self.config.fs_hz
            for flag, limit in ((RhythmFlag.PAUSE_2S, self.config.pause_s[0]),
                                (RhythmFlag.PAUSE_3S, self.config.pause_s[1])):
                if gap_s > limit:
                    out.append(RhythmEvent(flag, self._beats[-1], sample, gap_s, open=True))
        return out


def analyze(beats: ArrayLike, fs_hz: float, n_samples: int | None = None,
            config: RhythmConfig | None = None) -> list[RhythmEvent]:
    """All rhythm episodes of a beat series (offline form of :class:`RhythmMonitor`).

    Args:
        beats: Ascending beat sample indices.
        fs_hz: Sampling rate in Hz.
        n_samples: Record length; episodes still open there are reported
            with ``open=True`` and ``end_sample = n_samples``.
        config: Optional thresholds (``config.fs_hz`` must equal ``fs_hz``).

    Returns:
        Episodes sorted by start sample.
    """
    cfg = config if config is not None else RhythmConfig(fs_hz=fs_hz)
    if cfg.fs_hz != fs_hz:
        raise ValueError("config.fs_hz differs from fs_hz")
    mon = RhythmMonitor(cfg)
    events = mon.add_beats(beats)
    if n_samples is not None:
        events.extend(mon.active(n_samples))
    return sorted(events, key=lambda e: (e.start_sample, e.flag.value))
