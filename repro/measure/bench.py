"""Latency of one forward pass: warm-up, rounds, the batch that fills a device, achieved throughput.

`time_forward(model, inputs, options)` is the one timing function. It runs the model as
`BenchOptions` say (`prepare` is the only place that applies them), warms up, plans its rounds from the
first forward and times each round as wall time around a forward that ends with a device
synchronisation, so a GPU's queued kernels are inside the measured time. A `runner` lets
pytest-benchmark's `benchmark.pedantic` do the timed loop, so its JSON holds every round.

Conventions: the suite counts MACs (one multiply-add once, repro.measure.flops). Achieved throughput is given
as GFLOP/s with one multiply-add = 2 FLOPs, so that it compares with the device's measured peak (a large
matmul in the options' precision, `peak_gflops`); the fraction of that peak is what the report shows.
"""
from __future__ import annotations

import functools
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import nn

from ..engine.speed import channels_last, largest_batch, synchronize, to_channels_last

Step = Callable[[], object]
# (step, rounds, warmup) -> the seconds of each timed round
Runner = Callable[[Step, int, int], Sequence[float]]

# The rounds each kind of device gets; the CPU's are reduced so a 2-core machine finishes the suite in
# minutes: a round of a 224x224 backbone takes seconds there.
CPU_TARGET_S, CPU_ROUNDS, CPU_LONG_FORWARD_S = 6.0, (3, 15), 10.0
GPU_TARGET_S, GPU_ROUNDS, GPU_WARMUP = 2.0, (20, 200), 5
# Interleaved rounds (a runtime check's probes, one forward each per round) fill longer: a round holds many.
CPU_INTERLEAVED_TARGET_S, GPU_INTERLEAVED_TARGET_S = 20.0, 5.0
# A batch "fills" a CPU when one forward takes about this long, within this share of free memory.
CPU_FILL_SECONDS, CPU_FILL_MEMORY_SHARE, CPU_FILL_CAP = 2.0, 0.25, 64
GPU_FILL_CAP = 1024


@dataclass(frozen=True)
class BenchOptions:
    """How a forward is run when it is timed.

    `prepare` is the one place that applies these and `describe` names them in every result row, so the
    report never mixes rows timed with different options. `fast_candidates` lists what fast inference tries."""

    device: str = "cpu"
    inference_mode: bool = True  # else torch.no_grad: autograd's version counters stay on
    channels_last: bool = False  # channels_last_3d for 5-D (video) tensors, channels_last for 4-D
    autocast: str | None = None  # "bfloat16": autocast on the device (GPU); weights stay fp32
    compile: bool = False  # torch.compile the model before timing (its compilation is in the warm-up)

    @property
    def dtype(self) -> str:
        return f"{self.autocast} autocast" if self.autocast else "float32"

    def describe(self) -> str:
        words = [self.dtype, "inference_mode" if self.inference_mode else "no_grad"]
        if self.channels_last:
            words.append("channels_last")
        if self.compile:
            words.append("torch.compile")
        if self.device.startswith("cuda") and torch.backends.cudnn.allow_tf32 and not self.autocast:
            words.append("cuDNN may use TF32 for convolutions")  # torch's default; matmuls stay fp32
        return ", ".join(words)


def fast_candidates(device: str) -> list[BenchOptions]:
    """The eager options fast inference tries for each model, the default first so that the pick never loses to
    it: both layouts (channels-last is oneDNN's and cuDNN's preferred layout for most convolutions, but grouped
    and depthwise 3-D convolutions ran 2.6 times slower in it on an H200, issue 17), and bf16 autocast on a GPU.
    `with_compile` adds torch.compile to the eager pick: compiling every candidate would cost minutes a model."""
    precisions = (None, "bfloat16") if device.startswith("cuda") else (None,)
    return [BenchOptions(device=device, channels_last=layout, autocast=precision)
            for precision in precisions for layout in (False, True)]


def with_compile(options: BenchOptions) -> BenchOptions:
    return replace(options, compile=True)


def fastest(seconds: Mapping[str, Sequence[float]]) -> str:
    """The candidate with the lowest median, ties to the earlier (the default comes first)."""
    return min(seconds, key=lambda name: (statistics.median(seconds[name]), list(seconds).index(name)))


def top_operators(step: Step, device: str, count: int = 3) -> list[tuple[str, float]]:
    """The operators (GPU kernels on CUDA) that take the most time in one profiled forward, with their shares:
    what bounds a model that stays far from the matmul peak (e.g. depthwise convolutions)."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        step()
    events = [e for e in prof.key_averages() if not e.key.startswith("ProfilerStep")]
    timed = [(e.key, e.self_device_time_total if cuda else e.self_cpu_time_total) for e in events]
    total = sum(t for _, t in timed) or 1.0
    return [(name, share / total) for name, share in sorted(timed, key=lambda x: -x[1])[:count]]


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str:
    """The GPU's name, or the CPU model with the threads torch uses."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), model)
    except OSError:
        pass
    return f"{model} ({torch.get_num_threads()} threads)"


def prepare(model: nn.Module, inputs: Sequence[torch.Tensor], options: BenchOptions) -> Step:
    """A zero-argument forward of `model` on `inputs` under `options`, returning once the device is done."""
    model = model.to(options.device).eval()
    inputs = [x.to(options.device) for x in inputs]
    if options.channels_last:
        to_channels_last(model)  # conv weights follow the layout too
        inputs = [channels_last(x) for x in inputs]
    forward = torch.compile(model) if options.compile else model
    grad_mode = torch.inference_mode if options.inference_mode else torch.no_grad
    device_type = "cuda" if options.device.startswith("cuda") else "cpu"

    def step() -> object:
        with grad_mode(), torch.autocast(device_type, dtype=getattr(torch, options.autocast or "float32"),
                                         enabled=options.autocast is not None):
            out = forward(*inputs)
        synchronize(options.device)
        return out

    return step


@dataclass(frozen=True)
class RoundsPlan:
    rounds: int
    warmup: int
    reduced: bool  # fewer rounds than a quiet GPU gets (CPU policy)


def plan_rounds(first_forward_s: float, device: str) -> RoundsPlan:
    """Rounds that fill about CPU_TARGET_S (GPU_TARGET_S) of timed forwards, within the policy's bounds."""
    if device.startswith("cuda"):
        low, high = GPU_ROUNDS
        return RoundsPlan(min(high, max(low, math.ceil(GPU_TARGET_S / max(first_forward_s, 1e-6)))), GPU_WARMUP,
                          reduced=False)
    low, high = CPU_ROUNDS
    if first_forward_s > CPU_LONG_FORWARD_S:
        return RoundsPlan(2, 0, reduced=True)
    rounds = min(high, max(low, math.ceil(CPU_TARGET_S / max(first_forward_s, 1e-6))))
    # the first forward already warmed up; a second one only where it costs under a second
    return RoundsPlan(rounds, 1 if first_forward_s < 1.0 else 0, reduced=True)


def rounds_policy(device: str) -> str:
    """One line for the terminal and the report: how many rounds each benchmark gets here."""
    if device.startswith("cuda"):
        return (f"GPU: {GPU_WARMUP} warm-up forwards, then rounds filling {GPU_TARGET_S:g} s "
                f"({GPU_ROUNDS[0]}-{GPU_ROUNDS[1]}), synchronised")
    return (f"CPU, reduced rounds: 1 warm-up forward times the rounds, then {CPU_ROUNDS[0]}-{CPU_ROUNDS[1]} rounds "
            f"filling about {CPU_TARGET_S:g} s (2 rounds for a forward over {CPU_LONG_FORWARD_S:g} s)")


@dataclass(frozen=True)
class Timing:
    seconds: tuple[float, ...]  # one per timed round
    warmup: int  # forwards run before timing, the one that planned the rounds included

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def quartiles(self) -> tuple[float, float]:
        if len(self.seconds) < 2:
            return self.seconds[0], self.seconds[0]
        q1, _, q3 = statistics.quantiles(self.seconds, n=4, method="inclusive")
        return q1, q3


def own_runner(step: Step, rounds: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - start)
    return seconds


def time_forward(model: nn.Module, inputs: Sequence[torch.Tensor], options: BenchOptions,
                 plan: RoundsPlan | None = None, runner: Runner | None = None) -> tuple[Timing, RoundsPlan]:
    """Time forwards of `model` on `inputs`; without a `plan`, one warm-up forward plans the rounds."""
    step = prepare(model, inputs, options)
    warmed = 0
    if plan is None:
        start = time.perf_counter()
        step()
        plan, warmed = plan_rounds(time.perf_counter() - start, options.device), 1
    seconds = (runner or own_runner)(step, plan.rounds, plan.warmup)
    return Timing(tuple(seconds), warmed + plan.warmup), plan


def time_interleaved(steps: Mapping[str, Step], device: str, rounds: int | None = None,
                     runner: Runner | None = None) -> tuple[dict[str, tuple[float, ...]], int]:
    """Time several prepared forwards round-robin: each round runs every step once, in the given order on
    even rounds and reversed on odd ones. Load from other work on the machine, and the cache a step
    leaves to the next, then fall on every step alike, so a ratio of their times compares like with like
    (timed one after another, a burst of load on a shared 2-core VM can move one step's time by half).

    One untimed round warms up and plans the rounds (about CPU_INTERLEAVED_TARGET_S of timed rounds on a
    CPU, GPU_INTERLEAVED_TARGET_S on a GPU, within the policy's bounds); returns each step's seconds per
    round and the number of rounds."""
    names = list(steps)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    start = time.perf_counter()
    for name in names:
        steps[name]()
    round_s = time.perf_counter() - start
    if rounds is None:
        gpu = device.startswith("cuda")
        low, high = GPU_ROUNDS if gpu else CPU_ROUNDS
        target = GPU_INTERLEAVED_TARGET_S if gpu else CPU_INTERLEAVED_TARGET_S
        rounds = min(high, max(low, math.ceil(target / max(round_s, 1e-6))))
    done = 0

    def one_round() -> None:
        nonlocal done
        for name in names if done % 2 == 0 else reversed(names):
            begin = time.perf_counter()
            steps[name]()
            seconds[name].append(time.perf_counter() - begin)
        done += 1

    (runner or own_runner)(one_round, rounds, 0)
    return {name: tuple(values) for name, values in seconds.items()}, rounds


# --- a batch that fills the device ---------------------------------------------------------------


def activation_bytes(model: nn.Module, inputs: Sequence[torch.Tensor]) -> int:
    """The bytes of every leaf module's output in one forward: an upper bound on the activations alive at once."""
    total = 0

    def add(_module: nn.Module, _args: object, out: object) -> None:
        nonlocal total
        for tensor in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(tensor, torch.Tensor):
                total += tensor.numel() * tensor.element_size()

    hooks = [m.register_forward_hook(add) for m in model.modules() if not any(True for _ in m.children())]
    try:
        with torch.inference_mode():
            model(*inputs)
    finally:
        for hook in hooks:
            hook.remove()
    return total + sum(x.numel() * x.element_size() for x in inputs)


def available_memory_bytes() -> int:
    try:
        with open("/proc/meminfo") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def cpu_fill_batch(batch1_s: float, batch1_bytes: int, free_bytes: int) -> tuple[int, str]:
    """The largest power of two (up to CPU_FILL_CAP) whose forward takes about CPU_FILL_SECONDS and whose
    activations fit CPU_FILL_MEMORY_SHARE of free memory, both scaled linearly from batch 1.

    Searching for where throughput stops growing would cost minutes per model on a small CPU; a CPU's
    throughput rarely grows further once one forward keeps every core busy for seconds."""
    by_time = CPU_FILL_SECONDS / max(batch1_s, 1e-9)
    by_memory = CPU_FILL_MEMORY_SHARE * free_bytes / max(batch1_bytes, 1)
    limit = min(by_time, by_memory, CPU_FILL_CAP)
    batch = 2 ** int(math.floor(math.log2(limit))) if limit >= 1 else 1
    bound = "time" if by_time <= min(by_memory, CPU_FILL_CAP) else "memory" if by_memory <= CPU_FILL_CAP else "cap"
    reason = {"time": f"a forward within about {CPU_FILL_SECONDS:g} s (batch 1: {batch1_s:.3g} s)",
              "memory": f"activations within {CPU_FILL_MEMORY_SHARE:.0%} of free memory",
              "cap": f"the cap of {CPU_FILL_CAP}"}[bound]
    return batch, f"largest power of two with {reason}"


def gpu_fill_batch(try_batch: Callable[[int], str | None]) -> tuple[int, str]:
    """The largest power of two (up to GPU_FILL_CAP) for which `try_batch(batch)` reports no allocation failure
    (repro.engine.speed.fits: out of memory, or a kernel's size limit, which caps the batch where it refuses)."""
    return largest_batch(try_batch, GPU_FILL_CAP)


def with_batch(shapes: Sequence[Sequence[int]], batch: int) -> list[tuple[int, ...]]:
    """The shapes with their first (batch) dimension set to `batch`."""
    return [(batch, *shape[1:]) for shape in shapes]


# --- throughput ----------------------------------------------------------------------------------


def achieved_gflops(macs: float, seconds: float) -> float:
    """GFLOP/s with a multiply-add counted as 2 FLOPs."""
    return 2.0 * macs / seconds / 1e9


def peak_precision(options: BenchOptions) -> str:
    """The precision the kernels of a run under `options` actually use, which names its reference peak: bf16 (or
    fp16) under autocast; on a GPU without autocast TF32, since cuDNN may run fp32 convolutions in TF32 (torch's
    default, torch.backends.cudnn.allow_tf32), and setting those against the fp32 peak overstated them (an H200
    showed R(2+1)D-50 at "96% of peak", issue 17); fp32 on a CPU."""
    if options.autocast:
        return options.autocast
    if options.device.startswith("cuda") and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "float32"


def peak_gflops(options: BenchOptions) -> float:
    """The device's measured matmul throughput in GFLOP/s (2 n^3 FLOPs per n x n matmul, best of a few runs), in
    the precision its kernels use (`peak_precision`). oneDNN's direct 3x3x3 convolution can beat its own matmul
    (by about a fifth on this suite's 2-core EPYC), so a convolution-bound model can exceed 100% of this
    reference. Measured once per device and precision in a process, so every row of a run is set against the
    same peak."""
    return _matmul_gflops(options.device, peak_precision(options))


@functools.cache
def _matmul_gflops(device: str, precision: str) -> float:
    n, repeats = (8192, 12) if device.startswith("cuda") else (2048, 5)
    dtype = torch.float32 if precision in ("tf32", "float32") else getattr(torch, precision)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = math.inf
    allowed = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        with torch.inference_mode():
            torch.mm(a, b)
            synchronize(device)
            for _ in range(repeats):
                start = time.perf_counter()
                torch.mm(a, b)
                synchronize(device)
                best = min(best, time.perf_counter() - start)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = allowed
    return 2.0 * n**3 / best / 1e9
