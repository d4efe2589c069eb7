"""Open the real report in headless Chromium: findings first, tables render, everything fits 1280 and 800 px
(and the page, not its wide tables, a phone), every plot draws with its labels clear of one another, no
console errors; screenshots of the index and of each paper's top."""
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
README_SHOT = REPO / "docs" / "findings-faster.png"  # the README's picture; REPRO_UPDATE_DOCS=1 rewrites it
WIDTH = 1280
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


@pytest.fixture(scope="module")
def report(measured_costs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    render(load_papers(), out, *measured_costs)
    return out


def _open(browser, url: str):
    """Load `url`; returns the page and the console errors and uncaught exceptions it raised."""
    page = browser.new_page(viewport={"width": WIDTH, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(url, wait_until="load")
    return page, errors


# Every element wider than its box scrolls sideways (the .wide containers would), and the page itself.
OVERFLOW = """() => [document.documentElement, ...document.querySelectorAll('.wide, figure, section, table')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible'
               || e === document.documentElement && e.scrollWidth > window.innerWidth)
  .map(e => (e.id || e.className || e.tagName) + ' ' + e.scrollWidth + ' '
             + (e.querySelector('tr') || e).textContent.trim().replace(/\\s+/g, ' ').slice(0, 60))"""


# A plot's point labels that leave its frame or cover one another, as the browser lays the text out.
LABEL_CLASHES = """svg => {
  const frame = svg.querySelector('rect').getBBox();
  const boxes = [...svg.querySelectorAll('text.point-label')].map(t => [t.textContent, t.getBBox()]);
  const inside = b => b.x >= frame.x - 1 && b.y >= frame.y - 1 && b.x + b.width <= frame.x + frame.width + 1
                      && b.y + b.height <= frame.y + frame.height + 1;
  const cover = (a, b) => Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x))
                        * Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
  const found = boxes.filter(([, b]) => !inside(b)).map(([t]) => t + ' leaves the frame');
  boxes.forEach(([t, a], i) => boxes.slice(i + 1).forEach(([u, b]) => {
    if (cover(a, b) > 2) found.push(t + ' covers ' + u); }));
  return found;
}"""


def _assert_fits_narrow_windows(page, name: str) -> None:
    """At 800 px nothing scrolls sideways; on a phone only a wide table's own box does, never the page.
    Leaves the page at the test's width."""
    page.set_viewport_size({"width": 800, "height": 900})
    assert page.evaluate(OVERFLOW) == [], f"{name} at 800 px"
    page.set_viewport_size({"width": 480, "height": 900})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 480, f"{name} at 480 px"
    page.set_viewport_size({"width": WIDTH, "height": 900})


def test_the_error_catcher_catches(browser, tmp_path):
    broken = tmp_path / "broken.html"
    broken.write_text("<html><body><script>console.error('bad'); undefinedFunction();</script></body></html>")
    page, errors = _open(browser, broken.as_uri())
    page.close()
    assert any("bad" in e for e in errors) and any("undefinedFunction" in e for e in errors)


def test_the_overflow_check_catches(browser, tmp_path):
    wide = tmp_path / "wide.html"
    wide.write_text('<html><body><div class="wide" style="overflow-x:auto"><table><tr><td style="min-width:3000px">'
                    'x</td></tr></table></div></body></html>')
    page, _ = _open(browser, wide.as_uri())
    assert page.evaluate(OVERFLOW)
    page.close()


def test_the_label_check_catches(browser, tmp_path):
    crowded = tmp_path / "crowded.html"
    crowded.write_text('<html><body><svg width="300" height="100"><rect x="10" y="10" width="200" height="80"/>'
                       '<text class="point-label" x="150" y="50">a label past the right edge</text>'
                       '<text class="point-label" x="20" y="50">one label</text>'
                       '<text class="point-label" x="22" y="52">another</text></svg></body></html>')
    page, _ = _open(browser, crowded.as_uri())
    found = page.locator("svg").evaluate(LABEL_CLASHES)
    page.close()
    assert found == ["a label past the right edge leaves the frame", "one label covers another"]


def test_the_index_gives_one_line_per_paper_and_fits(browser, report):
    papers = load_papers()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page, errors = _open(browser, (report / "index.html").as_uri())
    rows = page.locator("table.papers tbody tr")
    assert rows.count() == len(papers)
    for i in range(rows.count()):
        assert rows.nth(i).locator("td.verdict-line").inner_text().strip()
    assert page.evaluate(OVERFLOW) == []
    _assert_fits_narrow_windows(page, "index")
    page.screenshot(path=str(SCREENSHOTS / "index.png"), full_page=True)
    page.close()
    assert errors == []


def test_every_paper_page_opens_with_its_findings_and_renders(browser, report):
    for paper in load_papers():
        page, errors = _open(browser, (report / f"{paper.id}.html").as_uri())
        box = page.locator("section.findings")
        assert box.is_visible() and box.bounding_box()["y"] < 300, paper.id  # the findings come first
        for item in page.locator("li.finding").all():
            assert item.locator(".sev").text_content().strip(), paper.id  # also inside closed <details>
            if item.get_attribute("data-severity") in ("error", "slip"):
                assert item.locator(".size").count() == 1, f"{paper.id}: {item.text_content()}"
            links = item.locator(".evidence a").all()
            assert links, f"{paper.id}: {item.text_content()}"
            for link in links:  # every piece of evidence is on the page
                target = link.get_attribute("href")[1:]
                assert page.evaluate("id => !!document.getElementById(id)", target), f"{paper.id}: #{target}"
        tables = page.locator("table.paper-table")
        assert tables.count() == len(paper.tables)
        for i, table in enumerate(paper.tables.values()):
            shown = tables.nth(i)
            assert shown.is_visible() and shown.get_attribute("data-table") == table.table
            assert shown.locator("tbody tr").count() == len(table.rows)
        assert page.locator("table.audit tbody tr[id^='claim-']").count() == len(paper.claims)
        plots = page.locator("figure.plot svg").all()
        assert plots, f"{paper.id}: no plot"
        for svg in plots:  # every plot draws: a box, and points in it
            drawn = svg.bounding_box()
            assert drawn["width"] > 300 and drawn["height"] > 150, paper.id
            assert svg.locator("circle").count() >= 2, paper.id
            assert svg.evaluate(LABEL_CLASHES) == [], f"{paper.id}: {svg.get_attribute('aria-label')}"
        assert page.evaluate(OVERFLOW) == [], paper.id
        _assert_fits_narrow_windows(page, paper.id)
        page.screenshot(path=str(SCREENSHOTS / f"{paper.id}-top.png"))
        page.screenshot(path=str(SCREENSHOTS / f"{paper.id}.png"), full_page=True)
        if paper.id == "faster":
            box.screenshot(path=str(SCREENSHOTS / "findings-faster.png"))
            if os.environ.get("REPRO_UPDATE_DOCS"):
                README_SHOT.parent.mkdir(exist_ok=True)
                shutil.copyfile(SCREENSHOTS / "findings-faster.png", README_SHOT)
        page.close()
        assert errors == [], f"{paper.id}: {errors}"
        assert (SCREENSHOTS / f"{paper.id}-top.png").stat().st_size > 10_000


def test_the_performance_tables_fit_too(browser, measured_costs, tmp_path):
    """With a benchmark run, the index's table of models and each page's runtime checks still fit 1280 and 800 px."""
    from repro.report.performance import read_run
    from test_benchmarks_framework import _entry, _json

    reference = _entry("baselines/i3d_two_stream", "i3d_two_stream", 1, 0.0106, 213.5)
    reference["extra_info"].update(paper=None, input="1x3x64x224x224; 1x2x64x224x224",
                                   note="no paper benchmarks it; the input registered with it (Two-stream I3D: ...)")
    run = read_run([_json(tmp_path, [reference, _entry("faster/r2plus1d_50_l32", "r2plus1d_50_l32", 1, 0.0077, 119.9),
                                     _entry("faster/r2plus1d_50_l32", "r2plus1d_50_l32", 64, 0.4, 7674.0)])])
    render(load_papers(), tmp_path / "out", *measured_costs, benchmarks=run)
    for name in ("index", "faster"):
        page, errors = _open(browser, (tmp_path / "out" / f"{name}.html").as_uri())
        assert page.locator("table.perf").count() >= (1 if name == "index" else 0)
        assert page.evaluate(OVERFLOW) == [], name
        _assert_fits_narrow_windows(page, name)
        page.close()
        assert errors == [], f"{name}: {errors}"
