"""The HTML report in headless Chromium: every plot renders, and nothing is fetched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.loadtest.conftest import LoadRun

SCREENSHOT = Path("/tmp/loadtest-report.png")


def test_the_report_renders_its_plots_offline(browser: Any, two_worker_run: LoadRun) -> None:
    assert two_worker_run.html_path.exists(), two_worker_run.stderr
    context = browser.new_context(viewport={"width": 1100, "height": 900}, offline=True)
    page = context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(two_worker_run.html_path.as_uri(), wait_until="load")
        figures = page.query_selector_all("figure[data-plot]")
        names = [f.get_attribute("data-plot") for f in figures]
        assert names == ["latency", "throughput", "percentiles", "loss", "resources"]
        for figure in figures:
            svg = figure.query_selector("svg")
            assert svg is not None
            box = svg.bounding_box()
            name = figure.get_attribute("data-plot")
            assert box is not None and box["width"] > 300 and box["height"] > 150, (name, box)
            # drawn content, not an empty frame: lines and text laid out with a size of their own
            drawn = svg.evaluate("s => s.querySelectorAll('path').length")
            assert drawn > 20
            text_box = svg.evaluate("s => { const b = s.querySelector('text').getBBox(); return [b.width, b.height]; }")
            assert text_box[0] > 0 and text_box[1] > 0
        assert page.text_content(".verdict") == "Passed (3 thresholds)"
        assert "reader_p99_ms" in (page.text_content("table.summary") or "")
        page.screenshot(path=str(SCREENSHOT), full_page=True)
    finally:
        context.close()
    assert requests == [two_worker_run.html_path.as_uri()]
    assert errors == []
    assert SCREENSHOT.stat().st_size > 10_000
