"""MAiVAR's pipelines (Shaikh et al., VCIP 2022): the audio MLP, the video MLP + fusion MLP chain, and TSN (RGB).

MAiVAR is three heads on two frozen extractors (Sec. III-C, Fig. 2-3, Algorithm 1; papers/maivar/models.py):

- `audio_mlp` (Table II "Audio"): one audio image per video (Sec. III-B2, Fig. 5; repro.data.audio_images renders
  it, cached under `<out>/cache/maivar/audio_images`), the 1536-d average-pooled feature of a frozen ImageNet
  Inception-ResNet-v2 (Sec. III-B2, III-C2; baselines/inception_resnet_v2), the audio MLP. The training images
  are flipped at random horizontally and vertically (Sec. IV-B); the extractor being frozen and in eval mode,
  the feature of each of the four flip variants is computed once and an epoch draws one per image, which is
  exactly what running IRV2 online on a freshly flipped image would give.
- `fusion` (Table II "Fusion", Table I "MAiVAR-CH"): TSN BN-Inception features of 25 segments, consensus
  removed, 25 x 1024 per video (Sec. III-B1, III-C1, IV-B; baselines/bninception), and the audio features
  above. The video MLP is trained first, then initialises the fusion MLP (Algorithm 1: psi^0 <- rho^N;
  models.init_fusion_from_video), which is trained with cross-entropy plus l1 (Eq. 3; models.l1_penalty).
  The video MLP is the same for every representation, so it is trained once per setting and reused (its run
  folder is `<out>/runs/maivar/video-mlp-<digest>`); its own test result (the Table II caption's 75.67%
  video-only number) is written to the fusion run's `maivar.json`.
- `tsn_rgb` (Table I "TSN (RGB) [4]"): BN-Inception TSN trained end to end with tsn-pytorch's recipe.

MAiVAR uses the UCF101 videos that have sound (Sec. IV-A): a video without an audio track is left out of the
audio and fusion runs (train and test alike) and listed in the run folder's `maivar.json`.

Proxy mode (`--proxy`) has no ImageNet or Kinetics weights, so both extractors are stand-ins (pipeline_args in
experiments.yaml `proxy:`):

- audio: IRV2 with random weights (seeded) at its smallest input, 75 x 75 (the 224 audio images are resized,
  for CPU time), whose batch-norm statistics are recomputed on the training audio images (`recalibrate_bn`, no
  labels used). With the initial statistics (mean 0, variance 1) the random network's pooled features hardly
  vary between images (measured on the proxy's chromagrams: a spread across images of ~1e-4 against a mean
  magnitude of ~8e-3), and the audio MLP trained on them with the paper's recipe predicted one class for every
  test video (33.3% top-1, measured once); with recomputed statistics they are O(1) (mean magnitude 0.63,
  spread across images 0.80);
- video: TSN's one-frame segments show no motion, and the synthetic classes differ only by motion or sound
  (repro.data.synth), so the stand-in is baselines/small3d trained (labels of the training split, Adam, cosine)
  on 16-frame windows of the training videos (`video.stand_in`), and a "segment" is a 16-frame clip
  (`video.segments`: 3 uniform clips covering a 48-frame video). Its 128-d pooled feature is zero-padded to
  the 1024 the MLPs take (models.VIDEO_DIM): zero inputs add nothing to a linear layer, so this is a 128-d
  input in effect.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from papers.maivar.models import AUDIO_DIM, VIDEO_DIM, init_fusion_from_video, l1_penalty
from papers.maivar.tsn import convert_input, tsn_rgb  # noqa: F401 - tsn_rgb is a pipeline
from repro import models
from repro.atomic import replacing, write_text_atomic
from repro.data import transforms as T
from repro.data.dataset import Batch, Item, Skipped, VideoDataset
from repro.data.protocols import make_protocol
from repro.data.skips import SkipLog
from repro.data.splits import Sample
from repro.engine import checkpoint
from repro.engine.config import TrainConfig
from repro.engine.loop import Task, fit, mean_view_loss
from repro.run.runner import Context, effective

FLIPS = ("horizontal", "vertical")
# The four images a random horizontal and vertical flip can give; variant 0 is the image itself (test images).
FLIP_VARIANTS: tuple[tuple[str, ...], ...] = ((), ("horizontal",), ("vertical",), ("horizontal", "vertical"))
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # Sec. IV-B: "normalized as per ImageNet configuration"
IMAGENET_STD = (0.229, 0.224, 0.225)
MLP_CONFIG_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule", "gamma",
                     "step_epochs", "warmup_epochs", "grad_clip")


# ------------------------------------------------------------------------------------------------- helpers

def digest(value: Any) -> str:
    """A short stable hash of a JSON-able value: names cache files and shared run folders by their settings."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _cache_dir(ctx: Context, *parts: str) -> Path:
    return Path(ctx.out_dir) / "cache" / "maivar" / Path(*parts)


def _weights_id(ctx: Context, name: str) -> str | None:
    """What identifies the user's checkpoint `name` (path, size, mtime), for cache keys; None if not given."""
    path = ctx.weights.get(name)
    if path is None:
        return None
    stat = Path(path).stat()
    return f"{Path(path).resolve()}:{stat.st_size}:{int(stat.st_mtime)}"


def _config(ctx: Context) -> TrainConfig:
    return effective(ctx.experiment, ctx.proxy)[3]


def _seed(ctx: Context) -> int:
    return _config(ctx).seed


def _sub_config(ctx: Context, values: dict[str, Any], what: str) -> TrainConfig:
    """The experiment's config (seed, workers, amp ...) with the MLP fields of a nested stage replaced."""
    unknown = sorted(set(values) - set(MLP_CONFIG_FIELDS) - {"model"})
    if unknown:
        raise ValueError(f"{ctx.experiment.name}: pipeline_args {what} has unknown keys {unknown}; "
                         f"expected some of model, {', '.join(MLP_CONFIG_FIELDS)}")
    fields = {k: v for k, v in values.items() if k in MLP_CONFIG_FIELDS}
    if "step_epochs" in fields:
        fields["step_epochs"] = tuple(fields["step_epochs"])
    return _config(ctx).replace(**fields)


def _write_json(path: Path, value: Any) -> None:
    write_text_atomic(Path(path), json.dumps(value, indent=1, default=str) + "\n")


def _update_record(ctx: Context, **values: Any) -> None:
    """Merge `values` into the run folder's maivar.json (what the pipeline found besides the engine's result)."""
    path = Path(ctx.run_dir) / "maivar.json"
    record = json.loads(path.read_text()) if path.is_file() else {}
    record.update(values)
    _write_json(path, record)


def _class_names(samples: Sequence[Sample]) -> list[str]:
    names: dict[int, str] = {}
    for sample in samples:
        if sample.label is not None:
            names.setdefault(int(sample.label), sample.class_name or Path(sample.path).parent.name)
    return [names.get(i, "?") for i in range(max(names, default=-1) + 1)]


def _subset(base: VideoDataset, samples: list[Sample], protocol=None) -> VideoDataset:
    return VideoDataset(samples, protocol or base.protocol, seed=base.seed, frames=base.frames,
                        frame_template=base.frame_template, resize_at_decode=base.resize_at_decode)


# -------------------------------------------------------------------------------------------- audio images

@dataclass
class AudioImages:
    """The audio image of each kept sample; the videos left out (no sound track, unreadable)."""

    train: list[tuple[Sample, Path]]
    test: list[tuple[Sample, Path]]
    no_audio: list[str]
    unreadable: list[tuple[str, str]]


def render_audio_images(ctx: Context, representation: str) -> AudioImages:
    """Every train and test video's audio image of `representation`, rendered once and cached.

    Images are drawn at 224 x 224 x 3 (Sec. III-B2) by repro.data.audio_images.write_audio_images, which resumes
    and skips images already there; the cache folder is keyed by the videos' folder, since an image depends on
    its video file only. Videos without sound are dropped (MAiVAR uses the subset with audio, Sec. IV-A).
    """
    from repro.data.audio_images import audio_image_path, write_audio_images

    samples = list(ctx.train_set.samples) + list(ctx.test_set.samples)
    root = os.path.commonpath([str(Path(s.path).resolve().parent) for s in samples]) if samples else ""
    out = _cache_dir(ctx, "audio_images", digest(root))
    skips = SkipLog()
    summary = write_audio_images(samples, out, representations=[representation], skips=skips)
    dropped = set(summary.no_audio) | {str(path) for path, _ in summary.skipped}

    def kept(part: list[Sample]) -> list[tuple[Sample, Path]]:
        return [(s, audio_image_path(out, s, representation)) for s in part if str(s.path) not in dropped]

    return AudioImages(kept(list(ctx.train_set.samples)), kept(list(ctx.test_set.samples)),
                       sorted(summary.no_audio), list(summary.skipped))


def image_tensor(path: Path, size: int, normalize: str) -> torch.Tensor:
    """An audio image as (3, size, size) float: resized (bilinear, antialiased) when size is not the rendered
    224, then normalised with ImageNet's mean/std (Sec. IV-B) or left in [0, 1] (`normalize: none`)."""
    from repro.data.audio_images import load_audio_image

    image = torch.from_numpy(np.array(load_audio_image(path))).permute(2, 0, 1).float().div_(255.0)
    if image.shape[-1] != size:
        image = F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0]
    if normalize == "imagenet":
        image = T.normalize(image, IMAGENET_MEAN, IMAGENET_STD)
    elif normalize != "none":
        raise ValueError(f"audio normalize must be 'imagenet' or 'none', got {normalize!r}")
    return image


def flip_image(image: torch.Tensor, flips: Sequence[str]) -> torch.Tensor:
    """(..., H, W) flipped left-right ("horizontal") and/or upside down ("vertical")."""
    dims = [{"horizontal": -1, "vertical": -2}[f] for f in flips]
    return torch.flip(image, dims) if dims else image


def recalibrate_batch_norm(model: nn.Module, batches: Callable[[], Any], forward: Callable) -> int:
    """Recompute every batch norm's running mean and variance as the plain average over `batches()` (momentum
    None), with the model in train mode and no gradient; returns the number of batch norms. No weight changes:
    the proxy's stand-in for the statistics a pretrained network brings (module docstring)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None
    was_training = model.training
    model.train()
    with torch.no_grad():
        for batch in batches():
            forward(batch)
    for norm, momentum in zip(norms, momenta, strict=True):
        norm.momentum = momentum
    model.train(was_training)
    return len(norms)


def _build_frozen(name: str, seed: int, **kwargs: Any) -> nn.Module:
    """A registered backbone built with RNG state `seed` (so a stand-in's random weights depend on the seed only,
    and the caller's RNG stream is left as it was), frozen and in eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = models.build(name, **kwargs)
    return model.requires_grad_(False).eval()


def audio_extractor(ctx: Context, spec: dict[str, Any]) -> tuple[nn.Module, str]:
    """The frozen audio-image extractor and what identifies its weights.

    Full runs: IRV2 with the user's ImageNet weights (`--weights pretrained_audio=PATH`, Cadene's
    inceptionresnetv2, loaded by order: source `pretrained_audio_source`, default cadene; Sec. III-C2). Proxy
    runs have none: IRV2 with seeded random weights (module docstring).
    """
    name = spec.get("extractor", "baselines/inception_resnet_v2")
    model = _build_frozen(name, _seed(ctx))
    if "pretrained_audio" in ctx.weights:
        ctx.pipeline_args.setdefault("pretrained_audio_source", "cadene")  # recorded in the run's pipeline_args
        ctx.load_weights(model, "pretrained_audio")
        return model.requires_grad_(False).eval(), f"{name}:{_weights_id(ctx, 'pretrained_audio')}"
    if not ctx.proxy:
        raise ValueError(f"{ctx.experiment.name} needs the ImageNet IRV2 weights: --weights pretrained_audio=PATH "
                         "(Cadene pretrained-models.pytorch inceptionresnetv2, imagenet; Sec. III-C2)")
    return model, f"{name}:random-seed-{_seed(ctx)}"


def audio_features(ctx: Context, spec: dict[str, Any], images: AudioImages) -> dict[str, torch.Tensor]:
    """{"train": (N, F, 1536), "test": (M, 1, 1536)}: the frozen extractor's pooled feature of every kept audio
    image, F = 4 flip variants (FLIP_VARIANTS) of a training image when `flips` names both flips, else 1.

    Cached under `<out>/cache/maivar/audio_features`, keyed by the images, the extractor and its weights, the
    input size, normalisation, flips and BN recalibration.
    """
    size, normalize = int(spec.get("image_size", 224)), str(spec.get("normalize", "imagenet"))
    flips = tuple(spec.get("flips", ()) or ())
    if set(flips) - set(FLIPS):
        raise ValueError(f"{ctx.experiment.name}: flips must be a subset of {FLIPS}, got {list(flips)}")
    variants = [v for v in FLIP_VARIANTS if set(v) <= set(flips)]
    if spec.get("freeze_extractor", spec.get("freeze_extractors", True)) is False:
        raise NotImplementedError("MAiVAR freezes IRV2 (Sec. III-C2: 'we froze all gradients'); fine-tuning it "
                                  "is not implemented")
    extractor, weights = audio_extractor(ctx, spec)
    recalibrate = bool(spec.get("recalibrate_bn", False))
    key = digest({"train": [str(p) for _, p in images.train], "test": [str(p) for _, p in images.test],
                  "size": size, "normalize": normalize, "variants": variants, "weights": weights,
                  "recalibrate_bn": recalibrate, "version": 1})
    path = _cache_dir(ctx, "audio_features", f"{key}.pt")
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    device, batch = ctx.device, int(spec.get("extract_batch_size", 32))
    extractor = extractor.to(device)

    def batches(paths: list[Path], flip: tuple[str, ...]):
        for start in range(0, len(paths), batch):
            yield torch.stack([flip_image(image_tensor(p, size, normalize), flip)
                               for p in paths[start:start + batch]]).to(device)

    train_paths, test_paths = [p for _, p in images.train], [p for _, p in images.test]
    if recalibrate:
        recalibrate_batch_norm(extractor, lambda: batches(train_paths, ()), extractor.features)
        extractor.eval()

    def extract(paths: list[Path], flip: tuple[str, ...]) -> torch.Tensor:
        with torch.inference_mode():
            parts = [extractor.features(b).float().cpu() for b in batches(paths, flip)]
        return torch.cat(parts) if parts else torch.empty(0, AUDIO_DIM)

    features = {"train": torch.stack([extract(train_paths, v) for v in variants], dim=1),
                "test": extract(test_paths, ())[:, None]}
    with replacing(path) as temp:
        torch.save(features, temp)
    return features


# ---------------------------------------------------------------------------------------------- video side

class SegmentFeatures(nn.Module):
    """A frozen backbone turning (B, S, C, T, H, W) segments into (B, S, dim) pooled features.

    2D backbones (BN-Inception) take each segment's single frame (TSN RGB, Sec. III-B1); 3D ones (the proxy's
    small3d) the whole segment clip. A feature narrower than `dim` is zero-padded (proxy only). The backbone
    stays in eval mode whatever mode the owner is in, and no gradient reaches it.
    """

    def __init__(self, backbone: nn.Module, dim: int = VIDEO_DIM, normalize: str = "protocol",
                 source_mean: Sequence[float] = T.KINETICS_MEAN, source_std: Sequence[float] = (1.0, 1.0, 1.0),
                 chunk: int = 256):
        super().__init__()
        self.backbone = backbone.requires_grad_(False).eval()
        self.dim, self.normalize, self.chunk = dim, normalize, chunk
        self.source_mean, self.source_std = tuple(source_mean), tuple(source_std)
        self.image_model = not any(isinstance(m, nn.Conv3d) for m in backbone.modules())

    def train(self, mode: bool = True) -> SegmentFeatures:
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, segments: torch.Tensor) -> torch.Tensor:
        batch, count = segments.shape[:2]
        x = segments.flatten(0, 1).float()
        if self.image_model:
            if x.shape[2] != 1:
                raise ValueError(f"a 2D backbone takes one frame per segment, got segments of {x.shape[2]} frames")
            x = x[:, :, 0]
        x = convert_input(x, self.source_mean, self.source_std, self.normalize)
        with torch.no_grad():  # in chunks: a batch of 128 videos x 25 segments is 3,200 frames
            out = torch.cat([self.backbone.features(part) for part in x.split(self.chunk)])
        out = out.float().flatten(2).mean(-1) if out.ndim > 2 else out.float()
        if out.shape[1] > self.dim:
            raise ValueError(f"the video extractor gives {out.shape[1]}-d features, more than the MLPs' {self.dim}")
        if out.shape[1] < self.dim:
            out = F.pad(out, (0, self.dim - out.shape[1]))
        return out.reshape(batch, count, self.dim)


def _segment_protocol(ctx: Context, spec: dict[str, Any]):
    """(train, test) protocols of the video features: the experiment's (train_tsn / tsn_1crop, Sec. IV-B) unless
    pipeline_args video.segments names one for both (the proxy's 16-frame clips)."""
    segments = spec.get("segments")
    if not segments:
        return ctx.train_set.protocol, ctx.test_set.protocol
    options = dict(segments)
    name = options.pop("protocol")
    options.setdefault("size", effective(ctx.experiment, ctx.proxy)[2].get("size", 112))
    protocol = make_protocol(name, **options)
    return protocol, protocol


class Decoded(torch.utils.data.Dataset):
    """Videos decoded once into memory (float16): each item's views are a random `clip_len` window of its
    segments laid end to end (train) or the centre window (test); the proxy stand-in's training data."""

    def __init__(self, views: torch.Tensor, labels: torch.Tensor, clip_len: int, train: bool, seed: int = 0):
        frames = views.transpose(1, 2).flatten(2, 3)  # (N, S, C, L, H, W) -> (N, C, S * L, H, W)
        self.frames, self.labels, self.clip_len, self.train, self.seed = frames, labels, clip_len, train, seed
        self._epoch = torch.zeros(1, dtype=torch.long).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Item:
        span = self.frames.shape[2] - self.clip_len
        if self.train:
            start = int(np.random.default_rng([self.seed, int(self._epoch), index, 3]).integers(0, span + 1))
        else:
            start = span // 2
        clip = self.frames[index, :, start:start + self.clip_len].float()
        return Item(clip[None], int(self.labels[index]), index)


def _as_list(batch: list) -> list:
    return batch


def _decode(dataset: VideoDataset, *, epoch: int = 0, workers: int = 0, batch_size: int = 8) -> list[Item | Skipped]:
    """Every item of `dataset` at `epoch` (its random draws fixed by the seed and the epoch)."""
    dataset.set_epoch(epoch)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=_as_list)
    return [item for part in loader for item in part]


def _decode_all(dataset: VideoDataset, what: str, workers: int) -> list[Item]:
    """Every item of `dataset` (epoch 0), in memory; an unreadable video is an error."""
    decoded = _decode(dataset, workers=workers)
    unreadable = [d for d in decoded if isinstance(d, Skipped)]
    if unreadable:
        raise ValueError(f"{len(unreadable)} {what} videos could not be decoded, e.g. {unreadable[0].path}: "
                         f"{unreadable[0].reason}")
    return decoded


def stand_in_video_extractor(ctx: Context, spec: dict[str, Any], train: list[Item], test: list[Item],
                             key: str) -> tuple[nn.Module, dict]:
    """Proxy only: `video.extractor` (baselines/small3d) trained on random windows of the decoded training
    segments (Decoded), `video.stand_in` giving clip_len and the training settings (model args from
    `video.extractor_args`); run folder `<out>/runs/maivar/video-stand-in-<digest>-proxy`, a finished run reused.
    Returns the frozen model and its result on the test videos' centre windows (with its last training loss)."""
    settings = dict(spec.get("stand_in") or {})
    clip_len = int(settings.pop("clip_len", 16))
    config = _sub_config(ctx, settings, "video.stand_in").replace(workers=0)  # in-memory data
    name = spec.get("extractor", "baselines/small3d")
    args = {"num_classes": int(ctx.model_args["num_classes"]), **dict(spec.get("extractor_args") or {})}
    run_key = digest({"videos": key, "model": name, "args": args, "clip_len": clip_len, "config": config.as_dict()})
    run_dir = Path(ctx.run_dir).parent / f"video-stand-in-{run_key}-proxy"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = models.build(name, **args)
    stack = lambda items: torch.stack([i.views for i in items]).half()  # noqa: E731 - halves the memory
    train_set = Decoded(stack(train), torch.tensor([i.label for i in train]), clip_len, True, config.seed)
    test_set = Decoded(stack(test), torch.tensor([i.label for i in test]), clip_len, False)
    result = fit(Task(model), train_set, test_set, config, run_dir=run_dir, device=ctx.device, resume=True,
                 show_progress=False)
    history = checkpoint.load(run_dir / "checkpoint.pt")["history"]
    final = {**result.final, "run_dir": str(run_dir),
             "train_loss": history[-1]["train_loss"] if history else float("nan")}
    return model.cpu().requires_grad_(False).eval(), final


def video_extractor(ctx: Context, spec: dict[str, Any], protocol, stand_in: tuple[list[Item], list[Item], str] | None
                    = None) -> tuple[SegmentFeatures, dict]:
    """The frozen video feature extractor and (proxy) the stand-in's own result.

    Full runs: BN-Inception with the user's Kinetics TSN weights (`--weights pretrained_video=PATH`, loaded by
    order, source `pretrained_video_source`, default cadene; its classifier is not loaded, since only the
    pooled feature is used, Sec. III-B1), fed as TSN feeds it (`normalize: caffe_bgr`, the default). Proxy runs:
    `stand_in_video_extractor` on (decoded training videos, decoded test videos, their key).
    """
    name = spec.get("extractor", "baselines/bninception")
    normalize = str(spec.get("normalize", "caffe_bgr"))
    if "pretrained_video" in ctx.weights:
        backbone = _build_frozen(name, _seed(ctx), **dict(spec.get("extractor_args") or {}))
        ctx.pipeline_args.setdefault("pretrained_video_source", "cadene")
        ctx.load_weights(backbone, "pretrained_video", skip=("fc.",))
        return SegmentFeatures(backbone.requires_grad_(False).eval(), VIDEO_DIM, normalize, protocol.mean,
                               protocol.std), {}
    if not ctx.proxy:
        raise ValueError(f"{ctx.experiment.name} needs the Kinetics TSN BN-Inception weights: --weights "
                         "pretrained_video=PATH (Sec. II, III-B1)")
    if not spec.get("stand_in") or stand_in is None:
        raise ValueError(f"{ctx.experiment.name}: a proxy run needs pipeline_args video.stand_in (how to train the "
                         "stand-in for the Kinetics TSN extractor)")
    backbone, result = stand_in_video_extractor(ctx, spec, *stand_in)
    return SegmentFeatures(backbone, VIDEO_DIM, normalize, protocol.mean, protocol.std), result


@dataclass
class VideoInputs:
    """Per kept sample: the test features (M, S, 1024), and for training either features (N, S, 1024) computed
    once or the dataset that decodes segments every epoch (`per_epoch`, with `extractor` run in the model)."""

    train_features: torch.Tensor | None
    train_videos: VideoDataset | None
    test_features: torch.Tensor
    extractor: SegmentFeatures | None
    stand_in: dict
    key: str


def _extract(extractor: SegmentFeatures, items, device: str, *, workers: int = 0, batch_size: int = 8) -> torch.Tensor:
    """(N, S, 1024) features of `items`: a list of decoded Items, or a VideoDataset read batch by batch (the
    full runs' 25 x 224 x 224 segments of thousands of videos do not fit in memory at once)."""
    if isinstance(items, VideoDataset):
        items.set_epoch(0)
        loader = torch.utils.data.DataLoader(items, batch_size=batch_size, collate_fn=_as_list,
                                             num_workers=workers)
        batches = iter(loader)
    else:
        batches = (items[start:start + batch_size] for start in range(0, len(items), batch_size))
    extractor = extractor.to(device)
    parts = []
    with torch.inference_mode():
        for batch in batches:
            unreadable = [b for b in batch if isinstance(b, Skipped)]
            if unreadable:
                raise ValueError(f"{unreadable[0].path}: {unreadable[0].reason} (MAiVAR needs the video features "
                                 "of every video it keeps)")
            parts.append(extractor(torch.stack([i.views for i in batch]).to(device)).cpu())
    extractor.cpu()
    return torch.cat(parts) if parts else torch.empty(0, 0, VIDEO_DIM)


def video_inputs(ctx: Context, spec: dict[str, Any], train: list[Sample], test: list[Sample]) -> VideoInputs:
    """The video side of the kept samples. `train_features`: per_epoch (the full runs: TSN's training sampling
    and augmentation drawn anew every epoch, Sec. IV-B "We followed [4] for visual pre-processing and data
    augmentation") or once (one draw, cached under `<out>/cache/maivar/video_features`). Test features are
    computed once: test protocols are deterministic."""
    mode = str(spec.get("train_features", "per_epoch"))
    if mode not in ("per_epoch", "once"):
        raise ValueError(f"video train_features must be 'per_epoch' or 'once', got {mode!r}")
    if spec.get("features", "pooled_per_segment") != "pooled_per_segment":
        raise ValueError("MAiVAR's video feature is the pooled feature of every segment (Sec. III-B1): "
                         "features must be pooled_per_segment")
    if spec.get("freeze_extractor", True) is False:
        raise NotImplementedError("MAiVAR uses TSN as a frozen feature extractor (Sec. III-B1)")
    train_protocol, test_protocol = _segment_protocol(ctx, spec)
    workers = _config(ctx).workers
    stand_in = ctx.proxy and "pretrained_video" not in ctx.weights
    # the stand-in trains on every training video: it stands for Kinetics pre-training, not for the audio subset
    pool = list(ctx.train_set.samples) if stand_in else train
    key = digest({"train": [str(s.path) for s in train], "test": [str(s.path) for s in test],
                  "pool": [str(s.path) for s in pool], "train_protocol": train_protocol.name,
                  "test_protocol": test_protocol.name, "spec": {k: v for k, v in spec.items()
                                                                if not k.startswith("pretrained")},
                  "weights": _weights_id(ctx, "pretrained_video"), "seed": _seed(ctx),
                  "options": effective(ctx.experiment, ctx.proxy)[1:3], "version": 1})
    path = _cache_dir(ctx, "video_features", f"{key}.pt")
    if path.is_file() and mode == "once":
        cached = torch.load(path, map_location="cpu", weights_only=False)
        return VideoInputs(cached["train"], None, cached["test"], None, cached.get("stand_in", {}), key)
    train_videos, test_videos = _subset(ctx.train_set, train, train_protocol), _subset(ctx.test_set, test,
                                                                                        test_protocol)
    if stand_in:  # proxy: small videos, decoded once into memory for the stand-in's training and the features
        decoded_pool = _decode_all(_subset(ctx.train_set, pool, train_protocol), "training", workers)
        by_path = {str(pool[d.index].path): d for d in decoded_pool}
        train_source: Any = [by_path[str(s.path)] for s in train]
        test_source: Any = _decode_all(test_videos, "test", workers)
        extractor, stand_in_result = video_extractor(ctx, spec, train_protocol, (decoded_pool, test_source, key))
    else:
        extractor, stand_in_result = video_extractor(ctx, spec, train_protocol)
        train_source, test_source = train_videos, test_videos
    test_features = _extract(extractor, test_source, ctx.device, workers=workers)
    if mode == "per_epoch":
        return VideoInputs(None, train_videos, test_features, extractor, stand_in_result, key)
    train_features = _extract(extractor, train_source, ctx.device, workers=workers)
    with replacing(path) as temp:
        torch.save({"train": train_features, "test": test_features, "stand_in": stand_in_result}, temp)
    return VideoInputs(train_features, None, test_features, None, stand_in_result, key)


# ---------------------------------------------------------------------------------------- datasets, models

def modal_collate(batch: list[Item | Skipped]) -> Batch:
    """Items whose views are a tuple (audio, video, ...): each modality stacked on its own."""
    items = [b for b in batch if isinstance(b, Item)]
    skipped = [b for b in batch if isinstance(b, Skipped)]
    if not items:
        return Batch(torch.empty(0), torch.empty(0, dtype=torch.long), torch.empty(0, dtype=torch.long), skipped)
    views = tuple(torch.stack([i.views[k] for i in items]) for k in range(len(items[0].views)))
    return Batch(views, torch.tensor([i.label for i in items]), torch.tensor([i.index for i in items]), skipped)


class ModalSet(torch.utils.data.Dataset):
    """Kept samples as items with views (audio,), (video,) or (audio, video).

    audio: (N, F, 1536) features, F flip variants of which each epoch draws one per item (seeded by seed, epoch
    and index), or F = 1. video: (N, S, 1024) features, or a VideoDataset decoding the segments every epoch.
    """

    collate = staticmethod(modal_collate)

    def __init__(self, labels: Sequence[int], *, audio: torch.Tensor | None = None,
                 video: torch.Tensor | VideoDataset | None = None, seed: int = 0):
        if audio is None and video is None:
            raise ValueError("ModalSet needs audio, video or both")
        self.labels, self.audio, self.video, self.seed = [int(x) for x in labels], audio, video, seed
        for name, part in (("audio", audio), ("video", video)):
            if part is not None and len(part) != len(self.labels):
                raise ValueError(f"{len(part)} {name} entries for {len(self.labels)} labels")
        self._epoch = torch.zeros(1, dtype=torch.long).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)
        if isinstance(self.video, VideoDataset):
            self.video.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> Item | Skipped:
        views = []
        if self.audio is not None:
            variants = self.audio.shape[1]
            pick = 0 if variants == 1 else int(np.random.default_rng(
                [self.seed, int(self._epoch), index, 11]).integers(variants))
            views.append(self.audio[index, pick])
        if isinstance(self.video, VideoDataset):
            item = self.video[index]
            if isinstance(item, Skipped):
                return Skipped(item.path, item.reason, index)
            views.append(item.views)
        elif self.video is not None:
            views.append(self.video[index])
        return Item(tuple(views), self.labels[index], index)


def modal_forward(model: nn.Module, views: Sequence[torch.Tensor]) -> torch.Tensor:
    """A batch of modality tuples to (B, 1, K): one prediction per video."""
    return model(*views).unsqueeze(1)


class VideoNet(nn.Module):
    """The video MLP (Sec. III-C1) on segment features, or on raw segments through `extractor` (per_epoch)."""

    def __init__(self, mlp: nn.Module, extractor: SegmentFeatures | None = None):
        super().__init__()
        self.mlp, self.extractor = mlp, extractor

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        if video.ndim > 3:
            video = self.extractor(video)
        return self.mlp(video)


class FusionNet(nn.Module):
    """The fusion MLP (Sec. III-C3, Eq. 2-3) on audio features and video features (or raw segments)."""

    def __init__(self, mlp: nn.Module, extractor: SegmentFeatures | None = None):
        super().__init__()
        self.mlp, self.extractor = mlp, extractor

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        if video.ndim > 3:
            video = self.extractor(video)
        return self.mlp(audio, video)


@dataclass
class L1Loss:
    """Eq. 3: cross-entropy plus `weight` x the sum of |w| over the fusion MLP's parameters (models.l1_penalty)."""

    module: nn.Module
    weight: float

    def __call__(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        loss = mean_view_loss(logits, labels)
        if self.weight:
            loss = loss + l1_penalty(self.module, self.weight).to(loss.device, loss.dtype)
        return loss


def _mlp_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.mlp.parameters() if p.requires_grad]


# ------------------------------------------------------------------------------------------------ pipelines

def _audio_spec(ctx: Context) -> dict[str, Any]:
    """audio_mlp keeps its audio settings at the top of pipeline_args; fusion under `audio`."""
    args = ctx.pipeline_args
    return dict(args["audio"]) if "audio" in args else dict(args)


def _representation(ctx: Context) -> str:
    from repro.data.audio_images import REPRESENTATIONS

    name = ctx.pipeline_args.get("representation")
    if name not in REPRESENTATIONS:
        raise ValueError(f"{ctx.experiment.name}: pipeline_args representation must be one of "
                         f"{', '.join(REPRESENTATIONS)}, got {name!r}")
    return name


def _record_samples(ctx: Context, images: AudioImages) -> None:
    """Start the run folder's maivar.json: class names, videos kept, videos without sound or unreadable."""
    _write_json(Path(ctx.run_dir) / "maivar.json", {
        "classes": _class_names(list(ctx.train_set.samples)), "kept": {"train": len(images.train),
                                                                       "test": len(images.test)},
        "no_audio": images.no_audio, "unreadable": [list(x) for x in images.unreadable]})


def audio_mlp(ctx: Context) -> tuple[Task, Any, Any]:
    """Table II "Audio": the audio MLP (models.audio_mlp) on the frozen IRV2 feature of one audio image per video.

    pipeline_args: representation (repro.data.audio_images.REPRESENTATIONS), image_size (the extractor's input;
    images are rendered at 224, Sec. III-B2), normalize (imagenet, Sec. IV-B), flips (training images only,
    drawn per image and epoch), extractor, freeze_extractor (must be true), recalibrate_bn (proxy stand-in),
    extract_batch_size. Only the MLP is trained (Adam, Sec. IV-B, from the experiment's config).
    """
    images = render_audio_images(ctx, _representation(ctx))
    _record_samples(ctx, images)
    features = audio_features(ctx, _audio_spec(ctx), images)
    seed = _seed(ctx)
    train_set = ModalSet([s.label for s, _ in images.train], audio=features["train"], seed=seed)
    test_set = ModalSet([s.label for s, _ in images.test], audio=features["test"], seed=seed)
    return Task(ctx.build_model(), forward=modal_forward), train_set, test_set


def _video_mlp_model(ctx: Context, spec: dict[str, Any]) -> nn.Module:
    name = spec.get("model", "maivar/video_mlp")
    args = {k: v for k, v in ctx.model_args.items() if k in ("num_classes", "num_segments", "hidden", "dropout")}
    return models.build(name, **args)


def train_video_mlp(ctx: Context, video: VideoInputs, train_labels: list[int],
                    test_labels: list[int]) -> tuple[nn.Module, dict]:
    """Algorithm 1 lines 9-13: the video MLP trained on the video features alone (Adam, lr 3e-4, Sec. IV-B;
    pipeline_args video_mlp). Shared by the six representations: run folder `<out>/runs/maivar/video-mlp-<digest>`
    keyed by the videos, the extractor, the model and the config; a finished run is reused."""
    spec = dict(ctx.pipeline_args.get("video_mlp") or {})
    config = _sub_config(ctx, spec, "video_mlp")
    seed = config.seed
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mlp = _video_mlp_model(ctx, spec)
    model = VideoNet(mlp, video.extractor)
    key = digest({"video": video.key, "model": spec.get("model", "maivar/video_mlp"), "args": ctx.model_args,
                  "config": config.as_dict(), "labels": [train_labels, test_labels]})
    run_dir = Path(ctx.run_dir).parent / (f"video-mlp-{key}" + ("-proxy" if ctx.proxy else ""))
    train_set = ModalSet(train_labels, video=video.train_features if video.train_videos is None
                         else video.train_videos, seed=seed)
    test_set = ModalSet(test_labels, video=video.test_features, seed=seed)
    task = Task(model, forward=modal_forward, parameters=_mlp_parameters)
    result = fit(task, train_set, test_set, config, run_dir=run_dir, device=ctx.device, resume=True,
                 show_progress=False)
    state = checkpoint.load(run_dir / "checkpoint.pt")
    final = {**result.final, "run_dir": str(run_dir),
             "train_loss": state["history"][-1]["train_loss"] if state["history"] else float("nan")}
    return model.mlp.cpu(), final


def fusion(ctx: Context) -> tuple[Task, Any, Any]:
    """Table II "Fusion (Audio+Video)" and Table I "MAiVAR-CH": the fusion MLP (models.fusion_mlp) initialised
    from the trained video MLP (Algorithm 1, `init_from: video_mlp`), trained with cross-entropy + l1 (Eq. 3).

    pipeline_args: representation; audio (as audio_mlp's: image_size, normalize, flips, extractor,
    recalibrate_bn); video (extractor, features: pooled_per_segment, train_features: per_epoch | once,
    normalize: caffe_bgr | protocol, proxy only: segments, stand_in, extractor_args); freeze_extractors (true);
    video_mlp (model and its training settings); init_from (video_mlp or null); zero_audio_init; l1_weight.
    """
    args = ctx.pipeline_args
    if args.get("freeze_extractors", True) is False:
        raise NotImplementedError("MAiVAR's extractors are frozen (Sec. III-C1, III-C2)")
    images = render_audio_images(ctx, _representation(ctx))
    _record_samples(ctx, images)
    features = audio_features(ctx, _audio_spec(ctx), images)
    train_labels, test_labels = [s.label for s, _ in images.train], [s.label for s, _ in images.test]
    video = video_inputs(ctx, dict(args.get("video") or {}), [s for s, _ in images.train],
                         [s for s, _ in images.test])
    fusion_mlp = ctx.build_model()
    init_from = args.get("init_from", "video_mlp")
    video_result: dict = {}
    if init_from == "video_mlp":
        trained, video_result = train_video_mlp(ctx, video, train_labels, test_labels)
        init_fusion_from_video(fusion_mlp, trained, zero_audio=bool(args.get("zero_audio_init", False)))
    elif init_from is not None:
        raise ValueError(f"{ctx.experiment.name}: init_from must be video_mlp or null, got {init_from!r}")
    _update_record(ctx, video_mlp=video_result, video_stand_in=video.stand_in)
    model = FusionNet(fusion_mlp, video.extractor)
    seed = _seed(ctx)
    train_set = ModalSet(train_labels, audio=features["train"], video=video.train_features
                         if video.train_videos is None else video.train_videos, seed=seed)
    test_set = ModalSet(test_labels, audio=features["test"], video=video.test_features, seed=seed)
    task = Task(model, forward=modal_forward, loss=L1Loss(model.mlp, float(args.get("l1_weight", 0.0))),
                parameters=_mlp_parameters)
    return task, train_set, test_set
