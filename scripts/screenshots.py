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


def login(page, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def main(base: str, password: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{base}/login")
        page.screenshot(path=str(out / "login.png"))
        login(page, base, "admin", password)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(out / "dashboard.png"))

        page.goto(f"{base}/map")
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

        page.goto(f"{base}/cases")
        page.get_by_role("tab").nth(1).click()
        page.wait_for_selector(".workbench[data-loaded] tbody tr[data-case-id]", timeout=30_000)
        page.screenshot(path=str(out / "workbench.png"))
        busy = page.locator("tbody tr", has_text="处置中")  # a case in progress: units, deadlines, a timeline
        href = (busy if busy.count() else page.locator("tbody tr")).first.locator("a").first.get_attribute("href")
        page.goto(f"{base}{href}")
        page.wait_for_selector(".case-page[data-state]", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "case.png"), full_page=True)
        page.goto(f"{base}/admin/")
        page.wait_for_selector(".admin[data-users]", timeout=30_000)
        page.screenshot(path=str(out / "admin.png"))

        phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        phone.goto(f"{base}/report")
        phone.wait_for_selector(".leaflet-overlay-pane path", timeout=30_000)
        phone.screenshot(path=str(out / "report.png"), full_page=True)
        login(phone, base, "inspector", password)
        phone.goto(f"{base}/m/")
        phone.wait_for_selector(".leaflet-overlay-pane path", timeout=30_000)
        phone.screenshot(path=str(out / "mobile.png"), full_page=True)
        browser.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3] if len(sys.argv) > 3 else "docs/screenshots"))
