"""Something-Something v1 and MMAction2's video and rawframe lists (../shared/notes/sources.md "Dataset layouts").

Something-Something v1: JPEG frames in `<root>/<id>/00001.jpg`; `something-something-v1-labels.csv`
has one class per line (the class index is the line order); the train and validation CSVs have
`<id>;<class text>` lines, the test CSV `<id>` only. MMAction2 lists: videos `<path> <label>`,
rawframes `<dir> <total_frames> <label>`, paths relative to a data prefix.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .splits import Sample

SSV1_FILES = {"labels": "labels.csv", "train": "train.csv", "val": "validation.csv", "test": "test.csv"}


def _numbered_lines(path: Path, what: str) -> list[tuple[int, str]]:
    if not path.is_file():
        raise DataError(path, None, what, "an existing file")
    text = path.read_text(encoding="utf-8-sig").splitlines()
    return [(n, line.strip()) for n, line in enumerate(text, start=1) if line.strip()]


def _ssv1_file(annotations: Path, key: str) -> Path:
    """`something-something-v1-<name>` as released, or the bare `<name>`."""
    for name in (f"something-something-v1-{SSV1_FILES[key]}", SSV1_FILES[key]):
        if (Path(annotations) / name).is_file():
            return Path(annotations) / name
    return Path(annotations) / f"something-something-v1-{SSV1_FILES[key]}"


def sthv1_classes(annotations: Path) -> list[str]:
    return [line for _, line in _numbered_lines(_ssv1_file(annotations, "labels"), "labels")]


def sthv1(root: Path, annotations: Path, subset: str = "train") -> list[Sample]:
    """Something-Something v1 frame folders of one subset; test lines (id only) get label None."""
    if subset not in ("train", "val", "test"):
        raise ValueError(f"subset must be train, val or test, got {subset!r}")
    classes = sthv1_classes(annotations)
    index = {name: i for i, name in enumerate(classes)}
    path, items = _ssv1_file(annotations, subset), []
    for line, text in _numbered_lines(path, f"{subset} list"):
        video_id, _, label = text.partition(";")
        if not video_id.isdigit():
            raise DataError(path, line, "video id", f"a numeric folder name, got {video_id!r}")
        if subset != "test" and label not in index:
            raise DataError(path, line, "label", f"a class of {_ssv1_file(annotations, 'labels').name}, got {label!r}")
        items.append(Sample(Path(root) / video_id, index.get(label), label or None, {"list": f"{path}:{line}"}))
    return items


def _label(path: Path, line: int, text: str) -> int:
    if not text.isdigit():
        raise DataError(path, line, "label", f"a 0-based integer class index, got {text!r}")
    return int(text)


def _class_names(classes: list[str] | None, label: int, path: Path, line: int) -> str | None:
    if classes is None:
        return None
    if label >= len(classes):
        raise DataError(path, line, "label", f"an index below the {len(classes)} class names given, got {label}")
    return classes[label]


def mmaction_videos(root: Path, list_file: Path, classes: list[str] | None = None) -> list[Sample]:
    """An MMAction2 video list: `<path relative to root> <label>` per line."""
    list_file, items = Path(list_file), []
    for line, text in _numbered_lines(list_file, "video list"):
        parts = text.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise DataError(list_file, line, "line", f"'<video path> <label>', got {text!r}")
        label = _label(list_file, line, parts[1])
        items.append(Sample(Path(root) / parts[0], label, _class_names(classes, label, list_file, line),
                            {"list": f"{list_file}:{line}"}))
    return items


def mmaction_rawframes(root: Path, list_file: Path, classes: list[str] | None = None) -> list[Sample]:
    """An MMAction2 rawframe list: `<frame folder> <total frames> <label>` per line."""
    list_file, items = Path(list_file), []
    for line, text in _numbered_lines(list_file, "rawframe list"):
        parts = text.rsplit(maxsplit=2)
        if len(parts) != 3 or not parts[1].isdigit():
            raise DataError(list_file, line, "line", f"'<frame folder> <total frames> <label>', got {text!r}")
        label = _label(list_file, line, parts[2])
        items.append(Sample(Path(root) / parts[0], label, _class_names(classes, label, list_file, line),
                            {"list": f"{list_file}:{line}", "total_frames": int(parts[1])}))
    return items
