"""Pure ECG signal processing for teleconsult: numpy and scipy only, no I/O.

Modules:
    qrs: QRS (R-peak) detection, offline (:func:`dsp.qrs.detect`), per stream
        (:class:`dsp.qrs.StreamingQRSDetector`) and batched over many streams
        (:class:`dsp.qrs.QRSDetectorBank`).
    filters: causal streaming filters (carried state) and zero-phase offline filters.
    rhythm: RR series, heart rate and rhythm flags from beat indices.
    quality: per-lead signal quality flags with time spans.

``dsp.evaluate`` and ``dsp.bench_live`` are command-line tools (they read
PhysioNet records with ``wfdb``); they are not imported here.
"""

from dsp import filters, qrs, quality, rhythm
from dsp.qrs import DetectorConfig, QRSDetectorBank, StreamingQRSDetector, detect

__all__ = [
    "DetectorConfig",
    "QRSDetectorBank",
    "StreamingQRSDetector",
    "detect",
    "filters",
    "qrs",
    "quality",
    "rhythm",
]
