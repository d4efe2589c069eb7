"""Open the real report in headless Chromium: tables render, no console errors, a screenshot."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from repro.audit.papers import load_papers
from repro.report.render import render

from conftest import REPO

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(os.environ.get("REPRO_ARTIFACTS", REPO / "results" / "screenshots"))
# Without the background-networking flags Chromium keeps dialling out on a closed network.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
         "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("REPRO_CHROMIUM") or shutil.which("chromium")
    assert executable, "the browser test needs Chromium: apt-get install chromium, or set REPRO_CHROMIUM"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        yield chromium
        chromium.close()


def _open(browser, url: str):
    """Load `url`; returns the page and the console errors and uncaught exceptions it raised."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(url, wait_until="load")
    return page, errors


def test_the_error_catcher_catches(browser, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>console.error('bad'); undefinedFunction();</script></body></html>")
    page, errors = _open(browser, broken.as_uri())
    page.close()
    assert any("bad" in e for e in errors) and any("undefinedFunction" in e for e in errors)


def test_every_paper_page_renders_its_tables(browser, tmp_path):
    papers = load_papers()
    index, *pages = render(papers, tmp_path)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = _open(browser, index.as_uri())
    assert page.locator("table.papers tbody tr").count() == len(papers)
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
    page.close()
    for paper in papers:
        page, errors = _open(browser, (tmp_path / f"{paper.id}.html").as_uri())
        tables = page.locator("table.paper-table")
        assert tables.count() == len(paper.tables)
        for i, table in enumerate(paper.tables.values()):
            shown = tables.nth(i)
            assert shown.is_visible() and shown.get_attribute("data-table") == table.table
            assert shown.locator("tbody tr").count() == len(table.rows)
            assert shown.bounding_box()["height"] > 20 * len(table.rows)
        assert page.locator("table.audit tbody tr").count() == len(paper.claims)
        page.screenshot(path=str(SCREENSHOTS / f"{paper.id}.png"), full_page=True)
        page.close()
        assert errors == [], f"{paper.id}: {errors}"
        assert (SCREENSHOTS / f"{paper.id}.png").stat().st_size > 10_000
