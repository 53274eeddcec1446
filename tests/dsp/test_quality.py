"""Signal quality: each flag on a synthetic signal, spans, chunk invariance."""

from __future__ import annotations

import numpy as np

from dsp.quality import QualityConfig, QualityFlag, QualityMonitor, QualitySpan, assess
from tests.dsp.conftest import synthetic_ecg

FS = 250.0


def clean(seconds: float = 20.0) -> np.ndarray:
    x, _ = synthetic_ecg(FS, np.full(int(seconds / 0.8), 0.8), noise_mv=0.005)
    return x[: int(seconds * FS)]


def flags(spans: list[QualitySpan], lead: int = 0) -> set[QualityFlag]:
    return {s.flag for s in spans if s.lead == lead}


def test_clean_ecg_has_no_flags() -> None:
    assert assess(clean(), FS) == []


def test_flat_line_and_lead_off() -> None:
    x = clean()
    x[2500:3750] = 0.0  # 5 s flat at 0 mV
    sp = assess(x, FS)
    flat = [s for s in sp if s.flag is QualityFlag.FLAT]
    assert len(flat) == 1 and 2500 <= flat[0].start_sample <= 2750
    assert 3500 <= flat[0].end_sample <= 3750
    y = clean()
    y[2500:3750] = 8.0  # parked at the rail
    assert QualityFlag.LEAD_OFF in flags(assess(y, FS))
    z = clean()
    z[100] = np.nan
    assert QualityFlag.LEAD_OFF in flags(assess(z, FS))


def test_saturation() -> None:
    x = clean() * 3.0
    x = np.clip(x, -1.0, 0.5)  # R peaks clipped at the amplifier's rail
    assert QualityFlag.SATURATION in flags(assess(x, FS))


def test_high_frequency_noise_and_wander() -> None:
    rng = np.random.default_rng(0)
    x = clean()
    x[2500:5000] += 0.2 * rng.standard_normal(2500)
    sp = assess(x, FS)
    hf = [s for s in sp if s.flag is QualityFlag.HF_NOISE]
    assert hf and all(2250 <= s.start_sample and s.end_sample <= 5250 for s in hf)
    t = np.arange(x.size) / FS
    w = clean() + 2.0 * np.sin(2 * np.pi * 0.3 * t)
    assert QualityFlag.BASELINE_WANDER in flags(assess(w, FS))


def test_per_lead_and_chunk_invariant() -> None:
    x = np.column_stack((clean(), clean()))
    x[1000:2500, 1] = 0.0
    whole = assess(x, FS)
    assert flags(whole, 0) == set() and flags(whole, 1) == {QualityFlag.FLAT}
    mon = QualityMonitor(QualityConfig(fs_hz=FS), n_leads=2)
    got = []
    for c in np.array_split(x, 37):
        got.extend(mon.process(c))
    got.extend(mon.flush())
    assert sorted(got, key=lambda s: (s.lead, s.start_sample, s.flag.value)) == whole
