"""Decoding video frames, frame folders and audio tracks (decord by default, or another backend of
repro.data.backends; ../shared/notes/sources.md "decord").

Every failure to read a file becomes an `UnreadableVideo` naming the path and the reason, so that the
loader can record it and skip the sample (see `SkipLog`) instead of hanging or yielding garbage.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .backends import BACKENDS, DEFAULT_BACKEND, UnreadableVideo

__all__ = ["UnreadableVideo", "open_video", "read_frames"]  # UnreadableVideo lives in backends, used from here

_FRAME_TEMPLATE = "{:05d}.jpg"


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    num_frames: int
    fps: float
    height: int
    width: int


def _precheck(path: Path) -> None:
    if not path.exists():
        raise UnreadableVideo(path, "missing file")
    if path.is_file() and path.stat().st_size == 0:
        raise UnreadableVideo(path, "zero-byte file")


def open_video(path: Path | str, *, width: int = -1, height: int = -1, num_threads: int = 1,
               backend: str = DEFAULT_BACKEND):
    """A reader of `backend` (repro.data.backends), scaling at decode when width and height are given."""
    path = Path(path)
    _precheck(path)
    reader = BACKENDS[backend](path, width=width, height=height, num_threads=num_threads)
    if len(reader) == 0:
        raise UnreadableVideo(path, "no video frames")
    return reader


def video_info(path: Path | str) -> VideoInfo:
    """Frame count, frame rate and size; decodes the first frame only."""
    reader = open_video(path)
    height, width = _decode(reader, path, [0]).shape[1:3]
    return VideoInfo(Path(path), len(reader), reader.fps, int(height), int(width))


@dataclass(frozen=True)
class Header:
    """What a container's header says of its first video stream, read without decoding."""

    height: int
    width: int
    frames: int | None  # the frame count the container claims (None when it states none)


def container_header(path: Path | str) -> Header:
    """Frame size and claimed frame count of the first video stream (PyAV; no decoding)."""
    import av

    path = Path(path)
    _precheck(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UnreadableVideo(path, "no video stream")
            stream = container.streams.video[0]
            height, width = stream.codec_context.height, stream.codec_context.width
            frames = stream.frames or None
            if frames is None and stream.duration and stream.average_rate:
                frames = int(round(float(stream.duration * stream.time_base * stream.average_rate)))
    except (av.error.FFmpegError, OSError) as exc:
        raise UnreadableVideo(path, f"cannot open: {exc}") from None
    if not height or not width:
        raise UnreadableVideo(path, "video stream without a frame size")
    return Header(int(height), int(width), frames)


def missing_frames(claimed: int | None, decodable: int) -> str | None:
    """The reason a video is damaged when fewer frames can be decoded than its container claims, beyond the
    2 frames (or 5%) an intact file's header and index may differ by (an MPEG-4 AVI counts its encoder delay)."""
    if claimed is None or claimed - decodable <= max(2, 0.05 * claimed):
        return None
    return f"damaged: the container claims {claimed} frames, {decodable} can be decoded (truncated?)"


def _decode(reader, path: Path | str, indices, rewind: bool = True) -> np.ndarray:
    indices = [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < len(reader)]
    if bad:
        raise UnreadableVideo(path, f"frame indices {bad[:5]} outside 0..{len(reader) - 1}")
    frames = reader.read(indices, rewind)
    if frames.ndim != 4 or frames.shape[0] != len(indices) or frames.shape[-1] != 3:
        raise UnreadableVideo(path, f"decoder returned frames of shape {frames.shape}")
    return frames


def read_frames(path: Path | str, indices, *, width: int = -1, height: int = -1, reader=None,
                rewind: bool = True, backend: str = DEFAULT_BACKEND) -> np.ndarray:
    """Frames `indices` of a video as (T, H, W, 3) uint8 RGB, decoding only what they need.

    Pass `rewind=False` when `reader` is discarded afterwards: the rewind only matters to a reader
    that is used again, and costs a few milliseconds.
    """
    if reader is None:
        reader, rewind = open_video(path, width=width, height=height, backend=backend), False
    return _decode(reader, path, indices, rewind)


def frame_folder_length(folder: Path | str, template: str = _FRAME_TEMPLATE) -> int:
    """Number of frames in a folder of `00001.jpg`-style frames (1-based and contiguous)."""
    folder = Path(folder)
    _precheck(folder)
    if not folder.is_dir():
        raise UnreadableVideo(folder, "expected a folder of frames")
    count = 0
    while (folder / template.format(count + 1)).is_file():
        count += 1
    if count == 0:
        raise UnreadableVideo(folder, f"no frames named like {template.format(1)}")
    return count


def read_frame_folder(folder: Path | str, indices, *, template: str = _FRAME_TEMPLATE,
                      flags: int | None = None) -> np.ndarray:
    """Frames `indices` (0-based) of a JPEG frame folder as (T, H, W, 3) RGB or (T, H, W) grey uint8."""
    import cv2

    folder, frames = Path(folder), []
    for index in indices:
        path = folder / template.format(int(index) + 1)
        image = cv2.imread(str(path), cv2.IMREAD_COLOR if flags is None else flags)
        if image is None:
            raise UnreadableVideo(path, "missing or undecodable frame image")
        frames.append(image[..., ::-1] if image.ndim == 3 else image)
    if len({f.shape for f in frames}) > 1:
        raise UnreadableVideo(folder, "frames of different sizes")
    return np.ascontiguousarray(np.stack(frames))


def has_audio(path: Path | str) -> bool:
    """Whether the container has an audio stream, from its header (PyAV; no decoding)."""
    import av

    path = Path(path)
    _precheck(path)
    try:
        with av.open(str(path)) as container:
            return len(container.streams.audio) > 0
    except (av.error.FFmpegError, OSError) as exc:
        raise UnreadableVideo(path, f"cannot open: {exc}") from None


def read_audio(path: Path | str, sample_rate: int = 16000, *, mono: bool = True) -> np.ndarray | None:
    """The audio track resampled to `sample_rate` Hz as float32 (samples,) if mono else (channels, samples).

    Returns None for a video with no audio stream (about half of UCF101), which is not an error; a
    corrupt track raises UnreadableVideo.
    """
    import decord

    path = Path(path)
    _precheck(path)
    try:
        reader = decord.AudioReader(str(path), sample_rate=sample_rate, mono=mono)
    except (RuntimeError, decord.DECORDError) as exc:
        message = str(exc)
        if "find audio stream" in message:
            return None
        raise UnreadableVideo(path, f"cannot read audio: {message.splitlines()[0][:120]}") from None
    samples = reader[:].asnumpy().astype(np.float32)
    if samples.size == 0:
        raise UnreadableVideo(path, "empty audio track")
    return samples[0] if mono else samples
