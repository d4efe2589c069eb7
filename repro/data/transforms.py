"""The papers' spatial transforms, on torch tensors (torchvision does not import with this torch).

Clips are float tensors shaped (C, T, H, W), the layout 3D CNNs take; every spatial transform acts on
the last two dimensions, so it also works on (T, C, H, W) or (C, H, W). Crops that make several views
(three, ten) return a list. Random transforms take a numpy Generator so a seed fixes them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

# ImageNet statistics in the 0-255 range (TSN/BN-Inception, IRV2 inputs use them in 0-1: divide by 255).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
# Kinetics mean of 3D-ResNets / Efficient-3DCNNs / MARS, 0-255 with std 1 (their `get_mean(dataset='kinetics')`).
KINETICS_MEAN = (110.63666788, 103.16065604, 96.29023126)


def to_clip(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(T, H, W, C) frames from the decoder as a (C, T, H, W) view, still uint8: crops then touch only
    the pixels they keep, and `resize` / `normalize` convert to float32 where they compute."""
    frames = torch.as_tensor(np.ascontiguousarray(frames) if isinstance(frames, np.ndarray) else frames)
    if frames.ndim != 4:
        raise ValueError(f"expected frames shaped (T, H, W, C), got {tuple(frames.shape)}")
    return frames.permute(3, 0, 1, 2)


def resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinear resize of the last two dimensions to float32; antialiased when shrinking, like torchvision."""
    if x.shape[-2:] == (height, width):
        return x
    shrink = height < x.shape[-2] or width < x.shape[-1]
    flat = x.reshape(1, -1, *x.shape[-2:])  # every channel and frame as one image's planes: one kernel call
    flat = flat if flat.is_floating_point() else flat.float()
    out = F.interpolate(flat, size=(height, width), mode="bilinear", align_corners=False, antialias=shrink)
    return out.reshape(*x.shape[:-2], height, width)


def short_side_scale(x: torch.Tensor, size: int) -> torch.Tensor:
    """Scale so the shorter side is `size`, keeping the aspect ratio (long side floored, as PySlowFast)."""
    height, width = x.shape[-2:]
    if height <= width:
        return resize(x, size, int(math.floor(width * size / height)))
    return resize(x, int(math.floor(height * size / width)), size)


def random_short_side_scale(x: torch.Tensor, rng: np.random.Generator, low: int = 256, high: int = 320) -> torch.Tensor:
    """Scale jitter: shorter side drawn uniformly from [low, high] (FASTER Sec. 4.1, after Non-local / VMZ)."""
    return short_side_scale(x, int(rng.integers(low, high + 1)))


def crop(x: torch.Tensor, top: int, left: int, height: int, width: int) -> torch.Tensor:
    if top < 0 or left < 0 or top + height > x.shape[-2] or left + width > x.shape[-1]:
        raise ValueError(f"crop {height}x{width} at ({top}, {left}) does not fit a {tuple(x.shape[-2:])} frame")
    return x[..., top:top + height, left:left + width]


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    height, width = x.shape[-2:]
    return crop(x, int(round((height - size) / 2.0)), int(round((width - size) / 2.0)), size, size)


def random_crop(x: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    height, width = x.shape[-2:]
    return crop(x, int(rng.integers(0, height - size + 1)), int(rng.integers(0, width - size + 1)), size, size)


def flip(x: torch.Tensor, flow: bool = False) -> torch.Tensor:
    """Horizontal flip; for a flow clip (channels x, y) the x component also changes sign."""
    out = x.flip(-1)
    if flow:
        out = out.clone()
        out[0] = -out[0]
    return out


def random_flip(x: torch.Tensor, rng: np.random.Generator, p: float = 0.5, flow: bool = False) -> torch.Tensor:
    return flip(x, flow) if rng.random() < p else x


def three_crop(x: torch.Tensor, size: int) -> list[torch.Tensor]:
    """Three square crops along the longer side (start, centre, end), the shorter side centred.

    MMAction2 `ThreeCrop` / PySlowFast's 3-crop testing, after scaling the shorter side to `size`.
    """
    height, width = x.shape[-2:]
    if width >= height:
        top, step = int(round((height - size) / 2.0)), (width - size) // 2
        return [crop(x, top, k * step, size, size) for k in range(3)]
    left, step = int(round((width - size) / 2.0)), (height - size) // 2
    return [crop(x, k * step, left, size, size) for k in range(3)]


def _fixed_offsets(height: int, width: int, crop_h: int, crop_w: int, more: bool) -> list[tuple[int, int]]:
    """TSN `fill_fix_offset`: (top, left) of the 4 corners and centre, plus 8 more with `more`."""
    h_step, w_step = (height - crop_h) // 4, (width - crop_w) // 4
    offsets = [(0, 0), (0, 4 * w_step), (4 * h_step, 0), (4 * h_step, 4 * w_step), (2 * h_step, 2 * w_step)]
    if more:
        offsets += [(2 * h_step, 0), (2 * h_step, 4 * w_step), (4 * h_step, 2 * w_step), (0, 2 * w_step),
                    (h_step, w_step), (h_step, 3 * w_step), (3 * h_step, w_step), (3 * h_step, 3 * w_step)]
    return offsets


def ten_crop(x: torch.Tensor, size: int, flow: bool = False) -> list[torch.Tensor]:
    """TSN `GroupOverSample`: the 4 corners and the centre, each followed by its flip (10 views)."""
    height, width = x.shape[-2:]
    views = []
    for top, left in _fixed_offsets(height, width, size, size, more=False):
        view = crop(x, top, left, size, size)
        views += [view, flip(view, flow)]
    return views


def tsn_multi_scale_crop(x: torch.Tensor, size: int, rng: np.random.Generator,
                         scales: Sequence[float] = (1.0, 0.875, 0.75, 0.66), max_distort: int = 1,
                         more_fix_crop: bool = True) -> torch.Tensor:
    """TSN `GroupMultiScaleCrop`: crop sides drawn from `scales` x the shorter side (width and height may
    differ by up to `max_distort` scale steps), at one of 13 fixed offsets, resized to size x size."""
    height, width = x.shape[-2:]
    base = min(height, width)
    sides = [int(base * s) for s in scales]
    sides = [size if abs(s - size) < 3 else s for s in sides]
    pairs = [(h, w) for i, h in enumerate(sides) for j, w in enumerate(sides) if abs(i - j) <= max_distort]
    crop_h, crop_w = pairs[int(rng.integers(len(pairs)))]
    offsets = _fixed_offsets(height, width, crop_h, crop_w, more=more_fix_crop)
    top, left = offsets[int(rng.integers(len(offsets)))]
    return resize(crop(x, top, left, crop_h, crop_w), size, size)


def multi_scale_random_crop(x: torch.Tensor, size: int, rng: np.random.Generator,
                            scales: Sequence[float] = tuple(2 ** (-i / 4) for i in range(5))) -> torch.Tensor:
    """Efficient-3DCNNs / 3D-ResNets `MultiScaleRandomCrop`: a square of side scale x shorter side, scale
    drawn from 1, 2^-1/4, ..., 2^-1 (opts scale_step 0.84089641525, n_scales 5), at a random position,
    resized to size x size. GCF-Net Sec. 4.1 trains with "multi-scale cropping" on that code base."""
    height, width = x.shape[-2:]
    side = int(min(height, width) * scales[int(rng.integers(len(scales)))])
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    return resize(crop(x, top, left, side, side), size, size)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float] = (1.0, 1.0, 1.0)) -> torch.Tensor:
    """(x - mean) / std per channel of a (C, ...) clip, as a new float32 tensor."""
    if len(mean) != x.shape[0] or len(std) != x.shape[0]:
        raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {x.shape[0]} channels")
    shape = (-1,) + (1,) * (x.ndim - 1)
    out = torch.sub(x, torch.tensor(mean, dtype=torch.float32).view(shape))  # uint8 - float32 -> float32
    if any(s != 1.0 for s in std):
        out.div_(torch.tensor(std, dtype=torch.float32).view(shape))
    return out
