"""Property tests: every mutation of a paper's YAML files and every bad command line ends in a clean error that
names the file and line (or the option), or in a correct acceptance; never a traceback, a hang, or a silent
acceptance of an impossible value. Hypothesis runs them with a fixed seed and a bounded number of examples."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro.audit.papers import load_paper, paper_ids, papers_root
from repro.cli import check_paper_data, main
from repro.errors import DataError

PAPERS = paper_ids(papers_root())
FILES = ("paper.yaml", "tables.yaml", "claims.yaml", "costs.yaml", "runtime.yaml", "experiments.yaml",
         "citations.yaml", "findings.yaml", "plots.yaml")
NASTY = ["-1", "0", "-32", "1e400", "9" * 400, "abc", "[600]", "{a: 1}", "null", "''", "1.5", "true", "[]",
         "-0.5", "10 ** 400", "\"{1|x|y} / 0\"", "\"min()\"", "\"abs(1, 2)\"", "\"[1, 2]\"", "nan", ".inf",
         "\"(-8) ** 0.5\"", "*undefined", "&a [*a]"]
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
WHERE = re.compile(r"\S+\.(yaml|py)(:\d+)?: ")


@pytest.fixture(scope="module")
def papers_copy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("papers")
    for paper_id in PAPERS:
        shutil.copytree(papers_root() / paper_id, root / paper_id, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _mutate(text: str, data: st.DataObject) -> bytes:
    lines = text.splitlines(keepends=True)
    index = data.draw(st.integers(0, len(lines) - 1), label="line")
    line = lines[index]
    operation = data.draw(st.sampled_from(["value", "number", "delete", "duplicate", "bytes", "truncate", "indent"]),
                          label="operation")
    numbers = list(re.finditer(r"-?\d+(\.\d+)?", line))
    if operation == "number" and numbers:
        found = numbers[data.draw(st.integers(0, len(numbers) - 1), label="which number")]
        lines[index] = line[:found.start()] + data.draw(st.sampled_from(NASTY), label="value") + line[found.end():]
    elif operation == "value" and ":" in line:
        key, _, _ = line.partition(":")
        lines[index] = f"{key}: {data.draw(st.sampled_from(NASTY), label='value')}\n"
    elif operation == "delete":
        del lines[index]
    elif operation == "duplicate":
        lines.insert(index, line)
    elif operation == "truncate":
        lines = lines[:index]
    elif operation == "indent":
        lines[index] = "   " + line
    body = "".join(lines).encode()
    if operation == "bytes":
        at = data.draw(st.integers(0, len(body)), label="offset")
        body = body[:at] + b"\xff\xfe" + body[at:]
    return body


@FAST
@given(data=st.data())
def test_a_mutated_paper_file_fails_cleanly_with_file_and_line_or_loads(papers_copy, data):
    paper_id = data.draw(st.sampled_from(PAPERS), label="paper")
    present = [name for name in FILES if (papers_copy / paper_id / name).is_file()]
    name = data.draw(st.sampled_from(present), label="file")
    path = papers_copy / paper_id / name
    original = path.read_bytes()
    path.write_bytes(_mutate(original.decode("utf-8"), data))
    try:
        check_paper_data([load_paper(papers_copy / paper_id)])
    except DataError as exc:
        assert WHERE.match(str(exc)) or str(exc).startswith(str(papers_copy)), str(exc)
    finally:
        path.write_bytes(original)


COMMANDS = {  # options each command takes, with values worth trying (None: a flag)
    "tables": {"--paper": ["faster", "nosuch", ""], "--json": None, "--include-absent": None},
    "audit": {"--paper": ["kpsem", "FASTER", "x" * 300], "--json": None, "--tracking-uri": ["bogus", "sqlite:///"]},
    "findings": {"--paper": ["maivar", "-1"], "--json": None, "--tracking-uri": ["http://", "file:"]},
    "experiments": {"--paper": ["gcfnet", "..", "/"], "--json": None},
    "data check": {"--layout": ["ucf101", "nosuch", "kinetics400"], "--root": ["{tree}", "{file}", "/no/such"],
                   "--split": ["0", "1", "-2", "x", "99"], "--subset": ["train", "nosuch"], "--tolerate": ["0.1", "5"],
                   "--workers": ["0", "-3"], "--timeout": ["0", "nan", "1"], "--no-probe": None, "--json": None},
    "push": {"": ["{tree}", "{file}", "/no/such"], "--tracking-uri": ["sqlite:///{tree}", "banana://x"]},
}


@settings(max_examples=50, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_command_line_fails_cleanly_or_runs(data, tmp_path_factory, capsys):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "afile").write_text("not what was expected")
    command = data.draw(st.sampled_from(sorted(COMMANDS)), label="command")
    argv = command.split()
    for option in data.draw(st.lists(st.sampled_from(sorted(COMMANDS[command])), unique=True, max_size=4),
                            label="options"):
        values = COMMANDS[command][option]
        value = None if values is None else data.draw(st.sampled_from(values), label=option or "positional")
        argv += [x for x in (option, value) if x]
    argv = [a.replace("{tree}", str(folder)).replace("{file}", str(folder / "afile")) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse names the option and exits 2
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2), (argv, code)
    if code:
        assert "error:" in err, (argv, err[-500:])


CASES = [  # (paper, file, text, replacement, the field the error names): each once a traceback or silent
    ("faster", "tables.yaml", "values: [63.3, 3.2, 32]", "values: [63.3, 3.2, -32]", "a whole number|non-negative"),
    ("gcfnet", "tables.yaml", 'values: [446, "3.12M"]', 'values: [446, "-3.12M"]', "non-negative"),
    ("gcfnet", "tables.yaml", 'values: [446, "3.12M"]', f'values: [{"9" * 400}, "3.12M"]', "at most"),
    ("motion_distill", "tables.yaml", "tolerance: {abs: 0.5}", "tolerance: {abs: -0.5}", "non-negative"),
    ("gcfnet", "claims.yaml", 'expr: "{1|GCF-Net', 'expr: "10 ** 400 + {1|GCF-Net', "exponent"),
    ("gcfnet", "claims.yaml", 'expr: "{1|GCF-Net', 'expr: "min() + {1|GCF-Net', "min\\(\\) takes"),
    ("gcfnet", "claims.yaml", 'expr: "{1|GCF-Net', 'expr: "abs(1, 2) + {1|GCF-Net', "abs\\(\\) takes"),
    ("gcfnet", "claims.yaml", 'expr: "{1|GCF-Net', 'expr: "[1, 2] + {1|GCF-Net', "lists only inside"),
    ("gcfnet", "claims.yaml", 'expr: "{1|GCF-Net', 'expr: "(-8) ** 0.5 + {1|GCF-Net', "fractional power"),
    ("gcfnet", "claims.yaml", 'expr: "{1|GCF-Net', 'expr: "1 / (2 - 2) + {1|GCF-Net', "division by zero"),
    ("gcfnet", "experiments.yaml", "{layout: kinetics600, split: 1,", "{layout: kinetics600, split: one,", "split"),
    ("gcfnet", "experiments.yaml", "args: {num_classes: 600, width_mult: 1.0, sample_size: 112}", "args: [600]",
     "model.args"),
    ("faster", "citations.yaml", 'rows: ["ImageNet pre-train / MF-Net [7]"]', "rows: 5", "rows"),
    ("gcfnet", "costs.yaml", "input: [1, 3, 16, 112, 112]}", "input: [64, 3, 64, 1024, 1024]}", "GiB"),
    ("gcfnet", "costs.yaml", "input: [1, 3, 16, 112, 112]}", "input: [1, 3, 1, 1, 1]}", "at least 32x32"),
    ("maivar", "paper.yaml", "    items:\n", "    from: os:sep\n    xitems:\n", "a module of this project"),
    ("gcfnet", "tables.yaml", "tables:", "x: &a [*a]\ntables:", "yaml"),
]


@pytest.mark.parametrize("paper_id, name, text, replacement, says", CASES)
def test_an_impossible_value_fails_with_its_file_and_line(papers_copy, paper_id, name, text, replacement, says):
    path = papers_copy / paper_id / name
    original = path.read_text()
    assert text in original
    path.write_text(original.replace(text, replacement, 1))
    try:
        with pytest.raises(DataError, match=says) as raised:
            check_paper_data([load_paper(papers_copy / paper_id)])
        assert WHERE.match(str(raised.value)), str(raised.value)
    finally:
        path.write_text(original)


def test_an_alias_bomb_is_refused_in_a_second(papers_copy):
    path = papers_copy / "gcfnet" / "tables.yaml"
    original = path.read_text()
    bomb = 'l0: &l0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]\n' + "".join(
        f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9))
    path.write_text(bomb + original)
    try:
        with pytest.raises(DataError, match=r"tables.yaml:\d+: yaml: a document of at most"):
            load_paper(papers_copy / "gcfnet")
    finally:
        path.write_text(original)


@pytest.mark.parametrize("argv, says", [
    (["data", "check", "--layout", "ucf101", "--root", "{tree}", "--split", "0"], "--split"),
    (["data", "check", "--layout", "ucf101", "--root", "{tree}", "--tolerate", "5"], "--tolerate"),
    (["data", "check", "--layout", "ucf101", "--root", "{tree}", "--tolerate", "-1"], "--tolerate"),
    (["data", "check", "--layout", "ucf101", "--root", "{tree}", "--workers", "-3"], "--workers"),
    (["data", "check", "--layout", "ucf101", "--root", "{tree}", "--timeout", "0"], "--timeout"),
    (["data", "check", "--layout", "ucf101", "--root", "{file}"], "--root"),
    (["run", "toy/tiny", "--device", "banana"], "--device"),
    (["run", "toy/tiny", "--device", "cuda"], "--device"),
    (["run", "toy/tiny", "--out", "{file}"], "--out"),
    (["run", "toy/tiny", "--allow-unreadable-test", "2"], "--allow-unreadable-test"),
    (["run", "toy/tiny", "--epochs", "-1"], "--epochs"),
    (["costs", "--json", "{tree}"], "--json"),
    (["report", "--out", "{file}"], "--out"),
    (["report", "--tracking-uri", "bogus://x"], "--tracking-uri"),
    (["report", "--tracking-uri", "sqlite:////no/such/folder/mlflow.db"], "--tracking-uri"),
    (["push", "/no/such/run"], "no such run folder"),
])
def test_a_bad_command_line_fails_before_any_work(argv, says, tmp_path, capsys):
    import torch

    if "cuda" in argv and torch.cuda.is_available():
        pytest.skip("this machine has a GPU: --device cuda is valid here")
    (tmp_path / "afile").write_text("")
    argv = [a.replace("{tree}", str(tmp_path)).replace("{file}", str(tmp_path / "afile")) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own exit after naming the option
        code = exc.code
    assert code == 2
    assert says in capsys.readouterr().err


def test_a_proxy_check_that_does_not_exist_is_named(capsys):
    assert main(["proxy", "--paper", "faster", "--check", "nosuch"]) == 2
    assert "no such proxy check" in capsys.readouterr().err


def test_an_empty_papers_variable_is_said(monkeypatch, capsys):
    monkeypatch.setenv("REPRO_PAPERS", "")
    assert main(["tables"]) == 2
    assert "REPRO_PAPERS" in capsys.readouterr().err


def test_a_mistyped_store_path_is_said_not_rendered_silently(tmp_path, capsys):
    assert main(["audit", "--paper", "gcfnet", "--tracking-uri", f"sqlite:///{tmp_path / 'mlfow.db'}"]) == 0
    assert "holds no measurements" in capsys.readouterr().err
