"""Browser fixtures for the web client tests: the system Chromium through Playwright.

Never downloads a browser (no ``playwright install``): /usr/bin/chromium comes from the
distribution (``apt-get install chromium``). Missing locally: skip; under CI=true: fail.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--no-first-run", "--disable-sync", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
]
WEB_CLIENT = Path(__file__).resolve().parents[2] / "web_client"


def system_chromium() -> Iterator[Any]:
    """Debian's Chromium (never a downloaded browser), headless, through Playwright's sync API."""
    need(CHROMIUM.exists(), f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "the playwright package is not installed")
        raise
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    yield from system_chromium()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture(scope="session")
def static_url() -> Iterator[str]:
    """web_client/ served as static files on loopback (for module tests without the app server)."""
    handler = functools.partial(_Quiet, directory=str(WEB_CLIENT))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
