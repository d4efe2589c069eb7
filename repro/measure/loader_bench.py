"""Can the loader keep the GPU fed? (`repro bench loader`)

For each distinct training input of the papers' experiments (protocol, clip length, crop), one worker's rate:
training clips a second that one process decodes and augments from synthetic videos of the size and codec
asked (default 340x256 H.264, Kinetics' usual re-encoding), timed in this process (a DataLoader worker does the
same work). Set against a training rate (`--train-rate`, or the clips/s of a `repro bench train --json` file),
it gives the workers needed to match it, and whether the workers a host can run (`--cores`, default this
machine's) deliver it, or by how much they fall short. Decoding scales with cores until memory bandwidth
or the disk binds, which one process cannot show: the table says it assumes linear scaling. The input is the
protocol's; a pipeline that samples several clips a video itself (a clip aggregator's training) decodes that
many times the frames.
"""
from __future__ import annotations

import json
import math
import os
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

from ..data.backends import DEFAULT_BACKEND
from ..data.dataset import Item, VideoDataset
from ..data.layouts import get_layout
from ..data.protocols import make_protocol
from ..data.synth import synthesize

OPTIONS = ("clip_len", "size", "num_clips", "num_segments", "short_side")  # what sets the decoding work
MULTI_CLIP = ("fixed_clips", "uniform_clips", "multiview")  # the protocols that read num_clips themselves


@dataclass(frozen=True)
class LoaderInput:
    papers: tuple[str, ...]
    protocol: str
    options: dict

    @property
    def label(self) -> str:
        o = self.options
        frames = f"{o['num_segments']}seg" if "num_segments" in o else f"{o.get('clip_len', 16)}f"
        clips = f"x{o['num_clips']}" if o.get("num_clips", 1) > 1 else ""
        side = f" s{o['short_side']}" if "short_side" in o else ""  # decoded at this shorter side
        return f"{self.protocol} {frames}{clips} {o.get('size', 112)}px{side}"


@dataclass(frozen=True)
class LoaderRate:
    input: LoaderInput
    clips: int
    seconds: float

    @property
    def per_worker(self) -> float:
        return self.clips / self.seconds

    def workers_for(self, rate: float) -> int:
        return max(1, math.ceil(rate / self.per_worker))


def synthetic_videos(root: Path, *, count: int, width: int, height: int, container: str) -> list:
    """`count` synthetic UCF101-layout videos of the size and codec asked (kept between runs)."""
    scale = max(1, math.ceil(count / 16))  # 4 classes x 4 videos x scale
    folder = root / f"loader-{width}x{height}-{container}-x{scale}"
    synthesize(folder, layout="ucf101", frames=150, width=width, height=height, container=container,
               scale=scale, classes=["MoveLeft", "MoveRight", "OrbitHum", "OrbitWhistle"])
    layout = get_layout("ucf101")  # both splits: a quarter of the videos are test videos, and any video will do
    return (layout.samples(folder, 1, "train") + layout.samples(folder, 1, "test"))[:count]


def measure(inputs: list[LoaderInput], samples: list, *, decoder: str = DEFAULT_BACKEND,
            progress=None) -> list[LoaderRate]:
    """One pass over `samples` per input, in this process (one worker's work); a warm-up pass first."""
    rates = []
    for item in inputs:
        dataset = VideoDataset(samples, make_protocol(item.protocol, **item.options), seed=0, decoder=decoder)
        for index in range(min(2, len(dataset))):  # page cache and headers
            dataset[index]
        start = time.perf_counter()
        done = sum(isinstance(dataset[i], Item) for i in range(len(dataset)))
        rates.append(LoaderRate(item, done, time.perf_counter() - start))
        if progress:
            progress(item.label)
    return rates


def host_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def table(rates: list[LoaderRate], *, train_rate: float | None, cores: int) -> list[str]:
    """Lines of at most 80 columns: per input, one worker's clips/s, the workers needed, and what `cores`
    workers deliver against the training rate."""
    lines = [f"{'input':<26} {'papers':<18} {'1 worker':>9} {'needed':>7} {f'{cores} workers':>11}"]
    for rate in rates:
        papers = ",".join(rate.input.papers)
        papers = papers if len(papers) <= 18 else papers[:17] + "…"
        needed = f"{rate.workers_for(train_rate):>7}" if train_rate else f"{'—':>7}"
        total = rate.per_worker * cores
        verdict = ""
        if train_rate:
            verdict = " ok" if total >= train_rate else f" {total / train_rate:.0%}"
        lines.append(f"{rate.input.label:<26.26} {papers:<18} {rate.per_worker:>7.1f}/s {needed} "
                     f"{total:>9.0f}/s{verdict}")
    if not train_rate:
        lines.append("(--train-rate or --train-json gives the workers a training rate needs)")
    else:
        lines += textwrap.wrap(f"Against {train_rate:.1f} training clips/s: 'needed' workers match it; the last "
                               f"column is what {cores} deliver (ok, or their share of the rate), assuming decoding "
                               f"scales with cores.", 80)
    return lines


def train_rate_from(path: Path) -> tuple[float, str]:
    """The clips/s of a `repro bench train --json` file, and what was trained to get it."""
    expected = "the JSON `repro bench train --json` writes, with clips_per_second"
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc}); expected {expected}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not JSON ({exc.msg}); expected {expected}") from None
    if not isinstance(data, dict) or not isinstance(data.get("clips_per_second"), (int, float)):
        raise ValueError(f"{path}: expected {expected}")
    trained = f"{data.get('model', '?')} at {data.get('input', '?')}, batch {data.get('batch', '?')}"
    return float(data["clips_per_second"]), f"from {path}: {trained} on {data.get('device_name', '?')}"
