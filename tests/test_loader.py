"""The loader end to end on real files: the frames each protocol decodes, seeds, workers, skips."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from videos import decoded_index, write_video

from repro.data.dataset import Item, VideoDataset, collate, decode_size, loader
from repro.data.protocols import PROTOCOLS, make_protocol
from repro.data.skips import SkipLog, TooManyUnreadable
from repro.data.splits import Sample


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("loader")
    short = write_video(root / "short.avi", 10, width=64, height=48)
    long = write_video(root / "long.mp4", 50, width=64, height=48, audio_hz=330.0)
    empty = root / "empty.avi"
    empty.write_bytes(b"")
    return [Sample(short, 0, "a"), Sample(long, 1, "b"), Sample(empty, 1, "b")]


def frames_of(item: Item) -> list[list[int]]:
    """The written index of every frame of every view (channel 0 holds the flat grey level)."""
    return [[decoded_index(view[:, t]) for t in range(view.shape[1])] for view in item.views]


def protocol(name: str, **kw):
    return make_protocol(name, size=32, mean=(0.0, 0.0, 0.0), **kw)


def test_dense_and_gcf_clips_decode_the_frames_they_name(videos):
    dense = VideoDataset(videos, protocol("dense", clip_len=16))
    assert frames_of(dense[1]) == [list(range(0, 16)), list(range(16, 32)), list(range(32, 48)), [48, 49] * 8]
    assert frames_of(dense[0]) == [(list(range(10)) * 2)[:16]]
    gcf = VideoDataset(videos, protocol("fixed_clips", clip_len=8))  # 50 frames: 7 clips of 8, looped to 10
    clips = [list(range(8 * k, 8 * k + 8)) for k in range(6)] + [[48, 49] * 4]
    assert frames_of(gcf[1]) == [clips[k % 7] for k in range(10)]


def test_tsn_and_faster_views(videos):
    tsn = VideoDataset(videos, protocol("tsn_1crop"))
    assert [v[0] for v in frames_of(tsn[1])] == [1 + 2 * i for i in range(25)]  # tick 2: int(1 + 2i)
    faster = VideoDataset(videos, protocol("uniform_clips", clip_len=8, num_clips=4))
    assert [v[0] for v in frames_of(faster[1])] == [0, 14, 28, 42]  # floor(linspace(0, 42, 4))
    ten = VideoDataset(videos, protocol("tsn_10crop"))[1]
    assert ten.views.shape == (250, 3, 1, 32, 32)


def test_views_are_resized_at_decode_to_the_protocols_short_side(videos):
    dataset = VideoDataset(videos, protocol("central", clip_len=4))
    assert decode_size(48, 64, dataset.protocol.decode_short_side) == (32, 42)  # Scale(112) + CenterCrop(112)
    item = dataset[1]
    assert item.views.shape == (1, 3, 4, 32, 32) and (dataset._headers[1].height, dataset._headers[1].width) == (48, 64)
    sides = {name: protocol(name).decode_short_side for name in PROTOCOLS}
    assert sides == {"train_clip": 37, "train_jitter": 46, "train_tsn": 37, "central": 32, "dense": 32,
                     "fixed_clips": 32, "uniform_clips": 37, "multiview": 32, "tsn_1crop": 37, "tsn_10crop": 37}
    native = VideoDataset(videos, protocol("central", clip_len=4), resize_at_decode=False)[1]
    assert torch.allclose(item.views, native.views, atol=2.0)  # flat frames: any scaler gives the same grey


def test_training_draws_depend_on_seed_epoch_and_index_only(videos):
    dataset = VideoDataset(videos[:2], protocol("train_clip", clip_len=8), seed=3)
    first = [dataset[i].views for i in range(2)]
    assert all(torch.equal(a, dataset[i].views) for i, a in enumerate(first))
    starts = set()
    for epoch in range(12):
        dataset.set_epoch(epoch)
        starts.add(frames_of(dataset[1])[0][0])
    assert len(starts) > 3 and max(starts) <= 42
    other = VideoDataset(videos[:2], protocol("train_clip", clip_len=8), seed=4)
    assert not all(torch.equal(dataset[i].views, other[i].views) for i in range(2))


def test_worker_processes_give_the_same_batches(videos):
    dataset = VideoDataset(videos, protocol("train_clip", clip_len=8), seed=1)
    serial = list(loader(dataset, batch_size=2, workers=0, shuffle=True, seed=5))
    parallel = list(loader(dataset, batch_size=2, workers=2, shuffle=True, seed=5))
    assert [b.indices.tolist() for b in serial] == [b.indices.tolist() for b in parallel]
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a.views, b.views)
        assert [s.path for s in a.skipped] == [s.path for s in b.skipped]
    assert sum(len(b.skipped) for b in serial) == 1


def test_persistent_workers_follow_the_epoch(videos):
    dataset = VideoDataset(videos[:2], protocol("train_clip", clip_len=8), seed=2)
    serial = loader(dataset, batch_size=2, workers=0)
    parallel = loader(dataset, batch_size=2, workers=2)
    seen = []
    for epoch in range(3):
        dataset.set_epoch(epoch)
        a, b = next(iter(serial)), next(iter(parallel))
        assert torch.equal(a.views, b.views), epoch
        seen.append(a.views)
    assert not torch.equal(seen[0], seen[1]) or not torch.equal(seen[1], seen[2])


def test_one_crop_and_flip_for_all_segments_of_a_video():
    frames = np.broadcast_to(np.arange(64, dtype=np.uint8)[None, None, :, None] * 3, (20, 48, 64, 3)).copy()
    tsn = make_protocol("train_tsn", size=32, num_segments=5, mean=(0.0, 0.0, 0.0))
    for seed in range(10):
        rng = np.random.default_rng(seed)
        indices = tsn.sample(20, rng)
        views = tsn.views(frames[indices.ravel()], indices, rng)
        assert views.shape == (5, 3, 1, 32, 32)
        assert all(torch.allclose(views[0], v, atol=1e-3) for v in views[1:])  # same crop and flip (a crop one
        # pixel over would differ by 3 levels; SIMD lanes leave 1e-5)


def test_collate_sets_skipped_items_aside(videos):
    dataset = VideoDataset(videos, protocol("central", clip_len=8))
    batch = collate([dataset[i] for i in range(3)])
    assert batch.views.shape == (2, 1, 3, 8, 32, 32) and batch.labels.tolist() == [0, 1]
    assert [s.reason for s in batch.skipped] == ["zero-byte file"]
    dense = VideoDataset(videos, protocol("dense", clip_len=16))
    with pytest.raises(ValueError, match="batch_size=1"):
        collate([dense[0], dense[1]])
    only_bad = collate([dataset[2]])
    assert only_bad.views.numel() == 0 and len(only_bad.skipped) == 1


def test_skip_log_threshold_and_summary():
    early = SkipLog(max_share=0.05, min_seen=20)
    for k in range(20):  # 2 bad of the first 20 in a 3% dataset is bad luck, not proof: keep going
        early.skip(f"bad{k}.avi", "zero-byte file") if k in (3, 11) else early.ok()
    assert early.share == 0.1 and early.lower_bound() < 0.05
    with pytest.raises(TooManyUnreadable, match=r"2 of 20 samples unreadable \(10.0%, threshold 5.0%\)"):
        early.check()  # at the end the measured share decides
    broken = SkipLog(max_share=0.05, min_seen=20)
    with pytest.raises(TooManyUnreadable, match="19 cannot open, 1 zero-byte file"):
        for k in range(40):
            broken.skip(f"x{k}.avi", "zero-byte file" if k == 0 else "cannot open: junk")
    assert broken.seen == 20  # stopped as soon as enough were seen to judge, not at the end of 40
    summary = SkipLog(max_share=0.0)
    summary.skip("c.avi", "missing file")
    with pytest.raises(TooManyUnreadable, match="c.avi: missing file"):
        summary.check()
    with pytest.raises(ValueError, match="max_share"):
        SkipLog(max_share=2.0)


def test_unknown_protocol_lists_the_known_ones():
    with pytest.raises(ValueError, match="known: " + ", ".join(PROTOCOLS)[:40]):
        make_protocol("10x3")


def test_multiview_is_ten_clips_by_three_crops(videos):
    item = VideoDataset(videos, protocol("multiview", clip_len=8))[1]
    assert item.views.shape == (30, 3, 8, 32, 32)
    starts = [v[0] for v in frames_of(item)[::3]]
    assert starts == [2, 6, 10, 15, 19, 23, 27, 32, 36, 40]  # int(4.3k + 2.15), interval (50 - 8 + 1) / 10


def test_training_flip_can_be_turned_off():
    frames = np.broadcast_to(np.arange(64, dtype=np.uint8)[None, None, :, None] * 3, (20, 48, 64, 3)).copy()
    for name in ("train_clip", "train_jitter", "train_tsn"):
        flips = set()
        for seed in range(30):
            rng = np.random.default_rng(seed)
            proto = make_protocol(name, size=32, flip=False, mean=(0.0, 0.0, 0.0))
            indices = proto.sample(20, rng)
            view = proto.views(frames[indices.ravel()], indices, rng)[0]
            flips.add(bool(view[0, 0, 0, 0] > view[0, 0, 0, -1]))  # columns grow left to right unless flipped
        assert flips == {False}, name
