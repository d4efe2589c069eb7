"""Commands that measure speed through the engine and check checkpoints: bench train, bench loader, weights check."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from ..argtypes import bench_batch, clip_shape, decoder, device, frame_size, non_negative_int, out_file, \
    out_folder, positive_float, positive_int
from ..data.backends import BACKENDS, DEFAULT_BACKEND
from ..errors import UsageError, WeightsError
from .common import wrapped


def _model(name: str, given_args: list[str] | None, option: str):
    """A registered model built with `--arg KEY=VALUE` arguments (values read as YAML), or UsageError."""
    import yaml

    from ..models import build

    kwargs = {}
    for given in given_args or []:
        key, sep, value = given.partition("=")
        if not sep or not key:
            raise UsageError(f"--arg takes KEY=VALUE (e.g. num_classes=600), got {given!r}")
        kwargs[key] = yaml.safe_load(value)
    try:
        return build(name, **kwargs)
    except KeyError as exc:
        raise UsageError(f"{option}: {exc.args[0]}") from None
    except TypeError as exc:
        raise UsageError(f"--arg: building {name} with {kwargs} failed: {exc}") from None


def _bench_train(args: argparse.Namespace) -> int:
    """Training speed of one model through the engine (repro.measure.train_bench)."""
    from ..measure.train_bench import bench_train, lines
    from ..models import example

    model = _model(args.model, args.arg, "MODEL")
    clip = args.input or tuple(example(args.model)[0][0][1:])
    try:
        result = bench_train(model, args.model, clip, batch=args.batch, device=args.device,
                             precision=args.precision, compile=args.compile, channels_last=args.channels_last,
                             steps_per_round=args.steps, rounds=args.rounds)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {args.model} at {'x'.join(map(str, clip))}: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print("\n".join(lines(result)))
    if args.json:
        from ..atomic import write_text_atomic

        write_text_atomic(Path(args.json), json.dumps(result.as_dict(), indent=1) + "\n")
    return 0


def _bench_loader(args: argparse.Namespace) -> int:
    """One loader worker's training clips/s per training input, and the workers a training rate needs."""
    from ..audit.papers import load_papers
    from ..measure import loader_bench as lb
    from ..cache import cache_dir
    from ..run.plan import training_inputs

    papers = load_papers(args.paper) if args.paper else load_papers()
    train_rate = args.train_rate
    if args.train_json and args.train_rate:
        print("error: give --train-rate or --train-json, not both", file=sys.stderr)
        return 2
    if args.train_json:
        try:
            train_rate, source = lb.train_rate_from(Path(args.train_json))
        except ValueError as exc:
            print(wrapped(f"error: --train-json: {exc}"), file=sys.stderr)
            return 2
        print(wrapped(f"training rate: {train_rate:.1f} clips/s, {source}"), file=sys.stderr)
    width, height = args.video_size
    inputs = training_inputs(papers)
    cache = Path(args.videos_dir) if args.videos_dir else cache_dir() / "loader-videos"
    samples = lb.synthetic_videos(cache, count=args.videos, width=width, height=height, container=args.container)
    print(wrapped(f"synthetic videos: timing {len(samples)} of those kept in {cache}"), file=sys.stderr)
    rates = lb.measure(inputs, samples, decoder=args.decoder,
                       progress=lambda label: print(f"  timed {label}", file=sys.stderr))
    print(f"one worker = one process decoding with {args.decoder}, {len(samples)} videos of {width}x{height} "
          f"{args.container}")
    print("\n".join(lb.table(rates, train_rate=train_rate, cores=args.cores or lb.host_cores())))
    return 0


def _weights_check(args: argparse.Namespace) -> int:
    """Which source a checkpoint fits under, what maps, and what is missing, unexpected or mis-shaped."""
    from ..weights import SOURCES, detect, fit, read_state_dict

    model = _model(args.model, args.arg, "--model")
    skip, state = tuple(args.skip or ()), read_state_dict(Path(args.path))  # an unreadable file is an error (2)
    if args.source is None:
        try:
            source, report = detect(model, Path(args.path), into=args.into, skip=skip, state=state)
        except WeightsError as exc:  # a result: what each source misses
            from ..console import terminal_width

            for line in str(exc).replace("pass skip", "pass --skip").splitlines():
                print(textwrap.fill(line, terminal_width(), subsequent_indent="      ", break_long_words=False,
                                    break_on_hyphens=False))
            return 1
    else:
        source = args.source
        report, _ = fit(model, state, source, path=args.path, into=args.into, skip=skip)
    print(f"{args.path}: {'fits' if report.fits else 'does NOT fit'} {args.model} under source {source!r} "
          f"({SOURCES[source].description})")
    print(f"  {len(report.loaded)} tensors map; {len(report.skipped)} skipped" +
          (f" ({', '.join(report.skipped[:6])}{' ...' if len(report.skipped) > 6 else ''})" if report.skipped else ""))
    for label, keys in (("missing from the checkpoint", report.missing), ("unexpected", report.unexpected),
                        ("of another shape", [f"{k} {a} vs ours {b}" for k, a, b in report.mismatched])):
        if keys:
            print(f"  {len(keys)} {label}:")
            print("\n".join(f"    {k}" for k in keys[:args.show]) + (f"\n    ... and {len(keys) - args.show} more"
                                                                     if len(keys) > args.show else ""))
    return 0 if report.fits else 1



def add_tool_commands(sub) -> None:
    from ..weights import SOURCES

    bench_commands = sub.add_parser("bench", help="speed measured through the engine").add_subparsers(
        dest="bench_command", required=True)
    p = bench_commands.add_parser("train", help="training steps a second of one model: clips/s, TFLOP/s, share of "
                                                "the measured matmul peak, peak memory")
    p.add_argument("model", metavar="MODEL", help="a registered model (repro.models), e.g. baselines/r2plus1d_50")
    p.add_argument("--input", type=clip_shape, metavar="CxTxHxW",
                   help="one sample without the batch, e.g. a clip 3x8x224x224 (default: the model's registered "
                        "example)")
    p.add_argument("--batch", type=bench_batch, metavar="N|auto",
                   help="clips a step (default 8; auto: the largest that fits the GPU)")
    p.add_argument("--device", default="cpu", type=device, help="cpu, cuda or cuda:N")
    p.add_argument("--precision", default="float32", choices=("float32", "bfloat16", "float16"),
                   help="autocast precision on CUDA (default float32)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (the compile time is shown apart)")
    p.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"),
                   help="channels_last_3d (auto: on CUDA, unless the model has grouped 3-D convs)")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="a builder argument, e.g. num_classes=400")
    p.add_argument("--steps", type=positive_int, default=5, help="training steps a timed round (default 5)")
    p.add_argument("--rounds", type=positive_int, default=5, help="timed rounds (default 5)")
    p.add_argument("--json", metavar="FILE", type=out_file, help="also write the result as JSON")
    p.set_defaults(run=_bench_train)
    p = bench_commands.add_parser("loader", help="training clips/s one loader worker delivers per training input, "
                                                 "and the workers a training rate needs")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--decoder", default=DEFAULT_BACKEND, type=decoder, metavar="NAME",
                   help=f"the video decoder: {', '.join(BACKENDS)} (default {DEFAULT_BACKEND})")
    p.add_argument("--train-rate", type=positive_float, metavar="CLIPS_PER_S", help="the training rate to feed")
    p.add_argument("--train-json", metavar="FILE", help="or the clips/s of a `repro bench train --json` file")
    p.add_argument("--cores", type=positive_int, help="loader workers the host can run (default: this machine's cores)")
    p.add_argument("--videos", type=positive_int, default=16, help="synthetic videos timed (default 16)")
    p.add_argument("--video-size", type=frame_size, default=(340, 256), metavar="WxH",
                   help="their frame size (default 340x256, Kinetics' usual re-encoding)")
    p.add_argument("--container", choices=("mp4", "avi"), default="mp4", help="mp4 (H.264, default) or avi (MPEG-4)")
    p.add_argument("--videos-dir", type=out_folder, help="where the synthetic videos are kept (default: the cache)")
    p.set_defaults(run=_bench_loader)

    weights = sub.add_parser("weights", help="checkpoints you bring").add_subparsers(dest="weights_command",
                                                                                   required=True)
    p = weights.add_parser("check", help="which source a checkpoint fits under, and which keys map or do not")
    p.add_argument("path", help="the checkpoint file (.pth, .pt, .pth.tar)")
    p.add_argument("--model", required=True, help="a registered model (repro.models), e.g. baselines/mobilenetv2_3d")
    p.add_argument("--arg", action="append", metavar="KEY=VALUE", help="a builder argument, e.g. num_classes=600")
    p.add_argument("--source", choices=sorted(SOURCES), help="check this source only (default: try each, in order)")
    p.add_argument("--into", default="", help="a submodule to load into (e.g. backbone)")
    p.add_argument("--skip", action="append", metavar="PREFIX", help="keys not to load, e.g. fc. (a new classifier)")
    p.add_argument("--show", type=non_negative_int, default=20, help="keys listed per kind (default 20)")
    p.set_defaults(run=_weights_check)

