"""Cost cells: costs.yaml validation, formulas over measured probes, MLflow and the report."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from conftest import REPO, write_paper
from repro import cli
from repro.measure.costs import CostValue, Meter, Probe, load_costs, measure_paper, rows
from repro.errors import DataError
from repro.audit.papers import load_paper, load_papers

# faster/avg_pool on 2 clips: global pooling, then a 2048 -> 400 classifier per clip.
AVG_POOL_MACS = 2 * 2048 * 400
AVG_POOL_PARAMS = 2048 * 400 + 400

COSTS_YAML = """\
probes:
  head: {model: faster/avg_pool, input: [1, 2, 2048, 1, 7, 7]}
  head_600: {model: faster/avg_pool, args: {num_classes: 600}, input: [1, 2, 2048, 1, 7, 7]}
cells:
  - cell: "{1|Ours|GFLOPs}"
    value: 1e4 * flops(head)
    explain: the toy's published 15.0 is not 16.384
  - cell: "{1|Base|GFLOPs}"
    value: 3e4 * flops(head)
extras:
  - id: head_params
    label: the head's parameters
    unit: M
    value: params(head_600)
"""


def _toy(tmp_path, costs=COSTS_YAML, convention="macs"):
    paper = f"id: toy\ntitle: T\nauthors: [A]\nvenue: V\nyear: 2020\nflops_convention: {convention}\n"
    folder = write_paper(tmp_path / "papers", paper=paper)
    (folder / "costs.yaml").write_text(textwrap.dedent(costs))
    return load_paper(folder)


def test_formula_over_measured_probes(tmp_path):
    costs = measure_paper(load_costs(_toy(tmp_path)), Meter())
    assert costs.probes["head"].macs == AVG_POOL_MACS
    assert costs.probes["head"].second_opinion == pytest.approx(AVG_POOL_MACS, rel=1e-3)
    value = costs.cells[("1", "Ours", "GFLOPs")]
    assert value.value == pytest.approx(1e4 * AVG_POOL_MACS / 1e9)  # 16.384 GFLOPs
    assert not value.counters_disagree
    assert costs.extras["head_params"].value == pytest.approx((2048 * 600 + 600) / 1e6)
    assert costs.probes["head_600"].note == "parameters only"  # no formula reads its MACs: no forward
    row = rows(costs)[0]
    assert row["verdict"] == "deviates" and row["published"] == 15.0 and row["delta"] == pytest.approx(1.384)


def test_flops_convention_counts_a_multiply_add_twice(tmp_path):
    costs = measure_paper(load_costs(_toy(tmp_path, convention="flops")), Meter(second_opinion=False))
    assert costs.cells[("1", "Ours", "GFLOPs")].value == pytest.approx(2e4 * AVG_POOL_MACS / 1e9)
    assert costs.cells[("1", "Ours", "GFLOPs")].second_opinion is None


def test_probes_are_cached_by_model_args_and_input():
    meter = Meter(second_opinion=False)
    probe = Probe("a", "faster/avg_pool", (), ((1, 2, 2048, 1, 7, 7),))
    first = meter.measure(probe)
    assert meter.measure(Probe("b", "faster/avg_pool", (), ((1, 2, 2048, 1, 7, 7),))) is first
    assert meter.measure(Probe("c", "faster/avg_pool", (("num_classes", 10),), ((1, 2, 2048, 1, 7, 7),))) is not first


def test_counters_disagree_beyond_one_percent():
    assert CostValue(100.0, 101.5).counters_disagree
    assert not CostValue(100.0, 100.9).counters_disagree
    assert not CostValue(100.0, None).counters_disagree


@pytest.mark.parametrize("bad, field, expected", [
    ("r2plus1d_50", "probes.head.model", "close matches"),
    ("{model: faster/avg_pool, input: [1, x]}", "probes.head.input", "input shape"),
    ("{model: faster/avg_pool, args: {classes: 3}, input: [1, 2, 2048, 1, 7, 7]}", "probes.head.args", "classes"),
    ("{model: faster/avg_pool, call: backward, input: [1, 2]}", "probes.head.call", "forward, features"),
])
def test_bad_probe_is_named(tmp_path, bad, field, expected):
    text = COSTS_YAML.replace("{model: faster/avg_pool, input: [1, 2, 2048, 1, 7, 7]}",
                              bad if bad.startswith("{") else f"{{model: {bad}, input: [1, 2]}}", 1)
    with pytest.raises(DataError, match=re.escape(field) + ".*" + expected):
        load_costs(_toy(tmp_path, text))


@pytest.mark.parametrize("old, new, expected", [
    ("{1|Ours|GFLOPs}", "{1|Ours|Top-1}", "params or flops cell"),
    ("{1|Ours|GFLOPs}", "{1|Nope|GFLOPs}", "a declared cell"),
    ("1e4 * flops(head)", "flops(nothing)", "a declared probe"),
    ("1e4 * flops(head)", "__import__('os')", "probe calls only|calls like"),
    ("1e4 * flops(head)", "3 +", "an arithmetic formula"),
    ("1e4 * flops(head)", "flops(head) + head", "probe calls only"),
    ("1e4 * flops(head)", "flops(head) // 2", "probe calls only"),
    ("1e4 * flops(head)", "True * flops(head)", "probe calls only"),
    ("1e4 * flops(head)", "flops(head) ** 2", "probe calls only"),
    ("id: head_params", "id: Head params", "unique slug"),
    ('cell: "{1|Base|GFLOPs}"', 'cell: "{1|Ours|GFLOPs}"', "declared twice"),
    ("1e4 * flops(head)", "thop(head)", "never a cell's measured value"),
    ("unit: M", "unit: parsecs", "a cost unit"),
])
def test_bad_cell_or_formula_is_named(tmp_path, old, new, expected):
    with pytest.raises(DataError, match=r"costs\.yaml:\d+: (cells|extras)\[\d\]\.\w+: .*(" + expected + ")"):
        load_costs(_toy(tmp_path, COSTS_YAML.replace(old, new)))


def test_costs_command_logs_to_mlflow_and_the_report_shows_it(tmp_path, monkeypatch, capsys):
    _toy(tmp_path)
    monkeypatch.setenv("REPRO_PAPERS", str(tmp_path / "papers"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out_json = tmp_path / "costs.json"
    assert cli.main(["costs", "--tracking-uri", uri, "--json", str(out_json)]) == 0
    data = json.loads(out_json.read_text())
    assert data["cells"][0]["measured"] == pytest.approx(16.384) and data["cells"][0]["verdict"] == "deviates"
    assert data["probes"]["toy"][0]["macs"] == AVG_POOL_MACS
    assert "16.38" in capsys.readouterr().out
    assert cli.main(["report", "--tracking-uri", uri, "--out", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "toy.html").read_text()
    assert "measured 16.38" in html and "the toy&#39;s published 15.0 is not 16.384" in html
    assert 'id="extra-head_params"' in html and "1.229 M" in html
    assert "1e4 * flops(head)" in html  # how the cell was measured
    # "Ours needs only half the FLOPs", evaluated again on the measured values: 1e4 / 3e4
    assert "The claims on measured values" in html and ">0.33" in html


# --- the papers' own declarations -----------------------------------------------------------------

CITED_BACKBONES = {  # cited rows whose model is a backbone the suite builds
    "kpsem": {"2D CNNs & 3D CNNs / MFNet [35]"},
}


def test_every_own_cost_cell_of_every_paper_is_declared():
    """A params/FLOPs cell for a paper's own model (a row with no citation mark) must be measured."""
    for paper in load_papers(root=REPO / "papers"):
        spec = load_costs(paper)
        declared = {c.cell.key for c in spec.cells} if spec else set()
        for cell in paper.cells():
            own = not re.search(r"\[\d+\]", cell.row) or cell.row in CITED_BACKBONES.get(paper.id, ())
            if cell.kind in ("params", "flops") and own:
                assert cell.key in declared, f"{paper.id}: no cost formula for {cell.ref}"


def test_a_faster_total_is_derived_from_measured_parts():
    """Table 5's All-C cost: 8 clips of 32 frames through R2D-26 plus the averaged classifier."""
    spec = load_costs(load_paper(REPO / "papers" / "faster"))
    [entry] = [c for c in spec.cells if c.cell.key == ("5", "All C (Avg pool)", "GFLOPS")]
    meter = Meter(second_opinion=False)
    parts = {name: meter.measure(spec.probes[name]) for name in entry.formula.probes}
    assert set(parts) == {"r2d_26_l32", "avg_pool_n8_l32"}
    total = entry.formula.evaluate(lambda fn, probe: parts[probe].macs) / 1e9
    assert total == pytest.approx(8 * parts["r2d_26_l32"].macs / 1e9 + 8 * 2048 * 400 / 1e9)
    assert total == pytest.approx(101.3, rel=0.01)  # the printed value, within the flops tolerance


def test_disk_cache_serves_a_later_process_and_survives_damage(tmp_path, monkeypatch):
    probe = Probe("a", "faster/avg_pool", (), ((1, 2, 2048, 1, 7, 7),))
    first = Meter(second_opinion=False, cache_dir=tmp_path).measure(probe)
    [cached_file] = tmp_path.glob("costs-*.json")

    def no_counting(*args, **kwargs):
        raise AssertionError("counted again instead of using the cache")

    with monkeypatch.context() as patched:
        patched.setattr("repro.measure.costs.fvcore_count", no_counting)
        again = Meter(second_opinion=False, cache_dir=tmp_path).measure(probe)
    assert again.macs == first.macs == AVG_POOL_MACS and again.params == AVG_POOL_PARAMS
    cached_file.write_text("{not json")
    assert Meter(second_opinion=False, cache_dir=tmp_path).measure(probe).macs == AVG_POOL_MACS


def test_report_shows_both_counters_when_they_disagree(toy_root, tmp_path, monkeypatch):
    from repro.report.render import render
    from repro.store.tracking import load_all, log_measurements

    monkeypatch.setenv("REPRO_PAPERS", str(toy_root))
    [paper] = load_papers(root=toy_root)
    uri = f"sqlite:///{tmp_path / 'm.db'}"
    log_measurements(paper, {("1", "Ours", "GFLOPs"): 15.0, ("1", "Base", "GFLOPs"): 30.0}, kind="costs",
                     second_opinions={("1", "Ours", "GFLOPs"): 15.6, ("1", "Base", "GFLOPs"): 30.1}, uri=uri)
    render([paper], tmp_path / "r", *load_all([paper], uri))
    html = (tmp_path / "r" / "toy.html").read_text()
    assert html.count("counters disagree") == 1  # 15.6 vs 15.0 is 4%; 30.1 vs 30.0 is 0.3%
    assert "fvcore 15.0, ptflops 15.6" in html


def test_a_measured_zero_in_a_claim_does_not_break_the_report(toy_paper, tmp_path):
    from repro.report.render import render
    from repro.audit.verdicts import Measurement

    measured = {("toy", ("1", "Ours", "GFLOPs")): Measurement(15.0), ("toy", ("1", "Base", "GFLOPs")): Measurement(0.0)}
    render([toy_paper], tmp_path / "r", measured)
    assert "cannot be evaluated on the measured values" in (tmp_path / "r" / "toy.html").read_text()


def test_an_alternative_reproduces_a_cell_under_the_papers_convention_or_another_configuration(tmp_path):
    """A deviating cell whose declared alternative reproduces it: a convention gives the convention verdict
    and both numbers; a configuration leaves it deviating and names what it matches."""
    from repro.audit.verdicts import CONVENTION, DEVIATES

    for kind, status in (("convention", CONVENTION), ("configuration", DEVIATES)):
        costs_yaml = COSTS_YAML.replace(
            '    explain: the toy\'s published 15.0 is not 16.384\n',
            f'    alternative: {{kind: {kind}, label: "the other count", value: 0.915 * 1e4 * flops(head)}}\n')
        costs = measure_paper(load_costs(_toy(tmp_path / kind, costs_yaml)), Meter(second_opinion=False))
        [ours] = [r for r in rows(costs) if r["row"] == "Ours"]
        assert ours["verdict"] == status and ours["alternative_value"] == pytest.approx(0.915 * 16.384)
        assert ours["alternative"] == {"kind": kind, "label": "the other count"}


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("value: 3e4 * flops(head)\n", "value: 3e4 * flops(head)\n    alternative: {kind: guess, label: x, value: "
                                   "flops(head)}\n", r"cells\[1\].alternative.kind: one of convention, configuration"),
    ("extras:", "not_built:\n  - cells: [\"{1|Ours|GFLOPs}\"]\n    reason: no code\nextras:",
     r"not_built\[0\].cells\[0\]: a params or flops cell with a printed value and no entry under cells"),
])
def test_bad_alternatives_and_not_built_entries_are_named(tmp_path, old, new, expected):
    with pytest.raises(DataError, match=expected):
        load_costs(_toy(tmp_path, COSTS_YAML.replace(old, new)))


def test_a_cell_whose_model_is_not_built_says_why(tmp_path):
    from repro.report.view import build_view

    costs_yaml = COSTS_YAML.replace('''  - cell: "{1|Base|GFLOPs}"
    value: 3e4 * flops(head)
''', "").replace("extras:", "not_built:\n  - cells: [\"{1|Base|GFLOPs}\"]\n    reason: no code was found\nextras:")
    paper = _toy(tmp_path, costs_yaml)
    verdict = build_view(paper, {}).verdicts[("1", "Base", "GFLOPs")]
    assert verdict.cause == "not measurable" and verdict.reason.endswith("not built here: no code was found")
