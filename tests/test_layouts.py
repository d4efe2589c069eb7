"""Every dataset adapter on a layout built here with real encoded files, traps included: CRLF lines, the
HandStandPushups case mismatch, unlabelled test lists, missing, corrupt and zero-byte files, no audio."""
from __future__ import annotations

import os
import re

import numpy as np
import pytest
from videos import decoded_index, frame_colour, write_video

from repro.data.check import check_dataset
from repro.data.dataset import Item, Skipped, VideoDataset
from repro.data.kinetics import kinetics, mini_kinetics200
from repro.data.layouts import LAYOUTS, get_layout
from repro.data.lists import mmaction_rawframes, mmaction_videos, sthv1
from repro.data.protocols import make_protocol
from repro.data.splits import missing, ucf101_audio51, ucf101_split
from repro.errors import DataError

SMALL = {"frames": 20, "width": 32, "height": 24}


def central(size: int = 16):
    return make_protocol("central", clip_len=8, size=size, mean=(0.0, 0.0, 0.0))


@pytest.fixture(scope="module")
def ucf(tmp_path_factory):
    """UCF101 with three classes: one folder spelled HandstandPushups holding v_HandStandPushups_* files."""
    root = tmp_path_factory.mktemp("ucf")
    notes, videos = root / "ucfTrainTestlist", root / "UCF-101"
    notes.mkdir()
    (notes / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n")
    train = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1", "HandstandPushups/v_HandStandPushups_g08_c01.avi 2",
             "YoYo/v_YoYo_g08_c01.avi 3", "YoYo/v_YoYo_g09_c01.avi 3"]
    test = ["ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", "HandstandPushups/v_HandStandPushups_g01_c01.avi",
            "YoYo/v_YoYo_g01_c01.avi", "YoYo/v_YoYo_g02_c01.avi"]
    (notes / "trainlist01.txt").write_bytes("\r\n".join(train).encode() + b"\r\n")
    (notes / "testlist01.txt").write_bytes("\r\n".join(test).encode() + b"\r\n")
    for line in train[:3] + test[:2]:
        write_video(videos / line.split()[0], audio_hz=440.0 if "YoYo" not in line else None, **SMALL)
    (videos / "YoYo/v_YoYo_g01_c01.avi").write_bytes(b"")                 # zero-byte
    (videos / "YoYo/v_YoYo_g02_c01.avi").write_bytes(os.urandom(4096))    # corrupt
    return root  # YoYo/v_YoYo_g09_c01.avi is missing


def test_ucf101_reads_crlf_case_trap_and_unlabelled_test_list(ucf):
    layout = get_layout("ucf101")
    train, test = (layout.samples(ucf, 1, s) for s in ("train", "test"))
    assert [(s.label, s.class_name, s.meta["group"]) for s in train] == [
        (0, "ApplyEyeMakeup", 8), (1, "HandstandPushups", 8), (2, "YoYo", 8), (2, "YoYo", 9)]
    assert [s.label for s in test] == [0, 1, 2, 2]  # labels from the folders
    assert test[1].path.name == "v_HandStandPushups_g01_c01.avi" and test[1].path.is_file()
    assert missing(train) == [ucf / "UCF-101/YoYo/v_YoYo_g09_c01.avi"]
    assert test[0].meta["list"].endswith("testlist01.txt:1")


def test_ucf101_loader_decodes_good_files_and_skips_bad_ones(ucf):
    test = ucf101_split(ucf / "UCF-101", ucf / "ucfTrainTestlist", 1, "test")
    dataset = VideoDataset(test, central())
    items = [dataset[i] for i in range(len(test))]
    assert [type(i) for i in items] == [Item, Item, Skipped, Skipped]
    assert items[2].reason == "zero-byte file" and items[2].path.endswith("v_YoYo_g01_c01.avi")
    assert items[3].reason.startswith("cannot open")
    clip = items[0].views[0]  # the one view: (C, T, H, W)
    assert [decoded_index(clip[:, t]) for t in range(8)] == list(range(6, 14))  # centre of 20 frames


def test_ucf101_check_counts_problems_and_audio(ucf):
    report = check_dataset("ucf101", ucf, splits=[1], workers=0)
    assert not report.ok
    train, test = report.subsets
    assert (train["samples"], train["classes"], train["missing"], train["unreadable"]) == (4, 3, 1, 0)
    assert (test["samples"], test["missing"], test["unreadable"]) == (4, 0, 2)
    assert (test["with_audio"], test["without_audio"]) == (2, 0)
    assert (train["with_audio"], train["without_audio"]) == (2, 1)
    assert "3 of 8 files missing or unreadable" in report.problems[0]
    assert check_dataset("ucf101", ucf, splits=[1], workers=0, tolerate=0.5).ok


def test_ucf101_audio_subset_relabels_and_matches_case(ucf):
    notes = ucf / "ucfTrainTestlist"
    train = ucf101_audio51(ucf / "UCF-101", notes, 1, "train", classes=("ApplyEyeMakeup", "HandStandPushups"))
    assert [(s.label, s.class_name) for s in train] == [(0, "ApplyEyeMakeup"), (1, "HandStandPushups")]
    with pytest.raises(DataError, match="classInd.txt: classes: every class of the audio subset; missing ApplyLip"):
        ucf101_audio51(ucf / "UCF-101", notes, 1, "train")


def test_hmdb51_classes_sort_by_name_not_by_file_name(tmp_path):
    names = ["climb", "climb_stairs", "kick", "kick_ball", "sword", "sword_exercise"]
    for name in names:
        (tmp_path / f"{name}_test_split1.txt").write_text(f"{name}_1.avi 1\n")
    train = get_layout("hmdb51").samples(tmp_path, 1, "train", annotations=tmp_path)
    assert [(s.label, s.class_name) for s in train] == list(enumerate(names))


def test_hmdb51_tags_and_a_video_without_audio(tmp_path):
    notes, videos = tmp_path / "testTrainMulti_7030_splits", tmp_path / "hmdb51"
    notes.mkdir()
    for name in ("brush_hair", "cartwheel"):
        (notes / f"{name}_test_split1.txt").write_text(f"{name}_a.avi 1 \n{name}_b.avi 2 \n{name}_c.avi 0 \n")
        for v in "abc":
            write_video(videos / name / f"{name}_{v}.avi", audio_hz=None if name == "cartwheel" else 300.0, **SMALL)
    report = check_dataset("hmdb51", tmp_path, splits=[1], workers=0)
    assert report.ok, report.problems
    assert [(s["subset"], s["samples"], s["classes"]) for s in report.subsets] == [("train", 2, 2), ("test", 2, 2)]
    assert report.as_json()["files"]["without_audio"] == 2  # cartwheel's train and test videos


@pytest.fixture
def kinetics_tree(tmp_path):
    notes, videos = tmp_path / "annotations", tmp_path / "videos"
    notes.mkdir()
    (notes / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        '"passing American football (in game)",aaa,10,20,train,0\n'
        "abseiling,bbb,0,10,train,0\nabseiling,ccc,5,15,train,0\n")
    (notes / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\nabseiling,ddd,30,40,val\n")
    (notes / "test.csv").write_text("youtube_id,time_start,time_end,split\neee,1,11,test\n")
    write_video(videos / "train" / "passing American football (in game)" / "aaa_000010_000020.mp4", **SMALL)
    write_video(videos / "train" / "bbb_000000_000010.mp4", **SMALL)  # flat, as in the CVDF tarballs
    write_video(videos / "val" / "ddd_000030_000040.mp4", **SMALL)
    write_video(videos / "test" / "eee_000001_000011.mp4", **SMALL)
    return tmp_path


def test_kinetics_csvs_trimmed_names_and_unlabelled_test(kinetics_tree):
    videos, notes = kinetics_tree / "videos", kinetics_tree / "annotations"
    train = kinetics(videos, notes, "train")
    assert [(s.label, s.class_name) for s in train] == [(1, "passing American football (in game)"),
                                                        (0, "abseiling"), (0, "abseiling")]
    assert train[1].path == videos / "train" / "bbb_000000_000010.mp4"
    assert missing(train) == [videos / "train" / "abseiling" / "ccc_000005_000015.mp4"]
    test = kinetics(videos, notes, "test")
    assert (test[0].label, test[0].class_name, test[0].path.is_file()) == (None, None, True)
    item = VideoDataset(test, central())[0]
    assert isinstance(item, Item) and item.label == -1
    report = check_dataset("kinetics400", kinetics_tree, workers=0)
    assert [(s["subset"], s["samples"], s["missing"], s["unlabelled"]) for s in report.subsets] == [
        ("train", 3, 1, 0), ("val", 1, 0, 0), ("test", 1, 0, 1)]
    (notes / "test.csv").unlink()  # many downloads have no test list: a note, not a broken layout
    report = check_dataset("kinetics400", kinetics_tree, workers=0, tolerate=0.5)
    assert report.ok and [s["subset"] for s in report.subsets] == ["train", "val"]
    assert report.notes[0].startswith("split 1 test: no list")
    with pytest.raises(DataError, match="test annotations: a file named test.csv"):
        check_dataset("kinetics400", kinetics_tree, workers=0, subsets=["test"])
    (notes / "validate.csv").write_text("label,youtube_id,time_start,time_end,split\nyodelling,ddd,30,40,val\n")
    with pytest.raises(DataError, match=r"validate.csv:2: label: one of the 2 classes of train.csv"):
        kinetics(videos, notes, "val")


def test_mini_kinetics_joins_ids_with_the_kinetics_csvs(kinetics_tree):
    videos, notes = kinetics_tree / "videos", kinetics_tree / "annotations"
    (notes / "train_ytid_list.txt").write_text("bbb\naaa\n")
    (notes / "val_ytid_list.txt").write_text("ddd\n")
    train = mini_kinetics200(videos, notes, notes, "train")
    assert [(s.label, s.class_name, s.path.is_file()) for s in train] == [
        (0, "abseiling", True), (1, "passing American football (in game)", True)]
    assert [s.label for s in get_layout("mini_kinetics200").samples(kinetics_tree, 1, "val")] == [0]
    (notes / "val_ytid_list.txt").write_text("ddd\nzzz\n")
    val = mini_kinetics200(videos, notes, notes, "val")
    assert [s.meta.get("missing_annotation") for s in val] == [
        None, "val_ytid_list.txt:2: zzz is in no Kinetics-400 train/val CSV"]
    item = VideoDataset(val, central())[1]
    assert isinstance(item, Skipped) and item.reason.startswith("missing annotation: val_ytid_list.txt:2: zzz")


def test_an_id_the_csvs_lack_is_a_missing_annotation_and_never_aborts_another_subset(kinetics_tree):
    notes = kinetics_tree / "annotations"
    (notes / "train_ytid_list.txt").write_text("bbb\nqqq\naaa\n")  # qqq: in no CSV
    (notes / "val_ytid_list.txt").write_text("ddd\n")
    report = check_dataset("mini_kinetics200", kinetics_tree, subsets=["val"], workers=0)
    assert report.ok and [(s["subset"], s["samples"]) for s in report.subsets] == [("val", 1)]
    report = check_dataset("mini_kinetics200", kinetics_tree, workers=0, tolerate=0.5)
    assert [(s["subset"], s["samples"], s["classes"]) for s in report.subsets] == [("train", 3, 2), ("val", 1, 1)]
    assert [f["reason"] for f in report.as_json()["files"]["unreadable"]] == [
        "missing annotation: train_ytid_list.txt:2: qqq is in no Kinetics-400 train/val CSV"]


def write_frames(folder, count: int, template: str = "{:05d}.jpg") -> None:
    import cv2

    folder.mkdir(parents=True)
    for i in range(count):
        image = np.empty((24, 32, 3), np.uint8)
        image[:] = frame_colour(i)[::-1]  # cv2 writes BGR
        cv2.imwrite(str(folder / template.format(i + 1)), image)


def test_something_something_v1_frame_folders(tmp_path):
    notes, frames = tmp_path / "annotations", tmp_path / "20bn-something-something-v1"
    notes.mkdir()
    push = "Pushing something from left to right"  # listed first: the class index is the line order, not sorted
    (notes / "something-something-v1-labels.csv").write_text(f"{push}\nHolding something\n")
    (notes / "something-something-v1-train.csv").write_text(f"1;{push}\n2;Holding something\n")
    (notes / "something-something-v1-validation.csv").write_text("3;Holding something\n")
    (notes / "something-something-v1-test.csv").write_text("4\n")
    write_frames(frames / "1", 20)
    write_frames(frames / "3", 5)
    write_frames(frames / "4", 12)
    train = sthv1(frames, notes, "train")
    assert [(s.path.name, s.label) for s in train] == [("1", 0), ("2", 1)]
    assert missing(train) == [frames / "2"]
    assert sthv1(frames, notes, "test")[0].label is None
    dataset = VideoDataset(sthv1(frames, notes, "val"), central(), frames=True)
    clip = dataset[0].views[0]
    assert [decoded_index(clip[:, t]) for t in range(8)] == [0, 1, 2, 3, 4, 0, 1, 2]  # loop-padded
    report = check_dataset("sthv1", tmp_path, workers=0)
    assert [(s["subset"], s["samples"], s["missing"]) for s in report.subsets] == [
        ("train", 2, 1), ("val", 1, 0), ("test", 1, 0)]
    (notes / "something-something-v1-train.csv").write_text("1;Juggling\n")
    with pytest.raises(DataError, match=r"train.csv:1: label: a class of something-something-v1-labels.csv"):
        sthv1(frames, notes, "train")


def test_mmaction2_video_and_rawframe_lists(tmp_path):
    write_video(tmp_path / "clips" / "a.mp4", **SMALL)
    write_frames(tmp_path / "frames" / "a", 9, template="img_{:05d}.jpg")  # MMAction2's file names
    (tmp_path / "videos.txt").write_text("clips/a.mp4 3\nclips/b.mp4 0\n")
    (tmp_path / "frames.txt").write_text("frames/a 9 1\n")
    videos = mmaction_videos(tmp_path, tmp_path / "videos.txt")
    assert [(s.path.name, s.label) for s in videos] == [("a.mp4", 3), ("b.mp4", 0)]
    assert missing(videos) == [tmp_path / "clips" / "b.mp4"]
    raw = mmaction_rawframes(tmp_path, tmp_path / "frames.txt", classes=["x", "y"])
    assert (raw[0].label, raw[0].class_name, raw[0].meta["total_frames"]) == (1, "y", 9)
    report = check_dataset("mmaction_rawframes", tmp_path, annotations=tmp_path / "frames.txt", workers=0)
    assert report.ok and report.as_json()["files"]["total"] == 1
    layout = get_layout("mmaction_rawframes")
    item = VideoDataset(raw, central(), frames=True, frame_template=layout.frame_template)[0]
    assert [decoded_index(item.views[0][:, t]) for t in range(8)] == list(range(8))  # centre of 9: start 4 - 4
    (tmp_path / "bad.txt").write_text("frames/a nine 1\n")
    with pytest.raises(DataError, match=r"bad.txt:1: line: '<frame folder> <total frames> <label>'"):
        mmaction_rawframes(tmp_path, tmp_path / "bad.txt")



@pytest.mark.parametrize("reader, line, error", [
    (mmaction_videos, "test.mp4 0 3", "1: line: '<video path> <label>' with one label; this line has 2 (0 3), "
                                      "MMAction2's multi_class form"),
    (mmaction_videos, "my clip.mp4 3", "1: line: '<video path> <label>', with no spaces in the path"),
    (mmaction_videos, "test.mp4", "1: line: '<video path> <label>', got no label"),
    (mmaction_rawframes, "imgs 2 5 127", "1: line: '<frame folder> <total frames> <label>'; 4 fields read as "
                                         "MMAction2's with_offset form"),
    (mmaction_rawframes, "imgs 5 1 3 5", "this line has 3 (1 3 5), MMAction2's multi_class form"),
])
def test_mmaction2_list_variants_are_refused_by_name_never_misread_as_paths(tmp_path, reader, line, error):
    (tmp_path / "list.txt").write_text(line + "\n")
    with pytest.raises(DataError, match=re.escape(error)):
        reader(tmp_path, tmp_path / "list.txt")


def test_mmaction2_rawframes_with_offsets_read_the_clip_of_a_long_video(tmp_path):
    write_frames(tmp_path / "long", 20, template="img_{:05d}.jpg")
    (tmp_path / "list.txt").write_text("long 2 9 1\n")  # frames 3..11 of the folder
    layout = get_layout("mmaction_rawframes_offset")
    raw = layout.samples(tmp_path, 1, "all", annotations=tmp_path / "list.txt")
    assert (raw[0].label, raw[0].meta["offset"], raw[0].meta["total_frames"]) == (1, 2, 9)
    item = VideoDataset(raw, central(), frames=True, frame_template=layout.frame_template)[0]
    assert [decoded_index(item.views[0][:, t]) for t in range(8)] == list(range(2, 10))
    (tmp_path / "list.txt").write_text("long 9 1\n")
    with pytest.raises(DataError, match="1: line: '<frame folder> <start offset> <total frames> <label>'"):
        layout.samples(tmp_path, 1, "all", annotations=tmp_path / "list.txt")


def test_every_layout_is_named_and_has_a_reader():
    assert set(LAYOUTS) == {"ucf101", "ucf101_audio51", "hmdb51", "kinetics400", "kinetics600", "mini_kinetics200",
                            "sthv1", "mmaction_videos", "mmaction_rawframes", "mmaction_rawframes_offset"}
    with pytest.raises(ValueError, match="known: ucf101"):
        get_layout("ucf-101")
