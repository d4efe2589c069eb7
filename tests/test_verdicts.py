"""Verdict boundaries: reproduced, deviates (signed, absolute and relative), not measured."""
from __future__ import annotations

import pytest

from repro.audit.papers import load_paper
from repro.audit.verdicts import (DEVIATES, NEEDS_DATA, NOT_MEASURED, REPRODUCED, Measurement, Reason,
                                  default_tolerances, judge)

from conftest import TABLES_YAML, write_paper


def test_tolerances_are_data_for_every_kind():
    tolerances = default_tolerances()
    assert tolerances["params"].rel == 0.005 and tolerances["flops"].rel == 0.01
    assert tolerances["accuracy"].abs == 1.0 and tolerances["count"].abs == 0


@pytest.mark.parametrize("measured, status", [
    (15.15, REPRODUCED),   # +1.0% of 15.0: exactly at the flops tolerance
    (14.85, REPRODUCED),
    (15.1501, DEVIATES),
    (14.8499, DEVIATES),
])
def test_flops_boundary(toy_paper, measured, status):
    verdict = judge(toy_paper.cell("1", "Ours", "GFLOPs"), Measurement(measured))
    assert verdict.status == status
    if status == DEVIATES:
        assert verdict.delta == pytest.approx(measured - 15.0)
        assert verdict.relative == pytest.approx((measured - 15.0) / 15.0)
        assert verdict.label().startswith("deviates by ")


def test_accuracy_uses_absolute_points(toy_paper):
    cell = toy_paper.cell("1", "Ours", "Top-1")  # 73.20
    assert judge(cell, Measurement(72.2)).status == REPRODUCED
    low = judge(cell, Measurement(72.19))
    assert low.status == DEVIATES and low.delta == pytest.approx(-1.01) and low.delta < 0


def test_printed_precision_is_a_floor(tmp_path):
    # A count of "1,024" with tolerance abs 0 still allows nothing; an integer-printed FLOPs
    # value allows half a unit even when 1% would be less.
    tables = TABLES_YAML.replace("[70.0, 30.0]", "[70.0, 30]")
    paper = load_paper(write_paper(tmp_path, tables=tables, claims="claims: []\n"))
    cell = paper.cell("1", "Base", "GFLOPs")
    assert judge(cell, Measurement(30.45)).status == REPRODUCED   # 1% is 0.3, half a unit is 0.5
    assert judge(cell, Measurement(30.51)).status == DEVIATES


def test_per_cell_override(tmp_path):
    tables = TABLES_YAML.replace("[73.20, 15.0]", "[73.20, {value: 15.0, tolerance: {rel: 0.1}}]")
    paper = load_paper(write_paper(tmp_path, tables=tables, claims="claims: []\n"))
    cell = paper.cell("1", "Ours", "GFLOPs")
    assert cell.value == 15.0
    assert judge(cell, Measurement(16.4)).status == REPRODUCED
    assert judge(cell, Measurement(16.6)).status == DEVIATES


def test_not_measured_gives_a_reason(toy_paper):
    verdict = judge(toy_paper.cell("1", "Ours", "Top-1"), None)
    assert verdict.status == NOT_MEASURED and "needs Kinetics-400" in verdict.reason
    given = judge(toy_paper.cell("1", "Ours", "Top-1"), None, Reason(NEEDS_DATA, "needs GPU"))
    assert given.reason == "needs GPU" and given.cause == NEEDS_DATA and verdict.cause == NEEDS_DATA
    assert "no cost measurement" in judge(toy_paper.cell("1", "Ours", "GFLOPs"), None).reason


def test_proxy_never_reproduces(toy_paper):
    verdict = judge(toy_paper.cell("1", "Ours", "Top-1"), Measurement(73.2, proxy=True))
    assert verdict.status == NOT_MEASURED and verdict.reason.startswith("only a proxy run exists")


def test_cited_rows_say_they_come_from_another_paper():
    from repro.audit.papers import load_papers

    (faster,) = load_papers("faster")
    cited = [c for c in faster.cells() if "[41]" in c.row]
    assert cited and all("another paper ([41])" in judge(c, None).reason for c in cited)


def test_a_printed_bound_is_reproduced_by_any_value_on_its_side(tmp_path):
    tables = TABLES_YAML.replace('values: [70.0, 30.0]', 'values: [70.0, ">107.9"]')
    paper = load_paper(write_paper(tmp_path, tables=tables))
    cell = paper.cell("1", "Base", "GFLOPs")
    assert judge(cell, Measurement(213.5)).status == REPRODUCED  # two-stream I3D: more than the RGB stream
    assert judge(cell, Measurement(100.0)).status == DEVIATES
