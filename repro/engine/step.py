"""One training step of a task, the same for `fit` and for `repro bench train`: forward under the run's
precision, loss, backward (scaled only for fp16), gradient clipping, optimiser step. It returns the loss on
the device and never waits for it, so the host queues the next batch while the device works."""
from __future__ import annotations

import copy
import dataclasses
from typing import Any

import torch

from .speed import BATCH_CAP, autocast_dtype, channels_last, fits, largest_batch, synchronize, to_channels_last


def to_device(views: Any, device: str, layout: bool = False) -> Any:
    """A batch's views (a tensor, or a tuple/list of them) on `device`, copied without blocking (from pinned
    memory this overlaps the copy with compute), in the channels-last layout when `layout`."""
    if isinstance(views, (tuple, list)):
        return type(views)(to_device(v, device, layout) for v in views)
    views = views.to(device, non_blocking=True)
    # a (B, V, C, T, H, W) batch stays as it is: cuDNN follows the weights' layout from the first convolution
    return channels_last(views) if layout and views.ndim in (4, 5) else views


class TrainStep:
    def __init__(self, task, train_model: torch.nn.Module, optimizer: torch.optim.Optimizer, *, device: str,
                 amp: bool, amp_dtype: str = "bfloat16", grad_clip: float | None = None, layout: bool = False):
        self.task, self.train_model, self.optimizer = task, train_model, optimizer
        self.device, self.grad_clip, self.layout = device, grad_clip, layout
        self.dtype = autocast_dtype(amp, amp_dtype, device)
        # fp16's narrow range needs loss scaling; bf16 and fp32 do not
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.dtype == torch.float16)

    def __call__(self, views: Any, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.to(self.device, non_blocking=True)
        views = to_device(views, self.device, self.layout)
        with torch.autocast("cuda", dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            loss = self.task.loss(self.task.forward(self.train_model, views), labels)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                           self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach()


def _repeat(views: Any, batch: int) -> Any:
    if isinstance(views, (tuple, list)):
        return type(views)(_repeat(v, batch) for v in views)
    return views[:1].repeat(batch, *([1] * (views.ndim - 1)))


def find_train_batch(task, views: Any, labels: torch.Tensor, config, *, device: str, layout: bool,
                     cap: int = BATCH_CAP) -> tuple[int, str]:
    """The largest power-of-two batch (up to `cap`) whose training steps fit on `device`, and why the search
    stopped there. Each try trains a copy of the model for two steps (the second holds the optimiser's state
    too) on one sample's `views` repeated, so the run's own weights are never touched. Without compilation:
    a compiled step needs no more memory than an eager one."""
    from .optim import make_optimizer

    def try_batch(batch: int) -> str | None:
        model = copy.deepcopy(task.model).to(device)
        if layout:
            to_channels_last(model)
        probe = dataclasses.replace(task, model=model)
        params = probe.parameters(model) if probe.parameters else [p for p in model.parameters() if p.requires_grad]
        step = TrainStep(probe, model, make_optimizer(params, config), device=device, amp=config.amp,
                         amp_dtype=config.amp_dtype, grad_clip=config.grad_clip, layout=layout)
        batch_views, batch_labels = _repeat(views, batch), labels[:1].repeat(batch)

        def two_steps() -> None:
            for _ in range(2):
                step(batch_views, batch_labels)
            synchronize(device)

        return fits(two_steps)  # the copy is freed on return, before the next try

    return largest_batch(try_batch, cap)
