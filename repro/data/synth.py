"""Small synthetic video datasets in the real UCF101 / HMDB51 layouts, built so each paper's claim is needed.

The files are real encoded videos (MPEG-4 Part 2 in AVI like the real datasets, or H.264 in MP4, AAC mono
16 kHz audio), listed by split files in the real formats (../shared/notes/sources.md "Dataset layouts"), so
`splits.py` and `decode.py` read them unchanged. Each class is solvable by one cue only:

- direction (MoveLeft/MoveRight, MoveUp/MoveDown): one randomly textured object slides across a textured
  background; each class is the exact time reversal of its partner, so every single frame has the same
  distribution in both and only the direction of motion separates them: KPSEM's key point shifts (spatial
  displacements of key points, kpsem Sec. 1 and 3.3) and the motion stream / flow teacher that the
  motion-distillation paper's RGB student mimics (motion_distill Sec. 2.2 and 3).
- order (ShakeThenPulse/PulseThenShake): a horizontal shake and a size pulse at one place; the two are
  time reversals of each other, so frames and short frame pairs are balanced and only the order of the two
  sub-events separates them (a temporal model spanning both halves is needed).
- audio (OrbitHum/OrbitWhistle): the same visual process (an object orbiting, random sense), told apart only
  by a class sound: a low harmonic hum on pitch class C with a 100-700 Hz noise band against a whistle on F#
  with a 2-5 kHz band, so MFCCs, spectral centroids and chromagrams differ (MAiVAR's audio images,
  maivar Sec. III-B2 and Fig. 5): audio-video fusion should beat video alone on them.
  Audio classes always have a track; every other class has one in every second video (UCF101 has none in
  about half its videos) carrying class-independent ambient noise, which the audio classes carry too.
- long videos: with `action_frames` < `frames` the class-defining process fills only a seeded random window
  and the rest is a distractor shot (another scene whose object jitters with no net displacement), which
  carries no class information: GCF-Net's gated clip-wise attention that suppresses irrelevant clips
  (gcfnet Sec. 3.1.3) and FASTER's cheap coverage of redundant clips (faster Sec. 1).

Appearance varies within a class (background, object texture, colour, shape and size drawn per video) and
every video draws its own speed and start position. Objects stay on a square stage inside the centre crop of
a short-side resize to 128 followed by a 112 crop. Videos are deterministic: a per-video numpy Generator from
(seed, class, index), single-threaded bit-exact encoders, no timestamps.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import remove_stale_temps, replacing, write_text_atomic
from ..errors import DataError

LAYOUTS = ("ucf101", "hmdb51")
CONTAINERS = {"avi": ("avi", "mpeg4"), "mp4": ("mp4", "libx264")}  # extension -> (muxer, PyAV video codec)
AUDIO_RATE = 16000
STAGE = 0.4375  # half the 112/128 centre crop, as a share of the frame height


@dataclass(frozen=True)
class SynthClass:
    """One class: its UCF-style name, the cue that alone solves it, and how its videos are made."""

    name: str
    cue: str
    description: str
    process: str  # visual process inside the action window: slide_x, slide_y, shake_pulse or orbit
    reverse: bool = False  # the process played backwards (the partner class of a time-reversal pair)
    sound: str | None = None  # class sound in the action window: hum or whistle

    @property
    def hmdb_name(self) -> str:
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()


# Sorted by name, as UCF101's classInd.txt is; the HMDB names sort the same way, so labels agree in both layouts.
CLASSES: tuple[SynthClass, ...] = (
    SynthClass("MoveDown", "direction", "object slides down; time reversal of MoveUp", "slide_y"),
    SynthClass("MoveLeft", "direction", "object slides left; time reversal of MoveRight", "slide_x", reverse=True),
    SynthClass("MoveRight", "direction", "object slides right; time reversal of MoveLeft", "slide_x"),
    SynthClass("MoveUp", "direction", "object slides up; time reversal of MoveDown", "slide_y", reverse=True),
    SynthClass("OrbitHum", "audio", "object orbits (random sense); low hum on C, 100-700 Hz noise", "orbit",
               sound="hum"),
    SynthClass("OrbitWhistle", "audio", "object orbits (random sense); whistle on F#, 2-5 kHz noise", "orbit",
               sound="whistle"),
    SynthClass("PulseThenShake", "order", "size pulse, then horizontal shake; reversal of ShakeThenPulse",
               "shake_pulse", reverse=True),
    SynthClass("ShakeThenPulse", "order", "horizontal shake, then size pulse; reversal of PulseThenShake",
               "shake_pulse"),
)


@dataclass(frozen=True)
class SynthVideo:
    """Ground truth of one video; `path` is relative to the video root, as the split files name it."""

    path: str
    class_name: str
    label: int  # 0-based, as splits.Sample.label
    has_audio: bool
    num_frames: int
    window: tuple[int, int]  # [start, end) frames of the class-defining process
    splits: dict[int, str]  # split -> "train", "test" or "unused"
    motion: dict = field(default_factory=dict)


@dataclass
class SynthSummary:
    root: Path
    annotations: Path
    parameters: dict
    videos: list[SynthVideo]
    written: int = 0  # videos encoded by this call; the rest were already there (a resumed run)
    seconds: float = 0.0

    def as_json(self) -> dict:
        videos = [{**v.__dict__, "window": list(v.window), "splits": {str(k): s for k, s in v.splits.items()}}
                  for v in self.videos]
        classes = [{"name": c.name, "hmdb_name": c.hmdb_name, "cue": c.cue, "description": c.description}
                   for c in CLASSES if c.name in self.parameters.get("classes", [c.name])]
        return {"generator": "repro.data.synth", "parameters": self.parameters, "classes": classes, "videos": videos}


def layout_paths(out: Path, layout: str) -> tuple[Path, Path]:
    """(video root, annotations folder) of a layout under `out`, as the split readers take them."""
    _check_choice("layout", layout, LAYOUTS)
    out = Path(out)
    if layout == "ucf101":
        return out / "UCF-101", out / "ucfTrainTestlist"
    return out / "hmdb51", out / "testTrainMulti_7030_splits"


def _check_choice(name: str, value, allowed) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}, got {value!r}")


def _smooth(rng: np.random.Generator, height: int, width: int, cells: int, channels: int) -> np.ndarray:
    """Smooth random texture in [0, 1]: a cells x cells grid of random values, cubic-upsampled."""
    import cv2

    grid = rng.random((cells, cells, channels)).astype(np.float32)
    image = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC).reshape(height, width, channels)
    return np.clip(image, 0.0, 1.0)


def _scene(rng: np.random.Generator, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """A background (H, W, 3) and a premultiplied RGBA object sprite (S, S, 4), both float32."""
    light_background = rng.random() < 0.5
    base = rng.uniform(150, 215, 3) if light_background else rng.uniform(40, 110, 3)
    background = base + (_smooth(rng, height, width, int(rng.integers(3, 8)), 3) - 0.5) * 50
    size = int(round(rng.uniform(0.28, 0.38) * height))
    colours = rng.uniform(0, 90, (2, 3)) if light_background else rng.uniform(160, 255, (2, 3))
    kind = int(rng.integers(3))  # blobs, stripes or checks: appearance says nothing about the class
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 0:
        pattern = _smooth(rng, size, size, int(rng.integers(2, 5)), 1)[..., 0]
    elif kind == 1:
        angle, period = rng.uniform(0, np.pi), rng.uniform(0.2, 0.4)
        pattern = (np.sin(2 * np.pi * (xs * np.cos(angle) + ys * np.sin(angle)) / period) > 0).astype(np.float32)
    else:
        cells = int(rng.integers(2, 5))
        pattern = ((np.floor(xs * cells) + np.floor(ys * cells)) % 2).astype(np.float32)
    texture = colours[0] * (1 - pattern[..., None]) + colours[1] * pattern[..., None]
    u, v = np.abs(xs * 2 - 1 + 1 / size), np.abs(ys * 2 - 1 + 1 / size)
    norm = (np.hypot(u, v), np.maximum(u, v), (u + v) / 1.2)[int(rng.integers(3))]  # ellipse, square, diamond
    mask = np.clip((1 - norm) * size / 2, 0, 1)[..., None]  # about one pixel of anti-aliased edge
    sprite = np.concatenate([texture * mask, mask], axis=2).astype(np.float32)
    return background.astype(np.float32), sprite


def _action(process: str, rng: np.random.Generator, length: int, width: int, height: int):
    """Centre x, centre y and scale of the object for each frame of the action window, and ground truth."""
    half = STAGE * height * 0.85  # the centre may leave the crop by a little of the object's half-size
    t = np.arange(length, dtype=np.float64)
    if process in ("slide_x", "slide_y"):
        speed = rng.uniform(0.55, 1.0) * min(2.5 * height / 120, 2 * half / max(length - 1, 1))
        start = rng.uniform(-half, half - speed * (length - 1))
        along, across = start + speed * t, np.full(length, rng.uniform(-half, half))
        x, y = (along, across) if process == "slide_x" else (across, along)
        truth = {"speed_px_per_frame": round(float(speed), 3)}
    elif process == "shake_pulse":
        first = length // 2
        amplitude, cycles = rng.uniform(0.06, 0.1) * height, max(1, round(first / rng.uniform(8, 12)))
        grow, pulses = rng.uniform(0.2, 0.3), max(1, round((length - first) / rng.uniform(10, 16)))
        ax, ay = rng.uniform(-half + amplitude, half - amplitude, 2)
        shake = amplitude * rng.choice([-1, 1]) * np.sin(2 * np.pi * cycles * t[:first] / first)
        x, y = ax + np.concatenate([shake, np.zeros(length - first)]), np.full(length, ay)
        pulse = grow * rng.choice([-1, 1]) * np.sin(2 * np.pi * pulses * t[: length - first] / (length - first))
        truth = {"shake_px": round(float(amplitude), 3), "pulse": round(float(grow), 3), "shake_frames": first}
        return x + width / 2, y + height / 2, np.concatenate([np.ones(first), 1 + pulse]), truth
    elif process == "orbit":
        radius = rng.uniform(0.1, 0.15) * height
        step = rng.uniform(1.5, 3.0) * height / 120 / radius * rng.choice([-1, 1])
        ax, ay = rng.uniform(-half + radius, half - radius, 2)
        phase = rng.uniform(0, 2 * np.pi) + step * t
        x, y = ax + radius * np.cos(phase), ay + radius * np.sin(phase)
        truth = {"radius_px": round(float(radius), 3), "radians_per_frame": round(float(step), 4)}
    else:
        raise ValueError(f"unknown process {process!r}")
    return x + width / 2, y + height / 2, np.ones(length), truth


def _jitter(rng: np.random.Generator, length: int, width: int, height: int):
    """Distractor: small smoothed random offsets about a random anchor, no net displacement."""
    half = STAGE * height * 0.85
    anchor = rng.uniform(-half, half, 2)
    noise = rng.normal(size=(length + 4, 2))
    offsets = np.stack([np.convolve(noise[:, i], np.ones(5) / 5, mode="valid") for i in (0, 1)], axis=1)
    offsets = (offsets - offsets.mean(0)) * 0.03 * height
    return anchor[0] + offsets[:, 0] + width / 2, anchor[1] + offsets[:, 1] + height / 2


def _draw(background: np.ndarray, sprite: np.ndarray, x: float, y: float, scale: float) -> np.ndarray:
    import cv2

    height, width = background.shape[:2]
    offset = (sprite.shape[0] - 1) / 2 * scale
    matrix = np.array([[scale, 0, x - offset], [0, scale, y - offset]], np.float64)
    layer = cv2.warpAffine(sprite, matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=0)
    frame = background * (1 - layer[..., 3:]) + layer[..., :3]
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def render_frames(synth_class: SynthClass, rng: np.random.Generator, *, frames: int = 48,
                  action_frames: int | None = None, width: int = 160, height: int = 120):
    """(frames (T, H, W, 3) uint8 RGB, action window [start, end), ground truth) of one video.

    A reversed class renders its partner's process with the same draws and plays it backwards.
    """
    length = frames if action_frames is None else action_frames
    start = int(rng.integers(0, frames - length + 1))
    action_scene, distractor_scene = _scene(rng, width, height), _scene(rng, width, height)
    x, y, scale, truth = _action(synth_class.process, rng, length, width, height)
    jitter_x, jitter_y = _jitter(rng, frames, width, height)
    video = np.empty((frames, height, width, 3), np.uint8)
    for index in range(frames):
        if start <= index < start + length:
            i = index - start
            video[index] = _draw(*action_scene, x[i], y[i], scale[i])
        else:
            video[index] = _draw(*distractor_scene, jitter_x[index], jitter_y[index], 1.0)
    window = (start, start + length)
    if synth_class.reverse:
        video, window = video[::-1].copy(), (frames - window[1], frames - window[0])
        x, y = x[::-1], y[::-1]
    truth = {"process": synth_class.process, "reversed": synth_class.reverse, **truth,
             "start_xy": [round(float(x[0]), 2), round(float(y[0]), 2)],
             "end_xy": [round(float(x[-1]), 2), round(float(y[-1]), 2)]}
    return video, window, truth


def render_audio(synth_class: SynthClass, rng: np.random.Generator, *, num_samples: int,
                 window: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Mono float32 track at 16 kHz: ambient noise, plus the class sound over `window` (shares of the track)."""
    spectrum = np.fft.rfft(rng.normal(size=num_samples))
    freqs = np.fft.rfftfreq(num_samples, 1 / AUDIO_RATE)
    spectrum *= np.where(freqs >= 50, 1 / np.maximum(freqs, 50) ** rng.uniform(0.5, 1.5), 0)
    ambient = np.fft.irfft(spectrum, num_samples)
    track = ambient / (ambient.std() + 1e-12) * rng.uniform(0.02, 0.05)
    if synth_class.sound is not None:
        first, last = (int(round(share * num_samples)) for share in window)
        t = np.arange(last - first) / AUDIO_RATE
        if synth_class.sound == "hum":  # C3 or C4 with falling harmonics
            f0, band, harmonics = 130.81 * 2 ** int(rng.integers(2)), (100, 700), (1.0, 0.5, 0.33, 0.25)
        else:  # F#5 or F#6, nearly pure
            f0, band, harmonics = 739.99 * 2 ** int(rng.integers(2)), (2000, 5000), (1.0, 0.15)
        tone = sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi))
                   for k, a in enumerate(harmonics))
        noise = np.fft.rfft(rng.normal(size=t.size))
        noise_freqs = np.fft.rfftfreq(t.size, 1 / AUDIO_RATE)
        noise = np.fft.irfft(noise * ((noise_freqs >= band[0]) & (noise_freqs <= band[1])), t.size)
        sound = tone / np.abs(tone).max() + 0.3 * noise / (noise.std() + 1e-12)
        tremolo = 1 - 0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))
        fade = np.clip(np.minimum(t, t[-1] - t) / 0.02, 0, 1)  # 20 ms ramps: no clicks
        track[first:last] += rng.uniform(0.15, 0.3) * sound * tremolo * fade
    return np.clip(track, -1, 1).astype(np.float32)


def _ucf_group(index: int) -> tuple[int, int]:
    """Group and clip of a class's index-th video: groups taken as 1, 8, 15, 22, 2, 9, ... so that any
    4 videos cover the three test blocks (g01-07, g08-14, g15-21) and the always-train groups 22-25."""
    order = [g for j in range(7) for g in (1 + j, 8 + j, 15 + j, 22 + j) if g <= 25]
    return order[index % 25], index // 25 + 1


def _membership(layout: str, index: int) -> dict[int, str]:
    if layout == "ucf101":
        group = _ucf_group(index)[0]
        return {k: "test" if 7 * (k - 1) < group <= 7 * k else "train" for k in (1, 2, 3)}
    slot, block = index % 4, index // 4  # HMDB51: rotate the test slot; odd blocks leave one video unused
    return {k: "test" if slot == k - 1 else "unused" if block % 2 and slot == k % 3 else "train" for k in (1, 2, 3)}


def _video_name(layout: str, synth_class: SynthClass, index: int, extension: str) -> str:
    if layout == "ucf101":
        group, clip = _ucf_group(index)
        return f"{synth_class.name}/v_{synth_class.name}_g{group:02d}_c{clip:02d}.{extension}"
    return f"{synth_class.hmdb_name}/synth_{synth_class.hmdb_name}_{index:03d}.{extension}"


def _encode(av, path: Path, container: str, video: np.ndarray, audio: np.ndarray | None, fps: int) -> None:
    """Encode to a temp file beside `path`, then move it into place: a crash never leaves half a video."""
    muxer, codec = CONTAINERS[container]
    with replacing(path) as temp:
        with av.open(temp, "w", format=muxer, options={"fflags": "+bitexact"}) as output:
            # bitexact: no encoder version strings. mbtree=0: with x264's macroblock-tree rate control, sizes whose
            # sides are not multiples of 16 (96x72, 52x70, ...) gave different bytes from the same frames here.
            options = {"flags": "+bitexact", "threads": "1"}
            options.update({"g": "12", "b": "800k"} if codec == "mpeg4"
                           else {"preset": "veryfast", "crf": "20", "x264-params": "mbtree=0"})
            stream = output.add_stream(codec, rate=fps, options=options)
            stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
            sound = None
            if audio is not None:
                sound = output.add_stream("aac", rate=AUDIO_RATE, layout="mono",
                                          options={"flags": "+bitexact", "b": "64k"})
            for index, image in enumerate(video):
                frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                frame.pts = index
                output.mux(stream.encode(frame))
            output.mux(stream.encode())
            if sound is not None:
                size = sound.codec_context.frame_size or 1024
                for offset in range(0, audio.size, size):
                    chunk = np.zeros((1, size), np.float32)
                    chunk[0, : audio.size - offset] = audio[offset: offset + size]
                    frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                    frame.sample_rate, frame.pts = AUDIO_RATE, offset
                    output.mux(sound.encode(frame))
                output.mux(sound.encode())


def _claim(out: Path, parameters: dict) -> None:
    """Refuse a folder holding something else; resume one made with the same parameters."""
    manifest = out / "synth.json"
    if manifest.is_file():
        try:
            previous = json.loads(manifest.read_text(encoding="utf-8"))["parameters"]
        except (ValueError, KeyError, TypeError):
            raise DataError(manifest, None, "parameters", "a synth.json written by `repro data synth`") from None
        if previous != parameters:
            changed = ", ".join(f"{k}: {previous.get(k)!r} -> {v!r}" for k, v in parameters.items()
                                if previous.get(k) != v)
            raise ValueError(f"{out} holds a synthetic dataset made with other parameters ({changed}); "
                             "use a new folder or delete it")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty and has no synth.json: refusing to write a synthetic dataset there")
    write_text_atomic(manifest, json.dumps({"parameters": parameters, "complete": False}, indent=1) + "\n")


def synthesize(out: Path, *, layout: str = "ucf101", seed: int = 0, scale: int = 1, frames: int = 48,
               action_frames: int | None = None, width: int = 160, height: int = 120, fps: int = 25,
               container: str = "avi", classes: Sequence[str] | None = None,
               progress: Callable[[str], None] | None = None) -> SynthSummary:
    """Write len(classes) x 4 x scale videos, their split files and `<out>/synth.json` (parameters and
    per-video ground truth). A rerun with the same arguments keeps the videos already written.

    `classes` picks a subset of CLASSES by name (labels 0..k-1 in CLASSES order); a class's videos are
    the same bytes whichever subset it is in, since each video is seeded by its class's place in CLASSES.
    """
    chosen = _chosen(classes)
    _check_choice("layout", layout, LAYOUTS)
    _check_choice("container", container, tuple(CONTAINERS))
    for name, value, low in (("scale", scale, 1), ("frames", frames, 16), ("fps", fps, 1), ("seed", seed, 0),
                             ("width", width, 32), ("height", height, 32)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even (yuv420p), got {width}x{height}")
    if action_frames is not None and (not isinstance(action_frames, int) or not 8 <= action_frames <= frames):
        raise ValueError(f"action_frames must be an integer in 8..frames ({frames}) or None, got {action_frames!r}")
    try:
        import av
    except ImportError:
        raise ImportError("the synthetic dataset needs the PyAV encoder: pip install av") from None
    began, out = time.perf_counter(), Path(out)
    root, annotations = layout_paths(out, layout)
    parameters = {"layout": layout, "seed": seed, "scale": scale, "frames": frames, "action_frames": action_frames,
                  "width": width, "height": height, "fps": fps, "container": container}
    if classes is not None:
        parameters["classes"] = [c.name for _, c in chosen]
    _claim(out, parameters)
    remove_stale_temps(out, recursive=True)  # half-written videos of a killed run
    videos, written, num_samples = [], 0, int(round(frames * AUDIO_RATE / fps))
    for label, (place, synth_class) in enumerate(chosen):
        (root / (synth_class.name if layout == "ucf101" else synth_class.hmdb_name)).mkdir(parents=True, exist_ok=True)
        for index in range(4 * scale):
            relative = _video_name(layout, synth_class, index, container)
            if progress is not None:
                progress(relative)
            visual, acoustic = np.random.SeedSequence([seed, place, index]).spawn(2)
            video, window, truth = render_frames(synth_class, np.random.default_rng(visual), frames=frames,
                                                 action_frames=action_frames, width=width, height=height)
            with_audio = synth_class.sound is not None or index % 2 == 0
            audio = render_audio(synth_class, np.random.default_rng(acoustic), num_samples=num_samples,
                                 window=(window[0] / frames, window[1] / frames)) if with_audio else None
            path = root / relative
            if not (path.is_file() and path.stat().st_size > 0):  # finished files only ever appear whole
                _encode(av, path, container, video, audio, fps)
                written += 1
            videos.append(SynthVideo(relative, synth_class.name if layout == "ucf101" else synth_class.hmdb_name,
                                     label, with_audio, frames, window, _membership(layout, index), truth))
    _write_splits(layout, annotations, videos, [c for _, c in chosen])
    summary = SynthSummary(root, annotations, parameters, videos, written)
    write_text_atomic(out / "synth.json", json.dumps({**summary.as_json(), "complete": True}, indent=1) + "\n")
    summary.seconds = time.perf_counter() - began
    return summary


def _chosen(classes: Sequence[str] | None) -> list[tuple[int, SynthClass]]:
    """(place in CLASSES, class) of the classes asked for, in CLASSES order."""
    if classes is None:
        return list(enumerate(CLASSES))
    names = [c.name for c in CLASSES]
    unknown = [name for name in classes if name not in names]
    if unknown or not classes:
        raise ValueError(f"classes must be names of CLASSES ({', '.join(names)}); got {list(classes)!r}")
    return [(i, c) for i, c in enumerate(CLASSES) if c.name in classes]


def _write_splits(layout: str, annotations: Path, videos: list[SynthVideo], classes: list[SynthClass]) -> None:
    if layout == "ucf101":  # CRLF line ends like the real files; training lines carry the 1-based label
        write_text_atomic(annotations / "classInd.txt", "".join(f"{i + 1} {c.name}\r\n" for i, c in enumerate(classes)))
        for split in (1, 2, 3):
            train = [v for v in videos if v.splits[split] == "train"]
            test = [v for v in videos if v.splits[split] == "test"]
            write_text_atomic(annotations / f"trainlist0{split}.txt",
                              "".join(f"{v.path} {v.label + 1}\r\n" for v in sorted(train, key=_ucf_order)))
            write_text_atomic(annotations / f"testlist0{split}.txt",
                              "".join(f"{v.path}\r\n" for v in sorted(test, key=_ucf_order)))
        return
    tags = {"train": 1, "test": 2, "unused": 0}
    for synth_class in classes:
        own = [v for v in videos if v.class_name == synth_class.hmdb_name]
        for split in (1, 2, 3):
            write_text_atomic(annotations / f"{synth_class.hmdb_name}_test_split{split}.txt",
                              "".join(f"{Path(v.path).name} {tags[v.splits[split]]}\n" for v in own))


def _ucf_order(video: SynthVideo) -> tuple:
    """Real UCF101 lists run by class, then group, then clip."""
    group, clip = re.search(r"_g(\d+)_c(\d+)", video.path).groups()
    return video.label, int(group), int(clip)
