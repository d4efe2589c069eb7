"""Exact frame indices of every sampling protocol, on short and long videos, loop padding included."""
from __future__ import annotations

import numpy as np
import pytest

from repro.data import sampling as S


def r(a: int, b: int) -> list[int]:
    return list(range(a, b))


def test_loop_pad_repeats_the_window_from_its_start():
    assert S.loop_pad(np.array([3, 4, 5]), 8).tolist() == [3, 4, 5, 3, 4, 5, 3, 4]
    assert S.loop_pad(np.arange(20), 4).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="empty"):
        S.loop_pad(np.array([], dtype=int), 4)


def test_central_clip_long_and_short():
    assert S.central_clip(100, 16).tolist() == [r(42, 58)]
    assert S.central_clip(10, 16).tolist() == [r(0, 10) + r(0, 6)]
    assert S.central_clip(17, 16).tolist() == [r(0, 16)]  # centre 8, start max(0, 8 - 8)


def test_dense_clips_are_non_overlapping_and_the_last_is_loop_padded():
    assert S.dense_clips(40, 16).tolist() == [r(0, 16), r(16, 32), r(32, 40) * 2]
    assert S.dense_clips(5, 16).tolist() == [(r(0, 5) * 4)[:16]]
    assert S.dense_clips(48, 16).shape == (3, 16)
    assert S.dense_clips(17, 16).tolist() == [r(0, 16)]  # 1-based starts range(1, 17, 16): no 1-frame clip
    assert S.dense_clips(18, 16).tolist() == [r(0, 16), [16, 17] * 8]
    assert S.dense_clips(1, 16).tolist() == [[0] * 16]


def test_fixed_clips_ten_of_the_non_overlapping_clips_gcf_net():
    long = S.fixed_clips(320, 10, 16)  # 20 full clips: evenly spaced picks 0 2 4 6 8 11 13 15 17 19
    assert long[:, 0].tolist() == [0, 32, 64, 96, 128, 176, 208, 240, 272, 304]
    assert long[-1].tolist() == r(304, 320)
    assert S.fixed_clips(160, 10, 16).tolist() == [r(16 * k, 16 * k + 16) for k in range(10)]
    assert S.fixed_clips(161, 10, 16).tolist() == [r(16 * k, 16 * k + 16) for k in range(10)]  # no padded 11th
    partial = S.fixed_clips(150, 10, 16)  # 9 full clips and a 6-frame one, loop-padded
    assert partial[:9].tolist() == [r(16 * k, 16 * k + 16) for k in range(9)]
    assert partial[9].tolist() == (r(144, 150) * 3)[:16]
    short = S.fixed_clips(40, 10, 16)  # 3 clips, repeated in order; the third is loop-padded
    clips = [r(0, 16), r(16, 32), r(32, 40) * 2]
    assert short.tolist() == [clips[k % 3] for k in range(10)]
    assert S.fixed_clips(3, 10, 16).tolist() == [(r(0, 3) * 6)[:16]] * 10


def test_uniform_clips_cover_the_video_faster():
    clips = S.uniform_clips(100, 8, 32)  # starts floor(linspace(0, 68, 8))
    assert clips[:, 0].tolist() == [0, 9, 19, 29, 38, 48, 58, 68]
    assert clips[-1].tolist() == r(68, 100)
    n256 = S.uniform_clips(300, 32, 8)
    assert n256.shape == (32, 8) and n256[0, 0] == 0 and n256[-1, -1] == 299
    assert n256[1, 0] == 9 and n256[2, 0] == 18  # 292 / 31 = 9.42 apart, floored
    assert S.uniform_clips(5, 2, 8).tolist() == [r(0, 5) + r(0, 3)] * 2


def test_multi_view_clips_follow_mmaction2_test_mode():
    clips = S.multi_view_clips(300, 10, 32)  # interval (300 - 32 + 1) / 10 = 26.9, offsets at its middle
    assert clips[:, 0].tolist() == [13, 40, 67, 94, 121, 147, 174, 201, 228, 255]
    assert clips[-1].tolist() == r(255, 287)
    assert S.multi_view_clips(20, 10, 32).tolist() == [r(0, 20) + r(0, 12)] * 10
    strided = S.multi_view_clips(300, 1, 8, frame_interval=8)  # interval 237, offset 118
    assert strided.tolist() == [[118 + 8 * k for k in range(8)]]


def test_tsn_test_segments():
    assert S.tsn_test(100, 25).ravel().tolist() == [2 + 4 * i for i in range(25)]
    assert S.tsn_test(10, 25).ravel().tolist() == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7,
                                                   8, 8, 9, 9, 9]
    assert S.tsn_test(100, 25, new_length=5)[0].tolist() == [1, 2, 3, 4, 5]  # tick 3.84, int(1.92) = 1


def test_tsn_train_draws_one_frame_per_segment():
    rng = np.random.default_rng(0)
    draws = np.stack([S.tsn_train(100, 3, rng=rng).ravel() for _ in range(300)])
    for k in range(3):  # average duration 33: segment k covers [33k, 33k + 33)
        assert draws[:, k].min() == 33 * k and draws[:, k].max() == 33 * k + 32
    assert S.tsn_train(5, 3, rng=rng).ravel().tolist() == [0, 1, 2]
    assert S.tsn_train(2, 3, rng=rng).ravel().tolist() == [0, 0, 0]
    a, b = (S.tsn_train(1000, 8, rng=np.random.default_rng(7)) for _ in range(2))
    assert np.array_equal(a, b)


def test_random_clip_range_and_loop_padding():
    rng = np.random.default_rng(1)
    starts = {int(S.random_clip(100, 16, rng)[0, 0]) for _ in range(2000)}
    assert min(starts) == 0 and max(starts) == 83  # TemporalRandomCrop: randint(0, T - L - 1) inclusive
    assert {int(S.random_clip(17, 16, rng)[0, 0]) for _ in range(50)} == {0}
    clip = S.random_clip(100, 16, rng)[0]
    assert clip.tolist() == r(clip[0], clip[0] + 16)
    assert S.random_clip(10, 16, rng).tolist() == [r(0, 10) + r(0, 6)]


@pytest.mark.parametrize("call", [lambda: S.central_clip(0, 16), lambda: S.dense_clips(10, 0),
                                  lambda: S.fixed_clips(10, 0, 16), lambda: S.tsn_test(0)])
def test_bad_arguments_are_named(call):
    with pytest.raises(ValueError, match="num_frames|clip_len|num_clips"):
        call()
