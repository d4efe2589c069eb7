"""Kinetics-400/600 from the CSV annotations, and Mini-Kinetics-200 from its YouTube-id lists.

Facts from ../shared/notes/sources.md "Dataset layouts": the CSVs have `label,youtube_id,time_start,
time_end,split` (newer K400 CSVs add `is_cc`; test CSVs may have no label); trimmed clips are named
`{youtube_id}_{start:06d}_{end:06d}.mp4`; Mini-Kinetics-200 (s9xie/Mini-Kinetics-200) lists only
YouTube ids, 80,000 train and 5,000 val, labelled by joining with the Kinetics-400 CSVs.
Clips are found by name anywhere under the video root, since downloads differ in whether they keep
class folders and which extension they use; a clip the CSV names and the disk lacks keeps its
expected path so `missing()` reports it.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from ..errors import DataError
from .splits import Sample

SUBSET_FILES = {"train": ("train.csv",), "val": ("validate.csv", "val.csv"), "test": ("test.csv",)}
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")


def _subset_file(annotations: Path, subset: str) -> Path:
    if subset not in SUBSET_FILES:
        raise ValueError(f"subset must be one of {', '.join(SUBSET_FILES)}, got {subset!r}")
    for name in SUBSET_FILES[subset]:
        if (Path(annotations) / name).is_file():
            return Path(annotations) / name
    names = " or ".join(SUBSET_FILES[subset])
    raise DataError(Path(annotations), None, f"{subset} annotations", f"a file named {names}")


def read_csv(path: Path) -> list[tuple[int, dict]]:
    """Rows of a Kinetics CSV with their line numbers, checking the header."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        needed = {"youtube_id", "time_start", "time_end"}
        if not reader.fieldnames or not needed <= set(reader.fieldnames):
            raise DataError(path, 1, "header",
                            f"columns label,youtube_id,time_start,time_end,split; got {reader.fieldnames}")
        rows = []
        for row in reader:
            for field in ("time_start", "time_end"):
                try:
                    row[field] = int(float(row[field]))
                except (TypeError, ValueError):
                    raise DataError(path, reader.line_num, field, f"a time in seconds, got {row[field]!r}") from None
            rows.append((reader.line_num, row))
    return rows


def clip_name(row: dict) -> str:
    return f"{row['youtube_id']}_{row['time_start']:06d}_{row['time_end']:06d}"


def index_videos(root: Path) -> dict[str, Path]:
    """Every video file under `root` by its name without extension (one walk of the tree)."""
    found = {}
    for folder, _, files in os.walk(root):
        for name in files:
            stem, ext = os.path.splitext(name)
            if ext.lower() in VIDEO_EXTENSIONS:
                found.setdefault(stem, Path(folder) / name)
    return found


def kinetics_classes(annotations: Path) -> list[str]:
    """The sorted label names of train.csv: the standard 0-based Kinetics label order."""
    path, labels = _subset_file(annotations, "train"), set()
    for line, row in read_csv(path):
        if not row.get("label"):
            raise DataError(path, line, "label", "a label on every train row")
        labels.add(row["label"])
    return sorted(labels)


def kinetics(root: Path, annotations: Path, subset: str = "train") -> list[Sample]:
    """Kinetics-400 or -600 clips of one subset; test rows without a label get label None."""
    classes = kinetics_classes(annotations)
    index = {name: i for i, name in enumerate(classes)}
    path = _subset_file(annotations, subset)
    videos, items = index_videos(Path(root)), []
    for line, row in read_csv(path):
        name, label = clip_name(row), row.get("label") or None
        if label is not None and label not in index:
            raise DataError(path, line, "label", f"one of the {len(classes)} classes of train.csv, got {label!r}")
        default = Path(root) / subset / (label or "") / f"{name}.mp4"
        items.append(Sample(videos.get(name, default), None if label is None else index[label], label,
                            {"list": f"{path}:{line}", "youtube_id": row["youtube_id"]}))
    return items


def mini_kinetics200(root: Path, annotations: Path, kinetics_annotations: Path, subset: str = "train") -> list[Sample]:
    """Mini-Kinetics-200: `{train,val}_ytid_list.txt` ids, labelled from the Kinetics-400 train/val CSVs.

    Classes are the sorted names of the labels the train list uses (200 in the real lists). An id the CSVs
    lack (YouTube takedowns make CSV versions differ) becomes a sample with a missing annotation in its meta:
    the check reports it and the loader skips it, and it never stops the reading of another subset.
    """
    if subset not in ("train", "val"):
        raise ValueError(f"subset must be train or val, got {subset!r}")
    rows = {}
    for part in ("train", "val"):
        for _, row in read_csv(_subset_file(kinetics_annotations, part)):
            rows.setdefault(row["youtube_id"], row)

    def ids(part: str) -> list[tuple[int, str]]:
        path = Path(annotations) / f"{part}_ytid_list.txt"
        if not path.is_file():
            raise DataError(path, None, "id list", "Mini-Kinetics-200's <train|val>_ytid_list.txt")
        text = path.read_text(encoding="utf-8-sig").splitlines()
        return [(n, line.strip()) for n, line in enumerate(text, start=1) if line.strip()]

    classes = sorted({rows[y]["label"] for _, y in ids("train") if y in rows})
    index = {name: i for i, name in enumerate(classes)}
    path, videos, items = Path(annotations) / f"{subset}_ytid_list.txt", index_videos(Path(root)), []
    for line, ytid in ids(subset):
        where = {"list": f"{path}:{line}", "youtube_id": ytid}
        if ytid not in rows:
            items.append(Sample(Path(root) / subset / ytid, None, None, {
                **where, "missing_annotation": f"{path.name}:{line}: {ytid} is in no Kinetics-400 train/val CSV"}))
            continue
        row = rows[ytid]
        if row["label"] not in index:
            raise DataError(path, line, "label", f"one of the {len(classes)} train classes, got {row['label']!r}")
        name = clip_name(row)
        items.append(Sample(videos.get(name, Path(root) / subset / f"{name}.mp4"), index[row["label"]], row["label"],
                            where))
    return items
