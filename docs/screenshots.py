"""Regenerate the README's screenshots of the review report and the review page (never edit the PNGs by hand).

Builds a small synthetic run (tests/review/synthetic.py: every outcome kind, creatives awaiting a
decision), opens its report.html from disk in Debian's chromium (Playwright) and serves the review page
on 127.0.0.1 for one screenshot, then writes docs/img/review-*.png, each palette-quantised to stay small.

Usage:  python docs/screenshots.py
"""

from __future__ import annotations

import io
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "review"))
OUT = ROOT / "docs" / "img"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 800}


def save(png: bytes, name: str) -> None:
    """Write ``png`` as docs/img/<name>.png with a 256-colour palette (a UI screenshot keeps its look)."""
    im = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    path = OUT / f"{name}.png"
    im.save(path, optimize=True)
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size / 1024:.0f} KB")


def main() -> None:
    from playwright.sync_api import sync_playwright

    from synthetic import make_run

    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bf-shots-"))
    os.environ["BRANDFLOW_REVIEWERS_FILE"] = str(tmp / "reviewers.json")
    from brandflow.review import reviewers
    from brandflow.review.app import create_app
    from brandflow.review.report import render_report

    run_dir = tmp / "runs" / "autumn"
    manifest = make_run(run_dir, 24, products=6, pending=True, flow_run_id="7f3c2a10-5b1e-4c8e-9d2a-0c6b1e2f4a55")
    render_report(manifest, run_dir / "report.html")
    token = reviewers.add("Ana Lima")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto((run_dir / "report.html").as_uri())
        page.select_option("#f-status", "all")
        page.wait_for_timeout(300)
        save(page.screenshot(), "review-overview")
        page.select_option("#f-status", "attention")
        page.locator("#filters").scroll_into_view_if_needed()
        page.evaluate("document.getElementById('filters').scrollIntoView()")
        page.wait_for_timeout(300)
        save(page.screenshot(), "review-needs-attention")
        failed = page.locator('#grid > .card[data-status="failed"] a.open').first
        failed.click()
        page.wait_for_timeout(400)
        save(page.screenshot(), "review-full-size")

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(run_dir, lambda *a: None), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            page = browser.new_context(viewport=VIEWPORT).new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.fill("#token", token)
            page.click("button[type=submit]")
            first = page.locator("#grid > .card.pending").first
            first.locator("button.approve").click()
            page.wait_for_selector("#grid .decision.d-approved")
            page.evaluate("document.getElementById('filters').scrollIntoView()")
            page.wait_for_timeout(300)
            save(page.screenshot(), "review-page")
        finally:
            server.should_exit = True
            thread.join(10)
        browser.close()


if __name__ == "__main__":
    main()
