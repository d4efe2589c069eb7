"""Terminal output of tables and findings (rich renders readable tables in any width)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table as RichTable

from .audit import OP_WORDS, Finding
from .papers import Paper

_STYLE = {"consistent": "green", "inconsistent": "bold red", "unchecked": "dim"}


def print_tables(papers: list[Paper], console: Console | None = None) -> None:
    console = console or Console()
    for paper in papers:
        for table in paper.tables.values():
            out = RichTable(title=f"{paper.id} · Table {table.table}: {table.caption}", title_justify="left")
            out.add_column("row")
            for column in table.columns:
                out.add_column(f"{column.label} [{column.unit}]", justify="right")
            for row in table.rows:
                out.add_row(row, *[table.cells[(row, c.label)].printed for c in table.columns])
            console.print(out)


def print_audit(findings: list[Finding], console: Console | None = None) -> None:
    console = console or Console()
    out = RichTable(title="Audit: the papers' text against their own tables", title_justify="left")
    for name in ("paper", "id", "status", "stated", "computed", "claim"):
        out.add_column(name, overflow="fold")
    for f in findings:
        computed = "—" if f.computed is None else f"{f.computed.mid:.4g}"
        out.add_row(f.claim.paper, f.claim.id, f"[{_STYLE[f.status]}]{f.status}[/]",
                    f"{OP_WORDS[f.claim.op]} {f.claim.stated_text}", computed,
                    f"{f.claim.quote}\n[dim]{f.explanation}[/]")
    console.print(out)
    counts = {s: sum(f.status == s for f in findings) for s in _STYLE}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items()))
