"""Which frames a protocol reads: every sampler returns 0-based frame indices, shaped (views, frames).

Each is named after the protocol it implements and cites it. All are pure functions of the video length
(and of a numpy Generator where training randomises), so tests can pin the exact indices.
Loop padding follows 3D-ResNets / Efficient-3DCNNs `LoopPadding`: a window shorter than the clip
repeats its own frames from its start (../shared/notes/sources.md "Test protocols").
"""
from __future__ import annotations

import numpy as np


def _check(num_frames: int, **positive: int) -> None:
    if int(num_frames) < 1:
        raise ValueError(f"a video needs at least one frame, got num_frames={num_frames}")
    for name, value in positive.items():
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")


def loop_pad(window: np.ndarray, clip_len: int) -> np.ndarray:
    """Repeat `window` from its start until it is `clip_len` long (LoopPadding), or cut it to that length."""
    window = np.asarray(window, dtype=np.int64)
    if window.size == 0:
        raise ValueError("cannot loop-pad an empty window")
    return np.resize(window, clip_len)  # np.resize repeats the array cyclically


def _window(start: int, clip_len: int, num_frames: int) -> np.ndarray:
    return loop_pad(np.arange(start, min(start + clip_len, num_frames)), clip_len)


def random_clip(num_frames: int, clip_len: int, rng: np.random.Generator) -> np.ndarray:
    """Training: `clip_len` consecutive frames from a random start, loop-padded in short videos.

    3D-ResNets / Efficient-3DCNNs `TemporalRandomCrop`: the start is drawn from 0..max(0, T - L - 1)
    inclusive, as theirs, so the clip ending exactly at the last frame is never drawn; FASTER Sec. 4.1
    "randomly sample L consecutive frames".
    """
    _check(num_frames, clip_len=clip_len)
    start = int(rng.integers(0, max(0, num_frames - clip_len - 1) + 1))
    return _window(start, clip_len, num_frames)[None]


def central_clip(num_frames: int, clip_len: int = 16) -> np.ndarray:
    """One clip centred in the video, loop-padded (Efficient-3DCNNs `TemporalCenterCrop`; GCF-Net's C-Clip)."""
    _check(num_frames, clip_len=clip_len)
    start = max(0, num_frames // 2 - clip_len // 2)
    return _window(start, clip_len, num_frames)[None]


def dense_clips(num_frames: int, clip_len: int = 16) -> np.ndarray:
    """Every non-overlapping clip; the last, partial one loop-padded (GCF-Net's D-Clips).

    3D-ResNets / MARS dense testing: 1-based starts `range(1, n_frames, L)`, i.e. 0-based starts
    below T - 1, so a last window of a single frame is not a clip (one clip at least).
    """
    _check(num_frames, clip_len=clip_len)
    starts = range(0, max(num_frames - 1, 1), clip_len)
    return np.stack([_window(s, clip_len, num_frames) for s in starts])


def fixed_clips(num_frames: int, num_clips: int = 10, clip_len: int = 16) -> np.ndarray:
    """GCF-Net Sec. 4.1: `num_clips` non-overlapping 16-frame clips, loop padding when a video has fewer.

    The paper does not say which clips a longer video contributes. We take `num_clips` of its full
    non-overlapping clips, evenly spaced (first and last included); a video with fewer full clips
    gives all its dense clips (the last loop-padded), repeated from the first clip when there are
    fewer than `num_clips` (loop padding at the clip level).
    """
    _check(num_frames, num_clips=num_clips, clip_len=clip_len)
    full = num_frames // clip_len
    if full >= num_clips:
        chosen = np.floor(np.linspace(0, full - 1, num_clips) + 0.5).astype(np.int64)
        return chosen[:, None] * clip_len + np.arange(clip_len)
    clips = dense_clips(num_frames, clip_len)
    if len(clips) >= num_clips:
        return clips[:num_clips]
    return clips[np.arange(num_clips) % len(clips)]


def uniform_clips(num_frames: int, num_clips: int, clip_len: int) -> np.ndarray:
    """FASTER Sec. 4.1: N clips of L consecutive frames "uniformly sampled to cover the whole video".

    The first clip starts at frame 0 and the last ends at the last frame; starts in between are evenly
    spaced (floored). Clips overlap when N*L exceeds the video; a video shorter than L is loop-padded.
    """
    _check(num_frames, num_clips=num_clips, clip_len=clip_len)
    starts = np.floor(np.linspace(0, max(num_frames - clip_len, 0), num_clips)).astype(np.int64)
    return np.stack([_window(int(s), clip_len, num_frames) for s in starts])


def multi_view_clips(num_frames: int, num_clips: int = 10, clip_len: int = 32, frame_interval: int = 1) -> np.ndarray:
    """10-clip testing as MMAction2 `SampleFrames(test_mode=True)`: clip k starts at the middle of the k-th of
    `num_clips` equal intervals; indices past the end wrap around (out_of_bound_opt='loop')."""
    _check(num_frames, num_clips=num_clips, clip_len=clip_len, frame_interval=frame_interval)
    span = clip_len * frame_interval
    interval = (num_frames - span + 1) / num_clips
    if num_frames > span - 1:
        offsets = (np.arange(num_clips) * interval + interval / 2.0).astype(np.int64)
    else:
        offsets = np.zeros(num_clips, dtype=np.int64)
    return np.mod(offsets[:, None] + np.arange(clip_len) * frame_interval, num_frames)


def tsn_train(num_frames: int, num_segments: int = 3, new_length: int = 1,
              rng: np.random.Generator | None = None) -> np.ndarray:
    """TSN training (yjxiong/tsn-pytorch `_sample_indices`): one random snippet per equal segment.

    Shape (num_segments, new_length): each snippet is `new_length` consecutive frames (1 for RGB).
    """
    _check(num_frames, num_segments=num_segments, new_length=new_length)
    rng = rng if rng is not None else np.random.default_rng()
    usable = num_frames - new_length + 1
    average = usable // num_segments
    if average > 0:
        offsets = np.arange(num_segments) * average + rng.integers(0, average, size=num_segments)
    elif num_frames > num_segments:
        offsets = np.sort(rng.integers(0, max(usable, 1), size=num_segments))
    else:
        offsets = np.zeros(num_segments, dtype=np.int64)
    return np.clip(offsets[:, None] + np.arange(new_length), 0, num_frames - 1)


def tsn_test(num_frames: int, num_segments: int = 25, new_length: int = 1) -> np.ndarray:
    """TSN testing (`_get_test_indices`): the snippet at int(tick/2 + tick*i), tick = (T - new_length + 1)/S.

    MAiVAR's video features use 25 segments (../shared/notes/sources.md "MAiVAR").
    """
    _check(num_frames, num_segments=num_segments, new_length=new_length)
    tick = (num_frames - new_length + 1) / float(num_segments)
    offsets = np.array([int(tick / 2.0 + tick * i) for i in range(num_segments)], dtype=np.int64)
    return np.clip(offsets[:, None] + np.arange(new_length), 0, num_frames - 1)
