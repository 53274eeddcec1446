"""Render a signed ECG report as a printable PDF: A4 landscape, true-scale ECG grid, zh-CN with English.

Pure: arrays and strings in, ``bytes`` out; no database model, no I/O besides reading the CJK
font file, no logging. The same arguments give the same bytes (reportlab's invariant mode).

Calling order: ``render_report_pdf(signal_mV, fs_hz, leads, statements=…, measurements=…,
header=…)``. It is CPU-bound (under 1 s for a 10 s 12-lead record), so an asyncio caller runs it in
an executor: ``await loop.run_in_executor(None, functools.partial(render_report_pdf, …))``.

True scale. PDF user space is 1/72 inch and the page is A4 (297 × 210 mm) with no scaling
transform anywhere: every coordinate is ``millimetres × 72 / 25.4`` points, so a page printed
at 100 % ("actual size") measures true: 1 mm minor and 5 mm major grid lines, 1 s of signal
spans ``paper_speed_mm_s`` mm and 1 mV spans ``gain_mm_mv`` mm. The PDF asks viewers not to
scale when printing (``/ViewerPreferences << /PrintScaling /None >>``), and the page says so.

Layout. Leads are put in the clinical order (I, II, III, aVR, aVL, aVF, V1–V6, then V7–V9,
V3R–V5R, then anything else as given) and packed column-major into 3 rows, at most 12 leads a
page: a full 12-lead record gives the 3 × 4 layout (I aVR V1 V4 / II aVL V2 V5 / III aVF V3 V6,
2.5 s each at 25 mm/s) plus a 10 s rhythm strip of lead II; the six extra leads of an 18-lead
record follow on page 2 (V7 V3R / V8 V4R / V9 V5R, 5 s each, with the rhythm strip again).
Records of at most four leads print each lead as a full-width strip. A 1 mV calibration pulse
(200 ms wide) starts every row. Statements that do not fit on page 1 continue on a text page.

Patient fields appear on the page (it is the report) but never in an exception message.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas

__all__ = [
    "CJK_FONT_CANDIDATES",
    "HEADER_FIELDS",
    "MEASUREMENTS",
    "MM",
    "CjkFontMissing",
    "find_cjk_font",
    "render_report_pdf",
]

MM = 72.0 / 25.4
"""Points per millimetre: PDF user space is 1/72 inch."""

CJK_FONT_CANDIDATES: tuple[Path, ...] = (
    # fonts-wqy-microhei (installed by scripts/install-test-deps.sh), then other Debian/Ubuntu
    # CJK fonts with TrueType outlines (reportlab embeds glyf fonts, not CFF-based OpenType).
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
    Path("/usr/share/fonts/truetype/arphic/ukai.ttc"),
    Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"),  # Fedora / RHEL
    Path("/usr/share/fonts/wenquanyi/wqy-microhei/wqy-microhei.ttc"),  # Arch
    Path("/System/Library/Fonts/STHeiti Light.ttc"),  # macOS
    Path("C:/Windows/Fonts/simhei.ttf"),  # Windows
)

HEADER_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("patient_name", "姓名", "Name"),
    ("patient_id", "编号", "Patient ID"),
    ("sex", "性别", "Sex"),
    ("age", "年龄", "Age"),
    ("village_clinic", "村卫生室", "Village clinic"),
    ("county_hospital", "县医院", "County hospital"),
    ("received_at", "接收时间", "Received"),
    ("signed_at", "签署时间", "Signed"),
    ("reader", "报告医师", "Reader"),
    ("report_id", "报告编号", "Report ID"),
    ("version", "版本", "Version"),
    ("amendment_reason", "修改原因", "Amendment"),
)
"""``header`` keys with their zh-CN and English labels; other keys are refused (typos)."""

MEASUREMENTS: tuple[tuple[str, str, str], ...] = (
    ("heart_rate_bpm", "心率 HR", "bpm"),
    ("pr_ms", "PR间期 PR", "ms"),
    ("qrs_ms", "QRS时限 QRS", "ms"),
    ("qt_ms", "QT间期 QT", "ms"),
    ("qtc_bazett_ms", "QTc Bazett", "ms"),
    ("qtc_fridericia_ms", "QTc Fridericia", "ms"),
    ("axis_deg", "电轴 Axis", "°"),
)
"""Known ``measurements`` keys in print order; other keys print after them under their own name."""

STANDARD_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
                  "V7", "V8", "V9", "V3R", "V4R", "V5R")
_CANONICAL = {name.lower(): name for name in STANDARD_ORDER}
_UNIT_BY_SUFFIX = {"_ms": "ms", "_bpm": "bpm", "_deg": "°", "_mv": "mV", "_s": "s", "_hz": "Hz"}

PAGE_SIZES_MM: Mapping[str, tuple[float, float]] = {"A4": (297.0, 210.0), "Letter": (279.4, 215.9)}
"""Landscape (width, height) of the supported paper sizes."""

# Page geometry, millimetres from the bottom-left corner of the page.
GRID_W_MM = 260.0
GRID_H_MM = 120.0
GRID_BOTTOM_MM = 14.0
ROW_H_MM = 30.0
BASELINE_BELOW_ROW_TOP_MM = 17.5
ROWS_PER_PAGE = 4
LEADS_PER_PAGE = 12
CAL_PULSE_S = 0.2
CAL_PULSE_MV = 1.0
MARGIN_MM = 6.0

GRID_MINOR_RGB = (0.98, 0.72, 0.74)
GRID_MAJOR_RGB = (0.90, 0.33, 0.38)
GRID_MINOR_WIDTH_PT = 0.3
GRID_MAJOR_WIDTH_PT = 0.75
TRACE_WIDTH_PT = 0.6
CRITICAL_RGB = (0.80, 0.0, 0.0)
CRITICAL_FILL_RGB = (1.0, 0.90, 0.90)
BEAT_RGB = (0.05, 0.30, 0.75)
MUTED_RGB = (0.35, 0.35, 0.35)

FONT_NAME = "TeleconsultCJK"
TEXT_PT = 8.5
SMALL_PT = 7.5
TITLE_PT = 13.0
LEAD_LABEL_PT = 9.0
STATEMENT_PT = 10.0
LINE_MM = 4.2
STATEMENT_LINE_MM = 5.0
FIELDS_BLOCK_MM = 5 * LINE_MM + 2.5

_RENDER_LOCK = threading.Lock()


class CjkFontMissing(RuntimeError):
    """No usable font with Chinese glyphs was found; the message lists the paths tried."""


def find_cjk_font(candidates: Sequence[Path] = CJK_FONT_CANDIDATES) -> Path:
    """Return the first candidate font file that exists.

    Raises:
        CjkFontMissing: none exists (install the Debian package ``fonts-wqy-microhei``).
    """
    for path in candidates:
        if path.is_file():
            return path
    tried = ", ".join(str(p) for p in candidates)
    raise CjkFontMissing(f"no CJK font found for the PDF report; install fonts-wqy-microhei (tried: {tried})")


@cache
def _register_cjk_font() -> str:
    """Register the first usable CJK TrueType font with reportlab, once per process."""
    tried: list[str] = []
    for path in CJK_FONT_CANDIDATES:
        if not path.is_file():
            tried.append(f"{path} (missing)")
            continue
        try:
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(path), subfontIndex=0))
        except TTFError as exc:
            tried.append(f"{path} ({exc})")
            continue
        return FONT_NAME
    raise CjkFontMissing("no usable CJK font for the PDF report; install fonts-wqy-microhei (tried: "
                         + "; ".join(tried) + ")")


@dataclass(frozen=True)
class _Strip:
    """One trace on the grid: a lead from ``t0_s`` for ``duration_s``, starting at ``x_mm``."""

    column: int  # column of `signal_mV`
    label: str
    row: int
    x_mm: float
    t0_s: float
    duration_s: float
    rhythm: bool = False


@dataclass(frozen=True)
class _Page:
    strips: tuple[_Strip, ...]


def render_report_pdf(
    signal_mV: NDArray[np.floating] | NDArray[np.integer],
    fs_hz: float,
    leads: Sequence[str],
    *,
    statements: Sequence[tuple[str, str, str]],
    measurements: Mapping[str, float | None],
    header: Mapping[str, str],
    critical: Sequence[str] = (),
    beats: Sequence[int] = (),
    paper_speed_mm_s: float = 25.0,
    gain_mm_mv: float = 10.0,
    page: str = "A4",
    filters: str | None = None,
) -> bytes:
    """Render the report and return the PDF file's bytes.

    Args:
        signal_mV: samples in millivolts, shape ``(n_samples, n_leads)``; NaN marks a gap.
        fs_hz: sampling rate.
        leads: lead names, one per column (case-insensitive: ``AVR`` prints as ``aVR``).
        statements: ``(code, zh-CN label, English label)`` in the reader's order.
        measurements: values by key (see ``MEASUREMENTS``); ``None`` prints as "—".
        header: report fields by key (see ``HEADER_FIELDS``); a missing one prints as "—".
        critical: critical findings: a statement code (that statement is highlighted) or free text.
        beats: beat sample indices, marked above the rhythm strip.
        paper_speed_mm_s: time scale; 25 mm/s shows 10 s across the page.
        gain_mm_mv: amplitude scale.
        page: ``"A4"`` or ``"Letter"``, always landscape.
        filters: the filters applied to ``signal_mV`` before this call, printed as the settings;
            ``None`` prints "as recorded" (this function filters nothing).

    Raises:
        ValueError: malformed arguments (shape, rate, scale, lead names, unknown header keys).
        CjkFontMissing: no CJK font is installed.
    """
    signal = np.asarray(signal_mV, dtype=np.float64)
    if signal.ndim != 2 or signal.shape[0] < 1 or signal.shape[1] < 1:
        raise ValueError(f"signal_mV must have shape (n_samples, n_leads), got {signal.shape}")
    if signal.shape[1] != len(leads):
        raise ValueError(f"signal_mV has {signal.shape[1]} columns but {len(leads)} lead names were given")
    if not (math.isfinite(fs_hz) and fs_hz > 0):
        raise ValueError("fs_hz must be a positive number")
    if not (math.isfinite(paper_speed_mm_s) and 5.0 <= paper_speed_mm_s <= 100.0):
        raise ValueError("paper_speed_mm_s must be between 5 and 100")
    if not (math.isfinite(gain_mm_mv) and 1.0 <= gain_mm_mv <= 40.0):
        raise ValueError("gain_mm_mv must be between 1 and 40")
    if page not in PAGE_SIZES_MM:
        raise ValueError(f"page must be one of {sorted(PAGE_SIZES_MM)}")
    unknown = sorted(set(header) - {key for key, _, _ in HEADER_FIELDS})
    if unknown:
        raise ValueError(f"unknown header field(s): {', '.join(unknown)}")
    names = [_CANONICAL.get(name.strip().lower(), name.strip()) for name in leads]
    if len(set(names)) != len(names) or not all(names):
        raise ValueError("lead names must be non-empty and distinct")

    page_w_mm, page_h_mm = PAGE_SIZES_MM[page]
    geometry = _Geometry(page_w_mm, page_h_mm, paper_speed_mm_s, gain_mm_mv)
    pages = _layout(names, geometry, signal.shape[0] / fs_hz)
    with _RENDER_LOCK:  # reportlab keeps per-document font subset state on the shared TTFont
        font = _register_cjk_font()
        pdf = _Renderer(font, geometry, signal, fs_hz, names, header, filters)
        lines = _statement_lines(statements, critical)
        overflow = lines[pdf.first_page_capacity(bool(critical)):]
        per_page = pdf.continuation_capacity()
        chunks = [overflow[i:i + per_page] for i in range(0, len(overflow), per_page)]
        n_pages = len(pages) + len(chunks)
        for number, layout in enumerate(pages, start=1):
            if number == 1:
                pdf.first_page_header(lines, measurements, critical)
            else:
                pdf.compact_header()
            pdf.grid()
            pdf.traces(layout, beats)
            pdf.footer(number, n_pages)
            pdf.canvas.showPage()
        for number, chunk in enumerate(chunks, start=len(pages) + 1):
            pdf.continuation_page(chunk, number, n_pages)
            pdf.canvas.showPage()
        return bytes(pdf.canvas.getpdfdata())


@dataclass(frozen=True)
class _Geometry:
    page_w_mm: float
    page_h_mm: float
    speed_mm_s: float
    gain_mm_mv: float

    @property
    def grid_left_mm(self) -> float:
        return (self.page_w_mm - GRID_W_MM) / 2

    @property
    def grid_top_mm(self) -> float:
        return GRID_BOTTOM_MM + GRID_H_MM

    @property
    def cal_zone_mm(self) -> float:
        """Width of the calibration column at the row start: the pulse plus margins, whole 5 mm boxes."""
        return 5.0 * math.ceil((CAL_PULSE_S * self.speed_mm_s + 4.0) / 5.0)

    @property
    def trace_left_mm(self) -> float:
        return self.grid_left_mm + self.cal_zone_mm

    @property
    def window_s(self) -> float:
        """Seconds of signal across the page: 10 s at 25 mm/s."""
        return (GRID_W_MM - self.cal_zone_mm) / self.speed_mm_s

    def baseline_mm(self, row: int) -> float:
        """Baseline of a row: low enough for the calibration pulse to stay inside the row."""
        below_top = min(max(BASELINE_BELOW_ROW_TOP_MM, CAL_PULSE_MV * self.gain_mm_mv + 4.0), ROW_H_MM - 2.0)
        return self.grid_top_mm - row * ROW_H_MM - below_top


def _layout(names: Sequence[str], geometry: _Geometry, duration_s: float) -> list[_Page]:
    """Place leads on pages: clinical order, column-major in 3 rows plus a rhythm strip.

    At most four leads: one full-width row per lead, and the rows left over continue in time
    (one lead: 0–10 s, 10–20 s, 20–30 s, 30–40 s at 25 mm/s).
    """
    rank = {name: i for i, name in enumerate(STANDARD_ORDER)}
    order = sorted(range(len(names)), key=lambda c: (rank.get(names[c], len(rank)), c))
    window_s = geometry.window_s
    if len(order) <= ROWS_PER_PAGE:
        segments = max(1, min(ROWS_PER_PAGE // len(order), math.ceil(duration_s / window_s - 1e-9)))
        strips = tuple(
            _Strip(c, names[c] if segments == 1 else f"{names[c]}  {seg * window_s:g}–{(seg + 1) * window_s:g} s",
                   seg * len(order) + i, geometry.trace_left_mm, seg * window_s, window_s)
            for seg in range(segments) for i, c in enumerate(order))
        return [_Page(strips)]
    rhythm_col = names.index("II") if "II" in names else order[0]
    pages = []
    for start in range(0, len(order), LEADS_PER_PAGE):
        chunk = order[start:start + LEADS_PER_PAGE]
        n_cols = math.ceil(len(chunk) / 3)
        cell_s = window_s / n_cols
        strips_list = []
        for i, c in enumerate(chunk):
            col, row = divmod(i, 3)
            strips_list.append(_Strip(c, names[c], row, geometry.trace_left_mm + col * cell_s * geometry.speed_mm_s,
                                      col * cell_s, cell_s))
        strips_list.append(_Strip(rhythm_col, names[rhythm_col], 3, geometry.trace_left_mm, 0.0, window_s,
                                  rhythm=True))
        pages.append(_Page(tuple(strips_list)))
    return pages


@dataclass(frozen=True)
class _Line:
    code: str
    zh: str
    en: str
    critical: bool


def _statement_lines(statements: Sequence[tuple[str, str, str]], critical: Sequence[str]) -> list[_Line]:
    critical_set = set(critical)
    return [_Line(code, zh, en, code in critical_set) for code, zh, en in statements]


def _fmt_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.0f}" if abs(value) >= 10 or float(value).is_integer() else f"{value:.2g}"


def _measurement_items(measurements: Mapping[str, float | None]) -> list[tuple[str, str]]:
    items = []
    known = {key for key, _, _ in MEASUREMENTS}
    for key, label, unit in MEASUREMENTS:
        value = measurements.get(key)
        text = _fmt_value(value)
        items.append((label, text if text == "—" else f"{text} {unit}" if unit != "°" else f"{text}°"))
    for key in measurements:
        if key not in known:
            unit = next((u for suffix, u in _UNIT_BY_SUFFIX.items() if key.endswith(suffix)), "")
            text = _fmt_value(measurements[key])
            items.append((key, text if text == "—" or not unit else f"{text} {unit}"))
    return items


class _Renderer:
    """Draws on one reportlab canvas; all geometry in millimetres, converted once with ``MM``."""

    def __init__(self, font: str, geometry: _Geometry, signal: NDArray[np.float64], fs_hz: float,
                 names: Sequence[str], header: Mapping[str, str], filters: str | None) -> None:
        self.font = font
        self.g = geometry
        self.signal = signal
        self.fs_hz = fs_hz
        self.names = names
        self.header = header
        self.filters = filters
        self.canvas = Canvas(None, pagesize=(geometry.page_w_mm * MM, geometry.page_h_mm * MM),
                             invariant=1, pageCompression=1)
        report_id = header.get("report_id", "")
        self.canvas.setTitle(f"心电图报告 ECG report {report_id}".strip())  # no patient fields in metadata
        self.canvas.setCreator("teleconsult")
        self.canvas.setViewerPreference("PrintScaling", "None")

    # text helpers -------------------------------------------------------------------------

    def width_mm(self, text: str, size: float) -> float:
        return float(pdfmetrics.stringWidth(text, self.font, size)) / MM

    def fit(self, text: str, size: float, max_mm: float) -> str:
        """Cut ``text`` with an ellipsis so that it fits ``max_mm``."""
        if self.width_mm(text, size) <= max_mm:
            return text
        while text and self.width_mm(text + "…", size) > max_mm:
            text = text[:-1]
        return text + "…"

    def text(self, x_mm: float, y_mm: float, text: str, size: float = TEXT_PT,
             rgb: tuple[float, float, float] = (0.0, 0.0, 0.0), bold: bool = False,
             align: str = "left", halo: bool = False) -> float:
        """Draw one line; returns the x where it ends (mm).

        ``bold`` thickens the outline; ``halo`` first clears a white box behind the text, so
        a lead label stays legible where a trace runs through it (the text itself is drawn
        once, so that it reads back once when extracted or searched).
        """
        c = self.canvas
        width = self.width_mm(text, size)
        if align == "right":
            x_mm -= width
        if halo:
            height_mm = size * 25.4 / 72.0
            c.saveState()
            c.setFillColorRGB(1, 1, 1)
            c.rect((x_mm - 0.4) * MM, (y_mm - 0.25 * height_mm) * MM, (width + 0.8) * MM, 1.1 * height_mm * MM,
                   stroke=0, fill=1)
            c.restoreState()
        c.saveState()  # colour and render mode outlive BT/ET in PDF: keep them local
        c.setFillColorRGB(*rgb)
        if bold:
            c.setStrokeColorRGB(*rgb)
            c.setLineWidth(size * 0.035)
        t = c.beginText(x_mm * MM, y_mm * MM)
        t.setFont(self.font, size)
        t.setTextRenderMode(2 if bold else 0)
        t.textOut(text)
        c.drawText(t)
        c.restoreState()
        return x_mm + width

    def field(self, x_mm: float, y_mm: float, key: str, max_mm: float,
              rgb: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> None:
        zh, en = next((zh, en) for k, zh, en in HEADER_FIELDS if k == key)
        end = self.text(x_mm, y_mm, f"{zh} {en}: ", SMALL_PT, MUTED_RGB)
        value = self.header.get(key, "").strip() or "—"
        self.text(end, y_mm, self.fit(value, TEXT_PT, max_mm - (end - x_mm)), TEXT_PT, rgb)

    # page parts ---------------------------------------------------------------------------

    def title(self, suffix: str = "") -> float:
        """Title line and report id; returns the y (mm) below it."""
        g = self.g
        top = g.page_h_mm - MARGIN_MM - 4.5
        left, right = g.grid_left_mm, g.grid_left_mm + GRID_W_MM
        self.text(left, top, "心电图报告  ECG Report" + suffix, TITLE_PT, bold=True)
        report = self.header.get("report_id", "").strip() or "—"
        version = self.header.get("version", "").strip() or "—"
        self.text(right, top, self.fit(f"报告编号 Report ID: {report}    版本 Version: {version}", TEXT_PT, 120),
                  TEXT_PT, align="right")
        return top - 6.0

    def statements_top_mm(self, has_critical: bool) -> float:
        """Baseline of the first statement line on page 1."""
        y = self.g.page_h_mm - MARGIN_MM - 4.5 - 6.0 - FIELDS_BLOCK_MM
        if has_critical:
            y -= LINE_MM + 3.0
        return y - STATEMENT_LINE_MM

    def statements_per_column(self, top_mm: float, bottom_mm: float) -> int:
        return max(1, int((top_mm - bottom_mm) // STATEMENT_LINE_MM) + 1)

    def first_page_capacity(self, has_critical: bool) -> int:
        """How many statements fit on page 1 (two columns down to the grid)."""
        return 2 * self.statements_per_column(self.statements_top_mm(has_critical), self.g.grid_top_mm + 2.0)

    def first_page_header(self, lines: Sequence[_Line], measurements: Mapping[str, float | None],
                          critical: Sequence[str]) -> None:
        """Title, report fields, measurements, critical findings and the statements that fit."""
        g = self.g
        left = g.grid_left_mm
        y = self.title()
        columns = (
            (left, 78.0, ("patient_name", "patient_id", "sex", "age", "amendment_reason")),
            (left + 80.0, 88.0, ("village_clinic", "county_hospital", "reader", "received_at", "signed_at")),
        )
        for x, width, keys in columns:
            for i, key in enumerate(keys):
                if key == "amendment_reason" and not self.header.get(key, "").strip():
                    continue
                rgb = CRITICAL_RGB if key == "amendment_reason" else (0.0, 0.0, 0.0)
                self.field(x, y - i * LINE_MM, key, width, rgb)
        self.measurements_box(left + 172.0, y + 3.2, GRID_W_MM - 172.0, measurements)
        y -= FIELDS_BLOCK_MM
        if critical:
            by_code = {line.code: line for line in lines}
            labels = [f"{by_code[item].zh} {by_code[item].en}" if item in by_code else item for item in critical]
            self.critical_box(left, y, GRID_W_MM, labels)
            y -= LINE_MM + 3.0
        self.text(left, y, "诊断 Statements", SMALL_PT, MUTED_RGB)
        top = self.statements_top_mm(bool(critical))
        per_column = self.statements_per_column(top, g.grid_top_mm + 2.0)
        self.statement_columns(lines[: 2 * per_column], top, per_column)

    def statement_columns(self, lines: Sequence[_Line], top_mm: float, per_column: int) -> None:
        col_w = GRID_W_MM / 2
        for i, line in enumerate(lines):
            col, row = divmod(i, per_column)
            self.statement(self.g.grid_left_mm + col * col_w, top_mm - row * STATEMENT_LINE_MM, line, col_w - 4.0)

    def measurements_box(self, x_mm: float, top_mm: float, width_mm: float,
                         measurements: Mapping[str, float | None]) -> None:
        items = _measurement_items(measurements)
        c = self.canvas
        rows = math.ceil(len(items) / 2)
        height = rows * LINE_MM + 2.0
        c.setStrokeColorRGB(*MUTED_RGB)
        c.setLineWidth(0.4)
        c.rect(x_mm * MM, (top_mm - height) * MM, width_mm * MM, height * MM, stroke=1, fill=0)
        half = width_mm / 2
        for i, (label, value) in enumerate(items):
            col, row = divmod(i, rows)
            y = top_mm - 1.0 - (row + 1) * LINE_MM + 1.0
            x = x_mm + 2.0 + col * half
            self.text(x, y, self.fit(label, SMALL_PT, 25.0), SMALL_PT, MUTED_RGB)
            self.text(x + half - 4.0, y, value, TEXT_PT, bold=True, align="right")

    def critical_box(self, x_mm: float, y_mm: float, width_mm: float, labels: Sequence[str]) -> None:
        c = self.canvas
        c.setFillColorRGB(*CRITICAL_FILL_RGB)
        c.setStrokeColorRGB(*CRITICAL_RGB)
        c.setLineWidth(1.0)
        c.rect(x_mm * MM, (y_mm - 1.6) * MM, width_mm * MM, (LINE_MM + 1.6) * MM, stroke=1, fill=1)
        end = self.text(x_mm + 2.0, y_mm, "危急值 CRITICAL:", TEXT_PT, CRITICAL_RGB, bold=True)
        self.text(end + 2.0, y_mm, self.fit("；".join(labels), TEXT_PT, width_mm - (end - x_mm) - 4.0),
                  TEXT_PT, CRITICAL_RGB, bold=True)

    def statement(self, x_mm: float, y_mm: float, line: _Line, width_mm: float) -> None:
        rgb = CRITICAL_RGB if line.critical else (0.0, 0.0, 0.0)
        if line.critical:
            self.canvas.setFillColorRGB(*CRITICAL_RGB)
            self.canvas.rect(x_mm * MM, (y_mm - 0.5) * MM, 1.2 * MM, 3.6 * MM, stroke=0, fill=1)
        x = x_mm + 2.5
        code_w = self.width_mm(line.code, SMALL_PT)
        zh = self.fit(line.zh, STATEMENT_PT, width_mm / 2)
        end = self.text(x, y_mm, zh, STATEMENT_PT, rgb, bold=line.critical)
        en = self.fit(line.en, STATEMENT_PT - 0.5, x_mm + width_mm - code_w - 3.0 - (end + 3.0))
        self.text(end + 3.0, y_mm, en, STATEMENT_PT - 0.5, rgb, bold=line.critical)
        self.text(x_mm + width_mm, y_mm, line.code, SMALL_PT, MUTED_RGB, align="right")

    def compact_header(self) -> None:
        """Later pages: title and who the patient is, so a loose page is never anonymous."""
        y = self.title("（续 continued）")
        left = self.g.grid_left_mm
        self.field(left, y, "patient_name", 78.0)
        self.field(left + 80.0, y, "patient_id", 88.0)
        self.field(left + 172.0, y, "signed_at", 88.0)

    def continuation_top_mm(self) -> float:
        return self.g.page_h_mm - MARGIN_MM - 4.5 - 6.0 - 2 * LINE_MM - STATEMENT_LINE_MM

    def continuation_capacity(self) -> int:
        return 2 * self.statements_per_column(self.continuation_top_mm(), GRID_BOTTOM_MM)

    def continuation_page(self, lines: Sequence[_Line], number: int, n_pages: int) -> None:
        """Statements that did not fit on page 1, two columns, same patient line as page 2."""
        self.compact_header()
        top = self.continuation_top_mm()
        self.text(self.g.grid_left_mm, top + STATEMENT_LINE_MM, "诊断（续） Statements (continued)",
                  SMALL_PT, MUTED_RGB)
        self.statement_columns(lines, top, self.statements_per_column(top, GRID_BOTTOM_MM))
        self.footer(number, n_pages, settings=False)

    def footer(self, number: int, n_pages: int, settings: bool = True) -> None:
        g = self.g
        y = GRID_BOTTOM_MM - 4.5
        left, right = g.grid_left_mm, g.grid_left_mm + GRID_W_MM
        if settings:
            filters = self.filters or "原始信号 as recorded"
            self.text(left, y, f"走纸速度 {g.speed_mm_s:g} mm/s    增益 {g.gain_mm_mv:g} mm/mV    "
                               f"滤波 Filters: {filters}    采样率 {self.fs_hz:g} Hz    "
                               f"定标 1 mV / {CAL_PULSE_S * 1000:.0f} ms", SMALL_PT)
        self.text(right, y, f"请按实际大小 (100 %) 打印  Print at actual size (100 %)    第 {number}/{n_pages} 页",
                  SMALL_PT, MUTED_RGB, align="right")

    # the ECG ------------------------------------------------------------------------------

    def grid(self) -> None:
        """1 mm minor and 5 mm major lines over the whole grid rectangle, each set one path."""
        g = self.g
        c = self.canvas
        x0, y0 = g.grid_left_mm, GRID_BOTTOM_MM
        n_x, n_y = round(GRID_W_MM), round(GRID_H_MM)
        for major, rgb, width in ((False, GRID_MINOR_RGB, GRID_MINOR_WIDTH_PT),
                                  (True, GRID_MAJOR_RGB, GRID_MAJOR_WIDTH_PT)):
            path = c.beginPath()
            for i in range(n_x + 1):
                if (i % 5 == 0) == major:
                    path.moveTo((x0 + i) * MM, y0 * MM)
                    path.lineTo((x0 + i) * MM, (y0 + GRID_H_MM) * MM)
            for j in range(n_y + 1):
                if (j % 5 == 0) == major:
                    path.moveTo(x0 * MM, (y0 + j) * MM)
                    path.lineTo((x0 + GRID_W_MM) * MM, (y0 + j) * MM)
            c.setStrokeColorRGB(*rgb)
            c.setLineWidth(width)
            c.drawPath(path, stroke=1, fill=0)

    def traces(self, layout: _Page, beats: Sequence[int]) -> None:
        g = self.g
        c = self.canvas
        c.saveState()
        clip = c.beginPath()
        clip.rect(g.grid_left_mm * MM, GRID_BOTTOM_MM * MM, GRID_W_MM * MM, GRID_H_MM * MM)
        c.clipPath(clip, stroke=0, fill=0)
        c.setLineJoin(1)
        c.setLineCap(1)
        rows = sorted({s.row for s in layout.strips})
        for row in rows:
            self.calibration_pulse(g.baseline_mm(row))
        for strip in layout.strips:
            self.trace(strip)
            if strip.x_mm > g.trace_left_mm:  # lead change marker between cells
                base = g.baseline_mm(strip.row)
                c.setStrokeColorRGB(0, 0, 0)
                c.setLineWidth(0.8)
                c.line(strip.x_mm * MM, (base - 2.5) * MM, strip.x_mm * MM, (base + 2.5) * MM)
            if strip.rhythm or len(layout.strips) <= ROWS_PER_PAGE:
                self.beat_marks(strip, beats)
        c.restoreState()
        for strip in layout.strips:  # labels over the traces, outside the clip
            top = g.grid_top_mm - strip.row * ROW_H_MM
            label = strip.label + ("  节律 rhythm" if strip.rhythm else "")
            self.text(strip.x_mm + 1.0, top - 4.2, label, LEAD_LABEL_PT, bold=True, halo=True)

    def calibration_pulse(self, base_mm: float) -> None:
        g = self.g
        c = self.canvas
        width = CAL_PULSE_S * g.speed_mm_s
        height = CAL_PULSE_MV * g.gain_mm_mv
        start = g.grid_left_mm + (g.cal_zone_mm - width) / 2
        path = c.beginPath()
        path.moveTo((g.grid_left_mm + 1.0) * MM, base_mm * MM)
        path.lineTo(start * MM, base_mm * MM)
        path.lineTo(start * MM, (base_mm + height) * MM)
        path.lineTo((start + width) * MM, (base_mm + height) * MM)
        path.lineTo((start + width) * MM, base_mm * MM)
        path.lineTo((g.trace_left_mm - 1.0) * MM, base_mm * MM)
        c.setStrokeColorRGB(0, 0, 0)
        c.setLineWidth(TRACE_WIDTH_PT)
        c.drawPath(path, stroke=1, fill=0)

    def trace(self, strip: _Strip) -> None:
        """The samples of ``[t0, t0 + duration)`` as one vector path; NaN breaks the line.

        Sample ``i`` sits at ``x + (i / fs - t0) × speed`` and ``baseline + value × gain``; in
        the 3 × 4 layout ``x = trace_left + t0 × speed``, so the columns are simultaneous.
        """
        g = self.g
        first = math.ceil(strip.t0_s * self.fs_hz - 1e-9)
        last = min(self.signal.shape[0], math.ceil((strip.t0_s + strip.duration_s) * self.fs_hz - 1e-9))
        if last <= first:
            return
        index = np.arange(first, last)
        x_pt = (strip.x_mm + (index / self.fs_hz - strip.t0_s) * g.speed_mm_s) * MM
        y_pt = (g.baseline_mm(strip.row) + self.signal[first:last, strip.column] * g.gain_mm_mv) * MM
        c = self.canvas
        path = c.beginPath()
        pen_down = False
        for x, y in zip(x_pt.tolist(), y_pt.tolist()):
            if not math.isfinite(y):
                pen_down = False
            elif pen_down:
                path.lineTo(x, y)
            else:
                path.moveTo(x, y)
                pen_down = True
        c.setStrokeColorRGB(0, 0, 0)
        c.setLineWidth(TRACE_WIDTH_PT)
        c.drawPath(path, stroke=1, fill=0)

    def beat_marks(self, strip: _Strip, beats: Sequence[int]) -> None:
        g = self.g
        c = self.canvas
        first = strip.t0_s * self.fs_hz
        last = min(self.signal.shape[0], (strip.t0_s + strip.duration_s) * self.fs_hz)
        top = g.grid_top_mm - strip.row * ROW_H_MM
        path = c.beginPath()
        for beat in beats:
            if first <= beat < last:
                x = (strip.x_mm + (beat / self.fs_hz - strip.t0_s) * g.speed_mm_s) * MM
                path.moveTo(x, (top - 0.5) * MM)
                path.lineTo(x, (top - 2.0) * MM)
        c.setStrokeColorRGB(*BEAT_RGB)
        c.setLineWidth(0.8)
        c.drawPath(path, stroke=1, fill=0)
