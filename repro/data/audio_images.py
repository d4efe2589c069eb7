"""MAiVAR's six audio-image representations of a video's sound track (paper: Sec. III-B2, Sec. IV-D2,
Fig. 5, Table II; authors' code: ../shared/notes/sources.md "MAiVAR", mbilalshaikh/pymaivar code/core.py).

The paper turns each action instance's whole audio track into one 224x224x3 image with librosa (Sec. III-B2,
Sec. IV-B): (b) waveplot, (c) MFCC, (d) MFCC feature scaling, (e) spectral centroids, (f) spectral rolloff and
(g) chromagram (Fig. 5). It gives no further drawing detail, so the rest follows pymaivar's code/core.py:

- waveplot: `librosa.display.waveshow` of the mono track;
- mfcc: `librosa.feature.mfcc` (20 coefficients) drawn by `specshow` with librosa's default colormap;
- mfcc_scaled: the same MFCCs standardised per coefficient over time (`standardise_rows`);
- spectral_centroid / spectral_rolloff: the per-frame curve, min-max scaled to [0, 1], drawn in red over the
  waveplot at alpha 0.4; the rolloff is computed on `y + 0.01` as pymaivar does;
- chromagram: `chroma_stft(hop_length=512)` drawn with the coolwarm colormap.

Images are drawn with matplotlib's object API (`Figure` + `FigureCanvasAgg`, never pyplot state, so rendering
is thread-safe and deterministic) with the axes off and no margins, straight at size x size pixels at 100 dpi.
Rendering at the target size follows the paper's 224x224x3 input without a resampling step, and keeps lines
about two pixels wide; pymaivar's 1400x500 figures squeezed to 224x224 would thin its 1.5 pt (2 px) lines to
under a pixel. `DIFFERENCES_FROM_PUBLIC_CODE` lists every way this differs from pymaivar.

`write_audio_images` writes `out/<representation>/<Class>/<video stem>.png` for a list of samples (an
ImageFolder layout), resumes by skipping images that exist, lists videos without audio (MAiVAR uses the
subset of UCF101 with audio, Sec. IV-A) and records unreadable files in a `SkipLog`.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..atomic import replacing
from .decode import UnreadableVideo, read_audio
from .skips import SkipLog
from .splits import Sample

REPRESENTATIONS = ("waveplot", "mfcc", "mfcc_scaled", "spectral_centroid", "spectral_rolloff", "chromagram")
# UCF101's tracks are 44.1 kHz (the project brief; not measured here). pymaivar loads the native rate
# (librosa.load(sr=None)); one fixed rate gives the same images for those files and the same time and
# frequency axes for any file recorded at another rate.
DEFAULT_SAMPLE_RATE = 44100
IMAGE_SIZE = 224  # Sec. III-B2: "(224x224x3) x n audio-image"
HOP_LENGTH = 512  # librosa's default, and pymaivar's explicit chroma hop
ROLLOFF_OFFSET = 0.01  # pymaivar computes the rolloff of y + 0.01
_DPI = 100
_WAVE_COLOUR = "C0"  # matplotlib's first cycle colour: what waveshow picks by default in pymaivar
_CURVE_COLOUR = "r"

DIFFERENCES_FROM_PUBLIC_CODE: tuple[str, ...] = (
    "pymaivar loads audio with librosa.load(sr=None) at the native rate; we decode with decord and resample to "
    f"{DEFAULT_SAMPLE_RATE} Hz, the rate of UCF101's tracks, so the images agree for every file recorded at that "
    "rate and share one time and frequency scale for any other.",
    "pymaivar saves 1400x500 px figures (1000x500 for rolloff) with matplotlib's default white margins around "
    "the hidden axes and never resizes them; we draw with no margins straight at 224x224x3, the size the paper "
    "states (Sec. III-B2).",
    "pymaivar's waveplots autoscale the amplitude axis to each clip; we fix it to full scale [-1, 1] so that "
    "loudness stays visible and comparable between clips (the paper says nothing on the axis range).",
    "pymaivar places the centroid and rolloff curves with librosa.frames_to_time at the default 22,050 Hz, so at "
    "44.1 kHz each curve is drawn at twice its true times and, the time axis being fixed to the waveform, only "
    "its first half shows; we use the true sample rate so curve and waveform share one time axis.",
    "pymaivar standardises MFCCs with sklearn.preprocessing.scale(mfcc, axis=1); we compute the same "
    "standardisation (population std, constant rows to 0) in numpy to avoid a scikit-learn dependency.",
    "pymaivar min-max scales the centroid and rolloff curves with sklearn.preprocessing.minmax_scale; we do the "
    "same in numpy (a constant curve becomes 0).",
    "pymaivar calls waveplot and passes y positionally (librosa < 0.10); librosa 0.11 needs y= as a keyword "
    "and names the function waveshow, its successor (a finer envelope than waveplot's 1 kHz one, which makes "
    "no visible difference at 224 px).",
    "pymaivar relies on pyplot's global state and the default colour cycle; we name the colours it got "
    "(waveform C0, curves red, chromagram coolwarm, MFCCs librosa's default colormap) and draw on a private "
    "Figure so the output is deterministic.",
)


def _check_representation(name: str) -> str:
    if name not in REPRESENTATIONS:
        raise ValueError(f"unknown audio-image representation {name!r}; expected one of: {', '.join(REPRESENTATIONS)}")
    return name


def standardise_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row to mean 0 and (population) std 1, as sklearn.preprocessing.scale(matrix, axis=1); a constant
    row becomes 0. Applied to MFCCs (coefficients x frames) this is pymaivar's "MFCC feature scaling"."""
    matrix = np.asarray(matrix, dtype=np.float64)
    centred = matrix - matrix.mean(axis=1, keepdims=True)
    std = centred.std(axis=1, keepdims=True)
    # sklearn treats a std within rounding error of zero as 1, leaving the (zero) centred row unchanged
    std[std < 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(matrix).max(axis=1, keepdims=True))] = 1.0
    return centred / std


def minmax_scale(curve: np.ndarray) -> np.ndarray:
    """A curve mapped onto [0, 1], as sklearn.preprocessing.minmax_scale; a constant curve becomes 0."""
    curve = np.asarray(curve, dtype=np.float64)
    span = curve.max() - curve.min()
    return (curve - curve.min()) / (span if span > 0 else 1.0)


def _check_audio(y: np.ndarray, sr: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"audio must be a non-empty 1-D (mono) array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio must be floating point in [-1, 1], got dtype {y.dtype}")
    if not np.isfinite(y).all():
        raise ValueError("audio contains NaN or infinite samples")
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr <= 0:
        raise ValueError(f"sample rate must be a positive integer, got {sr!r}")
    return y.astype(np.float32, copy=False)


def _draw_waveplot(ax, y: np.ndarray, sr: int, alpha: float = 1.0) -> None:
    import librosa.display

    librosa.display.waveshow(y, sr=sr, ax=ax, color=_WAVE_COLOUR, alpha=alpha)
    ax.set_xlim(0.0, len(y) / sr)
    ax.set_ylim(-1.0, 1.0)


def _draw_curve_over_waveplot(ax, y: np.ndarray, sr: int, curve: np.ndarray) -> None:
    import librosa

    _draw_waveplot(ax, y, sr, alpha=0.4)
    ax.plot(librosa.times_like(curve, sr=sr, hop_length=HOP_LENGTH), minmax_scale(curve), color=_CURVE_COLOUR)


def _draw(ax, y: np.ndarray, sr: int, representation: str) -> None:
    import librosa
    import librosa.display

    if representation == "waveplot":
        _draw_waveplot(ax, y, sr)
    elif representation in ("mfcc", "mfcc_scaled"):
        mfcc = librosa.feature.mfcc(y=y, sr=sr, hop_length=HOP_LENGTH)
        if representation == "mfcc_scaled":
            mfcc = standardise_rows(mfcc)
        librosa.display.specshow(mfcc, sr=sr, hop_length=HOP_LENGTH, x_axis="time", ax=ax)
    elif representation == "spectral_centroid":
        _draw_curve_over_waveplot(ax, y, sr, librosa.feature.spectral_centroid(y=y, sr=sr, hop_length=HOP_LENGTH)[0])
    elif representation == "spectral_rolloff":
        rolloff = librosa.feature.spectral_rolloff(y=y + ROLLOFF_OFFSET, sr=sr, hop_length=HOP_LENGTH)[0]
        _draw_curve_over_waveplot(ax, y, sr, rolloff)
    else:  # chromagram
        chroma = librosa.feature.chroma_stft(y=y, sr=sr, hop_length=HOP_LENGTH)
        librosa.display.specshow(chroma, sr=sr, hop_length=HOP_LENGTH, x_axis="time", y_axis="chroma",
                                 cmap="coolwarm", ax=ax)


def audio_image(y: np.ndarray, sr: int, representation: str, *, size: int = IMAGE_SIZE) -> np.ndarray:
    """One audio-image of a mono track `y` (float in [-1, 1]) at `sr` Hz: (size, size, 3) uint8 RGB."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _check_representation(representation)
    y = _check_audio(y, sr)
    if isinstance(size, bool) or not isinstance(size, int) or size < 16:
        raise ValueError(f"image size must be an integer of at least 16 pixels, got {size!r}")
    # the quarter pixel keeps Agg's int() truncation of size / 100 * 100 from losing a row (e.g. size 29)
    inches = (size + 0.25) / _DPI
    figure = Figure(figsize=(inches, inches), dpi=_DPI, facecolor="white", edgecolor="white")
    ax = figure.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    _draw(ax, y, int(sr), representation)
    # attached only now: waveshow redraws the canvas on every change of limits, a no-op on the base canvas
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3]
    if image.shape != (size, size, 3):
        raise RuntimeError(f"matplotlib rendered {image.shape}, expected ({size}, {size}, 3)")
    return np.ascontiguousarray(image)


def audio_image_path(out: Path, sample: Sample, representation: str, root: Path | None = None) -> Path:
    """`out/<representation>/<Class>/<video stem>.png`; with `root`, the video's path under root instead.

    The class folder is the sample's class name (its parent folder when it has none), an ImageFolder layout.
    """
    _check_representation(representation)
    video = Path(sample.path)
    if root is not None:
        try:
            relative = video.relative_to(root)
        except ValueError:
            raise ValueError(f"{video}: expected a video under root {root}") from None
        return Path(out) / representation / relative.with_suffix(".png")
    return Path(out) / representation / (sample.class_name or video.parent.name) / f"{video.stem}.png"


def load_audio_image(path: Path | str, *, size: int | None = IMAGE_SIZE) -> np.ndarray:
    """An audio-image written by `write_audio_images` as (size, size, 3) uint8 RGB; UnreadableVideo if bad."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise UnreadableVideo(path, "missing audio image")
    if path.stat().st_size == 0:
        raise UnreadableVideo(path, "zero-byte audio image")
    try:
        with Image.open(path) as handle:
            image = np.asarray(handle.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as exc:  # PIL's errors for unknown, truncated or corrupt files
        raise UnreadableVideo(path, f"not a decodable image ({type(exc).__name__})") from None
    if size is not None and image.shape != (size, size, 3):
        raise UnreadableVideo(path, f"expected a {size}x{size} RGB audio image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def _write_png_atomic(path: Path, image: np.ndarray) -> None:
    # Pillow, not OpenCV: once decord is loaded, its bundled zlib 1.2.3 breaks OpenCV's PNG codec
    # ("libpng error: bad parameters to zlib"), and this module decodes audio with decord.
    from PIL import Image

    # the temporary name does not end in .png, so a resumed run never mistakes it for a finished image
    with replacing(path) as tmp, open(tmp, "wb") as handle:
        Image.fromarray(np.ascontiguousarray(image)).save(handle, format="PNG")


@dataclass
class AudioImageSummary:
    """What one `write_audio_images` call did: images written or found, videos without audio, unreadable ones."""

    representations: tuple[str, ...]
    sample_rate: int
    videos: int = 0
    written: int = 0
    existing: int = 0  # images already there (a resumed run)
    no_audio: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), this call only

    def as_json(self) -> dict:
        return {"representations": list(self.representations), "sample_rate": self.sample_rate,
                "videos": self.videos, "written": self.written, "existing": self.existing,
                "no_audio": list(self.no_audio), "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def write_audio_images(samples: list[Sample], out: Path, *, representations: Iterable[str] = REPRESENTATIONS,
                       sample_rate: int = DEFAULT_SAMPLE_RATE, skips: SkipLog | None = None,
                       progress: Callable[[str], None] | None = None) -> AudioImageSummary:
    """Audio-images of every sample's sound track as PNGs under `out` (see `audio_image_path`).

    Images that exist are kept and counted (resume); each new one is written atomically. A video without an
    audio stream is listed in `no_audio`, not an error. An unreadable file is recorded in `skips`, which raises
    TooManyUnreadable once its share passes the threshold, at the latest after the last sample.
    """
    names = tuple(_check_representation(name) for name in representations)
    if not names:
        raise ValueError(f"no representations given; expected some of: {', '.join(REPRESENTATIONS)}")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer (Hz), got {sample_rate!r}")
    skips = skips if skips is not None else SkipLog()
    out = Path(out)
    owners: dict[Path, Path] = {}
    for sample in samples:
        target = audio_image_path(out, sample, names[0])
        if owners.setdefault(target, Path(sample.path)) != Path(sample.path):
            raise ValueError(f"{sample.path} and {owners[target]} would both be written to {target}")
    summary = AudioImageSummary(names, sample_rate)
    for sample in samples:
        if progress is not None:
            progress(Path(sample.path).name)
        summary.videos += 1
        todo = {name: audio_image_path(out, sample, name) for name in names}
        todo = {name: path for name, path in todo.items() if not path.exists()}
        summary.existing += len(names) - len(todo)
        if not todo:
            skips.ok()
            continue
        try:
            y = read_audio(sample.path, sample_rate)
            if y is not None and not np.isfinite(y).all():
                raise UnreadableVideo(sample.path, "audio track has NaN or infinite samples")
        except UnreadableVideo as exc:
            summary.skipped.append((exc.path, exc.reason))
            skips.skip(exc.path, exc.reason)
            continue
        skips.ok()
        if y is None:
            summary.no_audio.append(str(sample.path))
            continue
        for name, path in todo.items():
            _write_png_atomic(path, audio_image(y, sample_rate, name))
            summary.written += 1
    skips.check()
    return summary
