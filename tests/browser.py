"""Shared by the browser tests: Debian's Chromium through Playwright, the front-end assets, screenshots.

Importing this module skips the importing test module when Playwright or Chromium is missing.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ASSET = ROOT / "src/liandong/web/static/vendor/echarts/echarts.min.js"
SCREENSHOTS = ROOT / "var/screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright
except Exception as exc:  # ImportError, or a broken install
    pytest.skip(f"playwright cannot be imported ({exc.__class__.__name__}: {exc}); "
                "install the dev extra: pip install -e '.[dev]'", allow_module_level=True)
__all__ = ["Page", "expect"]
expect.set_options(timeout=15_000)  # a loaded two-core machine: give pages time, the assertions stay the same
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium", allow_module_level=True)


def ensure_vendor_assets() -> None:
    """The pages load Leaflet and ECharts from the git-ignored vendor folder; build it from npm if missing."""
    if ASSET.exists():
        return
    run = subprocess.run(["bash", str(ROOT / "scripts/vendor_assets.sh")], cwd=ROOT, capture_output=True, text=True)
    if run.returncode != 0 or not ASSET.exists():
        pytest.fail(f"front-end assets missing and scripts/vendor_assets.sh failed:\n{run.stdout}\n{run.stderr}")


@contextmanager
def caseworld_site(folder: Path, **settings) -> Iterator[str]:
    """tests/caseworld.py's district served over real HTTP from a SQLite file in ``folder``; its base URL."""
    from liandong.app import create_app
    from liandong.config import Settings, get_settings
    from liandong.db import dispose_engine, migrate
    from tests.caseworld import fill
    from tests.server import serve
    from tests.webdata import CHEAP_HASHING

    ensure_vendor_assets()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in CHEAP_HASHING.items():
            mp.setenv(key, value)
        get_settings.cache_clear()
        url = f"sqlite:///{folder / 'site.db'}"
        migrate(url)
        fill(url)
        try:
            with serve(create_app(Settings(database_url=url, **settings))) as base:
                yield base
        finally:
            dispose_engine(url)
            get_settings.cache_clear()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Browser, problems: list[str], **context_args) -> Page:
    """A page in a fresh context (own cookies) that records console errors, page errors, failed requests."""
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN", **context_args})
    pg = context.new_page()
    pg.set_default_timeout(15_000)

    def on_console(msg: ConsoleMessage) -> None:
        if msg.type == "error":
            problems.append(f"console: {msg.text} @ {msg.location}")

    def on_failed(req) -> None:
        # leaving a page cancels its open event stream and any fetch still in flight: not a fault
        if "/api/v1/live/events" not in req.url and req.failure != "net::ERR_ABORTED":
            problems.append(f"request failed: {req.url} {req.failure}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    pg.on("requestfailed", on_failed)
    return pg
