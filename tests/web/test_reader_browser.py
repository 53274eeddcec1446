"""The reader page in a real Chromium against a real server and a real device stream.

``teleconsult serve`` runs as a subprocess (tests/conftest.py), ``teleconsult device``
streams MIT-BIH record 101 into it, and Playwright drives /usr/bin/chromium (never a
downloaded browser). Skipped locally when chromium, playwright or the MIT-BIH data are
missing; under CI=true that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ServerProcess, World

SCREENSHOT = Path(os.environ.get("TELECONSULT_READER_SCREENSHOT", "/tmp/reader.png"))

# Counts the canvas pixels by kind: the ink of the trace, the blue QRS markers, and the
# paper grid, in the sweep area (right of the calibration pulse), plus the share of
# columns holding ink.
PIXELS_JS = """
(c) => {
  const x0 = Number(c.dataset.traceX0 || 0);
  const w = c.width - x0, h = c.height;
  const px = c.getContext("2d").getImageData(x0, 0, w, h).data;
  let ink = 0, beat = 0, paper = 0, grid = 0;
  const inkCols = new Uint8Array(w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const k = 4 * (y * w + x), r = px[k], g = px[k + 1], b = px[k + 2];
      if (r < 110 && g < 110 && b < 110) { ink++; inkCols[x] = 1; }
      else if (b > 150 && r < 90 && g < 120) beat++;
      else if (r > 240 && g > 235 && b > 230) paper++;
      else if (r > 200 && g < 200 && b < 200) grid++;
    }
  }
  return { ink, beat, paper, grid, inkColumns: inkCols.reduce((a, v) => a + v, 0) / w,
           width: c.width, height: c.height, x0 };
}
"""


@pytest.fixture
def device(world: World, server: ServerProcess, mitdb: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``teleconsult device`` streaming a MIT-BIH record into ``server``."""
    started: list[subprocess.Popen[str]] = []

    def start(recording: str, *extra: str, record: str = "101") -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "device",
             "--url", f"{server.ws_url}/ws/device", "--token", world.device_a,
             "--record", str(mitdb / record), "--recording", recording, *extra],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    """A fresh browser context (no cookies, no localStorage) on the server's page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, device_scale_factor=1)
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.goto(server.url + "/")
    yield pg
    context.close()
    assert not problems, problems


def log_in(page: Any, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")


def test_reader_watches_live_ecg(page: Any, world: World,
                                 device: Callable[..., subprocess.Popen[str]]) -> None:
    world.user("reader_web", "county_reader", world.county_a)
    recording = "web-live-101"
    device(recording, "--seconds", "300")

    # Chinese by default.
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.text_content("#login-view h2") == "登录"
    assert page.text_content("label[for=username]") == "用户名"
    assert page.get_attribute("[data-lang='zh-CN']", "aria-pressed") == "true"

    # A wrong password shows an error, in the current language.
    log_in(page, "reader_web", "not the password")
    page.wait_for_selector("#login-error:not([hidden])")
    assert page.text_content("#login-error") == "用户名或密码错误"
    assert page.is_visible("#login-view")

    # English switch; the error follows; the choice survives a reload.
    page.click("[data-lang='en']")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.text_content("#login-view h2") == "Sign in"
    assert page.text_content("label[for=password]") == "Password"
    assert page.text_content("#login-error") == "Wrong username or password"
    page.reload()
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.text_content("#login-view h2") == "Sign in"
    page.click("[data-lang='zh-CN']")
    assert page.text_content("#login-view h2") == "登录"

    # Log in: the live recording is listed, first.
    log_in(page, "reader_web", world.password)
    row = f"#recordings tbody tr[data-id='{recording}']"
    page.wait_for_selector(row)
    assert page.get_attribute("#recordings tbody tr:first-child", "data-id") == recording
    cells = page.locator(f"{row} td").all_text_contents()
    assert cells[0] == recording
    assert cells[1] == "Village A1a"
    assert cells[2] == "2"
    assert cells[3] == "360 Hz"
    assert cells[4] == "实时"
    assert cells[5] == "已连接"

    # Open it: the strip fills with ECG, QRS markers and a heart rate.
    page.click(f"{row} button")
    page.wait_for_selector("#viewer-view:not([hidden])")
    page.wait_for_function(
        "(() => { const d = document.getElementById('ecg').dataset;"
        " return Number(d.beatsDrawn || 0) >= 4 && Number(d.samplesDrawn || 0) > 180 * 8; })()",
        timeout=40_000)
    page.wait_for_function(
        "(() => { const v = Number(document.getElementById('hr').textContent); return v >= 40 && v <= 180; })()",
        timeout=30_000)
    counters = page.eval_on_selector("#ecg", "c => ({...c.dataset})")
    pixels = page.eval_on_selector("#ecg", PIXELS_JS)
    hr = int(page.text_content("#hr") or "0")
    page.screenshot(path=str(SCREENSHOT))

    assert 40 <= hr <= 180, hr
    assert int(counters["beatsDrawn"]) >= 4, counters
    assert int(counters["samplesDrawn"]) > 180 * 8, counters  # > 8 s at the 180 Hz display rate
    area = (pixels["width"] - pixels["x0"]) * pixels["height"]
    assert pixels["paper"] > 0.2 * area and pixels["grid"] > 0.2 * area, pixels  # pink paper, red lines
    assert pixels["ink"] > 2000, pixels  # two traces across the strip
    assert pixels["inkColumns"] > 0.5, pixels
    assert pixels["beat"] > 50, pixels  # blue QRS markers
    assert page.text_content("#conn-state") == "实时接收中"
    assert page.is_hidden("#gap-notice")
    assert page.is_hidden("#end-notice")
    assert page.is_hidden("#error-notice")

    # The sweep keeps moving: new beats arrive and are drawn.
    before = int(counters["beatsTotal"])
    page.wait_for_function(
        f"Number(document.getElementById('ecg').dataset.beatsTotal) >= {before + 2}", timeout=15_000)

    # Switching language re-labels the viewer.
    page.click("[data-lang='en']")
    assert page.text_content("#conn-state") == "Receiving live"
    assert page.text_content(".hr-unit") == "bpm"

    # Back to the list, then log out.
    page.click("#back")
    page.wait_for_selector("#list-view:not([hidden])")
    page.click("#logout")
    page.wait_for_selector("#login-view:not([hidden])")
    assert page.evaluate("fetch('/api/me').then(r => r.status)") == 401


def test_reader_sees_end_and_unknown_recording(page: Any, world: World,
                                               device: Callable[..., subprocess.Popen[str]]) -> None:
    world.user("reader_end", "county_reader", world.county_a)
    recording = "web-ended-101"
    proc = device(recording, "--seconds", "12", "--speed", "4")
    assert proc.wait(timeout=60) == 0, proc.stdout.read() if proc.stdout else ""
    page.reload()  # the page loaded before the recording existed
    page.wait_for_selector("#login-view:not([hidden])")
    page.click("[data-lang='en']")
    log_in(page, "reader_end", world.password)
    row = f"#recordings tbody tr[data-id='{recording}']"
    page.wait_for_selector(row)
    assert page.locator(f"{row} td").nth(4).text_content() == "ended"

    page.focus(f"{row} button")  # keyboard use: the row's button opens it with Enter
    page.keyboard.press("Enter")
    page.wait_for_selector("#end-notice:not([hidden])")
    assert page.text_content("#end-notice") == f"Recording ended ({12 * 360} samples)"
    page.wait_for_function("Number(document.getElementById('ecg').dataset.samplesDrawn || 0) > 180 * 8")
    assert page.text_content("#conn-state") == "Stopped"
    hr = page.text_content("#hr")
    assert hr is not None and 40 <= int(hr) <= 180, hr  # from the archived beats

    # A recording that does not exist: the page stops retrying and says so.
    page.evaluate("location.hash = '#/recording/no-such-recording'")
    page.wait_for_selector("#error-notice:not([hidden])", timeout=20_000)
    # (the server answers the refused socket with close code 4004)
    assert page.text_content("#error-notice") == "No such recording"
