"""web_client/i18n.js: both languages have every key, and the page uses only known keys."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web_client"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture(scope="module")
def tables() -> dict[str, dict[str, str]]:
    assert NODE is not None
    script = f'import {{ STRINGS }} from "{(WEB / "i18n.js").as_uri()}"; process.stdout.write(JSON.stringify(STRINGS));'
    out = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True,
                         timeout=60, check=True)
    result: dict[str, dict[str, str]] = json.loads(out.stdout)
    return result


def test_languages_have_the_same_keys(tables: dict[str, dict[str, str]]) -> None:
    assert set(tables) == {"zh-CN", "en"}
    assert set(tables["zh-CN"]) == set(tables["en"])


def test_placeholders_match(tables: dict[str, dict[str, str]]) -> None:
    for key, zh in tables["zh-CN"].items():
        assert set(re.findall(r"\{(\w+)\}", zh)) == set(re.findall(r"\{(\w+)\}", tables["en"][key])), key


def test_required_notices_are_translated(tables: dict[str, dict[str, str]]) -> None:
    assert tables["zh-CN"]["gap_notice"] == "显示丢帧 {n}"
    assert tables["en"]["gap_notice"] == "{n} display frames dropped"


def test_html_uses_known_keys(tables: dict[str, dict[str, str]]) -> None:
    html = (WEB / "index.html").read_text(encoding="utf-8")
    keys = set(re.findall(r'data-i18n="([\w-]+)"', html))
    for attr in re.findall(r'data-i18n-attr="([^"]+)"', html):
        keys |= {pair.split(":")[1].strip() for pair in attr.split(";") if ":" in pair}
    assert keys, "index.html has no data-i18n keys"
    assert keys <= set(tables["en"]), keys - set(tables["en"])


def test_html_has_no_untranslated_text() -> None:
    """Visible text lives in i18n.js; the HTML only holds the language names."""
    html = (WEB / "index.html").read_text(encoding="utf-8")
    body = html.split("<body>", 1)[1]
    texts = [t.strip() for t in re.findall(r">([^<>]+)<", body) if t.strip()]
    assert sorted(texts) == ["--", "English", "中文"], texts


def test_scripts_use_known_keys(tables: dict[str, dict[str, str]]) -> None:
    used: set[str] = set()
    for path in WEB.glob("*.js"):
        # the consult page has a table of its own (consult_i18n.js, checked in test_consult_browser.py)
        if path.name == "i18n.js" or path.name.startswith("consult"):
            continue
        source = path.read_text(encoding="utf-8")
        used |= set(re.findall(r'\bt\("(\w+)"', source))
        used |= set(re.findall(r'(?:showLogin|setLoginError)\("(\w+)"', source))
        used |= set(re.findall(r'key: "(\w+)"', source))
        used |= set(re.findall(r'\["(leads_\w+)"', source))
    assert {"login_failed", "gap_notice", "ended_notice", "leads_chest", "error_unavailable"} <= used, used
    assert used <= set(tables["en"]), used - set(tables["en"])
