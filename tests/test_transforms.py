"""Spatial transforms on tensors: sizes, crop positions, flips and normalisation, by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from repro.data import transforms as T


def coordinates(height: int, width: int, frames: int = 2) -> torch.Tensor:
    """A (C=2, T, H, W) clip whose channel 0 holds the row and channel 1 the column of each pixel."""
    rows = torch.arange(height, dtype=torch.float32).view(1, 1, height, 1).expand(1, frames, height, width)
    cols = torch.arange(width, dtype=torch.float32).view(1, 1, 1, width).expand(1, frames, height, width)
    return torch.cat([rows, cols])


def top_left(view: torch.Tensor) -> tuple[int, int]:
    return int(view[0, 0, 0, 0]), int(view[1, 0, 0, 0])


def test_to_clip_layout():
    frames = np.zeros((4, 6, 8, 3), np.uint8)
    frames[2, :, :, 1] = 200
    clip = T.to_clip(frames)
    assert clip.shape == (3, 4, 6, 8) and clip.dtype == torch.uint8  # a view: crops copy only what they keep
    assert clip[1, 2].eq(200).all() and clip[1, 1].eq(0).all()


def test_resize_converts_bytes_to_float():
    out = T.resize(torch.full((3, 2, 4, 4), 9, dtype=torch.uint8), 8, 8)
    assert out.dtype == torch.float32 and out.shape == (3, 2, 8, 8) and torch.allclose(out, torch.tensor(9.0))


def test_short_side_scale_keeps_aspect():
    assert T.short_side_scale(torch.zeros(3, 2, 240, 320), 128).shape == (3, 2, 128, 170)
    assert T.short_side_scale(torch.zeros(3, 2, 320, 240), 128).shape == (3, 2, 170, 128)
    flat = torch.full((3, 1, 240, 320), 77.0)
    assert torch.allclose(T.short_side_scale(flat, 128), torch.tensor(77.0))


def test_random_short_side_scale_range():
    rng = np.random.default_rng(0)
    sizes = {T.random_short_side_scale(torch.zeros(1, 1, 24, 32), rng, 256, 260).shape[-2] for _ in range(60)}
    assert sizes == {256, 257, 258, 259, 260}


def test_center_crop_position():
    view = T.center_crop(coordinates(128, 170), 112)
    assert view.shape[-2:] == (112, 112) and top_left(view) == (8, 29)


def test_three_crop_along_the_long_side():
    views = T.three_crop(coordinates(128, 170), 128)
    assert [top_left(v) for v in views] == [(0, 0), (0, 21), (0, 42)]
    tall = T.three_crop(coordinates(170, 128), 128)
    assert [top_left(v) for v in tall] == [(0, 0), (21, 0), (42, 0)]


def test_ten_crop_corners_centre_and_flips():
    clip = coordinates(256, 340)
    views = T.ten_crop(clip, 224)
    assert len(views) == 10
    assert [top_left(v) for v in views[::2]] == [(0, 0), (0, 116), (32, 0), (32, 116), (16, 58)]
    for plain, flipped in zip(views[::2], views[1::2], strict=True):
        assert torch.equal(flipped, plain.flip(-1))


def test_flip_negates_flow_x():
    flow = torch.stack([torch.ones(1, 2, 3), 2 * torch.ones(1, 2, 3)])  # (2, T, H, W): x = 1, y = 2
    out = T.flip(flow, flow=True)
    assert out[0].eq(-1).all() and out[1].eq(2).all()
    assert flow[0].eq(1).all()  # the input is untouched


def test_random_flip_probability():
    rng = np.random.default_rng(3)
    clip = coordinates(4, 6)
    flips = sum(not torch.equal(T.random_flip(clip, rng), clip) for _ in range(400))
    assert 160 < flips < 240


def test_tsn_multi_scale_crop_draws_from_its_offsets():
    clip = coordinates(128, 170)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert T.tsn_multi_scale_crop(clip, 112, rng).shape == (2, 2, 112, 112)
    # one scale, no distortion: the 128x128 crop is never resized, so its corner is exact
    corners = {top_left(T.tsn_multi_scale_crop(clip, 128, rng, scales=(1.0,), max_distort=0)) for _ in range(200)}
    w_step = (170 - 128) // 4
    assert corners == {(0, k * w_step) for k in range(5)}


def test_multi_scale_random_crop_sides():
    rng = np.random.default_rng(0)
    clip = coordinates(120, 160)
    out = {T.multi_scale_random_crop(clip, 112, rng).shape for _ in range(20)}
    assert out == {(2, 2, 112, 112)}
    corners = set()
    for _ in range(200):  # one scale, 1/2: a 60x60 square anywhere in the frame, scaled up to 112
        view = T.multi_scale_random_crop(clip, 112, rng, scales=(0.5,))
        top, left = top_left(view)
        assert 0 <= top <= 60 and 0 <= left <= 100
        assert (int(view[0, 0, -1, 0]), int(view[1, 0, 0, -1])) == (top + 59, left + 59)
        corners.add((top, left))
    assert len(corners) > 100  # positions vary


def test_crop_that_does_not_fit_names_the_sizes():
    with pytest.raises(ValueError, match="112x112"):
        T.center_crop(torch.zeros(3, 1, 100, 100), 112)


def test_normalize_by_hand():
    clip = torch.stack([torch.full((1, 2, 2), v) for v in (10.0, 20.0, 30.0)])
    out = T.normalize(clip, (10.0, 10.0, 10.0), (1.0, 2.0, 4.0))
    assert out[:, 0, 0, 0].tolist() == [0.0, 5.0, 5.0]
    as_bytes = T.normalize(clip.to(torch.uint8), (10.0, 10.0, 10.0), (1.0, 2.0, 4.0))
    assert as_bytes.dtype == torch.float32 and torch.equal(as_bytes, out)
    assert clip[0, 0, 0, 0] == 10.0  # the input is untouched
    with pytest.raises(ValueError, match="3 channels"):
        T.normalize(clip, (0.0,), (1.0,))
