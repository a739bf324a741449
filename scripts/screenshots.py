"""Screenshots of the main pages for the README, taken in Debian's Chromium against a running server.

Usage: .venv/bin/python scripts/screenshots.py http://127.0.0.1:8000 PASSWORD [OUTDIR]
(the server must hold the demo district: `make demo`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def main(base: str, password: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/login")
        page.screenshot(path=str(out / "login.png"))
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_selector("[data-communities-loaded]", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "map-district.png"))
        box = page.locator("#map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for _ in range(4):  # zoom 12 → 16 around the centre, where unit grids appear
            page.mouse.dblclick(cx, cy)
            page.wait_for_timeout(400)
        page.wait_for_selector("[data-grids-loaded]", timeout=30_000)
        page.mouse.click(cx, cy)
        page.wait_for_selector(".leaflet-popup-content", timeout=10_000)
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "map-grids.png"))
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3] if len(sys.argv) > 3 else "docs/screenshots"))
