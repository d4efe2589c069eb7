"""Quoted numbers against their sources: citations.yaml is read strictly, each quoted cell gets a source verdict,
and a quotation of another configuration or a number its source prints otherwise is a finding, with the claims
that read it checked again."""
from __future__ import annotations

import re
import textwrap

import pytest

from repro.audit.citations import (DIFFERS, EQUAL, NOT_FOUND, OTHER_CONFIG, ROUNDED, agreement, check_citations,
                                   cited_rows, load_citations)
from repro.audit.claims import audit_paper
from repro.audit.findings import ERROR, READING, Inputs, find
from repro.audit.numbers import parse_printed
from repro.audit.papers import load_paper, load_papers
from repro.audit.verdicts import judge
from repro.errors import DataError

from conftest import write_paper

TABLES = """\
tables:
  - table: "1"
    caption: Accuracy on Kinetics val.
    columns:
      - {label: Top-1, unit: "%", kind: accuracy}
      - {label: GFLOPs, unit: GFLOPs, kind: flops}
    rows:
      - {label: Ours, values: [75.0, 30.0]}
      - {label: "A-Net [3]", values: [74.6, 40.8]}
      - {label: "B-Net [4]", values: [72.1, 108]}
      - {label: "C-Net [5]", values: [70.55, "-"]}
"""

CLAIMS = """\
claims:
  - id: beats-a
    quote: "Ours is better than A-Net."
    stated: 0
    op: gt
    unit: pp
    expr: "{1|Ours|Top-1} - {1|A-Net [3]|Top-1}"
"""

CITATIONS = """\
citations:
  - table: "1"
    rows: ["A-Net [3]"]
    source: "[3] A. Author. A-Net. 2018"
    published:
      - {cell: "{1|A-Net [3]|Top-1}", value: "75.9", setting: same, configuration: "A-Net, Kinetics val",
         read: "org/anet@abc README.md line 9: 'A-Net | 75.9'"}
      - {cell: "{1|A-Net [3]|Top-1}", value: "74.6", setting: other, configuration: "A-Net-Small, Kinetics val",
         read: "org/anet@abc README.md line 8: 'A-Net-Small | 74.6'"}
    not_found: "no FLOPs in the README"
  - table: "1"
    rows: ["B-Net [4]"]
    source: "[4] B. Author. B-Net. 2019"
    published:
      - {cell: "{1|B-Net [4]|Top-1}", value: "71.1", setting: same, configuration: "B-Net",
         read: "org/bnet@def README.md line 3: 'B-Net | 71.1'", caveat: "the test set, not val"}
      - {cell: "{1|B-Net [4]|GFLOPs}", value: "108", setting: same, configuration: "B-Net, one clip",
         read: "org/bnet@def README.md line 4: 'FLOPs 108G'"}
  - table: "1"
    rows: ["C-Net [5]"]
    source: "[5] C. Author. C-Net. 2020"
    published:
      - {cell: "{1|C-Net [5]|Top-1}", value: "70.6", setting: same, configuration: "C-Net",
         read: "c.pdf Table 2"}
"""


def _paper(tmp_path, citations: str | None = CITATIONS, claims: str = CLAIMS):
    folder = write_paper(tmp_path / "papers", tables=TABLES, claims=claims)
    if citations is not None:
        (folder / "citations.yaml").write_text(textwrap.dedent(citations))
    return load_paper(folder)


def test_each_quoted_cell_gets_its_source_verdict(tmp_path):
    paper = _paper(tmp_path)
    checks = check_citations(paper, load_citations(paper))
    verdicts = {key[1:]: c.verdict for key, c in checks.items()}
    assert verdicts == {
        ("A-Net [3]", "Top-1"): OTHER_CONFIG,  # equals A-Net-Small's number; A-Net's own is 75.9
        ("A-Net [3]", "GFLOPs"): NOT_FOUND,
        ("B-Net [4]", "Top-1"): DIFFERS,
        ("B-Net [4]", "GFLOPs"): EQUAL,
        ("C-Net [5]", "Top-1"): ROUNDED,  # 70.55 and 70.6: the source rounds the same number to one digit
    }
    a_net = checks[("1", "A-Net [3]", "Top-1")]
    assert a_net.correction.value.value == 75.9 and "A-Net-Small" in a_net.text()
    assert "no FLOPs in the README" in checks[("1", "A-Net [3]", "GFLOPs")].text()


@pytest.mark.parametrize(("printed", "source", "verdict"), [
    ("72.8", "72.8", EQUAL), ("72.80", "72.8", EQUAL), ("75.74", "75.7", ROUNDED), ("75.7", "75.74", ROUNDED),
    ("72.3", "72.4", None), ("75.76", "75.7", None), ("8.0", "8", EQUAL), ("8.4", "8", ROUNDED)])
def test_agreement_is_rounding_of_the_more_precise_number(printed, source, verdict):
    assert agreement(parse_printed(printed), parse_printed(source)) == verdict


def test_findings_name_the_configuration_and_recheck_the_claim_that_rests_on_it(tmp_path):
    paper = _paper(tmp_path)
    verdicts = {c.key: judge(c, None) for c in paper.cells()}
    sources = check_citations(paper, load_citations(paper))
    findings = {f.cells: f for f in find(Inputs(paper, audit_paper(paper), verdicts, sources=sources))
                if f.cause != "sentence cannot be checked"}
    other = findings[(("1", "A-Net [3]", "Top-1"),)]
    assert other.severity == READING and "A-Net-Small" in other.title and "75.9" in other.title
    assert other.size.text() == "+1.3 pp"
    assert other.recheck_lines == ("Claim beats-a (the text: “Ours is better than A-Net.”) holds with the tables' "
                                   "numbers and no longer holds with the source's.",)
    assert other.recheck_summary == "with the source's number, beats-a no longer holds"
    differs = findings[(("1", "B-Net [4]", "Top-1"),)]
    assert differs.severity == ERROR and "printed 72.1, its source prints 71.1" in differs.title
    assert "the test set, not val" in differs.detail
    assert not any(("1", "C-Net [5]", "Top-1") in f.cells for f in findings.values())  # rounding is no finding


@pytest.mark.parametrize(("mutation", "message"), [
    (lambda s: s.replace('rows: ["C-Net [5]"]', 'rows: ["D-Net [6]"]'), "rows of Table 1; 'D-Net [6]' is not one"),
    (lambda s: s.replace('rows: ["C-Net [5]"]', 'rows: ["A-Net [3]"]'), "already in"),
    (lambda s: s[:s.index('  - table: "1"\n    rows: ["C-Net')], "missing Table 1 · C-Net [5]"),
    (lambda s: s.replace('    not_found: "no FLOPs in the README"\n', ''), "the cells no published entry covers"),
    (lambda s: s.replace('read: "c.pdf Table 2"', 'caveat: unread'), "read: a value"),
    (lambda s: s.replace('value: "108"', 'value: "lots"'), "a number as the source prints it"),
    (lambda s: s.replace("setting: same, configuration: \"B-Net\"", "setting: equal, configuration: \"B-Net\""),
     "one of same, other"),
    (lambda s: s.replace('"{1|C-Net [5]|Top-1}"', '"{1|A-Net [3]|Top-1}"'), "a cell of this entry's rows"),
])
def test_a_bad_citations_file_names_line_and_field(tmp_path, mutation, message):
    paper = _paper(tmp_path, citations=mutation(CITATIONS))
    with pytest.raises(DataError, match="citations.yaml:[0-9]+") as err:
        load_citations(paper)
    assert message in str(err.value)


def test_every_paper_with_cited_rows_says_where_each_quoted_number_was_read():
    for paper in load_papers():
        rows = cited_rows(paper)
        citations = load_citations(paper)  # raises when a cited row has no entry
        assert bool(citations) == bool(rows), paper.id
        for citation in citations:
            for entry in citation.published:
                # a repository at a commit, a document's table or page, or an issue thread, and the text quoted
                assert re.search(r"@[0-9a-f]{7,}|Table|page|abstract|issue|#\d+", entry.read), (paper.id, entry.read)
                assert "'" in entry.read, (paper.id, entry.read)


def test_the_accuracy_plot_puts_a_measured_row_at_its_measured_cost_and_keeps_the_printed_one(tmp_path):
    from repro.audit.verdicts import Measurement
    from repro.report.plots import PlotSpec, accuracy_cost_plots

    paper = _paper(tmp_path)
    measured_key = ("1", "B-Net [4]", "GFLOPs")
    verdicts = {c.key: judge(c, Measurement(111.2) if c.key == measured_key else None) for c in paper.cells()}
    (plot,) = accuracy_cost_plots(paper.tables["1"], PlotSpec({}), verdicts)
    assert "measured 111 GFLOPs" in plot.svg and "B-Net [4]: the printed cost, 108 GFLOPs" in plot.svg
    assert plot.svg.count(': the printed cost, ') == 1  # one printed mark: the only measured row
    (unmeasured,) = accuracy_cost_plots(paper.tables["1"], PlotSpec({}), {})
    assert "printed cost" not in unmeasured.svg


COPIED = """\
tables:
  - table: "1"
    caption: Compared methods.
    columns:
      - {label: Params, unit: M, kind: params}
      - {label: GFLOPs, unit: GFLOPs, kind: flops}
    rows:
      - {label: "P-Net [3]", values: [27.2, 19.16]}
      - {label: "Q-Net [4]", values: [27.2, 19.16]}
      - {label: "R-Net [5]", values: [30.1, 19.16]}
"""


def test_rows_of_two_models_printing_the_same_numbers_are_a_copy_when_a_measurement_says_so(tmp_path):
    from repro.audit.verdicts import Measurement

    folder = write_paper(tmp_path / "papers", tables=COPIED, claims="claims: []\n")
    paper = load_paper(folder)
    q_net = {("1", "Q-Net [4]", "Params"): 35.4, ("1", "Q-Net [4]", "GFLOPs"): 40.96}

    def copies(measured):
        verdicts = {c.key: judge(c, Measurement(measured[c.key]) if c.key in measured else None)
                    for c in paper.cells()}
        return [f for f in find(Inputs(paper, audit_paper(paper), verdicts)) if f.cause == "a row copied from another"]

    assert copies({}) == []  # the same numbers alone are no evidence
    (copy,) = copies(q_net)
    assert copy.severity == ERROR and set(copy.cells) == {(t, r, c) for t, r, c in q_net} | {
        ("1", "P-Net [3]", "Params"), ("1", "P-Net [3]", "GFLOPs")}
    assert "different models print the same Params 27.2, GFLOPs 19.16" in copy.title and "measures 35.4" in copy.title
    assert set(copy.deviating) == set(q_net)  # the deviations it explains are not findings of their own


def test_a_row_whose_source_was_never_read_says_so_not_just_not_found(tmp_path):
    """STC in FASTER's Table 7: nothing of its source was read, which is not the same as a source read that
    lacks the number (A-Net's FLOPs here)."""
    read = ('    published:\n      - {cell: "{1|C-Net [5]|Top-1}", value: "70.6", setting: same, '
            'configuration: "C-Net",\n         read: "c.pdf Table 2"}\n')
    assert read in CITATIONS
    searched = '    not_found: "no code or results page of C-Net"\n'
    paper = _paper(tmp_path, citations=CITATIONS.replace(read, searched + "    unread: true\n"))
    checks = check_citations(paper, load_citations(paper))
    unread = checks[("1", "C-Net [5]", "Top-1")]
    assert unread.verdict == NOT_FOUND and not unread.source_read and unread.short == "no source read"
    assert unread.text() == "no source of this row was read: no code or results page of C-Net"
    assert checks[("1", "A-Net [3]", "GFLOPs")].short == "not found"  # its source was read, without the number
    paper = _paper(tmp_path / "read", citations=CITATIONS.replace(read, searched))  # read, and the number absent
    assert check_citations(paper, load_citations(paper))[("1", "C-Net [5]", "Top-1")].short == "not found"
    paper = _paper(tmp_path / "bad", citations=CITATIONS.replace(read, read + "    unread: true\n"))
    with pytest.raises(DataError, match="unread: true only for an entry with no published numbers"):
        load_citations(paper)
