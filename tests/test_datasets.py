"""UCF101 and HMDB51 split files, in the layouts users have (CRLF, the HandStandPushups case trap)."""
from __future__ import annotations

import pytest

from repro.data.splits import hmdb51_split, missing, ucf101_split
from repro.errors import DataError


@pytest.fixture
def ucf(tmp_path):
    notes = tmp_path / "ucfTrainTestlist"
    notes.mkdir()
    (notes / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n")
    (notes / "trainlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nHandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n")
    (notes / "testlist01.txt").write_bytes(b"HandStandPushups/v_HandStandPushups_g01_c01.avi\r\n")
    videos = tmp_path / "UCF-101" / "ApplyEyeMakeup"
    videos.mkdir(parents=True)
    (videos / "v_ApplyEyeMakeup_g08_c01.avi").write_bytes(b"")
    return tmp_path / "UCF-101", notes


def test_ucf101_train_and_test_with_crlf_and_the_case_trap(ucf):
    root, notes = ucf
    train = ucf101_split(root, notes, 1, "train")
    assert [(i.label, i.class_name) for i in train] == [(0, "ApplyEyeMakeup"), (1, "HandstandPushups")]
    test = ucf101_split(root, notes, 1, "test")
    assert test[0].label == 1 and test[0].path.name == "v_HandStandPushups_g01_c01.avi"
    assert missing(train) == [root / "HandstandPushups/v_HandStandPushups_g08_c01.avi"]


def test_ucf101_label_that_contradicts_its_folder_is_named(ucf):
    root, notes = ucf
    (notes / "trainlist02.txt").write_text("ApplyEyeMakeup/v_x.avi 2\n")
    with pytest.raises(DataError, match=r"trainlist02.txt:1: label: 1 \(the class of folder ApplyEyeMakeup\)"):
        ucf101_split(root, notes, 2, "train")
    with pytest.raises(DataError, match="testlist03.txt: split file"):
        ucf101_split(root, notes, 3, "test")
    with pytest.raises(ValueError, match="split must be"):
        ucf101_split(root, notes, 4)


def test_hmdb51_tags_select_train_and_test(tmp_path):
    for name, lines in (("brush_hair", "a.avi 1\nb.avi 2\nc.avi 0\n"), ("cartwheel", "d.avi 2\n")):
        (tmp_path / f"{name}_test_split1.txt").write_text(lines)
    train = hmdb51_split(tmp_path / "videos", tmp_path, 1, "train")
    test = hmdb51_split(tmp_path / "videos", tmp_path, 1, "test")
    assert [(i.path.name, i.label) for i in train] == [("a.avi", 0)]
    expected = [("b.avi", 0, "brush_hair"), ("d.avi", 1, "cartwheel")]
    assert [(i.path.name, i.label, i.class_name) for i in test] == expected
    (tmp_path / "cartwheel_test_split2.txt").write_text("d.avi 3\n")
    with pytest.raises(DataError, match=r"cartwheel_test_split2.txt:1: line"):
        hmdb51_split(tmp_path, tmp_path, 2, "train")
