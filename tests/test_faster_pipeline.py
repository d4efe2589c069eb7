"""FASTER's stage-2 pipelines (papers/faster/pipeline.py): segment sampling, routing by the #E:#C pattern,
frozen backbones loaded from the stage-1 checkpoints, Avg. pool of the backbones' own scores, and the proxy
check end to end (papers/faster/proxy.py)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from papers.faster import pipeline as P
from repro import models
from repro.data.dataset import Item, VideoDataset
from repro.data.protocols import make_protocol
from repro.data.splits import Sample
from repro.data.synth import synthesize
from repro.engine import checkpoint
from repro.engine.config import TrainConfig
from repro.engine.loop import evaluate, fit
from repro.run.experiments import find
from repro.audit.papers import load_papers
from repro.run.runner import Context

from conftest import paired_keys, paired_verdict

CLASSES = 8


def _state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def stage1(tmp_path):
    """Proxy checkpoints of the two stage-1 experiments, where run_dir_of finds them, and a Context for `eid`."""
    torch.manual_seed(0)
    backbones = {"r2p1d50-l8": models.build("baselines/small3d", num_classes=CLASSES),
                 "r2d26-l8": models.build("baselines/small2d", num_classes=CLASSES)}
    for eid, backbone in backbones.items():
        checkpoint.save_atomic({"model": backbone.state_dict()},
                               tmp_path / "runs" / "faster" / f"{eid}-proxy" / "checkpoint.pt")

    def context(eid: str) -> Context:
        experiment = find(f"faster/{eid}", load_papers("faster"))
        never_read = [Sample(tmp_path / "unread.avi", 0, "MoveDown")]
        train_set = VideoDataset(never_read, make_protocol("train_jitter", clip_len=8, size=32))
        test_set = VideoDataset(never_read, make_protocol("uniform_clips", clip_len=8, num_clips=4, size=32))
        args = {**experiment.model_args, **experiment.proxy.get("model_args", {}), "num_classes": CLASSES}
        return Context(experiment, train_set, test_set, "cpu", tmp_path, tmp_path / "runs" / "faster" / f"{eid}-proxy",
                       True, args, experiment.proxy.get("model", experiment.model), dict(experiment.pipeline_args))


    return backbones, context


def test_segment_clips_one_window_per_segment_in_order():
    """Sec. 4 "randomly sample N clips" read as one random L-frame window per equal segment, in order."""
    rng = np.random.default_rng(0)
    for _ in range(50):
        clips = P.segment_clips(48, 4, 8, rng)
        assert clips.shape == (4, 8)
        assert (np.diff(clips, axis=1) == 1).all()  # L consecutive frames
        starts = clips[:, 0]
        assert (starts[:-1] <= starts[1:]).all() and starts[0] >= 0 and clips.max() <= 47
        bounds = np.floor(np.linspace(0, 41, 5)).astype(int)  # 41 valid starts in 4 segments
        assert ((starts >= bounds[:-1]) & (starts < bounds[1:])).all()
    short = P.segment_clips(5, 2, 8, rng)  # shorter than L: loop-padded as the test protocol's clips
    assert short.tolist() == [[0, 1, 2, 3, 4, 0, 1, 2]] * 2
    assert not np.array_equal(*(P.segment_clips(400, 4, 8, np.random.default_rng(s)) for s in (1, 2)))


def test_clips_dataset_reads_n_clips_of_l_frames(tmp_path):
    root = tmp_path / "synth"
    synthesize(root, layout="ucf101", frames=24, width=64, height=48)
    from repro.data.layouts import get_layout

    layout = get_layout("ucf101")
    samples = layout.samples(root, 1, "train")[:2]
    base = VideoDataset(samples, make_protocol("train_jitter", clip_len=8, size=32), seed=0)
    assert base[0].views.shape == (1, 3, 8, 32, 32)
    item = P.clips_dataset(base, num_clips=3, clip_len=8)[0]
    assert isinstance(item, Item) and item.views.shape == (3, 3, 8, 32, 32) and item.label == samples[0].label


def test_train_aggregator_loads_and_freezes_the_stage1_backbones(stage1):
    backbones, context = stage1
    ctx = context("fastgru-l8-n4")
    task, train_set, test_set = P.train_aggregator(ctx)
    assert test_set is ctx.test_set and train_set.samples == ctx.train_set.samples
    assert train_set.protocol.sample(48, np.random.default_rng(0)).shape == (4, 8)  # N=4 clips of L=8
    model = task.model
    assert isinstance(model, P.StagedFaster) and model.pattern == "1:3"
    assert _same(model.expensive.state_dict(), backbones["r2p1d50-l8"].state_dict())
    assert _same(model.cheap.state_dict(), backbones["r2d26-l8"].state_dict())
    assert type(model.aggregator).__name__ == "RecurrentAggregator" and model.aggregator.fc.in_features == 128
    model.train()
    assert model.aggregator.training and not model.expensive.training and not model.cheap.training
    assert not any(p.requires_grad for p in [*model.expensive.parameters(), *model.cheap.parameters()])
    assert {id(p) for p in task.parameters(model)} == {id(p) for p in model.aggregator.parameters()}


def test_the_pattern_routes_each_clip_to_its_backbone(stage1):
    _, context = stage1
    model = P.train_aggregator(context("fastgru-l8-n4"))[0].model.eval()
    clips = torch.randn(2, 4, 3, 8, 32, 32)
    with torch.no_grad():
        maps = model.clip_maps(clips)
        first = model.expensive.feature_map(clips[:, 0])  # (2, 128, 2, 2, 2): time strided by 4
        later = [torch.nn.functional.adaptive_avg_pool3d(model.cheap.feature_map(clips[:, t]), first.shape[-3:])
                 for t in (1, 2, 3)]
        assert maps.shape == (2, 4, 128, 2, 2, 2)
        assert torch.allclose(maps[:, 0], first, atol=1e-5)
        for t in (1, 2, 3):
            assert torch.allclose(maps[:, t], later[t - 1], atol=1e-5)
        scores = model.clip_scores(clips)
        assert torch.allclose(scores[:, 0], model.expensive(clips[:, 0]), atol=1e-5)
        assert torch.allclose(scores[:, 2], model.cheap(clips[:, 2]), atol=1e-5)
        assert model(clips).shape == (2, CLASSES)


def test_a_training_step_changes_the_aggregator_only(stage1, tmp_path):
    _, context = stage1
    task, _, _ = P.train_aggregator(context("fastgru-l8-n4"))
    data = [Item(torch.randn(4, 3, 8, 32, 32), i % CLASSES, i) for i in range(4)]
    before = {name: _state(getattr(task.model, name)) for name in ("expensive", "cheap", "aggregator")}
    config = TrainConfig(epochs=1, batch_size=2, lr=0.5, workers=0)
    result = fit(task, data, data, config, run_dir=tmp_path / "run", show_progress=False)
    assert _same(before["expensive"], task.model.expensive.state_dict())  # BN statistics included
    assert _same(before["cheap"], task.model.cheap.state_dict())
    assert not _same(before["aggregator"], task.model.aggregator.state_dict())
    assert result.final["videos"] == 4
    saved = checkpoint.load(tmp_path / "run" / "checkpoint.pt")["model"]
    assert any(k.startswith("aggregator.cell.") for k in saved)  # faster/faster's state-dict layout


def test_average_scores_averages_the_backbones_own_softmax(stage1, tmp_path):
    backbones, context = stage1
    ctx = context("avgpool-l8-n4")
    task, train_set, test_set = P.average_scores(ctx)
    assert len(train_set) == 0 and test_set is ctx.test_set  # nothing is trained
    model = task.model
    assert _same(model.expensive.state_dict(), backbones["r2p1d50-l8"].state_dict())
    data = [Item(torch.randn(4, 3, 8, 32, 32), i % CLASSES, i) for i in range(3)]
    views = torch.stack([d.views for d in data])
    with torch.no_grad():
        expected = torch.stack([backbones["r2p1d50-l8"].eval()(views[:, 0])]
                               + [backbones["r2d26-l8"].eval()(views[:, t]) for t in (1, 2, 3)], 1)
        expected = expected.softmax(-1).mean(1)
    result = evaluate(task, data, batch_size=3, device="cpu")
    assert result["top1"] == pytest.approx(100 * (expected.argmax(-1) == torch.arange(3)).float().mean().item())
    assert result["loss"] == pytest.approx(-expected[torch.arange(3), torch.arange(3)].log().mean().item(), rel=1e-4)
    before = _state(model)
    fit(task, train_set, data, TrainConfig(epochs=1, batch_size=3, workers=0), run_dir=tmp_path / "avg",
        show_progress=False)
    assert _same(before, model.state_dict())


def test_missing_or_mismatched_stage1_runs_fail_clearly(stage1, tmp_path):
    _, context = stage1
    ctx = context("fastgru-l8-n4")
    ctx.model_args["cheap"] = "baselines/small3d"
    with pytest.raises(ValueError, match="cheap model is 'baselines/small3d' but r2d26-l8"):
        P.train_aggregator(ctx)
    (tmp_path / "runs" / "faster" / "r2d26-l8-proxy" / "checkpoint.pt").unlink()
    with pytest.raises(FileNotFoundError, match="repro run faster/r2d26-l8 --proxy"):
        P.train_aggregator(context("fastgru-l8-n4"))
    with pytest.raises(ValueError, match="evaluate_only"):
        ctx = context("avgpool-l8-n4")
        ctx.pipeline_args["evaluate_only"] = False
        P.average_scores(ctx)


def test_finetune_runs_both_stages_from_the_kinetics_runs(stage1, tmp_path):
    """Table 8: per split, each backbone fine-tuned from its Kinetics run with a new classifier (a fit of its
    own, resumable), then FAST-GRU from the Kinetics aggregator with a new classifier on the frozen pair."""
    backbones, _ = stage1
    root = tmp_path / "ucf"
    synthesize(root, layout="ucf101", frames=24, width=64, height=48)
    from repro.data.layouts import get_layout

    layout = get_layout("ucf101")
    train = VideoDataset(layout.samples(root, 1, "train")[:8], make_protocol("train_jitter", clip_len=8, size=32))
    test = VideoDataset(layout.samples(root, 1, "test")[:4], make_protocol("uniform_clips", clip_len=8, num_clips=2,
                                                                           size=32))
    experiment = find("faster/faster32-ucf101", load_papers("faster"))
    experiment = dataclasses.replace(experiment, train=dataclasses.replace(
        experiment.train, options={"clip_len": 8, "num_clips": 2, "size": 32}))
    kinetics_aggregator = models.build("faster/fast_gru", num_classes=400, channels=128)
    checkpoint.save_atomic({"model": {f"aggregator.{k}": v for k, v in kinetics_aggregator.state_dict().items()}},
                           tmp_path / "runs" / "faster" / "fastgru-kinetics-proxy" / "checkpoint.pt")
    args = {**experiment.pipeline_args, "expensive_from": "r2p1d50-l8", "cheap_from": "r2d26-l8",
            "aggregator_from": "fastgru-kinetics",
            "backbone_config": {"epochs": 0, "batch_size": 4, "optimizer": "sgd", "lr": 0.01, "workers": 0}}

    run_dir = tmp_path / "runs" / "faster" / "t8-proxy" / "split2"

    def context(resume: bool = False, **changes) -> Context:
        model_args = {"num_classes": 5, "pattern": "1:1", "aggregator": "fast_gru"}
        return Context(experiment, train, test, "cpu", tmp_path, run_dir, True, model_args, experiment.model,
                       {**args, **changes}, resume=resume, show_progress=False)

    task, train_set, test_set = P.finetune(context())
    model = task.model
    for role, source in (("expensive", "r2p1d50-l8"), ("cheap", "r2d26-l8")):
        tuned, kinetics = getattr(model, role).state_dict(), backbones[source].state_dict()
        assert tuned["fc.weight"].shape[0] == 5 and kinetics["fc.weight"].shape[0] == CLASSES
        assert _same({k: v for k, v in tuned.items() if not k.startswith("fc.")},
                     {k: v for k, v in kinetics.items() if not k.startswith("fc.")})  # 0 epochs: as loaded
    aggregator = model.aggregator.state_dict()
    assert aggregator["fc.weight"].shape[0] == 5
    assert _same({k: v for k, v in aggregator.items() if not k.startswith("fc.")},
                 {k: v for k, v in kinetics_aggregator.state_dict().items() if not k.startswith("fc.")})
    assert {id(p) for p in task.parameters(model)} == {id(p) for p in model.aggregator.parameters()}
    assert train_set.protocol.sample(48, np.random.default_rng(0)).shape == (2, 8) and test_set is test
    one_epoch = {**args["backbone_config"], "epochs": 1}
    trained = P.finetune(context(backbone_config=one_epoch))[0].model
    assert not _same(trained.expensive.state_dict(), model.expensive.state_dict())  # fine-tuned one epoch
    assert all((run_dir / f"stage1-{role}" / "checkpoint.pt").is_file() for role in ("expensive", "cheap"))
    stamp = {role: (run_dir / f"stage1-{role}" / "checkpoint.pt").stat().st_mtime_ns for role in ("expensive", "cheap")}
    resumed = P.finetune(context(resume=True, backbone_config=one_epoch))[0].model  # finished: loaded, not rerun
    assert stamp == {role: (run_dir / f"stage1-{role}" / "checkpoint.pt").stat().st_mtime_ns for role in stamp}
    assert _same(resumed.expensive.state_dict(), trained.expensive.state_dict())
    assert _same(resumed.cheap.state_dict(), trained.cheap.state_dict())
    with pytest.raises(FileNotFoundError, match="--weights aggregator=PATH"):
        P.finetune(context(aggregator_from="fastgru-absent"))
    with pytest.raises(ValueError, match="backbone_config.*warmup: a training setting"):
        P.finetune(context(backbone_config={"warmup": 1}))


def test_the_proxy_check_runs_end_to_end_and_is_logged(tmp_path, monkeypatch):
    """The whole path (synthetic files, loader, classify for both backbones, both FASTER pipelines, MLflow),
    shrunk to keep the test short (scale-1 synthetic tree, one epoch per run): this asserts the outcome's
    shape, not the claim."""
    from repro.run.proxy import ProxyContext, load_outcomes, run_checks
    from repro.run.runner import run_experiment

    def shrunk(self, eid, **overrides):
        experiment = find(f"{self.paper.id}/{eid}", [self.paper])
        small = dataclasses.replace(experiment, proxy={**experiment.proxy, "synth": {"scale": 1}})
        return run_experiment(small, proxy=True, out_dir=self.out_dir, uri=self.uri, show_progress=False, epochs=1)

    monkeypatch.setattr(ProxyContext, "run_proxy", shrunk)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    paper = load_papers("faster")[0]
    [(check, outcome, _)] = run_checks(paper, tmp_path, uri)
    assert check.id == "fastgru-beats-avgpool"
    assert set(outcome.values) == {"fast_gru.top1", "avg_pool.top1", "expensive.top1", "cheap.top1",
                                  "chance.top1"} | paired_keys("fast_gru_vs_avg_pool")
    assert outcome.verdict == paired_verdict(outcome.values, "fast_gru_vs_avg_pool")
    assert "FAST-GRU" in outcome.summary and "Avg. pool" in outcome.summary
    logged = load_outcomes(paper, uri)["fastgru-beats-avgpool"]
    assert logged.values == pytest.approx(outcome.values) and logged.held == outcome.held and logged.summary
    for eid in ("r2p1d50-l8", "r2d26-l8", "fastgru-l8-n4", "avgpool-l8-n4"):
        assert (tmp_path / "runs" / "faster" / f"{eid}-proxy" / "checkpoint.pt").is_file()
