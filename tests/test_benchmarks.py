"""Latency benchmarks of every registered model (issue 6), beside its MACs, for the report.

`pytest --benchmark-only` times each case of `repro.measure.runtime.bench_cases` at its paper's input size (the
probes that papers/<id>/runtime.yaml lists; a model no paper benchmarks at the `reference_input`
registered with it), at batch 1 and at a batch that fills the device (repro.measure.bench's policy), plus the
batch-1 probes the papers' runtime checks read. A plain `pytest` (CI) runs the same tests on each model's
small registered example, one round, so they stay tested and cost seconds; `--bench-size paper|example`
overrides the choice. `--bench-device` picks the device (default: cuda when available).

`extra_info` of each benchmark: kind ("model"), case, paper, probe, model, call, args, input (batch-1
shapes), origin, size ("paper" or "example"), batch, batch_rule, gmacs (multiply-adds of one forward at
this batch, / 1e9), params, gflops (achieved, 2 FLOPs per MAC), peak_gflops (the device's measured
peak, repro.measure.bench.peak_gflops), fraction_of_peak, device, device_name, options, dtype, threads, torch,
rounds, warmup, reduced_rounds, note (for a model no paper benchmarks).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pytest
import torch

from conftest import record_row
from repro import models
from repro.engine.speed import fits
from repro.measure import bench
from repro.cache import cache_dir
from repro.measure.costs import Meter, _build
from repro.audit.papers import load_papers
from repro.measure.runtime import bench_cases, uncovered_models

CASES = bench_cases(load_papers())
PARAMS = [pytest.param(case, batch, id=f"{case.id}@{batch}") for case in CASES for batch in case.batches]
USER_CACHE = cache_dir()  # read before the tests' private-cache fixture changes $REPRO_CACHE_DIR
SMOKE_FILL_BATCH = 2


@dataclass
class Setup:
    options: bench.BenchOptions
    paper_size: bool
    meter: Meter
    peak_gflops: float | None
    batch1: dict[str, float]  # case id -> batch-1 median seconds, which plan the fill batch
    last_model: tuple[str, object] = ("", None)


@pytest.fixture(scope="session")
def setup(request) -> Setup:
    config = request.config
    options = bench.BenchOptions(device=config.getoption("bench_device") or bench.default_device())
    paper_size = config.getoption("bench_size") == "paper" or (
        config.getoption("bench_size") is None and config.getoption("benchmark_only"))
    # Paper-size counts take a real forward each: keep them in the user's cost cache, as `repro costs` does.
    meter = Meter(second_opinion=paper_size, cache_dir=USER_CACHE if paper_size else None)
    peak = bench.peak_gflops(options) if paper_size else None
    return Setup(options, paper_size, meter, peak, {})


def test_every_registered_model_has_a_benchmark():
    missing = uncovered_models(CASES)
    assert not missing, (f"no benchmark for {missing}: list a probe of the model in a paper's runtime.yaml "
                         f"`benchmarks`, or register it with reference_input=")


def _shapes(case, setup: Setup) -> list[tuple[int, ...]]:
    if setup.paper_size:
        return [tuple(s) for s in case.probe.inputs]
    return [tuple(s) for s in models.example(case.probe.model)[0]]


def _fill_batch(case, setup: Setup, model, shapes) -> tuple[int, str]:
    if not setup.paper_size:
        return SMOKE_FILL_BATCH, "smoke run: a batch of 2 on the small example"
    options = setup.options
    if options.device.startswith("cuda"):
        def try_batch(batch: int) -> str | None:
            inputs = [torch.randn(s, device=options.device) for s in bench.with_batch(shapes, batch)]
            return fits(bench.prepare(model, inputs, options))

        return bench.gpu_fill_batch(try_batch)
    inputs = [torch.randn(s) for s in shapes]
    if case.id not in setup.batch1:  # the batch-1 benchmark did not run first (-k): time one forward
        timing, _ = bench.time_forward(model, inputs, options, bench.RoundsPlan(1, 1, True))
        setup.batch1[case.id] = timing.median
    seconds = setup.batch1[case.id]
    # the activations only matter where the time budget allows a batch over 1
    activations = bench.activation_bytes(model, inputs) if seconds < bench.CPU_FILL_SECONDS else 0
    return bench.cpu_fill_batch(seconds, activations, bench.available_memory_bytes())


def _reference_note(model: str) -> str:
    """Why a model no paper benchmarks is timed at its registered input: what its docstring says it is."""
    first = models.describe(model).split("\n")[0]
    return f"no paper benchmarks it; the input registered with it ({first[:140]})"


@pytest.mark.parametrize(("case", "batch_kind"), PARAMS)
def test_latency(benchmark, request, setup: Setup, case, batch_kind):
    options = setup.options
    shapes = _shapes(case, setup)
    torch.manual_seed(0)
    # the small example fits the builder's defaults, not the probe's arguments (e.g. feature_dim 1280)
    probe = case.probe if setup.paper_size else replace(case.probe, args=())
    model = setup.last_model[1] if setup.last_model[0] == case.id else _build(probe, "cpu")
    setup.last_model = (case.id, model)  # the fill benchmark follows batch 1: build once
    batch, rule = (1, "batch 1") if batch_kind == "1" else _fill_batch(case, setup, model, shapes)
    if batch_kind == "fill" and batch == 1:
        pytest.skip(f"{case.id}: batch 1 already fills the device ({rule})")
    inputs = [torch.randn(s) for s in bench.with_batch(shapes, batch)]

    def pedantic(step, rounds: int, warmup: int) -> list[float]:
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup, iterations=1)
        return list(benchmark.stats.stats.data) if benchmark.stats else []

    plan = None if setup.paper_size else bench.RoundsPlan(rounds=1, warmup=0, reduced=True)
    timing, plan = bench.time_forward(model, inputs, options, plan, runner=pedantic)
    counted = setup.meter.measure(replace(probe, inputs=tuple(bench.with_batch(shapes, 1))))
    gmacs = counted.macs * batch / 1e9
    info = {"kind": "model", "case": case.id, "paper": case.paper, "probe": case.probe.name,
            "model": case.probe.model, "call": case.probe.call, "args": dict(case.probe.args),
            "input": "; ".join("x".join(map(str, s)) for s in bench.with_batch(shapes, 1)), "origin": case.origin,
            "size": "paper" if setup.paper_size else "example", "batch": batch, "batch_rule": rule,
            "gmacs": gmacs, "params": counted.params, "peak_gflops": setup.peak_gflops,
            "peak_precision": bench.peak_precision(options),
            "device": options.device, "device_name": bench.device_name(options.device),
            "options": options.describe(), "dtype": options.dtype, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "rounds": plan.rounds, "warmup": timing.warmup,
            "reduced_rounds": plan.reduced,
            "note": None if case.paper else _reference_note(case.probe.model)}
    if timing.seconds:
        q1, q3 = timing.quartiles
        info["gflops"] = bench.achieved_gflops(gmacs * 1e9, timing.median)
        info["fraction_of_peak"] = info["gflops"] / setup.peak_gflops if setup.peak_gflops else None
        if batch_kind == "1":
            setup.batch1[case.id] = timing.median
        record_row(request.config, {"name": request.node.name, "extra_info": info,
                                    "stats": {"median": timing.median, "min": min(timing.seconds), "q1": q1,
                                              "q3": q3, "rounds": len(timing.seconds)}})
    benchmark.extra_info.update(info)
    assert all(s > 0 for s in timing.seconds)
    assert math.isfinite(gmacs) and gmacs >= 0
