"""HTML reproduction reports: one page per paper plus an index, rendered with jinja2.

Pages are self-contained (inline CSS, no scripts or fetches) so that they open from disk, attach to
an email and archive as they are.
"""
from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping

import jinja2

from . import __version__
from .audit import OP_WORDS, Finding, audit_paper, ordered
from .papers import CellKey, Paper, Table
from .verdicts import DEVIATES, NOT_MEASURED, REPRODUCED, Measurement, Verdict, judge

Measured = Mapping[tuple[str, CellKey], Measurement]


@dataclass
class PaperView:
    paper: Paper
    findings: list[Finding]
    verdicts: dict[CellKey, Verdict]
    runs: list[dict[str, str]] = field(default_factory=list)

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


def build_view(paper: Paper, measured: Measured) -> PaperView:
    verdicts = {cell.key: judge(cell, measured.get((paper.id, cell.key))) for cell in paper.cells()}
    runs: dict[str, dict[str, str]] = {}
    for verdict in verdicts.values():
        if verdict.measurement is not None:
            origin = verdict.measurement.provenance
            runs.setdefault(origin.get("mlflow_run", "?"), origin)
    return PaperView(paper, ordered(audit_paper(paper)), verdicts, list(runs.values()))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("repro", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.globals.update(OP_WORDS=OP_WORDS, REPRODUCED=REPRODUCED, DEVIATES=DEVIATES,
                       NOT_MEASURED=NOT_MEASURED, version=__version__)
    return env


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1e4:
        return f"{value:,.0f}"
    return f"{value:.{digits}g}"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render(papers: list[Paper], out_dir: Path, measured: Measured | None = None) -> list[Path]:
    """Write index.html and <paper>.html into `out_dir`; returns the paths written."""
    out_dir = Path(out_dir)
    views = [build_view(p, measured or {}) for p in papers]
    env = _environment()
    written = []
    for view in views:
        path = out_dir / f"{view.paper.id}.html"
        _write_atomic(path, env.get_template("paper.html.j2").render(view=view, paper=view.paper))
        written.append(path)
    index = out_dir / "index.html"
    _write_atomic(index, env.get_template("index.html.j2").render(views=views))
    return [index, *written]
