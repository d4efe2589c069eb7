"""Optical flow: shift recovery, quantization, x_/y_ JPEG storage, resumable and parallel extraction."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from repro.data.flow import (
    BOUND,
    METHODS,
    dequantize,
    extract_flow,
    extract_video,
    flow_dir,
    flow_length,
    flow_pair,
    quantize,
    read_flow,
    video_flow,
)
from repro.data.skips import SkipLog, TooManyUnreadable
from repro.data.splits import Sample

HEIGHT, WIDTH = 48, 64


def texture(seed: int, height: int = HEIGHT + 40, width: int = WIDTH + 40) -> np.ndarray:
    """Smooth random RGB texture: blurred noise has gradients everywhere, which flow needs."""
    noise = np.random.default_rng(seed).integers(0, 256, (height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return ((smooth - smooth.min()) / (smooth.max() - smooth.min()) * 255).astype(np.uint8)


def moving_frames(seed: int, count: int, step_x: int = 2) -> list[np.ndarray]:
    """Frames whose content moves `step_x` px to the right per frame."""
    big = texture(seed)
    return [np.ascontiguousarray(big[20:20 + HEIGHT, 30 - step_x * i: 30 - step_x * i + WIDTH]) for i in range(count)]


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"crf": "12"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def dataset(root: Path, count: int, frames: int = 4) -> list[Sample]:
    return [Sample(write_video(root / "Walk" / f"v_{i}.mp4", moving_frames(i, frames)), 0, "Walk")
            for i in range(count)]


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*.jpg"))}


@pytest.mark.parametrize("method", METHODS)
def test_flow_pair_recovers_a_known_shift(method):
    big = texture(7)
    prev = big[10:10 + HEIGHT, 10:10 + WIDTH]
    nxt = big[12:12 + HEIGHT, 7:7 + WIDTH]  # content moves 3 px right and 2 px up
    flow = flow_pair(prev, nxt, method)
    assert flow.shape == (HEIGHT, WIDTH, 2) and flow.dtype == np.float32
    interior = flow[8:-8, 8:-8]
    assert abs(np.median(interior[..., 0]) - 3.0) < 0.5
    assert abs(np.median(interior[..., 1]) + 2.0) < 0.5


def test_quantize_hand_values_and_round_trip():
    levels = quantize(np.array([0.0, 20.0, -20.0, 35.0, -35.0, 10.0, -0.1], np.float32))
    # 0 -> 127.5 rounds half to even -> 128; 10 -> 191.25 -> 191; -0.1 -> 126.86 -> 127
    assert levels.dtype == np.uint8
    assert levels.tolist() == [128, 255, 0, 255, 0, 191, 127]
    assert dequantize(np.array([0, 255], np.uint8)).tolist() == [-BOUND, BOUND]
    flow = np.random.default_rng(0).uniform(-BOUND, BOUND, 10_000).astype(np.float32)
    error = np.abs(dequantize(quantize(flow)) - flow)
    assert error.max() <= 2 * BOUND / 255 / 2 + 1e-5
    with pytest.raises(ValueError, match="bound"):
        quantize(flow, bound=0)


def test_unknown_method_names_the_choices(tmp_path):
    frame = texture(1)[:HEIGHT, :WIDTH]
    for call in (lambda: flow_pair(frame, frame, "farneback"),
                 lambda: video_flow(tmp_path / "x.mp4", method="farneback"),
                 lambda: extract_flow([], tmp_path, method="farneback")):
        with pytest.raises(ValueError, match="'farneback'.*tvl1, dis"):
            call()
    with pytest.raises(ValueError, match=r"uint8 frame, got \(48, 64\) float32"):
        flow_pair(frame[..., 0].astype(np.float32), frame[..., 0])
    with pytest.raises(ValueError, match="frames differ in size"):
        flow_pair(frame, frame[:-1])


def test_extract_video_writes_x_y_jpegs_with_the_motion_sign(tmp_path):
    video = write_video(tmp_path / "walk.mp4", moving_frames(3, 5))
    out = tmp_path / "flow" / "walk"
    assert extract_video(video, out) == 4  # TV-L1, T=5 frames -> 4 pairs
    assert sorted(p.name for p in out.iterdir()) == [f"{c}_{i:05d}.jpg" for c in "xy" for i in range(1, 5)]
    assert not out.with_name("walk.partial").exists()
    assert flow_length(out) == 4
    flow = read_flow(out, range(4))
    assert flow.shape == (4, HEIGHT, WIDTH, 2) and flow.dtype == np.float32
    interior = flow[:, 8:-8, 8:-8]
    assert 1.5 < interior[..., 0].mean() < 2.5  # moves 2 px right per frame
    assert abs(interior[..., 1].mean()) < 0.5
    with pytest.raises(FileExistsError, match="walk"):
        extract_video(video, out)


def test_video_flow_short_side_and_frame_folders(tmp_path):
    frames = moving_frames(4, 3)
    video = write_video(tmp_path / "a.mp4", frames)
    assert video_flow(video, method="dis", short_side=24).shape == (2, 24, 32, 2)
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, frame in enumerate(frames, start=1):
        cv2.imwrite(str(folder / f"{i:05d}.jpg"), frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    flow = video_flow(folder, method="dis")
    assert flow.shape == (2, HEIGHT, WIDTH, 2)
    assert np.median(flow[:, 8:-8, 8:-8, 0]) == pytest.approx(2.0, abs=0.5)


def test_flow_dir_and_flow_length_errors(tmp_path):
    sample = Sample(tmp_path / "videos" / "Walk" / "v_1.avi", 0, "Walk")
    assert flow_dir(tmp_path / "flow", sample, tmp_path / "videos") == tmp_path / "flow" / "Walk" / "v_1"
    assert flow_dir(tmp_path / "flow", sample) == tmp_path / "flow" / "v_1"
    with pytest.raises(ValueError, match="v_1.avi is not under"):
        flow_dir(tmp_path / "flow", sample, tmp_path / "other")
    folder = tmp_path / "half"
    folder.mkdir()
    cv2.imwrite(str(folder / "x_00001.jpg"), np.zeros((4, 4), np.uint8))
    with pytest.raises(Exception, match="x_00001.jpg has no y_00001.jpg"):
        flow_length(folder)


def test_extract_flow_resumes_and_redoes_partial_folders(tmp_path):
    samples = dataset(tmp_path / "videos", 3)
    out, root = tmp_path / "flow", tmp_path / "videos"
    names = []
    first = extract_flow(samples, out, root=root, method="dis", progress=names.append)
    assert (first.written, first.resumed, first.skipped, first.pairs) == (3, 0, 0, 9)
    assert sorted(names) == ["v_0.mp4", "v_1.mp4", "v_2.mp4"]
    before = snapshot(out)
    assert len(before) == 3 * 2 * 3

    v1, v2 = flow_dir(out, samples[1], root), flow_dir(out, samples[2], root)
    for folder in (v1, v2):
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    partial = v2.with_name("v_2.partial")
    partial.mkdir()
    (partial / "x_00001.jpg").write_bytes(b"half written")
    (partial / "x_00009.jpg").write_bytes(b"stale")

    second = extract_flow(samples, out, root=root, method="dis")
    assert (second.written, second.resumed, second.skipped, second.pairs) == (2, 1, 0, 6)
    assert not partial.exists()
    after = snapshot(out)
    assert after.keys() == before.keys()
    for name, (mtime, data) in after.items():
        assert data == before[name][1]  # recomputed flow is byte-identical
        assert (mtime == before[name][0]) == name.startswith("Walk/v_0/"), name
    assert second.as_json()["resumed"] == 1 and second.as_json()["pairs_per_second"] > 0


def test_two_workers_write_the_same_bytes_as_one(tmp_path):
    samples = dataset(tmp_path / "videos", 3)
    root = tmp_path / "videos"
    one = extract_flow(samples, tmp_path / "one", root=root, method="tvl1", workers=1)
    names = []
    two = extract_flow(samples, tmp_path / "two", root=root, method="tvl1", workers=2, progress=names.append)
    assert (one.written, one.pairs) == (two.written, two.pairs) == (3, 9)
    assert sorted(names) == ["v_0.mp4", "v_1.mp4", "v_2.mp4"]
    first, second = snapshot(tmp_path / "one"), snapshot(tmp_path / "two")
    assert first.keys() == second.keys() and len(first) == 18
    assert all(first[name][1] == second[name][1] for name in first)


@pytest.mark.parametrize("workers", [1, 2])
def test_unreadable_videos_are_logged_and_the_rest_extracted(tmp_path, workers):
    root = tmp_path / "videos"
    samples = dataset(root, 2, frames=3)
    empty, corrupt = root / "Walk" / "empty.avi", root / "Walk" / "corrupt.avi"
    empty.write_bytes(b"")
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    samples += [Sample(empty, 0, "Walk"), Sample(corrupt, 0, "Walk")]
    skips = SkipLog(max_share=0.5)
    summary = extract_flow(samples, tmp_path / "flow", root=root, method="dis", workers=workers, skips=skips)
    assert (summary.written, summary.skipped, summary.pairs) == (2, 2, 4)
    reasons = dict(skips.skipped)
    assert set(reasons) == {str(empty), str(corrupt)}
    assert "zero-byte" in reasons[str(empty)] and "cannot open" in reasons[str(corrupt)]
    assert skips.seen == 4
    walk = tmp_path / "flow" / "Walk"
    assert sorted(os.listdir(walk)) == ["v_0", "v_1"]  # no folder, and no .partial, for the bad ones


def test_too_many_unreadable_fails_after_writing_the_readable(tmp_path):
    root = tmp_path / "videos"
    samples = dataset(root, 1, frames=2)
    (root / "Walk" / "empty.avi").write_bytes(b"")
    samples.append(Sample(root / "Walk" / "empty.avi", 0, "Walk"))
    with pytest.raises(TooManyUnreadable, match="empty.avi"):
        extract_flow(samples, tmp_path / "flow", root=root, method="dis")
    assert flow_length(tmp_path / "flow" / "Walk" / "v_0") == 1


def test_two_videos_mapping_to_one_folder_are_refused(tmp_path):
    samples = [Sample(tmp_path / "Walk" / "v_1.avi", 0, "Walk"), Sample(tmp_path / "Run" / "v_1.avi", 1, "Run")]
    with pytest.raises(ValueError, match="Walk/v_1.avi and .*Run/v_1.avi both map to"):
        extract_flow(samples, tmp_path / "flow", method="dis")
    assert not (tmp_path / "flow").exists()
