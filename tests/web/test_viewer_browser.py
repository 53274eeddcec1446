"""web_client/viewer.js in Chromium, fed frames directly: notices, heart rate, lead sets.

The page is index.html without app.js, served as static files; the viewer's socket has
no server to reach (it retries in the background), so every frame comes from the test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

WEB = Path(__file__).resolve().parents[2] / "web_client"

META = {
    "t": "meta", "recording": "rec-test-0001", "fs_hz": 500.0, "display_fs_hz": 250.0, "decimation": 2,
    "leads": ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"],
    "gain": 1000.0, "sample_type": "int16", "status": "live",
}


@pytest.fixture
def page(browser: Any, static_url: str) -> Any:
    context = browser.new_context(viewport={"width": 1200, "height": 800})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.goto(static_url + "/frames.js")
    body = (WEB / "index.html").read_text(encoding="utf-8")
    body = re.sub(r"<script[^>]*></script>", "", body).replace("/static/", "/")
    pg.set_content(body)
    pg.evaluate(
        """async () => {
          const i18n = await import("/i18n.js");
          const { LiveViewer } = await import("/viewer.js");
          i18n.applyI18n(document);
          window.i18n = i18n;
          window.viewer = new LiveViewer({ onUnauthorized: () => { window.unauthorized = true; } });
          document.getElementById("viewer-view").hidden = false;
          viewer.open("rec-test-0001");
          window.feed = (frame) => viewer.onFrame(viewer.v, frame);
        }"""
    )
    yield pg
    pg.evaluate("viewer.close()")
    context.close()
    assert not errors, errors


def text(page: Any, selector: str) -> str:
    return str(page.text_content(selector) or "")


def test_notices_follow_frames_and_language(page: Any) -> None:
    page.evaluate(f"feed({json.dumps(META)})")
    assert text(page, "#viewer-sub") == "12 导联 · 500 Hz → 250 Hz · 实时"
    assert page.is_hidden("#gap-notice") and page.is_hidden("#end-notice")

    page.evaluate("feed({t: 'gap', dropped: 3, from_seq: 10, to_seq: 12})")
    page.evaluate("feed({t: 'gap', dropped: 2, from_seq: 20, to_seq: 21})")
    assert page.is_visible("#gap-notice")
    assert text(page, "#gap-notice") == "显示丢帧 5"

    page.evaluate("i18n.setLang('en'); viewer.render()")
    assert text(page, "#gap-notice") == "5 display frames dropped"

    page.evaluate("feed({t: 'end', n_samples: 5000})")
    assert text(page, "#end-notice") == "Recording ended (5000 samples)"
    page.evaluate("i18n.setLang('zh-CN'); viewer.render()")
    assert text(page, "#end-notice") == "记录已结束（共 5000 个采样点）"


def test_heart_rate_from_server_or_recent_beats(page: Any) -> None:
    page.evaluate(f"feed({json.dumps(META)})")
    assert text(page, "#hr") == "--"
    # Archive catch-up: beats without hr_bpm, 0.8 s apart at 500 Hz -> 75 bpm.
    page.evaluate("""
      const n = 2500, d = new Uint8Array(n * 12 * 4);
      feed({t: 'samples', seq: 0, i0: 0, n, d});
      feed({t: 'beats', i: [400, 800, 1200, 1600, 2000, 2400, 2800, 3200, 3600, 4000, 4400], hr_bpm: null});
    """)
    assert text(page, "#hr") == "75"
    page.evaluate("feed({t: 'beats', i: [4800], hr_bpm: 71.6})")
    assert text(page, "#hr") == "72"
    # Nil again and the newest beat is 10 s old: no number rather than a stale one.
    page.evaluate("""
      const n = 2500, d = new Uint8Array(n * 12 * 4);
      feed({t: 'samples', seq: 1, i0: 5000, n, d});
      feed({t: 'beats', i: [], hr_bpm: null});
    """)
    assert text(page, "#hr") == "--"


def test_lead_sets_for_twelve_leads(page: Any) -> None:
    page.evaluate(f"feed({json.dumps(META)})")
    options = page.eval_on_selector_all("#lead-set option", "os => os.map(o => [o.value, o.dataset.leads])")
    assert options[:3] == [["all", ",".join(map(str, range(12)))], ["leads_limb", "0,1,2,3,4,5"],
                           ["leads_chest", "6,7,8,9,10,11"]]
    assert [o[0] for o in options[3:]] == [f"lead:{name}" for name in META["leads"]]  # type: ignore[union-attr]
    page.select_option("#lead-set", "leads_chest")
    assert page.evaluate("viewer.chart.visible") == [6, 7, 8, 9, 10, 11]
    assert page.evaluate("document.getElementById('lead-set').selectedOptions[0].textContent") == "胸导联 V1–V6"
