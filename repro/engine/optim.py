"""Optimisers and learning-rate schedules from a TrainConfig (torch.optim; nothing re-implemented)."""
from __future__ import annotations

import math

import torch

from .config import TrainConfig


def make_optimizer(parameters, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum, dampening and weight decay (the 3D-CNN papers), or Adam (MAiVAR).

    `parameters` may be param groups; a group's `lr_mult` scales the scheduled lr for it.
    """
    parameters = list(parameters)
    for group in parameters:
        if isinstance(group, dict) and "lr_mult" in group:
            group.setdefault("lr", config.lr * group["lr_mult"])
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(parameters, lr=config.lr, momentum=config.momentum, dampening=config.dampening,
                           weight_decay=config.weight_decay, nesterov=config.nesterov)


class Schedule:
    """Sets the learning rate at the start of every epoch; `plateau` also listens to the validation loss.

    cosine: lr * (1 + cos(pi * e / E)) / 2 after a linear warm-up (FASTER Sec. 4.1, [27]); step: lr *
    gamma^k after the k-th of `step_epochs`; plateau: torch's ReduceLROnPlateau on the validation loss.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, config: TrainConfig):
        self.optimizer, self.config = optimizer, config
        self.plateau = None
        if config.schedule == "plateau":
            self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=config.gamma, patience=config.patience)

    def lr_at(self, epoch: int) -> float:
        c = self.config
        if c.warmup_epochs and epoch < c.warmup_epochs:
            return c.lr * (epoch + 1) / c.warmup_epochs
        if c.schedule == "cosine":
            span = max(c.epochs - c.warmup_epochs, 1)
            return c.lr * 0.5 * (1 + math.cos(math.pi * (epoch - c.warmup_epochs) / span))
        if c.schedule == "step":
            return c.lr * c.gamma ** sum(epoch >= e for e in c.step_epochs)
        return c.lr

    def start_epoch(self, epoch: int) -> None:
        """Set each group's lr to the scheduled one times the group's `lr_mult` (default 1): pretrained
        layers fine-tuned at a fraction of the rate keep that fraction (PyTorch-MFNet's lr_mult)."""
        if self.plateau is None:
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr_at(epoch) * group.get("lr_mult", 1.0)

    def end_epoch(self, val_loss: float | None) -> None:
        if self.plateau is not None and val_loss is not None:
            self.plateau.step(val_loss)

    def state_dict(self) -> dict:
        return {"plateau": self.plateau.state_dict() if self.plateau is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if self.plateau is not None and state.get("plateau") is not None:
            self.plateau.load_state_dict(state["plateau"])

    @property
    def lr(self) -> float:
        """The scheduled lr (of a group without `lr_mult`)."""
        group = self.optimizer.param_groups[0]
        return float(group["lr"]) / group.get("lr_mult", 1.0)
