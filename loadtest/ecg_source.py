"""The ECG the simulated devices stream: a real WFDB record, or a synthetic 12-lead ECG.

The signal is cut once into frame-sized blocks of little-endian int16 bytes; device
``k`` starts at its own block offset and wraps around, so every device streams a
different stretch at no per-device cost, and what a device sent can be rebuilt exactly
for checking the server's copy:

    source = load_source("../shared/data/cpsc2018/challenge2020_wfdb/A0005", frame_s=0.04)
    source.block_bytes(offset, k)        # the k-th frame of a device starting at ``offset``
    source.expected(offset, n_frames)    # everything it sent, as one byte string
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
SYNTHETIC = "synthetic"


@dataclass(frozen=True)
class EcgSource:
    fs_hz: float
    leads: tuple[str, ...]
    gain: float
    block: int  # samples per lead in one frame
    blocks: tuple[bytes, ...]

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def block_bytes(self, offset: int, k: int) -> bytes:
        return self.blocks[(offset + k) % len(self.blocks)]

    def expected(self, offset: int, n_frames: int) -> bytes:
        return b"".join(self.block_bytes(offset, k) for k in range(n_frames))


def synthetic_ecg(seconds: float = 60.0, fs_hz: float = 500.0, gain: float = 1000.0,
                  seed: int = 1) -> np.ndarray:
    """A plausible 12-lead sinus rhythm (~72 bpm, P-QRS-T as Gaussians) in ADC units, int16."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs_hz)
    t = np.arange(n) / fs_hz
    beats = np.cumsum(0.83 + 0.03 * rng.standard_normal(int(seconds / 0.6) + 2))
    # (centre s after the beat, width s, amplitude mV) of P, Q, R, S, T
    waves = ((-0.16, 0.025, 0.12), (-0.025, 0.01, -0.1), (0.0, 0.012, 1.1), (0.03, 0.012, -0.25),
             (0.28, 0.06, 0.3))
    base = np.zeros(n)
    for beat in beats[beats < seconds + 0.5]:
        for centre, width, amplitude in waves:
            base += amplitude * np.exp(-0.5 * ((t - beat - centre) / width) ** 2)
    scale = (0.8, 1.0, 0.4, -0.9, 0.3, 0.7, -0.5, 0.6, 0.9, 1.2, 1.1, 0.9)
    drift = 0.05 * np.sin(2 * math.pi * 0.2 * t)
    leads = [s * base + drift + 0.01 * rng.standard_normal(n) for s in scale]
    return np.clip(np.round(np.stack(leads, axis=1) * gain), -32768, 32767).astype(np.int16)


def load_source(record: str, frame_s: float = 0.04) -> EcgSource:
    """``record`` is a WFDB record path (without extension) or ``"synthetic"``.

    Raises:
        ValueError: the frame is not a whole number of samples, or the record is too short.
    """
    leads: tuple[str, ...]
    if record == SYNTHETIC:
        fs_hz, leads, gain = 500.0, STANDARD_12, 1000.0
        samples = synthetic_ecg(fs_hz=fs_hz, gain=gain)
    else:
        from teleconsult.device import load_wfdb

        signal = load_wfdb(record)
        fs_hz, leads, gain = signal.fs_hz, signal.leads, signal.gain
        samples = np.clip(signal.samples, -32768, 32767).astype(np.int16)
    block = round(fs_hz * frame_s)
    if block < 1 or abs(block - fs_hz * frame_s) > 1e-6:
        raise ValueError(f"a {frame_s:g} s frame is not a whole number of samples at {fs_hz:g} Hz")
    n_blocks = len(samples) // block
    if n_blocks < 2:
        raise ValueError(f"record {record} is shorter than two frames")
    data = np.ascontiguousarray(samples[: n_blocks * block].astype("<i2"))
    blocks = tuple(data[k * block:(k + 1) * block].tobytes() for k in range(n_blocks))
    return EcgSource(fs_hz, tuple(leads), gain, block, blocks)


__all__ = ["EcgSource", "load_source", "synthetic_ecg", "SYNTHETIC", "STANDARD_12"]
