"""Fast inference (issue 6, item 3): each 3D-CNN backbone timed in one run, interleaved round by round
(repro.measure.bench.time_interleaved), with the default options and with bench.fast_options (channels-last
layouts and inference_mode on CPU; bf16 autocast added on GPU), its achieved GFLOP/s given as a fraction of
the device's measured matmul throughput. Under `--benchmark-only` the papers' input sizes; under a plain
`pytest` the small registered examples, one round each."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import BENCH_ROWS
from test_benchmarks import CASES, Setup, _shapes, setup  # noqa: F401 - setup is a fixture

from repro.measure import bench
from repro.measure.costs import _build

# The video backbones (5-D clip input) that the papers' tables cost; the proxy-only nets are not among them.
BACKBONES = [c for c in CASES if c.probe.model.startswith("baselines/") and len(c.probe.inputs[0]) == 5
             and c.probe.model not in ("baselines/small3d", "baselines/small2d")]


def test_fast_options_change_the_layout_not_the_result():
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv3d(8, 4, 1))
    clip = torch.randn(2, 3, 4, 9, 9)
    with torch.inference_mode():
        expected = model(clip)
    options = bench.fast_options("cpu")
    assert options.channels_last and options.autocast is None and "channels_last" in options.describe()
    assert bench.fast_options("cuda").autocast == "bfloat16"
    step = bench.prepare(model, [clip], options)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.allclose(step(), expected, atol=1e-5)


@pytest.mark.parametrize("case", BACKBONES, ids=lambda c: c.id)
def test_fast_inference(benchmark, request, setup: Setup, case):  # noqa: F811 - the fixture
    shapes = _shapes(case, setup)
    probe = case.probe if setup.paper_size else replace(case.probe, args=())
    torch.manual_seed(0)
    inputs = [torch.randn(s) for s in shapes]
    fast = bench.fast_options(setup.options.device, compile=request.config.getoption("bench_compile"))
    peak = bench.peak_gflops(fast) if setup.paper_size else None

    def pedantic(step, rounds: int, warmup: int) -> list[float]:
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup, iterations=1)
        return list(benchmark.stats.stats.data) if benchmark.stats else []

    # default and fast timed interleaved, so load on the machine does not decide the speed-up
    steps = {"default": bench.prepare(_build(probe, "cpu"), inputs, setup.options),
             "fast": bench.prepare(_build(probe, "cpu"), inputs, fast)}
    seconds, rounds = bench.time_interleaved(steps, fast.device, None if setup.paper_size else 1, pedantic)
    default_timing, fast_timing = bench.Timing(seconds["default"], 1), bench.Timing(seconds["fast"], 1)
    gmacs = setup.meter.measure(replace(probe, inputs=tuple(shapes))).macs / 1e9
    info = {"kind": "fast_inference", "case": case.id, "paper": case.paper, "probe": case.probe.name,
            "model": case.probe.model, "input": "; ".join("x".join(map(str, s)) for s in shapes),
            "size": "paper" if setup.paper_size else "example", "batch": 1, "gmacs": gmacs,
            "device": fast.device, "device_name": bench.device_name(fast.device), "options": fast.describe(),
            "default_options": setup.options.describe(), "dtype": fast.dtype, "threads": torch.get_num_threads(),
            "torch": torch.__version__, "rounds": rounds, "reduced_rounds": not fast.device.startswith("cuda"),
            "peak_gflops": peak, "default_ms": 1e3 * default_timing.median, "fast_ms": 1e3 * fast_timing.median,
            "speedup": default_timing.median / fast_timing.median,
            "default_gflops": bench.achieved_gflops(gmacs * 1e9, default_timing.median),
            "gflops": bench.achieved_gflops(gmacs * 1e9, fast_timing.median)}
    info["fraction_of_peak"] = info["gflops"] / peak if peak else None
    info["default_fraction_of_peak"] = info["default_gflops"] / peak if peak else None
    benchmark.extra_info.update(info)
    q1, q3 = fast_timing.quartiles
    request.config.stash[BENCH_ROWS].append(
        {"name": request.node.name, "extra_info": info,
         "stats": {"median": fast_timing.median, "min": min(fast_timing.seconds), "q1": q1, "q3": q3,
                   "rounds": len(fast_timing.seconds)}})
    assert info["speedup"] > 0 and all(s > 0 for s in fast_timing.seconds)
