"""Dense optical flow for the motion stream: TV-L1 (the MARS teacher's flow) or DIS, stored as x_/y_ JPEGs.

Conventions, from the public extraction code (../shared/notes/sources.md "Optical flow storage"):
- flow of frame i to frame i+1 on grey frames, so a video of T frames gives T-1 pairs, numbered from 1
  (MARS utils1/tvl1_videoframes.cpp reads its frames IMREAD_GRAYSCALE; MMAction2's denseflow converts
  BGR2GRAY before the flow and names the outputs x_00001.jpg / y_00001.jpg, MARS TVL1jpg_x_00001.jpg);
- TV-L1 with the library's default parameters (both call CUDA `OpticalFlowDual_TVL1::create()` with none;
  here OpenCV's CPU `DualTVL1OpticalFlow_create()`, a separate implementation, so not bit-identical);
- each component clipped to +-20 px and mapped with (f + 20) / 40 * 255 to uint8, rounded to nearest
  (denseflow's cvRound; MARS truncates with astype(uint8), on average half a level = 0.08 px lower);
- one greyscale JPEG per component at quality 95, OpenCV's default that both write with.
The motion-distillation paper (seeds/motion_distill.txt Sec. 2.2) says only that its flow is TV-L1.
MARS also resamples to 25 fps and short side 256 before the flow; here frames are the video's own
and `short_side` is the caller's choice.
"""
from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .decode import UnreadableVideo, frame_folder_length, open_video, read_frame_folder, read_frames
from .skips import SkipLog
from .splits import Sample

METHODS = ("tvl1", "dis")
BOUND = 20.0
JPEG_QUALITY = 95  # cv2.imwrite / imencode default, used by MARS and denseflow
CHUNK_FRAMES = 64  # frames decoded at a time, so a long video never sits in memory whole
DIS_PRESET = "MEDIUM"  # cv2.DISOPTICAL_FLOW_PRESET_MEDIUM: the most accurate of OpenCV's three presets
_NAME = "{}_{:05d}.jpg"


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown optical flow method {method!r}; expected one of {', '.join(METHODS)}")


def _algorithm(method: str):
    import cv2

    _check_method(method)
    if method == "tvl1":
        return cv2.optflow.DualTVL1OpticalFlow_create()
    return cv2.DISOpticalFlow_create(getattr(cv2, f"DISOPTICAL_FLOW_PRESET_{DIS_PRESET}"))


def _grey(frame: np.ndarray) -> np.ndarray:
    import cv2

    if frame.dtype != np.uint8 or not (frame.ndim == 2 or frame.ndim == 3 and frame.shape[-1] == 3):
        raise ValueError(f"expected an RGB (H, W, 3) or grey (H, W) uint8 frame, got {frame.shape} {frame.dtype}")
    # same luma weights as denseflow's BGR2GRAY on BGR input
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame


def _calc(algo, prev_grey: np.ndarray, next_grey: np.ndarray) -> np.ndarray:
    if prev_grey.shape != next_grey.shape:
        raise ValueError(f"frames differ in size: {prev_grey.shape} and {next_grey.shape}")
    return algo.calc(prev_grey, next_grey, None).astype(np.float32, copy=False)


def flow_pair(prev_rgb: np.ndarray, next_rgb: np.ndarray, method: str = "tvl1") -> np.ndarray:
    """Flow from `prev_rgb` to `next_rgb` as (H, W, 2) float32 pixels per frame, x (right +) then y (down +)."""
    return _calc(_algorithm(method), _grey(prev_rgb), _grey(next_rgb))


def quantize(flow: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """uint8 levels: clip to +-bound, then round((f + bound) / (2 * bound) * 255) half to even, as cvRound."""
    if bound <= 0:
        raise ValueError(f"bound must be positive, got {bound!r}")
    clipped = np.clip(np.asarray(flow, np.float32), -bound, bound)
    return np.rint((clipped + bound) / (2 * bound) * 255).astype(np.uint8)


def dequantize(q: np.ndarray, bound: float = BOUND) -> np.ndarray:
    """float32 flow from uint8 levels; within (2 * bound) / 255 / 2 px of the flow inside the bound."""
    return (np.asarray(q, np.float32) / 255 * (2 * bound) - bound).astype(np.float32)


def _frame_chunks(path: Path) -> Iterator[np.ndarray]:
    """(n, H, W, 3) RGB chunks of a video file, or of a folder of 00001.jpg frames."""
    if path.is_dir():
        total, read = frame_folder_length(path), (lambda idx: read_frame_folder(path, idx))
    else:
        reader = open_video(path)
        total, read = len(reader), (lambda idx: read_frames(path, idx, reader=reader))
    if total < 2:
        raise UnreadableVideo(path, f"{total} frame(s): optical flow needs at least 2")
    for start in range(0, total, CHUNK_FRAMES):
        yield read(range(start, min(total, start + CHUNK_FRAMES)))


def _resized(grey: np.ndarray, short_side: int | None) -> np.ndarray:
    import cv2

    if short_side is None:
        return grey
    height, width = grey.shape
    scale = short_side / min(height, width)
    size = (short_side, round(height * scale)) if width <= height else (round(width * scale), short_side)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA)


def _flows(path: Path, method: str, short_side: int | None) -> Iterator[np.ndarray]:
    """The T-1 flows of a video, one at a time."""
    if short_side is not None and short_side < 1:
        raise ValueError(f"short_side must be a positive number of pixels, got {short_side!r}")
    algo, prev = _algorithm(method), None
    for chunk in _frame_chunks(Path(path)):
        for frame in chunk:
            grey = _resized(_grey(frame), short_side)  # grey before resize, as denseflow
            if prev is not None:
                yield _calc(algo, prev, grey)  # one solver per video; it keeps no state between pairs
            prev = grey


def video_flow(path: Path, *, method: str = "tvl1", short_side: int | None = None) -> np.ndarray:
    """All T-1 flows of a (small) video as (T-1, H, W, 2) float32, unquantized."""
    return np.stack(list(_flows(Path(path), method, short_side)))


def _partial(out_dir: Path) -> Path:
    return out_dir.with_name(out_dir.name + ".partial")


def extract_video(path: Path, out_dir: Path, *, method: str = "tvl1", short_side: int | None = None) -> int:
    """Write x_00001.jpg / y_00001.jpg ... for pairs (1, 2), (2, 3) ... into `out_dir`; returns the pair count.

    Built in `<out_dir>.partial` (a leftover one is discarded) and renamed into place when complete, so an
    existing `out_dir` always holds a whole video's flow.
    """
    import cv2

    _check_method(method)
    out_dir = Path(out_dir)
    if out_dir.exists():
        raise FileExistsError(f"{out_dir} already holds flow; delete it to recompute")
    partial = _partial(out_dir)
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    pairs = 0
    try:
        for pairs, flow in enumerate(_flows(Path(path), method, short_side), start=1):
            levels = quantize(flow)
            for axis, name in enumerate("xy"):
                target = partial / _NAME.format(name, pairs)
                if not cv2.imwrite(str(target), levels[..., axis], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                    raise OSError(f"{target}: cannot write JPEG")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    os.replace(partial, out_dir)
    return pairs


def flow_dir(out_root: Path, sample: Sample, root: Path | None = None) -> Path:
    """out_root / <sample path relative to root, extension dropped>; just the file stem when root is None."""
    path = Path(sample.path)
    if root is None:
        return Path(out_root) / path.stem
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise ValueError(f"{path} is not under the dataset root {root}") from None
    return Path(out_root) / relative.with_suffix("")


def flow_length(folder: Path) -> int:
    """Number of flow pairs in a folder of x_/y_ JPEGs (1-based, contiguous, both components present)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UnreadableVideo(folder, "expected a folder of x_/y_ flow JPEGs")
    count = 0
    while (folder / _NAME.format("x", count + 1)).is_file():
        if not (folder / _NAME.format("y", count + 1)).is_file():
            raise UnreadableVideo(folder, f"{_NAME.format('x', count + 1)} has no {_NAME.format('y', count + 1)}")
        count += 1
    if count == 0:
        raise UnreadableVideo(folder, f"no flow frames named like {_NAME.format('x', 1)}")
    return count


def read_flow(folder: Path, indices) -> np.ndarray:
    """Pairs `indices` (0-based) as (T, H, W, 2) float32 flow, dequantized from the x_/y_ JPEGs."""
    import cv2

    folder, flows = Path(folder), []
    for index in indices:
        components = []
        for name in "xy":
            path = folder / _NAME.format(name, int(index) + 1)
            image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            if image is None:
                raise UnreadableVideo(path, "missing or undecodable flow image")
            components.append(image)
        if components[0].shape != components[1].shape:
            raise UnreadableVideo(folder, f"x and y of pair {int(index) + 1} differ in size")
        flows.append(np.stack(components, axis=-1))
    if len({f.shape for f in flows}) > 1:
        raise UnreadableVideo(folder, "flow frames of different sizes")
    return dequantize(np.stack(flows))


@dataclass
class FlowSummary:
    """What one `extract_flow` run did; `pairs` counts the pairs computed in this run only."""

    written: int = 0
    resumed: int = 0
    skipped: int = 0
    pairs: int = 0
    seconds: float = 0.0
    method: str = "tvl1"
    unreadable: list[tuple[str, str]] = field(default_factory=list)

    def as_json(self) -> dict:
        out = asdict(self)
        out["unreadable"] = [{"path": p, "reason": r} for p, r in self.unreadable]
        out["pairs_per_second"] = self.pairs / self.seconds if self.seconds > 0 else None
        return out


def _extract_task(path: str, out_dir: str, method: str, short_side: int | None) -> tuple[int, str | None]:
    """(pairs, None) or (0, reason): module-level so a process pool can pickle it."""
    try:
        return extract_video(Path(path), Path(out_dir), method=method, short_side=short_side), None
    except UnreadableVideo as exc:
        return 0, exc.reason


def _init_worker(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)  # workers x threads = cores, no oversubscription


def extract_flow(samples: list[Sample], out_root: Path, *, root: Path | None = None, method: str = "tvl1",
                 short_side: int | None = None, workers: int = 1, skips: SkipLog | None = None,
                 progress: Callable[[str], None] | None = None) -> FlowSummary:
    """Flow JPEGs for every sample under `out_root` (see `flow_dir`), resumable per video.

    A folder already in place is complete (it is only ever renamed in when done) and is counted as resumed;
    a leftover `.partial` is redone. Unreadable videos go to `skips`, which is checked at the end so that too
    large a share of them fails the run after the readable ones are written. `workers` > 1 runs a spawn
    process pool, so a script calling this needs the usual `if __name__ == "__main__":` guard.
    """
    import multiprocessing

    _check_method(method)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers!r}")
    skips = skips if skips is not None else SkipLog()
    summary, started = FlowSummary(method=method), time.perf_counter()
    todo: list[tuple[Sample, Path]] = []
    owners: dict[Path, Path] = {}
    for sample in samples:
        target = flow_dir(out_root, sample, root)
        if target in owners:
            raise ValueError(f"{owners[target]} and {sample.path} both map to the flow folder {target}: a duplicate "
                             "sample, or two videos of one name (pass root= to keep their sub-folders)")
        owners[target] = Path(sample.path)
        if target.is_dir():
            summary.resumed += 1
            skips.ok()
            if progress:
                progress(Path(sample.path).name)
        else:
            todo.append((sample, target))

    def record(sample: Sample, pairs: int, reason: str | None) -> None:
        if reason is None:
            summary.written, summary.pairs = summary.written + 1, summary.pairs + pairs
            skips.ok()
        else:
            summary.skipped += 1
            summary.unreadable.append((str(sample.path), reason))
            skips.skip(sample.path, reason)
        if progress:
            progress(Path(sample.path).name)

    if workers == 1:
        for sample, target in todo:
            record(sample, *_extract_task(str(sample.path), str(target), method, short_side))
    elif todo:
        threads = max(1, (os.cpu_count() or 1) // workers)
        # spawn: forking a parent that holds OpenCV / decord threads can deadlock the child
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads,))
        try:
            futures = {pool.submit(_extract_task, str(s.path), str(t), method, short_side): s for s, t in todo}
            for future in as_completed(futures):
                record(futures[future], *future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    summary.seconds = time.perf_counter() - started
    skips.check()
    return summary
