"""Named training and test protocols: which frames (`sampling`) and which spatial views (`transforms`).

A protocol turns a video of `num_frames` frames into views shaped (C, T, H, W); the loader stacks
them into (V, C, T, H, W) with V = clips x crops (TSN: segments x crops, with T = 1 frame each).
Test protocols are deterministic; training ones draw from the numpy Generator they are given, once
per video: every clip or segment of a video gets the same crop and flip.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from . import sampling, transforms as T

Sampler = Callable[[int, np.random.Generator], np.ndarray]
Spatial = Callable[[torch.Tensor, np.random.Generator], list[torch.Tensor]]


@dataclass(frozen=True)
class Protocol:
    name: str
    sample: Sampler          # (num_frames, rng) -> frame indices shaped (clips, frames)
    spatial: Spatial         # (clip (C, T, H, W) float 0-255, rng) -> views
    decode_short_side: int   # frames are scaled so their shorter side is this before `spatial`
    mean: tuple[float, ...]
    std: tuple[float, ...]
    description: str

    def views(self, frames: np.ndarray, indices: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """Frames (N, H, W, C) decoded at `indices.ravel()` to the normalised views (V, C, T, H, W).

        The spatial transform sees all clips at once, so a random crop or flip is drawn once per video
        and applies to every clip or segment (TSN's GroupMultiScaleCrop and GroupRandomHorizontalFlip
        act on the whole group). Views are ordered clip-major: clip k's crops are k*crops .. k*crops+crops-1.
        """
        num_clips, clip_len = indices.shape
        joint = T.short_side_scale(T.to_clip(frames), self.decode_short_side)  # (C, K*L, H, W)
        views = [T.normalize(v, self.mean, self.std) for v in self.spatial(joint, rng)]
        per_crop = [v.reshape(v.shape[0], num_clips, clip_len, *v.shape[-2:]).transpose(0, 1) for v in views]
        return torch.stack(per_crop, dim=1).flatten(0, 1)  # (K * crops, C, L, h, w)


def _train_views(clip, rng, *, size: int, crop: str, flip: bool):
    view = {"multiscale": partial(T.multi_scale_random_crop, size=size),
            "tsn_multiscale": partial(T.tsn_multi_scale_crop, size=size),
            "random": partial(T.random_crop, size=size)}[crop](clip, rng=rng)
    return [T.random_flip(view, rng) if flip else view]


def _test_views(clip, rng, *, size: int, crops: int):
    if crops == 1:
        return [T.center_crop(clip, size)]
    if crops == 3:
        return T.three_crop(clip, size)
    return T.ten_crop(clip, size)


PROTOCOLS: dict[str, str] = {
    "train_clip": "random L-frame clip, multi-scale random crop, flip (Efficient-3DCNNs, GCF-Net Sec. 4.1)",
    "train_jitter": "random L-frame clip, short side jittered in [256, 320], random crop, flip (FASTER Sec. 4.1)",
    "train_tsn": "TSN: one random frame per segment, TSN multi-scale crop, flip (MAiVAR via TSN)",
    "central": "C-Clip: the centre L-frame clip, centre crop (Efficient-3DCNNs validation)",
    "dense": "D-Clips: every non-overlapping L-frame clip, loop-padded, centre crop (3D-ResNets, MARS)",
    "fixed_clips": "GCF-Net Sec. 4.1: 10 non-overlapping 16-frame clips with loop padding, centre crop",
    "uniform_clips": "FASTER Sec. 4.1: N clips of L frames uniformly covering the video (N x L = 256), centre crop",
    "multiview": "10 clips x 3 crops (MMAction2 / PySlowFast testing)",
    "tsn_1crop": "TSN testing: 25 uniform segments, centre crop",
    "tsn_10crop": "TSN testing: 25 uniform segments x 10 crops (corners, centre, flips)",
}


def make_protocol(name: str, *, clip_len: int = 16, num_clips: int | None = None, size: int = 112,
                  short_side: int | None = None, num_segments: int | None = None, flip: bool = True,
                  mean: tuple[float, ...] = T.KINETICS_MEAN, std: tuple[float, ...] = (1.0, 1.0, 1.0)) -> Protocol:
    """Build protocol `name` (see PROTOCOLS) at a clip length, crop size and shorter side.

    The shorter side frames are decoded at, unless given, follows each protocol's reference:
    - central, dense, fixed_clips: the crop size (Efficient-3DCNNs / 3D-ResNets `Scale(sample_size)`
      then `CenterCrop(sample_size)`);
    - multiview: the crop size, three crops covering the longer side (MMAction2 `Resize(-1, 256)`,
      `ThreeCrop(256)`; PySlowFast's 3-crop test);
    - tsn_*, train_tsn, uniform_clips, train_clip: size x 8/7 (TSN's 256 for 224 crops; the paper
      does not say for FASTER, we assume the same);
    - train_jitter: the top of the jitter range, so the jitter only ever shrinks the decoded frames.

    `flip=False` turns the training flip off: a horizontal flip turns "moving left" into "moving
    right", so it corrupts labels that depend on horizontal direction (the synthetic MoveLeft/MoveRight
    classes; Something-Something's "from left to right").
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    jitter = (int(round(size * 256 / 224)), int(round(size * 320 / 224)))  # FASTER's [256, 320] at 224 crops
    default_side = {"central": size, "dense": size, "fixed_clips": size, "multiview": size,
                    "train_jitter": jitter[1]}.get(name, int(round(size * 8 / 7)))
    short_side = short_side or default_side
    sample: Sampler
    spatial: Spatial = partial(_test_views, size=size, crops=1)
    if name == "train_clip":
        sample = partial(_random, clip_len)
        spatial = partial(_train_views, size=size, crop="multiscale", flip=flip)
    elif name == "train_jitter":
        sample = partial(_random, clip_len)
        spatial = partial(_jitter_views, size=size, low=jitter[0], high=jitter[1], flip=flip)
    elif name == "train_tsn":
        segments = num_segments or 3
        sample = lambda n, rng: sampling.tsn_train(n, segments, rng=rng)  # noqa: E731
        spatial = partial(_train_views, size=size, crop="tsn_multiscale", flip=flip)
    elif name == "central":
        sample = lambda n, rng: sampling.central_clip(n, clip_len)  # noqa: E731
    elif name == "dense":
        sample = lambda n, rng: sampling.dense_clips(n, clip_len)  # noqa: E731
    elif name == "fixed_clips":
        sample = lambda n, rng: sampling.fixed_clips(n, num_clips or 10, clip_len)  # noqa: E731
    elif name == "uniform_clips":
        clips = num_clips or 256 // clip_len
        sample = lambda n, rng: sampling.uniform_clips(n, clips, clip_len)  # noqa: E731
    elif name == "multiview":
        sample = lambda n, rng: sampling.multi_view_clips(n, num_clips or 10, clip_len)  # noqa: E731
        spatial = partial(_test_views, size=size, crops=3)
    else:  # tsn_1crop, tsn_10crop
        segments = num_segments or 25
        sample = lambda n, rng: sampling.tsn_test(n, segments)  # noqa: E731
        spatial = partial(_test_views, size=size, crops=10 if name == "tsn_10crop" else 1)
    return Protocol(name, sample, spatial, short_side, tuple(mean), tuple(std), PROTOCOLS[name])


def _random(clip_len: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    return sampling.random_clip(num_frames, clip_len, rng)


def _jitter_views(clip, rng, *, size: int, low: int, high: int, flip: bool):
    view = T.random_crop(T.random_short_side_scale(clip, rng, low, high), size, rng)
    return [T.random_flip(view, rng) if flip else view]
