"""The papers' runtime checks (issue 6, item 2) timed interleaved: all the probes a paper's checks read,
built once and run round-robin (repro.measure.bench.time_interleaved), so that load on the machine falls on
numerator and denominator alike. Under `--benchmark-only` the papers' input sizes; under a plain `pytest`
the small registered examples, one round (the ratios are then meaningless, but every formula runs).

`extra_info`: kind ("runtime_checks"), paper, size, device, device_name, options, threads, torch, rounds,
seconds (probe -> seconds per round), macs (probe -> MACs of one batch-1 forward), checks (check id ->
the formula over the fastest rounds)."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from conftest import record_row
from test_benchmarks import Setup, setup  # noqa: F401 - setup is a fixture

from repro import models
from repro.measure import bench
from repro.report.performance import CheckTiming
from repro.measure.costs import _build
from repro.audit.papers import load_papers
from repro.measure.runtime import HOLDS, FAILS, evaluate, load_runtime

SPECS = [spec for paper in load_papers() if (spec := load_runtime(paper)) is not None and spec.checks]


def test_interleaved_rounds_alternate_the_order_and_time_every_step():
    calls: list[str] = []
    steps = {name: (lambda name=name: calls.append(name)) for name in ("a", "b", "c")}
    seconds, rounds = bench.time_interleaved(steps, "cpu", rounds=3)
    assert rounds == 3 and {name: len(values) for name, values in seconds.items()} == {"a": 3, "b": 3, "c": 3}
    # one warm-up round in order, then the timed rounds forward, reversed, forward
    assert calls == list("abc") + list("abc") + list("cba") + list("abc")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.paper.id)
def test_runtime_checks(benchmark, request, setup: Setup, spec):  # noqa: F811 - the fixture
    options = setup.options
    probes = list(dict.fromkeys(name for check in spec.checks for name in check.time.probes))
    steps, macs = {}, {}
    torch.manual_seed(0)
    for name in probes:
        probe = spec.probes[name]
        if not setup.paper_size:  # the small example fits the builder's defaults, not the probe's arguments
            probe = replace(probe, args=(), inputs=tuple(tuple(s) for s in models.example(probe.model)[0]))
        steps[name] = bench.prepare(_build(probe, "cpu"), [torch.randn(s) for s in probe.inputs], options)
        macs[name] = setup.meter.measure(probe).macs

    def pedantic(step, rounds: int, warmup: int) -> list[float]:
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup, iterations=1)
        return list(benchmark.stats.stats.data) if benchmark.stats else []

    seconds, rounds = bench.time_interleaved(steps, options.device, None if setup.paper_size else 1, pedantic)
    timing = CheckTiming(spec.paper.id, bench.device_name(options.device), options.describe(), rounds, seconds, macs)
    results = [evaluate(check, spec.paper, timing.fastest, macs, timing.device_name) for check in spec.checks]
    for result in results:
        assert result.measured is not None and math.isfinite(result.measured), result.check.id
        assert all(o.status in (HOLDS, FAILS) for o in result.outcomes if o.reference is not None), result.check.id
    info = {"kind": "runtime_checks", "paper": spec.paper.id, "size": "paper" if setup.paper_size else "example",
            "device": options.device, "device_name": timing.device_name, "options": timing.options,
            "threads": torch.get_num_threads(), "torch": torch.__version__, "rounds": rounds,
            "seconds": {name: list(values) for name, values in seconds.items()}, "macs": macs,
            "checks": {result.check.id: result.measured for result in results}}
    benchmark.extra_info.update(info)
    record_row(request.config, {"name": request.node.name, "extra_info": info})
