"""Training speed through the engine itself (`repro bench train`): the engine's TrainStep (forward, loss,
backward, optimiser step) on random clips of one input size, timed in rounds of several steps that end with a
device synchronisation. It reports clips/s, the achieved TFLOP/s (3 x 2 x the forward's multiply-adds per
clip: the backward costs about twice the forward), its share of the device's matmul peak measured in the
same precision (repro.measure.bench.peak_gflops), and the peak memory. With `compile`, the first step
(which compiles) is timed apart. `pytest --benchmark-only` runs the same code (tests/test_train_bench.py)."""
from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..engine.config import TrainConfig
from ..engine.loop import Task
from ..engine.optim import make_optimizer
from ..engine.speed import Speed, peak_memory_mb, prepare_device, reset_peak_memory, synchronize, to_channels_last
from ..engine.step import TrainStep, find_train_batch
from .bench import BenchOptions, Runner, device_name, own_runner, peak_gflops, peak_precision
from .flops import count

PRECISIONS = {"float32": None, "bfloat16": "bfloat16", "float16": "float16"}
DEFAULT_BATCH = 8


@dataclass(frozen=True)
class TrainBench:
    model: str
    input: str  # one clip, C x T x H x W
    batch: int
    batch_rule: str
    device: str
    device_name: str
    precision: str
    channels_last: bool
    compile: bool
    compile_seconds: float | None
    steps_per_round: int
    rounds: int
    seconds_per_step: float  # median over rounds
    fastest_step: float  # the fastest and slowest round's seconds a step: the spread of this run
    slowest_step: float
    clips_per_second: float
    gmacs_per_clip: float
    tflops: float  # achieved, 3 x 2 x MACs per clip
    peak_tflops: float
    peak_precision: str
    fraction_of_peak: float
    peak_memory_mb: float
    torch: str = torch.__version__

    @property
    def options(self) -> str:
        """How the steps ran: precision, layout, compilation."""
        return (f"{self.precision}{' autocast' if self.precision != 'float32' else ''}, "
                f"{'channels_last_3d' if self.channels_last else 'default layout'}"
                f"{', torch.compile' if self.compile else ''}")

    def as_dict(self) -> dict:
        return {**asdict(self), "options": self.options}


def _plain_task(model: nn.Module) -> Task:
    return Task(model, forward=lambda m, x: m(x), loss=nn.functional.cross_entropy)


def bench_train(model: nn.Module, name: str, clip: Sequence[int], *, batch: int | str | None = None,
                device: str = "cpu",
                precision: str = "float32", compile: bool = False, channels_last: str = "auto",
                steps_per_round: int = 5, rounds: int = 5, runner: Runner | None = None) -> TrainBench:
    """Time training steps of `model` on random clips of shape `clip` (C, T, H, W) in batches of `batch`
    ("auto": the largest that fits, repro.engine.step.find_train_batch)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if device == "cpu" and precision != "float32":
        raise ValueError("mixed precision trains on CUDA only; on a CPU the engine trains in float32")
    prepare_device(device)
    clip = tuple(int(x) for x in clip)
    config = TrainConfig(lr=0.01, amp=precision != "float32", amp_dtype=precision if precision != "float32"
                         else "bfloat16", workers=0)
    with torch.no_grad():
        classes = model.eval()(torch.zeros(1, *clip)).shape[-1]
        gmacs = count(model, (torch.zeros(1, *clip),), second_opinion=False).macs / 1e9
    layout = Speed(channels_last=channels_last).layout(model, device)
    task = _plain_task(model)
    rule = "given"
    if batch is None:
        batch, rule = DEFAULT_BATCH, "the default"
    elif batch == "auto" and device.startswith("cuda"):
        batch, rule = find_train_batch(task, torch.randn(1, *clip), torch.zeros(1, dtype=torch.long), config,
                                       device=device, layout=layout)
    elif batch == "auto":
        batch, rule = DEFAULT_BATCH, "the default: --batch auto needs a GPU"
    model = model.to(device).train()
    if layout:
        to_channels_last(model)
    train_model = torch.compile(model) if compile else model
    step = TrainStep(_plain_task(train_model), train_model, make_optimizer(model.parameters(), config),
                     device=device, amp=config.amp, amp_dtype=config.amp_dtype, layout=layout)
    clips = torch.randn(batch, *clip, device=device)
    labels = torch.randint(0, classes, (batch,), device=device)
    reset_peak_memory(device)
    first = time.perf_counter()
    step(clips, labels)  # warm-up: allocations, cuDNN's kernel choice, and the compilation when asked
    synchronize(device)
    compile_seconds = time.perf_counter() - first if compile else None

    def one_round() -> None:
        for _ in range(steps_per_round):
            step(clips, labels)
        synchronize(device)

    seconds = [s / steps_per_round for s in (runner or own_runner)(one_round, rounds, 1)]
    median = statistics.median(seconds)
    options = BenchOptions(device=device, autocast=PRECISIONS[precision])
    peak = peak_gflops(options) / 1e3
    tflops = 6.0 * gmacs * batch / median / 1e3
    return TrainBench(model=name, input="x".join(map(str, clip)), batch=batch, batch_rule=rule, device=device,
                      device_name=device_name(device), precision=precision, channels_last=layout, compile=compile,
                      compile_seconds=compile_seconds, steps_per_round=steps_per_round, rounds=len(seconds),
                      seconds_per_step=median, fastest_step=min(seconds), slowest_step=max(seconds),
                      clips_per_second=batch / median, gmacs_per_clip=gmacs, tflops=tflops,
                      peak_tflops=peak, peak_precision=peak_precision(options), fraction_of_peak=tflops / peak,
                      peak_memory_mb=peak_memory_mb(device))


def lines(result: TrainBench) -> list[str]:
    """The result for a terminal, one fact a line, none wider than 80 columns."""
    r = result
    return [f"{r.model} · training {r.batch} x {r.input} ({r.batch_rule})",
            f"  device     {r.device_name}",
            f"  options    {r.options}",
            f"  speed      {r.clips_per_second:.1f} clips/s ({r.seconds_per_step * 1e3:.1f} ms a step, median of "
            f"{r.rounds} round{'s' * (r.rounds != 1)})",
            f"  spread     {r.fastest_step * 1e3:.1f}-{r.slowest_step * 1e3:.1f} ms a step over the rounds, "
            f"{r.steps_per_round} step{'s' * (r.steps_per_round != 1)} each",
            f"  compute    {r.tflops:.3g} TFLOP/s, {r.fraction_of_peak:.1%} of the measured {r.peak_precision} "
            f"matmul peak",
            f"  peak       {r.peak_tflops:.3g} TFLOP/s (a large matmul, timed in this run)",
            f"  counted    3 x 2 x {r.gmacs_per_clip:.3g} GMACs a clip",
            f"  memory     peak {r.peak_memory_mb:,.0f} MB "
            f"({'allocated on the GPU' if r.device.startswith('cuda') else 'resident, this process'})"]\
        + ([f"  compiling  {r.compile_seconds:.1f} s (the first step, not in the rate)"] if r.compile else [])
