"""The decoder backends (repro.data.backends) against each other on the same files: the synthetic dataset's
videos (textured, moving, MPEG-4 AVI and H.264 MP4) and flat frames whose colour encodes their index
(tests/videos.py). They must agree on the frame count, on which frame an index names, and on the pixels up to
the colour conversion's rounding; scaled at decode, up to the scalers' interpolation. decord is the
reference. A backend that cannot load on this machine is skipped with the reason, unless REPRO_REQUIRE_DECODERS
names it (the `decoders` nox session does, for torchcodec): then it fails."""
from __future__ import annotations

import os

import numpy as np
import pytest
from videos import decoded_index, write_video

from repro.data.backends import BACKENDS, available
from repro.data.decode import UnreadableVideo, open_video, read_frames
from repro.data.synth import synthesize

OTHERS = [name for name in BACKENDS if name != "decord"]
# Measured on these videos against decord 0.6.0 (2026-12-05, PyAV 18.1, torchcodec 0.17.0 on FFmpeg 5.1): at
# native size PyAV's and torchcodec's frames equal decord's (all three are FFmpeg's own YUV->RGB conversion).
# Scaled to 96x72 they differ by the scalers' filters: PyAV by 0.19-0.31 levels on average (max 11), torchcodec,
# which scales bilinearly with antialiasing, by 0.84-1.01 (max 19). Reading the neighbouring frame instead
# differs by 1.67-1.88, so each bound still catches an off-by-one frame. NVDEC's colour conversion is not
# measured yet (no GPU), so torchcodec-cuda's bounds are a guess.
NATIVE_MEAN, NATIVE_MAX = 0.5, 8
SCALED_MEAN = {"pyav": 1.0, "torchcodec": 1.3, "torchcodec-cuda": 3.0}
REQUIRED = set(filter(None, os.environ.get("REPRO_REQUIRE_DECODERS", "").split(",")))


def _usable(backend: str) -> None:
    why = available(backend)
    if why is not None and backend in REQUIRED:
        pytest.fail(f"REPRO_REQUIRE_DECODERS names {backend}, which cannot load here: {why}")
    if why is not None:
        pytest.skip(f"not compared on this machine: {why}")


@pytest.fixture(scope="module")
def synthetic_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("decoders")
    paths = []
    for container in ("avi", "mp4"):
        synthesize(root / container, layout="ucf101", frames=40, width=160, height=120, container=container,
                   classes=["MoveLeft", "OrbitHum"])
        paths += sorted((root / container).rglob(f"*.{container}"))[:3]
    return paths


@pytest.mark.parametrize("backend", OTHERS)
def test_backends_agree_with_decord_on_the_synthetic_videos(backend, synthetic_videos):
    _usable(backend)
    for path in synthetic_videos:
        reference, other = open_video(path), open_video(path, backend=backend)
        assert len(other) == len(reference), path
        indices = [0, 1, 17, len(reference) - 1]
        ours, theirs = read_frames(path, indices, backend="decord"), read_frames(path, indices, backend=backend)
        difference = np.abs(ours.astype(np.int16) - theirs.astype(np.int16))
        assert theirs.shape == ours.shape and theirs.dtype == np.uint8
        assert difference.mean() <= NATIVE_MEAN and difference.max() <= NATIVE_MAX, (path, difference.mean())
        scaled = [read_frames(path, indices, width=96, height=72, backend=name) for name in ("decord", backend)]
        assert scaled[0].shape == scaled[1].shape == (4, 72, 96, 3)
        assert np.abs(scaled[0].astype(np.int16) - scaled[1]).mean() <= SCALED_MEAN[backend], path


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_every_backend_reads_the_frame_an_index_names(backend, suffix, tmp_path):
    _usable(backend)
    path = write_video(tmp_path / f"flat{suffix}", frames=60)
    reader = open_video(path, backend=backend)
    assert len(reader) == 60 and reader.fps == pytest.approx(25, rel=0.01)
    indices = [0, 5, 29, 30, 59]
    frames = read_frames(path, indices, reader=reader, backend=backend)
    assert [decoded_index(f) for f in frames] == indices
    again = read_frames(path, [59, 3], reader=reader, backend=backend)  # backwards, from the same reader
    assert [decoded_index(f) for f in again] == [59, 3]


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_names_a_broken_file(backend, tmp_path):
    _usable(backend)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableVideo, match="zero-byte file"):
        open_video(empty, backend=backend)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(UnreadableVideo, match="cannot open|no video"):
        open_video(garbage, backend=backend)
    path = write_video(tmp_path / "short.avi", frames=10)
    with pytest.raises(UnreadableVideo, match=r"frame indices \[12\] outside 0..9"):
        read_frames(path, [3, 12], backend=backend)


def test_an_unusable_backend_says_why():
    assert available("decord") is None and available("pyav") is None
    assert "unknown decoder 'nvdec'" in available("nvdec")
    import torch

    if not torch.cuda.is_available():
        assert "GPU" in available("torchcodec-cuda") or "cannot load" in available("torchcodec-cuda")


def test_torchcodec_without_ffmpeg_is_the_machines_fault_not_the_videos(monkeypatch, tmp_path):
    """torchcodec 0.17 imports without FFmpeg's libraries and fails only when a decoder opens. Before this was
    checked, a fresh machine without FFmpeg called torchcodec usable, and every video failed as unreadable."""
    import sys
    import types

    from repro.argtypes import decoder

    fake = types.ModuleType("torchcodec")
    fake.ffmpeg_major_version = None  # what torchcodec sets when no FFmpeg loads
    fake.decoders = types.ModuleType("torchcodec.decoders")
    fake.decoders.VideoDecoder = lambda *args, **kwargs: pytest.fail("a decoder was opened without FFmpeg")
    monkeypatch.setitem(sys.modules, "torchcodec", fake)
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", fake.decoders)
    for backend in ("torchcodec", "torchcodec-cuda"):
        assert "no FFmpeg shared libraries" in available(backend)
    with pytest.raises(Exception, match="no FFmpeg shared libraries") as raised:
        decoder("torchcodec")  # `repro run --decoder torchcodec` stops before any work
    assert not isinstance(raised.value, UnreadableVideo)
    path = write_video(tmp_path / "fine.avi", frames=4)
    with pytest.raises(RuntimeError, match="no FFmpeg shared libraries") as raised:
        open_video(path, backend="torchcodec")
    assert not isinstance(raised.value, UnreadableVideo)
