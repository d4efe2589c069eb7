"""The declared papers against the papers' own text (../shared/seeds/ or $REPRO_SEEDS).

A wrong digit in a table poisons every verdict, so each row's printed values must appear, in
order, on one line of the paper's text, and each claim's stated number must be in its quote.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from repro.audit.papers import load_papers, paper_ids

from conftest import REPO

SEEDS = Path(os.environ.get("REPRO_SEEDS", REPO.parent / "shared" / "seeds"))
PAPERS = ("faster", "gcfnet", "kpsem", "maivar", "motion_distill")


def _seed_lines(paper_id: str) -> list[str]:
    path = SEEDS / f"{paper_id}.txt"
    if not path.is_file():
        pytest.skip(f"paper text {path} is not here; set REPRO_SEEDS to the folder of paper texts")
    return path.read_text(encoding="utf-8").splitlines()


def _digits(printed: str) -> str:
    return re.sub(r"^[<>≤≥~≈]\s*", "", printed).rstrip("%MGKx×")


def test_the_five_papers_are_declared():
    assert tuple(paper_ids()) == PAPERS


@pytest.mark.parametrize("paper_id", PAPERS)
def test_every_row_appears_in_order_in_the_paper_text(paper_id):
    lines = _seed_lines(paper_id)
    (paper,) = load_papers(paper_id)
    missing = []
    for table in paper.tables.values():
        for row in table.rows:
            values = [_digits(table.cells[(row, c.label)].printed) for c in table.columns
                      if not table.cells[(row, c.label)].absent]
            pattern = ".*?".join(rf"(?<![\d.]){re.escape(v)}" for v in values)
            if values and not any(re.search(pattern, line) for line in lines):
                missing.append((table.table, row, values))
    assert missing == []


# Numbers that sentences state in words.
WORDS = {0.5: ("half",), 1.0: ("proportional",), 2.0: ("twice", "double")}


def _stated_in_quote(claim) -> bool:
    if claim.stated.value == 0 or _digits(claim.stated_text) in claim.quote:
        return True
    return any(word in claim.quote.lower() for word in WORDS.get(claim.stated.value, ()))


@pytest.mark.parametrize("paper_id", PAPERS)
def test_stated_numbers_are_in_their_quotes(paper_id):
    (paper,) = load_papers(paper_id)
    assert [c.id for c in paper.claims if c.kind == "claim" and not _stated_in_quote(c)] == []
