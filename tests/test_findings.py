"""Findings: root causes computed from the arithmetic, declared ones re-checked, sizes in the paper's units."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from repro import cli
from repro.audit.claims import audit_paper
from repro.audit.findings import ERROR, MINOR, QUOTED, READING, SLIP, UNCHECKED, Inputs, find
from repro.audit.papers import load_paper
from repro.audit.verdicts import Measurement, judge
from repro.errors import DataError

from conftest import write_paper

TABLES = """\
tables:
  - table: "1"
    caption: Per-clip cost by clip length.
    columns:
      - {label: GFLOPs, unit: GFLOPs, kind: flops}
      - {label: Top-1, unit: "%", kind: accuracy}
    rows:
      - {label: 8f, values: [3.2, 80.12]}
      - {label: 16f, values: [6.0, 89.08]}
      - {label: 32f, values: [12.8, 60.0]}
      - {label: 64f, values: [25.6, 34.6]}
"""

CLAIMS = """\
claims:
  - id: acc-8f
    quote: "8f reaches 89.08% and 16f 80.12%."
    stated: 89.08
    unit: "%"
    expr: "{1|8f|Top-1}"
  - id: acc-16f
    quote: "8f reaches 89.08% and 16f 80.12%."
    stated: 80.12
    unit: "%"
    expr: "{1|16f|Top-1}"
  - id: share
    quote: "32f reaches 57.6% once 2.28 points of label noise are taken off."
    stated: 57.6
    unit: "%"
    expr: "{1|32f|Top-1} - 2.28"
  - id: gap
    quote: "64f is 50 points below 16f."
    stated: 50
    unit: pp
    expr: "{1|16f|Top-1} - {1|64f|Top-1}"
  - id: gap-bound
    quote: "64f is 50 points below 16f."
    reading: alternative
    stated: 50
    op: ge
    unit: pp
    expr: "{1|16f|Top-1} - {1|64f|Top-1}"
  - id: figure
    quote: "Fig. 2 shows 70%."
    stated: 70
    expr: null
    unchecked: only in a figure
relations:
  - id: l16-is-2x-l8
    text: "cost doubles with the clip length"
    stated: "{1|16f|GFLOPs}"
    expr: "2 * {1|8f|GFLOPs}"
  - id: l32-is-2x-l16
    text: "cost doubles with the clip length"
    stated: "{1|32f|GFLOPs}"
    expr: "2 * {1|16f|GFLOPs}"
  - id: l64-is-2x-l32
    text: "cost doubles with the clip length"
    stated: "{1|64f|GFLOPs}"
    expr: "2 * {1|32f|GFLOPs}"
"""


def _paper(tmp_path, tables=TABLES, claims=CLAIMS, findings: str | None = None):
    folder = write_paper(tmp_path / "papers", tables=tables, claims=claims)
    if findings is not None:
        (folder / "findings.yaml").write_text(textwrap.dedent(findings))
    return load_paper(folder)


def _find(paper, measured=None):
    verdicts = {c.key: judge(c, (measured or {}).get(c.key)) for c in paper.cells()}
    return find(Inputs(paper, audit_paper(paper), verdicts))


def test_one_misprinted_cell_is_one_finding_that_explains_its_symptoms(tmp_path):
    paper = _paper(tmp_path)
    found = _find(paper)
    [misprint] = [f for f in found if f.cause == "misprinted cell"]
    assert misprint.severity == ERROR and misprint.cells == (("1", "16f", "GFLOPs"),)
    assert set(misprint.claims) == {"l16-is-2x-l8", "l32-is-2x-l16"}
    assert misprint.size.text() == "+0.4 GFLOPs"  # printed 6.0, the others imply 6.4
    assert "printed 6.0" in misprint.title and "imply 6.4" in misprint.title
    # No other finding repeats its symptoms, and the relation that holds is in none.
    others = [c for f in found if f is not misprint for c in f.claims]
    assert not set(others) & set(misprint.claims) and "l64-is-2x-l32" not in others


def test_a_measured_value_joins_the_misprint_it_supports(tmp_path):
    paper = _paper(tmp_path)
    found = _find(paper, {("1", "16f", "GFLOPs"): Measurement(6.33)})
    [misprint] = [f for f in found if f.cause == "misprinted cell"]
    assert misprint.deviating == (("1", "16f", "GFLOPs"),) and "measured 6.33" in misprint.title
    assert not [f for f in found if f.cause == "measured value deviates"]  # counted once, not twice


def test_swapped_numbers_truncation_reading_and_unchecked(tmp_path):
    found = {f.cause: f for f in _find(_paper(tmp_path))}
    swap = found["two numbers swapped"]
    assert swap.severity == ERROR and set(swap.claims) == {"acc-8f", "acc-16f"}
    assert swap.size.text() == "−8.96 pp"
    slip = found["truncated number"]  # 60.0 - 2.28 = 57.72 (57.67 to 57.77), printed 57.6
    assert slip.severity == SLIP and slip.claims == ("share",) and slip.size.text() == "+0.12 pp"
    reading = found["holds under one reading"]  # 89.08 - 34.6 = 54.48: not "50", but "at least 50" holds
    assert reading.severity == READING and reading.claims == ("gap",)
    assert reading.title.endswith("fails read as 50 pp (the tables give 54.5) and holds read as ≥ 50 pp")
    assert found["cannot be checked"].severity == UNCHECKED and found["cannot be checked"].claims == ("figure",)


def test_a_claim_off_by_more_than_a_digit_is_an_error_not_a_slip(tmp_path):
    claims = CLAIMS.replace("stated: 57.6\n", "stated: 55.0\n")
    found = {f.cause: f for f in _find(_paper(tmp_path, claims=claims))}
    assert "truncated number" not in found
    assert found["the text contradicts its tables"].size.text() == "+2.72 pp"


DECLARED = """\
findings:
  - id: l64-copies
    severity: error
    cause: copied number
    title: "64f prints twice 32f, by construction"
    explains: [l16-is-2x-l8]
    evidence:
      - {text: "64f is twice 32f", stated: "{1|64f|GFLOPs}", expr: "2 * {1|32f|GFLOPs}"}
"""


def test_a_declared_finding_explains_its_claims_and_is_rechecked(tmp_path):
    paper = _paper(tmp_path, findings=DECLARED)
    found = _find(paper)
    declared = next(f for f in found if f.id == "l64-copies")
    assert declared.claims == ("l16-is-2x-l8",) and declared.source.endswith("findings.yaml:2")
    assert not any("l16-is-2x-l8" in f.claims for f in found if f is not declared)
    # Its evidence no longer holds once the table changes: the audit fails loudly, naming file and line.
    stale = _paper(tmp_path / "b", tables=TABLES.replace("[25.6, 34.6]", "[26.6, 34.6]"), findings=DECLARED)
    with pytest.raises(DataError, match=r"findings.yaml:8: findings \(l64-copies\)\.evidence\[0\]: "
                                        r"'64f is twice 32f' to hold .*no longer holds"):
        _find(stale)
    # So does a finding whose symptom is gone.
    fixed = _paper(tmp_path / "c", tables=TABLES.replace("[6.0, 89.08]", "[6.4, 89.08]"), findings=DECLARED)
    with pytest.raises(DataError, match=r"findings.yaml:6: .*explains: l16-is-2x-l8 to fail .*it is consistent"):
        _find(fixed)


def test_repro_audit_fails_on_a_stale_finding_with_file_and_line(tmp_path, monkeypatch, capsys):
    root = tmp_path / "papers"
    _paper(tmp_path, tables=TABLES.replace("[25.6, 34.6]", "[26.6, 34.6]"), findings=DECLARED)
    monkeypatch.setenv("REPRO_PAPERS", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    assert cli.main(["audit", "--paper", "toy"]) == 2
    err = capsys.readouterr().err
    assert "findings.yaml:8" in err and "no longer holds" in err and "Traceback" not in err


def test_malformed_findings_are_named_by_line(tmp_path):
    bad = DECLARED.replace("explains: [l16-is-2x-l8]", "explains: [no-such-claim]")
    with pytest.raises(DataError, match=r"findings.yaml:6: .*explains: claim ids of claims.yaml; 'no-such-claim'"):
        _find(_paper(tmp_path, findings=bad))
    bad = DECLARED.replace("severity: error", "severity: fatal")
    declarable = "error, slip, reading, quoted, unchecked"  # a minor mismatch is computed, never declared
    with pytest.raises(DataError, match=rf"findings.yaml:3: .*severity: one of {declarable}, got 'fatal'"):
        _find(_paper(tmp_path / "b", findings=bad))


def test_findings_command_prints_and_exits_zero(tmp_path, monkeypatch, capsys):
    _paper(tmp_path)
    monkeypatch.setenv("REPRO_PAPERS", str(tmp_path / "papers"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    assert cli.main(["findings"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("toy: ") and "misprinted" not in out.split("\n")[0]
    assert "error, off by +0.4 GFLOPs" in out
    assert max(len(line) for line in out.splitlines()) <= 120
    assert cli.main(["findings", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["cause"] for r in rows} >= {"misprinted cell", "two numbers swapped", "truncated number"}
    assert all(r["paper"] == "toy" and r["severity"] in ("error", "slip", "reading", "quoted", "unchecked")
               for r in rows)
    assert cli.main(["audit", "--json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert {c["id"] for c in audit["claims"]} >= {"share", "l16-is-2x-l8"} and audit["findings"] == rows


def test_the_shipped_papers_declared_findings_hold_and_name_their_causes():
    from repro.audit.papers import load_papers

    for paper in load_papers():
        found = _find(paper)  # raises if a declared finding went stale
        assert all(f.size is None or f.size.unit or f.size.proportional for f in found), paper.id
    faster = next(p for p in load_papers() if p.id == "faster")
    [misprint] = [f for f in _find(faster) if f.cause == "misprinted cell"]
    assert misprint.cells == (("2", "R2D-26 / 16-frames", "GFLOPs×Clips / GFLOPs"),)
    assert len(misprint.claims) >= 5  # the relations of Tables 2 and 4 it breaks, as one finding


def test_paper_notes_state_no_verdicts():
    """How a paper was read is typed; what was measured and found is generated. A note that says what
    reproduces would go stale (GCF-Net's once said its FLOPs did not reproduce, after they did)."""
    import re

    from repro.audit.papers import load_papers

    for paper in load_papers():
        said = re.findall(r"[^.]*\b(?:reproduc\w*|deviat\w*|did not match|matches? within)\b[^.]*", paper.notes or "")
        assert not said, f"{paper.id}/paper.yaml notes state a verdict: {said}"



def test_a_reading_of_another_number_of_the_sentence_excuses_nothing(tmp_path):
    """A sentence with two numbers: the one an alternative reading rescues depends on reading; the other,
    contradicted, stays an error of its own."""
    claims = CLAIMS.replace("relations:\n", """\
  - id: gap-other
    quote: "64f is 50 points below 16f."
    stated: 40
    unit: pp
    expr: "{1|32f|Top-1} - {1|64f|Top-1}"
relations:
""")
    found = _find(_paper(tmp_path, claims=claims))
    reading = next(f for f in found if f.cause == "holds under one reading")
    contradicted = next(f for f in found if "gap-other" in f.claims)
    assert reading.claims == ("gap",) and contradicted.severity == ERROR
    assert contradicted.cause == "the text contradicts its tables" and contradicted.size.text() == "−14.6 pp"


def test_a_residual_finding_names_the_correction_it_was_computed_with(tmp_path):
    """A relation that still fails once the misprint is read as the others imply says so: its 'tables give'
    number is not what the page prints."""
    claims = CLAIMS + """\
  - id: l16-is-3x-l8
    text: "16f costs three times 8f"
    stated: "{1|16f|GFLOPs}"
    expr: "3 * {1|8f|GFLOPs}"
"""
    found = _find(_paper(tmp_path, claims=claims))
    [residual] = [f for f in found if f.claims == ("l16-is-3x-l8",)]
    assert residual.title.endswith("(with Table 1 · 16f · GFLOPs read as 6.4)")
    assert residual.size.text() == "+3.2 GFLOPs"  # 9.6 against the printed 6.4 it was judged on


def test_a_quotient_the_printed_digits_leave_unbounded_cannot_be_checked(tmp_path):
    claims = CLAIMS.replace("relations:\n", """\
  - id: per-gflop
    quote: "64f gains 700 points per extra GFLOP."
    stated: 700
    expr: "{1|64f|Top-1} / ({1|64f|GFLOPs} - 25.55)"
relations:
""")
    [result] = [r for r in audit_paper(_paper(tmp_path, claims=claims)) if r.claim.id == "per-gflop"]
    assert result.consistent is None and "a divisor's printed digits reach zero" in result.explanation
    found = _find(_paper(tmp_path / "b", claims=claims))
    [unchecked] = [f for f in found if "per-gflop" in f.claims]
    assert unchecked.cause == "cannot be checked" and "allow any value" in unchecked.detail
    bounded = TABLES.replace("values: [25.6, 34.6]", "values: ['>25.6', 34.6]")  # a cell printed as a bound
    bound_claims = CLAIMS.replace("relations:\n", """\
  - id: cost-64f
    quote: "64f costs 26 GFLOPs."
    stated: 26
    expr: "{1|64f|GFLOPs}"
relations:
""")
    paper = _paper(tmp_path / "c", tables=bounded, claims=bound_claims)
    [result] = [r for r in audit_paper(paper) if r.claim.id == "cost-64f"]
    assert result.consistent is None and "printed as a bound" in result.explanation


def test_a_declared_deviation_goes_stale_once_the_convention_reproduces_it(tmp_path):
    from repro.audit.verdicts import CONVENTION, Verdict

    declared = DECLARED.replace("explains: [l16-is-2x-l8]", "deviates: ['{1|16f|GFLOPs}']")
    declared = declared[:declared.index("    evidence:")]
    paper = _paper(tmp_path, findings=declared)
    key = ("1", "16f", "GFLOPs")
    verdicts = {c.key: judge(c, None) for c in paper.cells()}
    verdicts[key] = Verdict(CONVENTION, 6.0, 12.0, measurement=Measurement(12.0, alternative=6.0))
    with pytest.raises(DataError, match=r"reproduces it under the paper's counting convention"):
        find(Inputs(paper, audit_paper(paper), verdicts))


def test_sizes_read_in_the_papers_units():
    from repro.audit.findings import Size

    assert Size(1.0, 1.889, "x", 3).text() == "+0.889"  # a difference of ratios: a plain number, not "×"
    assert Size(10.0, 80.0, "GFLOPs", 1, proportional=True).text() == "×8.0"
    assert Size(10.0, 5.0, "GFLOPs", 1, proportional=True).text() == "×0.50"
    assert Size(10.0, 12.0, "GFLOPs", 1, proportional=True).text() == "+2 GFLOPs (+20%)"
    assert Size(57.6, 57.72, "%", 2).text() == "+0.12 pp"


def test_a_printed_zero_is_the_cut_of_values_on_either_side():
    from repro.audit.suspects import _truncates

    assert _truncates(0.0, 1, -0.05, -0.04)  # −0.05 cut to one decimal prints 0.0
    assert _truncates(0.0, 1, -2.0, 0.05)
    assert not _truncates(0.0, 1, 0.1, 0.2) and not _truncates(0.0, 1, -0.3, -0.1)


def test_only_sentences_nothing_can_check_are_folded_and_ids_are_unique():
    from repro.audit.findings import CANNOT_CHECK, Finding, _unique_ids, shown_first

    declared = Finding("head", UNCHECKED, "inner width not printed", "…")
    sentence = Finding("fig", UNCHECKED, CANNOT_CHECK, "…")
    assert shown_first(declared) and not shown_first(sentence)
    assert [f.id for f in _unique_ids([declared, declared, sentence])] == ["head", "head-2", "fig"]


def test_the_relations_plot_draws_only_what_rounding_alone_judges(tmp_path):
    """A bar that misses zero means 'fails' only for an equality without tolerance: a bound or an 'about'
    relation would be drawn as failing while it holds, so the plot leaves them out."""
    from repro.report.plots import relations_plot
    from repro.report.view import build_view

    claims = CLAIMS + """\
  - id: l64-above-l8
    text: "64f costs more than 8f"
    stated: "{1|64f|GFLOPs}"
    op: gt
    expr: "{1|8f|GFLOPs}"
"""
    paper = _paper(tmp_path, claims=claims)
    [plot] = relations_plot(build_view(paper, {}), paper.tables["1"])
    assert len(re.findall(r"; (?:holds|fails) \(", plot.svg)) == 3
    assert "l64-above-l8" not in plot.svg and "l16-is-2x-l8" in plot.svg


def test_one_quoted_cost_printed_in_two_rows_is_one_finding(tmp_path):
    """A cited model listed under two settings prints its cost twice; measured, both deviate for one cause.
    Another model's deviation with the same numbers stays a finding of its own."""
    tables = """\
    tables:
      - table: "1"
        caption: Compared methods.
        columns:
          - {label: GFLOPs, unit: GFLOPs, kind: flops}
        rows:
          - {label: "Pretrained / X-Net [3]", values: [108]}
          - {label: "Scratch / X-Net [3]", values: [108]}
          - {label: "Scratch / Y-Net [4]", values: [108]}
    """
    paper = _paper(tmp_path, tables=tables, claims="claims: []\n")
    measured = {c.key: Measurement(111.2) for c in paper.cells()}
    found = [f for f in _find(paper, measured) if f.deviating]
    assert sorted(len(f.deviating) for f in found) == [1, 2]
    pair = next(f for f in found if len(f.deviating) == 2)
    assert pair.title == ("Table 1 · Pretrained / X-Net [3] and Scratch / X-Net [3] · GFLOPs: printed 108, "
                          "our build of the cited model measures 111.2")
    # Nothing read shows the quotation wrong: our build differs, which is no error of the paper's.
    assert {f.severity for f in found} == {QUOTED} and "not read here" in pair.detail


@pytest.mark.parametrize("measured_gap, merged", [(55.0, True), (30.0, False)])
def test_a_measured_contradiction_that_the_other_reading_explains_joins_the_reading(tmp_path, measured_gap, merged):
    """FASTER's "4% of its GFLOPs": printed and measured, the sentence fails as first read and holds as a
    bound. That is one finding, not an error beside a reading; a measurement the bound fails too is an error."""
    from repro.report.view import claims_on_measured_values

    paper = _paper(tmp_path)
    values = {("1", "16f", "Top-1"): 80.0, ("1", "64f", "Top-1"): 80.0 - measured_gap}
    verdicts = {c.key: judge(c, Measurement(values[c.key]) if c.key in values else None) for c in paper.cells()}
    found = find(Inputs(paper, audit_paper(paper), verdicts, claims_on_measured_values(paper, verdicts)))
    reading = next(f for f in found if f.cause == "holds under one reading")
    errors = [f for f in found if "gap" in f.measured_claims and f is not reading]
    assert reading.claims == ("gap",) and ("gap" in reading.measured_claims) is merged
    assert len(errors) == (0 if merged else 1) and all(f.severity == ERROR for f in errors)


def test_a_sentence_read_as_several_numbers_names_each_with_its_rows_and_what_it_is(tmp_path):
    """A sentence that prints no number, read as one quantity over two pairs of rows: the finding says what
    the quantity is and gives each pair's value, not just the worst one."""
    claims = """\
claims:
  - id: ratio-short
    quote: "Cost grows in proportion to accuracy."
    quantity: the cost ratio of two rows over their accuracy ratio
    stated: 1.00
    unit: x
    op: approx
    expr: "({1|16f|GFLOPs} / {1|8f|GFLOPs}) / ({1|16f|Top-1} / {1|8f|Top-1})"
  - id: ratio-long
    quote: "Cost grows in proportion to accuracy."
    quantity: the cost ratio of two rows over their accuracy ratio
    stated: 1.00
    unit: x
    op: approx
    expr: "({1|64f|GFLOPs} / {1|32f|GFLOPs}) / ({1|64f|Top-1} / {1|32f|Top-1})"
"""
    [finding] = [f for f in _find(_paper(tmp_path, claims=claims)) if f.severity == ERROR]
    assert set(finding.claims) == {"ratio-short", "ratio-long"}
    assert ("read as the cost ratio of two rows over their accuracy ratio ≈ 1.00×; the tables give 1.686 for "
            "16f vs 8f and 3.468 for 64f vs 32f") in finding.title


def test_a_sentence_with_two_different_numbers_names_each_beside_its_own(tmp_path):
    claims = """\
claims:
  - id: gain
    quote: "16f beats 8f by 5.0% with only 40% of 32f's GFLOPs."
    stated: 5.0
    unit: pp
    expr: "{1|16f|Top-1} - {1|8f|Top-1}"
  - id: share
    quote: "16f beats 8f by 5.0% with only 40% of 32f's GFLOPs."
    stated: 40
    unit: "%"
    expr: "100 * {1|16f|GFLOPs} / {1|32f|GFLOPs}"
"""
    [finding] = [f for f in _find(_paper(tmp_path, claims=claims)) if f.severity == ERROR]
    assert set(finding.claims) == {"gain", "share"}
    assert finding.title.endswith("states 5.0 pp; the tables give 8.96; 46.9 where it states 40%"), finding.title


ABLATION = """\
tables:
  - table: "2"
    caption: Ablation.
    columns:
      - {{label: Top-1, unit: "%", kind: accuracy}}
    rows:
      - {{label: Both, values: [70.5]}}
      - {{label: Fusion only, values: [69.01]}}
      - {{label: Attention only, values: [{attention}]}}
"""
RESTATED = """\
claims:
  - id: fusion-only
    quote: "Fusion only reaches {stated}%."
    stated: {stated}
    unit: "%"
    expr: "{{2|Fusion only|Top-1}}"
"""
COMPARED = """\
  - id: attention-beats-fusion
    quote: "Attention only beats fusion only."
    stated: 0
    op: gt
    unit: pp
    expr: "{2|Attention only|Top-1} - {2|Fusion only|Top-1}"
"""


@pytest.mark.parametrize("stated, attention, compared, severity, summary", [
    # within a measurement's tolerance (1 pp) and the comparison holds with either number: minor
    (69.07, 69.5, True, MINOR,
     "with the text's number, the one claim that reads it keeps its verdict: attention-beats-fusion"),
    # the text's number would turn the comparison over: an error, saying what changes
    (69.07, 69.04, True, ERROR, "with the text's number, attention-beats-fusion no longer holds"),
    # beyond the tolerance, though no verdict changes: an error
    (66.5, 69.5, True, ERROR,
     "with the text's number, the one claim that reads it keeps its verdict: attention-beats-fusion"),
    # nothing else reads the cell, so nothing shows the mismatch harmless: an error
    (69.07, 69.5, False, ERROR, ""),
])
def test_a_text_number_off_its_cell_is_minor_only_when_small_and_no_verdict_changes(
        tmp_path, stated, attention, compared, severity, summary):
    claims = RESTATED.format(stated=stated) + (COMPARED if compared else "")
    paper = _paper(tmp_path, tables=ABLATION.format(attention=attention), claims=claims)
    [mismatch] = [f for f in _find(paper) if "fusion-only" in f.claims]
    assert mismatch.severity == severity and mismatch.cause == "the text contradicts its tables"
    assert mismatch.recheck_summary == summary
    assert mismatch.rechecked_cells == (("2", "Fusion only", "Top-1"),)
