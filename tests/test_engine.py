"""The engine end to end: `repro run` on a synthetic UCF101 tree, MLflow and the report, resume after a
kill, DDP with two gloo processes against one process, and an unreachable tracking server."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_paper

from repro.cli import main
from repro.engine.config import TrainConfig
from repro.engine.loop import Stop, Task, fit
from repro.errors import DataError
from repro.run.experiments import find, load_experiments, uncovered
from repro.audit.papers import load_papers
from repro.run.runner import _datasets, effective
from repro.store.tracking import load_all

TESTS = Path(__file__).parent

EXPERIMENTS_YAML = """\
experiments:
  - id: tiny
    title: A tiny 3D CNN on the synthetic UCF101 tree
    fills: {{table: "1", row: Ours, column: Top-1}}
    dataset: {{layout: ucf101, split: 1, train: train, test: test}}
    model: {{name: "tinymodels:tiny3d", args: {{num_classes: 8}}}}
    train:
      protocol: train_clip
      clip_len: 8
      size: 32
      std: [58.4, 57.1, 57.4]  # the tiny model has no batch norm to tame 0-255 inputs
      config: {{epochs: 2, batch_size: {batch}, lr: 0.05, workers: 0, weight_decay: 0.0}}
    test: {{protocol: central, clip_len: 8, size: 32, std: [58.4, 57.1, 57.4]}}
not_run:
  - cells: {{table: "1", row: Base, column: Top-1}}
    reason: quoted from another paper
"""


@pytest.fixture
def toy(tmp_path, monkeypatch):
    paper = write_paper(tmp_path / "papers")
    (paper / "experiments.yaml").write_text(EXPERIMENTS_YAML.format(batch=8))
    monkeypatch.setenv("REPRO_PAPERS", str(paper.parent))
    monkeypatch.syspath_prepend(str(TESTS))
    return paper


def test_experiments_cover_the_toy_paper(toy):
    found = load_experiments(load_papers("toy")[0])
    assert [e.name for e in found.experiments] == ["toy/tiny"] and uncovered(found) == []
    assert found.reason_for(("1", "Base", "Top-1")) == "quoted from another paper"
    (toy / "experiments.yaml").write_text(EXPERIMENTS_YAML.format(batch=8).replace("lr: 0.05", "lr: fast"))
    with pytest.raises(DataError, match=r"experiments.yaml.*lr: a value of type float, got 'fast'"):
        load_experiments(load_papers("toy")[0])


def test_repro_run_trains_logs_and_the_report_shows_it(toy, ucf101_tree, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(["run", "toy/tiny", "--data-root", str(ucf101_tree), "--out", str(tmp_path), "--tracking-uri", uri])
    assert code == 0
    run_dir = tmp_path / "runs" / "toy" / "tiny"
    record, final = (json.loads((run_dir / name).read_text()) for name in ("run.json", "final.json"))
    assert record["status"] == "finished" and record["pushed"] is True
    assert final["videos"] == 8 and len(final["confusion"]) == 8
    # each video's top-1, by dataset index, for a paired comparison; they add up to top-1
    assert [i for i, _ in final["per_video"]] == list(range(8))
    assert 100.0 * sum(r for _, r in final["per_video"]) / 8 == pytest.approx(final["top1"])
    assert [json.loads(x)["epoch"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()] == [0, 1]
    cells, _ = load_all(load_papers("toy"), uri)
    measured = cells[("toy", ("1", "Ours", "Top-1"))]
    assert measured.value == pytest.approx(final["top1"]) and not measured.proxy
    assert measured.provenance["experiment"] == "toy/tiny"
    assert main(["report", "--out", str(tmp_path / "reports"), "--tracking-uri", uri]) == 0
    page = (tmp_path / "reports" / "toy.html").read_text()
    assert f"{final['top1']:.4g}" in page


def test_a_killed_run_resumes_to_the_same_result(toy, ucf101_tree, tmp_path):
    experiment = find("toy/tiny", load_papers("toy"))
    config = experiment.config.replace(epochs=3)

    def run(run_dir, **kwargs):
        dataset, train, test, _ = effective(experiment, proxy=False)
        train_set, test_set = _datasets(experiment, dataset, train, test, config, ucf101_tree, tmp_path)
        torch.manual_seed(config.seed)
        from tinymodels import tiny3d

        task = Task(tiny3d(num_classes=8))
        return task, fit(task, train_set, test_set, config, run_dir=run_dir, show_progress=False, **kwargs)

    _, straight = run(tmp_path / "straight")

    def kill(epoch: int, step: int) -> None:
        if (epoch, step) == (1, 1):
            raise Stop

    with pytest.raises(Stop):
        run(tmp_path / "killed", on_step=kill)
    task, resumed = run(tmp_path / "killed", resume=True)
    assert resumed.resumed_from == 0  # epoch 1 was cut mid-way and runs again from its start
    assert resumed.final["top1"] == straight.final["top1"] and resumed.final["loss"] == straight.final["loss"]
    assert [h["train_loss"] for h in resumed.history] == [h["train_loss"] for h in straight.history]
    with pytest.raises(ValueError, match="different config \\(changed: lr\\)"):
        fit(task, [], [], config.replace(lr=0.1), run_dir=tmp_path / "killed", resume=True)


def test_two_gloo_processes_match_one(toy, ucf101_tree, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    results = {}
    for name, batch, launcher in (("single", 8, [sys.executable, "-m", "repro"]),
                                  ("ddp", 4, [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node",
                                              "2", "--master_port", "29517", "-m", "repro"])):
        paper = write_paper(tmp_path / name / "papers")
        (paper / "experiments.yaml").write_text(EXPERIMENTS_YAML.format(batch=batch))
        out = tmp_path / name
        done = subprocess.run([*launcher, "run", "toy/tiny", "--data-root", str(ucf101_tree), "--out", str(out),
                               "--tracking-uri", f"sqlite:///{out / 'mlflow.db'}"],
                              env={**env, "REPRO_PAPERS": str(paper.parent)}, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        results[name] = json.loads((out / "runs" / "toy" / "tiny" / "final.json").read_text())
        results[name]["history"] = [json.loads(x) for x in
                                    (out / "runs" / "toy" / "tiny" / "metrics.jsonl").read_text().splitlines()]
    single, ddp = results["single"], results["ddp"]
    assert ddp["videos"] == single["videos"] == 8
    assert ddp["top1"] == single["top1"] and ddp["confusion"] == single["confusion"]
    assert ddp["per_video"] == single["per_video"]  # gathered from both ranks, each video once
    for a, b in zip(single["history"], ddp["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
    assert ddp["loss"] == pytest.approx(single["loss"], rel=1e-4)


def test_an_unreachable_tracking_server_loses_nothing(toy, ucf101_tree, tmp_path, capsys):
    down = "http://127.0.0.1:9"  # nothing listens on the discard port
    assert main(["run", "toy/tiny", "--data-root", str(ucf101_tree), "--out", str(tmp_path), "--tracking-uri", down,
                 "--epochs", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    run_dir = tmp_path / "runs" / "toy" / "tiny"
    assert "repro push" in shown["pending_push"] and str(run_dir) in shown["pending_push"]
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["pushed"] is False
    assert main(["push", str(run_dir), "--tracking-uri", down]) == 1
    assert "did not answer" in capsys.readouterr().err
    uri = f"sqlite:///{tmp_path / 'later.db'}"
    assert main(["push", str(run_dir), "--tracking-uri", uri]) == 0
    cells, _ = load_all(load_papers("toy"), uri)
    assert cells[("toy", ("1", "Ours", "Top-1"))].value == pytest.approx(shown["top1"])


def test_train_config_names_the_bad_field():
    with pytest.raises(DataError, match="schedule: one of constant, cosine, step, plateau"):
        TrainConfig(schedule="linear")
    with pytest.raises(DataError, match="warmup: a training setting"):
        TrainConfig.from_mapping({"warmup": 2})


def test_the_report_says_why_a_cell_has_no_value(toy, tmp_path):
    from repro.report.render import render

    render(load_papers("toy"), tmp_path)
    page = (tmp_path / "toy.html").read_text()
    assert "quoted from another paper" in page
    assert "not run yet: repro run toy/tiny --data-root DIR" in page


@pytest.mark.parametrize("verdict", ["did not hold", "inconclusive"])
def test_proxy_checks_are_logged_and_reported_whatever_the_outcome(toy, tmp_path, monkeypatch, verdict):
    import types

    from repro.run.proxy import ProxyCheck, ProxyOutcome, load_outcomes, run_checks
    from repro.report.render import render

    def compare(ctx):
        return ProxyOutcome(verdict, values={"a.top1": 25.0, "b.top1": 50.0},
                            summary="A 25.0% vs B 50.0% top-1: A did not beat B")

    module = types.ModuleType("papers.toy.proxy")
    module.CHECKS = [ProxyCheck("a-beats-b", "A beats B", "Table 1", compare)]
    monkeypatch.setitem(sys.modules, "papers.toy", types.ModuleType("papers.toy"))
    monkeypatch.setitem(sys.modules, "papers.toy.proxy", module)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    paper = load_papers("toy")[0]
    [(check, outcome, _)] = run_checks(paper, tmp_path, uri)
    logged = load_outcomes(paper, uri)["a-beats-b"]
    assert logged.verdict == verdict and not logged.held and logged.values == {"a.top1": 25.0, "b.top1": 50.0}
    render([paper], tmp_path / "r", proxy_outcomes={"toy": load_outcomes(paper, uri)})
    page = (tmp_path / "r" / "toy.html").read_text()
    assert 'id="proxy-a-beats-b"' in page and f">{verdict}</span>" in page and "A did not beat B" in page
    line = re.search(r'<p class="proxy-line">(.*?)</p>', page, re.S)[1]
    assert "0 of 1 held" in line and f'{verdict.split(",")[0]}' in line and 'href="#proxy-a-beats-b"' in line


def _evaluation(right: list[int]) -> dict:
    return {"per_video": [[i, r] for i, r in enumerate(right)], "videos": len(right)}


@pytest.mark.parametrize("a, b, verdict", [
    ([1] * 10 + [0] * 10, [0] * 20, "held"),            # A right on 10 videos B misses, B on none: p = 0.002
    ([0] * 20, [1] * 10 + [0] * 10, "did not hold"),
    ([1] * 4 + [0] * 16, [0] * 2 + [1] * 2 + [0] * 16, "inconclusive"),  # 2 against 2: no difference
    ([1] * 5 + [0] * 15, [0] * 20, "inconclusive"),     # 5 against 0: p = 0.0625, within chance
])
def test_a_proxy_comparison_holds_only_beyond_chance_on_the_same_videos(a, b, verdict):
    from repro.run.proxy import paired

    test = paired(_evaluation(a), _evaluation(b))
    assert test.verdict == verdict and test.videos == 20
    assert "McNemar p = " in test.words("A", "B")


def test_a_proxy_comparison_needs_the_same_test_videos_and_their_per_video_results():
    from repro.run.proxy import paired

    with pytest.raises(ValueError, match="same test videos"):
        paired(_evaluation([1, 0, 1]), _evaluation([1, 0]))
    older = paired({"top1": 80.0, "videos": 3}, _evaluation([1, 0, 1]))  # a run from before per-video results
    assert older.verdict == "inconclusive" and older.values("x") == {} and "rerun" in older.words("A", "B")


def test_run_starts_from_the_weights_given(toy, ucf101_tree, tmp_path, capsys):
    from tinymodels import tiny3d

    from repro.engine.loop import evaluate

    torch.manual_seed(123)
    trained = tiny3d(num_classes=8)
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": trained.state_dict()}, path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert main(["run", "toy/tiny", "--data-root", str(ucf101_tree), "--out", str(tmp_path), "--tracking-uri", uri,
                 "--epochs", "0", "--weights", f"pretrained={path}"]) == 0
    shown = json.loads(capsys.readouterr().out)
    experiment = find("toy/tiny", load_papers("toy"))
    dataset, train, test, config = effective(experiment, proxy=False)
    _, test_set = _datasets(experiment, dataset, train, test, config, ucf101_tree, tmp_path)
    direct = evaluate(Task(trained), test_set, batch_size=8, device="cpu")
    assert shown["top1"] == direct["top1"] and shown["loss"] == pytest.approx(direct["loss"])
    assert main(["run", "toy/tiny", "--data-root", str(ucf101_tree), "--weights", "pretrained"]) == 2
    assert "--weights takes NAME=PATH" in capsys.readouterr().err


def test_an_experiment_over_splits_reports_their_mean_and_resumes_by_split(toy, ucf101_tree, tmp_path, monkeypatch):
    """dataset.splits: each split trained and tested in its own folder; the cells get the mean (UCF101's
    "mean over three splits"); with --resume a finished split is not run again."""
    yaml_text = EXPERIMENTS_YAML.format(batch=8).replace("split: 1,", "splits: [1, 2],")
    (toy / "experiments.yaml").write_text(yaml_text)
    assert find("toy/tiny", load_papers("toy")).splits == (1, 2)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = ["run", "toy/tiny", "--data-root", str(ucf101_tree), "--out", str(tmp_path), "--tracking-uri", uri,
               "--epochs", "1"]
    assert main(command) == 0
    run_dir = tmp_path / "runs" / "toy" / "tiny"
    splits = [json.loads((run_dir / f"split{k}" / "final.json").read_text()) for k in (1, 2)]
    records = [json.loads((run_dir / f"split{k}" / "run.json").read_text()) for k in (1, 2)]
    assert [r["dataset"]["split"] for r in records] == [1, 2]
    final = json.loads((run_dir / "final.json").read_text())
    assert final["top1"] == pytest.approx((splits[0]["top1"] + splits[1]["top1"]) / 2)
    assert final["split2_top1"] == splits[1]["top1"] and final["splits"] == [1, 2]
    assert sum(map(sum, final["confusion"])) == splits[0]["videos"] + splits[1]["videos"]
    cells, _ = load_all(load_papers("toy"), uri)
    assert cells[("toy", ("1", "Ours", "Top-1"))].value == pytest.approx(final["top1"])

    import repro.run.runner

    def no_training(*args, **kwargs):
        raise AssertionError("a finished split was trained again")

    (run_dir / "split2" / "run.json").write_text(json.dumps({**records[1], "status": "running"}))
    fitted = []
    real_fit = repro.run.runner.fit
    monkeypatch.setattr(repro.run.runner, "fit", lambda *a, **k: fitted.append(k["run_dir"]) or real_fit(*a, **k))
    assert main([*command, "--resume"]) == 0
    assert fitted == [run_dir / "split2"]  # split 1 had finished; split 2 had not
    monkeypatch.setattr(repro.run.runner, "fit", no_training)
    assert main([*command, "--resume"]) == 0
    assert json.loads((run_dir / "final.json").read_text())["top1"] == pytest.approx(final["top1"])
    (toy / "experiments.yaml").write_text(yaml_text.replace("splits: [1, 2],", "split: 3, splits: [1, 2],"))
    with pytest.raises(DataError, match=r"dataset.split: one of dataset.splits \[1, 2\]"):
        load_experiments(load_papers("toy")[0])


def test_a_compiled_run_times_its_compilation_apart_and_logs_its_speed(toy, ucf101_tree, tmp_path):
    """--compile: the first step (which compiles) is timed apart from the epoch's rate; every epoch logs
    throughput, peak memory and, given the FLOPs per clip and a peak, TFLOP/s and MFU."""
    from tinymodels import tiny3d

    from repro.engine.speed import Speed

    experiment = find("toy/tiny", load_papers("toy"))
    config = experiment.config.replace(epochs=1)
    dataset, train, test, _ = effective(experiment, proxy=False)
    train_set, test_set = _datasets(experiment, dataset, train, test, config, ucf101_tree, tmp_path)
    torch.manual_seed(config.seed)
    speed = Speed(compile=True, flops_per_clip=2e9, peak_flops=1e12)
    result = fit(Task(tiny3d(num_classes=8)), train_set, test_set, config, run_dir=tmp_path / "compiled",
                 show_progress=False, speed=speed)
    epoch = result.history[0]
    assert epoch["compile_seconds"] > 0 and epoch["compile_seconds"] < epoch["epoch_seconds"]
    assert epoch["clips_per_second"] > 0 and epoch["peak_memory_mb"] > 0
    assert epoch["train_tflops"] == pytest.approx(2e9 * epoch["clips_per_second"] / 1e12)
    assert epoch["mfu"] == pytest.approx(epoch["train_tflops"] / 1.0)


def test_a_new_run_replaces_the_earlier_one_in_its_folder_and_says_so(toy, ucf101_tree, tmp_path, capsys):
    """Without --resume, no file of an earlier run in the folder is taken for the new run's: an evaluation-only
    run (--epochs 0) writes no epochs, so an earlier run's metrics and checkpoint would otherwise stay beside it."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["run", "toy/tiny", "--data-root", str(ucf101_tree), "--out", str(tmp_path), "--tracking-uri", uri]
    assert main([*args, "--epochs", "1"]) == 0
    run_dir = tmp_path / "runs" / "toy" / "tiny"
    assert (run_dir / "metrics.jsonl").is_file() and (run_dir / "checkpoint.pt").is_file()
    capsys.readouterr()
    assert main([*args, "--epochs", "0"]) == 0
    err = capsys.readouterr().err
    assert "replacing the earlier run there (--resume continues it instead)" in err
    assert "evaluation only (--epochs 0): nothing was trained" in err
    assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "checkpoint.pt").exists()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["config"]["epochs"] == 0 and record["speed"]["batch_rule"] == "evaluation only"
