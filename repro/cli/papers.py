"""Commands over the papers' declarations: tables, audit, findings, costs, report, reproduce."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..argtypes import device, out_file, out_folder
from .common import said_kept, tracking_option, wrapped
from .runs import allowance_option, full_run_inputs, full_runs, run_proxies, speed_options


def _tables(args: argparse.Namespace) -> int:
    from ..audit.papers import load_papers

    papers = load_papers(args.paper)
    if args.json:
        cells = [c.as_json() for p in papers for c in p.cells(include_absent=args.include_absent)]
        json.dump(cells, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    from ..console import print_tables

    print_tables(papers)
    return 0


def _views(papers: list, args: argparse.Namespace, outcomes: dict | None = None, benchmarks=None) -> list:
    """Each paper's view (verdicts, audit, findings) over what MLflow holds; raises DataError for a declared
    finding whose evidence no longer holds."""
    from ..report.render import build_views
    from ..store.tracking import load_all

    cells, extras = load_all(papers, args.tracking_uri)
    if not cells and not extras:
        from ..store.backend import tracking_uri

        which = "these papers" if len(papers) > 1 else papers[0].id
        sys.stdout.flush()  # the note stays between lines when both streams go to one file
        sys.stderr.write(wrapped(f"note: the store {tracking_uri(args.tracking_uri)} holds no measurements of {which}, "
                                 f"so every measured cell reads 'not measured' (run `repro costs`, or pass the store "
                                 f"you meant with --tracking-uri)") + "\n")
    return build_views(papers, cells, extras, proxy_outcomes=outcomes, benchmarks=benchmarks)


def _audit(args: argparse.Namespace) -> int:
    from ..audit.papers import load_papers

    views = _views(load_papers(args.paper), args)
    if args.json:
        data = {"claims": [r.as_json() for v in views for r in v.results],
                "findings": [{"paper": v.paper.id, **f.as_json()} for v in views for f in v.findings]}
        json.dump(data, sys.stdout, indent=1, ensure_ascii=False)
        print()
        return 0
    from ..console import print_audit, print_findings

    print_audit([r for v in views for r in v.results])
    print_findings(views, only_severe=True)
    return 0


def _findings(args: argparse.Namespace) -> int:
    """Findings are results, not errors: the exit code is 0 whatever they say."""
    from ..audit.papers import load_papers

    views = _views(load_papers(args.paper), args)
    if args.json:
        json.dump([{"paper": v.paper.id, **f.as_json()} for v in views for f in v.findings], sys.stdout, indent=1,
                  ensure_ascii=False)
        print()
        return 0
    from ..console import print_findings

    print_findings(views)
    return 0


def _measure_costs(papers: list, args: argparse.Namespace, kept: list) -> list:
    """Measure (and unless --no-log, record in MLflow) every cost cell of `papers`; what the store does not
    take is kept on disk and its pending.Kept appended to `kept`."""
    from ..console import progress
    from ..cache import cache_dir
    from ..measure.costs import Meter, log, measure_paper, specs

    meter, measured = Meter(cache_dir=None if args.no_cache else cache_dir()), []
    cost_specs = specs(papers)
    with progress(sum(len(s.probes) for s in cost_specs), "counting MACs") as advance:
        for spec in cost_specs:
            step = lambda probe, pid=spec.paper.id: advance(f"{pid}: {probe.name}")  # noqa: E731
            measured.append(measure_paper(spec, meter, step))
    if not getattr(args, "no_log", False):
        from ..store.pending import Kept

        for costs in measured:
            try:
                log(costs, args.tracking_uri)
            except Kept as exc:
                kept.append(exc)
    return measured


def _costs(args: argparse.Namespace) -> int:
    from ..atomic import write_text_atomic
    from ..console import print_costs
    from ..measure.costs import extra_rows, not_built_rows, probe_rows, rows
    from ..audit.papers import load_papers

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
    return said_kept(kept)


def _render(papers: list, args: argparse.Namespace, show_findings: tuple[str, ...] = (),
            pages: tuple[str, ...] | None = None) -> int:
    """Render the index over `papers` and the pages in `pages` (None: all); print the findings of the papers
    in `show_findings` first."""
    from ..run.proxy import load_outcomes
    from ..report.performance import DEFAULT_PATH, load_default
    from ..report.render import render_views

    outcomes = {p.id: load_outcomes(p, args.tracking_uri) for p in papers}
    benchmarks = load_default(args.benchmarks)
    views = _views(papers, args, outcomes, benchmarks)
    if show_findings:
        from ..console import print_findings

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
    from ..audit.citations import load_citations
    from ..audit.declared import load_declared
    from ..measure.costs import load_costs
    from ..run.experiments import load_experiments
    from ..report.plots import load_plot_spec
    from ..measure.runtime import load_runtime

    for paper in papers:
        for load in (load_costs, load_runtime, load_experiments, load_declared, load_citations, load_plot_spec):
            load(paper)


def _report(args: argparse.Namespace) -> int:
    """The pages of the papers asked for; the index always covers every paper."""
    from ..audit.papers import load_papers

    load_papers(args.paper)  # an unknown --paper fails here
    papers = load_papers()
    check_paper_data(papers)
    return _render(papers, args, pages=None if args.paper is None else (args.paper,))


def _reproduce(args: argparse.Namespace) -> int:
    """Every measurement the suite has for the paper, its findings, then the report."""
    from ..audit.papers import load_papers

    papers = load_papers(args.paper)
    check_paper_data(load_papers())
    full = full_run_inputs(args) if args.data_root else None
    if args.data_root and full is None:
        return 2
    kept: list = []
    if not args.no_measure:
        from ..console import print_costs

        print_costs(_measure_costs(papers, args, kept))
    code = 0
    if full is not None:
        code = full_runs(papers, args, full)  # the full protocol on the user's data, instead of the proxy checks
    elif not args.no_proxy:
        run_proxies(papers, args, kept)
    # the index always covers every paper; the findings printed are the reproduced papers'
    return _render(load_papers(), args, show_findings=tuple(p.id for p in papers)) or said_kept(kept) or code



def add_paper_commands(sub) -> None:
    p = sub.add_parser("tables", help="print the declared tables of the papers")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true", help="a JSON list of cells instead of tables")
    p.add_argument("--include-absent", action="store_true",
                   help="with --json, also list cells printed as '-' or 'N/A' (value null)")
    p.set_defaults(run=_tables)

    p = sub.add_parser("audit", help="check each paper's text against its own tables")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true", help="JSON: every claim checked (claims) and the findings")
    tracking_option(p)
    p.set_defaults(run=_audit)

    p = sub.add_parser("findings", help="what does not hold in each paper, by root cause (exit code 0)")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", action="store_true", help="a JSON list of findings")
    tracking_option(p)
    p.set_defaults(run=_findings)

    p = sub.add_parser("costs", help="measure every parameter and FLOPs cell, log it to MLflow and print verdicts")
    p.add_argument("--paper", help="one paper id (default: all)")
    p.add_argument("--json", metavar="FILE", type=out_file, help="also write the cells, extras and probes as JSON")
    tracking_option(p)
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
        tracking_option(p)
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
            allowance_option(p)
            speed_options(p)
        p.set_defaults(run=run)

