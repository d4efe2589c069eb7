"""KPSEM's training pipeline (Cao et al., ../shared/seeds/kpsem.txt): fine-tune MFNet-3D or MF-KPSEM from
a pretrained checkpoint, as the paper says it follows PyTorch-MFNet ("Following the implementation in
[35]", Sec. 4.1-4.2; cypw/PyTorch-MFNet, ../shared/notes/sources.md).

`finetune` (experiments.yaml `pipeline: kpsem.finetune`) reads these pipeline_args:
- `pretrained` (text: which checkpoint the user is expected to bring), `pretrained_into` (the submodule it
  is loaded into: "" for MFNet itself, "backbone" for MF-KPSEM), `pretrained_source` (repro.weights
  source; "native" when absent, whose key rules are the same as "mfnet"'s), `new_layers` (parameter-name
  prefixes that are new for this dataset and are not loaded), `base_lr_mult` (learning-rate factor of
  the pretrained layers) and `frame_interval` (take every k-th frame of the sampled window).
- `classes` (proxy only): keep only these classes of the (synthetic) dataset, relabelled in this order.

The learning-rate multiplier: PyTorch-MFNet's train_model.py puts every pretrained parameter in a group
with `lr_mult` 0.2 and the new classifier in one with `lr_mult` 1.0, and train/model.py's
`adjust_learning_rate` sets each group's lr to the scheduled lr times its `lr_mult`; the engine's
`Schedule` does the same with the `lr_mult` of the groups built here.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import Any

import torch

from repro.data.dataset import VideoDataset
from repro.engine.loop import Task, views_forward
from repro.run.runner import Context



def strided_forward(model: torch.nn.Module, views: torch.Tensor, *, interval: int = 1) -> torch.Tensor:
    """views_forward on every `interval`-th frame: (B, V, C, T, H, W) -> (B, V, C, ceil(T / k), H, W).

    PyTorch-MFNet samples 16 frames at interval 2 (--clip-length 16, --train/val-frame-interval 2,
    data/iterator_factory.py), i.e. a 32-frame window read every second frame; the protocols sample
    the 32-frame window and this keeps frames 0, 2, ..., 30.
    """
    if interval > 1:
        views = views[:, :, :, ::interval]
    return views_forward(model, views)


def parameter_groups(model: torch.nn.Module, *, new_layers: tuple[str, ...], base_lr_mult: float) -> list[dict]:
    """Optimizer groups: the `new_layers` at the full lr first (so the logged lr is the scheduled one),
    the pretrained rest with `lr_mult` = base_lr_mult (PyTorch-MFNet train_model.py: 0.2 when fine-tuning).
    Parameters with requires_grad False are left out."""
    new, base = [], []
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            (new if name.startswith(new_layers) else base).append(parameter)
    if not new:
        raise ValueError(f"new_layers {list(new_layers)} match no trainable parameter of {type(model).__name__}")
    groups = [{"params": new, "lr_mult": 1.0}]
    if base:
        groups.append({"params": base, "lr_mult": float(base_lr_mult)})
    return groups


def restrict_classes(dataset: VideoDataset, classes: list[str]) -> VideoDataset:
    """The samples of `classes` only (matched by class name), relabelled 0..n-1 in the order given.

    For proxy runs on the synthetic dataset (e.g. only its motion-direction classes, repro/data/synth.py).
    """
    labels = {name: index for index, name in enumerate(classes)}
    samples = [dataclasses.replace(s, label=labels[s.class_name]) for s in dataset.samples if s.class_name in labels]
    missing = sorted(set(classes) - {s.class_name for s in samples})
    if missing:
        raise ValueError(f"classes {missing} have no video in this set; its classes are "
                         f"{sorted({s.class_name for s in dataset.samples})}")
    return VideoDataset(samples, dataset.protocol, seed=dataset.seed, frames=dataset.frames,
                        frame_template=dataset.frame_template, resize_at_decode=dataset.resize_at_decode)


def finetune(ctx: Context) -> tuple[Task, Any, Any]:
    """Fine-tune the experiment's model from the user's pretrained checkpoint (Sec. 4.1: "we utilize the
    pretrained model of MFNet [35] trained on Kinetics"), PyTorch-MFNet's way.

    - Weights: `--weights pretrained=PATH` is loaded into `pretrained_into` (repro.weights.load_pretrained,
      strict), the `new_layers` left out (the new classifier; for MF-KPSEM also KPSEM, which MFNet never
      had). A full run without it is refused: the paper's numbers are fine-tuned ones. A proxy run has no
      checkpoint and trains from scratch.
    - Learning rates: with a checkpoint, the loaded layers at `base_lr_mult` x lr and the new ones at the
      full lr (PyTorch-MFNet train_model.py, fine_tune: 0.2 / 1.0); from scratch every layer is new and
      trains at the full lr.
    - Frames: every `frame_interval`-th frame of the sampled clip (see strided_forward).
    - `inflate_2d` (R3D, R3D-KPSEM; Sec. 4.4 "can be directly initialized from weights pretrained on
      ImageNet"): the checkpoint is torchvision's ImageNet ResNet-50, its keys renamed to ours, its 2D
      kernels inflated to 1xkxk and its 1000-class fc dropped (repro.weights source torchvision-resnet-2d,
      the default `pretrained_source` here).
    - The mean over UCF101/HMDB51 splits 1-3 (Sec. 4.1) is the runner's (`dataset.splits`): this pipeline
      builds one split's run.
    """
    args = ctx.pipeline_args
    train_set, test_set = ctx.train_set, ctx.test_set
    if args.get("classes"):
        classes = [str(c) for c in args["classes"]]
        train_set, test_set = restrict_classes(train_set, classes), restrict_classes(test_set, classes)
        ctx.model_args["num_classes"] = len(classes)  # in place: the run record shows the model as built
    model = ctx.build_model()
    new_layers = tuple(f"{str(p).rstrip('.')}." for p in args.get("new_layers", ("classifier",)))
    if args.get("inflate_2d"):
        args.setdefault("pretrained_source", "torchvision-resnet-2d")  # recorded in the run's pipeline_args
    report = ctx.load_weights(model, "pretrained", into=str(args.get("pretrained_into") or ""), skip=new_layers)
    if report is None and not ctx.proxy:
        raise ValueError(f"{ctx.experiment.name} fine-tunes pretrained weights: pass --weights pretrained=PATH "
                         f"({args.get('pretrained', 'the pretrained checkpoint')})")
    base_lr_mult = float(args.get("base_lr_mult", 1.0)) if report is not None else 1.0
    parameters = None
    if base_lr_mult != 1.0:
        parameters = partial(parameter_groups, new_layers=new_layers, base_lr_mult=base_lr_mult)
    interval = int(args.get("frame_interval", 1))
    if interval < 1:
        raise ValueError(f"{ctx.experiment.name}: frame_interval must be >= 1, got {interval}")
    task = Task(model, forward=partial(strided_forward, interval=interval), parameters=parameters)
    return task, train_set, test_set
