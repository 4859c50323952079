"""The embeddable widget in a real browser (Debian's headless Chromium through Playwright):
it connects to the live feed with a publishable key and shows cards as leads are placed,
strikes out a sold one, and shows no contact details. The screenshot is kept as an artefact.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.async_api import async_playwright, expect

from infra.redis_store import RedisRankings
from streams.serve.ranking import SOLD, Removal
from tests.integration.marketplace import (
    api_process,
    drop_keys,
    market_settings,
    new_key,
    place,
    scored,
)

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags from the machine notes: no sandbox as root, and no background calls to the network.
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def artefacts() -> Path:
    path = Path(os.environ.get("AIQ_STATE_DIR", ".aiqleads")) / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


async def test_the_widget_shows_live_cards_in_chromium(tmp_path: Path) -> None:
    assert shutil.which(CHROMIUM), "chromium comes from Debian's package (make deps)"
    settings = market_settings(tmp_path)
    pk = await new_key(settings, "b-pro", ["feed"], publishable=True,
                       origins=["https://agent.example"])
    try:
        with api_process(settings, tmp_path / "api.log") as url:
            async with async_playwright() as pw:
                browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                page = await browser.new_page(viewport={"width": 900, "height": 520})
                await page.goto(f"{url}/v1/feed/widget?key={pk}")
                await page.wait_for_selector("#status.live", timeout=20_000)
                now_ms = int(time.time() * 1000)
                leads = [scored(i, scored_ms=now_ms, spread_km=2.0) for i in range(8)]
                await place(settings, leads[:5])
                cards = page.locator("li[data-lead]")
                # Locators, not page-side eval: the widget's CSP forbids eval, rightly.
                await expect(cards).to_have_count(5, timeout=20_000)
                await place(settings, leads[5:])
                await expect(cards).to_have_count(8, timeout=20_000)
                shown = [await cards.nth(i).get_attribute("data-lead") for i in range(8)]
                assert set(shown) == {lead.lead_id for lead in leads}
                assert shown[0] == leads[-1].lead_id  # newest first
                rankings = RedisRankings.from_settings(settings)
                await rankings.start()
                await rankings.apply([Removal(leads[0].lead_id, SOLD)])
                await rankings.close()
                await page.wait_for_selector(f"li.gone[data-lead='{leads[0].lead_id}']",
                                             timeout=20_000)
                text = await page.inner_text("body")
                for secret in ("@example.com", "+1512", "Congress Ave", "Doe"):
                    assert secret not in text
                assert "Austin, TX" in text
                shot = artefacts() / "widget.png"
                await page.screenshot(path=str(shot))
                await browser.close()
            assert shot.stat().st_size > 10_000
    finally:
        await drop_keys(settings)
