"""Findings a paper declares in `papers/<id>/findings.yaml`, where judgement is needed to name a cause.

Each declared finding names the symptoms it explains (claims that fail on the printed tables, cells whose
measured value deviates) and its evidence (relations over printed cells that must hold). Every run checks
all of it again: a declared finding whose evidence no longer holds raises a DataError naming the file,
line and reason, so a diagnosis can never go stale. See papers/SCHEMA.md.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from .claims import check
from .expr import Expression, Interval
from .papers import OPS, CellKey, Claim, Paper, DataReader, read_expr
from .severity import ERROR, MINOR, SEVERITIES
from .verdicts import CONVENTION, DEVIATES, REPRODUCED, Verdict

FIELDS = ("id", "severity", "cause", "title", "detail", "explains", "deviates", "cells", "evidence", "size")


@dataclass(frozen=True)
class DeclaredFinding:
    id: str
    severity: str
    cause: str
    title: str
    detail: str | None
    cells: tuple[CellKey, ...]
    explains: tuple[str, ...]  # claim ids that must fail on the printed tables
    deviates: tuple[CellKey, ...]  # cells that must deviate when measured
    evidence: tuple[Claim, ...]  # relations over printed cells that must hold
    size: tuple[Expression, Expression, str] | None  # printed, expected, unit
    size_cell: CellKey | None  # or: the printed cell whose measured value gives the size
    source: str
    lines: Mapping[str, int]  # line of each field, for errors


def findings_path(paper: Paper) -> Path:
    return paper.root / "findings.yaml"


def load_declared(paper: Paper) -> list[DeclaredFinding]:
    """The paper's declared findings, validated against its tables and claims (not yet re-checked)."""
    path = findings_path(paper)
    if not path.is_file():
        return []
    reader = DataReader(path)
    _, nodes = reader.top_list("findings")
    claim_ids = {c.id for c in paper.claims}
    found: list[DeclaredFinding] = []
    for index, node in enumerate(nodes):
        name = f"findings[{index}]"
        node = reader.mapping(node, nodes.line_of(index), name)
        reader.known(node, name, FIELDS)
        finding_id = reader.text(node, "id", name)
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", finding_id) or any(f.id == finding_id for f in found):
            raise reader.fail(node.line_of("id"), f"{name}.id", f"a unique slug of a-z, 0-9 and -, got {finding_id!r}")
        name = f"{name} ({finding_id})"
        # a minor mismatch is computed (no verdict changes), never declared
        severity = reader.choice(node, "severity", name, tuple(s for s in SEVERITIES if s != MINOR), ERROR)
        explains = tuple(str(x) for x in reader.optional_list(node, "explains", name))
        for claim_id in explains:
            if claim_id not in claim_ids:
                raise reader.fail(node.line_of("explains"), f"{name}.explains", f"claim ids of claims.yaml; "
                                                                                 f"{claim_id!r} is not one")
        cells = reader.cells(paper, node, "cells", name)
        deviates = reader.cells(paper, node, "deviates", name)
        if not (explains or deviates):
            raise reader.fail(node.line, name, "explains (claims that fail) or deviates (cells that deviate): "
                                               "a finding explains something")
        evidence = []
        for e_index, e_node in enumerate(reader.optional_list(node, "evidence", name)):
            e_name = f"{name}.evidence[{e_index}]"
            e_node = reader.mapping(e_node, node["evidence"].line_of(e_index), e_name)
            reader.known(e_node, e_name, ("text", "stated", "expr", "op", "tolerance"))
            evidence.append(Claim(
                paper=paper.id, id=f"{finding_id}/evidence[{e_index}]", kind="relation",
                quote=reader.text(e_node, "text", e_name), where=None,
                stated_text=reader.text(e_node, "stated", e_name),
                stated=read_expr(reader, paper, e_node, "stated", e_name), unit=None,
                op=reader.choice(e_node, "op", e_name, OPS, "eq"),
                expr=read_expr(reader, paper, e_node, "expr", e_name),
                tolerance=reader.tolerance(e_node, e_name), note=None, unchecked=None, source=f"{path}:{e_node.line}"))
        size, size_cell = None, None
        if node.get("size") is not None:
            s_node = reader.mapping(node["size"], node.line_of("size"), f"{name}.size")
            reader.known(s_node, f"{name}.size", ("printed", "expected", "unit", "measured"))
            if "measured" in s_node:  # the gap between a cell and its measured value
                size_cell = reader.cell(paper, s_node["measured"], s_node.line_of("measured"),
                                  f"{name}.size.measured")
            else:
                size = (read_expr(reader, paper, s_node, "printed", f"{name}.size"),
                        read_expr(reader, paper, s_node, "expected", f"{name}.size"),
                        reader.text(s_node, "unit", f"{name}.size"))
        found.append(DeclaredFinding(
            id=finding_id, severity=severity, cause=reader.text(node, "cause", name),
            title=reader.text(node, "title", name), detail=reader.text(node, "detail", name, required=False),
            cells=tuple(dict.fromkeys((*cells, *deviates))), explains=explains, deviates=deviates,
            evidence=tuple(evidence), size=size, size_cell=size_cell, source=f"{path}:{node.line}",
            lines={k: node.line_of(k) for k in node} | {"": node.line}))
    return found


def recheck(paper: Paper, finding: DeclaredFinding, printed: Mapping[CellKey, Interval],
            verdicts: Mapping[CellKey, Verdict]) -> None:
    """Raise DataError (file:line: field: reason) unless every piece of the finding's evidence still holds."""
    path = Path(finding.source.rsplit(":", 1)[0])
    claims = {c.id: c for c in paper.claims}

    def stale(field: str, reason: str) -> DataError:
        return DataError(path, finding.lines.get(field.split("[")[0], finding.lines[""]),
                         f"findings ({finding.id}).{field}", f"{reason}; the declared finding no longer holds")

    for claim_id in finding.explains:
        result = check(claims[claim_id], printed)
        if result.consistent is not False:
            raise stale("explains", f"{claim_id} to fail on the printed tables, as the finding says, but it is "
                                    f"{result.status} ({result.explanation})")
    for index, relation in enumerate(finding.evidence):
        result = check(relation, printed)
        if result.consistent is not True:
            raise stale(f"evidence[{index}]", f"'{relation.quote}' to hold ({result.explanation})")
    for key in finding.deviates:
        verdict = verdicts.get(key)
        if verdict is not None and verdict.status in (REPRODUCED, CONVENTION):
            raise stale("deviates", f"{{{'|'.join(key)}}} to deviate from its measured value, but the measurement "
                                    f"{verdict.measured:.4g} reproduces it"
                                    + (" under the paper's counting convention" if verdict.status == CONVENTION
                                       else ""))


def measured_deviation(finding: DeclaredFinding, verdicts: Mapping[CellKey, Verdict]) -> tuple[CellKey, ...]:
    """The cells the finding explains that deviate now."""
    return tuple(k for k in finding.deviates if k in verdicts and verdicts[k].status == DEVIATES)
