"""Claims over measured values are judged with the cells' own tolerance: no false alarm for float residue, and
a claim never disagrees with the verdicts of the cells it restates."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from repro.audit.papers import load_paper
from repro.audit.verdicts import REPRODUCED, Measurement, judge
from repro.report.view import claims_on_measured_values

from conftest import write_paper

KINDS = {"flops": "GFLOPs", "params": "M", "accuracy": "%"}


def _paper(root, kind: str, a: str, b: str, factor: int, stated_claim: str):
    tables = f"""\
tables:
  - table: "1"
    caption: Two cells of one kind.
    columns:
      - {{label: V, unit: "{KINDS[kind]}", kind: {kind}}}
    rows:
      - {{label: A, values: ["{a}"]}}
      - {{label: B, values: ["{b}"]}}
"""
    claims = f"""\
claims:
  - id: restates-a
    quote: "A is {stated_claim}."
    stated: "{stated_claim}"
    expr: "{{1|A|V}}"
relations:
  - id: a-is-k-b
    text: "A is {factor} times B"
    stated: "{{1|A|V}}"
    expr: "{factor} * {{1|B|V}}"
"""
    return load_paper(write_paper(root, tables=tables, claims=claims))


@settings(max_examples=120, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), b=st.floats(0.5, 300), factor=st.integers(1, 8),
       places=st.integers(0, 2), u_a=st.floats(-1, 1), u_b=st.floats(-1, 1))
def test_a_relation_that_holds_within_the_cells_tolerance_is_never_inconsistent(tmp_path_factory, kind, b, factor,
                                                                                places, u_a, u_b):
    """Measured A and B anywhere within their tolerance of values that satisfy A = k * B exactly: consistent."""
    root = tmp_path_factory.mktemp("p")
    exact_b = round(b, places)
    exact_a = factor * exact_b
    paper = _paper(root, kind, f"{exact_a:.{places}f}", f"{exact_b:.{places}f}", factor, f"{exact_a:.{places}f}")
    cells = {c.row: c for c in paper.cells()}
    allowed = {row: judge(cell, Measurement(cell.value)).allowed for row, cell in cells.items()}
    measured = {"A": exact_a + u_a * allowed["A"] * 0.999, "B": exact_b + u_b * allowed["B"] * 0.999}
    verdicts = {cell.key: judge(cell, Measurement(measured[row])) for row, cell in cells.items()}
    results = {r.claim.id: r for r in claims_on_measured_values(paper, verdicts)}
    assert all(v.status == REPRODUCED for v in verdicts.values())
    assert results["a-is-k-b"].consistent is True, results["a-is-k-b"].explanation
    assert results["restates-a"].consistent is True, results["restates-a"].explanation


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(sorted(KINDS)), value=st.floats(1, 900), places=st.integers(0, 2),
       off=st.floats(-0.5, 0.5))
def test_a_claim_that_restates_a_cell_agrees_with_the_cells_verdict(tmp_path_factory, kind, value, places, off):
    root = tmp_path_factory.mktemp("p")
    text = f"{value:.{places}f}"
    paper = _paper(root, kind, text, text, 1, text)
    cell = paper.cell("1", "A", "V")
    measured = cell.value * (1 + off) + off  # from far off to inside the tolerance
    verdicts = {c.key: judge(c, Measurement(measured)) for c in paper.cells()}
    [result] = [r for r in claims_on_measured_values(paper, verdicts) if r.claim.id == "restates-a"]
    assert result.consistent is (verdicts[cell.key].status == REPRODUCED), (text, measured, result.explanation)


def test_float_residue_is_no_inconsistency(tmp_path):
    """FASTER's case: 6.333 and 2 x 3.1667 differ in the fourth digit; measured, both reproduce their cells."""
    paper = _paper(tmp_path, "flops", "6.3", "3.2", 2, "6.3")
    verdicts = {("1", "A", "V"): judge(paper.cell("1", "A", "V"), Measurement(6.3334)),
                ("1", "B", "V"): judge(paper.cell("1", "B", "V"), Measurement(3.16712))}
    [relation] = [r for r in claims_on_measured_values(paper, verdicts) if r.claim.id == "a-is-k-b"]
    assert relation.consistent is True


def test_a_real_deviation_still_fails(tmp_path):
    paper = _paper(tmp_path, "params", "8.11", "8.00", 1, "8.11")
    verdicts = {("1", "A", "V"): judge(paper.cell("1", "A", "V"), Measurement(8.48)),
                ("1", "B", "V"): judge(paper.cell("1", "B", "V"), Measurement(8.00))}
    results = {r.claim.id: r for r in claims_on_measured_values(paper, verdicts)}
    assert results["a-is-k-b"].consistent is False and results["restates-a"].consistent is False


def test_a_rounded_number_the_sentence_computes_keeps_its_rounding_on_measured_values(tmp_path):
    """FASTER's "only 5% of the GFLOPs": measured, the share is 4.8, which the printed 5 rounds from; a
    measured 4.4 does not. The "from the measurements" column shows the measured number, not the printed cell."""
    from repro.audit.claims import computed_text

    tables = """\
tables:
  - table: "1"
    caption: Costs.
    columns:
      - {label: GFLOPs, unit: GFLOPs, kind: flops}
    rows:
      - {label: Ours, values: ["17.3"]}
      - {label: Theirs, values: ["359"]}
"""
    claims = """\
claims:
  - id: share
    quote: "Ours uses only 5% of Theirs' GFLOPs."
    stated: 5
    unit: "%"
    expr: "100 * {1|Ours|GFLOPs} / {1|Theirs|GFLOPs}"
  - id: theirs
    quote: "Theirs costs 359 GFLOPs."
    stated: 359
    unit: GFLOPs
    expr: "{1|Theirs|GFLOPs}"
"""
    paper = load_paper(write_paper(tmp_path, tables=tables, claims=claims))

    def on(ours: float, theirs: float) -> dict:
        values = {"Ours": ours, "Theirs": theirs}
        verdicts = {c.key: judge(c, Measurement(values[c.row])) for c in paper.cells()}
        return {r.claim.id: r for r in claims_on_measured_values(paper, verdicts)}

    held = on(18.1, 377.1)  # 4.80%
    assert held["share"].consistent is True, held["share"].explanation
    assert held["theirs"].consistent is False and computed_text(held["theirs"], paper, measured=True) == "377.1"
    assert computed_text(held["theirs"], paper) == "359"  # on the printed tables: the cell as printed
    assert on(16.6, 377.1)["share"].consistent is False  # 4.40% does not round to 5
