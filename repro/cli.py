"""The `repro` command line."""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from collections.abc import Sequence

from .data.skips import TooManyUnreadable
from .errors import DataError, UsageError, WeightsError
from .argtypes import (bench_batch, clip_shape, decoder, device, existing_folder, frame_size, non_negative_int,
                       out_file, out_folder, positive_float, positive_int, share)
from .data.backends import BACKENDS, DEFAULT_BACKEND
from .store.backend import StoreError, check_uri


def _tables(args: argparse.Namespace) -> int:
    from .audit.papers import load_papers

    papers = load_papers(args.paper)
    if args.json:
        cells = [c.as_json() for p in papers for c in p.cells(include_absent=args.include_absent)]
        json.dump(cells, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    from .console import print_tables

    print_tables(papers)
    return 0


def _views(papers: list, args: argparse.Namespace, outcomes: dict | None = None, benchmarks=None) -> list:
    """Each paper's view (verdicts, audit, findings) over what MLflow holds; raises DataError for a declared
    finding whose evidence no longer holds."""
    from .report.render import build_views
    from .store.tracking import load_all

    cells, extras = load_all(papers, args.tracking_uri)
    if not cells and not extras:
        from .store.backend import tracking_uri

        print(f"note: the store {tracking_uri(args.tracking_uri)} holds no measurements, so every measured cell "
              f"reads 'not measured' (run `repro costs`, or pass the store you meant with --tracking-uri)",
              file=sys.stderr)
    return build_views(papers, cells, extras, proxy_outcomes=outcomes, benchmarks=benchmarks)


def _audit(args: argparse.Namespace) -> int:
    from .audit.papers import load_papers

    views = _views(load_papers(args.paper), args)
    if args.json:
        data = {"claims": [r.as_json() for v in views for r in v.results],
                "findings": [{"paper": v.paper.id, **f.as_json()} for v in views for f in v.findings]}
        json.dump(data, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    from .console import print_audit, print_findings

    print_audit([r for v in views for r in v.results])
    print_findings(views, only_severe=True)
    return 0


def _findings(args: argparse.Namespace) -> int:
    """Findings are results, not errors: the exit code is 0 whatever they say."""
    from .audit.papers import load_papers

    views = _views(load_papers(args.paper), args)
    if args.json:
        json.dump([{"paper": v.paper.id, **f.as_json()} for v in views for f in v.findings], sys.stdout, indent=1,
                  ensure_ascii=False)
        print()
        return 0
    from .console import print_findings

    print_findings(views)
    return 0


def _measure_costs(papers: list, args: argparse.Namespace, kept: list) -> list:
    """Measure (and unless --no-log, record in MLflow) every cost cell of `papers`; what the store does not
    take is kept on disk and its pending.Kept appended to `kept`."""
    from .console import progress
    from .measure.costs import Meter, default_cache_dir, log, measure_paper, specs

    meter, measured = Meter(cache_dir=None if args.no_cache else default_cache_dir()), []
    cost_specs = specs(papers)
    with progress(sum(len(s.probes) for s in cost_specs), "counting MACs") as advance:
        for spec in cost_specs:
            step = lambda probe, pid=spec.paper.id: advance(f"{pid}: {probe.name}")  # noqa: E731
            measured.append(measure_paper(spec, meter, step))
    if not getattr(args, "no_log", False):
        from .store.pending import Kept

        for costs in measured:
            try:
                log(costs, args.tracking_uri)
            except Kept as exc:
                kept.append(exc)
    return measured


def _said_kept(kept: list) -> int:
    """Print what the store did not take (it is on disk); 1 when there was any."""
    for exc in kept:
        print(f"error: the store did not take a record: {exc}", file=sys.stderr)
    return 1 if kept else 0


def _costs(args: argparse.Namespace) -> int:
    from .atomic import write_text_atomic
    from .console import print_costs
    from .measure.costs import extra_rows, not_built_rows, probe_rows, rows
    from .audit.papers import load_papers

    kept: list = []
    measured = _measure_costs(load_papers(args.paper), args, kept)
    print_costs(measured)
    if args.json:
        data = {"cells": [r for c in measured for r in rows(c)],
                "not_built": [r for c in measured for r in not_built_rows(c)],
                "extras": [r for c in measured for r in extra_rows(c)],
                "probes": {c.spec.paper.id: probe_rows(c) for c in measured}}
        write_text_atomic(Path(args.json), json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    return _said_kept(kept)


def _render(papers: list, args: argparse.Namespace, show_findings: tuple[str, ...] = (),
            pages: tuple[str, ...] | None = None) -> int:
    """Render the index over `papers` and the pages in `pages` (None: all); print the findings of the papers
    in `show_findings` first."""
    from .run.proxy import load_outcomes
    from .report.performance import DEFAULT_PATH, load_default
    from .report.render import render_views

    outcomes = {p.id: load_outcomes(p, args.tracking_uri) for p in papers}
    benchmarks = load_default(args.benchmarks)
    views = _views(papers, args, outcomes, benchmarks)
    if show_findings:
        from .console import print_findings

        print_findings([v for v in views if v.paper.id in show_findings], only_severe=True)
    written = render_views(views, Path(args.out), benchmarks, pages=pages)
    if benchmarks:
        print(f"benchmarks: {len(benchmarks.rows)} rows from {', '.join(benchmarks.sources)}")
    else:
        print(f"benchmarks: none ({DEFAULT_PATH} is written by `nox -s bench`)")
    print(f"report: {written[0].resolve()}")
    return 0


def check_paper_data(papers: list) -> None:
    """Read every file a paper declares (costs, runtime, experiments, findings, citations, plots) so that a
    malformed one fails with file:line before any measurement, training or rendering starts."""
    from .audit.citations import load_citations
    from .audit.declared import load_declared
    from .measure.costs import load_costs
    from .experiments import load_experiments
    from .report.plots import load_plot_spec
    from .measure.runtime import load_runtime

    for paper in papers:
        for load in (load_costs, load_runtime, load_experiments, load_declared, load_citations, load_plot_spec):
            load(paper)


def _report(args: argparse.Namespace) -> int:
    """The pages of the papers asked for; the index always covers every paper."""
    from .audit.papers import load_papers

    load_papers(args.paper)  # an unknown --paper fails here
    papers = load_papers()
    check_paper_data(papers)
    return _render(papers, args, pages=None if args.paper is None else (args.paper,))


def _reproduce(args: argparse.Namespace) -> int:
    """Every measurement the suite has for the paper, its findings, then the report."""
    from .audit.papers import load_papers

    papers = load_papers(args.paper)
    check_paper_data(load_papers())
    kept: list = []
    if not args.no_measure:
        from .console import print_costs

        print_costs(_measure_costs(papers, args, kept))
    code = 0
    if args.data_root:
        code = _full_runs(papers, args)  # the full protocol on the user's data, instead of the proxy checks
    elif not args.no_proxy:
        _run_proxies(papers, args, kept)
    # the index always covers every paper; the findings printed are the reproduced papers'
    return _render(load_papers(), args, show_findings=tuple(p.id for p in papers)) or _said_kept(kept) or code


def _experiments(args: argparse.Namespace) -> int:
    from .experiments import load_experiments, uncovered
    from .audit.papers import load_papers

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
    from .console import print_rows

    print_rows(rows, "experiments (repro run <experiment> --data-root DIR, or --proxy)",
               narrow=("experiment", "cells", "model"))
    for paper_id, group in reasons:
        first = " · ".join(group.cells[0])
        more = f" and {len(group.cells) - 1} more" if len(group.cells) > 1 else ""
        print(_wrapped(f"not run: {paper_id} Table {first}{more}: {group.reason}"))
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


def _full_runs(papers: list, args: argparse.Namespace) -> int:
    """Every experiment of each paper on the user's data (repro.run.full_runs); 1 when a run failed."""
    from .console import print_rows
    from .experiments import load_experiments
    from .run.full_runs import FAILED, parse_data_roots, run_all

    weights = _weights(args)
    if weights is None:
        return 2
    try:
        roots = parse_data_roots(args.data_root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for paper in papers:
        outcomes = run_all(load_experiments(paper).experiments, roots, out_dir=Path(args.out_runs or "."),
                           resume=args.resume, only=set(args.experiment) if args.experiment else None,
                           device=args.device, uri=args.tracking_uri, weights=weights,
                           allow_unreadable_test=args.allow_unreadable_test, speed=_speed(args))
        rows += [{"experiment": o.experiment.name, "status": o.status, "detail": o.detail} for o in outcomes]
    print_rows(rows, "full runs (runs/<paper>/<experiment>; rerun with --resume to continue)")
    return 1 if any(r["status"] == FAILED for r in rows) else 0


def _run(args: argparse.Namespace) -> int:
    from .experiments import find
    from .audit.papers import load_papers
    from .run.runner import run_experiment

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
                           flow_root=Path(args.flow_root) if args.flow_root else None, speed=_speed(args))
    shown = {k: v for k, v in final.items() if k != "confusion"}
    print(json.dumps(shown, indent=1))
    if args.epochs == 0:
        print("evaluation only (--epochs 0): nothing was trained", file=sys.stderr)
    return 0


def _run_proxies(papers: list, args: argparse.Namespace, kept: list) -> None:
    from .console import terminal_width
    from .run.proxy import outcome_json, run_checks

    for paper in papers:
        out = getattr(args, "out_runs", None) or ("proxy-runs" if hasattr(args, "out_runs") else args.out)
        for check, outcome, seconds in run_checks(paper, Path(out), args.tracking_uri,
                                                  only=getattr(args, "check", None), kept=kept):
            word = "held" if outcome.held else "did NOT hold"
            print(f"{paper.id} proxy check {check.id}: {word} on proxy data ({seconds:.0f} s)")
            print(textwrap.fill(outcome.summary, terminal_width(), initial_indent="  ", subsequent_indent="  "))
            if getattr(args, "json", False):
                print(outcome_json(check, outcome, seconds))


def _proxy(args: argparse.Namespace) -> int:
    from .audit.papers import load_papers

    papers = load_papers(args.paper)
    if args.check:
        from .run.proxy import checks

        known = sorted({c.id for p in papers for c in checks(p)})
        if args.check not in known:
            print(f"error: --check {args.check!r}: no such proxy check; known: {', '.join(known) or 'none'}",
                  file=sys.stderr)
            return 2
    kept: list = []
    _run_proxies(papers, args, kept)
    return _said_kept(kept)


def _push(args: argparse.Namespace) -> int:
    """Run folders, pending records (files) and folders of pending records, each logged once."""
    from .store import pending
    from .store.runlog import push

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


def _allowance_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-unreadable-test", type=share, default=0.0, metavar="SHARE",
                   help="let an evaluation leave out up to this share of unreadable test videos (default 0: any "
                        "unreadable test video fails the run); the result says over how many videos it was computed")


def _model(name: str, given_args: list[str] | None, option: str):
    """A registered model built with `--arg KEY=VALUE` arguments (values read as YAML), or UsageError."""
    import yaml

    from .models import build

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
    from .measure.train_bench import bench_train, lines
    from .models import example

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
        from .atomic import write_text_atomic

        write_text_atomic(Path(args.json), json.dumps(result.as_dict(), indent=1) + "\n")
    return 0


def _bench_loader(args: argparse.Namespace) -> int:
    """One loader worker's training clips/s per training input, and the workers a training rate needs."""
    from .audit.papers import load_papers
    from .measure import loader_bench as lb
    from .measure.costs import default_cache_dir
    from .run.plan import training_inputs

    papers = load_papers(args.paper) if args.paper else load_papers()
    train_rate = args.train_rate
    if args.train_json and args.train_rate:
        print("error: give --train-rate or --train-json, not both", file=sys.stderr)
        return 2
    if args.train_json:
        try:
            train_rate, source = lb.train_rate_from(Path(args.train_json))
        except ValueError as exc:
            print(_wrapped(f"error: --train-json: {exc}"), file=sys.stderr)
            return 2
        print(_wrapped(f"training rate: {train_rate:.1f} clips/s, {source}"), file=sys.stderr)
    width, height = args.video_size
    inputs = training_inputs(papers)
    cache = Path(args.videos_dir) if args.videos_dir else default_cache_dir() / "loader-videos"
    samples = lb.synthetic_videos(cache, count=args.videos, width=width, height=height, container=args.container)
    print(_wrapped(f"synthetic videos: timing {len(samples)} of those kept in {cache}"), file=sys.stderr)
    rates = lb.measure(inputs, samples, decoder=args.decoder,
                       progress=lambda label: print(f"  timed {label}", file=sys.stderr))
    print(f"one worker = one process decoding with {args.decoder}, {len(samples)} videos of {width}x{height} "
          f"{args.container}")
    print("\n".join(lb.table(rates, train_rate=train_rate, cores=args.cores or lb.host_cores())))
    return 0


def _weights_check(args: argparse.Namespace) -> int:
    """Which source a checkpoint fits under, what maps, and what is missing, unexpected or mis-shaped."""
    from .weights import SOURCES, detect, fit, read_state_dict

    model = _model(args.model, args.arg, "--model")
    skip, state = tuple(args.skip or ()), read_state_dict(Path(args.path))  # an unreadable file is an error (2)
    if args.source is None:
        try:
            source, report = detect(model, Path(args.path), into=args.into, skip=skip, state=state)
        except WeightsError as exc:  # a result: what each source misses
            from .console import terminal_width

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


def _speed_options(p: argparse.ArgumentParser) -> None:
    """How a training run uses its device (repro.engine.speed)."""
    from .run.speed import BATCH_CHOICES, parse_batch

    p.add_argument("--batch", default="declared", type=parse_batch, metavar="N|auto",
                   help=f"the training batch: {BATCH_CHOICES} (auto: the largest that fits the GPU, found once and "
                        f"cached; the lr is scaled linearly, and the run's params say so)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (its compile time is logged apart)")
    p.add_argument("--channels-last", default="auto", choices=("auto", "on", "off"),
                   help="channels_last_3d weights and inputs (auto: on CUDA, unless the model has grouped 3-D convs)")
    p.add_argument("--decoder", default=DEFAULT_BACKEND, type=decoder, metavar="NAME",
                   help=f"the video decoder: {', '.join(BACKENDS)} (default {DEFAULT_BACKEND}; torchcodec-cuda "
                        f"decodes on the GPU's NVDEC)")


def _speed(args: argparse.Namespace) -> dict:
    return {"batch": args.batch, "compile": args.compile, "channels_last": args.channels_last,
            "decoder": args.decoder}


def _tracking_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracking-uri", type=check_uri, help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or "
                                                           "sqlite:///mlflow.db)")


class _Parser(argparse.ArgumentParser):
    """argparse, with its one-line errors wrapped to the terminal (an error names the bad value, so it runs long)."""

    def error(self, message: str):
        from .console import terminal_width

        self.print_usage(sys.stderr)
        self.exit(2, textwrap.fill(f"{self.prog}: error: {message}", terminal_width(), subsequent_indent="  ",
                                   break_long_words=False, break_on_hyphens=False) + "\n")


def _wrapped(text: str) -> str:
    """Each line of `text` folded to the terminal's width, continuation lines indented."""
    from .console import terminal_width

    return "\n".join(textwrap.fill(line, terminal_width(), subsequent_indent="  ", break_long_words=False,
                                    break_on_hyphens=False) if len(line) > terminal_width()
                      else line for line in text.splitlines())


def build_parser() -> argparse.ArgumentParser:
    from .weights import SOURCES

    parser = _Parser(prog="repro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("tables", help="print the declared tables of the papers")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true", help="a JSON list of cells instead of tables")
    p.add_argument("--include-absent", action="store_true",
                   help="with --json, also list cells printed as '-' or 'N/A' (value null)")
    p.set_defaults(run=_tables)

    p = sub.add_parser("audit", help="check each paper's text against its own tables")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true", help="JSON: every claim checked (claims) and the findings")
    _tracking_option(p)
    p.set_defaults(run=_audit)

    p = sub.add_parser("findings", help="what does not hold in each paper, by root cause (exit code 0)")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true", help="a JSON list of findings")
    _tracking_option(p)
    p.set_defaults(run=_findings)

    p = sub.add_parser("costs", help="measure every parameter and FLOPs cell, log it to MLflow and print verdicts")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", metavar="FILE", type=out_file, help="also write the cells, extras and probes as JSON")
    _tracking_option(p)
    p.add_argument("--no-log", action="store_true", help="measure and print without recording in MLflow")
    p.add_argument("--no-cache", action="store_true",
                   help="count every probe afresh instead of reusing counts cached in $REPRO_CACHE_DIR "
                        "(default ~/.cache/repro) for the same model code and library versions")
    p.set_defaults(run=_costs)

    for name, run, text in (("report", _report, "render the HTML reports"),
                            ("reproduce", _reproduce, "audit, measure and report one paper or all")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--paper", help="one paper id (default: all)")
        p.add_argument("--out", default="reports", type=out_folder, help="output folder (default: reports/)")
        _tracking_option(p)
        p.add_argument("--benchmarks", action="append", metavar="FILE",
                       help="a pytest --benchmark-json or --bench-rows file for the performance sections "
                            "(repeatable, e.g. a CPU and a GPU run; default: results/benchmarks.json when it exists)")
        if name == "reproduce":
            p.add_argument("--no-measure", action="store_true", help="skip measuring costs; report what MLflow holds")
            p.add_argument("--no-proxy", action="store_true", help="skip the proxy checks on synthetic data")
            p.add_argument("--runs", default=None, dest="out_runs", type=out_folder,
                           help="where runs go (default: proxy-runs/ for the proxy checks, . with --data-root)")
            p.add_argument("--no-cache", action="store_true", help="count every cost probe afresh")
            p.add_argument("--data-root", action="append", metavar="[LAYOUT=]DIR",
                           help="run the paper's full protocol on this data instead of the proxy checks: every "
                                "experiment, in dependency order; repeat as LAYOUT=DIR for papers with several "
                                "datasets (layouts: repro data check --help)")
            p.add_argument("--device", default="cpu", type=device, help="with --data-root: cpu, cuda or cuda:N")
            p.add_argument("--resume", action="store_true", help="with --data-root: keep finished runs, continue "
                                                                 "interrupted ones")
            p.add_argument("--experiment", action="append", metavar="ID",
                           help="with --data-root: only these experiments of the paper (repeatable)")
            p.add_argument("--weights", action="append", metavar="NAME=PATH",
                           help="with --data-root: checkpoints the experiments load (see repro run)")
            _allowance_option(p)
            _speed_options(p)
        p.set_defaults(run=run)

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
    _allowance_option(p)
    p.add_argument("--weights", action="append", metavar="NAME=PATH",
                   help="a checkpoint you have, e.g. pretrained=/ckpt/MFNet3D_Kinetics-400_72.8.pth (repeatable; "
                        "the experiment's pipeline_args say which names it uses)")
    _speed_options(p)
    _tracking_option(p)
    p.set_defaults(run=_run)

    p = sub.add_parser("proxy", help="run the papers' proxy checks: their claims on synthetic data, shrunk")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--check", help="one check id")
    p.add_argument("--out", default="proxy-runs", type=out_folder,
                   help="where the runs and synthetic data go (default: proxy-runs/)")
    p.add_argument("--json", action="store_true", help="also print each outcome as JSON")
    _tracking_option(p)
    p.set_defaults(run=_proxy)

    p = sub.add_parser("push", help="send finished run folders and kept records (repro-pending/) to MLflow, once")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a run folder, a pending record, or a folder of them")
    p.add_argument("--tracking-uri", type=check_uri, help="the store (default: the one each record was meant for)")
    p.set_defaults(run=_push)

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

    from .data.cli import add_data_parser

    add_data_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (DataError, WeightsError, UsageError) as exc:  # unwrapped: `file:line:` stays one line for tools
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TooManyUnreadable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
