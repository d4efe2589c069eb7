"""Terminal output of tables and findings (rich renders readable tables in any width)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from .audit.claims import ClaimResult
from .audit.verdicts import CONVENTION, DEVIATES, NOT_MEASURED, REPRODUCED, VERDICT_SHORT
from .audit.papers import Paper

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


def print_findings(views: list, out=None, only_severe: bool = False) -> None:
    """Each paper's findings as a numbered list, wrapped to the terminal (plain text reads at any width)."""
    import sys
    import textwrap

    from .audit.findings import CANNOT_CHECK
    from .audit.words import cell_words

    out = out or sys.stdout
    width = terminal_width()
    for view in views:
        found = view.major_findings if only_severe else view.findings
        major = len(view.major_findings)
        print(textwrap.fill(f"{view.paper.id}: {major} finding{'' if major == 1 else 's'} "
                            f"({view.finding_breakdown() or 'none'})", width, subsequent_indent="  "), file=out)
        sentences_said = False
        for number, f in enumerate(view.findings, 1):
            if f not in found:
                continue
            first = "       "
            if f in view.major_findings:  # numbered as on the page
                print(f"  F{number:<3}{f.severity_words}" + (f", {f.size_words}" if f.size else ""), file=out)
            else:  # a sentence nothing can check: listed, not counted or numbered (the page folds them too)
                if not sentences_said:
                    print("  Sentences of the text that nothing here can check:", file=out)
                sentences_said, first = True, "     – "
            print(textwrap.fill(f.title, width, initial_indent=first, subsequent_indent="       "), file=out)
            evidence = [*f.claims, *(f"{c} (measured)" for c in f.measured_claims)]
            evidence += [cell_words(k) for k in f.deviating]
            if evidence:
                label = "sentence: " if f.cause == CANNOT_CHECK else "explains: "
                print(textwrap.fill(label + ", ".join(evidence), width, initial_indent="       ",
                                    subsequent_indent="         ", break_on_hyphens=False), file=out)
            if f.rechecks:
                print(textwrap.fill(f.recheck_summary, width, initial_indent="       ", subsequent_indent="         ",
                                    break_on_hyphens=False), file=out)
        hidden = len(view.findings) - len(found)
        if hidden:
            print(textwrap.fill(f"and {hidden} sentence{'s' if hidden > 1 else ''} of the text that nothing here can "
                                f"check (repro findings --paper {view.paper.id})", width, initial_indent="  ",
                                subsequent_indent="    "), file=out)


def print_audit(results: list[ClaimResult], out=None) -> None:
    """Per paper: each claim or relation that fails, in full, then the ids of those that hold or cannot be
    checked, wrapped to the terminal (plain text reads at any width)."""
    import sys
    import textwrap

    out = out or sys.stdout
    width = terminal_width()
    indent = dict(initial_indent="    ", subsequent_indent="    ", width=width, break_on_hyphens=False)
    for paper in dict.fromkeys(r.claim.paper for r in results):
        mine = [r for r in results if r.claim.paper == paper]
        primary = [r for r in mine if r.claim.reading == "primary"]
        status = {s: [r for r in primary if r.status == s] for s in ("inconsistent", "consistent", "unchecked")}
        alternatives = len(mine) - len(primary)
        print(textwrap.fill(f"{paper}: {len(primary)} claims and relations: {len(status['inconsistent'])} fail, "
                            f"{len(status['consistent'])} hold, {len(status['unchecked'])} cannot be checked"
                            + (f" ({alternatives} alternative reading{'s' if alternatives > 1 else ''}, not counted)"
                               if alternatives else ""), width, subsequent_indent="  "), file=out)
        for r in status["inconsistent"]:
            kind = "text claim" if r.claim.kind == "claim" else "relation"
            print(textwrap.fill(f"FAILS {r.claim.id} ({kind}{', ' + r.claim.where if r.claim.where else ''})", width,
                                initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False), file=out)
            print(textwrap.fill(f"“{r.claim.quote}”", **indent), file=out)
            print(textwrap.fill(r.explanation, **indent), file=out)
        for name, word in (("consistent", "hold"), ("unchecked", "cannot be checked")):
            if status[name]:
                print(textwrap.fill(f"{word}: " + ", ".join(r.claim.id for r in status[name]), width,
                                    initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False), file=out)


def terminal_width() -> int:
    """Columns to wrap plain text to: the terminal's, kept between 60 and 120; 80 off a terminal, as rich does."""
    import shutil

    return max(60, min(shutil.get_terminal_size((80, 24)).columns, 120))


@contextmanager
def progress(total: int, what: str) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr; the yielded function advances it by one, naming the next item."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(what, total=total)
        started = [False]

        def advance(item: str) -> None:
            if started[0]:
                bar.advance(task)
            started[0] = True
            bar.update(task, description=f"{what}: {item}")

        yield advance
        bar.update(task, completed=total, description=f"{what}: done")


_VERDICT_STYLE = {REPRODUCED: "green", DEVIATES: "bold yellow", NOT_MEASURED: "dim", CONVENTION: "cyan"}




def print_costs(measured: list, console: Console | None = None) -> None:
    """Printed against measured for every cost cell, and the costs the papers do not print. Four columns, the
    cell's name folding, so the table reads in 80 columns."""
    from .audit.numbers import show
    from .measure.costs import extra_rows, rows

    console = console or Console()
    for costs in measured:
        paper = costs.spec.paper
        out = RichTable(title=f"{paper.id}: cost cells (FLOPs convention: {paper.flops_convention})",
                        title_justify="left")
        out.add_column("cell", overflow="fold", ratio=1)
        out.add_column("printed", justify="right", no_wrap=True)
        out.add_column("measured", justify="right", no_wrap=True)
        out.add_column("verdict", no_wrap=True)
        for r in rows(costs):
            decimals = paper.cell(r["table"], r["row"], r["column"]).printed_number().decimals + 1
            measured_text = show(r["measured"], decimals)
            if r["relative"] is not None:
                measured_text += f" ({show(100 * r['relative'], 1, signed=True)}%)"
            if r["counters_disagree"]:
                measured_text += f"\n[yellow]ptflops {show(r['second_opinion'], decimals)}[/]"
            if r["alternative_value"] is not None:
                measured_text += f"\n{r['alternative']['kind']}: {show(r['alternative_value'], decimals)}"
            printed = r["printed"] if r["printed"][-1:].isalpha() else f"{r['printed']} {r['unit']}"
            out.add_row(f"T{r['table']} {r['row']} · {r['column']}", printed, measured_text,
                        f"[{_VERDICT_STYLE[r['verdict']]}]{VERDICT_SHORT[r['verdict']]}[/]")
        console.print(out)
        if any(r["verdict"] == CONVENTION for r in rows(costs)):
            console.print(f"convention: {CONVENTION} (costs.yaml alternative)")
        extras = extra_rows(costs)
        if extras:
            table = RichTable(title=f"{paper.id}: measured, not printed in the paper", title_justify="left")
            table.add_column("what", overflow="fold", ratio=1)
            table.add_column("measured", justify="right", no_wrap=True)
            for e in extras:
                table.add_row(f"{e['label']} [dim]({e['id']})[/]", f"{e['measured']:.4g} {e['unit']}")
            console.print(table)


def print_check(report, console: Console | None = None) -> None:
    """`repro data check`: one row per split and subset, then the files that could not be read."""
    console = console or Console()
    data = report.as_json()
    from rich import box

    # no inner borders, and no header word cut: nine columns read whole on an 80-column terminal
    out = RichTable(title=f"{report.layout}: {report.videos}", title_justify="left", box=box.SIMPLE_HEAD,
                    show_edge=False, padding=(0, 0))
    columns = ("split", "subset", "samples", "classes", "per class", "missing", "unreadable", "audio", "no audio")
    for name in columns:
        out.add_column(name, justify="left" if name == "subset" else "right",
                       min_width=max(len(word) for word in name.split()))
    for s in data["subsets"]:
        out.add_row(str(s["split"]), s["subset"], str(s["samples"]), str(s["classes"]),
                    f"{s['per_class_min']}-{s['per_class_max']}", str(s["missing"]), str(s["unreadable"]),
                    str(s["with_audio"]), str(s["without_audio"]))
    console.print(out)
    files = data["files"]
    console.print(f"{files['total']} files: {files['with_audio']} with an audio track, "
                  f"{files['without_audio']} without, {len(files['unreadable'])} missing or unreadable")
    for bad in files["unreadable"][:20]:
        console.print(f"  [red]{bad['path']}[/]: {bad['reason']}")
    if len(files["unreadable"]) > 20:
        console.print(f"  ... and {len(files['unreadable']) - 20} more (--json lists them all)")
    for note in report.notes:
        console.print(f"[dim]note: {note}[/]")
    console.print("[green]layout OK[/]" if report.ok else "[bold red]layout broken[/]")


def print_rows(rows: list[dict], title: str, console: Console | None = None,
               narrow: tuple[str, ...] = ()) -> None:
    """A list of flat dicts as one table, columns in the first row's order. Where the table would not fit the
    terminal and `narrow` names the columns that matter most, only those are shown, and a line says which
    were left out (--json has every column)."""
    console = console or Console()
    if not rows:
        console.print(f"{title}: none")
        return

    def table(columns: list[str]) -> RichTable:
        out = RichTable(title=title, title_justify="left")
        for name in columns:
            out.add_column(name, overflow="fold")
        for row in rows:
            out.add_row(*[str(row[name]) for name in columns])
        return out

    columns = list(rows[0])
    out = table(columns)
    # folding free text (a title) is fine, folding a name is not: a column counts up to 40 characters
    natural = 1 + sum(3 + min(40, max(len(name), *(len(str(row[name])) for row in rows))) for name in columns)
    if narrow and natural > console.width:
        out = table([c for c in columns if c in narrow])
        left_out = [c for c in columns if c not in narrow]
        console.print(out)
        console.print(f"(a narrow terminal: {', '.join(left_out)} left out; --json shows every column)")
        return
    console.print(out)
