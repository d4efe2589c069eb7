"""FASTER's stage-2 pipelines (Zhu et al., AAAI 2020): aggregators on frozen clip backbones, and Avg. pool.

Sec. 4 "Setups for learning to aggregate": "Due to limited GPU memory, we train the FASTER framework in a
two-stage process. First, two clip-level backbones are trained by themselves separately. In the second stage,
two backbones are fixed and we train different RNNs using the feature maps extracted by the backbones."
Stage 1 is the suite's `classify` pipeline (Table 2 experiments); stage 2 is here:

- `train_aggregator` (Tables 3, 4, 6): both backbones loaded from their stage-1 checkpoints and frozen, the
  aggregator trained on their res5 maps over N clips of L frames routed by the #E:#C pattern.
- `average_scores` (Table 3 "Avg. pool"): nothing trained; each clip is scored by the classifier of the
  backbone that processed it and the softmax scores are averaged (Sec. 3.3, Sec. 5).

- `finetune` (Table 8): both stages again on one UCF-101 / HMDB-51 split, from the Kinetics runs; the
  runner repeats it for every split of `dataset.splits` and reports the mean.
"""
from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from papers.faster.models import AGGREGATORS, Faster, expensive_clips
from repro import models
from repro.data import sampling
from repro.data.dataset import VideoDataset
from repro.engine import checkpoint
from repro.engine.config import TrainConfig
from repro.engine.distributed import SINGLE
from repro.engine.loop import Task, fit
from repro.weights import load_pretrained, read_state_dict
from repro.engine.metrics import video_scores
from repro.run.plan import expected_role_model
from repro.run.runner import Context, effective

EXPENSIVE, CHEAP = "expensive", "cheap"


def feature_map(backbone: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """The map FASTER aggregates, (B, C, l, h, w): res5 of the clip backbone (Sec. 3.4, Table 1).

    baselines/vmz_resnet's `features` is that map; the proxy-only nets (baselines/proxy_nets) call it
    `feature_map` (their `features` is pooled).
    """
    mapper = getattr(backbone, "feature_map", None)
    return mapper(clips) if mapper is not None else backbone.features(clips)


def feature_channels(backbone: nn.Module) -> int:
    """Channels of `feature_map`: 2048 for R(2+1)D-50 / R3D-50 / R2D-26 (Table 1), the classifier's input."""
    return int(getattr(backbone, "out_channels", None) or backbone.fc.in_features)


def segment_clips(num_frames: int, num_clips: int, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """Training clips of stage 2: N windows of L consecutive frames, one at a random start in each of N equal
    segments of the valid starts, in temporal order; shape (N, L).

    Sec. 4 says only "we randomly sample N clips, and each clip has L consecutive frames"; one window per
    equal segment (TSN's segment sampling, repro.data.sampling.tsn_train, with snippets of L frames) is our
    reading, so that the N clips cover the video in order as the test clips do (experiments.yaml notes).
    A video shorter than L is loop-padded (sampling.loop_pad), as the test protocol's clips are.
    """
    if num_frames < 1 or num_clips < 1 or clip_len < 1:
        raise ValueError(f"need num_frames, num_clips, clip_len >= 1, got {num_frames}, {num_clips}, {clip_len}")
    starts_available = max(num_frames - clip_len + 1, 1)
    bounds = np.floor(np.linspace(0, starts_available, num_clips + 1)).astype(np.int64)
    starts = [int(rng.integers(low, max(high, low + 1))) for low, high in zip(bounds[:-1], bounds[1:], strict=True)]
    return np.stack([sampling.loop_pad(np.arange(s, min(s + clip_len, num_frames)), clip_len) for s in starts])


def clips_dataset(base: VideoDataset, num_clips: int, clip_len: int) -> VideoDataset:
    """`base` (the experiment's training set) reading N segment clips per video instead of its one clip.

    The spatial augmentation of the training protocol (FASTER's train_jitter: shorter side in [256, 320],
    random crop, flip; Sec. 4) is kept and, as protocols.py applies it to all clips of a video at once,
    drawn once per video.
    """
    protocol = dataclasses.replace(
        base.protocol, name=f"{base.protocol.name}+segments",
        sample=partial(_segment_sampler, num_clips, clip_len),
        description=f"{base.protocol.description}; {num_clips} clips of {clip_len} frames, one per segment")
    return VideoDataset(base.samples, protocol, seed=base.seed, frames=base.frames,
                        frame_template=base.frame_template, resize_at_decode=base.resize_at_decode)


def _segment_sampler(num_clips: int, clip_len: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    return segment_clips(num_frames, num_clips, clip_len, rng)


class StagedFaster(Faster):
    """FASTER (Fig. 1b) as trained in stage 2: clip t goes to the expensive or the cheap backbone by the
    #E:#C pattern (models.expensive_clips) and the aggregator reads their feature maps.

    With `frozen`, the backbones stay in eval mode whatever `train()` is asked (their batch-norm statistics
    are those of stage 1: "two backbones are fixed", Sec. 4) and their parameters need no gradient.
    State-dict keys are those of the registered faster/faster model (expensive., cheap., aggregator.).
    """

    def __init__(self, expensive: nn.Module, cheap: nn.Module, aggregator: nn.Module, pattern: str,
                 frozen: bool = True):
        super().__init__(expensive, cheap, aggregator, pattern)
        self.frozen = frozen
        if frozen:
            for backbone in (expensive, cheap):
                backbone.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> StagedFaster:
        super().train(mode)
        if getattr(self, "frozen", False):
            self.expensive.eval()
            self.cheap.eval()
        return self

    def route(self, clips: torch.Tensor, apply) -> list[torch.Tensor]:
        """`apply(backbone, x)` on every clip of (B, N, 3, L, H, W) with the backbone the pattern gives it,
        the clips of one backbone as one batch; returns the N outputs in clip order."""
        batch, count = clips.shape[:2]
        chosen = expensive_clips(count, self.pattern)
        outputs: list[torch.Tensor | None] = [None] * count
        for backbone, wanted in ((self.expensive, True), (self.cheap, False)):
            positions = [t for t, use_e in enumerate(chosen) if use_e == wanted]
            if not positions:
                continue
            result = apply(backbone, clips[:, positions].flatten(0, 1)).unflatten(0, (batch, len(positions)))
            for j, t in enumerate(positions):
                outputs[t] = result[:, j]
        return outputs

    def clip_maps(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, N, 3, L, H, W) clips to the (B, N, C, l, h, w) maps x_0..x_{N-1} the aggregator reads.

        R(2+1)D-50 and R2D-26 both give L/8 x 7 x 7 (Table 1: R2D-26's conv1 strides time by 8); backbones
        whose maps differ (the proxy nets: small2d keeps all L frames, small3d strides time by 4) are
        average-pooled to the smaller size so that the recurrence can mix them. A no-op for the paper's pair.
        """
        maps = self.route(clips, feature_map)
        size = tuple(min(m.shape[i] for m in maps) for i in (-3, -2, -1))
        return torch.stack([m if tuple(m.shape[-3:]) == size else F.adaptive_avg_pool3d(m, size) for m in maps], 1)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.aggregator(self.clip_maps(clips))

    def clip_scores(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, N, K) logits: each clip classified by the backbone that processed it (stage-1 classifier)."""
        return torch.stack(self.route(clips, lambda backbone, x: backbone(x)), dim=1)


def _declared(ctx: Context, experiment_id: str):
    from repro.run.experiments import find
    from repro.audit.papers import load_papers

    return find(f"{ctx.experiment.paper}/{experiment_id}", load_papers(ctx.experiment.paper))


def backbone_spec(ctx: Context, experiment_id: str, role: str) -> tuple[str, dict[str, Any]]:
    """(model name, args) of the stage-1 backbone experiment `experiment_id`, as it declares it (its proxy
    model in proxy mode). Its declared model must be the one this experiment names as `role` (expensive /
    cheap), so that a mismatch in experiments.yaml fails here, in either mode."""
    declared = _declared(ctx, experiment_id)
    name = declared.proxy.get("model", declared.model) if ctx.proxy else declared.model
    args = {**declared.model_args, **(declared.proxy.get("model_args", {}) if ctx.proxy else {})}
    if ctx.proxy and "num_classes" in ctx.model_args:
        args["num_classes"] = ctx.model_args["num_classes"]  # as the runner set it for that run (synthetic classes)
    named, expected = ctx.model_args.get(role), expected_role_model(ctx.experiment, declared, role, ctx.proxy)
    if named is not None and named != expected:
        raise ValueError(f"{ctx.experiment.name}: {role} model is {named!r} but {experiment_id} trains {expected!r}")
    return name, args


def stage1_checkpoint(ctx: Context, experiment_id: str, weights_name: str | None = None) -> Path:
    """`--weights <weights_name>=PATH` when the user gave it, else the checkpoint of experiment_id's run."""
    if weights_name and weights_name in ctx.weights:
        return Path(ctx.weights[weights_name])
    path = Path(ctx.run_dir_of(experiment_id)) / "checkpoint.pt"
    if not path.is_file():
        hint = f", or pass --weights {weights_name}=PATH" if weights_name else ""
        raise FileNotFoundError(f"{ctx.experiment.name} needs the stage-1 checkpoint {path}: run "
                                f"`repro run {ctx.experiment.paper}/{experiment_id}{' --proxy' if ctx.proxy else ''}` "
                                f"first (same --out){hint}")
    return path


def load_backbone(ctx: Context, experiment_id: str, role: str) -> nn.Module:
    """The stage-1 backbone of experiment `experiment_id` (backbone_spec) with its run's checkpoint."""
    name, args = backbone_spec(ctx, experiment_id, role)
    path = stage1_checkpoint(ctx, experiment_id)
    backbone = models.build(name, **args)
    backbone.load_state_dict(checkpoint.load(path)["model"])
    return backbone


def _aggregator_and_pattern(ctx: Context) -> tuple[str, str]:
    """faster/faster names both in its args; faster/<aggregator> takes the pattern from pipeline_args."""
    name = ctx.model_name or ctx.experiment.model
    if name == "faster/faster":
        return ctx.model_args.get("aggregator", "fast_gru"), ctx.model_args.get("pattern", "1:1")
    aggregator = name.rpartition("/")[2]
    if not name.startswith("faster/") or aggregator not in AGGREGATORS:
        raise ValueError(f"{ctx.experiment.name}: model must be faster/faster or one of "
                         f"{', '.join('faster/' + a for a in AGGREGATORS)}, got {name!r}")
    if "pattern" not in ctx.pipeline_args:
        raise ValueError(f"{ctx.experiment.name}: with model {name}, pipeline_args needs `pattern` (e.g. '1:3')")
    return aggregator, str(ctx.pipeline_args["pattern"])


def build_staged(ctx: Context, *, frozen: bool = True) -> StagedFaster:
    """Both stage-1 backbones from their checkpoints (pipeline_args expensive_from, cheap_from) and a fresh
    aggregator over their maps (its channels those of the backbones: 2048 in the paper)."""
    for key in ("expensive_from", "cheap_from"):
        if key not in ctx.pipeline_args:
            raise ValueError(f"{ctx.experiment.name}: pipeline_args needs {key} (a stage-1 experiment id)")
    aggregator, pattern = _aggregator_and_pattern(ctx)
    expensive_clips(1, pattern)  # a bad pattern fails before any checkpoint is read
    expensive = load_backbone(ctx, ctx.pipeline_args["expensive_from"], EXPENSIVE)
    cheap = load_backbone(ctx, ctx.pipeline_args["cheap_from"], CHEAP)
    channels = feature_channels(expensive)
    if feature_channels(cheap) != channels:
        raise ValueError(f"the expensive and cheap backbones give {channels} and {feature_channels(cheap)} "
                         "channels; FASTER's aggregators need the same (2048 for both in Table 1)")
    num_classes = ctx.model_args.get("num_classes", 400)
    return StagedFaster(expensive, cheap, AGGREGATORS[aggregator](num_classes=num_classes, channels=channels),
                        pattern, frozen=frozen)


def aggregate_forward(model: nn.Module, views: torch.Tensor) -> torch.Tensor:
    """(B, N, 3, L, H, W) clips to (B, 1, K): one video-level prediction, the aggregator's."""
    return model(views).unsqueeze(1)


def clip_scores_forward(model: StagedFaster, views: torch.Tensor) -> torch.Tensor:
    """(B, N, 3, L, H, W) clips to (B, N, K): per-clip logits, which evaluation turns into the mean softmax."""
    return model.clip_scores(views)


def mean_softmax_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Negative log of the averaged clip softmax at the label: the loss of the score Avg. pool reports."""
    return F.nll_loss(video_scores(logits).clamp_min(1e-12).log(), labels)


def _stage_options(ctx: Context) -> dict[str, Any]:
    _, train, _, _ = effective(ctx.experiment, ctx.proxy)
    missing = [k for k in ("clip_len", "num_clips") if k not in train]
    if missing:
        raise ValueError(f"{ctx.experiment.name}: train needs {' and '.join(missing)} (N clips of L frames)")
    return train


def train_aggregator(ctx: Context) -> tuple[Task, Any, Any]:
    """Stage 2 (Sec. 4 "Setups for learning to aggregate"; Tables 3, 4, 6): train the aggregator on frozen
    backbones.

    pipeline_args: expensive_from, cheap_from (stage-1 experiment ids whose run_dir/checkpoint.pt hold the
    backbones), freeze_backbones (default true, as the paper: "two backbones are fixed"; false trains them
    too). The experiment's model is faster/faster with `aggregator` and `pattern` ("#E:#C", "All E"; Table 4)
    in its args. Training reads N clips of L frames per video (train.num_clips, train.clip_len), one random
    window per equal segment in order (`segment_clips`), with the training protocol's augmentation; the
    initial state is the first clip's map (o_0 = x_0, Eq. 1, in models.RecurrentAggregator). Testing uses the
    experiment's test protocol as it is (uniform_clips: "the N clips are uniformly sampled to cover the
    whole video"). Only the aggregator and its classifier are optimised when the backbones are frozen.
    """
    frozen = bool(ctx.pipeline_args.get("freeze_backbones", True))
    model = build_staged(ctx, frozen=frozen)
    options = _stage_options(ctx)
    train_set = clips_dataset(ctx.train_set, int(options["num_clips"]), int(options["clip_len"]))
    parameters = _aggregator_parameters if frozen else None
    return Task(model, forward=aggregate_forward, parameters=parameters), train_set, ctx.test_set


def _aggregator_parameters(model: StagedFaster) -> list[nn.Parameter]:
    return list(model.aggregator.parameters())


def average_scores(ctx: Context) -> tuple[Task, Any, Any]:
    """Table 3 "Avg. pool" (Sec. 3.3, Sec. 5): "we simply average the classification scores of all the clips
    ... regardless of whether the scores are generated by the expensive or lightweight model".

    pipeline_args: expensive_from, cheap_from (stage-1 experiment ids), evaluate_only (must be true: nothing
    is trained). Each test clip (the experiment's test protocol) is classified by the stage-1 classifier of
    the backbone the pattern sends it to, and evaluation averages the clips' softmax (repro.engine.metrics).
    The training set returned is empty, so whatever `epochs` the config holds, no step is taken and the
    weights stay those of the checkpoints; the experiment's aggregator (avg_pool) is not used.
    """
    if not ctx.pipeline_args.get("evaluate_only", True):
        raise ValueError(f"{ctx.experiment.name}: average_scores trains nothing (evaluate_only: true); a classifier "
                         "trained on pooled clip maps is faster.train_aggregator with aggregator avg_pool")
    model = build_staged(ctx, frozen=True)
    empty = VideoDataset([], ctx.test_set.protocol, seed=ctx.test_set.seed)
    task = Task(model, forward=clip_scores_forward, loss=mean_softmax_loss,
                parameters=_aggregator_parameters)  # the optimiser needs parameters; no batch ever steps it
    return task, empty, ctx.test_set


def _stage_config(ctx: Context, values: dict[str, Any], what: str) -> TrainConfig:
    """The experiment's config (seed, workers, amp ...) with a stage's own settings from pipeline_args."""
    _, _, _, config = effective(ctx.experiment, ctx.proxy)
    return TrainConfig.from_mapping({**config.as_dict(), **values}, f"{ctx.experiment.name}: pipeline_args {what}")


def finetune(ctx: Context) -> tuple[Task, Any, Any]:
    """Table 8 (Sec. 4 "Datasets", Sec. 5): FASTER32 pre-trained on Kinetics, fine-tuned on one split of
    UCF-101 or HMDB-51 in FASTER's two stages (experiments.yaml faster32-* notes give the reading). The
    runner runs every split of `dataset.splits` in its own folder and reports the mean.

    1. Each backbone (pipeline_args expensive_from, cheap_from: the Kinetics stage-1 experiments, or
       `--weights expensive=PATH` / `cheap=PATH`) starts from its Kinetics checkpoint with a new classifier
       for this dataset (`new_layers`, default fc) and is fine-tuned alone on single clips (the training
       protocol) with pipeline_args backbone_config; tested on the experiment's test protocol (clip softmax
       averaged). Each is a fit of its own in `<run folder>/stage1-<role>`, resumed with `--resume`.
    2. Both frozen, the aggregator starts from the Kinetics FASTER's (aggregator_from, or `--weights
       aggregator=PATH`) with a new classifier, and is trained over N clips as `train_aggregator` does; this
       is the fit the runner runs, so its result is the split's.
    """
    args = ctx.pipeline_args
    for key in ("expensive_from", "cheap_from", "aggregator_from", "backbone_config"):
        if key not in args:
            raise ValueError(f"{ctx.experiment.name}: pipeline_args needs {key}")
    aggregator_name, pattern = _aggregator_and_pattern(ctx)
    expensive_clips(1, pattern)
    new_layers = tuple(f"{str(p).rstrip('.')}." for p in args.get("new_layers", ("fc",)))
    num_classes = int(ctx.model_args.get("num_classes", 400))
    config = _stage_config(ctx, dict(args["backbone_config"]), "backbone_config")
    world = ctx.world or SINGLE
    backbones = {}
    for role in (EXPENSIVE, CHEAP):
        source = str(args[f"{role}_from"])
        name, model_args = backbone_spec(ctx, source, role)
        backbone = models.build(name, **{**model_args, "num_classes": num_classes})
        load_pretrained(backbone, stage1_checkpoint(ctx, source, role), skip=new_layers)
        fit(Task(backbone), ctx.train_set, ctx.test_set, config, run_dir=Path(ctx.run_dir) / f"stage1-{role}",
            device=ctx.device, world=world, resume=ctx.resume, show_progress=ctx.show_progress)
        backbones[role] = backbone.cpu()
    channels = feature_channels(backbones[EXPENSIVE])
    aggregator = AGGREGATORS[aggregator_name](num_classes=num_classes, channels=channels)
    kinetics = read_state_dict(stage1_checkpoint(ctx, str(args["aggregator_from"]), "aggregator"))
    if any(k.startswith("aggregator.") for k in kinetics):  # a whole FASTER's state (faster/faster, stage 2)
        kinetics = {k.removeprefix("aggregator."): v for k, v in kinetics.items() if k.startswith("aggregator.")}
    load_state = {k: v for k, v in kinetics.items() if not k.startswith(new_layers)}
    missing, unexpected = aggregator.load_state_dict(load_state, strict=False)
    missing = [k for k in missing if not k.startswith(new_layers)]
    if missing or unexpected:
        raise ValueError(f"{ctx.experiment.name}: the Kinetics aggregator ({args['aggregator_from']}) does not fit "
                         f"{aggregator_name}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model = StagedFaster(backbones[EXPENSIVE], backbones[CHEAP], aggregator, pattern, frozen=True)
    options = _stage_options(ctx)
    train_set = clips_dataset(ctx.train_set, int(options["num_clips"]), int(options["clip_len"]))
    return Task(model, forward=aggregate_forward, parameters=_aggregator_parameters), train_set, ctx.test_set
