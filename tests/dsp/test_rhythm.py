"""Rhythm: heart rate, step response, brady/tachy, pauses, irregular RR."""

from __future__ import annotations

import numpy as np

from dsp.rhythm import (RhythmFlag, RhythmMonitor, analyze, average_heart_rate_bpm,
                        instantaneous_heart_rate_bpm, rr_intervals_s)

FS = 250.0


def beats_from_rr(rr_s: np.ndarray, start_s: float = 1.0) -> np.ndarray:
    return np.round((start_s + np.concatenate(([0.0], np.cumsum(rr_s)))) * FS).astype(np.int64)


def test_rr_and_rates() -> None:
    b = beats_from_rr(np.full(20, 0.8))
    assert np.allclose(rr_intervals_s(b, FS), 0.8)
    assert np.allclose(instantaneous_heart_rate_bpm(b, FS), 75.0)
    assert np.allclose(average_heart_rate_bpm(b, FS)[1:], 75.0)


def _time_to_reach(new_bpm: float) -> float:
    rr = np.concatenate((np.full(30, 0.75), np.full(40, 60.0 / new_bpm)))
    b = beats_from_rr(rr)
    step = int(b[30])
    mon = RhythmMonitor.for_rate(FS)
    for s in range(int(b[0]), int(b[-1]), int(FS * 0.04)):  # poll every 40 ms
        mon.add_beats(b[(b > s - int(FS * 0.04)) & (b <= s)])
        if s > step and abs(mon.heart_rate_at(s) - new_bpm) <= 0.05 * new_bpm:
            return (s - step) / FS
    return float("inf")


def test_rate_follows_step_up_and_down_within_11_s() -> None:
    assert _time_to_reach(120.0) <= 11.0
    assert _time_to_reach(40.0) <= 11.0


def test_bradycardia_and_tachycardia_episodes() -> None:
    rr = np.concatenate((np.full(30, 0.75), np.full(20, 1.5), np.full(30, 0.75),
                         np.full(60, 0.4), np.full(30, 0.75)))
    b = beats_from_rr(rr)
    ev = analyze(b, FS, n_samples=int(b[-1]) + 10)
    brady = [e for e in ev if e.flag is RhythmFlag.BRADYCARDIA]
    tachy = [e for e in ev if e.flag is RhythmFlag.TACHYCARDIA]
    assert len(brady) == 1 and len(tachy) == 1
    assert brady[0].value == 40.0 and tachy[0].value == 150.0
    # closes once the 10-s average is back above 50 bpm
    assert b[50] <= brady[0].end_sample <= b[50] + 10 * FS
    assert b[80] - 10 * FS <= tachy[0].start_sample <= b[92]


def test_pauses_reported_with_their_beats_and_live() -> None:
    rr = np.concatenate((np.full(10, 0.8), [2.5], np.full(5, 0.8), [3.5], np.full(5, 0.8)))
    b = beats_from_rr(rr)
    ev = analyze(b, FS)
    p2 = [e for e in ev if e.flag is RhythmFlag.PAUSE_2S]
    p3 = [e for e in ev if e.flag is RhythmFlag.PAUSE_3S]
    assert [(e.start_sample, e.end_sample) for e in p2] == [(b[10], b[11]), (b[16], b[17])]
    assert [(e.start_sample, e.end_sample) for e in p3] == [(b[16], b[17])]
    mon = RhythmMonitor.for_rate(FS)
    mon.add_beats(b[:11])
    live = mon.active(int(b[10] + 2.2 * FS))
    assert [e.flag for e in live if e.open] == [RhythmFlag.PAUSE_2S]
    assert mon.heart_rate_at(int(b[10] + 3 * FS)) == 20.0  # falls during asystole


def test_irregularly_irregular_flagged_regular_and_bigeminy_not() -> None:
    rng = np.random.default_rng(0)
    af = rng.uniform(0.4, 1.1, 120)
    regular = np.full(120, 0.8) + rng.normal(0, 0.01, 120)
    bigeminy = np.tile([0.55, 1.05], 60)
    assert any(e.flag is RhythmFlag.IRREGULAR for e in analyze(beats_from_rr(af), FS, 10**7))
    for rr in (regular, bigeminy):
        assert not any(e.flag is RhythmFlag.IRREGULAR
                       for e in analyze(beats_from_rr(rr), FS, 10**7))


def test_streaming_equals_offline() -> None:
    rng = np.random.default_rng(1)
    b = beats_from_rr(np.concatenate((rng.uniform(0.4, 1.1, 60), np.full(20, 1.6), [3.2],
                                      np.full(40, 0.45))))
    mon = RhythmMonitor.for_rate(FS)
    events = []
    for part in np.array_split(b, 17):
        events.extend(mon.add_beats(part))
    assert sorted(events, key=lambda e: (e.start_sample, e.flag.value)) == analyze(b, FS)
