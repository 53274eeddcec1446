"""ECG filters: causal streaming versions with carried state, zero-phase offline versions.

Streaming filters own their state like ``scipy.signal.sosfilt``'s ``zi``: the
state is seeded with ``sosfilt_zi`` x the first sample of each channel (so a DC
offset gives no start-up transient) and carried from chunk to chunk, so any
chunking gives bit-for-bit the output of one call on the whole signal.
Offline (stored ECG) versions run forward and backward (``sosfiltfilt``): no
phase distortion, but they need the whole signal.

Designs (all Butterworth, second-order sections):

* baseline wander removal: high-pass, 0.5 Hz by default (AHA/IEC diagnostic
  low corner is 0.05 Hz; 0.5 Hz is the usual monitoring choice);
* mains notch: 50 Hz (China, Europe) or 60 Hz, quality factor 30;
* muscle-noise low-pass: 40 Hz by default (monitoring bandwidth).

Example:
    >>> import numpy as np
    >>> f = StreamingSos.monitoring(fs_hz=500.0)
    >>> y = np.concatenate([f.process(c) for c in np.array_split(np.ones(1000), 7)])
    >>> bool(np.all(np.abs(y) < 1e-9))  # DC is removed without a start-up step
    True
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import signal as sps

__all__ = [
    "StreamingSos",
    "baseline_sos",
    "lowpass_sos",
    "notch_sos",
    "monitoring_sos",
    "zero_phase",
]

FloatArray = NDArray[np.float64]


def _check_fs(fs_hz: float, *freqs_hz: float) -> None:
    if not fs_hz > 0:
        raise ValueError(f"fs_hz must be > 0, got {fs_hz!r}")
    for f in freqs_hz:
        if not 0.0 < f < fs_hz / 2.0:
            raise ValueError(f"frequency {f!r} Hz must be in (0, fs_hz / 2 = {fs_hz / 2})")


def baseline_sos(fs_hz: float, cutoff_hz: float = 0.5, order: int = 2) -> FloatArray:
    """High-pass SOS that removes baseline wander below ``cutoff_hz``."""
    _check_fs(fs_hz, cutoff_hz)
    return np.asarray(sps.butter(order, cutoff_hz, btype="highpass", fs=fs_hz,
                                 output="sos"), dtype=np.float64)


def lowpass_sos(fs_hz: float, cutoff_hz: float = 40.0, order: int = 4) -> FloatArray:
    """Low-pass SOS against muscle (EMG) noise above ``cutoff_hz``."""
    _check_fs(fs_hz, cutoff_hz)
    return np.asarray(sps.butter(order, cutoff_hz, btype="lowpass", fs=fs_hz,
                                 output="sos"), dtype=np.float64)


def notch_sos(fs_hz: float, mains_hz: float = 50.0, quality: float = 30.0) -> FloatArray:
    """Second-order IIR notch at the mains frequency (50 Hz in China) as one SOS row."""
    _check_fs(fs_hz, mains_hz)
    if not quality > 0:
        raise ValueError("quality must be > 0")
    b, a = sps.iirnotch(mains_hz, quality, fs=fs_hz)
    return np.asarray(sps.tf2sos(b, a), dtype=np.float64)


def monitoring_sos(fs_hz: float, baseline_hz: float = 0.5, mains_hz: float | None = 50.0,
                   lowpass_hz: float | None = 40.0) -> FloatArray:
    """Cascade: baseline high-pass, optional mains notch, optional low-pass.

    ``mains_hz`` / ``lowpass_hz`` are skipped when ``None`` or not below
    Nyquist (e.g. a 40 Hz low-pass at 50 Hz sampling).
    """
    parts = [baseline_sos(fs_hz, baseline_hz)]
    if mains_hz is not None and mains_hz < fs_hz / 2.0:
        parts.append(notch_sos(fs_hz, mains_hz))
    if lowpass_hz is not None and lowpass_hz < fs_hz / 2.0:
        parts.append(lowpass_sos(fs_hz, lowpass_hz))
    return np.vstack(parts)


class StreamingSos:
    """Causal SOS filter for a stream of one or more channels, state carried.

    Call :meth:`process` with consecutive chunks shaped ``(n,)`` or
    ``(n, n_channels)``; the output has the chunk's shape. The state is seeded
    from the first sample of the first chunk (``sosfilt_zi`` x sample).

    Memory: ``n_sections * 2`` floats per channel.

    Args:
        sos: Second-order sections, shape ``(n_sections, 6)``.
        n_channels: Number of channels.
    """

    def __init__(self, sos: ArrayLike, n_channels: int = 1) -> None:
        self.sos: FloatArray = np.ascontiguousarray(sos, dtype=np.float64)
        if self.sos.ndim != 2 or self.sos.shape[1] != 6:
            raise ValueError("sos must have shape (n_sections, 6)")
        if n_channels < 1:
            raise ValueError("n_channels must be >= 1")
        self.n_channels = n_channels
        self._zi_unit: FloatArray = np.asarray(sps.sosfilt_zi(self.sos), dtype=np.float64)
        self._zi: FloatArray | None = None

    @classmethod
    def baseline(cls, fs_hz: float, cutoff_hz: float = 0.5, n_channels: int = 1) -> StreamingSos:
        """Baseline wander removal (high-pass)."""
        return cls(baseline_sos(fs_hz, cutoff_hz), n_channels)

    @classmethod
    def notch(cls, fs_hz: float, mains_hz: float = 50.0, n_channels: int = 1) -> StreamingSos:
        """Mains notch (50 Hz by default)."""
        return cls(notch_sos(fs_hz, mains_hz), n_channels)

    @classmethod
    def lowpass(cls, fs_hz: float, cutoff_hz: float = 40.0, n_channels: int = 1) -> StreamingSos:
        """Muscle-noise low-pass."""
        return cls(lowpass_sos(fs_hz, cutoff_hz), n_channels)

    @classmethod
    def monitoring(cls, fs_hz: float, n_channels: int = 1, mains_hz: float | None = 50.0,
                   baseline_hz: float = 0.5, lowpass_hz: float | None = 40.0) -> StreamingSos:
        """Baseline high-pass + mains notch + low-pass in one cascade."""
        return cls(monitoring_sos(fs_hz, baseline_hz, mains_hz, lowpass_hz), n_channels)

    def reset(self) -> None:
        """Forget the state; the next chunk seeds it again."""
        self._zi = None

    def process(self, chunk: ArrayLike) -> FloatArray:
        """Filter the next chunk.

        Args:
            chunk: Shape ``(n,)`` (one channel) or ``(n, n_channels)``; any unit.

        Returns:
            Filtered float64 samples, same shape as ``chunk``.

        Raises:
            ValueError: Wrong number of channels.
        """
        x = np.asarray(chunk, dtype=np.float64)
        one_d = x.ndim == 1
        x2 = x.reshape(-1, 1) if one_d else x
        if x2.ndim != 2 or x2.shape[1] != self.n_channels:
            raise ValueError(f"chunk shape {x.shape} does not match {self.n_channels} channel(s)")
        if x2.shape[0] == 0:
            return x.copy()
        if self._zi is None:
            self._zi = self._zi_unit[:, :, None] * x2[0][None, None, :]
        y, self._zi = sps.sosfilt(self.sos, x2, axis=0, zi=self._zi)
        out = np.asarray(y, dtype=np.float64)
        return out.reshape(-1) if one_d else out


def zero_phase(signal: ArrayLike, sos: ArrayLike) -> FloatArray:
    """Zero-phase (forward-backward) filtering of a stored ECG along axis 0.

    Args:
        signal: Shape ``(n,)`` or ``(n, n_channels)``.
        sos: Second-order sections, e.g. from :func:`monitoring_sos`.

    Returns:
        Filtered float64 array of the same shape. Needs the whole signal: for
        stored ECGs only, never in the live path.
    """
    x = np.asarray(signal, dtype=np.float64)
    return np.asarray(sps.sosfiltfilt(np.asarray(sos, dtype=np.float64), x, axis=0),
                      dtype=np.float64)
