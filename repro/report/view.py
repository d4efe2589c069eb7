"""What a paper's page shows: every cell's verdict, the audit, the findings that explain what fails, the
costs, proxy checks, performance and plots, assembled from the paper's data and what MLflow holds."""
from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..audit.citations import SOURCE_VERDICTS, SourceCheck, check_citations, load_citations
from ..audit.claims import ClaimResult, audit_paper, check, measured_lookup, ordered, stated_decimals
from ..audit.findings import Finding, Inputs, counts, find, shown_first
from ..audit.severity import ERROR, MINOR, QUOTED, READING, SLIP, UNCHECKED
from ..audit.papers import CellKey, MethodNote, Paper, Table
from ..audit.verdicts import (CITATION, CITED, CONVENTION, DEVIATES, NEEDS_DATA, NOT_MEASURABLE, NOT_MEASURED, PENDING,
                              REPRODUCED, Measurement, Reason, Verdict, judge)
from ..measure.costs import DISAGREEMENT, CostCell, ExtraCost, load_costs
from ..errors import ExpressionError
from ..measure.runtime import by_cell, by_claim, time_cells
from ..run.proxy import INCONCLUSIVE, NOT_HELD
from .performance import BenchRun, Performance, paper_performance

Measured = Mapping[tuple[str, CellKey], Measurement]
Extras = Mapping[tuple[str, str], Measurement]


# a count of findings in a table cell, singular and plural: "2 errors · 1 slip · 3 readings"
BREAKDOWN_WORDS = {ERROR: ("error", "errors"), MINOR: ("minor mismatch", "minor mismatches"),
                   SLIP: ("slip", "slips"), READING: ("reading", "readings"),
                   QUOTED: ("quoted cost not reproduced", "quoted costs not reproduced"),
                   UNCHECKED: ("cannot be checked", "cannot be checked")}


@dataclass
class PaperView:
    paper: Paper
    results: list[ClaimResult]  # the audit on printed values, inconsistencies first
    verdicts: dict[CellKey, Verdict]
    findings: list[Finding] = field(default_factory=list)
    measured_results: list[ClaimResult] = field(default_factory=list)
    runs: list[dict[str, str]] = field(default_factory=list)
    costs: dict[CellKey, CostCell] = field(default_factory=dict)
    extras: list[tuple[ExtraCost, Measurement | None]] = field(default_factory=list)
    proxies: list[tuple[Any, Any]] = field(default_factory=list)  # (ProxyCheck, LoggedOutcome | None)
    performance: Performance | None = None
    plots: list[Any] = field(default_factory=list)  # repro.report.plots.Plot
    runtime_by_cell: dict[CellKey, list] = field(default_factory=dict)  # measured runtime checks reading a cell
    runtime_by_claim: dict[str, list] = field(default_factory=dict)  # ... testing a claim
    cell_findings: dict[CellKey, list[Finding]] = field(default_factory=dict)  # the findings a cell is the subject of
    input_findings: dict[CellKey, list[Finding]] = field(default_factory=dict)  # ... whose failing claims read it
    claim_findings: dict[str, list[Finding]] = field(default_factory=dict)
    sources: dict[CellKey, SourceCheck] = field(default_factory=dict)  # quoted cells against their sources

    def __post_init__(self) -> None:
        if self.performance:
            self.runtime_by_cell = by_cell(self.performance.checks)
            self.runtime_by_claim = by_claim(self.performance.checks)
        cells, inputs, claims = defaultdict(list), defaultdict(list), defaultdict(list)
        for finding in self.findings:
            subjects = dict.fromkeys((*finding.cells, *finding.deviating))
            for key in subjects:
                cells[key].append(finding)
            for key in finding.inputs:
                if key not in subjects:
                    inputs[key].append(finding)
            for claim_id in dict.fromkeys((*finding.claims, *finding.measured_claims)):  # one badge a claim
                claims[claim_id].append(finding)
        self.cell_findings, self.input_findings, self.claim_findings = dict(cells), dict(inputs), dict(claims)

    def counters_disagree(self, key: CellKey) -> bool:
        m = self.verdicts[key].measurement
        if m is None or m.second_opinion is None or not m.value:
            return False
        return abs(m.second_opinion - m.value) / abs(m.value) > DISAGREEMENT

    @property
    def result_verdicts(self) -> dict[CellKey, Verdict]:
        """The verdicts of the cells that are results: every cell but the counts a paper chose (clips, frames)."""
        return {k: v for k, v in self.verdicts.items() if self.paper.cell(*k).kind != "count"}

    def cell_counts(self) -> Counter:
        return Counter(v.status for v in self.result_verdicts.values())

    def not_measured_causes(self) -> Counter:
        return Counter(v.cause for v in self.result_verdicts.values() if v.status == NOT_MEASURED)

    def cited_costs(self) -> tuple[int, int]:
        """Cost cells of rows cited from other papers: how many are measured, of how many."""
        cited = [v for k, v in self.result_verdicts.items()
                 if self.paper.cell(*k).kind in ("params", "flops") and CITATION.search(k[1])]
        return sum(v.measured is not None and not v.measurement.proxy for v in cited), len(cited)

    def source_counts(self) -> Counter:
        """Quoted cells per source verdict."""
        return Counter({v: 0 for v in SOURCE_VERDICTS}) | Counter(c.verdict for c in self.sources.values())

    def sources_unread(self) -> int:
        """Quoted cells whose row has no source read here (of those not found)."""
        return sum(not c.source_read for c in self.sources.values())

    def citations(self) -> list[tuple[Any, list[SourceCheck]]]:
        """Each cited entry with the checks of its cells, in the file's order."""
        grouped: dict[str, tuple[Any, list[SourceCheck]]] = {}
        for check_ in self.sources.values():
            grouped.setdefault(check_.citation.where, (check_.citation, []))[1].append(check_)
        return list(grouped.values())

    def measurable(self) -> int:
        """Result cells this suite can measure: measured ones, and those that need only the dataset and a GPU."""
        causes = self.not_measured_causes()
        return len(self.result_verdicts) - causes[CITED] - causes[NOT_MEASURABLE]

    def claim_counts(self, kind: str) -> Counter:
        """Statuses of the primary readings of one kind ("claim": sentences of the text, "relation": the
        arithmetic the tables imply); an alternative reading that fails is not the paper's fault."""
        return Counter(r.status for r in self.results if r.claim.reading == "primary" and r.claim.kind == kind)

    @property
    def major_findings(self) -> list[Finding]:
        """The findings a page lists and counts: all but the sentences nothing here can check."""
        return [f for f in self.findings if shown_first(f)]

    @property
    def unchecked_sentences(self) -> list[Finding]:
        return [f for f in self.findings if not shown_first(f)]

    def finding_counts(self) -> dict[str, int]:
        """The major findings per severity."""
        return counts(self.major_findings)

    def finding_breakdown(self) -> str:
        """What a count of findings is made of: "2 errors · 1 slip · 4 sentences cannot be checked"."""
        parts = [f"{n} {BREAKDOWN_WORDS[severity][n != 1]}" for severity, n in self.finding_counts().items() if n]
        sentences = len(self.unchecked_sentences)
        if sentences:
            parts.append(f"{sentences} sentence{'s' if sentences != 1 else ''} cannot be checked")
        return " · ".join(parts)

    def table_reasons(self, table: Table) -> list[tuple[str, int, list[str]]]:
        """Why result cells of `table` are not measured: per cause, the number of cells and the distinct
        reasons, the most common cause first."""
        by_cause: dict[str, Counter] = defaultdict(Counter)
        for cell in table.cells.values():
            verdict = self.verdicts.get(cell.key)
            if not cell.absent and cell.kind != "count" and verdict.status == NOT_MEASURED:
                by_cause[verdict.cause][verdict.reason] += 1
        found = [(cause, sum(r.values()), [text for text, _ in r.most_common()]) for cause, r in by_cause.items()]
        return sorted(found, key=lambda item: -item[1])

    def notes_for(self, table: Table | None) -> list[MethodNote]:
        """Method notes about `table` (None: the notes that name no table)."""
        if table is None:
            return [n for n in self.paper.method_notes if not n.tables]
        return [n for n in self.paper.method_notes if table.table in n.tables]

    def proxy_counts(self) -> tuple[int, int, list, list]:
        """Proxy checks run: how many held, how many ran, the checks that did not hold and those whose test
        videos could not tell the models apart."""
        ran = [(check, outcome) for check, outcome in self.proxies if outcome is not None]
        return (sum(o.held for _, o in ran), len(ran), [c for c, o in ran if o.verdict == NOT_HELD],
                [c for c, o in ran if o.verdict == INCONCLUSIVE])

    def plots_for(self, table: Table | None) -> list[Any]:
        return [p for p in self.plots if p.table == (table.table if table else None)]


def reproduce_command(paper_id: str) -> str:
    """The nox session that audits, measures and reports one paper (noxfile.py names it so)."""
    return f"nox -s reproduce-{paper_id.replace('_', '-')}"


def not_measured_reasons(paper: Paper, performance: Performance) -> dict[CellKey, Reason]:
    """Why each cell without a measurement has none: the experiment to run, the declared reason not to, or
    the runtime checks that compare its seconds only as ratios."""
    from ..run.experiments import load_experiments

    found = load_experiments(paper)
    reasons = {key: Reason(NEEDS_DATA, f"not run yet: repro run {e.name} --data-root DIR (needs {e.layout} and a GPU"
                                       + "".join(f"; --weights {name}=PATH: {what}"
                                                 for name, what in e.checkpoints().items()) + ")")
               for e in found.experiments for key in e.fills}
    reasons.update({key: Reason(n.cause, n.reason) for n in found.not_run for key in n.cells})
    if performance.spec:
        reasons.update({key: Reason(NOT_MEASURABLE, text) for key, text in time_cells(performance.spec).items()})
    spec = load_costs(paper)
    pending = f"not measured yet: run repro costs --paper {paper.id} (a CPU minute), or {reproduce_command(paper.id)}"
    for cost in spec.cells if spec else ():
        reasons.setdefault(cost.cell.key, Reason(PENDING, pending))
    for key, why in (spec.not_built.items() if spec else ()):
        reasons[key] = Reason(NOT_MEASURABLE, f"its architecture is not built here: {why}")
    return reasons


def build_view(paper: Paper, measured: Measured, extras: Extras | None = None,
               proxy_outcomes: Mapping[str, Any] | None = None, benchmarks: BenchRun | None = None) -> PaperView:
    from .plots import paper_plots

    performance = paper_performance(paper, benchmarks)
    reasons = not_measured_reasons(paper, performance)
    spec = load_costs(paper)
    costs = {c.cell.key: c for c in spec.cells} if spec else {}
    verdicts = {cell.key: judge(cell, measured.get((paper.id, cell.key)), reasons.get(cell.key),
                                alternative=costs[cell.key].alternative if cell.key in costs else None)
                for cell in paper.cells()}
    runs: dict[str, dict[str, str]] = {}
    found_extras = [m for (pid, _), m in (extras or {}).items() if pid == paper.id]
    for m in [v.measurement for v in verdicts.values() if v.measurement is not None] + found_extras:
        runs.setdefault(m.provenance.get("mlflow_run", "?"), m.provenance)
    results = ordered(audit_paper(paper))
    measured_results = claims_on_measured_values(paper, verdicts)
    sources = check_citations(paper, load_citations(paper))
    findings = find(Inputs(paper, results, verdicts, measured_results,
                           {k: c.explain for k, c in costs.items() if c.explain}, sources))
    view = PaperView(paper, results, verdicts, findings, measured_results, list(runs.values()), costs=costs,
                     sources=sources,
                     extras=[(e, (extras or {}).get((paper.id, e.id))) for e in spec.extras] if spec else [],
                     proxies=_proxies(paper, proxy_outcomes or {}), performance=performance)
    view.plots = paper_plots(view)
    return view


def _proxies(paper: Paper, outcomes: Mapping[str, Any]) -> list[tuple[Any, Any]]:
    from ..run.proxy import checks

    return [(check, outcomes.get(check.id)) for check in checks(paper)]


def claims_on_measured_values(paper: Paper, verdicts: Mapping[CellKey, Verdict]) -> list[ClaimResult]:
    """The claims again, with measured values in place of every cell they compute from; only claims whose
    cells all have a full (non-proxy) measurement. Each measured cell stands for its value plus or minus the
    tolerance its own verdict uses, so a claim and the cells it restates never disagree."""
    lookup = measured_lookup(paper, verdicts)
    measured = {key for key, v in verdicts.items()
                if v.status in (REPRODUCED, DEVIATES, CONVENTION) and not v.measurement.proxy}
    results = []
    for claim in paper.claims:
        if claim.expr is None or not claim.expr.refs or not all(ref in measured for ref in claim.expr.refs):
            continue
        try:
            results.append(check(claim, lookup, point_stated=True, decimals=stated_decimals(claim, paper)))
        except ExpressionError as exc:  # e.g. a measured zero in a denominator
            from ..audit.expr import Interval

            results.append(ClaimResult(claim, Interval.exact(float("nan")), None, None,
                                       f"cannot be evaluated on the measured values: {exc}"))
    return results

