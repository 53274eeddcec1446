"""Video consults in a real headless Chromium (issue 4, "What it must show": real browsers).

A real ``teleconsult serve`` (tests/conftest.py) and the distribution's Chromium with fake
camera and microphone (tests/web/conftest.py: ``--use-fake-device-for-media-stream
--use-fake-ui-for-media-stream``). A county doctor (``county_reader``) goes on duty on
/static/consult.html; a village doctor runs the pre-call check and requests a consult; the
county doctor accepts it from the queue; each page sees the other's video playing
(videoWidth > 0 and currentTime advancing); a chat line and a PNG arrive on the other side;
hanging up ends the consult for both (outcome ``completed``). Then audio-first (video added
mid-call without renegotiation), a socket drop (the village page rejoins and re-offers), the
embedded kiosk example (kiosk.html with a ``tck_`` token), the live ECG beside the video, and
the pre-call TURN check. Screenshots: /tmp/consult-*.png.
"""

from __future__ import annotations

import json
import shutil
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, ServerProcess, World, cli, free_port, need

SHOTS = "/tmp"
PAGE = "/static/consult.html"
REASON = "胸痛 2 小时, ECG streaming now"


def tiny_png(width: int = 8, height: int = 8) -> bytes:
    """A valid RGB PNG (a red/blue checkerboard)."""
    rows = b""
    for y in range(height):
        rows += b"\x00" + b"".join(b"\xff\x00\x00" if (x + y) % 2 else b"\x00\x00\xff" for x in range(width))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def open_page(browser: Any, server: ServerProcess) -> Iterator[Callable[..., Any]]:
    """A fresh browser context on a page of the server; page errors fail the test."""
    contexts: list[Any] = []
    problems: list[str] = []

    def make(path: str = PAGE, username: str = "", password: str = "", lang: str = "zh-CN", init: str = "") -> Any:
        context = browser.new_context(viewport={"width": 1200, "height": 1000}, device_scale_factor=1)
        context.add_init_script(f"localStorage.setItem('teleconsult.lang', '{lang}');{init}")
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        name = username or path
        page.on("pageerror", lambda exc: problems.append(f"{name}: page error: {exc}"))
        page.goto(server.url + path)
        if username:
            page.wait_for_selector("#login-view:not([hidden])")
            page.fill("#username", username)
            page.fill("#password", password)
            page.click("#login-submit")
            page.wait_for_selector("#login-view", state="hidden")
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems


@pytest.fixture
def device(world: World, server: ServerProcess, mitdb: Path) -> Iterator[Callable[[str], None]]:
    """``teleconsult device`` streaming MIT-BIH 101 into ``server`` as village A's cart."""
    started: list[subprocess.Popen[str]] = []

    def start(recording: str) -> None:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "teleconsult", "--log-level", "WARNING", "device",
             "--url", f"{server.ws_url}/ws/device", "--token", world.device_a,
             "--record", str(mitdb / "101"), "--recording", recording, "--seconds", "120"],
            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True))

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Dark (trace) pixels of a canvas: the ECG is drawn, not only the grid.
INK_JS = """(sel) => {
  const c = document.querySelector(sel);
  const px = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let k = 0; k < px.length; k += 4) if (px[k] < 90 && px[k + 1] < 90 && px[k + 2] < 90) ink++;
  return ink;
}"""


def go_on_duty(page: Any) -> None:
    page.wait_for_selector("#county-view:not([hidden])")
    page.check("#on-duty")
    page.wait_for_selector("#duty-status[data-state='on_duty']")


def request(page: Any, reason: str = REASON, audio_first: bool = False, recording: str = "") -> int:
    page.wait_for_selector("#village-view:not([hidden])")
    page.fill("#reason", reason)
    page.fill("#recording-id", recording)
    page.select_option("#urgency", "stat")
    if audio_first:
        page.check("#audio-first")
    page.click("#request-submit")
    page.wait_for_selector("#request-status[data-state='waiting']")
    return int(page.evaluate("window.tcConsult.consult.id"))


def accept(page: Any, consult_id: int, reason: str = REASON) -> None:
    row = f"#queue tr[data-id='{consult_id}']"
    page.wait_for_selector(f"{row} button.accept:not([disabled])")
    cells = page.locator(f"{row} td").all_text_contents()
    assert cells[0] == f"#{consult_id}" and cells[2] == reason, cells
    page.click(f"{row} button.accept")


def video_state(page: Any, selector: str) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("(s) => { const v = document.querySelector(s);"
                         " return {w: v.videoWidth, h: v.videoHeight, t: v.currentTime, paused: v.paused}; }",
                         selector)
    return state


def assert_playing(page: Any, selector: str = "#remote-video", timeout_s: float = 15.0) -> dict[str, Any]:
    """videoWidth > 0 and currentTime advancing by at least 0.5 s."""
    deadline = time.monotonic() + timeout_s
    first = video_state(page, selector)
    while time.monotonic() < deadline and first["w"] == 0:
        time.sleep(0.2)
        first = video_state(page, selector)
    assert first["w"] > 0, f"{selector}: no video: {first}"
    later = first
    while time.monotonic() < deadline and later["t"] - first["t"] < 0.5:
        time.sleep(0.2)
        later = video_state(page, selector)
    assert later["t"] - first["t"] >= 0.5, f"{selector}: currentTime not advancing: {first} -> {later}"
    assert not later["paused"]
    return later


def max_bitrate(page: Any) -> int:
    return int(page.evaluate("window.tcConsult.videoSender.getParameters().encodings[0].maxBitrate"))


def consult_record(page: Any, consult_id: int) -> dict[str, Any]:
    res = page.context.request.get(f"{page.url.split('/static/')[0]}/api/consults/{consult_id}")
    assert res.ok, res.status
    record: dict[str, Any] = json.loads(res.text())
    return record


def test_village_and_county_doctor_consult(open_page: Callable[..., Any], world: World) -> None:
    county = open_page(username="reader_a", password=world.password)
    go_on_duty(county)

    village = open_page(username="doctor_a", password=world.password)
    village.wait_for_selector("#village-view:not([hidden])")
    village.click("#precheck")
    village.wait_for_selector("#check-camera[data-state='ok']")
    village.wait_for_selector("#check-mic[data-state='ok']")
    consult_id = request(village)
    village.wait_for_selector("#check-turn[data-state='not_configured']")  # no TURN in this server's settings
    assert "值班医生 1 位" in (village.text_content("#request-status") or "")
    assert "排队第 1 位" in (village.text_content("#request-status") or "")  # its place in the county's queue
    assert village.get_attribute("#request-status", "data-position") == "1"
    village.screenshot(path=f"{SHOTS}/consult-village-waiting.png", full_page=True)

    county.wait_for_selector(f"#queue tr[data-id='{consult_id}']")
    county.screenshot(path=f"{SHOTS}/consult-county-queue.png", full_page=True)
    accept(county, consult_id)

    for page in (village, county):
        page.wait_for_selector("#call-view:not([hidden])")
        page.wait_for_selector("#call-state[data-state='in_call']")
    remote_v = assert_playing(village)
    remote_c = assert_playing(county)
    assert_playing(village, "#local-video")
    assert remote_v["w"] > 0 and remote_c["w"] > 0
    assert max_bitrate(village) == 300_000
    assert max_bitrate(county) == 300_000

    # chat both ways
    village.fill("#chat-input", "请看 V2–V4 导联")
    village.click("#chat-send")
    county.wait_for_selector("#chat-log li.theirs .text")
    assert county.text_content("#chat-log li.theirs .text") == "请看 V2–V4 导联"
    village.wait_for_selector("#chat-log li.mine .text")
    county.fill("#chat-input", "收到，ST 段抬高，马上转诊")
    county.click("#chat-send")
    village.wait_for_selector("#chat-log li.theirs .text")
    assert village.text_content("#chat-log li.theirs .text") == "收到，ST 段抬高，马上转诊"

    # a PNG from the village doctor arrives at the county doctor, shown as an image
    png = tiny_png()
    village.set_input_files("#file-input", files=[{"name": "ecg-strip.png", "mimeType": "image/png", "buffer": png}])
    village.click("#file-send")
    county.wait_for_selector("#file-list li.theirs[data-name='ecg-strip.png'] img.thumb")
    county.wait_for_function(
        "() => { const i = document.querySelector('#file-list li.theirs img.thumb'); return i && i.naturalWidth === 8; }")
    href = county.get_attribute("#file-list li.theirs a", "href") or ""
    got = county.context.request.get(county.url.split("/static/")[0] + href)
    assert got.ok and got.body() == png

    time.sleep(0.5)  # let a few more frames in for the screenshots
    village.screenshot(path=f"{SHOTS}/consult-village-call.png", full_page=True)
    county.screenshot(path=f"{SHOTS}/consult-county-call.png", full_page=True)

    # hang up: ends for both
    village.click("#hangup")
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='ended']")
        assert "已完成" in (page.text_content("#call-state") or "")
        assert video_state(page, "#remote-video")["w"] == 0
    county.screenshot(path=f"{SHOTS}/consult-county-ended.png", full_page=True)
    record = consult_record(village, consult_id)
    assert record["consult"]["state"] == "ended" and record["consult"]["outcome"] == "completed"
    events = [(tr["event"], tr["to"]) for tr in record["transitions"]]
    assert ("accept", "accepted") in events and ("connected", "in_call") in events
    assert events[-1] == ("hangup", "ended"), events
    kinds = sorted(m["kind"] for m in record["messages"])
    assert kinds == ["chat", "chat", "file"], kinds


def test_audio_first_then_video_and_rejoin(open_page: Callable[..., Any], world: World) -> None:
    county = open_page(username="reader_a", password=world.password, lang="en")
    go_on_duty(county)
    village = open_page(username="doctor_a", password=world.password, lang="en")
    consult_id = request(village, reason="dizzy, audio only please", audio_first=True)
    accept(county, consult_id, reason="dizzy, audio only please")
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='in_call']")
    # audio-first: the county doctor receives no video from the village yet, the village does get video
    assert_playing(village)
    time.sleep(1.0)
    assert video_state(county, "#remote-video")["w"] == 0
    assert village.is_visible("#add-video")
    village.screenshot(path=f"{SHOTS}/consult-village-audio-first.png", full_page=True)
    gen = village.evaluate("window.tcConsult.gen")
    village.click("#add-video")
    assert_playing(county)
    assert village.evaluate("window.tcConsult.gen") == gen  # no renegotiation: replaceTrack on the video transceiver
    assert max_bitrate(village) == 300_000

    # the village page's socket drops: it rejoins, re-offers from a fresh RTCPeerConnection, media flows again
    village.evaluate("window.tcConsult.ws.close()")
    village.wait_for_function(f"window.tcConsult.gen > {gen}")
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='in_call']")
    assert_playing(county)
    assert_playing(village)
    county.screenshot(path=f"{SHOTS}/consult-county-after-rejoin.png", full_page=True)
    county.click("#hangup")
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='ended']")
        assert "completed" in (page.text_content("#call-state") or "")
    record = consult_record(county, consult_id)
    assert record["consult"]["outcome"] == "completed"
    assert ("drop", "reconnecting") in [(tr["event"], tr["to"]) for tr in record["transitions"]] or \
        ("offer", "reconnecting") in [(tr["event"], tr["to"]) for tr in record["transitions"]]


def test_a_weak_link_starts_with_audio_and_video_follows_when_the_link_allows(open_page: Callable[..., Any],
                                                                               world: World) -> None:
    county = open_page(username="reader_a", password=world.password, lang="en")
    go_on_duty(county)
    # the village's pre-call check measures a 4G link at 120 kbps (simulated for the page)
    village = open_page(username="doctor_a", password=world.password, lang="en",
                        init="window.tcConsultTest = {link: {kbps: 120, rttMs: 350}};")
    village.click("#precheck")
    village.wait_for_selector("#check-link[data-state='weak']")
    assert village.is_checked("#audio-first")  # chosen by the check, not by the doctor
    consult_id = request(village, reason="weak link", audio_first=False)
    accept(county, consult_id, reason="weak link")
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='in_call']")
    # the real loopback connection's bandwidth estimate soon allows video: it is added by itself
    try:
        village.wait_for_function("window.tcConsult.wantVideo === true", timeout=30_000)
    except Exception:
        raise AssertionError(f"video never added; bandwidth estimate {village.evaluate('window.tcConsult.budgetKbps')} kbps")
    assert_playing(county)
    assert max_bitrate(village) == 300_000
    county.click("#hangup")


def test_kiosk_example_page(open_page: Callable[..., Any], world: World) -> None:
    token = str(cli(world.data_dir, "kiosk-token", "--org", str(world.village_a), "--name", "kiosk 1")["token"])
    county = open_page(username="reader_a", password=world.password)
    go_on_duty(county)
    kiosk = open_page(path=f"/static/kiosk.html#token={token}")
    assert kiosk.get_attribute("#consult-frame", "allow") == "camera; microphone; autoplay"
    kiosk.wait_for_function("document.body.dataset.consultEvent === 'ready'")
    frame = kiosk.frame_locator("#consult-frame")
    inner = kiosk.frame(url=lambda u: "consult.html" in u)
    assert inner is not None
    assert token not in inner.url
    kiosk.click("#kiosk-call")
    frame.locator("#request-status[data-state='waiting']").wait_for()
    consult_id = int(inner.evaluate("window.tcConsult.consult.id"))
    accept(county, consult_id, reason="自助终端呼叫 · kiosk call")
    frame.locator("#call-state[data-state='in_call']").wait_for()
    county.wait_for_selector("#call-state[data-state='in_call']")
    assert_playing(inner)
    assert_playing(county)
    # chat and a file from the county doctor reach the kiosk
    county.fill("#chat-input", "请把电极贴好")
    county.click("#chat-send")
    frame.locator("#chat-log li.theirs .text").wait_for()
    assert inner.text_content("#chat-log li.theirs .text") == "请把电极贴好"
    county.set_input_files("#file-input", files=[{"name": "advice.png", "mimeType": "image/png", "buffer": tiny_png()}])
    county.click("#file-send")
    inner.wait_for_function(
        "() => { const i = document.querySelector('#file-list li.theirs img.thumb'); return i && i.naturalWidth === 8; }")
    kiosk.screenshot(path=f"{SHOTS}/consult-kiosk-call.png", full_page=True)
    kiosk.click("#kiosk-hangup")
    frame.locator("#call-state[data-state='ended']").wait_for()
    county.wait_for_selector("#call-state[data-state='ended']")
    kiosk.wait_for_function("document.body.dataset.consultEvent === 'ended'")
    record = consult_record(county, consult_id)
    assert record["consult"]["requester"].startswith("kiosk:")
    assert record["consult"]["outcome"] == "completed"


def test_turn_check_and_strings(open_page: Callable[..., Any]) -> None:
    """The pre-call TURN check's three answers, and every string in both languages."""
    page = open_page()
    page.wait_for_selector("#login-view:not([hidden])")
    results = page.evaluate("""async () => {
      const { checkTurn } = await import("/static/consult.js");
      return {
        none: await checkTurn([{ urls: "stun:127.0.0.1:9" }]),
        dead: await checkTurn([{ urls: "turn:127.0.0.1:9?transport=udp", username: "1:user1", credential: "x" }], 3000),
      };
    }""")
    assert results == {"none": "not_configured", "dead": "unreachable"}
    keys = page.evaluate("""async () => {
      const { STRINGS } = await import("/static/consult_i18n.js");
      return Object.fromEntries(Object.entries(STRINGS).map(([lang, table]) => [lang, Object.keys(table).sort()]));
    }""")
    assert keys["zh-CN"] == keys["en"]
    used = set(page.evaluate("""() => [...document.querySelectorAll("[data-i18n]")].map((e) => e.dataset.i18n)
      .concat([...document.querySelectorAll("[data-i18n-attr]")].flatMap((e) => e.dataset.i18nAttr.split(";")
      .map((p) => p.split(":")[1])))"""))
    assert used <= set(keys["en"]), used - set(keys["en"])
    page.click("[data-lang='en']")
    assert page.text_content("#login-submit") == "Sign in"
    page.click("[data-lang='zh-CN']")
    assert page.text_content("#login-submit") == "登录"


def test_live_ecg_beside_the_video(open_page: Callable[..., Any], world: World,
                                   device: Callable[[str], None]) -> None:
    """The consult's recording, streaming now, is drawn beside the video on both sides."""
    device("consult-101")
    county = open_page(username="reader_a", password=world.password)
    go_on_duty(county)
    village = open_page(username="doctor_a", password=world.password)
    base = village.url.split("/static/")[0]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listed = json.loads(village.context.request.get(base + "/api/recordings").text())["recordings"]
        if any(r["id"] == "consult-101" for r in listed):
            break
        time.sleep(0.3)
    consult_id = request(village, recording="consult-101")
    accept(county, consult_id)
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='in_call']")
        page.wait_for_selector("#ecg-panel:not([hidden])")
        page.wait_for_selector("#ecg-hr[data-state='hr']", timeout=30_000)
        assert page.text_content("#ecg-recording") == "#consult-101"
        # the trace grows as the stream arrives: a few seconds of it is > 500 dark pixels
        page.wait_for_function(f"({INK_JS})('#consult-ecg') > 500", timeout=15_000)
    assert_playing(county)
    assert_playing(village)
    assert village.is_visible("#link-form") and not county.is_visible("#link-form")
    county.screenshot(path=f"{SHOTS}/consult-county-ecg.png", full_page=True)
    village.click("#hangup")
    for page in (village, county):
        page.wait_for_selector("#call-state[data-state='ended']")


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A real coturn of the test's own (free loopback port, own directory), in the REST-API
    credential scheme of deploy/coturn/turnserver.conf: (port, shared secret)."""
    need(shutil.which("turnserver") is not None, "coturn is not installed (apt-get install coturn)")
    port, secret = free_port(), "test-turn-secret-" + str(free_port())
    conf = tmp_path / "turnserver.conf"
    conf.write_text("\n".join([
        f"listening-port={port}", "listening-ip=127.0.0.1", "relay-ip=127.0.0.1", "min-port=49152", "max-port=65535",
        "use-auth-secret", f"static-auth-secret={secret}", "realm=teleconsult.test", "fingerprint", "no-tls",
        "no-dtls", "no-cli", "no-multicast-peers", f"pidfile={tmp_path}/turnserver.pid",
        f"userdb={tmp_path}/turndb", "log-file=stdout", "simple-log"]) + "\n")
    proc = subprocess.Popen(["turnserver", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # up once it answers on its TCP listener
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield port, secret
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_turn_check_reaches_a_real_coturn_with_the_servers_ephemeral_credentials(
        open_page: Callable[..., Any], coturn: tuple[int, str]) -> None:
    from teleconsult.consults.turn import IceConfig

    port, secret = coturn
    ice = IceConfig.from_text("", f"turn:127.0.0.1:{port}?transport=udp", secret, 600.0)
    good = ice.servers_for("user3", time.time())
    forged = [{**good[0], "credential": "not-the-hmac"}]
    page = open_page()
    page.wait_for_selector("#login-view:not([hidden])")
    results = page.evaluate("""async ([good, forged]) => {
      const { checkTurn } = await import("/static/consult.js");
      return { good: await checkTurn(good, 5000), forged: await checkTurn(forged, 3000) };
    }""", [good, forged])
    assert results == {"good": "reachable", "forged": "unreachable"}
