"""Faults: kills at each stage of a run, of a push and of store creation, concurrent pushes, unreadable
test videos and damaged files. Nothing is lost, duplicated or left broken."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_paper

from repro.cli import main
from repro.engine.loop import MACHINE_METRICS, Stop
from repro.store.backend import Record, log_record, open_store
from repro.store.tracking import load_all, log_measurements

TESTS = Path(__file__).parent
ROOT = TESTS.parent

EXPERIMENTS_YAML = """\
experiments:
  - id: tiny
    title: A tiny 3D CNN on the synthetic UCF101 tree
    fills: {table: "1", row: Ours, column: Top-1}
    dataset: {layout: ucf101, split: 1, train: train, test: test}
    model: {name: "tinymodels:tiny3d", args: {num_classes: 8}}
    train:
      protocol: train_clip
      clip_len: 8
      size: 32
      std: [58.4, 57.1, 57.4]
      config: {epochs: 3, batch_size: 8, lr: 0.05, workers: 0, weight_decay: 0.0}
    test: {protocol: central, clip_len: 8, size: 32, std: [58.4, 57.1, 57.4]}
not_run:
  - cells: {table: "1", row: Base, column: Top-1}
    reason: quoted from another paper
"""
TIMINGS = MACHINE_METRICS


@pytest.fixture
def toy(tmp_path, monkeypatch):
    paper = write_paper(tmp_path / "papers")
    (paper / "experiments.yaml").write_text(EXPERIMENTS_YAML)
    monkeypatch.setenv("REPRO_PAPERS", str(paper.parent))
    monkeypatch.setenv("REPRO_PENDING_DIR", str(tmp_path / "pending"))
    monkeypatch.syspath_prepend(str(TESTS))
    return paper


def _run(data_root: Path, out: Path, uri: str, *extra: str) -> int:
    return main(["run", "toy/tiny", "--data-root", str(data_root), "--out", str(out), "--tracking-uri", uri, *extra])


def _record(out: Path) -> tuple[dict, list[dict]]:
    run_dir = out / "runs" / "toy" / "tiny"
    final = json.loads((run_dir / "final.json").read_text())
    epochs = [{k: v for k, v in json.loads(x).items() if k not in TIMINGS}
              for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return final, epochs


def _active_runs(uri: str, query: str = "tags.`repro.experiment` = 'toy/tiny'") -> list:
    client, experiment_id = open_store(uri, create=False)
    return client.search_runs([experiment_id], query) if client is not None else []


@pytest.fixture(scope="module")
def straight(ucf101_tree, tmp_path_factory):
    """The uninterrupted run every interrupted one must equal."""
    out = tmp_path_factory.mktemp("straight")
    paper = write_paper(out / "papers")
    (paper / "experiments.yaml").write_text(EXPERIMENTS_YAML)
    env = {"REPRO_PAPERS": str(paper.parent)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    sys.path.insert(0, str(TESTS))
    try:
        assert _run(ucf101_tree, out, f"sqlite:///{out / 'mlflow.db'}") == 0
    finally:
        sys.path.remove(str(TESTS))
        for key, value in old.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    return _record(out)


def _kill_after(calls: int):
    """A stand-in that raises Stop, as a kill would, on its `calls`-th call and lets the others through."""
    count = {"n": 0}

    def wrap(real):
        def stand_in(*args, **kwargs):
            count["n"] += 1
            if count["n"] == calls:
                raise Stop
            return real(*args, **kwargs)
        return stand_in
    return wrap


@pytest.mark.parametrize("stage", ["epoch metrics", "epoch checkpoint", "final evaluation", "mlflow push"])
def test_a_kill_at_any_stage_resumes_to_the_same_result_and_one_mlflow_run(stage, toy, ucf101_tree, straight,
                                                                           tmp_path, monkeypatch):
    import mlflow.tracking

    from repro.engine import checkpoint, loop
    from repro.store import runlog

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    wrap = _kill_after(2)
    if stage == "epoch metrics":  # epoch 1's metrics, so neither they nor its checkpoint are written
        monkeypatch.setattr(runlog.RunLog, "epoch", wrap(runlog.RunLog.epoch))
    elif stage == "epoch checkpoint":  # epoch 1's metrics are written, its checkpoint is not
        monkeypatch.setattr(checkpoint, "save_atomic", wrap(checkpoint.save_atomic))
    elif stage == "final evaluation":
        monkeypatch.setattr(loop, "evaluate", _kill_after(1)(loop.evaluate))
    else:  # the run is created in the store, never finished: an orphan a resume must replace
        monkeypatch.setattr(mlflow.tracking.MlflowClient, "set_terminated",
                            _kill_after(1)(mlflow.tracking.MlflowClient.set_terminated))
    if stage == "mlflow push":
        assert _run(ucf101_tree, tmp_path, uri) == 0  # the run folder keeps the result; the push is pending
        assert [r.info.status for r in _active_runs(uri)] == ["RUNNING"]
    else:
        with pytest.raises(Stop):
            _run(ucf101_tree, tmp_path, uri)
    monkeypatch.undo()
    monkeypatch.setenv("REPRO_PAPERS", str(toy.parent))
    monkeypatch.syspath_prepend(str(TESTS))
    assert _run(ucf101_tree, tmp_path, uri, "--resume") == 0
    final, epochs = _record(tmp_path)
    straight_final, straight_epochs = straight
    same = ("top1", "loss", "videos")
    assert {k: final[k] for k in same} == {k: straight_final[k] for k in same}
    assert epochs == straight_epochs
    runs = _active_runs(uri)
    assert [r.info.status for r in runs] == ["FINISHED"]
    assert runs[0].data.metrics["final_top1"] == pytest.approx(straight_final["top1"])
    assert main(["push", str(tmp_path / "runs" / "toy" / "tiny"), "--tracking-uri", uri]) == 0  # again: no duplicate
    assert len(_active_runs(uri)) == 1


def test_stale_temp_files_of_a_killed_write_are_removed_on_the_next_start(toy, ucf101_tree, tmp_path):
    run_dir = tmp_path / "runs" / "toy" / "tiny"
    run_dir.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = run_dir / f".checkpoint.pt.{dead.stdout.strip()}.abcd1234.tmp"
    mine = run_dir / f".metrics.jsonl.{os.getpid()}.abcd1234.tmp"  # a write in progress in a live process
    stale.write_bytes(b"half a checkpoint")
    mine.write_text("")
    assert _run(ucf101_tree, tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}", "--epochs", "1") == 0
    assert not stale.exists() and mine.exists()


def test_unreadable_test_videos_fail_the_run_unless_allowed_and_the_report_says_over_how_many(toy, ucf101_tree,
                                                                                             tmp_path, capsys):
    data = tmp_path / "ucf"
    shutil.copytree(ucf101_tree, data)
    tests = [line.split()[0] for line in (data / "ucfTrainTestlist" / "testlist01.txt").read_text().splitlines()]
    for name in tests[:2]:
        (data / "UCF-101" / name).write_bytes(b"not a video")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert _run(data, tmp_path, uri, "--epochs", "1") == 1
    assert "evaluation: 2 of 8 test videos unreadable" in capsys.readouterr().err
    assert _run(data, tmp_path, uri, "--epochs", "1", "--resume") == 1  # the resumed run remembers them
    assert _active_runs(uri) == []
    assert _run(data, tmp_path, uri, "--epochs", "1", "--resume", "--allow-unreadable-test", "0.25") == 0
    final = json.loads((tmp_path / "runs" / "toy" / "tiny" / "final.json").read_text())
    assert (final["videos"], final["videos_total"], len(final["unreadable"])) == (6, 8, 2)
    assert main(["report", "--out", str(tmp_path / "reports"), "--tracking-uri", uri]) == 0
    assert "over 6 of 8 test videos" in (tmp_path / "reports" / "toy.html").read_text()


def test_a_kill_while_costs_are_logged_keeps_them_on_disk_and_one_push_lands_them_once(toy_paper, tmp_path,
                                                                                      monkeypatch, capsys):
    import mlflow.tracking

    from repro.store.pending import Kept

    monkeypatch.setenv("REPRO_PENDING_DIR", str(tmp_path / "pending"))
    monkeypatch.setenv("REPRO_PAPERS", str(toy_paper.root.parent))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client_class = mlflow.tracking.MlflowClient
    monkeypatch.setattr(client_class, "log_batch", _kill_after(1)(client_class.log_batch))
    with pytest.raises(Kept) as kept:
        log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 15.2}, kind="costs", uri=uri)
    monkeypatch.undo()
    pending = kept.value.path
    assert pending.is_file() and "repro push" in str(kept.value)
    assert load_all([toy_paper], uri) == ({}, {})  # the orphan half-run never counts
    assert main(["report", "--out", str(tmp_path / "reports"), "--tracking-uri", uri]) == 0
    copy = tmp_path / "copy.json"
    shutil.copy(pending, copy)
    assert main(["push", str(tmp_path / "pending"), "--tracking-uri", uri]) == 0
    assert not pending.exists()
    assert main(["push", str(copy), "--tracking-uri", uri]) == 0  # the same record again: skipped
    runs = _active_runs(uri, "tags.`repro.kind` = 'costs'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    assert load_all([toy_paper], uri)[0][("toy", ("1", "Ours", "GFLOPs"))].value == pytest.approx(15.2)


def test_a_record_pushed_late_never_counts_as_newer_than_one_measured_after_it(toy_paper, tmp_path, monkeypatch):
    from repro.store.pending import Kept

    monkeypatch.setenv("REPRO_PENDING_DIR", str(tmp_path / "pending"))
    monkeypatch.setenv("REPRO_TRACKING_TIMEOUT", "1")
    with pytest.raises(Kept):  # measured first, while the server was down
        log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 15.0}, kind="costs", uri="http://127.0.0.1:9")
    time.sleep(1.1)  # provenance times are in seconds
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 16.0}, kind="costs", uri=uri)  # measured later
    assert main(["push", str(tmp_path / "pending"), "--tracking-uri", uri]) == 0  # the older one arrives last
    assert load_all([toy_paper], uri)[0][("toy", ("1", "Ours", "GFLOPs"))].value == pytest.approx(16.0)


def test_an_unreachable_server_fails_in_seconds_and_keeps_the_record(toy_paper, tmp_path, monkeypatch):
    from repro.store.pending import Kept

    monkeypatch.setenv("REPRO_PENDING_DIR", str(tmp_path / "pending"))
    monkeypatch.setenv("REPRO_TRACKING_TIMEOUT", "2")
    began = time.perf_counter()
    with pytest.raises(Kept, match="did not answer within 2 s"):
        log_measurements(toy_paper, {("1", "Ours", "GFLOPs"): 15.2}, kind="costs", uri="http://127.0.0.1:9")
    assert time.perf_counter() - began < 10
    assert len(list((tmp_path / "pending").glob("*.json"))) == 1
    monkeypatch.setenv("REPRO_PAPERS", str(toy_paper.root.parent))
    began = time.perf_counter()
    assert main(["report", "--out", str(tmp_path / "r"), "--tracking-uri", "http://127.0.0.1:9"]) == 1
    assert time.perf_counter() - began < 30


_PUSHER = """
import sys
from repro.store.backend import Record, log_record
uri, me = sys.argv[1], sys.argv[2]
shared = Record(key="shared", run_name="shared", tags={}, metrics={"value": 1.0})
own = Record(key="own-" + me, run_name="own", tags={}, metrics={"value": float(me)})
log_record(shared, uri)
log_record(own, uri)
log_record(shared, uri)
"""


@pytest.mark.parametrize("round_", [1, 2])
def test_concurrent_pushes_into_a_fresh_store_land_every_run_once(round_, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    workers = [subprocess.Popen([sys.executable, "-c", _PUSHER, uri, str(n)], cwd=ROOT, stderr=subprocess.PIPE,
                                text=True) for n in range(4)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0, worker.stderr.read()[-2000:]
    client, experiment_id = open_store(uri, create=False)
    runs = client.search_runs([experiment_id], "")
    keys = sorted(r.data.tags["repro.run_key"] for r in runs)
    assert keys == ["own-0", "own-1", "own-2", "own-3", "shared"]
    assert all(r.info.status == "FINISHED" for r in runs)


def test_kills_during_store_creation_never_leave_a_broken_store(tmp_path):
    rng = random.Random(0)
    for number, delay in enumerate(sorted(rng.uniform(0.5, 4.0) for _ in range(6))):
        uri = f"sqlite:///{tmp_path / f'mlflow{number}.db'}"  # a fresh store each time (MLflow caches open ones)
        creator = [sys.executable, "-c", "import sys; from repro.store.backend import open_store; "
                   "open_store(sys.argv[1])", uri]
        process = subprocess.Popen(creator, cwd=ROOT, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        # whatever the kill left (nothing, or a store renamed into place whole) must take a record
        assert log_record(Record(key="after", run_name="after", tags={}, metrics={"x": 1.0}), uri)
    assert not list(tmp_path.glob(".*.tmp"))  # a killed creation's temp file is removed by the next one


def _damage_middle_frame(path: Path) -> None:
    """Overwrite bytes inside the video packets of the middle frames: the first and last frames still decode."""
    import av

    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size > 16]
    body, rng = bytearray(path.read_bytes()), random.Random(0)
    for pos, size in packets[len(packets) // 3: len(packets) // 2]:
        for index in range(pos + size // 3, pos + size // 3 + 6):
            body[index] = rng.randrange(256)
    path.write_bytes(bytes(body))


def test_deep_check_finds_the_damage_the_fast_check_passes(ucf101_tree, tmp_path):
    from repro.data.check import check_dataset

    data = tmp_path / "ucf"
    shutil.copytree(ucf101_tree, data)
    videos = sorted((data / "UCF-101").rglob("*.avi"))
    truncated, damaged = videos[0], videos[5]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size * 6 // 10])
    _damage_middle_frame(damaged)

    def flagged(deep: bool) -> dict[str, str]:
        report = check_dataset("ucf101", data, splits=[1], workers=0, deep=deep)
        return {Path(p).name: r["error"] for p, r in report.files.items() if "error" in r}

    fast, deep = flagged(False), flagged(True)
    assert list(fast) == [truncated.name] and "damaged: the container claims" in fast[truncated.name]
    assert sorted(deep) == sorted([truncated.name, damaged.name])
    assert "decoder errors" in deep[damaged.name]
    assert main(["data", "check", "--layout", "ucf101", "--root", str(data), "--deep", "--workers", "0"]) == 1
