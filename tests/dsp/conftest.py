"""Fixtures for the dsp tests: synthetic ECG and the shared PhysioNet data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("TELECONSULT_SHARED", REPO.parent / "shared")) / "data"


def synthetic_ecg(fs_hz: float, rr_s: NDArray[np.float64], *, qrs_mv: float = 1.0,
                  t_mv: float = 0.3, seed: int = 0, noise_mv: float = 0.01,
                  start_s: float = 0.5) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """A simple ECG: Gaussian P, QRS (q, R, s) and T waves at given RR intervals.

    Returns the signal in mV and the R-peak sample indices.
    """
    rng = np.random.default_rng(seed)
    beats_s = start_s + np.concatenate(([0.0], np.cumsum(rr_s)))
    n = int((beats_s[-1] + 1.0) * fs_hz)
    t = np.arange(n) / fs_hz
    x = np.zeros(n)
    waves = [(-0.16, 0.012, 0.12), (-0.025, 0.008, -0.15), (0.0, 0.010, 1.0),
             (0.025, 0.008, -0.25), (0.28, 0.045, t_mv / qrs_mv)]
    for b in beats_s:
        lo, hi = int((b - 0.3) * fs_hz), int((b + 0.5) * fs_hz)
        lo, hi = max(lo, 0), min(hi, n)
        tt = t[lo:hi] - b
        for off, width, amp in waves:
            x[lo:hi] += qrs_mv * amp * np.exp(-0.5 * ((tt - off) / width) ** 2)
    x += noise_mv * rng.standard_normal(n)
    x += 0.1 * np.sin(2 * np.pi * 0.2 * t)  # mild respiration wander
    return x, np.round(beats_s * fs_hz).astype(np.int64)


def need(path: Path) -> Path:
    """Fail (not skip) when the shared data is missing: the tests must run."""
    if not path.exists():
        pytest.fail(f"shared data not found: {path}")
    return path


@pytest.fixture(scope="session")
def mitdb() -> Path:
    return need(DATA / "mitdb")


@pytest.fixture(scope="session")
def nstdb() -> Path:
    return need(DATA / "nstdb")
