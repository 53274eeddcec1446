"""The reading pages' pure helpers under Node: calipers, layouts at true scale, statement search,
QTc, display filters. (The pages themselves run in Chromium: test_reading_browser.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

WEB = Path(__file__).resolve().parents[2] / "web_client"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

SCRIPT = """
import { caliperInterval, layoutsFor, StudyChart, panelLevel } from "%(web)s/study_chart.js";
import { searchStatements, qtc } from "%(web)s/report_form.js";
import { filterSignal } from "%(web)s/display_filters.js";
import { formatSeconds } from "%(web)s/reading_format.js";

const out = {};
out.cal25 = caliperInterval(100, 4, 25);
out.cal50 = caliperInterval(-100, 4, 50);
const ptbxl = ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"];
out.layouts12 = layoutsFor(ptbxl);
out.layouts18 = layoutsFor([...ptbxl, "V7", "V8", "V9", "V3R", "V4R", "V5R"]);
out.layoutsMit = layoutsFor(["MLII", "V1"]);

const chart = new StudyChart({ getContext: () => ({}), dataset: {}, style: {} }, { pxPerMm: 4 });
chart.containerWidth = 1200;
chart.setSignal({ fsHz: 500, leads: ptbxl, mv: ptbxl.map(() => new Float32Array(5000)) });
let geo = chart.computePanels();
chart.panels = geo.panels;
out.mode = chart.mode;
out.panels12 = geo.panels.map((p) => [ptbxl[p.lead], p.xMm, p.s0, p.s1, p.strip]);
out.hit = chart.hit((10 + 62.5 + 25) * 4, (geo.panels[1].baseMm) * 4);  // 1 s into column 2 (aVR)
out.hit = { lead: out.hit.lead, sample: out.hit.sample };
chart.setSpeed(50);
geo = chart.computePanels();
out.width50 = geo.widthMm;
chart.setLayout("lead:1");
chart.containerWidth = 400;
chart.setSpeed(25);
geo = chart.computePanels();
out.zoomRows = geo.panels.map((p) => [p.lead, p.s0]);
out.level = panelLevel(Float32Array.from([5, 1, 9, 3, 7]), 0, 5);

const catalogue = new Map([
  ["SR", { code: "SR", zh: "窦性心律", en: "sinus rhythm", description: "sinus rhythm", common: true, critical: false }],
  ["SBRAD", { code: "SBRAD", zh: "窦性心动过缓", en: "sinus bradycardia", description: "", common: true, critical: false }],
  ["AFIB", { code: "AFIB", zh: "心房颤动", en: "atrial fibrillation", description: "", common: true, critical: false }],
  ["AFRVR", { code: "AFRVR", zh: "心房颤动伴快速心室率", en: "atrial fibrillation with rapid ventricular rate",
              description: "", common: true, critical: true }],
  ["NDT", { code: "NDT", zh: "", en: "non-diagnostic T abnormalities", description: "", common: false, critical: false }],
]);
const codes = (q, ex) => searchStatements(catalogue, q, new Set(ex || [])).map((s) => s.code);
out.search = {
  zh: codes("心房颤动"), en: codes("sinus"), code: codes("afib"), rare: codes("non-diag"), empty: codes(""),
  excluded: codes("sinus", ["SR"]),
};
out.qtc = qtc(400, 60);
out.qtc75 = qtc(400, 75);

const fs = 500;
const n = 5000;
const sine50 = Float32Array.from({ length: n }, (_, i) => Math.sin(2 * Math.PI * 50 * i / fs));
const rms = (x, a, b) => Math.sqrt(x.slice(a, b).reduce((s, v) => s + v * v, 0) / (b - a));
out.mainsBefore = rms(sine50, 1000, 4000);
out.mainsAfter = rms(filterSignal(sine50, fs, { mains: true }), 1000, 4000);
const offset = Float32Array.from({ length: n }, () => 2.5);
out.baselineAfter = rms(filterSignal(offset, fs, { baseline: true }), 0, n);
out.muscleDc = filterSignal(offset, fs, { muscle: true })[2500];
out.none = filterSignal(offset, fs, {}) === offset;
out.seconds = [formatSeconds(0), formatSeconds(65.4), formatSeconds(180), formatSeconds(3725), formatSeconds(null)];
process.stdout.write(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def out() -> dict[str, Any]:
    assert NODE is not None
    run = subprocess.run([NODE, "--input-type=module", "-e", SCRIPT % {"web": WEB.as_uri()}],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def test_calipers_at_true_scale(out: dict[str, Any]) -> None:
    # 100 CSS px at 4 px/mm = 25 mm: 1 s at 25 mm/s (60/min), 0.5 s at 50 mm/s (120/min).
    assert out["cal25"] == {"ms": 1000, "bpm": 60}
    assert out["cal50"] == {"ms": 500, "bpm": 120}


def test_layouts(out: dict[str, Any]) -> None:
    assert out["layouts12"][:2] == ["12", "rows"] and len(out["layouts12"]) == 2 + 12
    assert out["layouts18"][:3] == ["12", "18", "rows"]
    assert out["layoutsMit"] == ["rows", "lead:0", "lead:1"]
    assert out["mode"] == "12"


def test_twelve_lead_sheet_geometry(out: dict[str, Any]) -> None:
    panels = out["panels12"]
    assert len(panels) == 13
    # Columns of 2.5 s = 62.5 mm at 25 mm/s after the 10 mm margin; 1250 samples at 500 Hz.
    assert panels[:4] == [["I", 10, 0, 1250, False], ["AVR", 72.5, 1250, 2500, False],
                          ["V1", 135, 2500, 3750, False], ["V4", 197.5, 3750, 5000, False]]
    assert [p[0] for p in panels[4:12]] == ["II", "AVL", "V2", "V5", "III", "AVF", "V3", "V6"]
    assert panels[12] == ["II", 10, 0, 5000, True]  # the 10 s rhythm strip
    assert out["hit"] == {"lead": 3, "sample": 1250 + 500}
    assert out["width50"] == 10 + 500 + 2  # 10 s at 50 mm/s


def test_one_lead_zoom_wraps(out: dict[str, Any]) -> None:
    rows = out["zoomRows"]
    # (400 px / 4 px/mm - 12 mm) / 25 mm/s = 3.52 s a row: 10 s on 3 rows of lead 1.
    assert rows == [[1, 0], [1, 1760], [1, 3520]]
    assert out["level"] == 5


def test_statement_search(out: dict[str, Any]) -> None:
    s = out["search"]
    assert s["zh"][:2] == ["AFIB", "AFRVR"]
    assert s["en"] == ["SR", "SBRAD"]
    assert s["code"][0] == "AFIB"
    assert s["rare"] == ["NDT"]
    assert s["empty"] == ["SR", "SBRAD", "AFIB"]
    assert s["excluded"] == ["SBRAD"]


def test_qtc(out: dict[str, Any]) -> None:
    assert out["qtc"] == {"bazett": 400, "fridericia": 400}
    assert round(out["qtc75"]["bazett"]) == 447 and round(out["qtc75"]["fridericia"]) == 431


def test_display_filters(out: dict[str, Any]) -> None:
    assert out["mainsAfter"] < 0.05 * out["mainsBefore"]
    assert out["baselineAfter"] < 0.01
    assert abs(out["muscleDc"] - 2.5) < 1e-4
    assert out["none"] is True


def test_seconds(out: dict[str, Any]) -> None:
    assert out["seconds"] == ["0:00", "1:05", "3:00", "1:02:05", ""]
