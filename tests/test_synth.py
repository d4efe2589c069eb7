"""The synthetic dataset generator: real layouts, real encoded files, and the cues each class is built on."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from repro.data.decode import read_audio, read_frames, video_info
from repro.data.splits import hmdb51_split, missing, ucf101_classes, ucf101_split
from repro.data.synth import CLASSES, LAYOUTS, layout_paths, render_frames, synthesize

BY_NAME = {c.name: c for c in CLASSES}


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def mean_flow(frames: np.ndarray) -> np.ndarray:
    """Per frame pair, the mean (dx, dy) Farneback flow over the pixels that move."""
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out = []
    for a, b in zip(grey, grey[1:], strict=False):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        moving = np.linalg.norm(flow, axis=2) > 0.3
        out.append(flow[moving].mean(0) if moving.sum() > 20 else np.zeros(2))
    return np.array(out)


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    out = tmp_path_factory.mktemp("ucf")
    return out, synthesize(out)


@pytest.fixture(scope="module")
def hmdb(tmp_path_factory):
    out = tmp_path_factory.mktemp("hmdb")
    return out, synthesize(out, layout="hmdb51", scale=2, frames=16, width=96, height=72)


def test_ucf101_tree_reads_with_the_split_readers(ucf):
    out, summary = ucf
    root, annotations = layout_paths(out, "ucf101")
    assert (summary.root, summary.annotations) == (root, annotations) == (out / "UCF-101", out / "ucfTrainTestlist")
    assert ucf101_classes(annotations) == [c.name for c in CLASSES] == sorted(c.name for c in CLASSES)
    assert len(summary.videos) == len(CLASSES) * 4 == 32
    for split in (1, 2, 3):
        train, test = ucf101_split(root, annotations, split, "train"), ucf101_split(root, annotations, split, "test")
        assert (len(train), len(test)) == (24, 8)
        assert missing(train + test) == []
        for label in range(len(CLASSES)):  # 3 train and 1 test per class in every split
            assert [s.label for s in train].count(label) == 3 and [s.label for s in test].count(label) == 1
        # a test video's group lies in the split's block g(7k-6)..g(7k); groups 22-25 only ever train
        assert all(7 * (split - 1) < s.meta["group"] <= 7 * split for s in test)
        assert {s.meta["group"] for s in train} == {1, 8, 15, 22} - {7 * (split - 1) + 1}
        recorded = {v.path: v for v in summary.videos}
        for sample in train + test:
            video = recorded[str(sample.path.relative_to(root))]
            assert video.label == sample.label and video.class_name == sample.class_name
            assert video.splits[split] == ("train" if sample in train else "test")
    for name in ("classInd.txt", "trainlist01.txt", "testlist03.txt"):
        raw = (annotations / name).read_bytes()
        assert raw.count(b"\r\n") == raw.count(b"\n") > 0  # CRLF on every line, like the real lists
    assert (annotations / "trainlist01.txt").read_text().splitlines()[0] == "MoveDown/v_MoveDown_g08_c01.avi 1"
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["complete"] is True and manifest["parameters"]["seed"] == 0
    assert manifest["videos"] == summary.as_json()["videos"]


def test_hmdb51_tree_reads_with_the_split_reader(hmdb):
    out, summary = hmdb
    root, annotations = layout_paths(out, "hmdb51")
    assert len(list(annotations.glob("*_test_split*.txt"))) == 3 * len(CLASSES)
    for split in (1, 2, 3):
        train, test = hmdb51_split(root, annotations, split, "train"), hmdb51_split(root, annotations, split, "test")
        # 8 videos a class at scale 2: 2 test, 1 unused (tag 0), 5 train
        assert (len(train), len(test)) == (5 * len(CLASSES), 2 * len(CLASSES))
        assert missing(train + test) == []
        assert [s.class_name for s in test[:2]] == ["move_down"] * 2
        assert {s.label for s in test} == set(range(len(CLASSES)))
    text = (annotations / "orbit_hum_test_split1.txt").read_text()
    assert text.splitlines()[:2] == ["synth_orbit_hum_000.avi 2", "synth_orbit_hum_001.avi 1"]
    assert " 0\n" in text
    assert [v.label for v in summary.videos if v.class_name == "orbit_hum"] == [4] * 8


def test_every_file_decodes_with_the_frames_asked_for(ucf):
    out, summary = ucf
    for video in summary.videos:
        path = summary.root / video.path
        info = video_info(path)
        assert (info.num_frames, info.fps, info.height, info.width) == (48, 25.0, 120, 160)
        assert read_frames(path, [0, 24, 47], width=128, height=96).shape == (3, 96, 128, 3)
        audio = read_audio(path)
        assert (audio is not None) == video.has_audio, video.path
    with_audio = {c.name: sum(v.has_audio for v in summary.videos if v.class_name == c.name) for c in CLASSES}
    assert with_audio == {c.name: 4 if c.cue == "audio" else 2 for c in CLASSES}


def test_audio_classes_differ_in_pitch_and_spectral_centroid(ucf):
    _, summary = ucf
    peaks, centroids = {}, {}
    for video in summary.videos:
        if BY_NAME[video.class_name].cue != "audio":
            continue
        audio = read_audio(summary.root / video.path)
        assert abs(audio.size - 48 / 25 * 16000) < 2048
        power = np.abs(np.fft.rfft(audio)) ** 2
        freqs = np.fft.rfftfreq(audio.size, 1 / 16000)
        peaks.setdefault(video.class_name, []).append(freqs[np.argmax(power * (freqs > 60))])
        centroids.setdefault(video.class_name, []).append((freqs * power).sum() / power.sum())
    for peak in peaks["OrbitHum"]:  # C3 or C4
        assert min(abs(peak - 130.81), abs(peak - 261.63)) < 3, peaks
    for peak in peaks["OrbitWhistle"]:  # F#5 or F#6
        assert min(abs(peak - 739.99), abs(peak - 1479.98)) < 3, peaks
    assert max(centroids["OrbitHum"]) < 600 < 1000 < min(centroids["OrbitWhistle"]), centroids


def test_direction_classes_move_the_way_their_name_says(ucf):
    _, summary = ucf
    expected = {"MoveRight": (1, 0), "MoveLeft": (-1, 0), "MoveDown": (0, 1), "MoveUp": (0, -1)}
    for video in summary.videos:
        if video.class_name not in expected:
            continue
        dx, dy = mean_flow(read_frames(summary.root / video.path, range(0, 48, 2))).mean(0) / 2
        along, across = (dx, dy) if expected[video.class_name][0] else (dy, dx)
        sign = sum(expected[video.class_name])
        assert along * sign > 0.5 and abs(across) < 0.3, (video.path, dx, dy)


def global_shift(clip: np.ndarray) -> float:
    """Least-squares horizontal shift per frame of a grey clip (T, H, W): -sum(I_t I_x) / sum(I_x^2)."""
    grey = clip.astype(np.float64).mean(-1) if clip.ndim == 4 else clip.astype(np.float64)
    ix = np.gradient(grey, axis=2)[:-1]
    it = np.diff(grey, axis=0)
    return float(-(it * ix).sum() / ((ix * ix).sum() + 1e-9))


def test_horizontal_motion_cue_survives_proxy_resolution(ucf):
    """A one-number learner (the sign of the global horizontal shift) tells MoveRight from MoveLeft on
    16-frame clips of 64 px centre crops from frames decoded at a 73 px shorter side (the proxy's
    train_clip resolution, 64 x 8/7), so the direction cue is there for a 3D CNN to find."""
    import cv2

    _, summary = ucf
    right = correct = 0
    for video in summary.videos:
        if video.class_name not in ("MoveLeft", "MoveRight"):
            continue
        frames = read_frames(summary.root / video.path, range(48))
        small = np.stack([cv2.resize(f, (97, 73), interpolation=cv2.INTER_AREA) for f in frames])[:, 4:68, 16:80]
        for start in (0, 16, 32):  # first, central and last clip
            predicted = "MoveRight" if global_shift(small[start:start + 16]) > 0 else "MoveLeft"
            correct += predicted == video.class_name
            right += 1
    assert right == 24 and correct / right > 0.9, (correct, right)


def test_each_direction_and_order_class_is_its_partners_time_reversal():
    pairs = [("MoveRight", "MoveLeft"), ("MoveDown", "MoveUp"), ("ShakeThenPulse", "PulseThenShake")]
    for forward, backward in pairs:
        a, window_a, _ = render_frames(BY_NAME[forward], np.random.default_rng(7), frames=40, action_frames=24)
        b, window_b, _ = render_frames(BY_NAME[backward], np.random.default_rng(7), frames=40, action_frames=24)
        assert np.array_equal(a[::-1], b)  # the same frames, so no single frame tells the two classes apart
        assert window_b == (40 - window_a[1], 40 - window_a[0])
    hum, _, _ = render_frames(BY_NAME["OrbitHum"], np.random.default_rng(3))
    whistle, _, _ = render_frames(BY_NAME["OrbitWhistle"], np.random.default_rng(3))
    assert np.array_equal(hum, whistle)  # audio classes share their visual process


def test_long_videos_hold_the_action_in_the_recorded_window(tmp_path):
    summary = synthesize(tmp_path / "long", frames=64, action_frames=16, scale=1)
    windows = {v.window for v in summary.videos}
    assert all(0 <= start < start + 16 == end <= 64 for start, end in windows) and len(windows) > 5
    for video in summary.videos:
        if video.class_name not in ("MoveRight", "MoveUp"):
            continue
        flow = mean_flow(read_frames(summary.root / video.path, range(64)))
        start, end = video.window
        axis, sign = (0, 1) if video.class_name == "MoveRight" else (1, -1)
        inside = flow[start:end - 1, axis].mean() * sign
        outside_pairs = [t for t in range(63) if t + 1 < start or t >= end]  # skip the pairs across the cuts
        outside = flow[outside_pairs, axis].mean()
        assert inside > 0.8 and abs(outside) < 0.3, (video.path, inside, outside)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(ucf, tmp_path):
    out, _ = ucf
    synthesize(tmp_path / "again")
    first, again = hashes(out), hashes(tmp_path / "again")
    assert len(first) == 32 + 7 + 1 and first == again
    synthesize(tmp_path / "other", seed=1)
    other = hashes(tmp_path / "other")
    assert other.keys() == first.keys()
    assert all(other[name] != first[name] for name in first if name.endswith(".avi"))


def test_mp4_container_writes_h264_that_decord_reads(tmp_path):
    import av

    summary = synthesize(tmp_path / "mp4", container="mp4", frames=16, width=96, height=72)
    again = synthesize(tmp_path / "mp4b", container="mp4", frames=16, width=96, height=72)
    assert hashes(tmp_path / "mp4") == hashes(tmp_path / "mp4b") and again.written == 32
    root, annotations = layout_paths(tmp_path / "mp4", "ucf101")
    test = ucf101_split(root, annotations, 1, "test")
    assert test[0].path.suffix == ".mp4" and missing(test) == []
    path = summary.root / summary.videos[4 * 4].path  # OrbitHum: has audio
    with av.open(str(path)) as container:
        assert [s.codec_context.name for s in container.streams] == ["h264", "aac"]
        assert container.streams.audio[0].sample_rate == 16000 and container.streams.audio[0].channels == 1
    assert video_info(path).num_frames == 16 and read_frames(path, range(16)).shape == (16, 72, 96, 3)


def test_rerun_resumes_and_refuses_foreign_folders(tmp_path):
    out = tmp_path / "small"
    small = {"frames": 16, "width": 64, "height": 48}
    synthesize(out, **small)
    before = hashes(out)
    (out / "UCF-101" / "MoveUp" / "v_MoveUp_g01_c01.avi").unlink()
    seen = []
    resumed = synthesize(out, progress=seen.append, **small)
    assert resumed.written == 1 and len(seen) == 32 and hashes(out) == before
    with pytest.raises(ValueError, match=r"other parameters \(seed: 0 -> 3\)"):
        synthesize(out, seed=3, **small)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="busy is not empty and has no synth.json"):
        synthesize(tmp_path / "busy", **small)


@pytest.mark.parametrize("kwargs, message", [
    ({"layout": "kinetics"}, "layout must be one of ucf101, hmdb51, got 'kinetics'"),
    ({"container": "mkv"}, "container must be one of avi, mp4, got 'mkv'"),
    ({"scale": 0}, "scale must be an integer >= 1, got 0"),
    ({"frames": 8}, "frames must be an integer >= 16, got 8"),
    ({"action_frames": 64}, r"action_frames must be an integer in 8..frames \(48\) or None, got 64"),
    ({"width": 161}, "width and height must be even"),
])
def test_bad_arguments_raise_clear_errors(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthesize(tmp_path / "bad", **kwargs)
    assert not (tmp_path / "bad").exists()
    assert LAYOUTS == ("ucf101", "hmdb51")


def test_a_subset_of_classes_keeps_each_class_bytes(tmp_path):
    from repro.data.splits import ucf101_split
    from repro.data.synth import synthesize

    everything = synthesize(tmp_path / "all", frames=16, width=32, height=32)
    some = synthesize(tmp_path / "some", frames=16, width=32, height=32, classes=["MoveLeft", "MoveRight"])
    assert {v.class_name for v in some.videos} == {"MoveLeft", "MoveRight"}
    train = ucf101_split(some.root, some.annotations, 1, "train")
    assert sorted({(s.label, s.class_name) for s in train}) == [(0, "MoveLeft"), (1, "MoveRight")]
    for video in some.videos:
        assert (some.root / video.path).read_bytes() == (everything.root / video.path).read_bytes()
    with pytest.raises(ValueError, match="classes must be names of CLASSES"):
        synthesize(tmp_path / "bad", classes=["Juggling"])
