"""The printable PDF report: a real 12-lead record, read back as text, as drawing operations and as pixels.

True scale is checked twice, independently of the renderer's own constants: from the PDF's
drawing operations (1 mm = 72/25.4 pt: grid pitch, 1 s of signal = 25 mm, 1 mV = 10 mm, the
1 mV / 200 ms calibration pulse) and from poppler's rendering at 254 dpi (10 px per mm).
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from teleconsult.reporting.pdf import CjkFontMissing, find_cjk_font, render_report_pdf
from tests.conftest import SHARED, need

pypdf = pytest.importorskip("pypdf")

RECORD = SHARED / "data" / "cpsc2018" / "challenge2020_wfdb" / "A0005"
MM = 72.0 / 25.4
PATIENT_NAME = "张秀英"

STATEMENTS = [
    ("SR", "窦性心律", "Sinus rhythm"),
    ("STE", "ST段抬高", "ST elevation"),
    ("LVH", "左心室肥厚", "Left ventricular hypertrophy"),
]
MEASUREMENTS: dict[str, float | None] = {
    "heart_rate_bpm": 72.0, "pr_ms": 162.0, "qrs_ms": 94.0, "qt_ms": 388.0,
    "qtc_bazett_ms": 411.0, "qtc_fridericia_ms": 403.0, "axis_deg": -35.0,
}
HEADER = {
    "patient_name": PATIENT_NAME, "patient_id": "P-000123", "sex": "女 F", "age": "53",
    "village_clinic": "李家村卫生室", "county_hospital": "青山县人民医院", "reader": "王建国 Dr Wang",
    "received_at": "2025-05-12 12:34:05", "signed_at": "2025-05-12 12:36:40", "report_id": "R-2025-0042",
    "version": "2", "amendment_reason": "补充电轴 axis added",
}


@dataclass(frozen=True)
class Record:
    signal_mV: NDArray[np.float64]
    fs_hz: float
    leads: list[str]


@pytest.fixture(scope="module")
def record() -> Record:
    need(RECORD.with_suffix(".hea").exists(), f"shared data missing: {RECORD}")
    import wfdb

    rec = wfdb.rdrecord(str(RECORD))
    assert rec.units == ["mV"] * 12
    return Record(np.asarray(rec.p_signal, dtype=np.float64), float(rec.fs), list(rec.sig_name))


@pytest.fixture(scope="module")
def report(record: Record) -> bytes:
    need(_font_available(), "no CJK font: install fonts-wqy-microhei (scripts/install-test-deps.sh)")
    return render_report_pdf(record.signal_mV, record.fs_hz, record.leads, statements=STATEMENTS,
                             measurements=MEASUREMENTS, header=HEADER, critical=["STE"],
                             beats=list(range(250, 5000, 417)))


def _font_available() -> bool:
    try:
        find_cjk_font()
    except CjkFontMissing:
        return False
    return True


# -- reading the drawing operations back ---------------------------------------------------------

@dataclass
class Stroke:
    rgb: tuple[float, float, float]
    width_pt: float
    subpaths: list[list[tuple[float, float]]] = field(default_factory=list)


def strokes(pdf: bytes, page: int = 0) -> Iterator[Stroke]:
    """Every stroked path of a page in page coordinates (points), with its colour and width."""
    from pypdf.generic import ContentStream

    reader = pypdf.PdfReader(io.BytesIO(pdf))
    ops = ContentStream(reader.pages[page].get_contents(), reader).operations
    ctm = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)
    rgb, width = (0.0, 0.0, 0.0), 1.0
    stack: list[tuple[tuple[float, ...], tuple[float, float, float], float]] = []
    subpaths: list[list[tuple[float, float]]] = []

    def at(x: float, y: float) -> tuple[float, float]:
        a, b, c, d, e, f = ctm
        return (a * x + c * y + e, b * x + d * y + f)

    for operands, op in ops:
        args = [float(v) for v in operands] if op in (b"cm", b"m", b"l", b"re", b"RG", b"w") else []
        if op == b"q":
            stack.append((ctm, rgb, width))
        elif op == b"Q":
            ctm, rgb, width = stack.pop()  # type: ignore[assignment]
        elif op == b"cm":
            a, b, c, d, e, f = args
            A, B, C, D, E, F = ctm
            ctm = (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)
        elif op == b"RG":
            rgb = (args[0], args[1], args[2])
        elif op == b"w":
            width = args[0]
        elif op == b"m":
            subpaths.append([at(*args)])
        elif op == b"l":
            subpaths[-1].append(at(*args))
        elif op == b"re":
            x, y, w, h = args
            subpaths.append([at(x, y), at(x + w, y), at(x + w, y + h), at(x, y + h), at(x, y)])
        elif op in (b"S", b"s", b"B", b"B*", b"b", b"b*"):
            yield Stroke(rgb, width, subpaths)
            subpaths = []
        elif op in (b"f", b"f*", b"F", b"n"):
            subpaths = []


def is_grid_red(rgb: tuple[float, float, float]) -> bool:
    r, g, b = rgb
    return r >= 0.8 and g <= r - 0.15 and b <= r - 0.15


def grid_lines(pdf: bytes) -> tuple[list[Stroke], list[Stroke]]:
    reds = [s for s in strokes(pdf) if is_grid_red(s.rgb) and len(s.subpaths) > 20]
    assert len(reds) == 2, "one path of minor and one of major grid lines"
    minor, major = sorted(reds, key=lambda s: s.width_pt)
    assert major.width_pt > minor.width_pt
    return [minor], [major]


def line_positions(paths: list[Stroke], vertical: bool) -> NDArray[np.float64]:
    """Sorted x (vertical lines) or y (horizontal lines) of straight two-point subpaths, in mm."""
    out = []
    for path in paths:
        for sub in path.subpaths:
            (x0, y0), (x1, y1) = sub[0], sub[-1]
            if vertical and abs(x0 - x1) < 1e-6:
                out.append(x0 / MM)
            elif not vertical and abs(y0 - y1) < 1e-6:
                out.append(y0 / MM)
    return np.sort(np.array(out))


def black_traces(pdf: bytes, page: int = 0) -> list[list[tuple[float, float]]]:
    return [sub for s in strokes(pdf, page) if s.rgb == (0.0, 0.0, 0.0) for sub in s.subpaths]


# -- (a) the text ------------------------------------------------------------------------------

def test_text_holds_statements_measurements_reader_and_times(report: bytes) -> None:
    text = pypdf.PdfReader(io.BytesIO(report)).pages[0].extract_text()
    for code, zh, en in STATEMENTS:
        assert zh in text and en in text and code in text
    for needle in ("72 bpm", "162 ms", "94 ms", "388 ms", "411 ms", "403 ms", "-35°", "QTc Bazett", "QTc Fridericia"):
        assert needle in text
    for value in HEADER.values():
        assert value in text
    assert "危急值" in text and "CRITICAL" in text
    assert "25 mm/s" in text and "10 mm/mV" in text and "Filters" in text
    for lead in ("I", "aVR", "V1", "V4", "II", "aVL", "V2", "V5", "III", "aVF", "V3", "V6"):
        assert f"\n{lead}\n" in f"\n{text}\n"
    assert "节律 rhythm" in text


def test_text_with_pdftotext_if_installed(report: bytes, tmp_path: Path) -> None:
    need(shutil.which("pdftotext") is not None, "poppler-utils (pdftotext) not installed")
    path = tmp_path / "report.pdf"
    path.write_bytes(report)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "窦性心律" in text and "Sinus rhythm" in text and "王建国 Dr Wang" in text and "162 ms" in text


# -- (b) true scale, from the drawing operations -----------------------------------------------

def test_page_is_a4_landscape_with_no_scaling(report: bytes) -> None:
    reader = pypdf.PdfReader(io.BytesIO(report))
    box = reader.pages[0].mediabox
    assert float(box.width) / MM == pytest.approx(297.0, abs=0.01)
    assert float(box.height) / MM == pytest.approx(210.0, abs=0.01)
    assert reader.trailer["/Root"]["/ViewerPreferences"]["/PrintScaling"] == "/None"
    from pypdf.generic import ContentStream

    for operands, op in ContentStream(reader.pages[0].get_contents(), reader).operations:
        if op == b"cm":
            a, b, c, d = (float(v) for v in operands[:4])
            assert (a, b, c, d) == (1.0, 0.0, 0.0, 1.0), "no scaling transform anywhere"


def test_grid_pitch_is_1_mm_minor_and_5_mm_major(report: bytes) -> None:
    minor, major = grid_lines(report)
    for vertical in (True, False):
        every = np.unique(np.round(np.concatenate([line_positions(minor, vertical),
                                                   line_positions(major, vertical)]), 4))
        np.testing.assert_allclose(np.diff(every), 1.0, atol=0.002)
        majors = line_positions(major, vertical)
        np.testing.assert_allclose(np.diff(majors), 5.0, atol=0.002)
        assert every[0] == pytest.approx(majors[0], abs=0.002) and every[-1] == pytest.approx(majors[-1], abs=0.002)
    assert len(line_positions(minor, True)) + len(line_positions(major, True)) >= 250  # ≥ 10 s wide
    assert len(line_positions(minor, False)) + len(line_positions(major, False)) >= 120  # 4 rows


def test_one_second_spans_25_mm_and_one_millivolt_10_mm(report: bytes, record: Record) -> None:
    fs = record.fs_hz
    lead_ii = record.signal_mV[:, record.leads.index("II")]
    rhythm = [p for p in black_traces(report) if len(p) == int(10 * fs)]
    assert len(rhythm) == 1, "one 10 s rhythm strip"
    x = np.array([pt[0] for pt in rhythm[0]]) / MM
    y = np.array([pt[1] for pt in rhythm[0]]) / MM
    np.testing.assert_allclose(np.diff(x), 25.0 / fs, atol=0.001)  # 25 mm per second
    assert x[int(fs)] - x[0] == pytest.approx(25.0, abs=0.002)
    assert x[-1] - x[0] == pytest.approx(25.0 * (10 - 1 / fs), abs=0.002)
    baseline = y - lead_ii[: len(y)] * 10.0  # 10 mm per mV: the same baseline for every sample
    assert np.ptp(baseline) < 0.002
    # The 3 × 4 cells: 2.5 s each, simultaneous (cell k starts 62.5 mm after cell k-1 at t = 2.5 k s).
    cells = [p for p in black_traces(report) if len(p) == int(2.5 * fs)]
    assert len(cells) == 12
    starts = sorted({round(p[0][0] / MM, 3) for p in cells})
    np.testing.assert_allclose(np.diff(starts), 62.5, atol=0.002)
    assert starts[0] == pytest.approx(x[0], abs=0.002)


def test_calibration_pulse_is_1_mv_by_200_ms_at_each_row_start(report: bytes, record: Record) -> None:
    pulses = []
    for path in black_traces(report):
        if len(path) == 6:
            xs = [p[0] / MM for p in path]
            ys = [p[1] / MM for p in path]
            pulses.append((xs, ys))
    assert len(pulses) == 4, "one pulse per row: 3 rows of leads and the rhythm strip"
    rhythm_baseline = None
    for xs, ys in pulses:
        assert max(ys) - min(ys) == pytest.approx(10.0, abs=0.002)  # 1 mV at 10 mm/mV
        assert xs[3] - xs[2] == pytest.approx(5.0, abs=0.002)  # 200 ms at 25 mm/s
        assert ys[0] == ys[-1] == min(ys)
        rhythm_baseline = min(ys) if rhythm_baseline is None else min(rhythm_baseline, min(ys))
    # The lowest pulse shares its baseline with the rhythm strip's zero.
    trace = next(p for p in black_traces(report) if len(p) == int(10 * record.fs_hz))
    lead_ii = record.signal_mV[:, record.leads.index("II")]
    assert trace[0][1] / MM - lead_ii[0] * 10.0 == pytest.approx(rhythm_baseline, abs=0.002)


# -- (c) the pixels --------------------------------------------------------------------------

def test_renders_to_a_true_scale_image_with_red_grid_and_traces(report: bytes, tmp_path: Path) -> None:
    need(shutil.which("pdftoppm") is not None, "poppler-utils (pdftoppm) not installed")
    from PIL import Image

    (tmp_path / "report.pdf").write_bytes(report)
    subprocess.run(["pdftoppm", "-png", "-r", "254", "-f", "1", "-l", "1", "-singlefile",
                    str(tmp_path / "report.pdf"), str(tmp_path / "page")], check=True, timeout=120)
    image = np.asarray(Image.open(tmp_path / "page.png").convert("RGB")).astype(np.int16)
    height_px, width_px = image.shape[:2]  # 254 dpi = 10 px/mm: 297 × 210 mm (poppler rounds up)
    assert abs(width_px - 2970) <= 1 and abs(height_px - 2100) <= 1
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    assert (image.sum(axis=2) < 3 * 250).mean() > 0.2, "not blank"
    red = (r > 180) & (g < r - 40) & (b < r - 40)
    assert red.mean() > 0.05, "red grid pixels"
    dark = (r < 80) & (g < 80) & (b < 80)
    assert dark.mean() > 0.003, "black traces and text"
    # Major lines are the strongest red columns; their pitch in pixels is 5 mm × 10 px/mm.
    strong = (r > 180) & (g < 150) & (b < 150)
    columns = strong[1000:1900].mean(axis=0)
    peaks = np.flatnonzero(columns > 0.5)
    groups = np.split(peaks, np.flatnonzero(np.diff(peaks) > 3) + 1)
    centres = np.array([grp.mean() for grp in groups if len(grp)])
    assert len(centres) >= 50
    np.testing.assert_allclose(np.diff(centres), 50.0, atol=1.0)


# -- other lead sets, determinism, failure modes ------------------------------------------------

def test_18_leads_put_the_extra_leads_on_page_2(record: Record) -> None:
    need(_font_available(), "no CJK font")
    extra = np.hstack([record.signal_mV[:, 9:12] * 0.6, -record.signal_mV[:, 6:9]])
    signal = np.hstack([record.signal_mV, extra])
    leads = record.leads + ["V7", "V8", "V9", "V3R", "V4R", "V5R"]
    pdf = render_report_pdf(signal, record.fs_hz, leads, statements=STATEMENTS, measurements={}, header=HEADER)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == 2
    page2 = reader.pages[1].extract_text()
    for lead in ("V7", "V8", "V9", "V3R", "V4R", "V5R"):
        assert lead in page2
    assert PATIENT_NAME in page2 and "R-2025-0042" in page2, "a loose page 2 still names the patient"
    cells = [p for p in black_traces(pdf, 1) if len(p) == int(5 * record.fs_hz)]
    assert len(cells) == 6, "V7 V8 V9 / V3R V4R V5R as two 5 s columns"


def test_one_lead_with_a_gap_fills_the_page_in_time(record: Record) -> None:
    need(_font_available(), "no CJK font")
    lead = record.signal_mV[:, 1:2].copy()
    lead[1000:1200] = np.nan  # lead off: the trace breaks instead of drawing a line through
    pdf = render_report_pdf(lead, record.fs_hz, ["ii"], statements=[], measurements={}, header={})
    paths = black_traces(pdf)
    assert sum(len(p) for p in paths if len(p) > 100) == len(lead) - 200  # 25 s: 10 + 10 + 5
    text = pypdf.PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "II" in text and "10–20 s" in text


def test_same_input_same_bytes(record: Record, report: bytes) -> None:
    again = render_report_pdf(record.signal_mV, record.fs_hz, record.leads, statements=STATEMENTS,
                              measurements=MEASUREMENTS, header=HEADER, critical=["STE"],
                              beats=list(range(250, 5000, 417)))
    assert again == report


def test_many_statements_continue_on_a_text_page(record: Record) -> None:
    need(_font_available(), "no CJK font")
    many = [(f"S{i}", f"诊断{i}", f"Statement {i}") for i in range(30)]
    pdf = render_report_pdf(record.signal_mV, record.fs_hz, record.leads, statements=many,
                            measurements={}, header=HEADER)
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) == 2
    for i in range(30):
        assert f"Statement {i}\n" in text + "\n" or f"Statement {i} " in text


def test_errors_name_the_problem_but_no_patient_field(record: Record, caplog: pytest.LogCaptureFixture) -> None:
    need(_font_available(), "no CJK font")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ValueError, match="unknown header field") as excinfo:
        render_report_pdf(record.signal_mV, record.fs_hz, record.leads, statements=[], measurements={},
                          header={**HEADER, "patient_nmae": PATIENT_NAME})
    assert PATIENT_NAME not in str(excinfo.value)
    with pytest.raises(ValueError, match="columns"):
        render_report_pdf(record.signal_mV, record.fs_hz, record.leads[:11], statements=[], measurements={},
                          header=HEADER)
    render_report_pdf(record.signal_mV, record.fs_hz, record.leads, statements=STATEMENTS,
                      measurements=MEASUREMENTS, header=HEADER)
    assert all(PATIENT_NAME not in r.getMessage() and "P-000123" not in r.getMessage() for r in caplog.records)


def test_missing_cjk_font_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(CjkFontMissing, match="fonts-wqy-microhei"):
        find_cjk_font([tmp_path / "nope.ttc"])
