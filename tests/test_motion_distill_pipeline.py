"""The motion-distillation pipelines (papers/motion_distill/pipeline.py) and the proxy check (proxy.py).

Pieces: RGB+flow views share frames, crop and flip (the flip negates x flow, as MARS); the feature taps are the
outputs the paper's losses read; the loss is CE + alpha x the chosen terms of models.py with the teacher on the
flow channels and frozen. Chains: `distill` loads the user's teacher (--weights teacher=PATH) or trains a proxy
teacher once and reuses it; `fuse` loads the student of ds_from's run and the second stream, and averages or
learns only the fusion module. The check runs end to end (shrunk) and is logged to MLflow.
"""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from baselines.proxy_nets import small3d
from papers.motion_distill import pipeline as mp
from papers.motion_distill.models import dual_action_stream, dual_action_stream_loss, mar_mse_loss
from repro.data import transforms as T
from repro.data.dataset import VideoDataset, collate
from repro.data.layouts import get_layout
from repro.data.protocols import make_protocol
from repro.data.synth import synthesize
from repro.engine import checkpoint
from repro.run.experiments import find
from repro.audit.papers import load_papers
from repro.run.runner import Context, model_spec

from conftest import paired_keys, paired_verdict

CLASSES = ["MoveDown", "MoveLeft", "MoveRight", "MoveUp"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    synthesize(root, layout="ucf101", frames=24, width=64, height=48, classes=CLASSES)
    return root


@pytest.fixture(scope="module")
def store(tree, tmp_path_factory):
    samples = _samples(tree, "train") + _samples(tree, "test")
    flow = mp.FlowStore(tmp_path_factory.mktemp("flow"), tree / "UCF-101", "dis")
    flow.ensure(samples)
    return flow


def _samples(tree: Path, subset: str):
    return get_layout("ucf101").samples(tree, 1, subset)


def _context(out: Path, tree: Path, experiment_id: str, *, weights: dict | None = None, **pipeline_args) -> Context:
    """A proxy Context as run_experiment builds it, on the small tree with short clips (8 frames, 32 px)."""
    experiment = find(f"motion_distill/{experiment_id}", load_papers("motion_distill"))
    name, model_args, args = model_spec(experiment, True)
    model_args["num_classes"] = len(CLASSES)
    train = VideoDataset(_samples(tree, "train"), make_protocol("train_clip", clip_len=8, size=32, flip=False))
    test = VideoDataset(_samples(tree, "test"), make_protocol("dense", clip_len=8, size=32))
    args = {**args, "flow": {"method": "dis", "short_side": None, "root": str(out / "flow")}, **pipeline_args}
    run_dir = out / "runs" / "motion_distill" / f"{experiment_id}-proxy"
    return Context(experiment, train, test, "cpu", out, run_dir, True, model_args, name, args, dict(weights or {}))


def _save(path: Path, model: torch.nn.Module) -> dict[str, torch.Tensor]:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    checkpoint.save_atomic({"model": state}, path)
    return state


def _equal(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    own = module.state_dict()
    return bool(own) and own.keys() == state.keys() and all(torch.equal(v, state[k]) for k, v in own.items())


# --- RGB + flow views --------------------------------------------------------------------------------------

def test_paired_views_are_the_rgb_views_plus_flow_of_the_same_frames(tree, store):
    base = VideoDataset(_samples(tree, "train"), make_protocol("train_clip", clip_len=8, size=32))  # flip on
    paired = mp.RGBFlowDataset(base, store)
    for epoch in (0, 1):
        base.set_epoch(epoch)
        paired.set_epoch(epoch)
        for index in range(len(base)):
            item = paired[index]
            assert item.views.shape == (1, 5, 8, 32, 32) and item.label == base[index].label
            assert torch.equal(item.views[:, :3], base[index].views)  # the same Generator: same frames, crop, flip


def test_flow_follows_the_motion_and_a_flip_negates_x(tree, store):
    """Sec. 2.2: flow shows the direction of motion (x right +, y down +); MARS negates x on a flip."""
    central = VideoDataset(_samples(tree, "train"), make_protocol("central", clip_len=8, size=32))
    paired = mp.RGBFlowDataset(central, store)
    for index, sample in enumerate(central.samples):
        x, y = (float(paired[index].views[:, c].mean()) for c in (3, 4))
        sign = {"MoveRight": (x, 1), "MoveLeft": (x, -1), "MoveDown": (y, 1), "MoveUp": (y, -1)}[sample.class_name]
        assert sign[0] * sign[1] > 0.3, (sample.class_name, x, y)
    flipped = dataclasses.replace(central.protocol, spatial=lambda clip, rng: [T.flip(T.center_crop(clip, 32))])
    mirror = mp.RGBFlowDataset(VideoDataset(central.samples, flipped), store)
    for index in range(3):
        plain, other = paired[index].views, mirror[index].views
        assert torch.allclose(other[:, :3], plain[:, :3].flip(-1))
        assert torch.allclose(other[:, 3], -plain[:, 3].flip(-1)) and torch.allclose(other[:, 4], plain[:, 4].flip(-1))


def test_flow_store_clamps_the_last_frame_to_the_last_pair(tree, store):
    sample = _samples(tree, "train")[0]
    flow = store.read(sample, [0, 22, 23])  # 24 frames: pairs 0..22
    assert flow.shape[0] == 3 and flow.shape[-1] == 2
    assert (flow[1] == flow[2]).all()


# --- taps and the loss --------------------------------------------------------------------------------------

def test_flow_root_reads_flow_extracted_already(tree, store, tmp_path):
    """`repro run --flow-root DIR`: the user's flow (repro data flow layout) is used, nothing is extracted."""
    ctx = _context(tmp_path, tree, "ds-ucf101-16f")
    ctx = dataclasses.replace(ctx, flow_root=store.root)
    samples = _samples(tree, "train")
    before = sorted(p.relative_to(store.root) for p in store.root.rglob("*"))
    found = mp.flow_store(ctx, samples, {"method": "dis"})
    assert found.root == store.root and sorted(p.relative_to(store.root) for p in store.root.rglob("*")) == before
    assert not (tmp_path / "flow").exists()


def test_taps_are_the_features_the_losses_read():
    torch.manual_seed(0)
    model = dual_action_stream(num_classes=5).eval()
    taps = mp.FeatureTaps(model)
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        logits, features = model.forward_features(clips)
        assert torch.equal(model(clips), logits)
    recorded = taps.take()
    assert taps.names == ["stem", "layer1", "layer2", "layer3", "layer4", "avgpool"]
    assert [tuple(f.shape) for f in recorded] == [tuple(f.shape) for f in features]
    assert all(torch.allclose(a, b) for a, b in zip(recorded, features, strict=True))

    net = small3d(num_classes=4)
    taps = mp.FeatureTaps(net, ["stage1", "stage2", "stage3", "stage4", "pool"])
    net(torch.randn(2, 3, 16, 64, 64))
    shapes = [tuple(f.shape) for f in taps.take()]
    assert shapes == [(2, 16, 16, 32, 32), (2, 32, 8, 16, 16), (2, 64, 4, 8, 8), (2, 128, 4, 4, 4), (2, 128)]
    with pytest.raises(ValueError, match="unknown tap"):
        mp.FeatureTaps(net, ["layer9"])


def _distillation(terms, alpha=50.0):
    torch.manual_seed(0)
    student, teacher = small3d(num_classes=4), small3d(num_classes=4, in_channels=2).eval().requires_grad_(False)
    names = ["stage1", "stage2", "stage3", "stage4", "pool"]
    return student, teacher, mp.Distillation(mp.FeatureTaps(student, names), teacher, mp.FeatureTaps(teacher, names),
                                             tuple(terms), alpha)


@pytest.mark.parametrize("terms", [("mae", "gram"), ("mse",), ("mae",), ("gram",)])
def test_the_loss_is_ce_plus_alpha_times_the_chosen_terms_teacher_on_flow(terms):
    student, teacher, distillation = _distillation(terms)
    views, labels = torch.randn(2, 1, 5, 8, 32, 32), torch.tensor([1, 3])
    seen = {}
    teacher.register_forward_pre_hook(lambda _m, inputs: seen.setdefault("teacher", inputs[0]))
    student.register_forward_pre_hook(lambda _m, inputs: seen.setdefault("student", inputs[0]))
    logits = distillation.forward(student.train(), views)
    assert logits.shape == (2, 1, 4)
    assert torch.equal(seen["teacher"], views[:, 0, 3:]) and torch.equal(seen["student"], views[:, 0, :3])
    loss = distillation.loss(logits, labels)

    def features(net, x):  # the stage outputs and the pooled vector, computed directly
        out = []
        for stage in net.stages:
            x = stage(x)
            out.append(x)
        return out + [net.pool(x).flatten(1)]

    with torch.no_grad():
        flow = features(teacher, views[:, 0, 3:])
    expected = dual_action_stream_loss(logits[:, 0], labels, features(student, views[:, 0, :3]), flow, 50.0, terms)
    assert torch.allclose(loss, expected, rtol=1e-5)
    if terms == ("mse",):  # MARS: MSE of the pooled pre-logit vectors only
        mse = mar_mse_loss(student.features(views[:, 0, :3]), teacher.features(views[:, 0, 3:]))
        assert torch.allclose(loss, F.cross_entropy(logits[:, 0], labels) + 50 * mse, rtol=1e-5)
    loss.backward()
    assert all(p.grad is None for p in teacher.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())


def test_test_views_give_rgb_video_scores_and_cross_entropy_alone():
    student, _, distillation = _distillation(("mae", "gram"))
    videos = [torch.randn(3, 3, 8, 32, 32), torch.randn(2, 3, 8, 32, 32)]
    student.eval()
    with torch.no_grad():
        scores = distillation.forward(student, videos)
        assert torch.allclose(scores[0, 0], student(videos[0]).mean(0), atol=1e-6)
        assert torch.allclose(scores[1, 0], student(videos[1]).mean(0), atol=1e-6)
        labels = torch.tensor([0, 2])
        assert torch.allclose(distillation.loss(scores, labels), F.cross_entropy(scores[:, 0], labels))


def test_trainable_layer4_is_mars_fine_tuning():
    model = dual_action_stream(num_classes=5)
    mp.select_trainable(model, "layer4")
    trained = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trained == {"layer4", "fc"}
    with pytest.raises(ValueError, match="matches no parameter"):
        mp.select_trainable(small3d(), "layer4")


# --- chained stages ----------------------------------------------------------------------------------------

def test_distill_loads_the_users_teacher_frozen_and_tests_on_rgb(tree, tmp_path):
    torch.manual_seed(1)
    saved = _save(tmp_path / "teacher.pt", small3d(num_classes=4, in_channels=2))
    ctx = _context(tmp_path, tree, "ds-ucf101-16f", weights={"teacher": tmp_path / "teacher.pt"})
    task, train_set, test_set = mp.distill(ctx)
    distillation = task.loss.__self__
    assert _equal(distillation.teacher, saved) and not any(p.requires_grad for p in distillation.teacher.parameters())
    assert distillation.terms == ("mae", "gram") and distillation.alpha == 50
    assert all(p.requires_grad for p in task.model.parameters()) and len(task.parameters(task.model)) > 0
    assert isinstance(train_set, mp.RGBFlowDataset) and train_set[0].views.shape[1] == 5
    assert test_set[0].views.shape[1] == 3  # the student needs no flow at test time
    assert (ctx.run_dir / "teacher.json").is_file()
    batch = collate([train_set[i] for i in range(2)])
    task.loss(task.forward(task.model.train(), batch.views), batch.labels)
    assert distillation.last_terms["distill"] > 0

    alone, train_set, _ = mp.distill(_context(tmp_path, tree, "ds-ucf101-16f", terms=[]))
    assert alone.forward.__self__.teacher is None and not isinstance(train_set, mp.RGBFlowDataset)

    full = _context(tmp_path, tree, "ds-ucf101-16f")
    full = dataclasses.replace(full, proxy=False, pipeline_args={**full.pipeline_args, "teacher_training": None})
    with pytest.raises(ValueError, match="--weights teacher"):
        mp.distill(full)


def test_the_proxy_teacher_is_trained_once_and_shared(tree, tmp_path, monkeypatch):
    training = {"epochs": 1, "batch_size": 8, "optimizer": "adam", "lr": 0.001, "workers": 0}
    ds = _context(tmp_path, tree, "ds-ucf101-16f", teacher_training=training)
    task, _, _ = mp.distill(ds)
    first = copy.deepcopy(task.loss.__self__.teacher.state_dict())
    folder = mp.teacher_folder(ds, ds.pipeline_args)
    assert (folder / "checkpoint.pt").is_file() and (folder / "teacher.json").is_file()

    def no_training(*args, **kwargs):
        raise AssertionError("the cached teacher should have been loaded")

    monkeypatch.setattr(mp, "fit", no_training)
    mar = _context(tmp_path, tree, "mar-ucf101-16f", teacher_training=training)
    assert mp.teacher_folder(mar, mar.pipeline_args) == folder
    task, _, _ = mp.distill(mar)
    assert task.loss.__self__.terms == ("mse",)
    assert _equal(task.loss.__self__.teacher, first)


def test_fuse_averages_the_restored_student_and_the_second_stream(tree, tmp_path):
    ds = _context(tmp_path, tree, "ds-ucf101-16f")
    torch.manual_seed(2)
    student_state = _save(ds.run_dir / "checkpoint.pt", small3d(num_classes=4))
    second_state = _save(tmp_path / "flow.pt", small3d(num_classes=4, in_channels=2))
    ctx = _context(tmp_path, tree, "ds-flow-avg-ucf101-16f", weights={"second": tmp_path / "flow.pt"})
    task, train_set, test_set = mp.fuse(ctx)
    model = task.model
    assert _equal(model.student, student_state) and _equal(model.second, second_state)
    assert len(train_set) == 0  # averaging: evaluation only
    views = [test_set[0].views, test_set[1].views]
    assert views[0].shape[1] == 5
    model.eval()
    with torch.no_grad():
        fused = task.forward(model, views)
        expected = [(model.student(v[:, :3]).mean(0) + model.second(v[:, 3:]).mean(0)) / 2 for v in views]
    assert fused.shape == (2, 1, 4) and torch.allclose(fused[:, 0], torch.stack(expected), atol=1e-5)

    ctx = _context(tmp_path, tree, "ds-flow-attention-ucf101-16f", weights={"second": tmp_path / "flow.pt"})
    task, train_set, _ = mp.fuse(ctx)
    trained = {n for n, p in task.model.named_parameters() if id(p) in {id(q) for q in task.parameters(task.model)}}
    assert trained and all(n.startswith("fusion.") for n in trained) and len(train_set) > 0
    task.model.train()
    assert not task.model.student.training and not task.model.second.training
    with pytest.raises(ValueError, match="averaging has none"):
        mp.fuse(_context(tmp_path, tree, "ds-flow-avg-ucf101-16f", weights={"second": tmp_path / "flow.pt"},
                         train=True))


# --- the proxy check, end to end ------------------------------------------------------------------------------

def test_the_proxy_check_runs_and_is_logged(tmp_path, monkeypatch):
    """The check's whole path (synthetic data, flow, teacher, three students, MLflow), shrunk to one epoch on a
    twelfth of the data so that the test stays short; the full check's settings are those of experiments.yaml."""
    import repro.run.runner
    from repro.run.proxy import load_outcomes, run_checks

    real = repro.run.runner.run_experiment

    def shrunk(experiment, **kwargs):
        proxy = copy.deepcopy(experiment.proxy)
        proxy["synth"] = {**proxy["synth"], "scale": 1}
        proxy["pipeline_args"]["teacher_training"] = {**proxy["pipeline_args"]["teacher_training"], "epochs": 1,
                                                      "eval_every": 1}
        return real(dataclasses.replace(experiment, proxy=proxy), **{**kwargs, "epochs": 1})

    monkeypatch.setattr(repro.run.runner, "run_experiment", shrunk)
    paper = load_papers("motion_distill")[0]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = run_checks(paper, tmp_path / "proxy", uri)
    assert [check.id for check, _, _ in results] == ["mae-gram-beats-mse-and-rgb"]
    _, outcome, _ = results[0]
    keys = {"rgb_top1", "mar_top1", "ds_top1", "ds_minus_mar_pp", "ds_minus_rgb_pp", "teacher_flow_top1",
            "teacher_train_loss", "rgb_train_loss", "chance_top1", "chance_loss", "test_videos"}
    keys |= paired_keys("ds_vs_mar") | paired_keys("ds_vs_rgb")
    assert set(outcome.values) == keys and "MAE + Gram" in outcome.summary
    verdicts = {paired_verdict(outcome.values, "ds_vs_mar"), paired_verdict(outcome.values, "ds_vs_rgb")}
    expected = "did not hold" if "did not hold" in verdicts else "held" if verdicts == {"held"} else "inconclusive"
    assert outcome.verdict == expected
    logged = load_outcomes(paper, uri)["mae-gram-beats-mse-and-rgb"]
    assert set(logged.values) == keys and logged.summary == outcome.summary
