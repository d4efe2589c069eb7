"""The HTML report: findings first, tables as printed with verdicts beside them, self-contained."""
from __future__ import annotations

import re
from html import unescape

import pytest
from markupsafe import escape

from repro.audit.papers import load_papers
from repro.audit.verdicts import Measurement
from repro.report.render import render
from repro.report.view import build_view


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
    # The findings come first: the broken relation is one, linked to its row in the audit.
    findings = html[html.index('id="findings"'):html.index('id="tables"')]
    assert 'href="#claim-wrong"' in findings and 'id="claim-wrong"' in html
    assert html.index('id="findings"') < html.index('id="tables"') < html.index('id="audit"')
    summary = build_view(toy_paper, measured)
    assert summary.cell_counts() == {"reproduced": 1, "deviates": 1, "not measured": 3}
    assert summary.claim_counts("claim") == {"consistent": 2, "unchecked": 1}
    assert summary.claim_counts("relation") == {"inconsistent": 1}


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


# --- the real papers, rendered with measured costs ---------------------------------------------------------

CELL = re.compile(r'<td class="cell v-[^"]*" id="(?P<id>[^"]+)" data-verdict="(?P<verdict>[^"]+)"[^>]*>'
                  r'(?P<body>.*?)</td>', re.S)
FINDING = re.compile(r'<li class="finding[^"]*" id="(?P<id>finding-[^"]+)"[^>]*data-cause="(?P<cause>[^"]+)"[^>]*>'
                     r'(?P<body>.*?)</li>', re.S)


@pytest.fixture(scope="module")
def real_pages(measured_costs, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    render(load_papers(), out, *measured_costs)
    return {p.id: (out / f"{p.id}.html").read_text() for p in load_papers()}


def test_every_explained_deviation_says_how(real_pages):
    """A measured cell that does not plainly reproduce shows why: the finding it belongs to, and for a
    counting convention the number counted that way beside the measured one."""
    seen = 0
    for paper_id, html in real_pages.items():
        findings = {m["id"] for m in FINDING.finditer(html)}
        for cell in CELL.finditer(html):
            if cell["verdict"] not in ("deviates", "convention"):
                continue
            seen += 1
            links = set(re.findall(r'class="fbadge[^"]*" href="#(finding-[^"]+)"', cell["body"]))
            assert links and links <= findings, f"{paper_id} {cell['id']}: no finding explains it"
            if cell["verdict"] == "convention":
                assert 'class="meas alt"' in cell["body"], f"{paper_id} {cell['id']}: the convention's number"
    assert seen >= 8  # FASTER's misprint, GCF-Net's convention cells and ResNeXt, KPSEM's two


def test_no_header_sentence_contradicts_a_cells_verdict(real_pages):
    for paper_id, html in real_pages.items():
        verdicts = {m["id"]: m["verdict"] for m in CELL.finditer(html)}
        header = html[html.index('id="findings"'):html.index('id="tables"')]
        lead = unescape(re.search(r'<p class="lead" id="summary">(.*?)</p>', header, re.S).group(1))
        said = re.search(r"(\d+) (?:is|are) reproduced(?:, (\d+) of them under the paper's counting convention)?, "
                         r"(\d+) deviates?", lead)
        shown = list(verdicts.values())
        reproduced = shown.count("reproduced") + shown.count("convention")
        assert int(said[1]) == reproduced and int(said[2] or 0) == shown.count("convention"), paper_id
        assert int(said[3]) == shown.count("deviates"), paper_id
        for finding in FINDING.finditer(header):
            cells = re.findall(r'href="#(cell-[^"]+)"', finding["body"])
            expected = {"counted under another convention": {"convention"},
                        "measured value deviates": {"deviates"}, "the numbers of another configuration": {"deviates"}}
            for cell in cells:
                assert verdicts[cell] in expected.get(finding["cause"], set(verdicts.values())), \
                    f"{paper_id}: {finding['id']} says {finding['cause']} of {cell}, a {verdicts[cell]} cell"


def test_the_lead_the_count_and_the_list_agree_on_the_findings(real_pages):
    """The lead, the stat box and the list count the same findings; the sentences nothing can check are
    folded and counted apart."""
    summed = []
    for paper_id, html in real_pages.items():
        header = html[html.index('id="findings"'):html.index('id="tables"')]
        folded = header.index('<details class="unchecked">') if '<details class="unchecked">' in header else None
        listed = len(list(FINDING.finditer(header[:folded])))
        sentences = len(list(FINDING.finditer(header[folded:]))) if folded is not None else 0
        lead = unescape(re.search(r'<p class="lead" id="summary">(.*?)</p>', header, re.S).group(1))
        stat = re.search(r'<div class="stat"><b>(\d+)</b>findings<span class="unit">(.*?)</span>', header, re.S)
        assert int(stat[1]) == listed, paper_id
        assert lead.startswith(f"{listed} finding") or (listed == 0 and lead.startswith("Nothing")), paper_id
        if sentences:
            assert f"{sentences} sentence" in lead and f"{sentences} sentence" in stat[2], paper_id
        explained = re.search(r"explains? the (\d+) checks? that fails? here: ([^.]*)\.", lead)
        if explained:  # the kinds it names add up to the total, and the text claims to the stat box's
            parts = dict((kind, int(n)) for n, kind in re.findall(r"(\d+) ([a-z ]+?)(?:,| and |$)", explained[2]))
            assert sum(parts.values()) == int(explained[1]), (paper_id, explained[0])
            text_fail = re.search(r'<div class="stat"><b>(\d+) <small>of \d+</small></b>text claims fail', header)
            assert parts.get("text claims", parts.get("text claim", 0)) == int(text_fail[1]), paper_id
            summed.append(paper_id)
    assert len(summed) >= 3, summed  # every paper whose findings explain more than one kind of check


def test_every_row_and_point_of_a_plot_has_its_own_name(real_pages):
    """Two rows of one plot, or two points of one series (a label takes its series' colour), never carry the
    same name: FASTER's Table 2 relations share printed sides
    ("R2D-26 / 32-frames" is twice its 16 frames and four times its 8), and its scatter has an 8-frames row
    of each backbone."""
    plots = 0
    for paper_id, html in real_pages.items():
        for svg in re.findall(r'<svg [^>]*class="plot".*?</svg>', html, re.S):
            rows = re.findall(r'text-anchor="end" fill="[^"]+">([^<]+)<title>', svg)
            points = re.findall(r'class="point-label"[^>]*fill="([^"]+)"[^>]*>([^<]+)</text>', svg)
            for names in (rows, points):
                assert len(names) == len(set(names)), f"{paper_id}: {[n for n in names if names.count(n) > 1]}"
            plots += 1
    assert plots >= 10
    faster = real_pages["faster"]
    assert "R2D-26 / 32-frames = 2 × R2D-26 / 16-frames" in faster and ">R2D-26 / 8-frames</text>" in faster


def test_labels_stay_in_the_plot_and_apart():
    """A point at the right edge is labelled on its left; two points a pixel apart get labels on two rows."""
    from repro.report.svg import place_labels

    area = (0.0, 0.0, 200.0, 100.0)
    [edge] = place_labels([(195.0, 50.0, "a long label", "#000")], [(195.0, 50.0, 4.5)], area)
    assert 'text-anchor="end"' in edge and 'x="188.0"' in edge
    crowded = place_labels([(20.0, 50.0, "first", "#000"), (20.0, 51.0, "second", "#000")],
                           [(20.0, 50.0, 4.5), (20.0, 51.0, 4.5)], area)
    ys = [float(y) for y in re.findall(r'<text[^>]* y="([\d.]+)"', "".join(crowded))]
    assert len(ys) == 2 and abs(ys[0] - ys[1]) >= 11


def test_no_cell_or_claim_carries_the_same_finding_badge_twice(real_pages):
    twice = re.compile(r'<a class="fbadge[^"]*" href="#finding-([^"]+)"[^>]*>F\d+</a>\s*'
                       r'<a class="fbadge[^"]*" href="#finding-\1"[^>]*>F\d+</a>')
    for paper_id, html in real_pages.items():
        assert not twice.search(html), (paper_id, twice.search(html)[1])
