"""Named training and test protocols: which frames (`sampling`) and which spatial views (`transforms`).

A protocol turns a video of `num_frames` frames into views shaped (C, T, H, W); the loader stacks
them into (V, C, T, H, W) with V = clips x crops (TSN: segments x crops, with T = 1 frame each).
Test protocols are deterministic; training ones draw from the numpy Generator they are given.
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
        """Frames (N, H, W, C) decoded at `indices.ravel()` to the normalised views (V, C, T, H, W)."""
        clips = T.to_clip(frames).reshape(frames.shape[-1], *indices.shape, *frames.shape[1:3])
        out = []
        for k in range(indices.shape[0]):
            clip = T.short_side_scale(clips[:, k], self.decode_short_side)
            out += [T.normalize(view, self.mean, self.std) for view in self.spatial(clip, rng)]
        return torch.stack(out)


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
    "gcf": "GCF-Net Sec. 4.1: 10 non-overlapping 16-frame clips with loop padding, centre crop",
    "faster": "FASTER Sec. 4.1: N clips of L frames uniformly covering the video (N x L = 256), centre crop",
    "multiview": "10 clips x 3 crops (MMAction2 / PySlowFast testing)",
    "tsn_1crop": "TSN testing: 25 uniform segments, centre crop",
    "tsn_10crop": "TSN testing: 25 uniform segments x 10 crops (corners, centre, flips)",
}


def make_protocol(name: str, *, clip_len: int = 16, num_clips: int | None = None, size: int = 112,
                  short_side: int | None = None, num_segments: int | None = None,
                  mean: tuple[float, ...] = T.KINETICS_MEAN, std: tuple[float, ...] = (1.0, 1.0, 1.0)) -> Protocol:
    """Build protocol `name` (see PROTOCOLS) at a clip length, crop size and shorter side.

    `short_side` defaults to the crop size x 8/7 (128 for 112, 256 for 224), the usual test scale;
    FASTER's jitter rescales from there to [256, 320] (the paper's training scale at 224 crops).
    """
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    short_side = short_side or int(round(size * 8 / 7))
    clip = sampling.random_clip
    sample: Sampler
    spatial: Spatial = partial(_test_views, size=size, crops=1)
    if name == "train_clip":
        sample = partial(_random, clip, clip_len)
        spatial = partial(_train_views, size=size, crop="multiscale", flip=True)
    elif name == "train_jitter":
        sample = partial(_random, clip, clip_len)
        spatial = partial(_jitter_views, size=size)
    elif name == "train_tsn":
        segments = num_segments or 3
        sample = lambda n, rng: sampling.tsn_train(n, segments, rng=rng)  # noqa: E731
        spatial = partial(_train_views, size=size, crop="tsn_multiscale", flip=True)
    elif name == "central":
        sample = lambda n, rng: sampling.central_clip(n, clip_len)  # noqa: E731
    elif name == "dense":
        sample = lambda n, rng: sampling.dense_clips(n, clip_len)  # noqa: E731
    elif name == "gcf":
        sample = lambda n, rng: sampling.gcf_clips(n, num_clips or 10, clip_len)  # noqa: E731
    elif name == "faster":
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


def _random(clip, clip_len: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    return clip(num_frames, clip_len, rng)


def _jitter_views(clip, rng, *, size: int):
    # FASTER trains at 224 crops from a shorter side in [256, 320]; other crop sizes scale the range.
    low, high = int(round(size * 256 / 224)), int(round(size * 320 / 224))
    view = T.random_crop(T.random_short_side_scale(clip, rng, low, high), size, rng)
    return [T.random_flip(view, rng)]
