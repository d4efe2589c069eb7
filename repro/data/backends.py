"""Video decoder backends, selectable per run (`repro run --decoder`): each opens a file, says how many frames
it has and decodes frames by index as (T, H, W, 3) uint8 RGB, optionally scaled while decoding.

- decord (the default): seeks to the nearest keyframe; ../shared/notes/sources.md "decord" lists its quirks.
- torchcodec: PyTorch's FFmpeg decoder, exact seeking (a frame index from the stream's own table), scaling
  inside the decoder (torchcodec.transforms.Resize, bilinear with antialiasing).
- torchcodec-cuda: the same on the GPU's NVDEC hardware decoder, which takes decoding off the CPU cores; the
  frames come back to the host for the protocol's crops. Chosen over NVIDIA DALI's video reader because it is
  the same package and API as the CPU backend (the PyPI wheel is a CUDA build), and it decodes the frame
  indices our protocols draw, where DALI's reader is a pipeline with its own sampling.
- pyav: FFmpeg through PyAV, decoding in order up to the last frame needed: no index to trust, slow on long
  videos; the reference the others are checked against where they disagree.

All of them are FFmpeg underneath, so frames agree up to the colour conversion's rounding and the scaler's
interpolation (tests/test_decoders.py measures by how much). Every failure becomes `UnreadableVideo`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


class UnreadableVideo(Exception):
    """A file that cannot be decoded: missing, empty, corrupt, truncated or without frames."""

    def __init__(self, path: Path | str, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{path}: {reason}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


class DecordReader:
    def __init__(self, path: Path, width: int = -1, height: int = -1, num_threads: int = 1):
        import decord

        self.path = path
        try:
            self._reader = decord.VideoReader(str(path), width=width, height=height, num_threads=num_threads)
        except (RuntimeError, decord.DECORDError) as exc:
            raise UnreadableVideo(path, f"cannot open: {_first_line(exc)}") from None

    def __len__(self) -> int:
        return len(self._reader)

    @property
    def fps(self) -> float:
        return float(self._reader.get_avg_fps())

    def read(self, indices: list[int], rewind: bool = True) -> np.ndarray:
        import decord

        try:
            frames = self._reader.get_batch(indices).asnumpy()
            if rewind:  # decord's memory grows on repeated get_batch from one reader (dmlc/decord#208)
                self._reader.seek(0)
        except (RuntimeError, decord.DECORDError) as exc:
            raise UnreadableVideo(self.path, f"decode failed: {_first_line(exc)}") from None
        return frames


class TorchCodecReader:
    def __init__(self, path: Path, width: int = -1, height: int = -1, num_threads: int = 1, device: str = "cpu"):
        why = _torchcodec_missing()
        if why:  # the machine's fault, not the video's: never an UnreadableVideo
            raise RuntimeError(f"the torchcodec decoder cannot load here: {why}")
        from torchcodec.decoders import VideoDecoder
        from torchcodec.transforms import Resize

        self.path = path
        transforms = [Resize((height, width))] if width > 0 and height > 0 else None
        try:
            self._decoder = VideoDecoder(str(path), dimension_order="NHWC", num_ffmpeg_threads=num_threads,
                                         device=device, seek_mode="exact", transforms=transforms)
        except (RuntimeError, ValueError) as exc:
            raise UnreadableVideo(path, f"cannot open: {_first_line(exc)}") from None

    def __len__(self) -> int:
        return len(self._decoder)

    @property
    def fps(self) -> float:
        return float(self._decoder.metadata.average_fps or 0.0)

    def read(self, indices: list[int], rewind: bool = True) -> np.ndarray:
        try:
            return self._decoder.get_frames_at(indices).data.cpu().numpy()
        except (RuntimeError, ValueError, IndexError) as exc:
            raise UnreadableVideo(self.path, f"decode failed: {_first_line(exc)}") from None


class PyAVReader:
    def __init__(self, path: Path, width: int = -1, height: int = -1, num_threads: int = 1):
        import av

        self.path, self.width, self.height = path, width, height
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise UnreadableVideo(path, "no video stream")
                stream = container.streams.video[0]
                self._fps = float(stream.average_rate or 0.0)
                # demuxing counts the frames without decoding them; a header's count can be off
                self._length = sum(1 for packet in container.demux(stream) if packet.size)
        except (av.error.FFmpegError, OSError) as exc:
            raise UnreadableVideo(path, f"cannot open: {_first_line(exc)}") from None

    def __len__(self) -> int:
        return self._length

    @property
    def fps(self) -> float:
        return self._fps

    def read(self, indices: list[int], rewind: bool = True) -> np.ndarray:
        import av

        wanted, frames = set(indices), {}
        size = {"width": self.width, "height": self.height} if self.width > 0 and self.height > 0 else {}
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                for number, frame in enumerate(container.decode(stream)):
                    if number in wanted:
                        frames[number] = frame.to_ndarray(format="rgb24", **size)
                    if number >= max(indices):
                        break
        except (av.error.FFmpegError, OSError) as exc:
            raise UnreadableVideo(self.path, f"decode failed: {_first_line(exc)}") from None
        missing = sorted(wanted - set(frames))
        if missing:
            raise UnreadableVideo(self.path, f"decode failed: frames {missing[:5]} never came out of the decoder")
        return np.stack([frames[i] for i in indices])


def _torchcodec_missing() -> str | None:
    """None when torchcodec can decode video here, else why not. Since 0.17 torchcodec imports without FFmpeg
    and fails only when a decoder opens, so its public `ffmpeg_major_version` (None then) is asked."""
    try:
        import torchcodec
        from torchcodec.decoders import VideoDecoder  # noqa: F401
    except (ImportError, OSError, RuntimeError) as exc:  # not installed, or built for another torch
        return f"{_first_line(exc)}; pip install 'repro[torchcodec]' on a machine whose torch it matches"
    if getattr(torchcodec, "ffmpeg_major_version", 0) is None:
        return ("torchcodec finds no FFmpeg shared libraries (versions 4 to 9) to decode with; "
                "install FFmpeg, e.g. apt install ffmpeg")
    return None


BACKENDS = {"decord": DecordReader, "torchcodec": TorchCodecReader, "pyav": PyAVReader,
            "torchcodec-cuda": lambda path, width=-1, height=-1, num_threads=1:
            TorchCodecReader(path, width, height, num_threads, device="cuda")}
DEFAULT_BACKEND = "decord"


def available(backend: str) -> str | None:
    """None when `backend` can decode on this machine, else why not."""
    if backend not in BACKENDS:
        return f"unknown decoder {backend!r}; known: {', '.join(BACKENDS)}"
    if backend.startswith("torchcodec") and (why := _torchcodec_missing()):
        return f"{backend} cannot load here: {why}"
    try:
        if backend == "torchcodec-cuda":
            import torch

            if not torch.cuda.is_available():
                return "torchcodec-cuda decodes on a GPU, and none is visible"
        if backend == "decord":
            import decord  # noqa: F401
    except (ImportError, OSError, RuntimeError) as exc:
        return f"{backend} cannot load here: {_first_line(exc)}"
    return None
