"""QRS detector: API, chunk invariance, IEC 60601-2-27-style behaviours."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp.evaluate import score
from dsp.qrs import DetectorConfig, QRSDetectorBank, StreamingQRSDetector, detect
from tests.dsp.conftest import synthetic_ecg

FS = 360.0


def _chunks(x: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    out, k, q = [], 0, 0
    while k < x.shape[0]:
        n = sizes[q % len(sizes)]
        out.append(x[k:k + n])
        k += n
        q += 1
    return out


def _stream(x: np.ndarray, fs: float, sizes: list[int], n_leads: int = 1) -> np.ndarray:
    det = StreamingQRSDetector(fs, n_leads)
    parts = [det.push(c) for c in _chunks(x, sizes)]
    parts.append(det.flush())
    return np.concatenate(parts)


RR = np.array([0.8, 0.78, 0.82, 0.5, 1.1, 0.8, 0.75, 0.79, 0.81, 0.8] * 3)
ECG, R_TRUE = synthetic_ecg(FS, RR)
ECG2 = np.column_stack((ECG, -0.5 * ECG + 0.02 * np.random.default_rng(1).standard_normal(ECG.size)))


def test_detect_finds_synthetic_beats() -> None:
    beats = detect(ECG, FS)
    assert beats.dtype == np.int64
    assert np.all(np.diff(beats) > 0)
    sc = score(R_TRUE, beats, FS)
    assert sc.fn == 0 and sc.fp == 0
    # R index within 20 ms of the true R peak
    assert np.max(np.abs(beats - R_TRUE)) <= 0.02 * FS


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=12))
def test_any_chunking_equals_detect(sizes: list[int]) -> None:
    assert np.array_equal(_stream(ECG, FS, sizes), detect(ECG, FS))


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=8))
def test_any_chunking_equals_detect_multilead(sizes: list[int]) -> None:
    assert np.array_equal(_stream(ECG2, FS, sizes, n_leads=2), detect(ECG2, FS))


def test_one_sample_chunks_equal_detect() -> None:
    x = ECG[: int(12 * FS)]
    assert np.array_equal(_stream(x, FS, [1]), detect(x, FS))


def test_bank_equals_single_streams() -> None:
    """A bank of streams gives each stream the result of its own detector."""
    x3 = np.stack([ECG, 0.5 * ECG[::-1].copy(), 2.0 * ECG], axis=1)  # (n, 3 streams)
    bank = QRSDetectorBank(FS, n_streams=3, n_leads=1)
    got: list[list[int]] = [[], [], []]
    for c in _chunks(x3, [14]):
        s, i = bank.push(c[:, :, None])
        for a, b in zip(s.tolist(), i.tolist()):
            got[a].append(b)
    s, i = bank.flush()
    for a, b in zip(s.tolist(), i.tolist()):
        got[a].append(b)
    for k in range(3):
        assert got[k] == detect(x3[:, k], FS).tolist()


def test_scale_and_integer_input() -> None:
    adu = np.round(ECG * 200.0).astype(np.int16)  # raw ADC integers, 200 adu/mV
    ref = detect(ECG, FS)
    for x in (adu, ECG * 1e-3, ECG * 1e3):
        got = detect(x, FS)
        assert score(ref, got, FS).f1 == pytest.approx(100.0)


def test_flat_and_empty_input() -> None:
    assert detect(np.zeros(int(10 * FS)), FS).size == 0
    assert detect(np.full(int(10 * FS), 3.0), FS).size == 0  # DC offset, no transient beat
    det = StreamingQRSDetector(FS)
    assert det.push(np.empty(0)).size == 0
    assert det.flush().size == 0
    with pytest.raises(ValueError):
        det.push(np.zeros(3))


def test_non_finite_samples_do_not_stop_detection() -> None:
    x = ECG.copy()
    x[int(5 * FS):int(5 * FS) + 3] = np.nan
    beats = detect(x, FS)
    late = R_TRUE[R_TRUE > 8 * FS]
    assert score(late, beats[beats > 8 * FS - 20], FS).se == 100.0


def test_wrong_shapes_and_config_rejected() -> None:
    with pytest.raises(ValueError):
        StreamingQRSDetector(FS, n_leads=2).push(np.zeros((10, 3)))
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=FS, band_low_hz=30.0, band_high_hz=20.0)
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=10.0)
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=FS, wide_band_hz=(40.0, 0.5))
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=FS, faint_ratio=1.5)
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=FS, premature_wide_ratio=0.0)
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=FS, faint_max_ratio=0.2)  # below faint_ratio
    with pytest.raises(ValueError):
        DetectorConfig(fs_hz=FS, faint_noise_gain=-1.0)


def test_latency_bound_holds() -> None:
    """Every beat, the first ones included, within 0.3 s of its R in 40 ms frames."""
    det = StreamingQRSDetector(FS)
    assert det.latency_samples <= 0.26 * FS + 1
    seen = 0
    got = []
    for c in _chunks(ECG, [14]):
        seen += c.shape[0]
        for r in det.push(c).tolist():
            assert seen - 1 - r <= det.latency_samples + 13  # decided, then one frame
            assert seen - 1 - r <= 0.3 * FS
            got.append(r)
    got.extend(det.flush().tolist())
    assert score(R_TRUE, np.asarray(got), FS).f1 == 100.0


def test_tall_t_waves_not_counted() -> None:
    """IEC 60601-2-27 201.12.1.101.11: T waves up to 1.2 mV are not beats."""
    rr = np.full(40, 0.85)
    x, r_true = synthetic_ecg(FS, rr, qrs_mv=1.0, t_mv=1.2)
    sc = score(r_true, detect(x, FS), FS)
    assert sc.fp == 0 and sc.fn == 0


@pytest.mark.parametrize("fs_hz", [360.0, 500.0])
@pytest.mark.parametrize("amp_mv", [2.0, 20.0, 100.0, 300.0, 700.0, -700.0])
@pytest.mark.parametrize("width_ms", [0.1, 0.5, 2.0])
def test_pacemaker_spikes_not_counted(fs_hz: float, amp_mv: float, width_ms: float) -> None:
    """IEC 60601-2-27: pacer pulses (+-2..700 mV, 0.1-2 ms) are not beats.

    The pulse is added on a 40x finer grid, passed through a 150 Hz
    2nd-order low-pass (the front end's bandwidth) and then sampled, so it
    reaches the detector the way a device would deliver it. The pulse sits
    mid-diastole, 0.5 s after each R peak.
    """
    from scipy import signal as sps

    up = 40
    x, r_true = synthetic_ecg(fs_hz, np.full(40, 0.85))
    xf = np.repeat(x, up)
    w = max(1, int(round(width_ms * 1e-3 * fs_hz * up)))
    for r in r_true[:-1]:
        k = (r + int(0.5 * fs_hz)) * up
        xf[k:k + w] += amp_mv
    xs = sps.sosfilt(sps.butter(2, 150.0, fs=fs_hz * up, output="sos"), xf)[::up]
    sc = score(r_true, detect(xs, fs_hz), fs_hz)
    assert sc.fp == 0 and sc.fn == 0


def test_heart_rate_from_detector_follows_steps() -> None:
    """80 -> 120 bpm and 80 -> 40 bpm: the 10-s average reaches the new rate within 11 s."""
    from dsp.rhythm import RhythmMonitor

    for new_bpm in (120.0, 40.0):
        rr = np.concatenate((np.full(30, 60 / 80), np.full(int(40 * new_bpm / 60), 60 / new_bpm)))
        x, r_true = synthetic_ecg(FS, rr)
        step = r_true[30]
        mon = RhythmMonitor.for_rate(FS)
        det = StreamingQRSDetector(FS)
        reached_at = None
        seen = 0
        for c in _chunks(x, [14]):
            seen += c.shape[0]
            mon.add_beats(det.push(c))
            hr = mon.heart_rate_at(seen)
            if seen > step and reached_at is None and abs(hr - new_bpm) <= 0.05 * new_bpm:
                reached_at = seen
        assert reached_at is not None
        assert (reached_at - step) / FS <= 11.0


def _electrode_motion(x: np.ndarray, r_true: np.ndarray, amp_mv: float,
                      seed: int = 5) -> np.ndarray:
    """Add electrode-motion-like bumps (a sharp rise, a 0.12 s decay) mid-RR.

    One bump after each beat from the 20th on, 0.28-0.52 s after it, of
    0.5-1.5 x ``amp_mv``, at random times.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.6 * FS)) / FS
    y = x.copy()
    for r in r_true[20:-1]:
        at = r + int((0.35 + 0.3 * rng.random()) * 0.8 * FS)
        bump = amp_mv * (0.5 + rng.random()) * (np.exp(-t / 0.12) - np.exp(-t / 0.012))
        n = min(bump.size, y.size - at)
        y[at:at + n] += bump[:n]
    return y


@pytest.mark.parametrize("sizes", [[7], [14], [1, 40, 333]])
def test_noise_rules_are_chunking_invariant(sizes: list[int]) -> None:
    """The wide-band extent, the premature caps and the faint-candidate test
    see the same samples whatever the chunking (some bumps become beats here,
    some are rejected)."""
    x, r_true = synthetic_ecg(FS, np.full(60, 0.8), seed=3)
    y = _electrode_motion(x, r_true, 0.8)
    assert np.array_equal(_stream(y, FS, sizes), detect(y, FS))
