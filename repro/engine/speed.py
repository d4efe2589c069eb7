"""How a run uses its device: precision, memory layout, compilation, the batch, and what it achieved.

On a CPU nothing here changes what is computed (fp32, the default layout, no compilation unless asked, the
declared batch), so CPU runs stay bit-identical across resume and to earlier runs. On CUDA a run is fast by
default:
- bf16 autocast without a gradient scaler (bf16 keeps fp32's exponent range, so gradients do not underflow);
  fp16 autocast with a scaler when the config says `amp_dtype: float16`;
- channels_last_3d weights and inputs for 5-D models, except where grouped 3-D convolutions would run slower
  (measured on an H200, issue 17: 3D ResNeXt-101 took 46.6 ms in that layout against 17.9 ms), and
  cudnn.benchmark, which picks each convolution's fastest kernel once per shape;
- `--compile` (torch.compile), its compilation timed apart from the epoch's throughput;
- `--batch auto`: the largest power-of-two batch whose training step fits (any allocation failure: out of
  memory, or a kernel's size limit such as "Output tensor is too large"), cached per model, input and device.
  The learning rate follows the linear scaling rule (Goyal et al. 2017, "Accurate, large minibatch SGD").
"""
from __future__ import annotations

import json
import resource
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..cache import cache_dir

# What a batch too big for the device raises besides torch.OutOfMemoryError: cuDNN's and ATen's size limits
# (an H200 refused MFNet at a large batch with "Output tensor is too large"), cuBLAS's and cuDNN's allocation
# failures, and 32-bit indexing limits.
ALLOCATION_FAILURES = ("out of memory", "too large", "32-bit index", "canUse32BitIndexMath", "ALLOC_FAILED",
                       "CUDNN_STATUS_NOT_SUPPORTED", "integer out of range")
BATCH_CAP = 1024


def allocation_failure(exc: BaseException) -> str | None:
    """What kind of allocation failure `exc` is ("out of memory" or the kernel's own words), or None when it is
    a real error that a smaller batch would not cure."""
    if isinstance(exc, torch.OutOfMemoryError):
        return "out of memory"
    if isinstance(exc, RuntimeError):
        text = str(exc)
        if any(words in text for words in ALLOCATION_FAILURES):
            return "out of memory" if "out of memory" in text else f"a kernel refused: {text.splitlines()[0][:120]}"
    return None


def fits(run: Callable[[], object]) -> str | None:
    """None when `run` completes; else why it could not (an allocation failure). Other errors propagate."""
    try:
        run()
        return None
    except (RuntimeError, torch.OutOfMemoryError) as exc:
        why = allocation_failure(exc)
        if why is None:
            raise
        return why
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def largest_batch(try_batch: Callable[[int], str | None], cap: int = BATCH_CAP, start: int = 1) -> tuple[int, str]:
    """The largest power of two from `start` up to `cap` for which `try_batch(batch)` reports no failure, and
    why the search stopped there. The first failure ends the search: a kernel that refuses a batch refuses
    every larger one."""
    if (why := try_batch(start)) is not None:
        raise RuntimeError(f"even a batch of {start} does not fit: {why}")
    batch = start
    while batch * 2 <= cap:
        why = try_batch(batch * 2)
        if why is not None:
            return batch, f"largest power of two that fits; {batch * 2} failed ({why})"
        batch *= 2
    return batch, f"largest power of two that fits (capped at {cap})"


# --- memory layout --------------------------------------------------------------------------------


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """channels_last_3d for a 5-D tensor, channels_last for a 4-D one, anything else unchanged."""
    if x.ndim == 5:
        return x.contiguous(memory_format=torch.channels_last_3d)
    if x.ndim == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def to_channels_last(model: nn.Module) -> nn.Module:
    """Every 4-D and 5-D weight in the channels-last layout, in place (a model may mix 2-D and 3-D convs)."""
    for param in model.parameters():
        if param.ndim in (4, 5):
            param.data = channels_last(param.data)
    return model


def has_grouped_3d_convs(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv3d) and m.groups > 1 for m in model.modules())


@dataclass(frozen=True)
class Speed:
    """A run's device options (`repro run --compile --batch auto --channels-last on|off|auto`).

    `flops_per_clip` (3 x 2 x the forward's MACs of one clip) and `peak_flops` (the device's measured matmul
    peak in the run's precision) let a run log its model FLOPs utilisation; the runner measures them."""

    compile: bool = False
    channels_last: str = "auto"  # on, off, or auto: on CUDA unless the model has grouped 3-D convolutions
    batch: str = "declared"  # declared, auto, or a number
    flops_per_clip: float | None = None
    peak_flops: float | None = None
    peak_precision: str = ""

    def layout(self, model: nn.Module, device: str) -> bool:
        if self.channels_last == "auto":
            return device.startswith("cuda") and not has_grouped_3d_convs(model)
        return self.channels_last == "on"


DEFAULT_SPEED = Speed()


def autocast_dtype(amp: bool, amp_dtype: str, device: str) -> torch.dtype | None:
    """The autocast dtype of a run, or None (fp32): mixed precision only on CUDA."""
    return getattr(torch, amp_dtype) if amp and device.startswith("cuda") else None


def synchronize(device: str) -> None:
    """Wait for the device's queued work (a GPU's kernels run asynchronously); nothing on a CPU."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def prepare_device(device: str) -> None:
    if device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True  # fastest kernel per shape; the shapes of a run repeat


def reset_peak_memory(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(torch.device(device))


def peak_memory_mb(device: str) -> float:
    """The device's peak allocated memory since the last reset (CUDA), or the process's peak resident memory
    (CPU: the kernel's maxrss, which never resets)."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(torch.device(device)) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the batch cache --------------------------------------------------------------------------------


def batch_cache_path() -> Path:
    return cache_dir() / "train_batches.json"


def cached_batch(key: str, search: Callable[[], tuple[int, str]]) -> tuple[int, str]:
    """The batch found for `key` before, or `search()`'s, stored for the next run (written atomically)."""
    from ..atomic import write_text_atomic

    path = batch_cache_path()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return int(known[key]["batch"]), known[key]["rule"] + " (cached)"
    batch, rule = search()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps({**known, key: {"batch": batch, "rule": rule}}, indent=1, sort_keys=True))
    return batch, rule


def scaled_lr(lr: float, declared_batch: int, batch: int) -> float:
    """The linear scaling rule: the learning rate grows with the batch (Goyal et al. 2017, Sec. 2.1)."""
    return lr * batch / declared_batch

