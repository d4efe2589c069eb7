"""`repro data synth` and `repro data check` on a synthetic UCF101 tree, intact and broken."""
from __future__ import annotations

import json
import os

import pytest
from videos import stalling_probe

from repro.cli import main
from repro.data.check import probe_all


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    assert main(["data", "synth", "--layout", "ucf101", "--out", str(out)]) == 0
    return out


def check_json(capsys, *args: str) -> tuple[int, dict, str]:
    capsys.readouterr()
    code = main(["data", "check", "--json", *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_check_counts_a_synthetic_ucf101_tree(tree, capsys):
    truth = json.loads((tree / "synth.json").read_text())
    code, report, _ = check_json(capsys, "--layout", "ucf101", "--root", str(tree), "--workers", "0")
    assert code == 0 and report["ok"] and report["problems"] == []
    videos = truth["videos"]
    for split in (1, 2, 3):
        rows = {s["subset"]: s for s in report["subsets"] if s["split"] == split}
        for subset in ("train", "test"):
            expected = [v for v in videos if v["splits"][str(split)] == subset]
            assert rows[subset]["samples"] == len(expected) > 0
            assert rows[subset]["classes"] == len({v["class_name"] for v in expected}) == 8
            assert rows[subset]["with_audio"] == sum(v["has_audio"] for v in expected)
            assert rows[subset]["missing"] == rows[subset]["unreadable"] == 0
    files = report["files"]
    assert files["total"] == len(videos) and files["unreadable"] == []
    assert files["with_audio"] == sum(v["has_audio"] for v in videos)
    assert files["without_audio"] == sum(not v["has_audio"] for v in videos) > 0


def test_check_fails_clearly_on_a_broken_tree(tree, tmp_path, capsys):
    broken = tmp_path / "broken"
    os.symlink(tree / "ucfTrainTestlist", tmp_path / "lists")
    videos = sorted((tree / "UCF-101").rglob("*.avi"))
    for video in videos:
        target = broken / "UCF-101" / video.relative_to(tree / "UCF-101")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(video.read_bytes())
    first, second, third = (broken / "UCF-101" / v.relative_to(tree / "UCF-101") for v in videos[:3])
    first.unlink()
    second.write_bytes(b"")
    third.write_bytes(third.read_bytes()[:200])
    code, report, err = check_json(capsys, "--layout", "ucf101", "--root", str(broken),
                                   "--annotations", str(tmp_path / "lists"), "--workers", "2")
    assert code == 1 and not report["ok"]
    assert f"3 of {len(videos)} files missing or unreadable" in err
    reasons = {r["path"]: r["reason"] for r in report["files"]["unreadable"]}
    assert reasons[str(first)] == "missing file" and reasons[str(second)] == "zero-byte file"
    assert reasons[str(third)].startswith("cannot open")
    code, _, _ = check_json(capsys, "--layout", "ucf101", "--root", str(broken), "--annotations",
                            str(tmp_path / "lists"), "--workers", "0", "--tolerate", "0.1")
    assert code == 0


def test_check_without_split_files_names_the_file(tmp_path, capsys):
    assert main(["data", "check", "--layout", "hmdb51", "--root", str(tmp_path)]) == 2
    assert "testTrainMulti_7030_splits: split files" in capsys.readouterr().err
    assert main(["data", "check", "--layout", "ucf101", "--root", str(tmp_path), "--split", "4"]) == 2
    assert "ucf101 has splits 1, 2, 3, not 4" in capsys.readouterr().err


def test_a_stalled_file_is_reported_not_waited_for(tmp_path):
    paths = [str(tmp_path / name) for name in ("a.avi", "stall.avi", "b.avi", "c.avi")]
    results = probe_all(paths, False, workers=1, timeout=3.0, probe_fn=stalling_probe)
    assert results == {paths[0]: {"frames": 1}, paths[1]: {"error": "decoding stalled for more than 3 s"},
                       paths[2]: {"frames": 1}, paths[3]: {"frames": 1}}
