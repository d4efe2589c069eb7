"""The HTML report: tables as printed with verdicts beside them, audit first, self-contained."""
from __future__ import annotations

import re

from markupsafe import escape

from repro.audit.papers import load_papers
from repro.report.render import build_view, render
from repro.audit.verdicts import Measurement


def test_toy_page_shows_published_measured_delta_and_verdict(toy_paper, tmp_path):
    run = {"mlflow_run": "abc123", "command": "repro costs", "version.torch": "2.13.0"}
    measured = {("toy", ("1", "Ours", "GFLOPs")): Measurement(15.6, run),
                ("toy", ("1", "Base", "GFLOPs")): Measurement(30.1, run)}
    index, page = render([toy_paper], tmp_path, measured)
    html = page.read_text()
    assert index.name == "index.html" and page.name == "toy.html"
    assert 'class="cell v-deviates"' in html and "measured 15.6" in html and "Δ +0.6 (+4.0%)" in html
    assert 'class="cell v-reproduced"' in html and "measured 30.1" in html
    assert html.count('class="cell v-not-measured"') == 3
    assert "needs Kinetics-400" in html  # the reason, shown under the table
    assert "abc123" in html and "repro costs" in html and "torch 2.13.0" in html  # provenance
    # The inconsistent relation is listed before the consistent claims.
    assert html.index("claim-wrong") < html.index("claim-gain") < html.index("claim-figure-only")
    summary = build_view(toy_paper, measured)
    assert summary.cell_counts() == {"reproduced": 1, "deviates": 1, "not measured": 3}
    assert summary.claim_counts() == {"consistent": 2, "inconsistent": 1, "unchecked": 1}


def test_pages_are_self_contained(toy_paper, tmp_path):
    out = tmp_path / "out"
    for path in render([toy_paper], out):
        html = path.read_text()
        assert "<style>" in html and "<script" not in html and "<link" not in html
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert sorted(p.name for p in out.iterdir()) == ["index.html", "toy.html"]  # no temp files left


def test_every_table_and_cell_of_the_papers_is_rendered(tmp_path):
    papers = load_papers()
    render(papers, tmp_path)
    for paper in papers:
        html = (tmp_path / f"{paper.id}.html").read_text()
        assert html.count('<table class="paper-table"') == len(paper.tables)
        cells = re.findall(r'<div class="pub">([^<]*)</div>', html)
        assert cells == [c.printed.replace(">", "&gt;").replace("<", "&lt;") for c in paper.cells()]
    index = (tmp_path / "index.html").read_text()
    assert all(f'href="{p.id}.html"' in index for p in papers)


def test_maivar_page_lists_where_the_public_code_differs(tmp_path):
    from repro.data.audio_images import DIFFERENCES_FROM_PUBLIC_CODE

    render(load_papers("maivar"), tmp_path)
    page = (tmp_path / "maivar.html").read_text()
    assert 'id="method-notes"' in page and "Audio images: where this suite and the authors" in page
    assert page.count("<li>") >= len(DIFFERENCES_FROM_PUBLIC_CODE)
    assert str(escape(DIFFERENCES_FROM_PUBLIC_CODE[0])) in page  # as jinja escapes it
