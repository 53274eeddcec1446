"""Filters: bit-exact chunk invariance, no start-up transient, the right response."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal as sps

from dsp.filters import StreamingSos, monitoring_sos, notch_sos, zero_phase

FS = 500.0
RNG = np.random.default_rng(3)
X = np.cumsum(RNG.standard_normal((3000, 2)), axis=0) * 0.01 + 2.0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=97), min_size=1, max_size=10))
def test_chunked_output_is_bit_exact(sizes: list[int]) -> None:
    whole = StreamingSos.monitoring(FS, n_channels=2).process(X)
    f = StreamingSos.monitoring(FS, n_channels=2)
    parts, k, q = [], 0, 0
    while k < X.shape[0]:
        n = sizes[q % len(sizes)]
        parts.append(f.process(X[k:k + n]))
        k += n
        q += 1
    assert np.array_equal(np.concatenate(parts), whole)


def test_dc_offset_gives_no_transient() -> None:
    y = StreamingSos.baseline(FS).process(np.full(2000, 5.0))
    assert np.max(np.abs(y)) < 1e-9


def test_notch_removes_50_hz_keeps_10_hz() -> None:
    t = np.arange(int(10 * FS)) / FS
    y50 = StreamingSos.notch(FS, 50.0).process(np.sin(2 * np.pi * 50 * t))
    y10 = StreamingSos.notch(FS, 50.0).process(np.sin(2 * np.pi * 10 * t))
    tail = slice(int(5 * FS), None)
    assert np.max(np.abs(y50[tail])) < 0.02
    assert np.max(np.abs(y10[tail])) > 0.95


def test_baseline_and_lowpass_response() -> None:
    w, h = sps.sosfreqz(monitoring_sos(FS), worN=[0.05, 10.0, 50.0, 150.0], fs=FS)
    mag = np.abs(h)
    assert mag[0] < 0.02  # wander removed
    assert 0.9 < mag[1] < 1.1  # ECG band kept
    assert mag[2] < 0.01  # mains notch
    assert mag[3] < 0.05  # muscle noise low-passed
    assert notch_sos(FS).shape == (1, 6)


def test_zero_phase_has_no_delay() -> None:
    t = np.arange(int(4 * FS)) / FS
    x = np.exp(-0.5 * ((t - 2.0) / 0.02) ** 2)
    y = zero_phase(x, monitoring_sos(FS, mains_hz=None))
    assert abs(int(np.argmax(y)) - int(np.argmax(x))) <= 1
