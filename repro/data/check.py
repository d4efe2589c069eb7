"""`repro data check`: is a dataset where a layout says, complete and readable?

Per split and subset: samples, classes, missing and unreadable files, and videos with and without an
audio track. Every video is opened and its first and last frames decoded, in worker processes with a
timeout, so a file that would hang the decoder (dmlc/decord#373) is reported instead of hanging the
check; a video with fewer decodable frames than its container claims is damaged. `deep` decodes every
frame and counts the decoder errors FFmpeg conceals (byte damage inside the stream).
A layout is broken when a split file is malformed, a subset is empty, a class has no training video,
train and test share a video, or more files are missing or unreadable than `tolerate` allows.
"""
from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .decode import (UnreadableVideo, container_header, frame_folder_length, has_audio, missing_frames,
                     read_frame_folder, read_frames, video_info)
from ..errors import DataError
from .layouts import get_layout


def probe(path: str, frames: bool | str) -> dict:
    """Frame count, size and audio of one video (or, with `frames` a file-name template such as
    '{:05d}.jpg', one frame folder), or the reason it cannot be read."""
    try:
        if frames:
            template = frames if isinstance(frames, str) else "{:05d}.jpg"
            length = frame_folder_length(path, template)
            first = read_frame_folder(path, [0, length - 1], template=template)[0]
            return {"frames": length, "height": first.shape[0], "width": first.shape[1], "audio": False}
        info = video_info(path)
        damage = missing_frames(container_header(path).frames, info.num_frames)
        if damage:
            return {"error": damage}
        read_frames(path, [info.num_frames - 1])
        return {"frames": info.num_frames, "height": info.height, "width": info.width, "fps": info.fps,
                "audio": has_audio(path)}
    except UnreadableVideo as exc:
        return {"error": exc.reason}
    except Exception as exc:  # noqa: BLE001 - a check reports every file, whatever its decoder raised
        return {"error": f"unexpected {type(exc).__name__}: {str(exc)[:120]}"}


def deep_probe(path: str, frames: bool | str) -> dict:
    """`probe`, then every frame decoded (PyAV): a video is damaged when its decoder reports errors, which
    FFmpeg otherwise conceals, or when fewer frames decode than the container claims."""
    found = probe(path, frames)
    if "error" in found or frames:
        return found
    import av

    decoded, errors, first, level = 0, 0, "", av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)  # PyAV keeps FFmpeg's log off by default; its errors are the evidence
    with av.logging.Capture() as logged:
        try:
            with av.open(path) as container:
                stream = container.streams.video[0]
                claimed = container_header(path).frames
                for packet in container.demux(stream):
                    try:
                        decoded += len(packet.decode())
                    except av.error.FFmpegError as exc:
                        errors, first = errors + 1, first or str(exc)[:120]
        except (av.error.FFmpegError, OSError, UnreadableVideo) as exc:
            return {"error": f"damaged: {str(exc)[:120]}"}
        finally:
            av.logging.set_level(level)
    messages = [text for level, _, text in logged if level <= av.logging.ERROR]
    errors += len(messages)
    first = first or (messages[0].strip()[:120] if messages else "")
    if errors:
        return {"error": f"damaged: {errors} decoder errors over {decoded} frames, e.g. {first}"}
    damage = missing_frames(claimed, decoded)
    return {"error": damage} if damage else {**found, "decoded": decoded}


def probe_all(paths: list[str], frames: bool | str, *, workers: int = 2, timeout: float = 60.0,
              progress: Callable[[str], None] | None = None, probe_fn: Callable[[str, bool], dict] = probe,
              ) -> dict[str, dict]:
    """`probe_fn` on every path; with workers, in processes that are replaced when one stalls past `timeout` s."""
    results: dict[str, dict] = {}
    if workers <= 0:
        for path in paths:
            results[path] = probe_fn(path, frames)
            if progress:
                progress(Path(path).name)
        return results
    remaining = list(paths)
    context = multiprocessing.get_context("spawn")  # no decoder state inherited from the parent
    while remaining:
        with context.Pool(workers) as pool:
            pending = [(path, pool.apply_async(probe_fn, (path, frames))) for path in remaining]
            remaining = []
            for number, (path, result) in enumerate(pending):
                try:
                    results[path] = result.get(timeout=timeout)
                except multiprocessing.TimeoutError:
                    results[path] = {"error": f"decoding stalled for more than {timeout:g} s"}
                    remaining = [p for p, r in pending[number + 1:] if not r.ready()]
                    results.update({p: r.get() for p, r in pending[number + 1:] if r.ready()})
                    pool.terminate()  # the stalled worker cannot be interrupted any other way
                    break
                if progress:
                    progress(Path(path).name)
    return results


@dataclass
class CheckReport:
    layout: str
    videos: str
    annotations: str
    subsets: list[dict] = field(default_factory=list)
    files: dict[str, dict] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        bad = {p: r["error"] for p, r in self.files.items() if "error" in r}
        return {"layout": self.layout, "videos": self.videos, "annotations": self.annotations, "ok": self.ok,
                "problems": self.problems, "notes": self.notes, "subsets": self.subsets,
                "files": {"total": len(self.files),
                          "unreadable": [{"path": p, "reason": r} for p, r in sorted(bad.items())],
                          "with_audio": sum(r.get("audio") is True for r in self.files.values()),
                          "without_audio": sum(r.get("audio") is False for r in self.files.values())}}


def check_dataset(layout_name: str, root: Path, *, splits: list[int] | None = None, subsets: list[str] | None = None,
                  videos: Path | None = None, annotations: Path | None = None, tolerate: float = 0.0,
                  probe_files: bool = True, workers: int = 2, timeout: float = 60.0, deep: bool = False,
                  progress_factory: Callable[[int], object] | None = None) -> CheckReport:
    """Read every split and subset of a layout, probe its files, and list what is wrong; `deep` decodes every
    frame of every video (deep_probe)."""
    layout = get_layout(layout_name)
    video_root, annotation_path = layout.paths(root, videos, annotations)
    report = CheckReport(layout.name, str(video_root), str(annotation_path))
    read = {}
    for split in splits or layout.splits:
        for subset in subsets or layout.subsets:
            try:
                read[(split, subset)] = layout.samples(root, split, subset, videos=videos, annotations=annotations)
            except DataError as exc:
                if subsets or subset not in layout.optional_subsets:
                    raise
                report.notes.append(f"split {split} {subset}: no list ({exc}); skipped")
    unannotated = {str(x.path): x.meta["missing_annotation"] for samples in read.values() for x in samples
                   if "missing_annotation" in x.meta}
    paths = sorted({str(x.path) for samples in read.values() for x in samples} - set(unannotated))
    present = [p for p in paths if Path(p).exists()]
    report.files = {p: {"error": "missing file"} for p in paths if not Path(p).exists()}
    report.files.update({p: {"error": f"missing annotation: {why}"} for p, why in unannotated.items()})
    frames = layout.frame_template if layout.frames else False
    if probe_files and present:
        options = {"workers": workers, "timeout": timeout, "probe_fn": deep_probe if deep else probe}
        if progress_factory is None:
            report.files.update(probe_all(present, frames, **options))
        else:
            with progress_factory(len(present)) as advance:
                report.files.update(probe_all(present, frames, progress=advance, **options))
    else:
        report.files.update({p: {} for p in present})
    for (split, subset), samples in read.items():
        report.subsets.append(_summary(split, subset, samples, report.files))
    _problems(report, read, tolerate, annotation_path)
    return report


def _summary(split: int, subset: str, samples: list, files: dict[str, dict]) -> dict:
    per_class = Counter(x.label for x in samples)
    states = [files.get(str(x.path), {}) for x in samples]
    return {"split": split, "subset": subset, "samples": len(samples),
            "classes": len([c for c in per_class if c is not None]),
            "unlabelled": per_class.get(None, 0),
            "per_class_min": min((n for c, n in per_class.items() if c is not None), default=0),
            "per_class_max": max((n for c, n in per_class.items() if c is not None), default=0),
            "missing": sum(s.get("error") == "missing file" for s in states),
            "unreadable": sum("error" in s and s["error"] != "missing file" for s in states),
            "with_audio": sum(s.get("audio") is True for s in states),
            "without_audio": sum(s.get("audio") is False for s in states)}


def _problems(report: CheckReport, read: dict, tolerate: float, annotations: Path) -> None:
    problems = report.problems
    for (split, subset), samples in read.items():
        if not samples:
            problems.append(f"split {split} {subset}: its list under {annotations} names no samples")
    train_like = {"train"}
    for split in sorted({k for k, _ in read}):
        train = [x for (k, s), xs in read.items() if k == split and s in train_like for x in xs]
        others = [x for (k, s), xs in read.items() if k == split and s not in train_like for x in xs]
        overlap = {x.path for x in train} & {x.path for x in others}
        if overlap:
            problems.append(f"split {split}: {len(overlap)} videos in both train and test, e.g. {sorted(overlap)[0]}")
        if train and others:
            untrained = {x.class_name for x in others if x.label is not None} - {x.class_name for x in train}
            if untrained:
                problems.append(f"split {split}: classes with test but no training videos: {sorted(untrained)[:5]}")
    bad = {p: r["error"] for p, r in report.files.items() if "error" in r}
    if report.files and len(bad) / len(report.files) > tolerate:
        reasons = Counter(reason.split(":")[0] for reason in bad.values())
        first = sorted(bad)[0]
        problems.append(f"{len(bad)} of {len(report.files)} files missing or unreadable "
                        f"({', '.join(f'{n} {r}' for r, n in reasons.most_common())}; tolerated share "
                        f"{tolerate:.1%}), e.g. {first}: {bad[first]}")
