"""Small real video files for tests, written with PyAV: frame i is a flat colour that encodes i, so a
test can tell from the decoded pixels exactly which frames a loader read, through compression and
scaling (which move a flat level by up to about 3)."""
from __future__ import annotations

import fractions
from pathlib import Path

import numpy as np

STEP, CYCLE = 8, 28  # red carries i % 28 and green i // 28, 8 levels apart


def frame_colour(index: int) -> tuple[int, int, int]:
    return 16 + STEP * (index % CYCLE), 16 + STEP * (index // CYCLE), 64


def decoded_index(frame) -> int:
    """The index a flat frame was written with, from an (H, W, 3) array or a (3, H, W) tensor."""
    frame = np.asarray(frame, dtype=np.float64)
    red, green = (frame[..., 0].mean(), frame[..., 1].mean()) if frame.shape[-1] == 3 else (frame[0].mean(),
                                                                                           frame[1].mean())
    return int(round((red - 16) / STEP)) + CYCLE * int(round((green - 16) / STEP))


def write_video(path: Path, frames: int = 40, *, width: int = 64, height: int = 48, fps: int = 25,
                audio_hz: float | None = None, codec: str | None = None) -> Path:
    """An .avi (MPEG-4) or .mp4 (H.264) of flat grey frames, with a sine tone track when audio_hz is set."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = codec or ("mpeg4" if path.suffix == ".avi" else "libx264")
    with av.open(str(path), "w") as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 4_000_000  # flat frames must keep their grey level through MPEG-4
        audio = None
        if audio_hz is not None:
            audio = container.add_stream("aac", rate=16000)
            audio.layout = "mono"
        for i in range(frames):
            image = np.empty((height, width, 3), np.uint8)
            image[:] = frame_colour(i)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        if audio is not None:
            t = np.arange(int(16000 * frames / fps)) / 16000
            samples = (0.3 * np.sin(2 * np.pi * audio_hz * t)).astype(np.float32)
            for start in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate, chunk.pts, chunk.time_base = 16000, start, fractions.Fraction(1, 16000)
                for packet in audio.encode(chunk):
                    container.mux(packet)
            for packet in audio.encode():
                container.mux(packet)
    return path


def stalling_probe(path: str, frames: bool) -> dict:
    """A probe that hangs on a file named stall*, like decord on an over-reported frame count."""
    import time

    if Path(path).name.startswith("stall"):
        time.sleep(60)
    return {"frames": 1}
