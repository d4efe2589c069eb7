"""Pipelines of the motion-distillation paper (Lu et al., ICONIP 2020): `distill` and `fuse`.

- `distill` (Sec. 3.1-3.3, Eq. 1-4; Tables 1 and 2): an RGB student (the Dual-action Stream, or MARS's MAR
  stream for Table 2's baseline) trained with L = CE + alpha x (chosen terms) against a frozen flow teacher
  whose features are tapped at the same levels. The teacher sees the optical flow of the same frames, with
  the same crop and flip as the student's RGB clip (the flip negates the x component), as MARS's
  MARS_train.py feeds its RGB and flow clips (../shared/notes/sources.md "Motion distillation backbones").
- `fuse` (Sec. 3.4 and 4.3; Table 1 "Mimic+RGB/Flow", Table 2 last rows): a distilled student and a second
  frozen stream (flow or RGB) scored on the same clips; their scores are averaged ("average", no training)
  or weighted by the attention-based fusion module, the only part trained (Sec. 4.2).

Optical flow comes from repro.data.flow as stored x_/y_ JPEGs (`FlowStore`): extracted once into a folder
(`extract_flow`, resumable) and read for the frames a clip uses (`read_flow`). Stored rather than computed per
clip because every stage reads the same flow many times (teacher training, each distillation run, each epoch,
fusion) and because MARS trains on stored TV-L1 JPEGs (uint8, +-20 px), whose quantisation the stored path
reproduces; the proxy runs use DIS (TV-L1 costs tens of times more on CPU) on the synthetic videos.

A proxy run (synthetic data) has no released teacher: `distill` then trains a small flow teacher first
(pipeline_args `teacher_training`, a TrainConfig mapping), on the flow clips of the same training videos,
and caches it in the output folder under a name derived from every setting it depends on, so that the
students compared by a proxy check (MSE, MAE + Gram, ...) are distilled from the very same teacher.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from papers.motion_distill.models import DualActionStream, gram_loss, mar_mse_loss, multi_level_mae
from repro import models
from repro.data import transforms as T
from repro.data.dataset import Item, RaggedViews, Skipped, VideoDataset
from repro.data.flow import BOUND, extract_flow, flow_dir, flow_length, read_flow
from repro.data.splits import Sample
from repro.engine import checkpoint
from repro.engine.config import TrainConfig
from repro.engine.loop import Task, fit, mean_view_loss
from repro.run.runner import Context, effective, model_spec

TERMS = ("mse", "mae", "gram")
SCORES = ("logits", "softmax")
FLOW_SCALE = 255.0 / (2 * BOUND)  # MARS feeds flow as the uint8 JPEG level - 127.5 = flow (px) x 255 / 40


# ------------------------------------------------------------------------------------------------- flow

@dataclasses.dataclass
class FlowStore:
    """Optical flow of a dataset's videos as x_/y_ JPEG folders under `root` (repro.data.flow conventions).

    A video's folder is `flow_dir(root, sample, video_root)`: its path relative to the video root, extension
    dropped, the layout `repro data flow --out ROOT` writes. Flow pair i is frame i -> i+1 (0-based), so a
    video of T frames has T-1 pairs; the clip frame i reads pair min(i, T-2) (the last frame has no next frame;
    repeating the last pair is our assumption, the paper and MARS's loader do not say).
    """

    root: Path
    video_root: Path
    method: str = "tvl1"
    short_side: int | None = None
    workers: int = 1
    _lengths: dict[str, int] = dataclasses.field(default_factory=dict)

    def folder(self, sample: Sample) -> Path:
        return flow_dir(self.root, sample, self.video_root)

    def ensure(self, samples: Sequence[Sample]) -> None:
        """Extract the flow of every sample that has no complete folder yet (a finished folder is kept)."""
        missing = [s for s in samples if not self.folder(s).is_dir()]
        if not missing:
            return
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if not distributed or torch.distributed.get_rank() == 0:  # one writer; the others wait below
            extract_flow(missing, self.root, root=self.video_root, method=self.method, short_side=self.short_side,
                         workers=self.workers)
        if distributed:
            torch.distributed.barrier()

    def read(self, sample: Sample, frame_indices: np.ndarray) -> np.ndarray:
        """(len(frame_indices), h, w, 2) float32 flow in pixels for the given 0-based frame indices."""
        folder = self.folder(sample)
        key = str(folder)
        if key not in self._lengths:
            self._lengths[key] = flow_length(folder)
        pairs = np.clip(np.asarray(frame_indices), 0, self._lengths[key] - 1)
        unique, inverse = np.unique(pairs, return_inverse=True)
        return read_flow(folder, unique)[inverse.ravel()]


def flow_store(ctx: Context, samples: Sequence[Sample], settings: dict[str, Any] | None = None) -> FlowStore:
    """The FlowStore of pipeline_args `flow` ({method, short_side, root, workers}).

    `root` (or `repro run --flow-root DIR`) names flow extracted already. Without it the flow lives in
    `<out>/flow/<layout>-<method>-<short side>[-<synthetic data digest>]`; missing videos are extracted on first
    use. The video root is the common folder of the dataset's videos (the
    layout's video folder, as `repro data flow` names it, whenever the videos span more than one class).
    """
    settings = dict(settings if settings is not None else ctx.pipeline_args.get("flow") or {})
    method, short_side = str(settings.get("method", "tvl1")), settings.get("short_side")
    video_root = Path(os.path.commonpath([str(Path(s.path).parent) for s in samples]))
    if settings.get("root") or ctx.flow_root:
        root = Path(settings.get("root") or ctx.flow_root)
    else:
        dataset, _, _, _ = effective(ctx.experiment, ctx.proxy)
        tag = f"{dataset['layout']}-{method}-{short_side or 'native'}"
        if "synth" in dataset:
            tag += "-" + hashlib.sha1(json.dumps(dataset["synth"], sort_keys=True).encode()).hexdigest()[:10]
        root = Path(ctx.out_dir) / "flow" / tag
    store = FlowStore(root, video_root, method, None if short_side is None else int(short_side),
                      int(settings.get("workers", 1)))
    store.ensure(samples)
    return store


class _RecordingSampler:
    """Wraps a protocol's frame sampler and keeps its latest answer: the frame indices the clip was decoded at."""

    def __init__(self, sample: Callable[[int, np.random.Generator], np.ndarray]):
        self.sample, self.last = sample, None

    def __call__(self, num_frames: int, rng: np.random.Generator) -> np.ndarray:
        self.last = self.sample(num_frames, rng)
        return self.last


class RGBFlowDataset(torch.utils.data.Dataset):
    """`base` (a VideoDataset) whose views carry 5 channels: the RGB clip (3, normalised as `base`) and the
    flow clip (2, x then y, in MARS's input units) at the same frames, crop and flip.

    Item i draws from the same Generator as base[i], so its RGB channels are exactly base[i].views. The flow
    of the sampled frames is resized to the decoded RGB frames (as MARS resizes its flow JPEGs like images,
    flow values unscaled) and stacked with them, and the protocol's spatial transform acts on the stack once.
    A sixth, internal channel (a horizontal ramp) tells whether that view was flipped, whatever transform
    the protocol uses; a flipped view's x flow changes sign (repro.data.transforms.flip(flow=True), MARS).
    """

    def __init__(self, base: VideoDataset, flow: FlowStore):
        self.base, self.flow = base, flow
        self._sampler = _RecordingSampler(base.protocol.sample)
        protocol = dataclasses.replace(base.protocol, sample=self._sampler)  # same name: same Generator seeds
        self._reader = VideoDataset(base.samples, protocol, seed=base.seed, frames=base.frames,
                                    frame_template=base.frame_template, resize_at_decode=base.resize_at_decode)

    @property
    def protocol(self):
        return self.base.protocol

    @property
    def samples(self) -> list[Sample]:
        return self.base.samples

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)
        self._reader.set_epoch(epoch)

    def __getitem__(self, index: int) -> Item | Skipped:
        from repro.data.decode import UnreadableVideo

        sample, rng = self.base.samples[index], self._reader.rng(index)
        try:
            frames, inverse = self._reader.decode(index, rng)
            indices = self._sampler.last
            flow = self.flow.read(sample, indices.ravel())
        except UnreadableVideo as exc:
            return Skipped(exc.path, exc.reason, index)
        label = -1 if sample.label is None else sample.label
        return Item(self.views(frames[inverse.ravel()], flow, inverse.shape, rng), label, index)

    def views(self, frames: np.ndarray, flow: np.ndarray, shape: tuple[int, int],
              rng: np.random.Generator) -> torch.Tensor:
        """RGB frames (N, H, W, 3) and flow (N, h, w, 2) to (V, 5, L, size, size), as Protocol.views."""
        protocol = self.base.protocol
        num_clips, clip_len = shape
        rgb = T.to_clip(frames).float()                                   # (3, N, H, W)
        motion = T.resize(torch.from_numpy(np.ascontiguousarray(flow)).permute(3, 0, 1, 2), *rgb.shape[-2:])
        ramp = torch.arange(rgb.shape[-1], dtype=torch.float32).expand(1, *rgb.shape[1:])
        joint = T.short_side_scale(torch.cat([rgb, motion, ramp]), protocol.decode_short_side)
        out = []
        for view in protocol.spatial(joint, rng):
            colour = T.normalize(view[:3], protocol.mean, protocol.std)
            motion = view[3:5] * FLOW_SCALE
            if view[5, 0, 0, -1] < view[5, 0, 0, 0]:  # the ramp runs backwards: this view was flipped
                motion = torch.cat([-motion[:1], motion[1:]])
            out.append(torch.cat([colour, motion]))
        per_crop = [v.reshape(v.shape[0], num_clips, clip_len, *v.shape[-2:]).transpose(0, 1) for v in out]
        return torch.stack(per_crop, dim=1).flatten(0, 1)


def rgb_part(views: torch.Tensor) -> torch.Tensor:
    return views[..., :3, :, :, :]


def flow_part(views: torch.Tensor) -> torch.Tensor:
    if views.shape[-4] != 5:
        raise ValueError(f"expected RGB+flow views with 5 channels, got {views.shape[-4]} (no flow in this dataset)")
    return views[..., 3:5, :, :, :]


def video_scores_forward(model: nn.Module, views: list[torch.Tensor] | torch.Tensor, scores: str = "logits",
                         pick: Callable[[torch.Tensor], torch.Tensor] = rgb_part) -> torch.Tensor:
    """Every clip of every video through `model` in one batch; returns (B, 1, K) video scores for the engine.

    scores="logits": the mean of the clips' logits (MARS test_single_stream.py averages the raw fc outputs, so
    the engine's softmax of it ranks classes as MARS does); "softmax": the log of the mean clip softmax.
    """
    views = list(views)
    logits = model(pick(torch.cat(views))).float()
    chunks = logits.split([len(v) for v in views])
    if scores == "logits":
        return torch.stack([c.mean(0) for c in chunks]).unsqueeze(1)
    return torch.stack([c.softmax(-1).mean(0) for c in chunks]).clamp_min(1e-12).log().unsqueeze(1)


# ------------------------------------------------------------------------------------------ feature taps

def tap_modules(model: nn.Module, taps: Sequence[str] | None = None) -> list[tuple[str, nn.Module]]:
    """(name, module) whose outputs are the tapped features f_(i) of Eq. 2-3, shallow to deep.

    DualActionStream (models.py): its `taps` (stem = the max-pool output, layer1..layer4, avgpool = the pooled
    vector), the outputs `forward_features` returns. The proxy-only SmallVideoNet (baselines/proxy_nets.py):
    stage1..stage4 (its four conv stages) and pool. `taps` overrides the names (pipeline_args `taps`).
    """
    if isinstance(model, DualActionStream):
        names = tuple(taps or model.taps)
        aliases = {"stem": "maxpool"}
        return [(n, model.backbone.get_submodule(aliases.get(n, n))) for n in names]
    stages = getattr(model, "stages", None)
    if isinstance(stages, nn.Sequential) and hasattr(model, "pool"):
        names = tuple(taps or [f"stage{i + 1}" for i in range(len(stages))] + ["pool"])
        found = []
        for name in names:
            if name == "pool":
                found.append((name, model.pool))
            elif name.startswith("stage") and name[5:].isdigit() and 1 <= int(name[5:]) <= len(stages):
                found.append((name, stages[int(name[5:]) - 1]))
            else:
                raise ValueError(f"unknown tap {name!r} for {type(model).__name__}: stage1..stage{len(stages)}, pool")
        return found
    raise ValueError(f"no feature taps known for {type(model).__name__} (DualActionStream or the proxy nets)")


class FeatureTaps:
    """Forward hooks keeping the latest output of each tapped module (a global pooling's as the (N, C) vector).

    Hooks fire however the model is called (plain, or wrapped by DistributedDataParallel), so the training
    loop's own forward fills them.
    """

    def __init__(self, model: nn.Module, taps: Sequence[str] | None = None):
        self.names = []
        self._outputs: dict[str, torch.Tensor] = {}
        self._handles = []
        for name, module in tap_modules(model, taps):
            self.names.append(name)
            pooled = isinstance(module, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AvgPoolNd))
            self._handles.append(module.register_forward_hook(self._keeper(name, pooled)))

    def _keeper(self, name: str, pooled: bool):
        def keep(_module, _inputs, output):
            self._outputs[name] = output.flatten(1) if pooled else output  # the (N, C) vector fc reads
        return keep

    def take(self) -> list[torch.Tensor]:
        """The features of the latest forward, in tap order; forgotten afterwards."""
        missing = [n for n in self.names if n not in self._outputs]
        if missing:
            raise RuntimeError(f"no features recorded at taps {missing}: run a forward first")
        out = [self._outputs.pop(n) for n in self.names]
        self._outputs.clear()
        return out

    def clear(self) -> None:
        self._outputs.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def distillation_term(student: Sequence[torch.Tensor], teacher: Sequence[torch.Tensor], terms: Sequence[str],
                      mae_reduction: str = "mean", gram_reduction: str = "sum") -> torch.Tensor:
    """The bracket of Eq. 4 for the chosen terms: mse (Eq. 1 on the last tap, the pooled vector: MARS),
    mae (Eq. 2 over every tap), gram (Eq. 3 over every tap); models.py computes each."""
    unknown = set(terms) - set(TERMS)
    if unknown:
        raise ValueError(f"unknown distillation terms {sorted(unknown)}; known: {', '.join(TERMS)}")
    total = student[0].new_zeros((), dtype=torch.float32)
    if "mse" in terms:
        total = total + mar_mse_loss(student[-1].float(), teacher[-1].float())
    if "mae" in terms:
        total = total + multi_level_mae(student, teacher, reduction=mae_reduction).float()
    if "gram" in terms:
        total = total + gram_loss(student, teacher, reduction=gram_reduction).float()
    return total


@dataclasses.dataclass
class Distillation:
    """Forward and loss of the distillation Task: L = CE(h, y) + alpha x distillation_term (Eq. 1 and 4).

    Training views hold RGB+flow (RGBFlowDataset): the student sees the RGB channels (through the engine's
    forward, so its taps record), the frozen teacher the flow channels. Test views (a list per video, RGB)
    give the student's video scores only; the loss is then cross-entropy alone.
    """

    student_taps: FeatureTaps | None
    teacher: nn.Module | None
    teacher_taps: FeatureTaps | None
    terms: tuple[str, ...]
    alpha: float
    mae_reduction: str = "mean"
    gram_reduction: str = "sum"
    scores: str = "logits"
    _teacher_features: list[torch.Tensor] | None = None
    last_terms: dict[str, float] = dataclasses.field(default_factory=dict)

    def forward(self, model: nn.Module, views) -> torch.Tensor:
        self._teacher_features = None
        if isinstance(views, (list, tuple)):  # dense test clips of each video
            out = video_scores_forward(model, views, self.scores)
            if self.student_taps is not None:
                self.student_taps.clear()
            return out
        if self.teacher is not None and views.shape[2] == 5 and model.training:
            self.teacher.to(views.device).eval()
            with torch.no_grad():
                self.teacher(flow_part(views).flatten(0, 1))
            self._teacher_features = [f.detach() for f in self.teacher_taps.take()]
        batch, count = views.shape[:2]
        return model(rgb_part(views).flatten(0, 1)).reshape(batch, count, -1)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        entropy = mean_view_loss(logits, labels)
        teacher, self._teacher_features = self._teacher_features, None
        if teacher is None or not self.terms:
            return entropy
        student = self.student_taps.take()
        term = distillation_term(student, teacher, self.terms, self.mae_reduction, self.gram_reduction)
        self.last_terms = {"ce": float(entropy.detach()), "distill": float(term.detach())}
        return entropy + self.alpha * term


# ---------------------------------------------------------------------------------------------- helpers

def _build(spec: dict[str, Any] | None, ctx: Context, **defaults: Any) -> nn.Module:
    """A model from a {name, args} mapping (pipeline_args teacher_model / second_model); num_classes from
    the experiment unless the mapping sets it."""
    if not spec or "name" not in spec:
        raise ValueError(f"{ctx.experiment.name}: expected a model mapping {{name, args}}, got {spec!r}")
    args = {**defaults, **dict(spec.get("args") or {})}
    if ctx.proxy and "num_classes" in ctx.model_args:
        args["num_classes"] = ctx.model_args["num_classes"]  # the runner sets it from the synthetic train set
    args.setdefault("num_classes", ctx.model_args.get("num_classes"))
    return models.build(str(spec["name"]), **args)


def load_user_weights(ctx: Context, model: nn.Module, name: str, skip: tuple[str, ...] = ()) -> Any:
    """`--weights NAME=PATH` into `model`: a DualActionStream loads into its backbone from MARS's keys unless
    pipeline_args `<name>_source` says otherwise (repro.weights.SOURCES); others in whichever source fits."""
    from repro.weights import load_pretrained

    if name not in ctx.weights:
        return None
    wrapped = isinstance(model, DualActionStream)
    source = ctx.pipeline_args.get(f"{name}_source", "mars" if wrapped else "auto")
    return load_pretrained(model, ctx.weights[name], source, into="backbone" if wrapped else "", skip=skip)


def select_trainable(model: nn.Module, trainable: Any) -> None:
    """pipeline_args `trainable`: "all", or stage names (e.g. "layer4": MARS's ft_begin_index 4, i.e. layer4
    and the classifier fc train and the rest is frozen, MARS models/resnext.py get_fine_tuning_parameters)."""
    if trainable in (None, "all"):
        return
    stages = [trainable] if isinstance(trainable, str) else list(trainable)
    names = [name.split(".") for name, _ in model.named_parameters()]
    unknown = [s for s in stages if not any(s in parts for parts in names)]
    if unknown:
        raise ValueError(f"trainable {unknown} matches no parameter of {type(model).__name__}")
    keep = set(stages) | {"fc"}
    for parts, parameter in zip(names, model.parameters(), strict=True):
        parameter.requires_grad_(bool(keep.intersection(parts)))


def _trained(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def _terms(ctx: Context) -> tuple[str, ...]:
    terms = tuple(ctx.pipeline_args.get("terms", ("mae", "gram")))
    unknown = set(terms) - set(TERMS)
    if unknown:
        raise ValueError(f"{ctx.experiment.name}: pipeline_args terms must be among {TERMS}, got {sorted(unknown)}")
    return terms


def _scores(args: dict[str, Any]) -> str:
    scores = str(args.get("scores", "logits"))
    if scores not in SCORES:
        raise ValueError(f"pipeline_args scores must be one of {SCORES}, got {scores!r}")
    return scores


def _all_samples(ctx: Context) -> list[Sample]:
    return list(ctx.train_set.samples) + list(ctx.test_set.samples)


# ------------------------------------------------------------------------------------- the flow teacher

def teacher_folder(ctx: Context, args: dict[str, Any]) -> Path:
    """Where a proxy-trained teacher is kept: one folder per (teacher model, training, flow, data) setting."""
    dataset, train, test, config = effective(ctx.experiment, ctx.proxy)
    key = {"teacher_model": args.get("teacher_model"), "teacher_training": args.get("teacher_training"),
           "taps": args.get("taps"), "flow": args.get("flow"), "dataset": dataset, "train": train, "test": test,
           "num_classes": ctx.model_args.get("num_classes"), "seed": config.seed}
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return ctx.run_dir.parent / f"flow-teacher-{digest}{'-proxy' if ctx.proxy else ''}"


def flow_forward(model: nn.Module, views) -> torch.Tensor:
    """The flow stream on the flow channels of RGB+flow views: (B, V, K) logits, or (B, 1, K) for a list."""
    if isinstance(views, (list, tuple)):
        return video_scores_forward(model, views, "logits", pick=flow_part)
    batch, count = views.shape[:2]
    return model(flow_part(views).flatten(0, 1)).reshape(batch, count, -1)


def train_flow_teacher(ctx: Context, teacher: nn.Module, args: dict[str, Any], paired_train, paired_test,
                       folder: Path) -> dict[str, Any]:
    """Train the motion stream on flow clips (Sec. 3.1: "a 3D convolutional network is constructed and trained
    to classify the category of the inputted flow clips") with the engine; returns its test evaluation.

    Only for proxy runs (the paper uses MARS's released flow model, Sec. 4.2). pipeline_args
    `teacher_training` is its TrainConfig. The result is cached in `folder` (checkpoint.pt, teacher.json).
    """
    record = folder / "teacher.json"
    if record.is_file() and (folder / "checkpoint.pt").is_file():
        teacher.load_state_dict(checkpoint.load(folder / "checkpoint.pt")["model"])
        return json.loads(record.read_text())
    config = TrainConfig.from_mapping(args.get("teacher_training"), "pipeline_args.teacher_training")
    result = fit(Task(teacher, forward=flow_forward), paired_train, RaggedViews(paired_test), config,
                 run_dir=folder, device=ctx.device, show_progress=False)
    summary = {"top1": result.final["top1"], "loss": result.final["loss"], "videos": result.final["videos"],
               "train_loss": result.history[-1]["train_loss"] if result.history else None,
               "epochs": config.epochs, "config": config.as_dict()}
    (folder / "teacher.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def flow_teacher(ctx: Context, args: dict[str, Any], paired_train=None, paired_test=None) -> tuple[nn.Module, dict]:
    """The frozen motion stream: `--weights teacher=PATH` (full runs: MARS's flow model, Sec. 4.2), else in proxy
    mode a small flow network trained here (`train_flow_teacher`). Returns (teacher in eval mode, info)."""
    torch_state = torch.random.get_rng_state()
    seed = TrainConfig.from_mapping(args.get("teacher_training") or {}).seed if ctx.proxy else 0
    torch.manual_seed(seed)  # the same initial teacher whichever experiment trains it first
    teacher = _build(args.get("teacher_model"), ctx, in_channels=2)
    torch.random.set_rng_state(torch_state)
    if "teacher" in ctx.weights:
        report = load_user_weights(ctx, teacher, "teacher")
        info = {"source": str(ctx.weights["teacher"]), "loaded": len(report.loaded)}
    elif ctx.proxy and args.get("teacher_training"):
        if paired_train is None:
            store = flow_store(ctx, _all_samples(ctx), args.get("flow"))
            paired_train, paired_test = RGBFlowDataset(ctx.train_set, store), RGBFlowDataset(ctx.test_set, store)
        folder = teacher_folder(ctx, args)
        info = {"source": str(folder), **train_flow_teacher(ctx, teacher, args, paired_train, paired_test, folder)}
    else:
        raise ValueError(f"{ctx.experiment.name} needs the trained flow stream: pass --weights teacher=PATH "
                         f"({args.get('teacher', 'the motion stream checkpoint')})")
    teacher.requires_grad_(False)
    return teacher.eval(), info


# ------------------------------------------------------------------------------------------- pipelines

def distill(ctx: Context) -> tuple[Task, Any, Any]:
    """Distil a frozen flow teacher into an RGB student (Sec. 3.1-3.3): L = CE + alpha x (terms) (Eq. 4).

    pipeline_args:
    - terms: any of mse (Eq. 1, MARS: the pooled pre-logit features), mae (Eq. 2, every tap), gram (Eq. 3,
      every tap); [] trains the RGB stream alone (cross-entropy only, no teacher, no flow).
    - alpha: the weight of the distillation terms (50, Sec. 4.2). mae_reduction / gram_reduction: models.py.
    - teacher_model: {name, args} of the motion stream (in_channels 2); its weights from --weights
      teacher=PATH (source pipeline_args teacher_source, default mars), or in proxy mode trained first
      (teacher_training: a TrainConfig mapping; cached per setting, see `teacher_folder`).
    - taps: tap names for both networks (default: the student's own, models.py DEFAULT_TAPS).
    - flow: {method (tvl1 | dis), short_side, root, workers}: the stored flow (`flow_store`).
    - trainable: "all" or stage names (select_trainable). --weights pretrained=PATH initialises the student
      (pretrained_source, default mars; its fc is skipped: a new classifier for this dataset).
    - scores: logits | softmax: how dense test clips are averaged per video.
    The student's test views are RGB only: the distilled stream needs no flow at inference (Sec. 1).
    """
    args = ctx.pipeline_args
    terms = _terms(ctx)
    student = ctx.build_model()
    load_user_weights(ctx, student, "pretrained", skip=("fc.",))
    select_trainable(student, args.get("trainable", "all"))
    scores = _scores(args)
    test_set = RaggedViews(ctx.test_set)
    if not terms:  # RGB alone: the Table 1 "RGB" reference trained with this pipeline's recipe
        task = Task(student, forward=Distillation(None, None, None, (), 0.0, scores=scores).forward,
                    parameters=_trained)
        return task, ctx.train_set, test_set
    store = flow_store(ctx, _all_samples(ctx), args.get("flow"))
    paired_train, paired_test = RGBFlowDataset(ctx.train_set, store), RGBFlowDataset(ctx.test_set, store)
    teacher, info = flow_teacher(ctx, args, paired_train, paired_test)
    taps = args.get("taps")
    student_taps, teacher_taps = FeatureTaps(student, taps), FeatureTaps(teacher, taps)
    ctx.run_dir.mkdir(parents=True, exist_ok=True)
    (ctx.run_dir / "teacher.json").write_text(json.dumps(info, indent=1, default=str) + "\n")
    distillation = Distillation(student_taps, teacher, teacher_taps, terms, float(args.get("alpha", 50.0)),
                                str(args.get("mae_reduction", "mean")), str(args.get("gram_reduction", "sum")),
                                scores)
    return Task(student, forward=distillation.forward, loss=distillation.loss, parameters=_trained), \
        paired_train, test_set


class TwoStream(nn.Module):
    """A distilled student and a second frozen stream, their video scores fused by `fusion` (Sec. 3.4, Fig. 2).

    Views are RGB+flow (second="flow": the stream reads the flow channels) or RGB (second="rgb"). Each video's
    clips are scored by both streams, averaged per stream (`scores`), and fused; both streams stay frozen and
    in eval mode, only the fusion module can learn (Sec. 4.2: "both parameters of motion stream and
    Dual-action Stream are fixed").
    """

    def __init__(self, student: nn.Module, second: nn.Module, fusion: nn.Module, second_input: str = "flow",
                 scores: str = "logits"):
        super().__init__()
        self.student, self.second, self.fusion = student, second, fusion
        self.second_input, self.scores = second_input, scores
        for stream in (student, second):
            stream.requires_grad_(False)

    def train(self, mode: bool = True) -> TwoStream:
        super().train(mode)
        self.student.eval()
        self.second.eval()
        return self

    def forward(self, views) -> torch.Tensor:
        """Views as a list of (V_i, C, T, H, W) or a (B, V, C, T, H, W) tensor; returns (B, K) fused scores."""
        views = list(views)
        pick = flow_part if self.second_input == "flow" else rgb_part
        with torch.no_grad():
            first = video_scores_forward(self.student, views, self.scores)[:, 0]
            other = video_scores_forward(self.second, views, self.scores, pick=pick)[:, 0]
        if self.scores == "softmax":  # video_scores_forward gives log-probabilities: fuse the probabilities
            fused = self.fusion(first.exp(), other.exp())
            return fused.clamp_min(1e-12).log()
        return self.fusion(first, other)


def two_stream_forward(model: TwoStream, views) -> torch.Tensor:
    return model(views).unsqueeze(1)


def _declared(ctx: Context, experiment_id: str):
    from repro.run.experiments import find
    from repro.audit.papers import load_papers

    return find(f"{ctx.experiment.paper}/{experiment_id}", load_papers(ctx.experiment.paper))


def restore_student(ctx: Context, experiment_id: str) -> tuple[nn.Module, Any, dict[str, Any]]:
    """(student, declaration, pipeline args) of `experiment_id` (a `distill` run), with the weights of its run's
    checkpoint.pt."""
    declared = _declared(ctx, experiment_id)
    if declared.pipeline != "motion_distill.distill":
        raise ValueError(f"{ctx.experiment.name}: ds_from {experiment_id} is a {declared.pipeline} run, not a "
                         "distillation")
    path = Path(ctx.run_dir_of(experiment_id)) / "checkpoint.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{ctx.experiment.name} needs the checkpoint {path}: run `repro run "
                                f"{ctx.experiment.paper}/{experiment_id}{' --proxy' if ctx.proxy else ''}` first "
                                "(same --out)")
    name, model_args, pipeline_args = model_spec(declared, ctx.proxy)
    if ctx.proxy and "num_classes" in ctx.model_args:
        model_args["num_classes"] = ctx.model_args["num_classes"]
    student = models.build(name, **model_args)
    student.load_state_dict(checkpoint.load(path)["model"])
    return student, declared, pipeline_args


def fuse(ctx: Context) -> tuple[Task, Any, Any]:
    """Two-stream fusion of a distilled student with a frozen second stream (Sec. 3.4, 4.3).

    pipeline_args:
    - ds_from: the `distill` experiment whose checkpoint is the student (same --out and mode).
    - second: flow (the motion stream, on the flow of the same clips) or rgb (an RGB stream on the same clips);
      second_model {name, args}; its weights from --weights second=PATH (second_source, default mars for a
      DualActionStream). In proxy mode a flow second stream without weights is ds_from's proxy teacher.
    - flow: the stored flow settings (flow_store), for second=flow.
    - scores: logits | softmax (per-stream video scores before fusion; MARS averages logits).
    - train: false evaluates only (averaging has no parameters: the train set is empty); true trains the
      experiment's model (attention_fusion with fusion=attention) with cross-entropy, the streams frozen.
    """
    args = ctx.pipeline_args
    second_kind = str(args.get("second", "flow"))
    if second_kind not in ("flow", "rgb"):
        raise ValueError(f"{ctx.experiment.name}: pipeline_args second must be flow or rgb, got {second_kind!r}")
    scores = _scores(args)
    student, declared, ds_args = restore_student(ctx, str(args["ds_from"]))
    fusion = ctx.build_model()
    if second_kind == "flow":
        second = _build(args.get("second_model"), ctx, in_channels=2)
    else:
        second = _build(args.get("second_model"), ctx, in_channels=3)
    if "second" in ctx.weights:
        load_user_weights(ctx, second, "second")
    elif ctx.proxy and second_kind == "flow":
        # ds_from's teacher, as its own run found or trained it (same proxy settings -> same cached folder)
        ds_ctx = dataclasses.replace(ctx, experiment=declared, pipeline_args=ds_args,
                                     run_dir=ctx.run_dir_of(declared.id))
        second, _ = flow_teacher(ds_ctx, ds_args)
    else:
        raise ValueError(f"{ctx.experiment.name} needs the second stream: pass --weights second=PATH "
                         f"({args.get('second_weights', 'its checkpoint')})")
    model = TwoStream(student, second, fusion, second_kind, scores)
    train_set, test_set = ctx.train_set, ctx.test_set
    if second_kind == "flow":
        store = flow_store(ctx, _all_samples(ctx), args.get("flow"))
        train_set, test_set = RGBFlowDataset(train_set, store), RGBFlowDataset(test_set, store)
    if args.get("train", False):
        if not any(p.requires_grad for p in fusion.parameters()):
            raise ValueError(f"{ctx.experiment.name}: train: true needs a fusion module with parameters "
                             "(attention_fusion fusion=attention); averaging has none")
        return Task(model, forward=two_stream_forward, parameters=_trained), train_set, RaggedViews(test_set)
    empty = VideoDataset([], ctx.train_set.protocol, seed=ctx.train_set.seed)  # evaluate only: no step is taken
    return Task(model, forward=two_stream_forward, parameters=lambda m: list(m.parameters())), empty, \
        RaggedViews(test_set)
