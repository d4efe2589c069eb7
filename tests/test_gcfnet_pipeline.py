"""GCF-Net's pipelines (papers/gcfnet/pipeline.py) and its proxy check (papers/gcfnet/proxy.py).

Chained experiments are tested on their real declarations (papers/gcfnet/experiments.yaml): a checkpoint is
written where the referenced experiment's run keeps it, and the pipeline must load exactly those weights.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from baselines.proxy_nets import small3d
from papers.gcfnet import pipeline as gp
from papers.gcfnet.models import gcf_head
from repro.data.dataset import Item, ragged_collate
from repro.data.synth import synthesize
from repro.engine import checkpoint
from repro.engine.config import TrainConfig
from repro.engine.loop import evaluate, fit
from repro.run.experiments import find
from repro.audit.papers import load_papers
from repro.run.runner import Context, _datasets, effective

from conftest import paired_keys, paired_verdict



@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    synthesize(root, layout="ucf101", frames=40, width=64, height=48)
    return root


def _context(out: Path, experiment_id: str, *, proxy: bool, tree: Path | None = None) -> Context:
    """A Context as run_experiment builds it (datasets from `tree` in the experiment's protocols, when given)."""
    experiment = find(f"gcfnet/{experiment_id}", load_papers("gcfnet"))
    train_set = test_set = None
    if tree is not None:
        _, train, test, config = effective(experiment, proxy)
        layout = {"layout": "ucf101", "split": 1, "train": "train", "test": "test"}
        train_set, test_set = _datasets(experiment, layout, train, test, config, tree, out)
    model_args = {**experiment.model_args, **(experiment.proxy.get("model_args", {}) if proxy else {})}
    if proxy:
        model_args["num_classes"] = 8
    model_name = experiment.proxy.get("model", experiment.model) if proxy else experiment.model
    pipeline_args = {**experiment.pipeline_args, **(experiment.proxy.get("pipeline_args", {}) if proxy else {})}
    run_dir = out / "runs" / "gcfnet" / (experiment_id + ("-proxy" if proxy else ""))
    return Context(experiment, train_set, test_set, "cpu", out, run_dir, proxy, model_args, model_name, pipeline_args)


def _save(ctx: Context, experiment_id: str, model: nn.Module) -> dict[str, torch.Tensor]:
    """Write `model` as the checkpoint of `experiment_id`'s run; returns a copy of its state."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    checkpoint.save_atomic({"model": state}, ctx.run_dir_of(experiment_id) / "checkpoint.pt")
    return state


def _equal(module: nn.Module, state: dict[str, torch.Tensor], prefix: str = "") -> bool:
    own = module.state_dict()
    return bool(own) and all(torch.equal(v, state[prefix + k]) for k, v in own.items())


def _trained(model: nn.Module, task) -> set[str]:
    chosen = {id(p) for p in task.parameters(model)}
    return {name for name, p in model.named_parameters() if id(p) in chosen}


# --- pieces ------------------------------------------------------------------------------------------------

def test_clip_descriptors_are_the_pooled_vectors_the_classifiers_read():
    from baselines.mobilenet3d import mobilenetv2_3d

    clips = torch.randn(3, 3, 4, 32, 32)
    for model in (small3d(num_classes=5).eval(), mobilenetv2_3d(num_classes=5).eval()):
        with torch.no_grad():
            descriptors = gp.clip_descriptors(model, clips)
            _, linear = gp.last_layer(model)
            assert descriptors.shape == (3, linear.in_features)
            assert torch.allclose(linear(descriptors), model(clips), atol=1e-5)


def test_replace_last_layer_as_efficient_3dcnns_fine_tuning():
    from baselines.mobilenet3d import mobilenetv2_3d

    mobile = mobilenetv2_3d(num_classes=600)
    gp.replace_last_layer(mobile, 101, 0.9)  # model.py: Sequential(Dropout(0.9), Linear(in, n_finetune_classes))
    assert isinstance(mobile.classifier[0], nn.Dropout) and mobile.classifier[0].p == 0.9
    assert (mobile.classifier[1].in_features, mobile.classifier[1].out_features) == (1280, 101)
    net = small3d(num_classes=8)
    gp.replace_last_layer(net, 5, 0.0)  # ResNets: fc = Linear(in, n_finetune_classes)
    assert isinstance(net.fc, nn.Linear) and net.fc.out_features == 5


def test_gcfnet_forward_gates_and_cached_descriptors_agree():
    torch.manual_seed(0)
    model = gp.GCFNet(small3d(num_classes=8), gcf_head(feature_dim=128, num_clips=10, num_classes=8,
                                                       embed_dim=32)).eval()
    clips = torch.randn(2, 10, 3, 4, 32, 32)
    with torch.no_grad():
        logits = model(clips)
        gates = model.last_gates
        assert logits.shape == (2, 8) and gates.shape == (2, 10)
        assert torch.allclose(model(model.descriptors(clips)), logits, atol=1e-6)
    no_gate = gp.GCFNet(small3d(num_classes=8), gcf_head(feature_dim=128, num_classes=8, embed_dim=32,
                                                         clip_attention=False)).eval()
    with torch.no_grad():
        no_gate(clips)
    assert no_gate.last_gates is None


def test_the_loss_adds_the_weighted_sparsity_of_the_same_forward():
    torch.manual_seed(0)
    model = gp.GCFNet(small3d(num_classes=8), gcf_head(feature_dim=128, num_classes=8, embed_dim=32))
    clips, labels = torch.randn(2, 10, 3, 4, 32, 32), torch.tensor([1, 5])
    logits = gp.gcf_forward(model, clips)
    assert logits.shape == (2, 1, 8)
    entropy = F.cross_entropy(logits[:, 0], labels)
    sparsity = model.last_gates.abs().sum(-1).mean()  # Eq. (10): the l1 norm of s, averaged over the batch
    assert sparsity > 0
    assert torch.allclose(gp.GCFLoss(model, 0.5)(logits, labels), entropy + 0.5 * sparsity)
    assert torch.allclose(gp.GCFLoss(model, 0.0)(logits, labels), entropy)


def test_frozen_batch_norms_keep_their_statistics_unless_asked():
    for update in (False, True):
        net = small3d(num_classes=8)
        net.requires_grad_(False)
        net.fc.requires_grad_(True)
        if not update:
            gp.keep_frozen_batch_norm_statistics(net)
        before = net.stages[0][1].running_mean.clone()
        net.train()(torch.randn(2, 3, 4, 16, 16) + 3)
        assert torch.equal(net.stages[0][1].running_mean, before) != update


def test_dense_clips_forward_averages_the_clip_softmax_of_videos_of_any_length():
    torch.manual_seed(0)
    net = small3d(num_classes=8).eval()
    videos = [torch.randn(3, 3, 4, 16, 16), torch.randn(5, 3, 4, 16, 16)]
    with torch.no_grad():
        out = gp.dense_clips_forward(net, videos)
        expected = torch.stack([net(v).softmax(-1).mean(0) for v in videos])
    assert out.shape == (2, 1, 8)
    assert torch.allclose(out.softmax(-1)[:, 0], expected, atol=1e-6)  # the engine's video score
    batch = ragged_collate([Item(v, 1, i) for i, v in enumerate(videos)])
    assert [tuple(v.shape) for v in batch.views] == [tuple(v.shape) for v in videos]


# --- chained experiments (real declarations) -----------------------------------------------------------------

def test_evaluate_loads_the_referenced_checkpoint_and_trains_nothing(tmp_path, tree):
    ctx = _context(tmp_path, "resnext-k600-dclips", proxy=True, tree=tree)
    with pytest.raises(FileNotFoundError, match="repro run gcfnet/resnext-k600 --proxy"):
        gp.evaluate(ctx)
    torch.manual_seed(1)
    state = _save(ctx, "resnext-k600", small3d(num_classes=8))
    task, train_set, test_set = gp.evaluate(ctx)
    assert _equal(task.model, state) and len(train_set) == 0
    result = evaluate(task, test_set, batch_size=3, device="cpu")
    assert result["videos"] == len(ctx.test_set)
    item = ctx.test_set[0]
    assert item.views.shape[0] == 3  # 40 frames: dense 16-frame clips start at 0, 16, 32 (the last loop-padded)
    with torch.no_grad():
        scores = task.model.eval()(item.views).softmax(-1).mean(0)
    logged = gp.dense_clips_forward(task.model, [item.views]).softmax(-1)[0, 0]
    assert torch.allclose(scores, logged, atol=1e-6)
    # the D-Clips experiments declare no train config (TrainConfig's 1 epoch): an epoch of nothing, then the test
    fitted = fit(task, train_set, test_set, TrainConfig(epochs=1, batch_size=3, workers=0), run_dir=tmp_path / "fit",
                 show_progress=False)
    assert _equal(task.model, state) and fitted.final["top1"] == result["top1"]


def test_train_gcf_starts_from_the_backbone_checkpoint(tmp_path, tree):
    ctx = _context(tmp_path, "gcf-resnext-k600", proxy=True, tree=tree)
    torch.manual_seed(2)
    state = _save(ctx, "resnext-k600", small3d(num_classes=8))
    task, train_set, test_set = gp.train_gcf(ctx)
    model = task.model
    assert isinstance(model, gp.GCFNet) and _equal(model.backbone, state)
    assert model.head.classifier.out_features == 8 and len(model.head.fusion) == 1
    # proxy: frozen backbone, the whole head trained; descriptors computed once
    assert _trained(model, task) == {n for n, _ in model.named_parameters() if n.startswith("head.")}
    assert isinstance(train_set, gp.DescriptorCache) and train_set[0].views.shape == (10, 128)
    batch = torch.stack([train_set[i].views for i in range(2)])
    with torch.no_grad():
        cached = model.eval()(batch)
        direct = model(torch.stack([ctx.train_set[i].views for i in range(2)]))
    assert torch.allclose(cached, direct, atol=1e-5)

    # the full-run reading: end to end, with the ten clips cropped and flipped once per video (Sec. 3.3)
    ctx.pipeline_args = {k: v for k, v in ctx.experiment.pipeline_args.items()}
    task, train_set, _ = gp.train_gcf(ctx)
    trained = _trained(task.model, task)
    assert "backbone.stages.0.0.weight" in trained and "head.classifier.weight" in trained
    assert not any(n.startswith("backbone.fc.") for n in trained)  # the clip classifier is no part of GCF-Net
    assert train_set.protocol.name == "fixed_clips+train_clip"
    views = train_set[0].views
    assert views.shape == (10, 3, 16, 64, 64)

    ctx.pipeline_args = {**ctx.pipeline_args, "gcf_from": "gcf-resnext-k600"}
    with pytest.raises(ValueError, match="exactly one of backbone_from, gcf_from"):
        gp.train_gcf(ctx)
    ctx.pipeline_args = dict(ctx.experiment.pipeline_args)
    ctx.model_args = {**ctx.model_args, "feature_dim": 2048}
    with pytest.raises(ValueError, match="128-d clip descriptors but the head expects feature_dim=2048"):
        gp.train_gcf(ctx)


def test_ucf101_stages_load_their_kinetics_models_and_train_only_the_last_layer(tmp_path, tree):
    """The full-run chain on 3D-MobileNetV2: gcf-mobilenet-ucf101 from gcf-mobilenet-k600 (classifier W_c
    only), mobilenet-ucf101 from mobilenet-k600 (classifier only), mobilenet-ucf101-dclips from the latter."""
    k600 = _context(tmp_path, "gcf-mobilenet-k600", proxy=False, tree=tree)
    torch.manual_seed(3)
    gcf_state = _save(k600, "gcf-mobilenet-k600", gp.architecture(k600, "gcf-mobilenet-k600"))

    ctx = _context(tmp_path, "gcf-mobilenet-ucf101", proxy=False, tree=tree)
    task, _, _ = gp.train_gcf(ctx)
    model = task.model
    assert _equal(model.backbone, gcf_state, "backbone.")
    assert all(torch.equal(v, gcf_state["head." + k]) for k, v in model.head.state_dict().items()
               if not k.startswith("classifier."))
    assert model.head.classifier.out_features == 101
    assert _trained(model, task) == {"head.classifier.weight", "head.classifier.bias"}

    backbone_state = _save(ctx, "mobilenet-k600", gp.architecture(ctx, "mobilenet-k600"))
    ctx = _context(tmp_path, "mobilenet-ucf101", proxy=False, tree=tree)
    task, _, _ = gp.finetune_last_layer(ctx)
    assert all(torch.equal(v, backbone_state[k]) for k, v in task.model.state_dict().items()
               if not k.startswith("classifier."))
    assert task.model.classifier[0].p == 0.9 and task.model.classifier[1].out_features == 101
    assert _trained(task.model, task) == {"classifier.1.weight", "classifier.1.bias"}

    tuned = _save(ctx, "mobilenet-ucf101", task.model)
    ctx = _context(tmp_path, "mobilenet-ucf101-dclips", proxy=False, tree=tree)
    task, _, _ = gp.evaluate(ctx)
    assert _equal(task.model, tuned)


# --- the proxy check, end to end ------------------------------------------------------------------------------

def test_the_proxy_check_runs_and_is_logged(tmp_path):
    from repro.run.proxy import load_outcomes, run_checks

    paper = load_papers("gcfnet")[0]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    results = run_checks(paper, tmp_path / "proxy", uri)
    assert [check.id for check, _, _ in results] == ["gcf-beats-dclips-long-videos"]
    _, outcome, _ = results[0]
    keys = {"backbone_cclip_top1", "dclips_top1", "gcf_top1", "gcf_minus_dclips_pp", "chance_top1",
            "backbone_train_loss", "chance_loss", "test_videos"} | paired_keys("gcf_vs_dclips")
    assert set(outcome.values) == keys and "D-Clips" in outcome.summary
    assert outcome.verdict == paired_verdict(outcome.values, "gcf_vs_dclips")
    logged = load_outcomes(paper, uri)["gcf-beats-dclips-long-videos"]
    assert set(logged.values) == keys and logged.summary == outcome.summary
