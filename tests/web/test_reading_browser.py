"""Reading and reporting end to end in a real headless Chromium (issue 5, "What it must show").

A real ``teleconsult serve`` (tests/conftest.py), three browser contexts: a village doctor
uploads a 12-lead PTB-XL ECG (WFDB .hea + .dat) as urgent; a county reader claims it from
the worklist, measures with calipers (a known drag distance at a known calibration),
relabels a beat, picks statements, signs; a second reader of the county cannot claim it (the
page says who is reading it); the doctor's page shows the pushed report within 1 s of the
signature, sends the delivery receipt and acknowledges it; the TAT page shows the times.
Then the patient's previous ECG side by side (two PTB-XL ECGs of one patient, uploaded with
the same patient id), and an admin releasing and reassigning a study.
Screenshots go to /tmp/reading-*.png.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SHARED, ServerProcess, World, need

PTBXL_RECORD = SHARED / "data" / "ptbxl" / "records500" / "00000" / "00001_hr"
PX_PER_MM = 4  # set as the page's calibration: 100 CSS px = 25 mm
SHOTS = Path("/tmp")
# Dark (trace) pixels of the study canvas: the ECG is drawn, not only the grid and the marks.
INK_JS = """
(c) => {
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let k = 0; k < px.length; k += 4) if (px[k] < 90 && px[k + 1] < 90 && px[k + 2] < 90) ink++;
  return ink;
}
"""


@pytest.fixture
def ptbxl_files() -> list[str]:
    need(PTBXL_RECORD.with_suffix(".hea").exists(), f"PTB-XL record not found: {PTBXL_RECORD}")
    return [str(PTBXL_RECORD.with_suffix(".hea")), str(PTBXL_RECORD.with_suffix(".dat"))]


@pytest.fixture
def open_page(browser: Any, server: ServerProcess) -> Iterator[Callable[..., Any]]:
    """Fresh browser contexts on the server's page, calibrated at PX_PER_MM; page errors fail the test."""
    contexts: list[Any] = []
    problems: list[str] = []

    def make(username: str, password: str, lang: str = "zh-CN") -> Any:
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
        context.add_init_script(
            f"localStorage.setItem('teleconsult.pxPerMm', '{PX_PER_MM}');"
            f"localStorage.setItem('teleconsult.lang', '{lang}');")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: problems.append(f"{username}: page error: {exc}"))
        page.goto(server.url + "/")
        page.wait_for_selector("#login-view:not([hidden])")
        page.fill("#username", username)
        page.fill("#password", password)
        page.click("#login-submit")
        page.wait_for_selector("#nav:not([hidden])")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems


def drag(page: Any, selector: str, x1: float, x2: float, y: float) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + x1, box["y"] + y)
    page.mouse.down()
    page.mouse.move(box["x"] + (x1 + x2) / 2, box["y"] + y, steps=3)
    page.mouse.move(box["x"] + x2, box["y"] + y, steps=3)
    page.mouse.up()


def test_upload_read_sign_push_acknowledge_tat(open_page: Callable[..., Any], world: World,
                                               ptbxl_files: list[str]) -> None:
    world.user("reader_a2", "county_reader", world.county_a)

    # -- the village doctor uploads a 12-lead ECG, urgent, with a clinical question ---------------
    doctor = open_page("doctor_a", world.password)
    assert doctor.get_attribute("[data-nav='mine']", "hidden") is None
    assert doctor.is_hidden("[data-nav='worklist']")
    doctor.click("[data-nav='mine']")
    doctor.wait_for_selector("#mine-view:not([hidden])")
    doctor.wait_for_selector("#notify-state.live")
    doctor.set_input_files("#upload-file", ptbxl_files)
    doctor.select_option("#upload-priority", "urgent")
    doctor.fill("#upload-note", "胸痛 2 小时")
    doctor.click("#upload-submit")
    received = doctor.wait_for_selector("#upload-result .received")
    study_id = int(received.get_attribute("data-study") or "0")
    assert study_id > 0
    assert received.text_content() == f"已接收 received · 心电 #{study_id} · 紧急"
    doctor.wait_for_selector(f"#my-studies tr[data-id='{study_id}']")
    assert doctor.locator(f"#my-studies tr[data-id='{study_id}'] td").nth(4).text_content() == "已接收"
    doctor.screenshot(path=str(SHOTS / "reading-doctor-upload.png"), full_page=True)

    # -- reader A claims it from the worklist --------------------------------------------------------
    reader = open_page("reader_a", world.password)
    reader.click("[data-nav='worklist']")
    row = f"#worklist tr[data-id='{study_id}']"
    reader.wait_for_selector(row)
    cells = reader.locator(f"{row} td").all_text_contents()
    assert cells[0].startswith("紧急"), cells
    assert "胸痛 2 小时" in cells[2], cells
    assert cells[4].startswith("等待 0:") and cells[4].endswith("/ 目标 3:00"), cells
    assert cells[5] == "未认领", cells
    reader.screenshot(path=str(SHOTS / "reading-worklist.png"), full_page=True)
    reader.click(f"{row} button.claim")
    reader.wait_for_selector("#study-view:not([hidden])")
    assert reader.evaluate("location.hash") == f"#/study/{study_id}"
    reader.wait_for_selector("#study-lock.mine")
    assert reader.text_content("#study-lock") == "我正在阅读"
    # The whole 12-lead ECG on paper: 3 x 4 + rhythm strip, beats from the server marked.
    reader.wait_for_function(
        "(() => { const d = document.getElementById('study-ecg').dataset;"
        " return d.layout === '12' && d.panels === '13' && Number(d.beatsDrawn) >= 8; })()")
    assert reader.eval_on_selector("#study-ecg", INK_JS) > 4000  # 13 strips of trace
    chart = reader.eval_on_selector("#study-ecg", "c => ({...c.dataset, cssWidth: c.getBoundingClientRect().width})")
    assert chart["speed"] == "25" and chart["gain"] == "10" and chart["pxPerMm"] == str(PX_PER_MM), chart
    # 10 s at 25 mm/s = 250 mm after the 10 mm margin: the page is at true scale.
    assert chart["cssWidth"] >= (10 + 250) * PX_PER_MM, chart

    # -- a second reader of the county cannot claim it: the page says who is reading it ----------
    reader2 = open_page("reader_a2", world.password, lang="en")
    reader2.click("[data-nav='worklist']")
    row2 = reader2.wait_for_selector(row)
    reader2.wait_for_function(  # the reader's name, not a number
        f"document.querySelector(\"{row} td:nth-child(6)\").textContent === 'reader_a is reading it'")
    reader2.click(f"{row} button.claim")
    conflict = reader2.wait_for_selector(f"{row} .row-error")
    reader2.wait_for_function(
        f"document.querySelector(\"{row} .row-error\").textContent.startsWith('Another reader (reader_a)')")
    assert "is reading this ECG; it cannot be claimed" in (conflict.text_content() or "")
    assert reader2.evaluate("location.hash") == "#/worklist"
    assert row2 is not None
    reader2.screenshot(path=str(SHOTS / "reading-conflict.png"), full_page=True)

    # -- a reader of another county cannot even see it --------------------------------------------
    other = open_page("reader_b", world.password)
    assert other.evaluate(f"fetch('/api/studies/{study_id}').then(r => r.status)") == 403

    # -- calipers: a 100 px drag at 4 px/mm is 25 mm: 1000 ms at 25 mm/s, 500 ms at 50 mm/s -----------
    drag(reader, "#study-ecg", 300, 400, 60)
    readout = reader.locator("#caliper-readout")
    assert readout.get_attribute("data-ms") == "1000.0"
    assert readout.text_content() == "1000 ms · 60 次/分"
    reader.select_option("#study-speed", "50")
    drag(reader, "#study-ecg", 300, 400, 60)
    assert readout.get_attribute("data-ms") == "500.0"
    assert readout.text_content() == "500 ms · 120 次/分"
    reader.select_option("#study-speed", "25")
    drag(reader, "#study-ecg", 300, 360, 60)  # 15 mm = 600 ms; becomes the QT below
    assert readout.get_attribute("data-ms") == "600.0"

    # -- relabel a beat (select tool, click on it in the rhythm strip, V) ----------------------------
    beats = json.loads(reader.get_attribute("#study-ecg", "data-beats") or "[]")
    assert len(beats) >= 8 and all(b["label"] == "N" for b in beats), beats
    target = beats[3]
    reader.click("[data-tool='select']")
    box = reader.locator("#study-ecg").bounding_box()
    reader.mouse.click(box["x"] + target["x"] + 2, box["y"] + target["y"])
    reader.wait_for_selector("#beat-edit:not([hidden])")
    reader.click("[data-relabel='V']")
    reader.wait_for_function("document.getElementById('beat-summary').textContent.includes('V 1')")
    relabelled = json.loads(reader.get_attribute("#study-ecg", "data-beats") or "[]")
    assert [b["label"] for b in relabelled if b["sample"] == target["sample"]] == ["V"]

    # -- statements from the catalogue (Chinese and English search), a measurement, sign ----------
    reader.fill("#stmt-search", "窦性心律")
    reader.click("#stmt-results button[data-code='SR']")
    reader.fill("#stmt-search", "ST elevation")
    reader.click("#stmt-results button[data-code='STE_']")
    assert reader.locator("#stmt-selected li").evaluate_all("els => els.map(e => e.dataset.code)") == ["SR", "STE_"]
    assert reader.get_attribute("#stmt-selected li[data-code='STE_']", "class") == "chip critical"
    hr_prefill = reader.input_value("#m-heart_rate_bpm")
    assert hr_prefill and 40 <= float(hr_prefill) <= 150, hr_prefill  # from the study's beats
    reader.click("#cal-to-qt")
    assert reader.input_value("#m-qt_ms") == "600"
    reader.fill("#m-qt_ms", "400")
    reader.fill("#free-text", "胸前导联 ST 段抬高，请立即转诊。")
    reader.click("#save-draft")
    reader.wait_for_function("document.getElementById('report-msg').textContent.startsWith('草稿已保存')")
    reader.wait_for_function("document.getElementById('report-status').textContent.startsWith('草稿，保存于')")
    reader.screenshot(path=str(SHOTS / "reading-viewer.png"), full_page=True)
    reader.click("#sign")
    reader.wait_for_function("document.getElementById('report-msg').textContent.startsWith('报告已签发')")
    signed_at_s = float(reader.get_attribute("#report-msg", "data-signed-at") or "0")
    assert signed_at_s > 0

    # -- the doctor's page has the report within 1 s of the signature --------------------------------
    card_sel = f".report-card[data-study='{study_id}']"
    card = doctor.wait_for_selector(f"{card_sel}[data-shown-at]", timeout=5_000)
    shown_at_ms = float(card.get_attribute("data-shown-at") or "0")
    delay_s = shown_at_ms / 1000 - signed_at_s
    print(f"report on the village doctor's screen {delay_s * 1000:.0f} ms after the signature")
    assert delay_s < 1.0, delay_s
    doctor.wait_for_function(f"document.querySelector(\"{card_sel} .delivery\").textContent === '已送达'")
    assert "critical" in (card.get_attribute("class") or "")
    assert doctor.text_content(f"{card_sel} .critical-banner").startswith("危急值：ST段抬高 ST elevation")
    statements = doctor.locator(f"{card_sel} .statements li").all_text_contents()
    assert statements == ["窦性心律 sinus rhythm", "ST段抬高 ST elevation"], statements
    assert doctor.get_attribute(f"{card_sel} li[data-code='STE_']", "class") == "critical"
    assert doctor.text_content(f"{card_sel} dd[data-key='qt_ms']") == "400 ms"
    assert "reader_a" in (doctor.text_content(f"{card_sel} .report-meta") or "")
    assert doctor.get_attribute(f"{card_sel} a.pdf", "href") == f"/api/studies/{study_id}/report.pdf?version=1"
    assert doctor.is_visible("#reports-alert")
    doctor.screenshot(path=str(SHOTS / "reading-doctor-report.png"), full_page=True)
    doctor.click(f"{card_sel} button.ack")
    doctor.wait_for_function(f"document.querySelector(\"{card_sel} .delivery\").textContent === '已确认'")
    assert doctor.is_hidden("#reports-alert")
    doctor.wait_for_function(
        f"document.querySelector(\"#my-studies tr[data-id='{study_id}'] td:nth-child(5)\").textContent === '已确认'")

    # -- the signed report cannot be edited, only amended (with a reason); the doctor gets version 2 --
    reader.wait_for_selector("#amend-box:not([hidden])")
    assert reader.is_hidden("#sign") and reader.is_hidden("#save-draft")
    reader.fill("#stmt-search", "LVH")
    reader.click("#stmt-results button[data-code='LVH']")
    reader.click("#amend")
    assert reader.text_content("#report-msg") == "请填写修订原因"
    reader.fill("#amend-reason", "补充左心室肥厚")
    reader.click("#amend")
    reader.wait_for_function("document.getElementById('report-msg').textContent.startsWith('修订已签发（第 2 版）')")
    doctor.wait_for_selector(f"{card_sel}[data-version='2']")
    assert doctor.text_content(f"{card_sel} h3") == f"修订报告 · 心电 #{study_id} · 第 2 版"
    assert "补充左心室肥厚" in (doctor.text_content(card_sel) or "")
    assert doctor.locator(f"{card_sel} .statements li").count() == 3
    doctor.click(f"{card_sel} button.ack")
    doctor.wait_for_function(f"document.querySelector(\"{card_sel} .delivery\").textContent === '已确认'")

    # -- the TAT page shows the times -------------------------------------------------------------------
    reader.click("[data-nav='tat']")
    reader.wait_for_selector("#tat-overall tbody tr")
    overall = reader.locator("#tat-overall tbody tr td")
    values = {overall.nth(k).get_attribute("data-key"): overall.nth(k).text_content() for k in range(overall.count())}
    study = reader.evaluate(f"fetch('/api/studies/{study_id}').then(r => r.json()).then(b => b.study)")
    tat_s = study["signed_at"] - study["received_at"]
    minutes, seconds = divmod(round(tat_s), 60)
    assert values["studies"] == "1" and values["signed"] == "1" and values["breaches"] == "0", values
    assert values["tat_p50_s"] == f"{minutes}:{seconds:02d}", (values, tat_s)
    assert values["delivery_p50_s"] == "0:00" or values["delivery_p50_s"] == "0:01", values
    assert reader.locator("#tat-reader tbody th").all_text_contents() == ["reader_a"]
    assert reader.locator("#tat-county tbody th").all_text_contents() == ["County A"]
    assert reader.is_visible("#tat-no-breaches")
    reader.screenshot(path=str(SHOTS / "reading-tat.png"), full_page=True)


PTBXL_SERIAL = ("00023_hr", "00026_hr")  # one PTB-XL patient (13619): atrial flutter, then sinus rhythm


def with_patient_id(tmp: Path, record: str, patient: str) -> list[str]:
    """A PTB-XL record as a cart would send it, its header carrying ``# Patient ID: …``."""
    src = SHARED / "data" / "ptbxl" / "records500" / "00000" / record
    need(src.with_suffix(".hea").exists(), f"PTB-XL record not found: {src}")
    hea, dat = tmp / f"{record}.hea", tmp / f"{record}.dat"
    hea.write_text(src.with_suffix(".hea").read_text().rstrip("\n") + f"\n# Patient ID: {patient}\n")
    dat.write_bytes(src.with_suffix(".dat").read_bytes())
    return [str(hea), str(dat)]


def doctor_uploads(doctor: Any, files: list[str], note: str) -> int:
    """Upload from the doctor's page; the id of the new study ("received" at once)."""
    before = doctor.evaluate("document.querySelector('#upload-result .received')?.dataset.study ?? ''")
    doctor.set_input_files("#upload-file", files)
    doctor.fill("#upload-note", note)
    doctor.click("#upload-submit")
    doctor.wait_for_function("(b) => (document.querySelector('#upload-result .received')?.dataset.study ?? b) !== b",
                             arg=before)
    study = int(doctor.get_attribute("#upload-result .received", "data-study") or "0")
    assert study > 0
    return study


API_JS = """
async ([method, path, body]) => {
  const r = await fetch(path, {method, credentials: "same-origin",
    headers: body ? {"Content-Type": "application/json"} : {}, body: body ? JSON.stringify(body) : undefined});
  return {status: r.status, body: await r.json()};
}
"""


def call(page: Any, method: str, path: str, body: Any = None) -> Any:
    out = page.evaluate(API_JS, [method, path, body])
    assert out["status"] < 300, out
    return out["body"]


def test_previous_ecg_of_the_patient_side_by_side(open_page: Callable[..., Any], world: World,
                                                  tmp_path: Path) -> None:
    patient = "PTBXL-13619"
    doctor = open_page("doctor_a", world.password)
    doctor.click("[data-nav='mine']")
    doctor.wait_for_selector("#mine-view:not([hidden])")
    first = doctor_uploads(doctor, with_patient_id(tmp_path, PTBXL_SERIAL[0], patient), "心悸")
    second = doctor_uploads(doctor, with_patient_id(tmp_path, PTBXL_SERIAL[1], patient), "复查")
    assert second != first

    reader = open_page("reader_a", world.password)
    # The first ECG was read and signed: atrial flutter.
    call(reader, "POST", f"/api/studies/{first}/claim")
    call(reader, "PUT", f"/api/studies/{first}/report",
         {"statements": ["AFLT"], "free_text": "", "measurements": {"heart_rate_bpm": 88, "qrs_ms": 96}})
    call(reader, "POST", f"/api/studies/{first}/report/sign")

    # The second ECG: open it, the comparison lists the first.
    reader.click("[data-nav='worklist']")
    reader.wait_for_selector(f"#worklist tr[data-id='{second}']")
    reader.click(f"#worklist tr[data-id='{second}'] button.claim")
    reader.wait_for_selector("#study-lock.mine")
    reader.wait_for_function("document.getElementById('study-ecg').dataset.panels === '13'")
    reader.wait_for_selector("#compare-bar:not([hidden])")
    assert reader.text_content("label[for='compare-select']") == "对比 Compare with previous"
    reader.wait_for_function("document.querySelectorAll('#compare-select option').length === 2")
    options = reader.locator("#compare-select option").all_text_contents()
    assert options[0] == "选择该患者的既往心电（1 份）", options
    assert options[1].startswith(f"心电 #{first} · ") and options[1].endswith("心房扑动 atrial flutter"), options
    assert reader.is_hidden("#compare-panel")
    reader.select_option("#compare-select", str(first))
    reader.wait_for_selector(f"#compare-panel[data-study='{first}']:not([hidden])")
    # The previous ECG at the same true scale and layout, drawn (trace ink), with its beats.
    reader.wait_for_function(
        "(() => { const d = document.getElementById('compare-ecg').dataset;"
        " return d.layout === '12' && d.panels === '13' && Number(d.beatsDrawn) >= 5; })()")
    assert reader.eval_on_selector("#compare-ecg", INK_JS) > 4000

    def scale(sel: str) -> dict[str, Any]:
        return reader.eval_on_selector(sel, "c => ({speed: c.dataset.speed, gain: c.dataset.gain,"
                                            " px: c.dataset.pxPerMm, layout: c.dataset.layout,"
                                            " w: c.getBoundingClientRect().width})")

    assert scale("#compare-ecg") == scale("#study-ecg")
    assert scale("#study-ecg")["speed"] == "25" and scale("#study-ecg")["px"] == str(PX_PER_MM)
    # Both reports next to each other: statements and key measurements.
    heads = reader.locator("#compare-table thead th").all_text_contents()
    assert heads[1] == f"本次心电 #{second}" and heads[2].startswith(f"既往心电 #{first}（"), heads
    prev_stmts = reader.locator("#compare-table tr[data-key='statements'] td").nth(1)
    assert prev_stmts.locator("li").all_text_contents() == ["心房扑动 atrial flutter"]
    hr = reader.locator("#compare-table tr[data-key='heart_rate_bpm'] td").all_text_contents()
    assert hr[1] == "88 次/分" and hr[0].endswith("次/分") and hr[0] != "—", hr
    assert reader.locator("#compare-table tr[data-key='report'] td").nth(1).text_content().startswith(
        "第 1 版，reader_a 签发于")
    # The current report as it is written shows beside the previous one.
    reader.fill("#stmt-search", "窦性心律")
    reader.click("#stmt-results button[data-code='SR']")
    reader.wait_for_function("[...document.querySelectorAll(\"#compare-table tr[data-key='statements'] td\")][0]"
                             ".textContent.includes('窦性心律')")
    # Paper speed and gain apply to both.
    reader.select_option("#study-gain", "5")
    reader.select_option("#study-speed", "50")
    reader.wait_for_function("document.getElementById('compare-ecg').dataset.speed === '50'")
    assert scale("#compare-ecg") == scale("#study-ecg")
    assert scale("#compare-ecg")["gain"] == "5"
    reader.select_option("#study-speed", "25")
    reader.select_option("#study-gain", "10")
    reader.wait_for_function("document.getElementById('compare-ecg').dataset.speed === '25'")
    reader.locator("#compare-panel").scroll_into_view_if_needed()
    reader.screenshot(path=str(SHOTS / "reading-compare.png"), full_page=True)
    # The first study has no earlier one; another county's reader gets nothing.
    assert call(reader, "GET", f"/api/studies/{first}/previous")["studies"] == []
    other = open_page("reader_b", world.password)
    assert other.evaluate(f"fetch('/api/studies/{second}/previous').then(r => r.status)") == 403
    reader.click("#compare-close")
    reader.wait_for_selector("#compare-panel[hidden]", state="attached")


def test_admin_releases_and_assigns_a_study(open_page: Callable[..., Any], world: World,
                                            ptbxl_files: list[str]) -> None:
    world.user("reader_a2", "county_reader", world.county_a)
    world.user("admin_a", "admin", world.county_a)
    doctor = open_page("doctor_a", world.password)
    doctor.click("[data-nav='mine']")
    doctor.wait_for_selector("#mine-view:not([hidden])")
    study = doctor_uploads(doctor, ptbxl_files, "胸闷")
    reader = open_page("reader_a", world.password)
    call(reader, "POST", f"/api/studies/{study}/claim")

    admin = open_page("admin_a", world.password)
    admin.click("[data-nav='worklist']")
    row = f"#worklist tr[data-id='{study}']"
    admin.wait_for_selector(row)
    assert admin.text_content(f"{row} td:nth-child(6)") == "reader_a 正在阅读"
    assert admin.locator(f"{row} button.claim").count() == 0
    # release from the worklist
    admin.click(f"{row} button.release")
    admin.wait_for_function(f"document.querySelector(\"{row} td:nth-child(6)\").textContent === '未认领'")
    assert admin.locator(f"{row} button.release").count() == 0
    call(reader, "POST", f"/api/studies/{study}/claim")  # reader_a takes it again
    admin.wait_for_function(  # the worklist notice refreshes the admin's list
        f"document.querySelector(\"{row} td:nth-child(6)\").textContent === 'reader_a 正在阅读'")
    # release and assign in the viewer
    admin.click(f"{row} button.view")
    admin.wait_for_selector("#admin-lock:not([hidden])")
    assert admin.text_content("#study-lock") == "reader_a 正在阅读"
    assert admin.is_hidden("#study-claim") and admin.is_hidden("#study-release")
    admin.click("#admin-release")
    admin.wait_for_function("document.getElementById('study-lock').textContent === '未认领'")
    assert admin.text_content("#admin-msg") == "已解除锁定"
    assert admin.is_hidden("#admin-release")
    admin.wait_for_function("document.querySelectorAll('#assign-reader option').length === 3")
    assert admin.locator("#assign-reader option").all_text_contents() == ["选择阅读医师", "reader_a", "reader_a2"]
    assert admin.is_disabled("#assign-submit")
    admin.select_option("#assign-reader", label="reader_a2")
    admin.click("#assign-submit")
    admin.wait_for_function("document.getElementById('study-lock').textContent === 'reader_a2 正在阅读'")
    assert admin.text_content("#admin-msg") == "已指派给 reader_a2"
    admin.screenshot(path=str(SHOTS / "reading-admin-assign.png"), full_page=True)
    # reader_a lost it; reader_a2 holds it and continues from the worklist.
    assert reader.evaluate(f"fetch('/api/studies/{study}/claim', {{method: 'POST'}}).then(r => r.status)") == 409
    reader2 = open_page("reader_a2", world.password)
    reader2.click("[data-nav='worklist']")
    reader2.wait_for_selector(f"{row} button.claim")
    assert reader2.text_content(f"{row} button.claim") == "继续阅读"
    reader2.click(f"{row} button.claim")
    reader2.wait_for_selector("#study-lock.mine")


@pytest.fixture
def device(world: World, server: ServerProcess, mitdb: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []

    def start(recording: str, *extra: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "device",
             "--url", f"{server.ws_url}/ws/device", "--token", world.device_a,
             "--record", str(mitdb / "208"), "--recording", recording, *extra],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def test_doctor_submits_live_stream_stat(open_page: Callable[..., Any], world: World,
                                         device: Callable[..., subprocess.Popen[str]]) -> None:
    """A live recording sent for reading as STAT while it streams; the reader sees it grow."""
    recording = "web-stat-208"
    device(recording, "--seconds", "120")
    doctor = open_page("doctor_a", world.password, lang="en")
    doctor.click("[data-nav='mine']")
    row = f"#send-table tr[data-id='{recording}']"
    doctor.wait_for_selector(row, timeout=30_000)
    assert doctor.locator(f"{row} td").nth(1).text_content() == "live"
    doctor.select_option(f"{row} select", "stat")
    doctor.fill(f"{row} input", "palpitations")
    doctor.click(f"{row} button.send")
    received = doctor.wait_for_selector(f"{row} .received")
    assert (received.text_content() or "").startswith("Received 已接收 · ECG #")
    study_id = int(received.get_attribute("data-study") or "0")

    reader = open_page("reader_a", world.password)
    reader.click("[data-nav='worklist']")
    wl_row = f"#worklist tr[data-id='{study_id}']"
    reader.wait_for_selector(wl_row)
    assert reader.locator(f"{wl_row} td").first.text_content().startswith("STAT 危急")
    reader.click(f"{wl_row} button.view")
    reader.wait_for_selector("#study-view:not([hidden])")
    # MIT-BIH has 2 leads: lead by lead; read-only until claimed.
    reader.wait_for_function(
        "(() => { const d = document.getElementById('study-ecg').dataset;"
        " return d.layout === 'rows' && d.panels === '2' && Number(d.beatsDrawn) >= 3; })()")
    reader.wait_for_selector("#study-claim:not([hidden])")
    reader.wait_for_function(f"({INK_JS})(document.getElementById('study-ecg')) > 1000")  # 2 strips of trace
    assert reader.is_disabled("[data-tool='add']")
    first = reader.evaluate("document.getElementById('study-time').textContent")
    time.sleep(2.5)  # the live study grows (the signal view refreshes every 0.5 s)
    later = reader.evaluate("document.getElementById('study-time').textContent")
    assert first != later, (first, later)
    reader.click("#study-claim")
    reader.wait_for_selector("#study-lock.mine")
    assert reader.is_enabled("[data-tool='add']")
    # English one click away: the viewer's texts follow.
    reader.click("[data-lang='en']")
    assert reader.text_content("#study-lock") == "I am reading it"
    assert reader.text_content("[data-tool='caliper']") == "Calipers"
    assert reader.locator("#study-speed option").all_text_contents() == ["25 mm/s", "50 mm/s"]
    assert reader.locator("#study-gain option").all_text_contents() == ["5 mm/mV", "10 mm/mV", "20 mm/mV"]
    reader.screenshot(path=str(SHOTS / "reading-live-stat.png"), full_page=True)
