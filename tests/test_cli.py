"""The `repro` command line: tables, audit, report, reproduce, and errors."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from repro.cli import main
from repro.audit.papers import load_papers

from conftest import REPO, TABLES_YAML, write_paper


def _json(capsys, *argv):
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_tables_json_lists_every_numeric_cell(capsys):
    cells = _json(capsys, "tables", "--json")
    assert len(cells) == sum(len(list(p.cells())) for p in load_papers())
    assert {c["paper"] for c in cells} == {"faster", "gcfnet", "kpsem", "maivar", "motion_distill"}
    for cell in cells:
        assert {"paper", "table", "row", "column", "value", "unit"} <= set(cell)
        assert isinstance(cell["table"], str) and isinstance(cell["value"], float)
    r2p1d = [c for c in cells if c["paper"] == "faster" and c["table"] == "2" and c["row"].startswith("R(2+1)D-50")]
    assert [c["value"] for c in r2p1d if c["unit"] == "%"] == [70.1, 72.3, 74.5]


def test_tables_json_for_one_paper_and_absent_cells(capsys):
    cells = _json(capsys, "tables", "--paper", "kpsem", "--json", "--include-absent")
    assert {c["paper"] for c in cells} == {"kpsem"}
    assert any(c["value"] is None and c["printed"] == "-" for c in cells)


def test_audit_json(capsys):
    audit = _json(capsys, "audit", "--json")
    claims, findings = audit["claims"], audit["findings"]
    assert {c["paper"] for c in claims} == {"faster", "gcfnet", "kpsem", "maivar", "motion_distill"}
    for c in claims:
        assert {"paper", "claim", "stated", "computed", "consistent"} <= set(c)
        assert c["consistent"] in (True, False, None)
        assert (c["consistent"] is None) == (c["status"] == "unchecked")
    assert any(c["consistent"] is False for c in claims)
    # Every primary claim that fails on the printed tables is explained by exactly one finding.
    failing = {(c["paper"], c["id"]) for c in claims if c["consistent"] is False and c["reading"] == "primary"}
    explained = [(f["paper"], cid) for f in findings for cid in f["claims"]]
    assert failing <= set(explained) and len(explained) == len(set(explained))


def test_tables_and_audit_print_readably(capsys):
    assert main(["tables", "--paper", "maivar"]) == 0
    assert "Table 1" in capsys.readouterr().out
    assert main(["audit", "--paper", "maivar"]) == 0
    out = capsys.readouterr().out
    assert "FAILS chromagram-best-before-fusion" in out and "1 fail, 8 hold, 3 cannot be checked" in out
    assert max(len(line) for line in out.splitlines()) <= 120


def test_malformed_paper_exits_2_with_file_and_line(tmp_path, monkeypatch, capsys):
    write_paper(tmp_path, tables=TABLES_YAML.replace("[70.0, 30.0]", "[70.0, lots]"))
    monkeypatch.setenv("REPRO_PAPERS", str(tmp_path))
    assert main(["tables"]) == 2
    err = capsys.readouterr().err
    assert "tables.yaml:10: table 1.row 'Base'.values['GFLOPs']: a number as printed" in err


def test_unknown_paper_names_the_known_ones(capsys):
    assert main(["audit", "--paper", "fastr"]) == 2
    err = capsys.readouterr().err
    assert "--paper: one of faster, gcfnet" in err and "got 'fastr'" in err and "did you mean faster" in err
    assert main(["findings", "--paper", "FASTER"]) == 2
    assert "did you mean faster?" in capsys.readouterr().err


@pytest.fixture
def paper_copy(tmp_path, monkeypatch):
    """A copy of the papers' data files, read instead of papers/ (REPRO_PAPERS), to break one at will."""
    import shutil

    root = tmp_path / "papers"
    shutil.copytree(REPO / "papers", root, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setenv("REPRO_PAPERS", str(root))
    return root


def test_bad_paper_files_fail_before_work_with_file_line_and_field(paper_copy, monkeypatch, capsys):
    root = paper_copy
    findings = root / "gcfnet" / "findings.yaml"
    findings.write_text(findings.read_text().replace("    deviates:", "    deviate:"))
    assert main(["findings", "--paper", "gcfnet"]) == 2
    err = capsys.readouterr().err
    assert "findings.yaml:12: findings[0].deviate: one of the fields" in err and "did you mean deviates?" in err
    findings.write_text(findings.read_text().replace("    deviate:", "    deviates:"))
    claims = root / "maivar" / "claims.yaml"  # a paper not loaded (and cached) above
    text = claims.read_text()
    line = text[:text.index("  note:")].count("\n") + 1
    claims.write_text(text.replace("  note:", "  notes:", 1))
    assert main(["audit", "--paper", "maivar"]) == 2
    err = capsys.readouterr().err
    assert f"claims.yaml:{line}: " in err and ".notes: one of the fields" in err and "did you mean note?" in err
    findings.write_bytes("findings: [caf\xe9]\n".encode("latin-1"))
    assert main(["audit", "--paper", "gcfnet"]) == 2
    assert "findings.yaml:1: encoding: UTF-8 text" in capsys.readouterr().err
    empty = root.parent / "none"
    empty.mkdir()
    monkeypatch.setenv("REPRO_PAPERS", str(empty))
    assert main(["findings"]) == 2
    assert "at least one paper folder" in capsys.readouterr().err


def test_reproduce_writes_every_page_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert main(["reproduce", "--paper", "gcfnet", "--out", str(tmp_path / "out"), "--no-proxy"]) == 0
    out = capsys.readouterr().out
    # the findings, measured costs included: the swapped numbers, the counting convention of Table 3
    assert re.search(r"^gcfnet: \d+ findings", out, re.M) and "ablation-inter-clip-only" in out
    words = " ".join(out.split())  # findings wrap to the terminal
    assert "the tables give them the other way round" in words
    assert "counted with Efficient-3DCNNs' FLOP counter before its 2021 stride fix" in words
    assert "faster:" not in out  # the findings of the paper reproduced; the index still covers all
    assert f"report: {tmp_path / 'out' / 'index.html'}" in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "faster.html", "gcfnet.html", "index.html", "kpsem.html", "maivar.html", "motion_distill.html"]


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "repro", "tables", "--paper", "maivar", "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["paper"] == "maivar"


def test_a_table_too_wide_for_the_terminal_keeps_the_columns_that_matter():
    import io

    from rich.console import Console

    from repro.console import print_rows

    rows = [{"experiment": f"paper/experiment-{i}", "title": "a long free-text title " * 4, "cells": i,
             "model": "baselines/mobilenetv2_3d", "pipeline": "paper.some_pipeline"} for i in range(3)]
    narrow, wide = io.StringIO(), io.StringIO()
    print_rows(rows, "experiments", Console(file=narrow, width=80), narrow=("experiment", "cells", "model"))
    print_rows(rows, "experiments", Console(file=wide, width=200), narrow=("experiment", "cells", "model"))
    lines = narrow.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines) and "paper/experiment-2" in narrow.getvalue()
    assert "title, pipeline left out; --json shows every column" in " ".join(narrow.getvalue().split())
    assert "pipeline" in wide.getvalue() and "left out" not in wide.getvalue()


def test_proxy_checks_say_they_are_running_and_report_each_as_it_ends(tmp_path, monkeypatch, capsys):
    """A proxy check trains for minutes: its name is printed before it starts, and its outcome as soon as it
    ends, before the next one starts (not all at the end)."""
    from repro.run import proxy

    seen: list[str] = []

    def check(name: str):
        def run(ctx):
            seen.append(capsys.readouterr().out)  # what the user has read when the check starts
            return proxy.ProxyOutcome(proxy.HELD, values={"top1": 0.5}, summary=f"{name} summary")
        return proxy.ProxyCheck(name, f"the claim of {name}", "Sec. 1", run)

    monkeypatch.setattr(proxy, "checks", lambda paper: [check("first"), check("second")])
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["proxy", "--paper", "gcfnet", "--out", str(tmp_path / "runs"), "--tracking-uri", uri]) == 0
    assert "gcfnet proxy check first: running on synthetic data (the claim of first)" in seen[0]
    assert "proxy check second: running" in seen[1] and "first: held on proxy data" in seen[1]
    assert "second: held on proxy data" in capsys.readouterr().out


def test_a_stray_argument_gets_the_subcommands_usage_and_each_help_says_what_it_does(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["audit", "--json", "extra"])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "usage: repro audit " in err
    assert "repro audit: error: unrecognized arguments: extra" in err
    with pytest.raises(SystemExit):
        main(["bench", "train", "--help"])
    assert "Training steps a second of one model" in capsys.readouterr().out


def test_a_misspelt_table_field_and_an_unknown_model_name_what_was_meant(paper_copy, monkeypatch, capsys):
    root = paper_copy
    tables = root / "kpsem" / "tables.yaml"
    tables.write_text(tables.read_text().replace('  - table: "1"', '  - tabel: "1"', 1))
    assert main(["audit", "--paper", "kpsem"]) == 2
    assert "tables[0].tabel: one of the fields table, caption" in capsys.readouterr().err
    monkeypatch.delenv("REPRO_PAPERS")
    assert main(["bench", "train", "qqqq"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'qqqq'; the models: baselines/" in err and "faster/fast_gru" in err


def test_plain_text_wraps_to_80_columns_off_a_terminal_and_keeps_a_terminals_width(monkeypatch):
    import os

    from repro.console import terminal_width

    monkeypatch.delenv("COLUMNS", raising=False)

    def piped(*_):
        raise OSError("not a terminal")

    monkeypatch.setattr(os, "get_terminal_size", piped)
    assert terminal_width() == 80
    monkeypatch.setattr(os, "get_terminal_size", lambda *_: os.terminal_size((100, 40)))
    assert terminal_width() == 100
    monkeypatch.setattr(os, "get_terminal_size", lambda *_: os.terminal_size((30, 40)))
    assert terminal_width() == 60  # narrower than that reads worse wrapped than scrolled


def test_the_plain_text_commands_read_in_80_columns(monkeypatch, capsys, tmp_path):
    """Piped or on an 80-column terminal, no line of `findings`, `audit` or `tables` runs past 80 characters."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    for command in ("findings", "audit", "tables"):
        assert main([command]) == 0
        long = [line for line in capsys.readouterr().out.splitlines() if len(line) > 80]
        assert long == [], f"repro {command}: {long[:3]}"
