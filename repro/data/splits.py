"""UCF101 and HMDB51 split files in their standard layouts (../shared/notes/sources.md "Dataset layouts").

Each reader returns `Sample`s (path, 0-based label, class name, metadata) for one split and subset,
and raises DataError naming the file and line of anything malformed. They decide which files belong
to a split and what their labels are; decoding is `decode.py`'s job.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import DataError

SUBSETS = ("train", "test")


@dataclass(frozen=True)
class Sample:
    """One video (a file, or a folder of frames) with its 0-based label; label None when unlabelled."""

    path: Path
    label: int | None
    class_name: str | None
    meta: dict = field(default_factory=dict, compare=False, hash=False)


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-empty lines with their numbers; UCF101's files end lines in CRLF."""
    if not path.is_file():
        raise DataError(path, None, "split file", "an existing file (is --root the dataset's folder?)")
    text = path.read_text(encoding="utf-8-sig")
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _check_split(split: int, subset: str) -> None:
    if split not in (1, 2, 3):
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {', '.join(SUBSETS)}, got {subset!r}")


def ucf101_classes(annotations: Path) -> list[str]:
    """classInd.txt: `1 ApplyEyeMakeup` per line, 1-based and in order."""
    path = Path(annotations) / "classInd.txt"
    names = []
    for number, line in _lines(path):
        match = re.fullmatch(r"(\d+)\s+(\S+)", line)
        if not match or int(match.group(1)) != len(names) + 1:
            raise DataError(path, number, "classInd", f"'{len(names) + 1} ClassName', got {line!r}")
        names.append(match.group(2))
    return names


def ucf101_split(root: Path, annotations: Path, split: int = 1, subset: str = "train") -> list[Sample]:
    """UCF101 `trainlist0{split}.txt` (path and 1-based label) or `testlist0{split}.txt` (path only).

    The label of a test line comes from its folder. Class names are matched case-insensitively: the
    folder HandstandPushups holds v_HandStandPushups_* files and classInd.txt spells it one way only.
    """
    _check_split(split, subset)
    classes = ucf101_classes(annotations)
    by_lower = {name.lower(): index for index, name in enumerate(classes)}
    path = Path(annotations) / f"{subset}list0{split}.txt"
    items = []
    for number, line in _lines(path):
        parts = line.split()
        relative = parts[0]
        folder = relative.split("/")[0]
        if folder.lower() not in by_lower or "/" not in relative:
            raise DataError(path, number, "video",
                            f"'<Class>/<video>.avi' with a class of classInd.txt, got {line!r}")
        label = by_lower[folder.lower()]
        if len(parts) > 1:
            if not parts[1].isdigit() or int(parts[1]) - 1 != label:
                raise DataError(path, number, "label",
                                f"{label + 1} (the class of folder {folder}), got {parts[1]!r}")
        group = re.search(r"_g(\d+)_c\d+", relative)
        meta = {"list": f"{path}:{number}", "group": int(group.group(1)) if group else None}
        items.append(Sample(Path(root) / relative, label, classes[label], meta))
    return items


def hmdb51_split(root: Path, annotations: Path, split: int = 1, subset: str = "train") -> list[Sample]:
    """HMDB51 `<class>_test_split{split}.txt` files: `<video>.avi <tag>`, 1 = train, 2 = test, 0 = unused.

    Classes are the sorted class names of the split files, the usual 0-based HMDB51 label order.
    """
    _check_split(split, subset)
    wanted = "1" if subset == "train" else "2"
    suffix = f"_test_split{split}.txt"
    # Sorted by class name, not file name: "climb_stairs_test..." sorts before "climb_test...", but
    # the class order (MMAction2's classInd, sorted class folders) has climb before climb_stairs.
    files = sorted(Path(annotations).glob(f"*{suffix}"), key=lambda p: p.name[: -len(suffix)])
    if not files:
        raise DataError(Path(annotations), None, "split files", f"<class>{suffix} files")
    items = []
    for label, path in enumerate(files):
        class_name = path.name[: -len(suffix)]
        for number, line in _lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataError(path, number, "line", f"'<video>.avi <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                meta = {"list": f"{path}:{number}"}
                items.append(Sample(Path(root) / class_name / parts[0], label, class_name, meta))
    return items


def missing(items: list[Sample]) -> list[Path]:
    """The videos (files or frame folders) a split names that are not on disk."""
    return [item.path for item in items if not item.path.exists()]


# The 51 UCF101 classes with sound that MAiVAR uses (GeWu-Lab/cross-modal-distillation
# datasets/ucf_51/annotation.json, ../shared/notes/sources.md "MAiVAR"), in that file's order.
UCF101_AUDIO51 = (
    "ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching", "BasketballDunk",
    "BlowDryHair", "BlowingCandles", "BodyWeightSquats", "Bowling", "BoxingPunchingBag", "BoxingSpeedBag",
    "BrushingTeeth", "CliffDiving", "CricketBowling", "CricketShot", "CuttingInKitchen", "FieldHockeyPenalty",
    "FloorGymnastics", "FrisbeeCatch", "FrontCrawl", "Haircut", "HammerThrow", "Hammering", "HandStandPushups",
    "HandstandWalking", "HeadMassage", "IceDancing", "Knitting", "LongJump", "MoppingFloor", "ParallelBars",
    "PlayingCello", "PlayingDaf", "PlayingDhol", "PlayingFlute", "PlayingSitar", "Rafting", "ShavingBeard", "Shotput",
    "SkyDiving", "SoccerPenalty", "StillRings", "SumoWrestling", "Surfing", "TableTennisShot", "Typing",
    "UnevenBars", "WallPushups", "WritingOnBoard",
)


def ucf101_audio51(root: Path, annotations: Path, split: int = 1, subset: str = "train",
                   classes: tuple[str, ...] = UCF101_AUDIO51) -> list[Sample]:
    """MAiVAR's 51-class UCF101 audio subset: the UCF101 split restricted to `classes`, relabelled 0..50.

    MAiVAR Sec. IV-A reports 51 classes, 4,893 train and 1,944 test videos (split 1); the public subset
    list has 4,892 train, and UCF101's own split 1 lists give 4,901 and 1,944 here. Classes match
    case-insensitively: the authors' code loses HandStandPushups to the case trap and trains on 50
    (../shared/notes/sources.md "MAiVAR"). Whether each video really has an audio track is for the decoder
    to say (`repro data check` counts them).
    """
    all_classes = {name.lower() for name in ucf101_classes(annotations)}
    absent = [name for name in classes if name.lower() not in all_classes]
    if absent:
        raise DataError(Path(annotations) / "classInd.txt", None, "classes",
                        f"every class of the audio subset; missing {', '.join(absent)}")
    wanted = {name.lower(): index for index, name in enumerate(classes)}
    return [Sample(item.path, wanted[item.class_name.lower()], classes[wanted[item.class_name.lower()]], item.meta)
            for item in ucf101_split(root, annotations, split, subset) if item.class_name.lower() in wanted]
