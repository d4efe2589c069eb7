"""Commands that train and evaluate: experiments, run, proxy, push."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from ..argtypes import decoder, device, existing_folder, non_negative_int, out_folder, share
from ..data.backends import BACKENDS, DEFAULT_BACKEND
from ..store.backend import check_uri
from .common import said_kept, tracking_option, wrapped


def _experiments(args: argparse.Namespace) -> int:
    from ..run.experiments import load_experiments, uncovered
    from ..audit.papers import load_papers

    rows, reasons = [], []
    for paper in load_papers(args.paper):
        found = load_experiments(paper)
        for e in found.experiments:
            rows.append({"experiment": e.name, "title": e.title, "cells": len(e.fills), "dataset": e.layout,
                         "split": "+".join(map(str, e.splits)) if e.splits else e.split,
                         "train": e.train.protocol, "test": e.test.protocol, "model": e.model,
                         "pipeline": e.pipeline, "metric": e.metric})
        missing = uncovered(found)
        if missing and not args.json:
            print(f"{paper.id}: {len(missing)} accuracy cells have no experiment and no reason yet", file=sys.stderr)
        if not args.json:
            not_run = sum(len(n.cells) for n in found.not_run)
            print(f"{paper.id}: {len(found.experiments)} experiments fill "
                  f"{sum(len(e.fills) for e in found.experiments)} cells; {not_run} cells not run, with reasons"
                  + (" (after the table)" if not_run else ""))
            reasons += [(paper.id, group) for group in found.not_run]
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
        return 0
    from ..console import print_rows

    print_rows(rows, "experiments (repro run <experiment> --data-root DIR, or --proxy)",
               narrow=("experiment", "cells", "model"))
    for paper_id, group in reasons:
        first = " · ".join(group.cells[0])
        more = f" and {len(group.cells) - 1} more" if len(group.cells) > 1 else ""
        print(wrapped(f"not run: {paper_id} Table {first}{more}: {group.reason}"))
    return 0


def _weights(args: argparse.Namespace) -> dict[str, Path] | None:
    """--weights NAME=PATH options as a mapping; None (after saying why) when one is malformed."""
    weights = {}
    for given in args.weights or []:
        name, sep, path = given.partition("=")
        if not sep or not name or not path:
            print(f"error: --weights takes NAME=PATH (e.g. pretrained=/ckpt/MFNet.pth), got {given!r}", file=sys.stderr)
            return None
        weights[name] = Path(path)
    return weights


def full_run_inputs(args: argparse.Namespace) -> tuple[dict, dict[str, Path]] | None:
    """The --data-root folders and --weights of a full run, checked before any work; None after saying why."""
    from ..run.full_runs import parse_data_roots

    weights = _weights(args)
    if weights is None:
        return None
    try:
        return parse_data_roots(args.data_root), weights
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def full_runs(papers: list, args: argparse.Namespace, inputs: tuple[dict, dict[str, Path]]) -> int:
    """Every experiment of each paper on the user's data (repro.run.full_runs); 1 when a run failed."""
    from ..console import print_rows
    from ..run.experiments import load_experiments
    from ..run.full_runs import FAILED, run_all

    roots, weights = inputs
    rows = []
    for paper in papers:
        outcomes = run_all(load_experiments(paper).experiments, roots, out_dir=Path(args.out_runs or "."),
                           resume=args.resume, only=set(args.experiment) if args.experiment else None,
                           device=args.device, uri=args.tracking_uri, weights=weights,
                           allow_unreadable_test=args.allow_unreadable_test, speed=speed(args))
        rows += [{"experiment": o.experiment.name, "status": o.status, "detail": o.detail} for o in outcomes]
    print_rows(rows, "full runs (runs/<paper>/<experiment>; rerun with --resume to continue)")
    return 1 if any(r["status"] == FAILED for r in rows) else 0


def _run(args: argparse.Namespace) -> int:
    from ..run.experiments import find
    from ..audit.papers import load_papers
    from ..run.runner import run_experiment

    try:
        experiment = find(args.experiment, load_papers())
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if not args.proxy and not args.data_root:
        print(f"error: {experiment.name} needs --data-root: the folder holding the {experiment.layout} dataset; or run "
              f"it with --proxy on synthetic data", file=sys.stderr)
        return 2
    weights = _weights(args)
    if weights is None:
        return 2
    final = run_experiment(experiment, data_root=Path(args.data_root) if args.data_root else None,
                           allow_unreadable_test=args.allow_unreadable_test,
                           device=args.device, resume=args.resume, proxy=args.proxy, out_dir=Path(args.out),
                           uri=args.tracking_uri, epochs=args.epochs, weights=weights,
                           flow_root=Path(args.flow_root) if args.flow_root else None, speed=speed(args))
    from ..engine.metrics import PER_VIDEO

    shown = {k: v for k, v in final.items() if k not in PER_VIDEO}
    print(json.dumps(shown, indent=1))
    if args.epochs == 0:
        print("evaluation only (--epochs 0): nothing was trained", file=sys.stderr)
    return 0


def run_proxies(papers: list, args: argparse.Namespace, kept: list) -> None:
    from ..audit.words import short
    from ..console import terminal_width
    from ..run.proxy import HELD, INCONCLUSIVE, NOT_HELD, each_check, outcome_json

    def starting(check) -> None:  # a check trains for minutes: say so before, not only after
        print(textwrap.fill(f"{paper.id} proxy check {check.id}: running on synthetic data ({short(check.claim, 120)})",
                            terminal_width(), subsequent_indent="  "), flush=True)

    for paper in papers:
        out = getattr(args, "out_runs", None) or ("proxy-runs" if hasattr(args, "out_runs") else args.out)
        for check, outcome, seconds in each_check(paper, Path(out), args.tracking_uri, getattr(args, "check", None),
                                                  show_progress=sys.stderr.isatty(), kept=kept, starting=starting):
            word = {HELD: "held", NOT_HELD: "did NOT hold", INCONCLUSIVE: "was inconclusive"}[outcome.verdict]
            print(f"{paper.id} proxy check {check.id}: {word} on proxy data ({seconds:.0f} s)")
            print(textwrap.fill(outcome.summary, terminal_width(), initial_indent="  ", subsequent_indent="  "))
            if getattr(args, "json", False):
                print(outcome_json(check, outcome, seconds))


def _proxy(args: argparse.Namespace) -> int:
    from ..audit.papers import load_papers

    papers = load_papers(args.paper)
    if args.check:
        from ..run.proxy import checks

        known = sorted({c.id for p in papers for c in checks(p)})
        if args.check not in known:
            print(f"error: --check {args.check!r}: no such proxy check; known: {', '.join(known) or 'none'}",
                  file=sys.stderr)
            return 2
    kept: list = []
    run_proxies(papers, args, kept)
    return said_kept(kept)


def _push(args: argparse.Namespace) -> int:
    """Run folders, pending records (files) and folders of pending records, each logged once."""
    from ..store import pending
    from ..store.runlog import push

    items: list[Path] = []
    for given in map(Path, args.paths):
        if given.is_dir() and not (given / "run.json").is_file():
            found = sorted(given.glob("*.json"))
            if not found:
                print(f"error: {given}: neither a run folder (run.json) nor a folder of pending records",
                      file=sys.stderr)
                return 2
            items += found
        elif given.exists():
            items.append(given)
        else:
            print(f"error: {given}: no such run folder or pending record", file=sys.stderr)
            return 2
    failed = 0
    for item in items:
        try:
            run_id = push(item, args.tracking_uri) if item.is_dir() else pending.send(item, args.tracking_uri)
            print(f"{item}: MLflow run {run_id}")
        except Exception as exc:  # noqa: BLE001 - one item's failure, whatever the store raised, never stops the rest
            print(f"error: {item}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


def allowance_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-unreadable-test", type=share, default=0.0, metavar="SHARE",
                   help="let an evaluation leave out up to this share of unreadable test videos (default 0: any "
                        "unreadable test video fails the run); the result says over how many videos it was computed")


def speed_options(p: argparse.ArgumentParser) -> None:
    """How a training run uses its device (repro.engine.speed)."""
    from ..run.speed import BATCH_CHOICES, parse_batch

    p.add_argument("--batch", default="declared", type=parse_batch, metavar="N|auto",
                   help=f"the training batch: {BATCH_CHOICES} (auto: the largest that fits the GPU, found once and "
                        f"cached; the lr is scaled linearly, and the run's params say so)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (its compile time is logged apart)")
    p.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"),
                   help="channels_last_3d weights and inputs (auto: on CUDA, unless the model has grouped 3-D convs)")
    p.add_argument("--decoder", default=DEFAULT_BACKEND, type=decoder, metavar="NAME",
                   help=f"the video decoder: {', '.join(BACKENDS)} (default {DEFAULT_BACKEND}; torchcodec-cuda "
                        f"decodes on the GPU's NVDEC)")


def speed(args: argparse.Namespace) -> dict:
    return {"batch": args.batch, "compile": args.compile, "channels_last": args.channels_last,
            "decoder": args.decoder}



def add_run_commands(sub) -> None:
    p = sub.add_parser("experiments", help="list the experiments behind every accuracy cell")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_experiments)

    p = sub.add_parser("run", help="train and evaluate one experiment, log it to MLflow")
    p.add_argument("experiment", help="<paper>/<id> (repro experiments lists them)")
    p.add_argument("--data-root", type=existing_folder, help="the dataset's folder, in the experiment's layout")
    p.add_argument("--device", default="cpu", type=device, help="cpu or cuda (under torchrun, one GPU per process)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--proxy", action="store_true", help="shrunk, on a synthetic dataset: a CPU check, not a result")
    p.add_argument("--out", default=".", type=out_folder,
                   help="where runs/ (and synth/ for --proxy) go (default: here)")
    p.add_argument("--epochs", type=non_negative_int, help="override the number of epochs")
    p.add_argument("--flow-root", metavar="DIR", type=out_folder,
                   help="optical flow already extracted (x_/y_ JPEG folders as `repro data flow` writes them) for "
                        "pipelines that read flow; missing videos are extracted there")
    allowance_option(p)
    p.add_argument("--weights", action="append", metavar="NAME=PATH",
                   help="a checkpoint you have, e.g. pretrained=/ckpt/MFNet3D_Kinetics-400_72.8.pth (repeatable; "
                        "the experiment's pipeline_args say which names it uses)")
    speed_options(p)
    tracking_option(p)
    p.set_defaults(run=_run)

    p = sub.add_parser("proxy", help="run the papers' proxy checks: their claims on synthetic data, shrunk")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--check", help="one check id")
    p.add_argument("--out", default="proxy-runs", type=out_folder,
                   help="where the runs and synthetic data go (default: proxy-runs/)")
    p.add_argument("--json", action="store_true", help="also print each outcome as JSON")
    tracking_option(p)
    p.set_defaults(run=_proxy)

    p = sub.add_parser("push", help="send finished run folders and kept records (repro-pending/) to MLflow, once")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a run folder, a pending record, or a folder of them")
    p.add_argument("--tracking-uri", type=check_uri, help="the store (default: the one each record was meant for)")
    p.set_defaults(run=_push)

