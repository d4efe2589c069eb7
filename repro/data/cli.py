"""`repro data synth|check|flow|audio-images`: the data subcommands of the `repro` command line."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..argtypes import existing_folder, non_negative_int, out_folder, positive_float, positive_int, share
from .layouts import LAYOUTS, get_layout


def _samples(args: argparse.Namespace) -> list:
    """Every sample of the chosen splits and subsets, each video once."""
    layout = get_layout(args.layout)
    seen, out = set(), []
    for split in ([args.split] if args.split else layout.splits):
        for subset in ([args.subset] if args.subset else layout.subsets):
            for sample in layout.samples(Path(args.root), split, subset, videos=args.videos,
                                         annotations=args.annotations):
                if sample.path not in seen:
                    seen.add(sample.path)
                    out.append(sample)
    return out


def _synth(args: argparse.Namespace) -> int:
    from ..console import progress
    from .synth import CLASSES, synthesize

    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must be WIDTHxHEIGHT, e.g. 160x120; got {args.size!r}") from None
    count = len(args.classes) if args.classes else len(CLASSES)
    with progress(count * 4 * args.scale, f"writing a synthetic {args.layout} dataset") as advance:
        summary = synthesize(Path(args.out), layout=args.layout, seed=args.seed, scale=args.scale, frames=args.frames,
                             action_frames=args.action_frames, width=width, height=height, fps=args.fps,
                             container=args.container, classes=args.classes, progress=advance)
    print(f"{len(summary.videos)} videos ({summary.written} written now, {summary.seconds:.1f} s): {summary.root}; "
          f"annotations: {summary.annotations}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from ..console import print_check, progress
    from .check import check_dataset

    report = check_dataset(args.layout, Path(args.root), splits=[args.split] if args.split else None,
                           subsets=[args.subset] if args.subset else None, videos=args.videos,
                           annotations=args.annotations, tolerate=args.tolerate,
                           probe_files=not args.no_probe, workers=args.workers, timeout=args.timeout, deep=args.deep,
                           progress_factory=None if args.json else (lambda n: progress(n, "probing videos")))
    if args.json:
        json.dump(report.as_json(), sys.stdout, indent=1)
        print()
    else:
        print_check(report)
    if not report.ok:
        print(f"error: the {args.layout} layout under {args.root} is broken:\n  " + "\n  ".join(report.problems),
              file=sys.stderr)
        return 1
    return 0


def _flow(args: argparse.Namespace) -> int:
    from ..console import progress
    from .flow import extract_flow
    from .skips import SkipLog

    samples, skips = _samples(args), SkipLog(max_share=args.max_skipped)
    video_root = get_layout(args.layout).paths(Path(args.root), args.videos)[0]
    with progress(len(samples), f"{args.method} optical flow") as advance:
        summary = extract_flow(samples, Path(args.out), root=video_root, method=args.method,
                               short_side=args.short_side, workers=args.workers, skips=skips, progress=advance)
    skips.write(Path(args.out) / "skipped.json")
    print(json.dumps(summary.as_json(), indent=1))
    skips.check()
    return 0


def _audio_images(args: argparse.Namespace) -> int:
    from ..console import progress
    from .audio_images import write_audio_images
    from .skips import SkipLog

    samples, skips = _samples(args), SkipLog(max_share=args.max_skipped)
    kwargs = {"sample_rate": args.sample_rate} if args.sample_rate else {}
    if args.representations:
        kwargs["representations"] = tuple(args.representations)
    with progress(len(samples), "audio images") as advance:
        summary = write_audio_images(samples, Path(args.out), skips=skips, progress=advance, **kwargs)
    skips.write(Path(args.out) / "skipped.json")
    print(json.dumps(summary.as_json(), indent=1))
    skips.check()
    return 0


def _user_errors(run):
    """Bad values the parser cannot see (a split the layout lacks, an unknown representation) end in one line."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except ValueError as exc:
            if type(exc) is not ValueError:  # DataError and friends are handled by the main command line
                raise
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return wrapped


def _dataset_arguments(p: argparse.ArgumentParser, subsets: bool = False) -> None:
    p.add_argument("--layout", required=True, choices=sorted(LAYOUTS), help="the dataset's layout")
    p.add_argument("--root", required=True, type=existing_folder, help="the folder the dataset was unpacked into")
    p.add_argument("--split", type=positive_int, help="one split (default: every split of the layout)")
    if subsets:
        p.add_argument("--subset", help="one subset, e.g. train or test (default: all)")
    p.add_argument("--videos", help="the video folder, if not where the layout expects it under --root")
    p.add_argument("--annotations", help="the annotations folder (or list file), if not under --root")


def add_data_parser(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="make, check and preprocess datasets").add_subparsers(dest="data_command",
                                                                                            required=True)
    p = data.add_parser("synth", help="write a small synthetic dataset of real video files in a real layout")
    p.add_argument("--layout", default="ucf101", choices=("ucf101", "hmdb51"))
    p.add_argument("--out", required=True, type=out_folder, help="output folder")
    p.add_argument("--seed", type=non_negative_int, default=0)
    p.add_argument("--scale", type=positive_int, default=1, help="videos per class x this (default 1: tens of videos)")
    p.add_argument("--frames", type=positive_int, default=48, help="frames per video (default 48)")
    p.add_argument("--action-frames", type=positive_int,
                   help="the action fills only this many frames, among distractors")
    p.add_argument("--size", default="160x120", help="WIDTHxHEIGHT (default 160x120)")
    p.add_argument("--fps", type=positive_int, default=25)
    p.add_argument("--container", default="avi", choices=("avi", "mp4"), help="avi: MPEG-4; mp4: H.264")
    p.add_argument("--classes", nargs="+", help="only these classes (e.g. MoveLeft MoveRight); default: all 8")
    p.set_defaults(run=_user_errors(_synth))

    p = data.add_parser("check", help="counts, missing and unreadable files, audio tracks; non-zero exit if broken")
    _dataset_arguments(p, subsets=True)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--tolerate", type=share, default=0.0,
                   help="share of missing or unreadable files that is not an error (default 0; Kinetics "
                        "downloads usually lack a few percent)")
    p.add_argument("--no-probe", action="store_true", help="check the lists and that files exist, without decoding")
    p.add_argument("--deep", action="store_true",
                   help="decode every frame and count decoder errors, to find byte damage the fast check passes "
                        "(measured: 30 s of one worker per hour of synthetic 340x256 H.264; real footage costs more)")
    p.add_argument("--workers", type=non_negative_int, default=2, help="decoding processes (0: in this process)")
    p.add_argument("--timeout", type=positive_float, default=60.0, help="seconds before a stalled file is reported")
    p.set_defaults(run=_user_errors(_check))

    p = data.add_parser("flow", help="optical flow as x/y uint8 JPEGs clipped to +-20; resumes where it stopped")
    _dataset_arguments(p, subsets=True)
    p.add_argument("--out", required=True, type=out_folder,
                   help="output folder; one sub-folder of x_/y_ frames per video")
    p.add_argument("--method", default="tvl1", choices=("tvl1", "dis"), help="tvl1 (default) or dis (fast)")
    p.add_argument("--short-side", type=positive_int, help="resize frames to this shorter side first")
    p.add_argument("--workers", type=positive_int, default=1)
    p.add_argument("--max-skipped", type=share, default=0.05, help="fail past this share of unreadable videos")
    p.set_defaults(run=_user_errors(_flow))

    p = data.add_parser("audio-images", help="MAiVAR's six audio-image representations as 224x224 PNGs")
    _dataset_arguments(p, subsets=True)
    p.add_argument("--out", required=True, type=out_folder, help="output folder; <representation>/<Class>/<video>.png")
    p.add_argument("--representations", nargs="+", default=None, help="a subset of the six (default: all)")
    p.add_argument("--sample-rate", type=positive_int, help="resample the audio to this rate (default: the module's)")
    p.add_argument("--max-skipped", type=share, default=0.05, help="fail past this share of unreadable videos")
    p.set_defaults(run=_user_errors(_audio_images))
