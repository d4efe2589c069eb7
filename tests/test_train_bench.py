"""Training speed through the engine (repro.measure.train_bench, `repro bench train`).

Under `pytest --benchmark-only` the training input of the issue's target, R(2+1)D-50 at 8x224x224 (bf16 on a
GPU, fp32 on a CPU at a small batch), timed beside a plain loop (the same model, no engine) in one run, so
that the engine's share of the plain loop's rate is a ratio measured on one device; a plain `pytest` trains
the small registered model for one round. `extra_info` kind "train": model, input, batch, batch_rule, size,
device, device_name, precision, options, clips_per_second, tflops, peak_tflops, peak_precision,
fraction_of_peak, peak_memory_mb, compile_seconds, plain_clips_per_second, engine_over_plain."""
from __future__ import annotations

import json
import statistics
import time

import pytest
import torch
from conftest import record_row

from repro.cli import main
from repro.engine.speed import synchronize
from repro.measure.train_bench import bench_train
from repro.models import build

PAPER_CASE = ("baselines/r2plus1d_50", {"num_classes": 400}, (3, 8, 224, 224))
SMALL_CASE = ("baselines/small3d", {"num_classes": 8}, (3, 8, 32, 32))


def plain_loop_clips_per_second(model, clip, batch: int, device: str, dtype, compile: bool, rounds: int,
                                steps: int) -> float:
    """The reference: forward, cross-entropy, backward and SGD written out, nothing of the engine."""
    model = model.to(device).train()
    if device.startswith("cuda"):
        model = model.to(memory_format=torch.channels_last_3d)
    run = torch.compile(model) if compile else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.randn(batch, *clip, device=device), torch.zeros(batch, dtype=torch.long, device=device)

    def step():
        with torch.autocast("cuda", dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = torch.nn.functional.cross_entropy(run(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    synchronize(device)
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize(device)
        seconds.append((time.perf_counter() - start) / steps)
    return batch / statistics.median(seconds)


def test_train_speed(benchmark, request):
    device = request.config.getoption("bench_device") or ("cuda" if torch.cuda.is_available() else "cpu")
    paper = request.config.getoption("benchmark_only")
    name, args, clip = PAPER_CASE if paper else SMALL_CASE
    cuda = device.startswith("cuda")
    precision = "bfloat16" if cuda else "float32"
    compile = cuda and paper  # the target compares with a compiled plain loop
    batch, steps, rounds = (32 if cuda else 2, 5 if cuda else 2, 5 if cuda else 3) if paper else (4, 2, 1)

    def pedantic(step, rounds: int, warmup: int) -> list[float]:
        benchmark.pedantic(step, rounds=rounds, warmup_rounds=warmup, iterations=1)
        return list(benchmark.stats.stats.data) if benchmark.stats else []

    torch.manual_seed(0)
    result = bench_train(build(name, **args), name, clip, batch=batch, device=device, precision=precision,
                         compile=compile, steps_per_round=steps, rounds=rounds, runner=pedantic)
    plain = plain_loop_clips_per_second(build(name, **args), clip, result.batch, device,
                                        torch.bfloat16 if cuda else None, compile, rounds, steps)
    info = {"kind": "train", **result.as_dict(), "size": "paper" if paper else "example",
            "plain_clips_per_second": plain,
            "engine_over_plain": result.clips_per_second / plain}
    benchmark.extra_info.update(info)
    record_row(request.config, {"name": request.node.name, "extra_info": info,
                                             "stats": {"median": result.seconds_per_step}})
    assert result.clips_per_second > 0 and 0 < result.fraction_of_peak
    assert result.gmacs_per_clip > 0 and result.peak_memory_mb > 0


def test_bench_train_command_on_a_small_model(tmp_path, capsys):
    out = tmp_path / "train.json"
    assert main(["bench", "train", "baselines/small3d", "--input", "3x4x32x32", "--batch", "4", "--steps", "2",
                 "--rounds", "2", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(len(line) <= 80 for line in printed.splitlines()), printed
    assert "training 4 x 3x4x32x32" in printed and "of the measured float32 matmul" in printed
    saved = json.loads(out.read_text())
    assert saved["batch"] == 4 and saved["clips_per_second"] > 0 and saved["rounds"] == 2
    assert saved["tflops"] == pytest.approx(6 * saved["gmacs_per_clip"] * saved["clips_per_second"] / 1e3)
    assert saved["fraction_of_peak"] == pytest.approx(saved["tflops"] / saved["peak_tflops"])
    assert main(["bench", "train", "baselines/small3d", "--precision", "bfloat16"]) == 2  # CPU: fp32 only
    assert "trains on CUDA only" in capsys.readouterr().err


def test_bench_train_times_the_engines_step(monkeypatch):
    """The benchmark runs the engine's TrainStep, not a loop of its own: count its calls."""
    import repro.engine.step as step_module

    calls = []
    real = step_module.TrainStep.__call__
    monkeypatch.setattr(step_module.TrainStep, "__call__", lambda self, v, y: calls.append(1) or real(self, v, y))
    result = bench_train(build("baselines/small3d", num_classes=8), "baselines/small3d", (3, 4, 32, 32), batch=2,
                         steps_per_round=3, rounds=2)
    assert len(calls) == 1 + 3 + 3 * 2  # the first step, a warm-up round, then 2 timed rounds of 3 steps
    assert result.rounds == 2 and result.steps_per_round == 3
