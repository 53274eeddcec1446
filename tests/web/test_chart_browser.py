"""web_client/ecg_chart.js in Chromium with synthetic signals: clinical scale and sweep.

The chart is driven frame by frame (``chart.frame(ts)``, no requestAnimationFrame) and
its canvas pixels are read back: 10 mm/mV, 25 mm/s, the calibration pulse, the QRS
markers, the erase gap, and that the incremental sweep paints what a full repaint does.
"""

from __future__ import annotations

from typing import Any

import pytest

# Shared page-side helpers: build a chart on a fresh canvas and inspect its pixels.
SETUP_JS = """
window.setupChart = async ({ pxPerMm, widthPx, leads = ["II"], fs = 250, decimation = 2, gain = 200 }) => {
  const { EcgChart } = await import("/ecg_chart.js");
  document.body.style.margin = "0";
  document.body.innerHTML = `<div id="w" style="width:${widthPx}px"><canvas id="c"></canvas></div>`;
  const canvas = document.getElementById("c");
  const chart = new EcgChart(canvas, { pxPerMm });
  chart.setMeta({ recording: "test-recording", fs_hz: fs * decimation, display_fs_hz: fs, decimation,
                  leads, gain, sample_type: "int16", status: "live" });
  window.chart = chart;
  window.ts = 0;
  return chart.geo;
};
window.run = (ms) => { for (let t = 0; t < ms; t += 100) { window.ts += 100; window.chart.frame(window.ts); } };
window.pixels = () => {
  const c = window.chart.canvas;
  return c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
};
window.isInk = (d, x, y, w) => { const k = 4 * (y * w + x); return d[k] < 110 && d[k + 1] < 110 && d[k + 2] < 110; };
window.isBeat = (d, x, y, w) => { const k = 4 * (y * w + x); return d[k + 2] > 150 && d[k] < 90 && d[k + 1] < 120; };
/** Topmost ink pixel in column x, or -1. */
window.topInk = (d, x, w, h) => { for (let y = 0; y < h; y++) if (window.isInk(d, x, y, w)) return y; return -1; };
/** Centres of runs of columns that hold marker pixels in rows y0..y1. */
window.markerCentres = (d, w, y0, y1) => {
  const cols = [];
  for (let x = 0; x < w; x++) {
    let on = false;
    for (let y = y0; y < y1 && !on; y++) on = window.isBeat(d, x, y, w);
    cols.push(on);
  }
  const out = [];
  for (let x = 0; x < w; x++) {
    if (cols[x] && !cols[x - 1]) { let e = x; while (cols[e + 1]) e++; out.push((x + e) / 2); }
  }
  return out;
};
"""


@pytest.fixture
def page(browser: Any, static_url: str, request: pytest.FixtureRequest) -> Any:
    dpr = getattr(request, "param", 1)
    context = browser.new_context(viewport={"width": 1200, "height": 700}, device_scale_factor=dpr)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(static_url + "/frames.js")  # any same-origin page, so /ecg_chart.js can be imported
    pg.set_content("<!doctype html><html><body></body></html>")
    pg.evaluate(SETUP_JS)
    yield pg
    context.close()
    assert not errors, errors


def pulse_train(seconds: int, fs: int, dc: int = 1024, amp: int = 200, width: int = 10) -> str:
    """JS expression: int32 samples, DC offset plus a 1 mV (amp/gain) pulse at every whole second."""
    return (f"Int32Array.from({{length: {seconds * fs}}}, (_, k) => "
            f"{dc} + (k >= {fs} && k % {fs} < {width} ? {amp} : 0))")


@pytest.mark.parametrize("page", [1, 2], indirect=True, ids=["dpr1", "dpr2"])
def test_clinical_scale(page: Any) -> None:
    """1 mV is 10 mm tall, 1 s is 25 mm wide, at px-per-mm × devicePixelRatio."""
    px_per_mm = 4.0
    result = page.evaluate(
        f"""async () => {{
          const geo = await setupChart({{ pxPerMm: {px_per_mm}, widthPx: 1100 }});
          const fs = 250;
          chart.pushSamples(0, 6 * fs, {pulse_train(6, 250)});
          chart.pushBeats([1, 2, 3, 4, 5].map((s) => s * fs * 2));  // source indices
          run(8000);
          const d = pixels(), w = chart.canvas.width, h = chart.canvas.height;
          const colOf = (i) => Math.round(chart.colX(i));
          return {{
            geo, dpr: window.devicePixelRatio, ds: {{ ...chart.canvas.dataset }},
            pulseTop: topInk(d, colOf(2 * fs + 5), w, h),
            flatTop: topInk(d, colOf(2 * fs + 125), w, h),
            calTop: topInk(d, Math.round(geo.mm * 5.5), w, h),
            markers: markerCentres(d, w, Math.floor(geo.rowTop[0]), Math.ceil(geo.rowTop[0] + 2.5 * geo.mm)),
            expectedMarkers: [1, 2, 3, 4, 5].map((s) => chart.colX(s * fs)),
          }};
        }}"""
    )
    dpr = result["dpr"]
    mm = px_per_mm * dpr
    geo = result["geo"]
    assert geo["mm"] == pytest.approx(mm)
    base_y = geo["baseY"][0]
    # The baseline filter removed the 1024-unit DC offset from the first sample on.
    assert abs(result["flatTop"] - base_y) <= 1.5 * dpr, result
    # A 1 mV pulse rises 10 mm; so does the calibration pulse.
    assert result["pulseTop"] == pytest.approx(base_y - 10 * mm, abs=1.5 * dpr), result
    assert result["calTop"] == pytest.approx(base_y - 10 * mm, abs=1.5 * dpr), result
    # QRS markers sit at the beats' times, 25 mm (one second) apart.
    markers = result["markers"]
    assert len(markers) == 5, result
    for got, want in zip(markers, result["expectedMarkers"], strict=True):
        assert got == pytest.approx(want, abs=1.0 * dpr)
    gaps = [b - a for a, b in zip(markers, markers[1:])]
    assert all(g == pytest.approx(25 * mm, abs=1.0 * dpr) for g in gaps), gaps
    assert result["ds"]["beatsDrawn"] == "5"


def test_sweep_wraps_with_erase_gap(page: Any) -> None:
    """Past the canvas width the newest samples overwrite the oldest, 0.2 s ahead erased."""
    result = page.evaluate(
        f"""async () => {{
          const geo = await setupChart({{ pxPerMm: 4, widthPx: 800 }});
          const fs = 250;
          chart.pushSamples(0, 30 * fs, {pulse_train(30, 250, 0, 200, 10)});
          run(40000);
          const d = pixels(), w = chart.canvas.width, h = chart.canvas.height;
          const head = Math.floor(chart.penHead);
          const inkAt = (i) => {{ const x = Math.round(chart.colX(i)); return topInk(d, x, w, h) >= 0; }};
          const erased = [];
          for (let i = head + 1; i < head + Math.floor(0.2 * fs) - 1; i++) erased.push(inkAt(i));
          const behind = [];
          for (let i = head - 2 * fs; i < head - 1; i++) behind.push(inkAt(i));
          return {{ geo, head, received: chart.received, ds: {{ ...chart.canvas.dataset }},
                    erasedInk: erased.filter(Boolean).length, behindInk: behind.filter(Boolean).length,
                    behindN: behind.length }};
        }}"""
    )
    geo = result["geo"]
    assert result["head"] == result["received"] == 30 * 250
    drawn = int(result["ds"]["samplesDrawn"])
    assert drawn < geo["sweepN"] < 30 * 250, result
    assert drawn >= geo["sweepN"] - int(0.2 * 250) - 1, result
    assert result["erasedInk"] == 0, result
    assert result["behindInk"] == result["behindN"], result


def test_incremental_sweep_equals_full_repaint(page: Any) -> None:
    """Live frames painted strip by strip, with late beats, match one full repaint."""
    result = page.evaluate(
        f"""async () => {{
          await setupChart({{ pxPerMm: 96 / 25.4, widthPx: 900, leads: ["I", "II", "V1"] }});
          const fs = 250, n = 25 * fs;
          const mono = {pulse_train(25, 250, 50, 300, 12)};
          const all = new Int32Array(3 * n);
          for (let k = 0; k < n; k++) {{
            all[3 * k] = mono[k]; all[3 * k + 1] = -mono[k] + 7 * Math.sin(k / 9); all[3 * k + 2] = mono[k] >> 1;
          }}
          for (let i0 = 0; i0 < n; i0 += 10) {{      // 40 ms frames, beats 120 ms late
            chart.pushSamples(i0, 10, all.subarray(3 * i0, 3 * (i0 + 10)));
            const late = i0 - 30;
            if (late >= fs && late % fs < 10) chart.pushBeats([2 * (late - (late % fs))]);
            window.ts += 40; chart.frame(window.ts);
          }}
          run(2000);
          const live = pixels();
          const counters = {{ ...chart.canvas.dataset }};
          chart.dirty = true; chart.frame(window.ts += 16);
          const full = pixels();
          let differ = 0;
          for (let k = 0; k < live.length; k += 4) {{
            if (Math.abs(live[k] - full[k]) + Math.abs(live[k + 1] - full[k + 1]) + Math.abs(live[k + 2] - full[k + 2]) > 60) differ++;
          }}
          return {{ differ, total: live.length / 4, counters }};
        }}"""
    )
    assert int(result["counters"]["beatsDrawn"]) >= 8, result
    assert result["differ"] < 0.002 * result["total"], result


def test_reconnect_overlap_and_new_stream(page: Any) -> None:
    """A backlog that repeats drawn samples changes nothing; a different stream starts afresh."""
    result = page.evaluate(
        f"""async () => {{
          await setupChart({{ pxPerMm: 4, widthPx: 800 }});
          const fs = 250, v = {pulse_train(8, 250)};
          chart.pushSamples(0, 6 * fs, v.subarray(0, 6 * fs));
          run(8000);
          const before = chart.lastIndex;
          // Rejoin: same meta again, then a 10 s backlog overlapping what we have.
          chart.setMeta({{ recording: "test-recording", fs_hz: 500, display_fs_hz: 250, decimation: 2,
                           leads: ["II"], gain: 200, sample_type: "int16", status: "live" }});
          const kept = chart.lastIndex;
          chart.pushSamples(0, 8 * fs, v);
          run(3000);
          const after = chart.lastIndex;
          chart.setMeta({{ recording: "other-recording", fs_hz: 360, display_fs_hz: 180, decimation: 2,
                           leads: ["MLII", "V1"], gain: 200, sample_type: "int16", status: "live" }});
          return {{ before, kept, after, reset: chart.lastIndex, visible: chart.visible }};
        }}"""
    )
    assert result == {"before": 1499, "kept": 1499, "after": 1999, "reset": -1, "visible": [0, 1]}
