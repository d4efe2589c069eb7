"""Fast inference (issue 6 item 3, issue 17 item 4): each 3D-CNN backbone timed in one run with every candidate
of bench.fast_candidates (both layouts, inference_mode; bf16 autocast added on a GPU), interleaved round by
round (bench.time_interleaved), and the fastest picked; on a GPU (or with --bench-compile) the pick compiled
is then timed against it and the default. The default is a candidate, so the pick never loses to it, and the
report names it. Achieved GFLOP/s is a fraction of the device's matmul
peak in the precision the kernels use; a pick under 25% of it names the operators that bound it (profiler).
Under `--benchmark-only` the papers' input sizes; under a plain `pytest` the small registered examples, one
round each."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import record_row
from test_benchmarks import CASES, Setup, _shapes, setup  # noqa: F401 - setup is a fixture

from repro.measure import bench
from repro.measure.costs import _build

# The video backbones (5-D clip input) that the papers' tables cost; the proxy-only nets are not among them.
BACKBONES = [c for c in CASES if c.probe.model.startswith("baselines/") and len(c.probe.inputs[0]) == 5
             and c.probe.model not in ("baselines/small3d", "baselines/small2d")]
BOUND_BELOW = 0.25  # the aim for the large 3D CNNs: a pick below it says what bounds it


def test_fast_candidates_change_the_layout_not_the_result_and_the_default_comes_first():
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(8, 4, 1))
    clip = torch.randn(2, 3, 4, 9, 9)
    with torch.inference_mode():
        expected = model(clip)
    cpu = bench.fast_candidates("cpu")
    assert cpu == [bench.BenchOptions("cpu"), bench.BenchOptions("cpu", channels_last=True)]
    gpu = bench.fast_candidates("cuda")
    assert gpu[0] == bench.BenchOptions("cuda") and len(gpu) == 4
    assert {(o.autocast, o.channels_last) for o in gpu} == {(None, False), (None, True), ("bfloat16", False),
                                                            ("bfloat16", True)}
    assert bench.with_compile(cpu[1]) == bench.BenchOptions("cpu", channels_last=True, compile=True)
    step = bench.prepare(model, [clip], cpu[1])
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(step(), expected, atol=1e-5)


def test_the_pick_is_the_fastest_median_a_tie_goes_to_the_default_and_the_profiler_names_operators():
    assert bench.fastest({"default": (3.0, 1.0, 2.0), "fast": (1.5, 1.6, 1.4)}) == "fast"
    assert bench.fastest({"default": (1.0, 2.0), "fast": (2.0, 1.0)}) == "default"
    ops = bench.top_operators(bench.prepare(torch.nn.Conv3d(3, 8, 3), [torch.randn(1, 3, 4, 8, 8)],
                                            bench.BenchOptions("cpu")), "cpu")
    assert ops and any("conv" in name for name, _ in ops) and all(0 < share <= 1 for _, share in ops)


@pytest.mark.parametrize("case", BACKBONES, ids=lambda c: c.id)
def test_fast_inference(benchmark, request, setup: Setup, case):  # noqa: F811 - the fixture
    shapes = _shapes(case, setup)
    probe = case.probe if setup.paper_size else replace(case.probe, args=())
    torch.manual_seed(0)
    inputs = [torch.randn(s) for s in shapes]
    device = setup.options.device
    compile = request.config.getoption("bench_compile") or device.startswith("cuda")
    candidates = {o.describe(): o for o in bench.fast_candidates(device)}

    def pedantic(step, rounds: int, warmup: int) -> list[float]:
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup, iterations=1)
        return list(benchmark.stats.stats.data) if benchmark.stats else []

    # every candidate timed interleaved, so load on the machine does not decide the pick
    steps = {name: bench.prepare(_build(probe, "cpu"), inputs, options) for name, options in candidates.items()}
    seconds, rounds = bench.time_interleaved(steps, device, None if setup.paper_size else 1, pedantic)
    default_name = setup.options.describe()
    picked = bench.fastest(seconds)
    if compile:  # the eager pick compiled, timed against it and the default (its compilation is the warm-up)
        compiled = bench.with_compile(candidates[picked])
        candidates[compiled.describe()] = compiled
        steps[compiled.describe()] = bench.prepare(_build(probe, "cpu"), inputs, compiled)
        final = {name: steps[name] for name in dict.fromkeys([default_name, picked, compiled.describe()])}
        again, rounds = bench.time_interleaved(final, device, None if setup.paper_size else 1)
        seconds.update(again)
        picked = bench.fastest(again)
    fast = candidates[picked]
    peak = bench.peak_gflops(fast) if setup.paper_size else None
    default_timing, fast_timing = bench.Timing(seconds[default_name], 1), bench.Timing(seconds[picked], 1)
    gmacs = setup.meter.measure(replace(probe, inputs=tuple(shapes))).macs / 1e9
    info = {"kind": "fast_inference", "case": case.id, "paper": case.paper, "probe": case.probe.name,
            "model": case.probe.model, "input": "; ".join("x".join(map(str, s)) for s in shapes),
            "size": "paper" if setup.paper_size else "example", "batch": 1, "gmacs": gmacs,
            "device": fast.device, "device_name": bench.device_name(fast.device), "options": picked,
            "default_options": default_name, "dtype": fast.dtype, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "rounds": rounds, "reduced_rounds": not fast.device.startswith("cuda"),
            "peak_gflops": peak, "peak_precision": bench.peak_precision(fast),
            "default_ms": 1e3 * default_timing.median, "fast_ms": 1e3 * fast_timing.median,
            "speedup": default_timing.median / fast_timing.median,
            "candidates": {name: 1e3 * bench.Timing(values, 1).median for name, values in seconds.items()},
            "default_gflops": bench.achieved_gflops(gmacs * 1e9, default_timing.median),
            "gflops": bench.achieved_gflops(gmacs * 1e9, fast_timing.median)}
    info["fraction_of_peak"] = info["gflops"] / peak if peak else None
    info["default_fraction_of_peak"] = info["default_gflops"] / peak if peak else None
    if info["fraction_of_peak"] is not None and info["fraction_of_peak"] < BOUND_BELOW:
        info["bound_by"] = [[name, share] for name, share in bench.top_operators(steps[picked], device)]
    benchmark.extra_info.update(info)
    q1, q3 = fast_timing.quartiles
    record_row(request.config, {"name": request.node.name, "extra_info": info,
                                "stats": {"median": fast_timing.median, "min": min(fast_timing.seconds), "q1": q1,
                                          "q3": q3, "rounds": len(fast_timing.seconds)}})
    assert info["speedup"] >= 1.0  # the default is a candidate: the pick is never slower in this run
    assert set(info["candidates"]) == set(candidates) and picked in candidates
