"""HTML reproduction reports: one page per paper plus an index, rendered with jinja2.

Pages are self-contained (inline CSS, no scripts or fetches) so that they open from disk, attach to
an email and archive as they are.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import jinja2

from .. import __version__
from ..atomic import write_text_atomic
from ..audit.claims import OP_WORDS, Finding, audit_paper, check, ordered, published_lookup
from .performance import BenchRun, Performance, index_performance, paper_performance
from ..costs import DISAGREEMENT, CostCell, ExtraCost, load_costs
from ..errors import ExpressionError
from ..audit.expr import Interval
from ..audit.papers import CellKey, Paper, Table
from ..runtime import FAILS, HOLDS, by_cell, by_claim, paper_ratio_text, time_cells
from ..audit.verdicts import DEVIATES, NOT_MEASURED, REPRODUCED, Measurement, Verdict, judge

Measured = Mapping[tuple[str, CellKey], Measurement]
Extras = Mapping[tuple[str, str], Measurement]


@dataclass
class PaperView:
    paper: Paper
    findings: list[Finding]
    verdicts: dict[CellKey, Verdict]
    runs: list[dict[str, str]] = field(default_factory=list)
    costs: dict[CellKey, CostCell] = field(default_factory=dict)
    extras: list[tuple[ExtraCost, Measurement | None]] = field(default_factory=list)
    measured_findings: list[Finding] = field(default_factory=list)
    proxies: list[tuple[Any, Any]] = field(default_factory=list)  # (ProxyCheck, LoggedOutcome | None)
    performance: Performance | None = None
    runtime_by_cell: dict[CellKey, list] = field(default_factory=dict)  # measured runtime checks reading a cell
    runtime_by_claim: dict[str, list] = field(default_factory=dict)  # ... testing a claim

    def __post_init__(self) -> None:
        if self.performance:
            self.runtime_by_cell = by_cell(self.performance.checks)
            self.runtime_by_claim = by_claim(self.performance.checks)

    def counters_disagree(self, key: CellKey) -> bool:
        m = self.verdicts[key].measurement
        if m is None or m.second_opinion is None or not m.value:
            return False
        return abs(m.second_opinion - m.value) / abs(m.value) > DISAGREEMENT

    def cell_counts(self) -> Counter:
        return Counter(v.status for v in self.verdicts.values())

    def claim_counts(self) -> Counter:
        """Statuses of the primary readings; an alternative reading that fails is not the paper's fault."""
        return Counter(f.status for f in self.findings if f.claim.reading == "primary")

    def table_reasons(self, table: Table) -> list[tuple[str, int]]:
        """Distinct reasons why cells of `table` are not measured, most common first."""
        reasons = Counter(self.verdicts[c.key].reason for c in table.cells.values()
                          if not c.absent and self.verdicts[c.key].status == NOT_MEASURED)
        return reasons.most_common()


def experiment_reasons(paper: Paper) -> dict[CellKey, str]:
    """Why each accuracy cell has no value yet: the experiment to run, or the declared reason not to."""
    from ..experiments import load_experiments

    found = load_experiments(paper)
    reasons = {key: f"not run yet: repro run {e.name} --data-root DIR (needs {e.layout} and a GPU)"
               for e in found.experiments for key in e.fills}
    reasons.update({key: n.reason for n in found.not_run for key in n.cells})
    return reasons


def build_view(paper: Paper, measured: Measured, extras: Extras | None = None,
               proxy_outcomes: Mapping[str, Any] | None = None, benchmarks: BenchRun | None = None) -> PaperView:
    reasons = experiment_reasons(paper)
    performance = paper_performance(paper, benchmarks)
    if performance.spec:
        reasons.update(time_cells(performance.spec))
    verdicts = {cell.key: judge(cell, measured.get((paper.id, cell.key)), reasons.get(cell.key))
                for cell in paper.cells()}
    runs: dict[str, dict[str, str]] = {}
    found_extras = [m for (pid, _), m in (extras or {}).items() if pid == paper.id]
    for m in [v.measurement for v in verdicts.values() if v.measurement is not None] + found_extras:
        runs.setdefault(m.provenance.get("mlflow_run", "?"), m.provenance)
    spec = load_costs(paper)
    return PaperView(paper, ordered(audit_paper(paper)), verdicts, list(runs.values()),
                     costs={c.cell.key: c for c in spec.cells} if spec else {},
                     extras=[(e, (extras or {}).get((paper.id, e.id))) for e in spec.extras] if spec else [],
                     measured_findings=measured_findings(paper, verdicts),
                     proxies=_proxies(paper, proxy_outcomes or {}),
                     performance=performance)


def _proxies(paper: Paper, outcomes: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    from ..proxy import checks

    return [(check, outcomes.get(check.id)) for check in checks(paper)]


def measured_findings(paper: Paper, verdicts: Mapping[CellKey, Verdict]) -> list[Finding]:
    """The claims again, with measured values in place of every cell they use; only claims whose cells
    all have a full (non-proxy) measurement. The paper's "+1.38% parameters" becomes our measured share."""
    lookup = published_lookup(paper)
    measured = {key: Interval.exact(v.measured) for key, v in verdicts.items()
                if v.measured is not None and v.measurement is not None and not v.measurement.proxy}
    lookup.update(measured)
    findings = []
    for claim in paper.claims:
        if claim.expr is None or not claim.expr.refs or not all(ref in measured for ref in claim.expr.refs):
            continue
        try:
            findings.append(check(claim, lookup))
        except ExpressionError as exc:  # e.g. a measured zero in a denominator
            findings.append(Finding(claim, Interval.exact(float("nan")), None, None,
                                    f"cannot be evaluated on the measured values: {exc}"))
    return findings


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("repro.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["ms"] = _ms
    env.filters["ratio_text"] = paper_ratio_text
    env.globals.update(OP_WORDS=OP_WORDS, REPRODUCED=REPRODUCED, DEVIATES=DEVIATES,
                       NOT_MEASURED=NOT_MEASURED, HOLDS=HOLDS, FAILS=FAILS, version=__version__)
    return env


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _ms(seconds: float) -> str:
    """Seconds shown as milliseconds with three significant digits, never in exponent form."""
    ms = 1000 * seconds
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}" if ms >= 0.01 else f"{ms:.4f}"


def render(papers: list[Paper], out_dir: Path, measured: Measured | None = None,
           extras: Extras | None = None, proxy_outcomes: Mapping[str, Mapping[str, Any]] | None = None,
           benchmarks: BenchRun | None = None) -> list[Path]:
    """Write index.html and <paper>.html into `out_dir`; returns the paths written.

    `proxy_outcomes` maps paper id to its logged proxy-check outcomes by check id; `benchmarks` is a
    `--benchmark-json` run (repro.report.performance) for the performance sections."""
    out_dir = Path(out_dir)
    views = [build_view(p, measured or {}, extras, (proxy_outcomes or {}).get(p.id), benchmarks) for p in papers]
    env = _environment()
    written = []
    for view in views:
        path = out_dir / f"{view.paper.id}.html"
        write_text_atomic(path, env.get_template("paper.html.j2").render(view=view, paper=view.paper))
        written.append(path)
    index = out_dir / "index.html"
    write_text_atomic(index, env.get_template("index.html.j2").render(
        views=views, performance=index_performance(benchmarks)))
    return [index, *written]
