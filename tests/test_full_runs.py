"""`repro reproduce --data-root`: a paper's experiments on the user's data, dependencies first, a failed run
reported without stopping the others, and `--resume` keeping finished runs."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from conftest import write_paper

from repro.cli import main
from repro.errors import DataError
from repro.run.experiments import dependencies, load_experiments, ordered
from repro.run.full_runs import FAILED, FINISHED, RAN, SKIPPED, parse_data_roots, run_all
from repro.audit.papers import load_papers

TESTS = Path(__file__).parent

EXPERIMENT = """\
  - id: {id}
    title: tiny 3D CNN
    fills: {{table: "1", row: {row}, column: Top-1}}
    dataset: {{layout: {layout}, split: 1, train: train, test: test}}
    model: {{name: "{model}", args: {{num_classes: 8}}}}
    pipeline_args: {args}
    train:
      protocol: train_clip
      clip_len: 8
      size: 32
      std: [58.4, 57.1, 57.4]
      config: {{epochs: 1, batch_size: 8, lr: 0.05, workers: 0, weight_decay: 0.0}}
    test: {{protocol: central, clip_len: 8, size: 32, std: [58.4, 57.1, 57.4]}}
"""


def write_experiments(paper: Path, *, stage1_layout: str = "ucf101", stage1_model: str = "tinymodels:tiny3d") -> None:
    # stage2 is declared first: the order of the file must not decide what runs first
    text = "experiments:\n" + EXPERIMENT.format(id="stage2", row="Ours", layout="ucf101", model="tinymodels:tiny3d",
                                                args="{backbone_from: stage1, note: free text}")
    text += EXPERIMENT.format(id="stage1", row="Base", layout=stage1_layout, model=stage1_model, args="{}")
    (paper / "experiments.yaml").write_text(text)


@pytest.fixture
def toy(tmp_path, monkeypatch):
    paper = write_paper(tmp_path / "papers")
    write_experiments(paper)
    monkeypatch.setenv("REPRO_PAPERS", str(paper.parent))
    monkeypatch.syspath_prepend(str(TESTS))
    return paper


def _experiments():
    return load_experiments(load_papers("toy")[0]).experiments


def test_dependencies_come_first_and_cycles_are_named(toy):
    experiments = _experiments()
    assert [e.id for e in experiments] == ["stage2", "stage1"]
    assert dependencies(experiments[0], {"stage1", "stage2"}) == ["stage1"]
    assert [e.id for e in ordered(experiments)] == ["stage1", "stage2"]
    looped = [experiments[0], dataclasses.replace(experiments[1], pipeline_args={"from": "stage2"})]
    with pytest.raises(ValueError, match="cycle: stage2 -> stage1 -> stage2"):
        ordered(looped)


def test_a_dependency_cycle_fails_when_the_file_is_read(toy):
    path = toy / "experiments.yaml"
    path.write_text(path.read_text().replace("pipeline_args: {}", "pipeline_args: {head_from: stage2}"))
    with pytest.raises(DataError, match=r"experiments.yaml:2: stage2.pipeline_args: .*stage2 -> stage1 -> stage2"):
        load_experiments(load_papers("toy")[0])
    assert main(["experiments", "--paper", "toy"]) == 2


def test_data_roots_by_layout_or_one_for_all(tmp_path):
    k400, ucf, hmdb = (tmp_path / name for name in ("k400", "ucf", "hmdb"))
    for folder in (k400, ucf, hmdb):
        folder.mkdir()
    assert parse_data_roots([str(k400)]) == {None: k400}
    assert parse_data_roots([f"ucf101={ucf}", f"hmdb51={hmdb}"]) == {"ucf101": ucf, "hmdb51": hmdb}
    with pytest.raises(ValueError, match="unknown layout 'ucf'"):
        parse_data_roots([f"ucf={ucf}"])
    with pytest.raises(ValueError, match=f"--data-root hmdb51={tmp_path / 'gone'}: .* is not there; expected a folder"):
        parse_data_roots([f"ucf101={ucf}", f"hmdb51={tmp_path / 'gone'}"])
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ValueError, match="is a file; expected a folder"):
        parse_data_roots([str(tmp_path / "a-file")])


def test_reproduce_with_a_missing_data_root_stops_before_any_work(toy, tmp_path, capsys):
    command = ["reproduce", "--paper", "toy", "--data-root", str(tmp_path / "gone"), "--out", str(tmp_path / "reports"),
               "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    assert main(command) == 2
    captured = capsys.readouterr()
    assert f"error: --data-root {tmp_path / 'gone'}: {tmp_path / 'gone'} is not there" in captured.err
    assert captured.out == "" and not (tmp_path / "reports").exists() and not (tmp_path / "mlflow.db").exists()


def test_data_not_in_its_layout_fails_the_run_with_the_message_not_a_traceback(toy, tmp_path):
    lines = []
    empty = tmp_path / "empty"
    empty.mkdir()
    outcomes = run_all(_experiments(), {None: empty}, out_dir=tmp_path, report=lines.append, show_progress=False,
                       uri=f"sqlite:///{tmp_path}/m.db")
    assert outcomes[0].status == FAILED and str(empty) in outcomes[0].detail
    assert not any("Traceback" in line for line in lines)


def test_reproduce_with_data_root_runs_every_experiment_and_reports_them(toy, ucf101_tree, tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = ["reproduce", "--paper", "toy", "--no-measure", "--data-root", f"ucf101={ucf101_tree}", "--runs",
               str(tmp_path / "work"), "--out", str(tmp_path / "reports"), "--tracking-uri", uri]
    assert main(command) == 0
    shown = capsys.readouterr().out
    assert shown.index("toy/stage1: running") < shown.index("toy/stage2: running")
    assert "proxy check" not in shown  # the full protocol instead of the proxy checks
    finals = {e: json.loads((tmp_path / "work" / "runs" / "toy" / e / "final.json").read_text())
              for e in ("stage1", "stage2")}
    page = (tmp_path / "reports" / "toy.html").read_text()
    assert all(f"{final['top1']:.4g}" in page for final in finals.values())
    stamp = (tmp_path / "work" / "runs" / "toy" / "stage1" / "final.json").stat().st_mtime_ns
    assert main([*command, "--resume"]) == 0
    assert "finished before" in capsys.readouterr().out
    assert (tmp_path / "work" / "runs" / "toy" / "stage1" / "final.json").stat().st_mtime_ns == stamp


def test_a_failed_or_unrunnable_experiment_skips_what_depends_on_it(toy, ucf101_tree, tmp_path):
    lines = []
    write_experiments(toy, stage1_model="tinymodels:absent")
    outcomes = run_all(_experiments(), {None: ucf101_tree}, out_dir=tmp_path, report=lines.append, uri=f"sqlite:///{tmp_path}/m.db",
                       show_progress=False)
    assert [(o.experiment.id, o.status) for o in outcomes] == [("stage1", FAILED), ("stage2", SKIPPED)]
    assert "needs stage1" in outcomes[1].detail and any("Traceback" in line for line in lines)
    write_experiments(toy, stage1_layout="hmdb51")
    outcomes = run_all(_experiments(), {"ucf101": ucf101_tree}, out_dir=tmp_path, report=lines.append)
    assert [(o.status, o.detail) for o in outcomes] == [
        (SKIPPED, "no --data-root for the hmdb51 layout"), (SKIPPED, "needs stage1, which did not finish")]
    write_experiments(toy)
    outcomes = run_all(_experiments(), {None: ucf101_tree}, out_dir=tmp_path, only={"stage1"}, report=lines.append,
                       uri=f"sqlite:///{tmp_path}/m.db", show_progress=False)
    assert [(o.experiment.id, o.status) for o in outcomes] == [("stage1", RAN)]
    outcomes = run_all(_experiments(), {None: ucf101_tree}, out_dir=tmp_path, resume=True, only={"stage1"},
                       report=lines.append)
    assert outcomes[0].status == FINISHED and outcomes[0].detail.startswith("top1 ")
