"""The layout shows the architecture: repro/'s concerns are subpackages whose imports flow one way."""
from __future__ import annotations

import ast
from pathlib import Path

REPRO = Path(__file__).resolve().parent.parent / "repro"
SUBPACKAGES = sorted(p.name for p in REPRO.iterdir() if (p / "__init__.py").is_file())


def _imports_between_subpackages() -> set[tuple[str, str, str]]:
    """(importing subpackage, imported subpackage, file) for every relative import that crosses them."""
    edges = set()
    for path in REPRO.rglob("*.py"):
        parts = path.relative_to(REPRO).parts
        if len(parts) < 2:
            continue  # a flat module of repro/ (cli, models, ...) may use any subpackage
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
                target = node.module.split(".")[0]
                if target in SUBPACKAGES and target != parts[0]:
                    edges.add((parts[0], target, str(path.relative_to(REPRO))))
    return edges


def test_subpackage_imports_form_no_cycle():
    edges = _imports_between_subpackages()
    graph: dict[str, set[str]] = {}
    for source, target, _ in edges:
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    cycles = sorted({(s, t, f) for s, t, f in edges if reaches(t, s, {t})})
    assert not cycles, f"imports that close a cycle between subpackages: {cycles}"
    assert {"measure", "engine", "run", "report", "audit"} <= set(SUBPACKAGES)
