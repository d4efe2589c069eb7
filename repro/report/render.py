"""HTML reproduction reports: one page per paper plus an index, rendered with jinja2.

Pages are self-contained (inline CSS, no scripts or fetches) so that they open from disk, attach to
an email and archive as they are.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from .. import __version__
from ..atomic import remove_stale_temps, write_text_atomic
from ..audit.citations import DIFFERS, EQUAL, NOT_FOUND, OTHER_CONFIG, ROUNDED
from ..audit.claims import OP_WORDS, computed_text
from ..audit.findings import CANNOT_CHECK, ERROR, MINOR, QUOTED, READING, SLIP, UNCHECKED
from ..audit.numbers import show
from ..audit.papers import Paper
from ..audit.verdicts import (CAUSE_BADGE, CAUSE_WORDS, CITED, CONVENTION, DEVIATES, NEEDS_DATA, NOT_MEASURABLE,
                              NOT_MEASURED, PENDING, REPRODUCED, VERDICT_SHORT)
from ..measure.runtime import FAILS, HOLDS, paper_ratio_text
from ..run.proxy import HELD, INCONCLUSIVE, NOT_HELD
from . import format as fmt
from .performance import BenchRun, index_performance
from .view import Extras, Measured, PaperView, build_view, reproduce_command

PROXY_CLASS = {HELD: "s-consistent", NOT_HELD: "s-inconsistent", INCONCLUSIVE: "s-unchecked"}  # a verdict's colour


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("repro.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), extensions=["jinja2.ext.do"],
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(num=fmt.num, ms=fmt.ms, ratio_text=paper_ratio_text, cell_id=fmt.cell_id, at_cell=fmt.at_cell,
                       delta=fmt.delta, words=fmt.words, show=show,
                       verdict_class=lambda status: VERDICT_SHORT[status].replace(" ", "-"),
                       slug=lambda text: text.replace(" ", "-"))
    env.globals.update(OP_WORDS=OP_WORDS, REPRODUCED=REPRODUCED, DEVIATES=DEVIATES, NOT_MEASURED=NOT_MEASURED,
                       CONVENTION=CONVENTION, CAUSE_WORDS=CAUSE_WORDS, CAUSE_BADGE=CAUSE_BADGE, CITED=CITED,
                       NEEDS_DATA=NEEDS_DATA, PENDING=PENDING, NOT_MEASURABLE=NOT_MEASURABLE, HOLDS=HOLDS, FAILS=FAILS,
                       version=__version__, summary_sentence=summary_sentence, reproduce_command=reproduce_command,
                       computed_text=computed_text, PROXY_CLASS=PROXY_CLASS,
                       top_findings=top_findings, SOURCE_EQUAL=EQUAL, SOURCE_ROUNDED=ROUNDED,
                       SOURCE_OTHER=OTHER_CONFIG, SOURCE_DIFFERS=DIFFERS, SOURCE_NOT_FOUND=NOT_FOUND)
    return env




def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def _unread(unread: int) -> str:
    """" (16 of them because no source of their row was read)": not found because nothing was there to read."""
    return f" ({unread} of them because no source of their row was read)" if unread else ""


def _explained_parts(view: PaperView, shown: list) -> str:
    """": 5 text claims, 10 relations and 7 measured cells": what the findings explain, as the page's sections
    count it; "" where there is one kind."""
    kinds = {c.id: c.kind for c in view.paper.claims}
    claimed = [kinds.get(cid) for f in shown if f.cause != CANNOT_CHECK for cid in f.claims]
    measured_claims, deviating = (sum(len(f.measured_claims) for f in shown), sum(len(f.deviating) for f in shown))
    parts = [_plural(claimed.count("claim"), "text claim"), _plural(claimed.count("relation"), "relation"),
             _plural(measured_claims, "claim on measured values", "claims on measured values"),
             _plural(deviating, "measured cell that deviates", "measured cells that deviate")]
    parts = [p for p in parts if not p.startswith("0 ")]
    if len(parts) < 2:
        return ""
    return ": " + ", ".join(parts[:-1]) + " and " + parts[-1]


def summary_sentence(view: PaperView) -> str:
    """The page's lead, generated from the findings and the verdicts (never typed)."""
    shown = view.major_findings
    fc, cells, causes = view.finding_counts(), view.cell_counts(), view.not_measured_causes()
    explained = sum(f.symptoms for f in shown)
    sentences = len(view.unchecked_sentences)
    parts = []
    kinds = [_plural(fc[ERROR], "error")] if fc[ERROR] else []
    changes = "changes" if fc[MINOR] == 1 else "change"
    kinds += [f"{_plural(fc[MINOR], 'minor mismatch', 'minor mismatches')} that {changes} no other claim's "
              f"verdict"] if fc[MINOR] else []
    kinds += [_plural(fc[SLIP], "truncation or rounding slip")] if fc[SLIP] else []
    kinds += [f"{fc[READING]} that {'depends' if fc[READING] == 1 else 'depend'} on how a sentence or a count is "
              f"read"] if fc[READING] else []
    kinds += [f"{_plural(fc[QUOTED], 'quoted cost')} that our builds of the cited models do not reproduce, "
              f"with nothing read here showing the quotation wrong"] if fc[QUOTED] else []
    kinds += [f"{fc[UNCHECKED]} that cannot be checked, with the reason"] if fc[UNCHECKED] else []
    if kinds:
        listed = kinds[0] if len(kinds) == 1 else ", ".join(kinds[:-1]) + " and " + kinds[-1]
        fails = (f" {'It explains' if len(shown) == 1 else 'Together they explain'} the "
                 f"{_plural(explained, 'check')} that {'fails' if explained == 1 else 'fail'} here"
                 f"{_explained_parts(view, shown)}.") if explained else ""
        parts.append(f"{_plural(len(shown), 'finding')}: {listed}.{fails}")
    else:
        parts.append("Nothing that the tables and measurements can check fails.")
    if sentences:
        claims = sum(len(f.claims) for f in view.unchecked_sentences)
        parts.append(f"{_plural(sentences, 'sentence')} of the text"
                     f"{f' ({claims} claims)' if claims != sentences else ''} cannot be checked.")
    reproduced = cells[REPRODUCED] + cells[CONVENTION]
    convention = f", {cells[CONVENTION]} of them under the paper's counting convention" if cells[CONVENTION] else ""
    pending = (f" ({causes[PENDING]} more can be measured here: run {reproduce_command(view.paper.id)}, or repro "
               f"costs --paper {view.paper.id})") if causes[PENDING] else ""
    parts.append(f"Of the {_plural(view.measurable(), 'cell')} this suite can measure, {reproduced} "
                 f"{'is' if reproduced == 1 else 'are'} reproduced{convention}, {cells[DEVIATES]} "
                 f"{'deviates' if cells[DEVIATES] == 1 else 'deviate'} and {causes[NEEDS_DATA]} "
                 f"{'needs' if causes[NEEDS_DATA] == 1 else 'need'} the dataset and a GPU{pending}; "
                 f"{_plural(causes[CITED], 'cell is', 'cells are')} cited from other papers and "
                 f"{causes[NOT_MEASURABLE]} {'is' if causes[NOT_MEASURABLE] == 1 else 'are'} not measurable here.")
    if view.sources:
        sc = view.source_counts()
        parts.append(f"Of the {_plural(len(view.sources), 'number')} quoted from other papers, "
                     f"{sc[EQUAL] + sc[ROUNDED]} match their sources, {sc[OTHER_CONFIG]} "
                     f"{'is' if sc[OTHER_CONFIG] == 1 else 'are'} another configuration's, {sc[DIFFERS]} "
                     f"{'differs' if sc[DIFFERS] == 1 else 'differ'} and {sc[NOT_FOUND]} "
                     f"{'was' if sc[NOT_FOUND] == 1 else 'were'} not found{_unread(view.sources_unread())}.")
    return " ".join(parts)


def top_findings(view: PaperView, limit: int = 2) -> list:
    """The index's verdict line for a paper: its most severe findings."""
    return view.major_findings[:limit]


def build_views(papers: list[Paper], measured: Measured | None = None, extras: Extras | None = None,
                proxy_outcomes: Mapping[str, Mapping[str, Any]] | None = None,
                benchmarks: BenchRun | None = None) -> list[PaperView]:
    """Each paper's view: verdicts, audit, findings, plots (repro.report.view)."""
    return [build_view(p, measured or {}, extras, (proxy_outcomes or {}).get(p.id), benchmarks) for p in papers]


def render_views(views: list[PaperView], out_dir: Path, benchmarks: BenchRun | None = None,
                 pages: tuple[str, ...] | None = None) -> list[Path]:
    """Write index.html over every view and <paper>.html for the papers in `pages` (None: every view) into
    `out_dir`; returns the paths written, the index first."""
    out_dir = Path(out_dir)
    remove_stale_temps(out_dir)  # the leftovers of a render that was killed
    env = _environment()
    written = []
    for view in [v for v in views if pages is None or v.paper.id in pages]:
        path = out_dir / f"{view.paper.id}.html"
        write_text_atomic(path, env.get_template("paper.html.j2").render(view=view, paper=view.paper))
        written.append(path)
    index = out_dir / "index.html"
    write_text_atomic(index, env.get_template("index.html.j2").render(
        views=views, performance=index_performance(benchmarks)))
    return [index, *written]


def render(papers: list[Paper], out_dir: Path, measured: Measured | None = None,
           extras: Extras | None = None, proxy_outcomes: Mapping[str, Mapping[str, Any]] | None = None,
           benchmarks: BenchRun | None = None) -> list[Path]:
    """Write index.html and <paper>.html into `out_dir`; returns the paths written.

    `proxy_outcomes` maps paper id to its logged proxy-check outcomes by check id; `benchmarks` is a
    `--benchmark-json` run (repro.report.performance) for the performance sections."""
    return render_views(build_views(papers, measured, extras, proxy_outcomes, benchmarks), out_dir, benchmarks)
