"""A real headless Chromium (Debian's /usr/bin/chromium) drives the page as a person would."""

import os
import shutil

import pytest

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def test_page_predicts_and_shows_gifs(app_url, tmp_path):
    assert os.path.exists(CHROMIUM), "install Debian's chromium (see .ci/run)"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1300})
        page.goto(app_url)
        page.get_by_text("Next-frame video prediction").first.wait_for(timeout=60_000)
        # The first example is predicted on page load: no dead first screen.
        page.locator("img[src*='-panel.gif']").first.wait_for(timeout=90_000)
        first = page.locator("img[src*='-panel.gif']").first.get_attribute("src")

        horizon = page.get_by_label("Frames to predict", exact=False).locator("..").locator("input[type=number]")
        horizon.first.fill("15")
        horizon.first.press("Enter")
        page.get_by_role("button", name="Predict", exact=True).click()
        page.wait_for_function(
            "src => { const i = document.querySelector(\"img[src*='-panel.gif']\"); return i && i.src !== src; }",
            arg=first, timeout=90_000)
        for kind in ("panel", "truth", "prediction"):
            img = page.locator(f"img[src*='-{kind}.gif']").first
            img.wait_for(timeout=30_000)
            assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        assert page.get_by_text("copy last frame").first.is_visible()
        shot = tmp_path / "app.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    os.makedirs("out/screenshots", exist_ok=True)
    shutil.copy(shot, "out/screenshots/app.png")
