"""Beat-by-beat scoring of QRS detectors on PhysioNet databases (EC57 / bxb style).

The scoring functions (:func:`match_beats`, :func:`score`) are pure numpy. The
command line reads WFDB records with ``wfdb`` (imported lazily, only here):

    python -m dsp.evaluate --db ../shared/data/mitdb
    python -m dsp.evaluate --db ../shared/data/nstdb --start-s 300
    python -m dsp.evaluate --db ../shared/data/mitdb --compare
    python -m dsp.evaluate --db ../shared/data/mitdb --max-latency-ms 300
    python -m dsp.evaluate --db ../shared/data/mitdb --start-s 300 \
        --add-noise ../shared/data/nstdb/ma --noise-snr-db 5 -1

``--compare`` runs wfdb's gqrs and XQRS, and neurokit2's Pan-Tompkins when
neurokit2 is installed (``pip install -e '.[bench]'``). ``--add-noise`` adds
an NST noise record to every record the NST's way (:func:`add_nst_noise`).

Convention (ANSI/AAMI EC57, WFDB ``bxb``): reference = beat labels only; a
detection matches a reference beat within +-150 ms, one to one; detections
inside ventricular flutter episodes (``[`` ... ``]``) are not false positives;
with ``--start-s`` only beats and detections from that time on are scored.
The detector under test is :class:`dsp.qrs.StreamingQRSDetector` fed in
``--frame-s`` frames (40 ms by default), or :func:`dsp.qrs.detect` with
``--frame-s 0``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

IndexArray = NDArray[np.int64]

#: WFDB annotation symbols that label beats (EC57 reference beats).
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")


@dataclass(frozen=True)
class Score:
    """Beat-by-beat counts of one record (or a sum of records)."""

    tp: int
    fn: int
    fp: int

    @property
    def se(self) -> float:
        """Sensitivity TP/(TP+FN) in percent (nan if no reference beats)."""
        d = self.tp + self.fn
        return 100.0 * self.tp / d if d else float("nan")

    @property
    def ppv(self) -> float:
        """Positive predictivity TP/(TP+FP) in percent."""
        d = self.tp + self.fp
        return 100.0 * self.tp / d if d else float("nan")

    @property
    def f1(self) -> float:
        """F1 = 2TP/(2TP+FN+FP) in percent."""
        d = 2 * self.tp + self.fn + self.fp
        return 100.0 * 2 * self.tp / d if d else float("nan")

    def __add__(self, other: Score) -> Score:
        return Score(self.tp + other.tp, self.fn + other.fn, self.fp + other.fp)


def match_beats(ref: ArrayLike, det: ArrayLike,
                tol_samples: int) -> tuple[IndexArray, IndexArray]:
    """Match detections to reference beats one to one, nearest pairs first.

    Args:
        ref: Reference beat sample indices (ascending).
        det: Detected beat sample indices (ascending).
        tol_samples: Largest allowed ``|det - ref|`` in samples.

    Returns:
        ``(ref_pos, det_pos)``: positions in ``ref`` and ``det`` of the
        matched pairs, sorted by ``ref_pos``.
    """
    r = np.asarray(ref, dtype=np.int64)
    d = np.asarray(det, dtype=np.int64)
    if r.size == 0 or d.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    lo = np.searchsorted(d, r - tol_samples, side="left")
    hi = np.searchsorted(d, r + tol_samples, side="right")
    counts = hi - lo
    ri = np.repeat(np.arange(r.size), counts)
    starts = np.repeat(lo, counts)
    offs = np.arange(ri.size) - np.repeat(np.cumsum(counts) - counts, counts)
    di = starts + offs
    dist = np.abs(d[di] - r[ri])
    order = np.lexsort((di, ri, dist))
    r_used = np.zeros(r.size, dtype=bool)
    d_used = np.zeros(d.size, dtype=bool)
    pairs_r: list[int] = []
    pairs_d: list[int] = []
    for k in order.tolist():
        a, b = int(ri[k]), int(di[k])
        if not (r_used[a] or d_used[b]):
            r_used[a] = d_used[b] = True
            pairs_r.append(a)
            pairs_d.append(b)
    pr = np.asarray(pairs_r, dtype=np.int64)
    pd = np.asarray(pairs_d, dtype=np.int64)
    o = np.argsort(pr)
    return pr[o], pd[o]


def score(ref: ArrayLike, det: ArrayLike, fs_hz: float, *, tol_s: float = 0.15,
          start_sample: int = 0, exclude: Sequence[tuple[int, int]] = ()) -> Score:
    """Score detections against reference beats.

    Args:
        ref: Reference beat sample indices.
        det: Detected beat sample indices.
        fs_hz: Sampling rate in Hz.
        tol_s: Match window half-width in seconds (0.15 s in EC57 practice).
        start_sample: Ignore reference beats and detections before this sample.
        exclude: ``(start, end)`` sample spans (e.g. ventricular flutter) where
            unmatched detections are not false positives.

    Returns:
        The :class:`Score`.
    """
    r = np.asarray(ref, dtype=np.int64)
    d = np.asarray(det, dtype=np.int64)
    r = r[r >= start_sample]
    d = d[d >= start_sample]
    pr, pd = match_beats(r, d, int(round(tol_s * fs_hz)))
    matched = np.zeros(d.size, dtype=bool)
    matched[pd] = True
    unmatched = d[~matched]
    keep = np.ones(unmatched.size, dtype=bool)
    for a, b in exclude:
        keep &= ~((unmatched >= a) & (unmatched <= b))
    tp = int(pr.size)
    return Score(tp=tp, fn=int(r.size - tp), fp=int(keep.sum()))


def add_nst_noise(x: NDArray[np.float64], noise: NDArray[np.float64], ref: ArrayLike,
                  fs_hz: float, snr_db: float, *, start_s: float = 300.0,
                  segment_s: float = 120.0) -> NDArray[np.float64]:
    """Add a noise signal to an ECG the way the Noise Stress Test does.

    The noise is on from ``start_s`` in alternating segments of ``segment_s``
    (on, off, on ...). Its gain sets signal-to-noise to ``snr_db``, with the
    signal power taken as (median peak-to-peak QRS amplitude within 50 ms of
    the reference beats)^2 / 8 and the noise power as the noise variance.
    This scale is not the NST's own: on 118/119 with the NST electrode-motion
    record, -1 dB here gives about the errors of NST 6 dB and 5 dB those of
    NST 12 dB.

    Args:
        x: ECG, one channel.
        noise: Noise signal at the same rate, at least as long as ``x``.
        ref: Reference beat sample indices (for the QRS amplitude).
        fs_hz: Sampling rate in Hz.
        snr_db: Signal-to-noise ratio in dB, on the scale above.
        start_s: Time the first noise segment starts.
        segment_s: Length of the noise and clean segments.

    Returns:
        The noisy ECG (a new array).
    """
    r = np.asarray(ref, dtype=np.int64)
    if noise.shape[0] < x.shape[0]:
        raise ValueError("the noise signal is shorter than the ECG")
    n = noise[: x.shape[0]] - float(np.mean(noise[: x.shape[0]]))
    w = max(1, int(round(0.05 * fs_hz)))
    r = r[(r >= 0) & (r < x.shape[0])]
    if r.size == 0:
        raise ValueError("no reference beats to measure the QRS amplitude on")
    pp = np.array([np.ptp(x[max(0, k - w):k + w]) for k in r.tolist()])
    signal_power = float(np.median(pp)) ** 2 / 8.0
    noise_power = float(np.var(n))
    if noise_power <= 0.0:
        return x.copy()
    gain = math.sqrt(signal_power / (noise_power * 10.0 ** (snr_db / 10.0)))
    t = np.arange(x.shape[0]) / fs_hz
    on = (t >= start_s) & (((t - start_s) % (2.0 * segment_s)) < segment_s)
    return np.asarray(x + gain * n * on, dtype=np.float64)


# --------------------------------------------------------------------- I/O part
@dataclass
class Record:
    """One record as read from a WFDB database."""

    name: str
    signal: NDArray[np.float64]  # (n, n_channels), physical units
    fs_hz: float
    ref: IndexArray
    flutter: list[tuple[int, int]]


def load_record(path: str) -> Record:
    """Read a WFDB record and its ``atr`` beat reference (needs ``wfdb``)."""
    import wfdb

    rec = wfdb.rdrecord(path)
    ann = wfdb.rdann(path, "atr")
    sym = list(ann.symbol)
    samples = np.asarray(ann.sample, dtype=np.int64)
    ref = samples[[s in BEAT_SYMBOLS for s in sym]]
    flutter: list[tuple[int, int]] = []
    open_at: int | None = None
    for s, k in zip(sym, samples.tolist()):
        if s == "[":
            open_at = k
        elif s == "]" and open_at is not None:
            flutter.append((open_at, k))
            open_at = None
    if open_at is not None:
        flutter.append((open_at, int(rec.sig_len)))
    sig = np.asarray(rec.p_signal, dtype=np.float64)
    return Record(os.path.basename(path), sig, float(rec.fs), ref, flutter)


def run_streaming(x: NDArray[np.float64], fs_hz: float,
                  frame_s: float) -> tuple[IndexArray, IndexArray]:
    """Run :class:`dsp.qrs.StreamingQRSDetector` over ``x`` in frames of ``frame_s``.

    Returns:
        ``(beats, emitted)``: R-peak indices and, for each, the index of the
        last sample of the frame whose push returned it (the signal time at
        which the beat was known). With ``frame_s <= 0`` the whole signal is
        one frame (offline :func:`dsp.qrs.detect` equivalent).
    """
    from dsp.qrs import StreamingQRSDetector

    n_leads = 1 if x.ndim == 1 else int(x.shape[1])
    det = StreamingQRSDetector(fs_hz, n_leads)
    step = max(1, int(round(frame_s * fs_hz))) if frame_s > 0 else max(1, x.shape[0])
    beats: list[IndexArray] = []
    emitted: list[IndexArray] = []
    for k in range(0, x.shape[0], step):
        b = det.push(x[k:k + step])
        beats.append(b)
        emitted.append(np.full(b.size, min(k + step, x.shape[0]) - 1, dtype=np.int64))
    b = det.flush()
    beats.append(b)
    emitted.append(np.full(b.size, x.shape[0] - 1, dtype=np.int64))
    return np.concatenate(beats), np.concatenate(emitted)


def usable_mask(x: NDArray[np.float64], fs_hz: float) -> NDArray[np.bool_]:
    """True where :func:`dsp.quality.assess` raises no "unusable" flag.

    Unusable: lead off, flat line, saturation, high-frequency noise. Baseline
    wander alone does not make a signal unusable for beat detection.
    """
    from dsp.quality import QualityFlag, assess

    bad_flags = {QualityFlag.LEAD_OFF, QualityFlag.FLAT, QualityFlag.SATURATION,
                 QualityFlag.HF_NOISE}
    ok = np.ones(x.shape[0], dtype=bool)
    for span in assess(x, fs_hz):
        if span.flag in bad_flags:
            ok[span.start_sample:span.end_sample] = False
    return ok


def _comparators() -> dict[str, Callable[[NDArray[np.float64], float], IndexArray]]:
    comps: dict[str, Callable[[NDArray[np.float64], float], IndexArray]] = {}
    try:
        import wfdb.processing as wp

        def gqrs(x: NDArray[np.float64], fs: float) -> IndexArray:
            return np.asarray(wp.gqrs_detect(sig=x, fs=fs), dtype=np.int64)

        def xqrs(x: NDArray[np.float64], fs: float) -> IndexArray:
            xq = wp.XQRS(sig=x, fs=fs)
            xq.detect(verbose=False)
            return np.asarray(xq.qrs_inds, dtype=np.int64)

        comps["gqrs"] = gqrs
        comps["xqrs"] = xqrs
    except ImportError:  # pragma: no cover
        pass
    try:
        import neurokit2 as nk

        def pantompkins(x: NDArray[np.float64], fs: float) -> IndexArray:
            clean = nk.ecg_clean(x, sampling_rate=int(fs), method="pantompkins1985")
            _, info = nk.ecg_peaks(clean, sampling_rate=int(fs), method="pantompkins1985")
            return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)

        comps["nk-pantompkins1985"] = pantompkins
    except ImportError:
        pass
    return comps


def _records(db: str, names: Sequence[str] | None) -> list[str]:
    if names:
        return list(names)
    with open(os.path.join(db, "RECORDS")) as fh:
        listed = [ln.strip() for ln in fh if ln.strip()]
    return [r for r in listed if os.path.exists(os.path.join(db, r + ".atr"))]


def _fmt(name: str, sc: Score, secs: float, dur_s: float) -> str:
    xrt = dur_s / secs if secs > 0 else float("inf")
    return (f"{name:>10} {sc.tp:7d} {sc.fn:6d} {sc.fp:6d} {sc.se:8.2f} {sc.ppv:8.2f} "
            f"{sc.f1:8.2f} {secs:8.3f} {xrt:10.0f}")


def _snr_order(group: str) -> tuple[str, float]:
    """Sort key of an SNR group ("e24", "e_6", "em5", "em_1"): by noise, then SNR down."""
    k = len(group.rstrip("0123456789._"))
    try:
        return group[:k], -float(group[k:].replace("_", "-"))
    except ValueError:
        return group, 0.0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    ap = argparse.ArgumentParser(prog="python -m dsp.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", required=True, help="WFDB database directory")
    ap.add_argument("--records", nargs="*", help="record names (default: all with .atr)")
    ap.add_argument("--start-s", type=float, default=0.0,
                    help="score from this time on (300 for nstdb)")
    ap.add_argument("--channel", type=int, default=0, help="channel to use (default 0)")
    ap.add_argument("--frame-s", type=float, default=0.04,
                    help="streaming frame length in s; 0 = whole record in one push")
    ap.add_argument("--tol-s", type=float, default=0.15, help="match window half-width")
    ap.add_argument("--add-noise", metavar="NOISE_RECORD", default=None,
                    help="add this WFDB noise record (e.g. ../shared/data/nstdb/em or ma) "
                         "to each record NST-style: from 5 min, alternating 2-min segments "
                         "(see add_nst_noise for the SNR scale); use with --start-s 300")
    ap.add_argument("--noise-snr-db", type=float, nargs="+", default=[6.0],
                    help="SNR levels in dB for --add-noise (each record is scored at each)")
    ap.add_argument("--compare", action="store_true",
                    help="also run wfdb gqrs / XQRS and neurokit2 Pan-Tompkins")
    ap.add_argument("--quality-gate", action="store_true",
                    help="also score only where dsp.quality finds the signal usable "
                         "(no lead-off / flat / saturation / high-frequency noise)")
    ap.add_argument("--min-se", type=float, default=None,
                    help="exit 1 if gross Se (percent) is below this")
    ap.add_argument("--min-ppv", type=float, default=None,
                    help="exit 1 if gross +P (percent) is below this")
    ap.add_argument("--max-latency-ms", type=float, default=None,
                    help="exit 1 if any detection is returned later than this after its "
                         "reported R index (end of the returning frame minus R)")
    ap.add_argument("--max-ref-latency-ms", type=float, default=None,
                    help="exit 1 if any matched beat is returned later than this after "
                         "its reference R")
    args = ap.parse_args(argv)

    names = _records(args.db, args.records)
    detectors: dict[str, Callable[[NDArray[np.float64], float], IndexArray]] = {}
    latencies: list[IndexArray] = []
    own_latencies: list[IndexArray] = []
    fs_seen = 0.0

    last_emitted: list[IndexArray] = []

    def ours(x: NDArray[np.float64], fs: float) -> IndexArray:
        beats, emitted = run_streaming(x, fs, args.frame_s)
        last_emitted[:] = [emitted]
        return beats

    detectors["dsp"] = ours
    if args.compare:
        detectors.update(_comparators())
    totals: dict[str, Score] = {k: Score(0, 0, 0) for k in detectors}
    times: dict[str, float] = {k: 0.0 for k in detectors}
    lines: dict[str, list[str]] = {k: [] for k in detectors}
    groups: dict[str, dict[str, Score]] = {k: {} for k in detectors}
    gated: dict[str, dict[str, Score]] = {k: {} for k in detectors}
    usable_s: dict[str, list[float]] = {}
    dur_total = 0.0
    noise: NDArray[np.float64] | None = None
    noise_tag = ""
    if args.add_noise:
        import wfdb

        noise = np.asarray(wfdb.rdrecord(args.add_noise).p_signal[:, 0], dtype=np.float64)
        noise_tag = os.path.basename(args.add_noise)
    jobs = [(name, level) for name in names
            for level in (args.noise_snr_db if noise is not None else [None])]
    for name, level in jobs:
        rec = load_record(os.path.join(args.db, name))
        x = np.ascontiguousarray(rec.signal[:, args.channel])
        if noise is not None and level is not None:
            x = add_nst_noise(x, noise, rec.ref, rec.fs_hz, level)
            snr = f"{noise_tag}{level:g}".replace("-", "_")
            name = f"{name}+{snr}"
        else:
            snr = name[3:] if len(name) > 3 and name[3] == "e" else ""
        dur = x.shape[0] / rec.fs_hz
        dur_total += dur
        fs_seen = rec.fs_hz
        start = int(round(args.start_s * rec.fs_hz))
        group = snr or "all"
        usable: NDArray[np.bool_] | None = None
        if args.quality_gate:
            usable = usable_mask(x, rec.fs_hz)
            u = usable_s.setdefault(group, [0.0, 0.0])
            u[0] += float(usable[start:].sum()) / rec.fs_hz
            u[1] += (x.shape[0] - start) / rec.fs_hz
        for key, fn in detectors.items():
            t0 = time.perf_counter()
            det = fn(x, rec.fs_hz)
            secs = time.perf_counter() - t0
            sc = score(rec.ref, det, rec.fs_hz, tol_s=args.tol_s, start_sample=start,
                       exclude=rec.flutter)
            totals[key] = totals[key] + sc
            times[key] += secs
            lines[key].append(_fmt(name, sc, secs, dur))
            if key == "dsp":
                emitted = last_emitted[0]
                pr, pd = match_beats(rec.ref, det, int(round(args.tol_s * rec.fs_hz)))
                latencies.append(emitted[pd] - rec.ref[pr])
                own_latencies.append(emitted - det)
            if snr:
                groups[key][snr] = groups[key].get(snr, Score(0, 0, 0)) + sc
            if usable is not None:
                d_in = det[(det >= 0) & (det < usable.size)]
                gs = score(rec.ref[usable[rec.ref]], d_in[usable[d_in]], rec.fs_hz,
                           tol_s=args.tol_s, start_sample=start, exclude=rec.flutter)
                gated[key][group] = gated[key].get(group, Score(0, 0, 0)) + gs
    for key in detectors:
        frames = f", {args.frame_s:g} s frames" if key == "dsp" and args.frame_s > 0 else ""
        since = f", from {args.start_s:g} s" if args.start_s else ""
        print(f"\n== {key} (channel {args.channel}, +-{args.tol_s * 1000:.0f} ms{since}{frames})")
        print(f"{'record':>10} {'TP':>7} {'FN':>6} {'FP':>6} {'Se%':>8} {'+P%':>8} "
              f"{'F1%':>8} {'time_s':>8} {'x_realtime':>10}")
        for ln in lines[key]:
            print(ln)
        print(_fmt("gross", totals[key], times[key], dur_total))
    worst_ms = worst_ref_ms = 0.0
    streamed = bool(latencies) and fs_seen > 0 and args.frame_s > 0
    if streamed:
        lat_ms = np.concatenate(latencies) * 1000.0 / fs_seen
        own_ms = np.concatenate(own_latencies) * 1000.0 / fs_seen
        bound = 300.0
        if lat_ms.size:
            pct = np.percentile(lat_ms, [50, 90, 99, 99.9])
            print(f"\nlatency (end of the frame that returned a matched beat minus the "
                  f"reference R), ms: median {pct[0]:.0f}, p90 {pct[1]:.0f}, p99 {pct[2]:.0f}, "
                  f"p99.9 {pct[3]:.0f}, max {lat_ms.max():.0f}; share <= {bound:g} ms: "
                  f"{100.0 * np.mean(lat_ms <= bound):.3f} % ({int(np.sum(lat_ms > bound))} "
                  f"of {lat_ms.size} later)")
            worst_ref_ms = float(lat_ms.max())
        if own_ms.size:
            opct = np.percentile(own_ms, [50, 90, 99, 99.9])
            print(f"latency (same, minus the reported R; all {own_ms.size} detections), ms: "
                  f"median {opct[0]:.0f}, p90 {opct[1]:.0f}, p99 {opct[2]:.0f}, p99.9 "
                  f"{opct[3]:.0f}, max {own_ms.max():.0f}; {int(np.sum(own_ms > bound))} "
                  f"later than {bound:g} ms")
            worst_ms = float(own_ms.max())
    if any(groups.values()):
        keys = list(detectors)
        print("\n== by SNR (gross Se% / +P% over the records with that suffix)")
        print(f"{'SNR':>6} " + " ".join(f"{k:>22}" for k in keys))
        snrs = sorted({g for k in keys for g in groups[k]}, key=_snr_order)
        for g in snrs:
            cells = [f"{groups[k][g].se:10.2f} /{groups[k][g].ppv:7.2f}   " for k in keys]
            print(f"{g:>6} " + " ".join(f"{c:>22}" for c in cells))
    if usable_s:
        keys = list(detectors)
        print("\n== where dsp.quality finds the signal usable (Se% / +P%; the rest is "
              "reported as unusable, not scored)")
        print(f"{'group':>6} {'usable':>7} " + " ".join(f"{k:>22}" for k in keys))
        order = sorted(usable_s, key=lambda g: _snr_order(g) if g != "all" else ("", 0.0))
        for g in order:
            share = 100.0 * usable_s[g][0] / usable_s[g][1] if usable_s[g][1] else 0.0
            cells = [f"{gated[k][g].se:10.2f} /{gated[k][g].ppv:7.2f}   " for k in keys]
            print(f"{g:>6} {share:6.1f}% " + " ".join(f"{c:>22}" for c in cells))
    tot = totals["dsp"]
    ok = True
    if args.min_se is not None and not tot.se >= args.min_se:
        print(f"FAIL: gross Se {tot.se:.2f} < {args.min_se}", file=sys.stderr)
        ok = False
    if args.min_ppv is not None and not tot.ppv >= args.min_ppv:
        print(f"FAIL: gross +P {tot.ppv:.2f} < {args.min_ppv}", file=sys.stderr)
        ok = False
    for bound_ms, worst, what in ((args.max_latency_ms, worst_ms, "reported"),
                                  (args.max_ref_latency_ms, worst_ref_ms, "reference")):
        if bound_ms is None:
            continue
        if not streamed:
            print("FAIL: latency bounds need streaming (--frame-s > 0)", file=sys.stderr)
            ok = False
        elif worst > bound_ms:
            print(f"FAIL: a beat was returned {worst:.0f} ms after its {what} R "
                  f"(bound {bound_ms:g} ms)", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
