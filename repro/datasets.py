"""Dataset split files in their standard layouts: UCF101 and HMDB51 (../shared/notes/sources.md).

Each reader returns `VideoItem`s (path, 0-based label, class name) for one split and subset, and
raises DataError naming the file and line of anything malformed. Decoding and sampling come later
(issue 4); these readers only decide which files belong to a split and what their labels are.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError

SUBSETS = ("train", "test")


@dataclass(frozen=True)
class VideoItem:
    path: Path
    label: int
    class_name: str


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


def ucf101_split(root: Path, annotations: Path, split: int = 1, subset: str = "train") -> list[VideoItem]:
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
        items.append(VideoItem(Path(root) / relative, label, classes[label]))
    return items


def hmdb51_split(root: Path, annotations: Path, split: int = 1, subset: str = "train") -> list[VideoItem]:
    """HMDB51 `<class>_test_split{split}.txt` files: `<video>.avi <tag>`, 1 = train, 2 = test, 0 = unused.

    Classes are the sorted class names of the split files, the usual 0-based HMDB51 label order.
    """
    _check_split(split, subset)
    wanted = "1" if subset == "train" else "2"
    files = sorted(Path(annotations).glob(f"*_test_split{split}.txt"))
    if not files:
        raise DataError(Path(annotations), None, "split files", f"<class>_test_split{split}.txt files")
    items = []
    for label, path in enumerate(files):
        class_name = path.name[: -len(f"_test_split{split}.txt")]
        for number, line in _lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise DataError(path, number, "line", f"'<video>.avi <0|1|2>', got {line!r}")
            if parts[1] == wanted:
                items.append(VideoItem(Path(root) / class_name / parts[0], label, class_name))
    return items


def missing(items: list[VideoItem]) -> list[Path]:
    """The videos a split names that are not on disk."""
    return [item.path for item in items if not item.path.is_file()]
