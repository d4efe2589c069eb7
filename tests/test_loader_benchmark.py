"""Loader throughput (issue 4): 16-frame 112x112 training clips per second from real encoded files, our
decord loader against a plain PyAV loader that decodes each video sequentially, in the same run.

The files are a synthetic UCF101 tree at UCF101's frame size (320x240, 25 fps). Ours seeks with decord
and scales while decoding to the protocol's shorter side (128); the baseline decodes every frame up to
the clip's last at full size, and both then run the same crop, flip and normalisation. `extra_info`
holds the clips/s of both in one process, their ratio, ours with 2 DataLoader workers, and the share
of each loader's time spent decoding. Run:
`pytest tests/test_loader_benchmark.py --benchmark-only -s` (the table and the shares are printed).
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from repro.data.dataset import Item, VideoDataset, loader
from repro.data.layouts import get_layout
from repro.data.protocols import make_protocol
from repro.data.synth import synthesize

ROUNDS = 3


class TimedDataset(VideoDataset):
    """Accumulates the seconds spent decoding, to split a loader's time into decode and the rest."""

    decode_seconds = 0.0

    def decode(self, index, rng):
        start = time.perf_counter()
        try:
            return super().decode(index, rng)
        finally:
            self.decode_seconds += time.perf_counter() - start


class PyAVSequential(TimedDataset):
    """The baseline: PyAV decodes every frame from the first up to the last one the clip needs."""

    def decode(self, index, rng):
        start = time.perf_counter()
        try:
            count = None  # the header's count first; containers may over-report it (152 for 150 here)
            while True:
                indices, frames, decoded = self._read(index, rng, count)
                if decoded is None:
                    break
                count = decoded
        finally:
            self.decode_seconds += time.perf_counter() - start
        unique, inverse = np.unique(indices, return_inverse=True)
        return np.stack([frames[i] for i in unique]), inverse.reshape(indices.shape)

    def _read(self, index, rng, count):
        """(indices, frames by index, None) or, when the stream ends early, the true frame count."""
        import av

        with av.open(str(self.samples[index].path)) as container:
            stream = container.streams.video[0]
            state = rng.bit_generator.state
            indices = self.protocol.sample(count or stream.frames, rng)
            last, wanted, frames = int(indices.max()), set(indices.ravel().tolist()), {}
            number = -1
            for number, frame in enumerate(container.decode(stream)):
                if number in wanted:
                    frames[number] = frame.to_ndarray(format="rgb24")
                if number >= last:
                    return indices, frames, None
        rng.bit_generator.state = state  # draw again, the same way, with the true count
        return indices, frames, number + 1


@pytest.fixture(scope="module")
def ucf_like(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    synthesize(root, layout="ucf101", frames=150, width=320, height=240, seed=0)
    return get_layout("ucf101").samples(root, 1, "train")


def one_pass(dataset: TimedDataset) -> tuple[float, float]:
    """(seconds for one pass over every item, of which decoding)."""
    dataset.decode_seconds = 0.0
    start = time.perf_counter()
    for index in range(len(dataset)):
        assert isinstance(dataset[index], Item)
    return time.perf_counter() - start, dataset.decode_seconds


def test_loader_clips_per_second_against_pyav(benchmark, ucf_like):
    protocol = make_protocol("train_clip", clip_len=16, size=112)
    ours = TimedDataset(ucf_like, protocol, seed=0)
    baseline = PyAVSequential(ucf_like, protocol, seed=0, resize_at_decode=False)
    one_pass(ours)  # warm the page cache and the size cache for both
    timings = []

    def run():
        timings.append(one_pass(ours))

    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    ours_seconds, ours_decode = (float(np.median(v)) for v in zip(*timings, strict=True))
    base = [one_pass(baseline) for _ in range(ROUNDS)]
    base_seconds, base_decode = (float(np.median(v)) for v in zip(*base, strict=True))
    clips = len(ucf_like)
    workers = loader(ours, batch_size=4, workers=2)  # persistent: time the second epoch, started workers
    for epoch in range(2):
        ours.set_epoch(epoch)
        start = time.perf_counter()
        assert sum(len(b.labels) for b in workers) == clips
        parallel_seconds = time.perf_counter() - start
    info = {"clips": clips, "clip": "16x112x112 train_clip", "video": "320x240, 150 frames, MPEG-4 avi",
            "ours_clips_per_s": clips / ours_seconds, "pyav_clips_per_s": clips / base_seconds,
            "speedup": base_seconds / ours_seconds, "ours_2_workers_clips_per_s": clips / parallel_seconds,
            "ours_decode_share": ours_decode / ours_seconds, "pyav_decode_share": base_decode / base_seconds}
    benchmark.extra_info.update(info)
    print("\nloader benchmark: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                             for k, v in info.items()))
    assert info["speedup"] > 1.0, info


def test_the_loader_benchmark_says_how_many_workers_a_training_rate_needs(tmp_path, capsys):
    """`repro bench loader`: one worker's clips/s per training input of a paper, from synthetic H.264 video,
    and the workers a training rate needs; a host too small for it is told by how much it falls short."""
    import re

    from repro.cli import main
    from repro.measure.loader_bench import LoaderInput, LoaderRate, table

    train = tmp_path / "train.json"
    train.write_text('{"clips_per_second": 300.0}')
    assert main(["bench", "loader", "--paper", "gcfnet", "--videos", "4", "--train-json", str(train), "--cores", "4",
                 "--video-size", "160x128", "--videos-dir", str(tmp_path / "videos")]) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    rows = re.findall(r"^(train_clip 16f 112px|fixed_clips 16fx10 112px)\s+gcfnet\s+([\d.]+)/s\s+(\d+)\s+(\d+)/s"
                      r"( ok| \d+%)$", out, re.M)
    assert [r[0] for r in rows] == ["train_clip 16f 112px", "fixed_clips 16fx10 112px"], out
    for _, per_worker, needed, four, verdict in rows:
        assert int(needed) >= 300 / float(per_worker) and abs(int(four) - 4 * float(per_worker)) <= 1
        assert verdict == " ok" if 4 * float(per_worker) >= 300 else verdict.endswith("%")
    assert "Against 300.0 training clips/s" in out
    one = LoaderRate(LoaderInput(("p",), "train_clip", {"clip_len": 8, "size": 224}), clips=10, seconds=1.0)
    assert one.workers_for(95.0) == 10 and one.workers_for(1.0) == 1
    lines = table([one], train_rate=200.0, cores=16)
    assert lines[1].endswith("160/s 80%") and "train_clip 8f 224px" in lines[1]


def test_the_synthetic_videos_are_as_many_as_asked(tmp_path):
    """A quarter of a synthetic UCF101 folder is test videos; the benchmark counts every video it asked for."""
    from repro.measure.loader_bench import synthetic_videos

    for count in (2, 16, 17):
        samples = synthetic_videos(tmp_path, count=count, width=64, height=48, container="mp4")
        assert len(samples) == count and len({s.path for s in samples}) == count


def test_loader_keeps_up_with_training(benchmark, request, tmp_path):
    """Under --benchmark-only: one worker's rate for the engine target's training input (R(2+1)D-50 at 8 frames
    of 224x224, FASTER's train_jitter) from 340x256 H.264 video, set against the training benchmark's rate in
    the same session (tests/test_train_bench.py runs first) for the report. A plain pytest: a small smoke run."""
    from conftest import BENCH_ROWS, record_row

    from repro.measure.loader_bench import LoaderInput, host_cores, measure, synthetic_videos

    paper = request.config.getoption("benchmark_only")
    size, count = ((340, 256), 16) if paper else ((160, 128), 2)
    samples = synthetic_videos(tmp_path, count=count, width=size[0], height=size[1], container="mp4")
    target = LoaderInput(("faster",), "train_jitter", {"clip_len": 8, "size": 224})
    timings = []
    benchmark.pedantic(lambda: timings.append(measure([target], samples)[0]), rounds=1, iterations=1)
    rate = timings[0]
    trained = [r["extra_info"] for r in request.config.stash[BENCH_ROWS] if r["extra_info"].get("kind") == "train"]
    train_rate = trained[-1]["clips_per_second"] if trained else None
    cores = host_cores()
    info = {"kind": "loader", "size": "paper" if paper else "example", "input": target.label,
            "video": f"{size[0]}x{size[1]} H.264", "decoder": "decord", "per_worker": rate.per_worker,
            "cores": cores, "train_rate": train_rate, "train_device": trained[-1]["device_name"] if trained else None,
            "workers_needed": rate.workers_for(train_rate) if train_rate else None,
            "delivered_share": rate.per_worker * cores / train_rate if train_rate else None}
    benchmark.extra_info.update(info)
    record_row(request.config, {"name": request.node.name, "extra_info": info,
                                             "stats": {"median": rate.seconds}})
    assert rate.per_worker > 0 and rate.clips == count
