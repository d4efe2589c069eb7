"""Something-Something v1 and MMAction2's video and rawframe lists (../shared/notes/sources.md "Dataset layouts").

Something-Something v1: JPEG frames in `<root>/<id>/00001.jpg`; `something-something-v1-labels.csv`
has one class per line (the class index is the line order); the train and validation CSVs have
`<id>;<class text>` lines, the test CSV `<id>` only. MMAction2 lists: videos `<path> <label>`,
rawframes `<dir> <total_frames> <label>` or `<dir> <offset> <total_frames> <label>`, paths relative to
a data prefix, each line split on whitespace.
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


def _labels(path: Path, line: int, tokens: list[str], form: str) -> int:
    """The one label of a line; a multi-class line (several labels) names its count and why it cannot be used."""
    if not tokens:
        raise DataError(path, line, "line", f"{form}, got no label")
    if len(tokens) > 1:
        if all(t.isdigit() for t in tokens):
            raise DataError(path, line, "line", f"{form} with one label; this line has {len(tokens)} "
                            f"({' '.join(tokens)}), MMAction2's multi_class form, which the single-label training "
                            f"here cannot use")
        raise DataError(path, line, "line", f"{form}, with no spaces in the path (MMAction2 splits lines on "
                        f"whitespace), got {' '.join(tokens)!r} after the path")
    return _label(path, line, tokens[0])


def mmaction_videos(root: Path, list_file: Path, classes: list[str] | None = None) -> list[Sample]:
    """An MMAction2 video list: `<path relative to root> <label>` per line, split on whitespace as
    open-mmlab/mmaction2 mmaction/datasets/video_dataset.py reads it; a multi-class line fails, naming it."""
    list_file, items, form = Path(list_file), [], "'<video path> <label>'"
    for line, text in _numbered_lines(list_file, "video list"):
        tokens = text.split()
        label = _labels(list_file, line, tokens[1:], form)
        items.append(Sample(Path(root) / tokens[0], label, _class_names(classes, label, list_file, line),
                            {"list": f"{list_file}:{line}"}))
    return items


def mmaction_rawframes(root: Path, list_file: Path, classes: list[str] | None = None, *,
                       with_offset: bool = False) -> list[Sample]:
    """An MMAction2 rawframe list: `<frame folder> <total frames> <label>` per line, or with `with_offset`
    `<frame folder> <start offset> <total frames> <label>` (clips of long videos), as
    open-mmlab/mmaction2 mmaction/datasets/rawframe_dataset.py reads them. The offset and total are kept
    in the sample's meta and the loader reads frames offset+1 .. offset+total. A line whose fields fit
    the other form, or several labels, fails naming which form it looks like."""
    list_file, items = Path(list_file), []
    counts = 2 if with_offset else 1
    form = ("'<frame folder> <start offset> <total frames> <label>'" if with_offset
            else "'<frame folder> <total frames> <label>'")
    for line, text in _numbered_lines(list_file, "rawframe list"):
        tokens = text.split()
        numbers = tokens[1:1 + counts]
        if len(numbers) < counts or not all(n.isdigit() for n in numbers):
            raise DataError(list_file, line, "line", f"{form}, got {text!r}")
        rest = tokens[1 + counts:]
        if not with_offset and len(rest) == 2 and all(t.isdigit() for t in rest):
            raise DataError(list_file, line, "line", f"{form}; 4 fields read as MMAction2's with_offset form "
                            f"('<folder> <offset> <total> <label>': use the layout mmaction_rawframes_offset) or "
                            f"as 2 labels (multi_class, which single-label training cannot use), got {text!r}")
        label = _labels(list_file, line, rest, form)
        meta = {"list": f"{list_file}:{line}", "total_frames": int(numbers[-1])}
        if with_offset:
            meta["offset"] = int(numbers[0])
        items.append(Sample(Path(root) / tokens[0], label, _class_names(classes, label, list_file, line), meta))
    return items
