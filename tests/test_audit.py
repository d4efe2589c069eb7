"""The audit's arithmetic: intervals from printed precision, and each comparison operator."""
from __future__ import annotations

import math

import pytest

from repro.audit.claims import audit_paper, check, ordered, published_lookup
from repro.errors import ExpressionError
from repro.audit.expr import Interval, parse
from repro.audit.papers import load_paper

from conftest import write_paper


def test_interval_arithmetic_by_hand():
    a, b = Interval.around(30.0, 0.05), Interval.around(3.2, 0.05)
    diff = a - b
    assert (diff.lo, diff.mid, diff.hi) == pytest.approx((26.7, 26.8, 26.9))
    ratio = a / b
    assert (ratio.lo, ratio.mid, ratio.hi) == pytest.approx((29.95 / 3.25, 30 / 3.2, 30.05 / 3.15))
    prod = Interval.exact(-2.0) * Interval.around(1.0, 0.5)
    assert (prod.lo, prod.hi) == (-3.0, -1.0)
    assert abs(Interval(-1.0, 0.5, 2.0)) == Interval(0.0, 0.5, 2.0)
    assert (Interval(2.0, 3.0, 4.0) ** Interval.exact(2.0)).hi == 16.0


def test_division_by_an_interval_spanning_zero_is_unbounded():
    q = Interval.exact(1.0) / Interval.around(0.2, 0.5)
    assert q.lo == -math.inf and q.hi == math.inf and q.mid == pytest.approx(5.0)


def test_expression_functions_and_refs():
    expr = parse("mean({1|A|x}, {1|B|x}) + max([{1|A|x}, 2]) - abs(-1)")
    assert expr.refs == (("1", "A", "x"), ("1", "B", "x"), ("1", "A", "x"))
    value = expr.evaluate({("1", "A", "x"): Interval.exact(4.0), ("1", "B", "x"): Interval.exact(2.0)})
    assert value.mid == 3.0 + 4.0 - 1.0


@pytest.mark.parametrize("bad", ["{1|A}", "{1|A|x", "open('f')", "x.y", "1 if 1 else 2", "{1|A|x} < 2"])
def test_expression_rejects(bad):
    with pytest.raises(ExpressionError):
        parse(bad)


def test_toy_audit(toy_paper):
    findings = {f.claim.id: f for f in audit_paper(toy_paper)}
    gain = findings["gain"]
    # 73.20 - 70.0 = 3.2 within [3.145, 3.255] vs stated [3.15, 3.25]
    assert gain.consistent is True and gain.computed.mid == pytest.approx(3.2)
    assert gain.computed.lo == pytest.approx(73.195 - 70.05) and gain.computed.hi == pytest.approx(73.205 - 69.95)
    assert findings["half"].consistent is True  # 15/30 = 0.5
    assert findings["figure-only"].consistent is None and findings["figure-only"].status == "unchecked"
    wrong = findings["wrong"]  # 30.0 vs 2 * 1,024
    assert wrong.consistent is False and wrong.computed.mid == 2048 and wrong.stated.mid == 30.0
    assert [f.claim.id for f in ordered(list(findings.values()))][0] == "wrong"


def _claim(tmp_path, stated: str, expr: str, op: str = "eq", extra: str = ""):
    claims = f"""\
claims:
  - id: c
    quote: q
    stated: {stated}
    op: {op}
    expr: "{expr}"
{extra}"""
    paper = load_paper(write_paper(tmp_path, claims=claims))
    return check(paper.claims[0], published_lookup(paper))


@pytest.mark.parametrize("stated, expr, consistent", [
    ("3.2", "{1|Ours|Top-1} - {1|Base|Top-1}", True),
    ("3.3", "{1|Ours|Top-1} - {1|Base|Top-1}", True),    # [3.145, 3.255] touches [3.25, 3.35]
    ("3.4", "{1|Ours|Top-1} - {1|Base|Top-1}", False),   # gap 0.095
    ("3", "{1|Ours|Top-1} - {1|Base|Top-1}", True),      # a bare 3 means 2.5..3.5
    ("50", "100 * {1|Ours|GFLOPs} / {1|Base|GFLOPs}", True),
    ("51", "100 * {1|Ours|GFLOPs} / {1|Base|GFLOPs}", False),  # 15.0/30.0 is at most 50.34
])
def test_eq_agrees_within_printed_precision(tmp_path, stated, expr, consistent):
    assert _claim(tmp_path, stated, expr).consistent is consistent


@pytest.mark.parametrize("op, stated, consistent", [
    ("gt", "3", True), ("gt", "3.5", False), ("lt", "3.5", True), ("lt", "3", False),
    ("ge", "3.255", True), ("ge", "3.26", False), ("le", "3.145", True), ("le", "3.14", False),
])
def test_inequalities_treat_the_stated_number_as_an_exact_bound(tmp_path, op, stated, consistent):
    assert _claim(tmp_path, stated, "{1|Ours|Top-1} - {1|Base|Top-1}", op).consistent is consistent


def test_approx_uses_the_stated_point_and_its_tolerance(tmp_path):
    # 3.2 +- 0.055 against "about 3.5" with 10%: gap to 3.5 is 0.245 <= 0.35
    assert _claim(tmp_path / "a", "3.5", "{1|Ours|Top-1} - {1|Base|Top-1}", "approx").consistent is True
    # against "about 4": gap 0.745 > 0.4
    assert _claim(tmp_path / "b", "4", "{1|Ours|Top-1} - {1|Base|Top-1}", "approx").consistent is False
    tight = "    tolerance: {rel: 0.05}\n"
    assert _claim(tmp_path / "c", "3.5", "{1|Ours|Top-1} - {1|Base|Top-1}", "approx", tight).consistent is False


def test_count_cells_are_exact(tmp_path):
    tables = """\
tables:
  - table: "1"
    caption: c
    columns:
      - {label: GFLOPs, unit: GFLOPs, kind: flops}
      - {label: Clips, unit: clips, kind: count}
    rows:
      - {label: A, values: [67.7, 8]}
      - {label: B, values: [542.1, 1]}
"""
    claims = """\
relations:
  - id: total
    text: per-clip cost times clips
    stated: "{1|B|GFLOPs}"
    expr: "{1|A|GFLOPs} * {1|A|Clips}"
"""
    paper = load_paper(write_paper(tmp_path, tables=tables, claims=claims))
    finding = audit_paper(paper)[0]
    # 67.7 * 8 = 541.6 with range 541.2..542.0 when 8 is exact; +-0.5 clips would have let it pass
    assert finding.consistent is False
    assert finding.computed.hi == pytest.approx(67.75 * 8)


def test_audit_json_keys(toy_paper):
    item = audit_paper(toy_paper)[0].as_json()
    assert {"paper", "claim", "stated", "computed", "consistent"} <= set(item)
    assert item["claim"] == "Ours beats Base by 3.2%." and isinstance(item["consistent"], bool)


def test_the_papers_contradictions_are_found():
    """Known arithmetic slips, worked out by hand from the printed tables."""
    from repro.audit.papers import load_papers

    status = {(f.claim.paper, f.claim.id): f.consistent for p in load_papers() for f in audit_paper(p)}
    inconsistent = {key for key, ok in status.items() if ok is False}
    # GCF-Net's text prints 69.07 for the inter-clip-only ablation; its Table 2 prints 69.01.
    assert ("gcfnet", "ablation-inter-clip-only") in inconsistent
    # KPSEM's text: 1.8% behind TSM on Something-Something v1; Table 1: 49.7 - 48.1 = 1.6.
    assert ("kpsem", "sthv1-gap-to-tsm") in inconsistent
