"""Live-detection benchmark: many concurrent streams through one QRSDetectorBank.

    python -m dsp.bench_live --streams 850 --leads 12 --fs 500 --seconds 30

Each tick pushes one ``(frame, streams, leads)`` block (40 ms frames by
default) to a :class:`dsp.qrs.QRSDetectorBank`. The signal is MIT-BIH record
100-style ECG from ``--record`` (resampled to ``--fs``), with a different
start offset per stream and a different gain per lead, so streams are not
copies of each other. Only ``push`` is timed (block generation is not). It
prints the real-time factor and the number of leads one core sustains
(leads x real-time factor), and exits 1 when that is below ``--target-leads``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from math import gcd

import numpy as np
from numpy.typing import NDArray
from scipy import signal as sps


def _base_signal(record: str, fs_hz: float, seconds: float) -> NDArray[np.float64]:
    import wfdb

    rec = wfdb.rdrecord(record, sampto=int(seconds * 360) + 360)
    x = np.asarray(rec.p_signal[:, 0], dtype=np.float64)
    fs0 = int(rec.fs)
    up, down = int(fs_hz), fs0
    g = gcd(up, down)
    return np.asarray(sps.resample_poly(x, up // g, down // g), dtype=np.float64)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    from dsp.qrs import QRSDetectorBank

    ap = argparse.ArgumentParser(prog="python -m dsp.bench_live", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", type=int, default=850)
    ap.add_argument("--leads", type=int, default=12)
    ap.add_argument("--fs", type=float, default=500.0)
    ap.add_argument("--frame-s", type=float, default=0.04)
    ap.add_argument("--seconds", type=float, default=30.0, help="signal seconds to run")
    ap.add_argument("--record", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                     "shared", "data", "mitdb", "101"))
    ap.add_argument("--target-leads", type=float, default=10000.0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(1)
    base = _base_signal(args.record, args.fs, 120.0)
    n_base = base.size
    s, l = args.streams, args.leads
    offsets = rng.integers(0, n_base, size=s)
    gains = rng.uniform(0.3, 1.5, size=(s, l)) * rng.choice([-1.0, 1.0], size=(s, l))
    frame = max(1, int(round(args.frame_s * args.fs)))
    n_ticks = int(args.seconds * args.fs) // frame
    bank = QRSDetectorBank(args.fs, s, l)
    busy = 0.0
    beats = 0
    t_index = np.arange(frame)
    for tick in range(n_ticks):
        idx = (offsets[None, :] + tick * frame + t_index[:, None]) % n_base  # (frame, s)
        block = base[idx][:, :, None] * gains[None, :, :]  # (frame, s, l) mV
        t0 = time.perf_counter()
        st, _ = bank.push(block)
        busy += time.perf_counter() - t0
        beats += st.size
    signal_s = n_ticks * frame / args.fs
    xrt = signal_s / busy if busy > 0 else float("inf")
    sustained = s * l * xrt
    per_tick_ms = 1000.0 * busy / max(n_ticks, 1)
    print(f"streams {s} x leads {l} at {args.fs:g} Hz, {frame}-sample frames, "
          f"{signal_s:.1f} s of signal, {beats} beats")
    print(f"push time per tick {per_tick_ms:.2f} ms (tick = {1000 * frame / args.fs:.0f} ms); "
          f"x real time {xrt:.2f}")
    print(f"detector state per stream: {bank.state_nbytes / s / 1024:.1f} KiB (numpy) "
          f"+ ~1 KiB Python decision state")
    print(f"leads sustained on one core: {sustained:,.0f} (target {args.target_leads:,.0f})")
    if sustained < args.target_leads:
        print("FAIL: below target", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
