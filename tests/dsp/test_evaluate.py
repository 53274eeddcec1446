"""Scoring (pure) and MIT-BIH / NST accuracy of the detector on the shared records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dsp.evaluate import (Record, Score, add_nst_noise, load_record, match_beats,
                          run_streaming, score)
from dsp.evaluate import main as evaluate_main
from dsp.qrs import DetectorConfig, StreamingQRSDetector, detect

MITDB_RECORDS = ("101 102 104 106 107 108 109 112 114 115 116 118 119 122 124 201 203 "
                 "205 207 208 209 215 217 220 223 230").split()


def test_match_is_one_to_one_nearest_first() -> None:
    ref = np.array([100, 200, 300])
    det = np.array([95, 105, 260, 420])
    pr, pd = match_beats(ref, det, tol_samples=50)
    # 100 takes the earlier of two equally near detections; 200 has none within
    # 50 samples; 300 takes 260; 105 and 420 are false positives
    assert list(zip(pr.tolist(), pd.tolist())) == [(0, 0), (2, 2)]
    sc = score(ref, det, fs_hz=1000.0, tol_s=0.05)
    assert (sc.tp, sc.fn, sc.fp) == (2, 1, 2)


def test_flutter_and_start_exclusions() -> None:
    ref = np.array([1000, 2000, 3000])
    det = np.array([10, 1000, 1500, 2000, 3000])
    sc = score(ref, det, fs_hz=1000.0, start_sample=500, exclude=[(1400, 1600)])
    assert sc == Score(tp=3, fn=0, fp=0)
    assert Score(99, 1, 0).se == 99.0 and Score(99, 0, 1).ppv == 99.0


def test_nst_noise_added_in_alternating_segments_at_the_asked_snr() -> None:
    fs = 100.0
    t = np.arange(int(40 * fs)) / fs
    ref = np.arange(50, t.size, 100)
    x = np.zeros(t.size)
    x[ref] = 2.0  # 2 mV peak-to-peak "QRS": signal power 2^2 / 8 = 0.5
    noise = np.random.default_rng(3).standard_normal(t.size + 10) * 7.0 + 3.0
    y = add_nst_noise(x, noise, ref, fs, 6.0, start_s=10.0, segment_s=5.0)
    on = (t >= 10) & (((t - 10) % 10) < 5)
    assert np.array_equal(y[~on], x[~on])  # clean before 10 s and in 15-20 s, 25-30 s ...
    added = (y - x)[on]
    assert abs(added.mean()) < 0.05  # the noise's own offset is removed
    assert abs(10 * np.log10(0.5 / added.var()) - 6.0) < 0.2


def test_mitdb_gross_accuracy(mitdb: Path) -> None:
    """All shared MIT-BIH records, channel 0, whole record, +-150 ms."""
    total = Score(0, 0, 0)
    for name in MITDB_RECORDS:
        rec = load_record(str(mitdb / name))
        total = total + score(rec.ref, detect(rec.signal[:, 0], rec.fs_hz), rec.fs_hz,
                              exclude=rec.flutter)
    assert total.se >= 99.75, total
    assert total.ppv >= 99.75, total


def test_clean_records_streamed_in_40_ms_frames(mitdb: Path) -> None:
    for name in ("101", "106", "118"):
        rec = load_record(str(mitdb / name))
        x = rec.signal[:, 0]
        beats, emitted = run_streaming(x, rec.fs_hz, 0.04)
        assert np.array_equal(beats, detect(x, rec.fs_hz))
        assert np.all(emitted >= beats)
        sc = score(rec.ref, beats, rec.fs_hz, exclude=rec.flutter)
        assert sc.se >= 99.9 and sc.ppv >= 99.7, (name, sc)


def test_p_waves_rejected_within_the_latency_bound(mitdb: Path) -> None:
    """108: P waves as large as small QRS, 0.2 s before them; no search-back.

    Streamed in 40 ms frames, every beat is returned at most 300 ms after its
    reported R, and 99 % at most 300 ms after the reference R. (108's noise
    level is high, so its narrow candidates wait to the deadline after their
    own R, which sits ~45 ms after the annotated R here: 11 of 1,755 beats are
    returned 300-330 ms after the annotation; 2 when every candidate waited
    from its onset estimate.)
    """
    rec = load_record(str(mitdb / "108"))
    beats, emitted = run_streaming(rec.signal[:, 0], rec.fs_hz, 0.04)
    assert np.max(emitted - beats) <= 0.3 * rec.fs_hz
    sc = score(rec.ref, beats, rec.fs_hz, exclude=rec.flutter)
    assert sc.se >= 99.0 and sc.ppv >= 99.0, sc
    pr, pd = match_beats(rec.ref, beats, int(0.15 * rec.fs_hz))
    late = (emitted[pd] - rec.ref[pr]) > 0.3 * rec.fs_hz
    assert late.sum() <= 0.01 * pr.size, late.sum()
    assert np.max(emitted[pd] - rec.ref[pr]) <= 0.35 * rec.fs_hz


def test_two_lead_input_is_fused(mitdb: Path) -> None:
    rec = load_record(str(mitdb / "118"))
    sc = score(rec.ref, detect(rec.signal, rec.fs_hz), rec.fs_hz)
    assert sc.se >= 99.5 and sc.ppv >= 99.5, sc


def _nst(nstdb: Path, snr: str, **overrides: Any) -> Score:
    total = Score(0, 0, 0)
    for name in (f"118{snr}", f"119{snr}"):
        rec = load_record(str(nstdb / name))
        det = StreamingQRSDetector(rec.fs_hz, config=DetectorConfig(fs_hz=rec.fs_hz, **overrides))
        beats = np.concatenate((det.push(rec.signal[:, 0]), det.flush()))
        total = total + score(rec.ref, beats, rec.fs_hz, start_sample=int(300 * rec.fs_hz))
    return total


def test_noise_stress_moderate_snr(nstdb: Path) -> None:
    """118e12 / 119e12 (12 dB electrode motion), scored from 5 min.

    119's premature ventricular beats (large in the wide band, ~0.6 x the
    beats' 8-20 Hz level) are kept and noise bumps rejected: better than
    wfdb XQRS on the same records (Se 99.69 %, +P 96.61 %).
    """
    total = _nst(nstdb, "e12")
    assert total.se > 99.69 and total.ppv > 96.61, total


def test_noise_stress_6_db(nstdb: Path) -> None:
    """118e06 / 119e06 (6 dB electrode motion), scored from 5 min: better than
    wfdb XQRS on the same records on both Se and +P (98.18 %, 83.03 %).

    In noise a narrow candidate waits to the deadline after its R rather than
    after its onset estimate (the first noise excursion): without that, a bump
    just before a QRS is accepted and the QRS lost, and +P falls below XQRS.
    """
    total = _nst(nstdb, "e06")
    assert total.se > 98.18 and total.ppv > 83.03, total
    onset_only = _nst(nstdb, "e06", noisy_wait_from_r=False)
    assert onset_only.ppv < 83.03 and onset_only.fp >= total.fp + 50, onset_only


def _with_em_noise(mitdb: Path, nstdb: Path, name: str, snr_db: float) -> tuple[Record, np.ndarray]:
    """A MIT-BIH record with the NST electrode-motion record added NST-style."""
    import wfdb

    rec = load_record(str(mitdb / name))
    noise = np.asarray(wfdb.rdrecord(str(nstdb / "em")).p_signal[:, 0])
    return rec, add_nst_noise(rec.signal[:, 0], noise, rec.ref, rec.fs_hz, snr_db)


def test_premature_beats_at_their_coupling_interval_kept_in_noise(mitdb: Path,
                                                                  nstdb: Path) -> None:
    """223 (runs and pairs of ventricular beats, not wider than its normal
    beats) with electrode-motion noise: in noise the premature cap used to
    reject its PVCs (0.55-0.65 x the signal level, under the 0.68 cap). A
    premature beat at the learnt coupling interval gets the ectopic cap."""
    rec, y = _with_em_noise(mitdb, nstdb, "223", 5.0)
    start = int(300 * rec.fs_hz)
    with_coupling = score(rec.ref, detect(y, rec.fs_hz), rec.fs_hz, start_sample=start)
    det = StreamingQRSDetector(rec.fs_hz,
                               config=DetectorConfig(fs_hz=rec.fs_hz, coupling_jitter_s=0.0))
    without = score(rec.ref, np.concatenate((det.push(y), det.flush())), rec.fs_hz,
                    start_sample=start)
    assert with_coupling.se >= 98.5 and with_coupling.ppv >= 98.0, with_coupling
    assert without.fn >= with_coupling.fn + 50, (without, with_coupling)


def test_noisy_record_streamed_equals_detect_and_keeps_the_latency(nstdb: Path) -> None:
    """Every noise rule (including the wait from R) gives the same beats for
    any chunking on a real 6 dB record, and each beat is still returned at
    most 0.3 s after its reported R in 40 ms frames."""
    rec = load_record(str(nstdb / "119e06"))
    x = rec.signal[: int(420 * rec.fs_hz), 0]  # 5 min clean, then 2 min of noise
    whole = detect(x, rec.fs_hz)
    det = StreamingQRSDetector(rec.fs_hz)
    rng = np.random.default_rng(7)
    parts, k = [], 0
    while k < x.size:
        n = int(rng.integers(1, 60))
        parts.append(det.push(x[k:k + n]))
        k += n
    parts.append(det.flush())
    assert np.array_equal(np.concatenate(parts), whole)
    beats, emitted = run_streaming(x, rec.fs_hz, 0.04)
    assert np.array_equal(beats, whole)
    assert np.max(emitted - beats) <= 0.3 * rec.fs_hz


def test_noise_stress_18_db(nstdb: Path) -> None:
    """118e18 / 119e18: no beat missed and fewer false beats than wfdb XQRS
    (0 FN, 2 FP on the same records). The isolated electrode-motion bumps are
    faint in both bands; the faint limit rising with the noise level rejects
    the ones a fixed limit lets through, and without the faint test at all
    there are twice as many again."""
    total = _nst(nstdb, "e18")
    assert total.fn == 0 and total.fp < 2, total
    fixed_limit = _nst(nstdb, "e18", faint_noise_gain=0.0)
    assert fixed_limit.fn == 0 and fixed_limit.fp >= total.fp + 3, fixed_limit
    without = _nst(nstdb, "e18", faint_ratio=0.0)
    assert without.fn == 0 and without.fp >= 2 * fixed_limit.fp, without


def test_evaluate_command_with_added_noise(mitdb: Path, nstdb: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m dsp.evaluate --add-noise` scores each record at each SNR,
    prints the by-SNR table, and its exit status follows --min-se/--min-ppv."""
    argv = ["--db", str(mitdb), "--records", "118", "--add-noise", str(nstdb / "em"),
            "--noise-snr-db", "5", "-1", "--start-s", "300", "--frame-s", "0"]
    assert evaluate_main(argv + ["--min-se", "95"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert "118+em5" in rows and "118+em_1" in rows
    assert int(rows["118+em5"][3]) < int(rows["118+em_1"][3])  # more noise, more false beats
    assert "== by SNR" in out and rows["em5"] and rows["em_1"]
    assert evaluate_main(argv + ["--min-ppv", "100"]) == 1
