"""Report measurements (dsp.measurements, dsp.delineate): synthetic ECGs with known
intervals, QT Database records against the cardiologists' boundaries, and the
device measurements carried in the GE MUSE and DICOM sample files."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from dsp.measurements import (
    complete_limb_leads,
    frontal_axis_deg,
    measure,
    qtc_bazett_ms,
    qtc_fridericia_ms,
    rhythm_statistics,
)
from tests.dsp.conftest import DATA, need

TWELVE = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
# Precordial gains for the QRS and for the P and T waves (any plausible pattern).
V_QRS = [-0.6, -0.3, 0.3, 0.9, 1.1, 0.9]
V_PT = [0.3, 0.5, 0.6, 0.7, 0.6, 0.5]


@dataclass(frozen=True)
class Known:
    """Intervals built into a synthetic ECG."""

    pr_s: float = 0.16
    qrs_s: float = 0.09
    qt_s: float = 0.38
    axis_deg: float = 60.0


def _hann(t: NDArray[np.float64], start: float, stop: float) -> NDArray[np.float64]:
    """One raised-cosine lobe, exactly zero outside [start, stop]."""
    inside = (t >= start) & (t <= stop)
    out = np.zeros_like(t)
    out[inside] = 0.5 - 0.5 * np.cos(2 * np.pi * (t[inside] - start) / (stop - start))
    return out


def _half(t: NDArray[np.float64], start: float, peak: float, stop: float) -> NDArray[np.float64]:
    """Asymmetric lobe: rises on [start, peak], falls on [peak, stop], zero outside."""
    out = np.zeros_like(t)
    up = (t >= start) & (t < peak)
    down = (t >= peak) & (t <= stop)
    out[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - start) / (peak - start))
    out[down] = 0.5 + 0.5 * np.cos(np.pi * (t[down] - peak) / (stop - peak))
    return out


def synthetic_12lead(fs_hz: float, rr_s: NDArray[np.float64], known: Known = Known(), *,
                     p_waves: bool = True, f_waves_mv: float = 0.0, noise_mv: float = 0.01,
                     seed: int = 0) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A 12-lead ECG with exact wave boundaries.

    Each wave is a lobe (or three for the QRS: q, R, s) with exact support, along
    a frontal-plane vector (QRS along ``axis_deg``, P and T along 50 degrees)
    projected on leads I and II; III, aVR, aVL and aVF follow Einthoven and
    Goldberger. Returns the ``(n, 12)`` signal in mV and the QRS onsets in s.
    """
    rng = np.random.default_rng(seed)
    onsets = 0.6 + np.concatenate(([0.0], np.cumsum(rr_s)))
    n = int((onsets[-1] + 0.8) * fs_hz)
    t = np.arange(n) / fs_hz
    p, qrs, tw = np.zeros(n), np.zeros(n), np.zeros(n)
    d = known.qrs_s
    for q0 in onsets:
        if p_waves:
            p += 0.15 * _hann(t, q0 - known.pr_s, q0 - known.pr_s + 0.10)
        qrs += (-0.15 * _hann(t, q0, q0 + 0.25 * d) + 1.3 * _hann(t, q0 + 0.2 * d, q0 + 0.7 * d)
                - 0.35 * _hann(t, q0 + 0.65 * d, q0 + d))
        tw += 0.35 * _half(t, q0 + known.qt_s - 0.22, q0 + known.qt_s - 0.08, q0 + known.qt_s)
    if f_waves_mv > 0:  # fibrillatory waves, 5-7 Hz, wandering phase
        phase = np.cumsum(2 * np.pi * (6.0 + 0.8 * np.sin(2 * np.pi * 0.3 * t)) / fs_hz)
        p += f_waves_mv * np.sin(phase + rng.uniform(0, 2 * np.pi))
    axis = math.radians(known.axis_deg)
    pt_axis = math.radians(50.0)

    def limb(wave: NDArray[np.float64], angle: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return wave * math.cos(angle), wave * math.cos(angle - math.radians(60.0))

    i_q, ii_q = limb(qrs, axis)
    i_p, ii_p = limb(p + tw, pt_axis)
    lead_i, lead_ii = i_q + i_p, ii_q + ii_p
    cols = [lead_i, lead_ii, lead_ii - lead_i, -(lead_i + lead_ii) / 2, lead_i - lead_ii / 2,
            lead_ii - lead_i / 2]
    cols += [g * qrs + h * (p + tw) for g, h in zip(V_QRS, V_PT)]
    x = np.column_stack(cols)
    x += noise_mv * rng.standard_normal(x.shape)
    x += 0.1 * np.sin(2 * np.pi * 0.2 * t)[:, None]  # respiration wander
    return x, onsets


def regular_rr(rr_s: float, n: int = 11) -> NDArray[np.float64]:
    return np.full(n, rr_s)


# --- formulas -------------------------------------------------------------------

def test_qtc_formulas() -> None:
    assert qtc_bazett_ms(400.0, 0.64) == pytest.approx(500.0)
    assert qtc_fridericia_ms(400.0, 0.512) == pytest.approx(500.0)
    assert qtc_bazett_ms(400.0, 1.0) == qtc_fridericia_ms(400.0, 1.0) == pytest.approx(400.0)
    with pytest.raises(ValueError):
        qtc_bazett_ms(400.0, 0.0)


@pytest.mark.parametrize("angle", [-60.0, -30.0, 0.0, 45.0, 90.0, 120.0, 179.0, -150.0])
def test_frontal_axis_from_lead_i_and_avf(angle: float) -> None:
    """A heart vector at `angle` gives I = cos a, aVF = (sqrt 3 / 2) sin a."""
    a = math.radians(angle)
    assert frontal_axis_deg(math.cos(a), math.sqrt(3) / 2 * math.sin(a)) == pytest.approx(angle)
    assert frontal_axis_deg(0.0, 0.0) is None


def test_missing_limb_leads_are_derived_from_i_and_ii() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((10, 3))
    full, names = complete_limb_leads(x, ["I", "II", "V1"])
    assert names == ["I", "II", "V1", "III", "aVR", "aVL", "aVF"]
    np.testing.assert_allclose(full[:, 3], x[:, 1] - x[:, 0])
    np.testing.assert_allclose(full[:, 4], -(x[:, 0] + x[:, 1]) / 2)
    np.testing.assert_allclose(full[:, 5], x[:, 0] - x[:, 1] / 2)
    np.testing.assert_allclose(full[:, 6], x[:, 1] - x[:, 0] / 2)
    same, names2 = complete_limb_leads(x[:, :2], ["MLII", "V5"])
    assert names2 == ["MLII", "V5"] and same.shape == (10, 2)


def test_rhythm_statistics() -> None:
    fs = 500.0
    beats = np.cumsum(np.full(10, 400))
    hr, mean_ms, sd_ms, cv, regular = rhythm_statistics(beats, fs)
    assert hr == pytest.approx(75.0) and mean_ms == pytest.approx(800.0)
    assert sd_ms == pytest.approx(0.0) and cv == pytest.approx(0.0) and regular is True
    assert rhythm_statistics(beats[:1], fs) == (None, None, None, None, None)
    # One premature beat with a compensatory pause: the NN intervals stay regular.
    ectopic = np.array([0, 400, 800, 1100, 1600, 2000, 2400, 2800])
    normal = np.array([True, True, True, False, True, True, True, True])
    assert rhythm_statistics(ectopic, fs, normal)[4] is True
    assert rhythm_statistics(ectopic, fs)[4] is False


# --- synthetic ECGs with known intervals ------------------------------------------

@pytest.mark.parametrize("fs_hz", [250.0, 500.0, 1000.0])
@pytest.mark.parametrize("known", [Known(), Known(pr_s=0.24, qrs_s=0.12, qt_s=0.44, axis_deg=-30.0),
                                   Known(pr_s=0.12, qrs_s=0.08, qt_s=0.34, axis_deg=100.0)])
def test_synthetic_intervals_axis_and_rate(fs_hz: float, known: Known) -> None:
    rr = 0.9
    x, _ = synthetic_12lead(fs_hz, regular_rr(rr), known)
    m = measure(x, fs_hz, TWELVE)
    assert m.heart_rate_bpm == pytest.approx(60 / rr, abs=0.5)
    assert m.regular is True and m.rr_sd_ms is not None and m.rr_sd_ms < 5
    assert m.pr_ms == pytest.approx(1000 * known.pr_s, abs=12)
    assert m.qrs_ms == pytest.approx(1000 * known.qrs_s, abs=10)
    assert m.qt_ms == pytest.approx(1000 * known.qt_s, abs=20)
    assert m.qt_ms is not None
    assert m.qtc_bazett_ms == pytest.approx(m.qt_ms / math.sqrt(rr), rel=0.01)
    assert m.qtc_fridericia_ms == pytest.approx(m.qt_ms / rr ** (1 / 3), rel=0.01)
    assert m.axis_deg == pytest.approx(known.axis_deg, abs=8)


def test_eight_stored_leads_give_the_twelve_lead_result() -> None:
    """III, aVR, aVL, aVF are derived when a file stores only I, II, V1-V6."""
    fs = 500.0
    x, _ = synthetic_12lead(fs, regular_rr(0.8), Known(axis_deg=-20.0))
    keep = [0, 1, 6, 7, 8, 9, 10, 11]
    m8 = measure(x[:, keep], fs, [TWELVE[i] for i in keep])
    m12 = measure(x, fs, TWELVE)
    assert m8.axis_deg is not None and m12.axis_deg is not None
    assert m8.axis_deg == pytest.approx(m12.axis_deg, abs=1.0)
    assert m8.axis_deg == pytest.approx(-20.0, abs=8)
    assert (m8.pr_ms, m8.qrs_ms, m8.qt_ms) == (m12.pr_ms, m12.qrs_ms, m12.qt_ms)


def test_interval_changes_are_followed() -> None:
    """Longer PR, QRS and QT in the signal give longer measurements (no fixed answer)."""
    fs = 500.0
    a = measure(synthetic_12lead(fs, regular_rr(1.0), Known(0.14, 0.08, 0.36))[0], fs, TWELVE)
    b = measure(synthetic_12lead(fs, regular_rr(1.0), Known(0.22, 0.13, 0.46))[0], fs, TWELVE)
    assert a.pr_ms is not None and b.pr_ms is not None and b.pr_ms - a.pr_ms == pytest.approx(80, abs=12)
    assert a.qrs_ms is not None and b.qrs_ms is not None and b.qrs_ms - a.qrs_ms == pytest.approx(50, abs=10)
    assert a.qt_ms is not None and b.qt_ms is not None and b.qt_ms - a.qt_ms == pytest.approx(100, abs=15)


def test_premature_wide_beat_does_not_enter_the_median_beat() -> None:
    fs = 500.0
    x, onsets = synthetic_12lead(fs, regular_rr(0.9, 12), Known())
    # Replace one beat's QRS by a wide, inverted (ventricular-like) complex.
    q0 = onsets[6]
    t = np.arange(x.shape[0]) / fs
    wide = -1.2 * _hann(t, q0 - 0.25, q0 - 0.09)
    x[:, :] += wide[:, None] * np.array([1, 1, 0, -1, 0.5, 1, 1, 1, 1, 1, 1, 1])
    m = measure(x, fs, TWELVE)
    assert m.n_beats_median < m.n_beats
    assert m.qrs_ms == pytest.approx(90, abs=10)


def test_irregular_rhythm_is_flagged() -> None:
    fs = 500.0
    rng = np.random.default_rng(7)
    rr = rng.uniform(0.45, 1.1, 16)
    x, _ = synthetic_12lead(fs, rr, Known(), p_waves=False, f_waves_mv=0.05)
    m = measure(x, fs, TWELVE)
    assert m.regular is False
    assert m.rr_cv is not None and m.rr_cv > 0.15
    assert m.rr_sd_ms == pytest.approx(1000 * float(np.std(rr, ddof=1)), rel=0.05)


@pytest.mark.parametrize("f_waves_mv", [0.0, 0.05, 0.1])
def test_no_p_wave_gives_no_pr(f_waves_mv: float) -> None:
    """AF-like: irregular RR, no P waves (flat or fibrillatory baseline): PR is None."""
    fs = 500.0
    rng = np.random.default_rng(3)
    x, _ = synthetic_12lead(fs, rng.uniform(0.5, 1.0, 14), Known(), p_waves=False,
                            f_waves_mv=f_waves_mv, seed=3)
    m = measure(x, fs, TWELVE)
    assert m.pr_ms is None
    assert m.qrs_ms == pytest.approx(90, abs=10)
    assert m.qt_ms is not None


def test_sinus_rhythm_with_noise_keeps_its_pr() -> None:
    """The P-wave consistency test does not drop real P waves in noisy signals."""
    fs = 500.0
    x, _ = synthetic_12lead(fs, regular_rr(0.85), Known(), noise_mv=0.03, seed=5)
    m = measure(x, fs, TWELVE)
    assert m.pr_ms == pytest.approx(160, abs=15)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError):
        measure(np.zeros((1000, 2)), 500.0, ["I"])
    x = np.zeros((1000, 1))
    x[10] = np.nan
    with pytest.raises(ValueError):
        measure(x, 500.0, ["II"])


def test_flat_signal_measures_nothing() -> None:
    m = measure(np.zeros((5000, 2)), 500.0, ["I", "II"])
    assert m.n_beats == 0 and m.heart_rate_bpm is None
    assert (m.pr_ms, m.qrs_ms, m.qt_ms, m.axis_deg, m.regular) == (None, None, None, None, None)


# --- QT Database (two leads, 250 Hz) against annotator 1 ----------------------

@pytest.fixture(scope="session")
def qtdb() -> Path:
    return need(DATA / "qtdb")


@pytest.mark.parametrize("record", ["sel16265", "sel16272", "sel14046", "sel16773", "sel231"])
def test_qtdb_record_intervals_match_the_cardiologist(qtdb: Path, record: str) -> None:
    import wfdb

    from dsp.evaluate_measurements import reference_beats, score_strips

    sig = wfdb.rdrecord(str(qtdb / record))
    ann = wfdb.rdann(str(qtdb / record), "q1c")
    refs = reference_beats(ann.sample, ann.symbol, ann.num)
    x = np.nan_to_num(np.asarray(sig.p_signal, dtype=np.float64))
    err = score_strips(x, float(sig.fs), list(sig.sig_name), refs)
    for name, lim in (("pr", 25.0), ("qrs", 20.0), ("qt", 25.0)):
        n, mean, sd = err.stats(name)
        assert n >= 25 and err.missed[name] == 0, name
        assert abs(mean) <= lim, (name, mean)


def test_af_record_has_no_pr(qtdb: Path) -> None:
    """sel221 (atrial fibrillation, no P annotations): no PR, irregular."""
    import wfdb

    sig = wfdb.rdrecord(str(qtdb / "sel221"), sampfrom=150000, sampto=152500)
    m = measure(np.nan_to_num(sig.p_signal), float(sig.fs), list(sig.sig_name))
    assert m.pr_ms is None and m.regular is False and m.qrs_ms is not None


def test_reference_beats_pair_onsets_and_ends() -> None:
    from dsp.evaluate_measurements import reference_beats

    samples = [10, 15, 20, 30, 40, 45, 90, 110, 130, 136, 150, 200, 220]
    symbols = ["(", "p", ")", "(", "N", ")", "t", ")", "(", "N", ")", "t", ")"]
    nums = [0, 0, 0, 1, 1, 1, 0, 2, 1, 1, 1, 0, 2]
    a, b = reference_beats(samples, symbols, nums)
    assert (a.p_onset, a.qrs_onset, a.qrs_offset, a.t_end) == (10, 30, 45, 110)
    assert (b.p_onset, b.qrs_onset, b.qrs_offset, b.t_end) == (None, 130, 150, 220)
    assert a.interval("pr") == 20 and b.interval("pr") is None and b.interval("qt") == 90


# --- device measurements carried in the sample files ------------------------------

@pytest.mark.parametrize("name", ["ge-muse-xml/MUSE_20200923_093504_79000_example.xml",
                                  "dicom/cardio_sample_12lead.dcm",
                                  "dicom/mortara_el250_anonymous_ecg.dcm"])
def test_measurements_agree_with_the_device(name: str) -> None:
    from dsp.evaluate_measurements import DEVICE_FILES

    path = need(DATA / "ecg-files" / name)
    x, fs, leads, device = DEVICE_FILES[name](str(path))
    m = measure(x, fs, leads)
    assert m.heart_rate_bpm == pytest.approx(device["hr"], abs=2.0)
    assert m.pr_ms == pytest.approx(device["pr"], abs=20)
    assert m.qrs_ms == pytest.approx(device["qrs"], abs=10)
    assert m.qt_ms == pytest.approx(device["qt"], abs=20)
    # The device's QTc formula is not stated in every file: Bazett or Fridericia.
    assert m.qtc_bazett_ms is not None and m.qtc_fridericia_ms is not None
    assert min(abs(m.qtc_bazett_ms - device["qtc"]),
               abs(m.qtc_fridericia_ms - device["qtc"])) <= 20
    assert m.axis_deg == pytest.approx(device["axis"], abs=15)
