"""MAiVAR audio-images (repro/data/audio_images.py): shape, determinism, content and the batch writer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from repro.data.audio_images import (
    DEFAULT_SAMPLE_RATE,
    DIFFERENCES_FROM_PUBLIC_CODE,
    REPRESENTATIONS,
    audio_image,
    audio_image_path,
    load_audio_image,
    minmax_scale,
    standardise_rows,
    write_audio_images,
)
from repro.data.decode import UnreadableVideo
from repro.data.skips import SkipLog, TooManyUnreadable
from repro.data.splits import Sample

SR = 22050  # fast for the drawing tests; the writer test goes through DEFAULT_SAMPLE_RATE
A4, A5, D_SHARP5 = 440.0, 880.0, 622.254


def tone(frequency: float, seconds: float = 1.0, amplitude: float = 0.5, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


@pytest.fixture(scope="module")
def busy_signal() -> np.ndarray:
    """A chirp with a tremolo and some noise: every representation has something to show."""
    t = np.arange(2 * SR) / SR
    phase = 2 * np.pi * np.cumsum(300 * 2 ** t) / SR
    noise = 0.05 * np.random.default_rng(0).standard_normal(t.size)
    return (0.4 * np.sin(phase) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * t)) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def busy_images(busy_signal) -> dict[str, np.ndarray]:
    return {name: audio_image(busy_signal, SR, name) for name in REPRESENTATIONS}


@pytest.mark.parametrize("name", REPRESENTATIONS)
def test_each_representation_is_a_deterministic_224_rgb_image(name, busy_signal, busy_images):
    image = busy_images[name]
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    assert image.std() > 10  # not a blank canvas
    np.testing.assert_array_equal(audio_image(busy_signal, SR, name), image)


def test_other_sizes_render_exactly():
    # 29 px is a size where a plain size/100-inch figure truncates to 28 rows in Agg
    assert audio_image(tone(A4), SR, "waveplot", size=29).shape == (29, 29, 3)


def test_representations_differ_from_one_another(busy_images):
    names = list(REPRESENTATIONS)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            difference = np.abs(busy_images[first].astype(int) - busy_images[second].astype(int)).mean()
            assert difference > 5, (first, second, difference)


def hottest_chroma_bin(image: np.ndarray) -> int:
    """The chroma bin (0 = C at the bottom) whose band is reddest in the coolwarm chromagram."""
    redness = (image[..., 0].astype(float) - image[..., 2].astype(float)).mean(axis=1)  # per image row
    bands = np.array_split(redness, 12)  # top band first
    return 11 - int(np.argmax([band.mean() for band in bands]))


def test_chromagram_puts_a_tone_in_its_pitch_class():
    a4, a5, d_sharp = (audio_image(tone(f), SR, "chromagram") for f in (A4, A5, D_SHARP5))
    assert hottest_chroma_bin(a4) == 9  # A
    assert hottest_chroma_bin(a5) == 9  # an octave up: the same pitch class
    assert hottest_chroma_bin(d_sharp) == 3  # D#
    # coolwarm, as pymaivar draws it: the A band (rows 37-56 of 224) red, the C band at the bottom blue
    red, blue = a4[46, 112].astype(int), a4[215, 112].astype(int)
    assert red[0] > 150 and red[1] < 60 and red[2] < 80, red
    assert blue[2] > 150 and blue[0] < 100, blue
    assert np.abs(a4.astype(int) - d_sharp.astype(int)).mean() > 5


def red_curve_rows(image: np.ndarray) -> tuple[float, float]:
    """Mean image row of the red curve in the left and the right third (row 0 is the top)."""
    red = (image[..., 0] > 180) & (image[..., 1] < 100) & (image[..., 2] < 100)
    rows = np.arange(image.shape[0])[:, None]
    third = image.shape[1] // 3

    def mean_row(mask):
        assert mask.sum() > 20, "no red curve found"
        return float((rows * mask).sum() / mask.sum())

    return mean_row(red[:, :third]), mean_row(red[:, -third:])


def test_spectral_centroid_curve_follows_the_pitch():
    # at 44.1 kHz, where placing the curve at librosa's default 22,050 Hz (as pymaivar does) would stretch it
    sr = DEFAULT_SAMPLE_RATE
    low, high = tone(A4, seconds=0.5, sr=sr), tone(4 * A4, seconds=0.5, sr=sr)
    rising, falling = np.concatenate([low, high]), np.concatenate([high, low])
    left, right = red_curve_rows(audio_image(rising, sr, "spectral_centroid"))
    assert right < left - 80  # the curve is near the top once the pitch is high
    left, right = red_curve_rows(audio_image(falling, sr, "spectral_centroid"))
    assert left < right - 80


def test_spectral_rolloff_curve_is_high_for_noise_and_low_for_a_tone():
    noise = (0.3 * np.random.default_rng(1).standard_normal(SR)).astype(np.float32)
    left, right = red_curve_rows(audio_image(np.concatenate([tone(A4), noise]), SR, "spectral_rolloff"))
    assert right < left - 80
    left, right = red_curve_rows(audio_image(np.concatenate([noise, tone(A4)]), SR, "spectral_rolloff"))
    assert left < right - 80


def envelope_height(image: np.ndarray) -> float:
    drawn = (image < 250).any(axis=2)  # anything not white
    return float(np.median(drawn.sum(axis=0)))


def test_louder_signal_draws_a_taller_waveplot_on_a_fixed_full_scale_axis():
    quiet, loud = (envelope_height(audio_image(tone(A4, amplitude=a), SR, "waveplot")) for a in (0.2, 0.8))
    # the axis spans [-1, 1] over 224 rows, so an amplitude a fills about a * 224 rows
    assert abs(quiet - 0.2 * 224) <= 4
    assert abs(loud - 0.8 * 224) <= 4


def test_standardise_rows_matches_hand_computed_values():
    scaled = standardise_rows(np.array([[1.0, 2.0, 3.0], [4.0, 4.0, 4.0]]))
    np.testing.assert_allclose(scaled, [[-np.sqrt(1.5), 0.0, np.sqrt(1.5)], [0.0, 0.0, 0.0]], atol=1e-12)
    matrix = np.random.default_rng(2).normal(5.0, 3.0, size=(20, 50)) * np.arange(1, 21)[:, None]
    scaled = standardise_rows(matrix)
    np.testing.assert_allclose(scaled.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(scaled.std(axis=1), 1.0, atol=1e-12)


def test_minmax_scale():
    np.testing.assert_allclose(minmax_scale(np.array([2.0, 4.0, 6.0])), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(minmax_scale(np.full(4, 3.0)), np.zeros(4))


def test_unknown_representation_lists_the_valid_names(tmp_path):
    sample = Sample(tmp_path / "v.mp4", 0, "Drumming")
    for call in (lambda: audio_image(tone(A4), SR, "spectrogram"),
                 lambda: audio_image_path(tmp_path, sample, "spectrogram"),
                 lambda: write_audio_images([sample], tmp_path, representations=("mfcc", "spectrogram"))):
        with pytest.raises(ValueError, match="spectrogram") as caught:
            call()
        assert all(name in str(caught.value) for name in REPRESENTATIONS)


def test_bad_audio_is_rejected_with_a_clear_message():
    with pytest.raises(ValueError, match="1-D"):
        audio_image(np.zeros((2, 100), np.float32), SR, "waveplot")
    with pytest.raises(ValueError, match="floating"):
        audio_image(np.zeros(100, np.int16), SR, "waveplot")
    with pytest.raises(ValueError, match="NaN"):
        audio_image(np.full(100, np.nan, np.float32), SR, "waveplot")


def test_audio_image_path_layout(tmp_path):
    sample = Sample(Path("/data/UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi"), 36, "HandStandPushups")
    expected = tmp_path / "mfcc/HandStandPushups/v_HandStandPushups_g01_c01.png"
    assert audio_image_path(tmp_path, sample, "mfcc") == expected  # the class name of classInd.txt
    assert (audio_image_path(tmp_path, sample, "mfcc", root=Path("/data/UCF-101"))
            == tmp_path / "mfcc/HandstandPushups/v_HandStandPushups_g01_c01.png")
    with pytest.raises(ValueError, match="under root"):
        audio_image_path(tmp_path, sample, "mfcc", root=Path("/elsewhere"))


def encode_video(path: Path, *, audio: np.ndarray | None, sr: int = DEFAULT_SAMPLE_RATE, fps: int = 10) -> Path:
    """A 1 s, 32x32 MPEG-4 video, with a mono AAC track when `audio` is given (PyAV)."""
    import av

    with av.open(str(path), mode="w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        stream = container.add_stream("aac", rate=sr, layout="mono") if audio is not None else None
        for index in range(fps):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), index * 20, np.uint8), format="rgb24")
            container.mux(video.encode(frame))
        if stream is not None:
            for start in range(0, audio.size, 1024):
                chunk = np.ascontiguousarray(audio[None, start:start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                frame.sample_rate, frame.pts = sr, start
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        container.mux(video.encode(None))
    return path


def test_write_audio_images_writes_lists_skips_and_resumes(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    with_audio = encode_video(videos / "v_Drumming_g01_c01.mp4", audio=tone(A4, sr=DEFAULT_SAMPLE_RATE))
    silent_film = encode_video(videos / "v_Drumming_g01_c02.mp4", audio=None)
    empty = videos / "v_Drumming_g01_c03.mp4"
    empty.write_bytes(b"")
    samples = [Sample(path, 0, "Drumming") for path in (with_audio, silent_film, empty)]
    out, skips, seen = tmp_path / "images", SkipLog(max_share=0.5), []

    summary = write_audio_images(samples, out, skips=skips, progress=seen.append)

    assert seen == [path.name for path in (with_audio, silent_film, empty)]
    assert (summary.videos, summary.written, summary.existing) == (3, 6, 0)
    assert summary.no_audio == [str(silent_film)]
    assert summary.skipped == [(str(empty), "zero-byte file")]
    assert skips.skipped == [(str(empty), "zero-byte file")] and skips.seen == 3
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(f"{name}/Drumming/v_Drumming_g01_c01.png" for name in REPRESENTATIONS)
    for name in REPRESENTATIONS:
        image = load_audio_image(out / name / "Drumming" / "v_Drumming_g01_c01.png")
        assert image.shape == (224, 224, 3) and image.dtype == np.uint8 and image.std() > 10
    assert json.loads(json.dumps(summary.as_json()))["skipped"] == [{"path": str(empty), "reason": "zero-byte file"}]

    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = write_audio_images(samples, out, skips=SkipLog(max_share=0.5))
    assert (again.written, again.existing) == (0, 6)
    assert again.no_audio == [str(silent_film)] and len(again.skipped) == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == stamps
    assert sorted(p for p in out.rglob("*") if p.is_file()) == sorted(stamps)  # no temporary files left

    with pytest.raises(TooManyUnreadable, match="v_Drumming_g01_c03"):  # 1 in 3 is past the default 5%
        write_audio_images(samples, out)


def test_written_png_round_trips_and_bad_files_name_their_path(tmp_path):
    from repro.data.audio_images import _write_png_atomic

    image = audio_image(tone(A4), SR, "chromagram")
    _write_png_atomic(tmp_path / "a.png", image)
    np.testing.assert_array_equal(load_audio_image(tmp_path / "a.png"), image)
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "junk.png").write_bytes(b"not a png at all")
    for name, reason in (("empty.png", "zero-byte"), ("junk.png", "not a decodable image"), ("none.png", "missing")):
        with pytest.raises(UnreadableVideo, match=reason) as caught:
            load_audio_image(tmp_path / name)
        assert caught.value.path == str(tmp_path / name)
    with pytest.raises(UnreadableVideo, match="expected a 32x32"):
        load_audio_image(tmp_path / "a.png", size=32)


def test_two_videos_mapping_to_one_image_are_refused(tmp_path):
    samples = [Sample(tmp_path / "a" / "v_X.avi", 0, "X"), Sample(tmp_path / "b" / "v_X.avi", 0, "X")]
    with pytest.raises(ValueError, match="would both be written"):
        write_audio_images(samples, tmp_path / "out")


def test_differences_from_public_code_are_sentences():
    assert len(DIFFERENCES_FROM_PUBLIC_CODE) >= 5
    assert all(isinstance(s, str) and s.endswith(".") for s in DIFFERENCES_FROM_PUBLIC_CODE)


def test_rendering_in_threads_gives_the_same_images(busy_signal, busy_images):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=3) as pool:
        images = list(pool.map(lambda name: audio_image(busy_signal, SR, name), REPRESENTATIONS))
    for name, image in zip(REPRESENTATIONS, images, strict=True):
        np.testing.assert_array_equal(image, busy_images[name])
