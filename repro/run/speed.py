"""A run's device options resolved before training: the batch (`--batch auto` or a number, with the
learning rate scaled linearly), the layout, and the FLOPs per clip and the device's matmul peak that turn the
engine's throughput into MFU. What was chosen and why goes into the run's record (MLflow params `speed.*`)."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import Any

import torch

from ..engine.config import TrainConfig
from ..engine.loop import Task, make_loader
from ..engine.speed import Speed, autocast_dtype, cached_batch, scaled_lr
from ..engine.step import find_train_batch

BATCH_CHOICES = "declared, auto, or a whole number >= 1"


def parse_batch(text: str) -> str:
    """`--batch`: "declared", "auto" or a positive number (argparse type)."""
    if text in ("declared", "auto") or (text.isdigit() and int(text) > 0):
        return text
    raise argparse.ArgumentTypeError(f"expected {BATCH_CHOICES}, got {text!r}")


def example_batch(train_set, tries: int = 20) -> Any:
    """The first readable training sample (of the first `tries`) as a batch of one (its views and label), for the
    batch search and the FLOP count; None when none is (the run's skip log then says why)."""
    loader = make_loader(train_set, 1, workers=0, sampler=range(min(len(train_set), tries)))
    for batch in loader:
        if len(batch.labels):
            return batch
    return None


class _TaskForward(torch.nn.Module):
    """The task's forward as a module, so that the FLOP counter traces what training runs."""

    def __init__(self, task: Task):
        super().__init__()
        self.model, self.forward_fn = task.model, task.forward

    def forward(self, views: Any) -> torch.Tensor:
        return self.forward_fn(self.model, views)


def flops_per_clip(task: Task, views: Any) -> tuple[float | None, str]:
    """Training FLOPs of one clip, 3 x 2 x the forward's MACs (backward costs about twice the forward), with
    what was counted; None where the forward cannot be traced."""
    from ..measure.flops import count

    try:
        counted = count(_TaskForward(task), (views,), second_opinion=False)
    except Exception as exc:  # noqa: BLE001 - a forward fvcore cannot trace has no MFU, and the run goes on
        return None, f"not counted: {type(exc).__name__}: {str(exc)[:160]}"
    finally:
        task.model.train()
    return 6.0 * counted.macs, "3 x 2 x the forward's multiply-adds (fvcore, repro.measure.flops)"


def resolve(task: Task, train_set, config: TrainConfig, *, device: str, batch: str = "declared",
            compile: bool = False, channels_last: str = "auto",
            model_name: str = "") -> tuple[Speed, TrainConfig, dict]:
    """The run's Speed, its config (batch and lr as resolved) and the record of what was chosen and why."""
    from ..measure.bench import BenchOptions, device_name, peak_gflops, peak_precision

    speed = Speed(compile=compile, channels_last=channels_last, batch=batch)
    layout = speed.layout(task.model, device)
    declared, declared_lr = config.batch_size, config.lr
    if config.epochs == 0:  # evaluation only: nothing is trained
        return speed, config, {"batch": declared, "batch_rule": "evaluation only", "channels_last": layout,
                               "compile": compile}
    example = example_batch(train_set)
    rule = "declared by the experiment"
    if batch == "auto" and example is None:
        found, rule = declared, "declared: no readable training sample to search with"
    elif batch == "auto" and device.startswith("cuda"):
        shape = "x".join(map(str, example.views.shape[1:])) if torch.is_tensor(example.views) else "views"
        key = "|".join([model_name or type(task.model).__name__, str(sum(p.numel() for p in task.model.parameters())),
                        shape, device_name(device), config.amp_dtype if config.amp else "float32",
                        "channels_last" if layout else "contiguous", torch.__version__])
        found, rule = cached_batch(key, lambda: find_train_batch(task, example.views, example.labels, config,
                                                                 device=device, layout=layout))
    elif batch == "auto":
        found, rule = declared, "declared: --batch auto needs a GPU to search; a CPU run keeps the experiment's"
    elif batch.isdigit():
        found, rule = int(batch), "--batch"
    else:
        found = declared
    if found != declared:
        config = config.replace(batch_size=found, lr=scaled_lr(config.lr, declared, found))
    dtype = autocast_dtype(config.amp, config.amp_dtype, device)
    options = BenchOptions(device=device, autocast=str(dtype).removeprefix("torch.") if dtype else None)
    flops, counted = flops_per_clip(task, example.views) if example is not None else (None, "no readable sample")
    if batch == "auto" and not device.startswith("cuda"):
        print(f"--batch auto: {rule}", file=sys.stderr)
    peak = peak_gflops(options) * 1e9
    speed = replace(speed, flops_per_clip=flops, peak_flops=peak, peak_precision=peak_precision(options))
    scaled = "linear scaling with the batch (Goyal et al. 2017)" if found != declared else "as declared"
    record = {"batch": found, "batch_rule": rule, "declared_batch_size": declared, "declared_lr": declared_lr,
              "lr": config.lr, "lr_rule": scaled, "channels_last": layout, "precision": options.dtype + (
                  f" (the config's {config.amp_dtype} autocast applies on CUDA only)" if config.amp and dtype is None
                  else ""),
              "compile": compile, "flops_per_clip": flops, "flops_counted": counted, "peak_tflops": peak / 1e12,
              "peak_precision": speed.peak_precision}
    return speed, config, record
